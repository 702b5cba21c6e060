"""The data of Kafka's znodes as frozen dataclasses, with encode (to bytes) and decode.

Encoders write the JSON a ZooKeeper-mode Kafka broker (2.7 and later) writes: the same
field names, the same versions, the same quirks (timestamps and producer ids as strings,
the cluster id's version as a string). Decoders also accept the older versions Kafka
still reads, and raise ZNodeFormatError for anything else, so a corrupt or foreign znode
is reported, never half-read.

Pure functions over bytes: no ZooKeeper client here. The notification and admin-request
formats live in `notifications` and are re-exported here, so one module names every format.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from grete.cluster.zookeeper.json_fields import (
    INT16_MAX,
    INT16_MIN,
    INT32_MAX,
    INT64_MAX,
    JsonObject,
    ZNodeFormatError,
    encode_json,
    parse_decimal,
    parse_object,
)
from grete.cluster.zookeeper.notifications import (
    DELETE_TOPIC_MARKER,
    ConfigChangeNotification,
    IsrChangeNotification,
    PartitionReassignment,
)

__all__ = [
    "DELETE_TOPIC_MARKER",
    "NO_LEADER",
    "SECURITY_PROTOCOLS",
    "BrokerRegistration",
    "ClusterId",
    "ConfigChangeNotification",
    "ControllerRegistration",
    "EndPoint",
    "EntityConfig",
    "IsrChangeNotification",
    "LeaderRecoveryState",
    "PartitionReassignment",
    "PartitionState",
    "ProducerIdBlock",
    "ReplicaAssignment",
    "SupportedVersionRange",
    "TopicAssignment",
    "ZNodeFormatError",
    "decode_controller_epoch",
    "decode_topic_id",
    "encode_controller_epoch",
    "encode_topic_id",
]

SECURITY_PROTOCOLS = frozenset({"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"})
NO_LEADER = -1  # a partition state's leader when no replica leads

# "LISTENER://host:port", the host bracketed when it is an IPv6 address, empty for all
# interfaces (Kafka's EndPoint.connectionString).
_ENDPOINT = re.compile(
    r"([A-Za-z0-9_.-]+)://(?:\[([0-9A-Za-z%.:]+)\]|([0-9A-Za-z%._-]*)):([0-9]{1,5})"
)


@dataclass(frozen=True, slots=True)
class EndPoint:
    """One advertised listener of a broker."""

    listener_name: str
    host: str | None  # None: the listener binds every interface and advertises no host
    port: int
    security_protocol: str = "PLAINTEXT"

    @property
    def connection_string(self) -> str:
        host = self.host or ""
        if ":" in host:
            host = f"[{host}]"
        return f"{self.listener_name}://{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class SupportedVersionRange:
    """The versions of one feature (KIP-584) a broker supports."""

    min_version: int
    max_version: int


@dataclass(frozen=True, slots=True)
class BrokerRegistration:
    """/brokers/ids/<id>, ephemeral: the broker is alive while its session lasts.

    JSON version 5; decodes versions 1 to 5. broker_id is the znode's name, not in the JSON.
    """

    broker_id: int
    endpoints: tuple[EndPoint, ...]
    rack: str | None = None
    jmx_port: int = -1
    timestamp_ms: int = 0
    features: Mapping[str, SupportedVersionRange] = field(default_factory=dict)

    def encode(self) -> bytes:
        # The top-level host and port serve clients older than 0.10: the first PLAINTEXT
        # endpoint, or none.
        plaintext = next((e for e in self.endpoints if e.security_protocol == "PLAINTEXT"), None)
        value: dict[str, object] = {
            "version": 5,
            "host": plaintext.host if plaintext else None,
            "port": plaintext.port if plaintext else -1,
            "endpoints": [e.connection_string for e in self.endpoints],
            "jmx_port": self.jmx_port,
            "timestamp": str(self.timestamp_ms),
            "listener_security_protocol_map": {
                e.listener_name: e.security_protocol for e in self.endpoints
            },
            "features": {
                name: {"min_version": r.min_version, "max_version": r.max_version}
                for name, r in self.features.items()
            },
        }
        if self.rack is not None:
            value["rack"] = self.rack
        return encode_json(value)

    @classmethod
    def decode(cls, broker_id: int, data: bytes) -> BrokerRegistration:
        js = parse_object(data, f"broker registration {broker_id}")
        version = js.integer("version", 1, INT32_MAX)
        if version == 1:
            endpoints: tuple[EndPoint, ...] = (
                EndPoint("PLAINTEXT", js.string("host"), js.integer("port", 0, 65535)),
            )
        else:
            protocols = _security_protocol_map(js)
            endpoints = tuple(
                _parse_endpoint(js, item, protocols) for item in js.array("endpoints")
            )
        return cls(
            broker_id=broker_id,
            endpoints=endpoints,
            rack=js.optional_string("rack"),
            jmx_port=js.integer("jmx_port"),
            timestamp_ms=0 if js.is_null("timestamp") else js.decimal_string("timestamp"),
            features={} if js.is_null("features") else _supported_features(js.obj("features")),
        )


def _security_protocol_map(js: JsonObject) -> dict[str, str]:
    if js.is_null("listener_security_protocol_map"):
        # Before version 4 a listener was named after its security protocol.
        return {name: name for name in SECURITY_PROTOCOLS}
    protocols: dict[str, str] = {}
    for listener, protocol in js.obj("listener_security_protocol_map").items():
        if protocol not in SECURITY_PROTOCOLS:
            raise js.error(f"listener {listener!r} has unknown security protocol {protocol!r}")
        protocols[listener] = str(protocol)
    return protocols


def _parse_endpoint(js: JsonObject, item: object, protocols: Mapping[str, str]) -> EndPoint:
    match = _ENDPOINT.fullmatch(item) if isinstance(item, str) else None
    if match is None:
        raise js.error(f"endpoint {item!r} is not LISTENER://host:port")
    listener, ipv6_host, host, port = match.groups()
    if listener not in protocols:
        raise js.error(f"endpoint {item!r}: listener {listener!r} has no security protocol")
    if int(port) > 65535:
        raise js.error(f"endpoint {item!r}: port out of range")
    return EndPoint(listener, ipv6_host or host or None, int(port), protocols[listener])


def _supported_features(features: JsonObject) -> dict[str, SupportedVersionRange]:
    decoded: dict[str, SupportedVersionRange] = {}
    for name, value in features.items():
        versions = features.check_object(value, name)
        low = versions.integer("min_version", INT16_MIN, INT16_MAX)
        high = versions.integer("max_version", INT16_MIN, INT16_MAX)
        if low > high:
            raise features.error(f"feature {name!r}: min_version {low} > max_version {high}")
        decoded[name] = SupportedVersionRange(low, high)
    return decoded


@dataclass(frozen=True, slots=True)
class ControllerRegistration:
    """/controller, ephemeral: which broker is the controller.

    JSON version 1; version 2 (a KRaft migration's) adds kraftControllerEpoch.
    """

    broker_id: int
    timestamp_ms: int = 0
    kraft_controller_epoch: int | None = None

    def encode(self) -> bytes:
        value: dict[str, object] = {
            "version": 1 if self.kraft_controller_epoch is None else 2,
            "brokerid": self.broker_id,
            "timestamp": str(self.timestamp_ms),
        }
        if self.kraft_controller_epoch is not None:
            value["kraftControllerEpoch"] = self.kraft_controller_epoch
        return encode_json(value)

    @classmethod
    def decode(cls, data: bytes) -> ControllerRegistration:
        js = parse_object(data, "controller")
        js.integer("version", 1, 2)
        return cls(
            broker_id=js.integer("brokerid"),
            timestamp_ms=0 if js.is_null("timestamp") else js.decimal_string("timestamp"),
            kraft_controller_epoch=(
                None if js.is_null("kraftControllerEpoch") else js.integer("kraftControllerEpoch")
            ),
        )


def encode_controller_epoch(epoch: int) -> bytes:
    """/controller_epoch holds the epoch as plain decimal text, not JSON."""
    return str(epoch).encode("ascii")


def decode_controller_epoch(data: bytes) -> int:
    try:
        text = bytes(data).decode("ascii")
    except (UnicodeDecodeError, TypeError):
        raise ZNodeFormatError(f"controller epoch: {data!r} is not ASCII digits") from None
    return parse_decimal(text, "controller epoch", 0, INT32_MAX)


@dataclass(frozen=True, slots=True)
class ReplicaAssignment:
    """One partition's replicas, preferred leader first, and a reassignment in progress."""

    replicas: tuple[int, ...]
    adding_replicas: tuple[int, ...] = ()
    removing_replicas: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class TopicAssignment:
    """/brokers/topics/<topic>: the topic id and each partition's replicas.

    JSON version 3; decodes versions 1 (partitions only) to 3.
    """

    partitions: Mapping[int, ReplicaAssignment]
    topic_id: uuid.UUID | None = None

    def encode(self) -> bytes:
        ordered = sorted(self.partitions.items())
        value: dict[str, object] = {
            "version": 3,
            "partitions": {str(p): list(a.replicas) for p, a in ordered},
            "adding_replicas": {
                str(p): list(a.adding_replicas) for p, a in ordered if a.adding_replicas
            },
            "removing_replicas": {
                str(p): list(a.removing_replicas) for p, a in ordered if a.removing_replicas
            },
        }
        if self.topic_id is not None:
            value["topic_id"] = encode_topic_id(self.topic_id)
        return encode_json(value)

    @classmethod
    def decode(cls, data: bytes) -> TopicAssignment:
        js = parse_object(data, "topic")
        js.integer("version", 1, INT32_MAX)
        topic_id = None if js.is_null("topic_id") else decode_topic_id(js.string("topic_id"))
        adding = _replicas_by_partition(js, "adding_replicas")
        removing = _replicas_by_partition(js, "removing_replicas")
        # Kafka reads adding/removing replicas only for partitions listed under "partitions".
        partitions = {
            p: ReplicaAssignment(replicas, adding.get(p, ()), removing.get(p, ()))
            for p, replicas in _replicas_by_partition(js, "partitions").items()
        }
        return cls(partitions, topic_id)


def _replicas_by_partition(js: JsonObject, key: str) -> dict[int, tuple[int, ...]]:
    if js.is_null(key):
        return {}
    by_partition = js.obj(key)
    decoded: dict[int, tuple[int, ...]] = {}
    for name, replicas in by_partition.items():
        partition = parse_decimal(name, f"{by_partition.what}: partition", 0, INT32_MAX)
        decoded[partition] = by_partition.check_int_list(replicas, name, 0, INT32_MAX)
    return decoded


def encode_topic_id(topic_id: uuid.UUID) -> str:
    """Kafka's Uuid.toString: URL-safe base64 of the 16 bytes, unpadded (22 characters)."""
    return base64.urlsafe_b64encode(topic_id.bytes).decode("ascii").rstrip("=")


def decode_topic_id(text: str) -> uuid.UUID:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    # Only the canonical spelling: another would name the same id but compare unequal.
    if len(raw) != 16 or len(text) != 22 or encode_topic_id(uuid.UUID(bytes=raw)) != text:
        raise ZNodeFormatError(f"topic: topic_id {text[:40]!r} is not a Kafka Uuid")
    return uuid.UUID(bytes=raw)


class LeaderRecoveryState(enum.IntEnum):
    """Whether the leader came from an unclean election and is still recovering (KIP-704)."""

    RECOVERED = 0
    RECOVERING = 1


@dataclass(frozen=True, slots=True)
class PartitionState:
    """/brokers/topics/<topic>/partitions/<p>/state: Kafka's LeaderIsrAndControllerEpoch.

    The znode's zkVersion is the partition epoch; fencing is a conditional set on it.
    """

    leader: int
    leader_epoch: int
    isr: tuple[int, ...]
    controller_epoch: int
    leader_recovery_state: LeaderRecoveryState = LeaderRecoveryState.RECOVERED

    def encode(self) -> bytes:
        value: dict[str, object] = {
            "version": 1,
            "leader": self.leader,
            "leader_epoch": self.leader_epoch,
            "isr": list(self.isr),
            "controller_epoch": self.controller_epoch,
        }
        # Kafka writes the field only while the leader recovers, so older brokers still read it.
        if self.leader_recovery_state != LeaderRecoveryState.RECOVERED:
            value["leader_recovery_state"] = int(self.leader_recovery_state)
        return encode_json(value)

    @classmethod
    def decode(cls, data: bytes) -> PartitionState:
        js = parse_object(data, "partition state")
        js.integer("version", 1, INT32_MAX)
        recovery = LeaderRecoveryState.RECOVERED
        if not js.is_null("leader_recovery_state"):
            code = js.integer("leader_recovery_state")
            try:
                recovery = LeaderRecoveryState(code)
            except ValueError:
                raise js.error(f"unknown leader_recovery_state {code}") from None
        return cls(
            leader=js.integer("leader"),
            leader_epoch=js.integer("leader_epoch"),
            isr=js.int_list("isr", 0, INT32_MAX),
            controller_epoch=js.integer("controller_epoch"),
            leader_recovery_state=recovery,
        )


@dataclass(frozen=True, slots=True)
class ProducerIdBlock:
    """/latest_producer_id_block: the last block of producer ids a broker reserved.

    A broker reserves the next block with a conditional set on this znode's version.
    """

    assigned_broker_id: int
    first_producer_id: int
    size: int

    @property
    def last_producer_id(self) -> int:
        return self.first_producer_id + self.size - 1

    def encode(self) -> bytes:
        return encode_json({
            "version": 1,
            "broker": self.assigned_broker_id,
            "block_start": str(self.first_producer_id),
            "block_end": str(self.last_producer_id),
        })  # fmt: skip

    @classmethod
    def decode(cls, data: bytes) -> ProducerIdBlock:
        js = parse_object(data, "producer id block")
        js.integer("version", 1, INT64_MAX)
        start = js.decimal_string("block_start", 0)
        end = js.decimal_string("block_end", 0)
        if not start <= end < start + INT32_MAX:
            raise js.error(f"block [{start}, {end}] is empty or larger than {INT32_MAX} ids")
        return cls(js.integer("broker"), start, end - start + 1)


@dataclass(frozen=True, slots=True)
class EntityConfig:
    """/config/<type>/<name>: the dynamic config overrides of a topic, client, user, broker."""

    config: Mapping[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        return encode_json({"version": 1, "config": dict(sorted(self.config.items()))})

    @classmethod
    def decode(cls, data: bytes) -> EntityConfig:
        js = parse_object(data, "entity config")
        if js.is_null("config"):
            return cls({})
        config = js.obj("config")
        decoded: dict[str, str] = {}
        for key, value in config.items():
            if not isinstance(value, str):
                raise config.error(f"{key!r} is not a string value")
            decoded[key] = value
        return cls(decoded)


@dataclass(frozen=True, slots=True)
class ClusterId:
    """/cluster/id. Kafka writes its version as the string "1"."""

    id: str

    def encode(self) -> bytes:
        return encode_json({"version": "1", "id": self.id})

    @classmethod
    def decode(cls, data: bytes) -> ClusterId:
        js = parse_object(data, "cluster id")
        cluster_id = js.string("id")
        if not cluster_id:
            raise js.error("id is empty")
        return cls(cluster_id)
