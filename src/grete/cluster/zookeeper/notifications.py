"""Notifications and admin requests: znodes created to tell a broker or the controller to act.

Sequential znodes under /config/changes and /isr_change_notification, and the requests
under /admin. Formats as Kafka writes them; decoders raise ZNodeFormatError.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from grete.cluster.zookeeper.json_fields import INT32_MAX, JsonObject, encode_json, parse_object
from grete.partition.topic_partition import TopicPartition

# /admin/delete_topics/<topic> is created without data: its existence is the request.
DELETE_TOPIC_MARKER = b""


@dataclass(frozen=True, slots=True)
class ConfigChangeNotification:
    """/config/changes/config_change_<seq>: tells every broker to reread one entity's config.

    entity_path is ``<type>/<sanitized name>``, e.g. ``topics/foo``, ``clients/<default>``,
    ``users/alice/clients/app``. JSON version 2; version 1 named the type and name apart.
    """

    entity_path: str

    def encode(self) -> bytes:
        return encode_json({"version": 2, "entity_path": self.entity_path})

    @classmethod
    def decode(cls, data: bytes) -> ConfigChangeNotification:
        js = parse_object(data, "config change notification")
        version = js.integer("version", 1, 2)
        if version == 1:
            return cls(f"{js.string('entity_type')}/{js.string('entity_name')}")
        path = js.string("entity_path")
        if "/" not in path.strip("/"):
            raise js.error(f"entity_path {path!r} is not <type>/<name>")
        return cls(path)


def _encode_partition_list(partitions: list[TopicPartition]) -> list[dict[str, object]]:
    return [{"topic": tp.topic, "partition": tp.partition} for tp in partitions]


def _decode_topic_partition(
    js: JsonObject, item: object, index: int
) -> tuple[TopicPartition, JsonObject]:
    entry = js.check_object(item, f"partitions[{index}]")
    return TopicPartition(entry.string("topic"), entry.integer("partition", 0, INT32_MAX)), entry


@dataclass(frozen=True, slots=True)
class IsrChangeNotification:
    """/isr_change_notification/isr_change_<seq>: partitions whose ISR a leader changed."""

    partitions: frozenset[TopicPartition]

    def encode(self) -> bytes:
        ordered = sorted(self.partitions, key=lambda tp: (tp.topic, tp.partition))
        return encode_json({"version": 1, "partitions": _encode_partition_list(ordered)})

    @classmethod
    def decode(cls, data: bytes) -> IsrChangeNotification:
        js = parse_object(data, "isr change notification")
        js.integer("version", 1, INT32_MAX)
        return cls(frozenset(
            _decode_topic_partition(js, item, i)[0] for i, item in enumerate(js.array("partitions"))
        ))  # fmt: skip


@dataclass(frozen=True, slots=True)
class PartitionReassignment:
    """/admin/reassign_partitions: the legacy (pre-KIP-455) reassignment request."""

    replicas: Mapping[TopicPartition, tuple[int, ...]]

    def encode(self) -> bytes:
        ordered = sorted(self.replicas.items(), key=lambda kv: (kv[0].topic, kv[0].partition))
        entries = [
            {"topic": tp.topic, "partition": tp.partition, "replicas": list(replicas)}
            for tp, replicas in ordered
        ]
        return encode_json({"version": 1, "partitions": entries})

    @classmethod
    def decode(cls, data: bytes) -> PartitionReassignment:
        js = parse_object(data, "partition reassignment")
        js.integer("version", 1, 1)
        replicas: dict[TopicPartition, tuple[int, ...]] = {}
        for i, item in enumerate(js.array("partitions")):
            tp, entry = _decode_topic_partition(js, item, i)
            replicas[tp] = entry.int_list("replicas", 0, INT32_MAX)
        return cls(replicas)
