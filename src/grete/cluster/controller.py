"""The embedded controller of a single-node broker: topic creation, deletion, growth, configs.

It validates requests, records the change in the metadata store, then makes the
replica manager host (or drop) the partitions. A cluster mode will put a
ZooKeeper-backed controller behind the same methods.
Not thread-safe; event loop only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from grete.cluster.metadata import MetadataStore, TopicMetadata, new_topic_id
from grete.cluster.topic_config import InvalidConfig, TopicConfig, validate_topic_configs
from grete.cluster.topic_names import INTERNAL_TOPICS, collides, topic_name_error
from grete.config import BrokerConfig
from grete.partition.partition import PartitionSettings
from grete.partition.replica_manager import ReplicaManager
from grete.partition.topic_partition import TopicPartition

log = logging.getLogger("grete.cluster")

MAX_PARTITIONS = 100_000


def partition_settings(topic: TopicMetadata, config: BrokerConfig) -> PartitionSettings:
    """What a partition's request paths need of its topic's configs and the broker's."""
    resolved = TopicConfig.resolve(topic.configs, config)
    return PartitionSettings(
        max_message_bytes=resolved.max_message_bytes,
        log_append_time=resolved.message_timestamp_type == "LogAppendTime",
        log_config=resolved.log_config(),
        min_insync_replicas=resolved.min_insync_replicas,
    )


def checked_topic_configs(configs: Mapping[str, str | None]) -> dict[str, str]:
    """Topic config overrides as stored, or AdminError(invalid_config)."""
    try:
        return validate_topic_configs(configs)
    except InvalidConfig as exc:
        raise AdminError("invalid_config", str(exc)) from None


class AdminError(Exception):
    """An admin request refused; ``kind`` names the Kafka error (handlers map it to a code)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class NewTopic:
    name: str
    num_partitions: int  # -1: num.partitions
    replication_factor: int  # -1: default.replication.factor
    configs: Mapping[str, str | None]
    assignments: Mapping[int, list[int]] | None = None


class Controller:
    def __init__(self, config: BrokerConfig, metadata: MetadataStore, replicas: ReplicaManager, node_id: int) -> None:
        self.config = config
        self.metadata = metadata
        self.replicas = replicas
        self.node_id = node_id

    # -- start-up ----------------------------------------------------------------------------

    def load(self) -> None:
        """Host every partition the metadata knows (after a restart), after deleting logs
        of topics it does not know (a topic deletion cut short by a crash)."""
        expected = {
            TopicPartition(topic.name, index): topic.topic_id
            for topic in self.metadata.topics()
            for index in range(topic.partitions)
        }
        self.replicas.remove_stray_logs(expected)
        for topic in self.metadata.topics():
            self._host(topic)

    def settings_for(self, topic: TopicMetadata) -> PartitionSettings:
        return partition_settings(topic, self.config)

    def _host(self, topic: TopicMetadata, first: int = 0) -> None:
        settings = self.settings_for(topic)
        for index in range(first, topic.partitions):
            self.replicas.ensure_partition(TopicPartition(topic.name, index), topic.topic_id, settings)

    # -- topics ------------------------------------------------------------------------------

    def check_new_topic(self, new: NewTopic) -> tuple[int, int, dict[str, str]]:
        """Validate a topic creation; returns (partitions, replication factor, configs)."""
        reason = topic_name_error(new.name)
        if reason is not None:
            raise AdminError("invalid_topic_exception", reason)
        if new.name in self.metadata:
            raise AdminError("topic_already_exists", f"topic {new.name!r} already exists")
        for existing in self.metadata.topics():
            if collides(existing.name, new.name):
                raise AdminError(
                    "invalid_topic_exception",
                    f"topic {new.name!r} collides with existing topic {existing.name!r}",
                )
        if new.assignments:
            partitions = len(new.assignments)
            rf = len(next(iter(new.assignments.values())))
            if new.num_partitions != -1 or new.replication_factor != -1:
                raise AdminError(
                    "invalid_request",
                    "both replica assignments and partitions/replication factor were given",
                )
            if sorted(new.assignments) != list(range(partitions)):
                raise AdminError("invalid_replica_assignment", "partitions must be numbered from 0")
            for replicas in new.assignments.values():
                if replicas != [self.node_id]:
                    raise AdminError(
                        "invalid_replica_assignment", f"replicas {replicas} are not live brokers"
                    )
        else:
            partitions = self.config.num_partitions if new.num_partitions == -1 else new.num_partitions
            rf = self.config.default_replication_factor if new.replication_factor == -1 else new.replication_factor
        if partitions < 1 or partitions > MAX_PARTITIONS:
            raise AdminError("invalid_partitions", f"number of partitions must be in [1, {MAX_PARTITIONS}]")
        if rf < 1:
            raise AdminError("invalid_replication_factor", "replication factor must be at least 1")
        if rf > 1:
            raise AdminError(
                "invalid_replication_factor",
                f"replication factor {rf} is larger than the 1 available broker",
            )
        return partitions, rf, checked_topic_configs(new.configs)

    def create_topic(self, new: NewTopic, *, validate_only: bool = False, internal: bool = False) -> TopicMetadata:
        partitions, rf, configs = self.check_new_topic(new)
        topic = TopicMetadata(
            name=new.name,
            topic_id=new_topic_id(),
            partitions=partitions,
            replication_factor=rf,
            configs=configs,
            internal=internal or new.name in INTERNAL_TOPICS,
        )
        if validate_only:
            return topic
        self.metadata.put_topic(topic)
        self._host(topic)
        log.info("created topic %s with %d partitions (id %s)", topic.name, partitions, topic.topic_id)
        return topic

    def auto_create_topic(self, name: str) -> TopicMetadata:
        """Create a topic on first use, with the broker defaults (auto.create.topics.enable)."""
        return self.create_topic(NewTopic(name, -1, -1, {}))

    def delete_topic(self, name: str) -> TopicMetadata:
        if not self.config.delete_topic_enable:
            raise AdminError("topic_deletion_disabled", "delete.topic.enable is false")
        topic = self.metadata.topic(name)
        if topic is None:
            raise AdminError("unknown_topic_or_partition", f"topic {name!r} does not exist")
        self.metadata.remove_topic(name)
        self.replicas.remove_topic(name)
        log.info("deleted topic %s", name)
        return topic

    def create_partitions(
        self, name: str, count: int, assignments: list[list[int]] | None, *, validate_only: bool
    ) -> TopicMetadata:
        topic = self.metadata.topic(name)
        if topic is None:
            raise AdminError("unknown_topic_or_partition", f"topic {name!r} does not exist")
        if count < topic.partitions:
            raise AdminError(
                "invalid_partitions",
                f"topic {name!r} has {topic.partitions} partitions; it cannot shrink to {count}",
            )
        if count == topic.partitions:
            raise AdminError("invalid_partitions", f"topic {name!r} already has {count} partitions")
        if count > MAX_PARTITIONS:
            raise AdminError("invalid_partitions", f"number of partitions must be at most {MAX_PARTITIONS}")
        if assignments is not None:
            if len(assignments) != count - topic.partitions:
                raise AdminError(
                    "invalid_replica_assignment",
                    f"{len(assignments)} assignments given for {count - topic.partitions} new partitions",
                )
            if any(a != [self.node_id] for a in assignments):
                raise AdminError("invalid_replica_assignment", "assignments name brokers that are not live")
        if validate_only:
            return topic
        old = topic.partitions
        topic = self.metadata.update_topic(name, partitions=count)
        self._host(topic, first=old)
        return topic

    def alter_topic_configs(self, name: str, configs: Mapping[str, str | None], *, validate_only: bool) -> None:
        topic = self.metadata.topic(name)
        if topic is None:
            raise AdminError("unknown_topic_or_partition", f"topic {name!r} does not exist")
        new_configs = checked_topic_configs(configs)
        if validate_only:
            return
        topic = self.metadata.update_topic(name, configs=new_configs)
        settings = self.settings_for(topic)
        for partition in self.replicas.topic_partitions(name).values():
            partition.update_settings(settings)


class TopicAdmin(Protocol):
    """What the admin handlers call: the embedded controller on a single node, ZooKeeper
    in a cluster (cluster.zookeeper.admin.ZkAdmin)."""

    async def create_topic(self, new: NewTopic, *, validate_only: bool = False, internal: bool = False) -> TopicMetadata: ...

    async def auto_create_topic(self, name: str) -> TopicMetadata: ...

    async def delete_topic(self, name: str) -> TopicMetadata: ...

    async def create_partitions(
        self, name: str, count: int, assignments: list[list[int]] | None, *, validate_only: bool
    ) -> TopicMetadata: ...

    async def alter_topic_configs(self, name: str, configs: Mapping[str, str | None], *, validate_only: bool) -> None: ...

    async def wait_for_topic(self, name: str, *, present: bool = True, timeout_s: float = 10.0) -> None: ...


class LocalAdmin:
    """`TopicAdmin` over the embedded controller: every change is done when it returns."""

    def __init__(self, controller: Controller) -> None:
        self._controller = controller

    async def create_topic(self, new: NewTopic, *, validate_only: bool = False, internal: bool = False) -> TopicMetadata:
        return self._controller.create_topic(new, validate_only=validate_only, internal=internal)

    async def auto_create_topic(self, name: str) -> TopicMetadata:
        return self._controller.auto_create_topic(name)

    async def delete_topic(self, name: str) -> TopicMetadata:
        return self._controller.delete_topic(name)

    async def create_partitions(
        self, name: str, count: int, assignments: list[list[int]] | None, *, validate_only: bool
    ) -> TopicMetadata:
        return self._controller.create_partitions(name, count, assignments, validate_only=validate_only)

    async def alter_topic_configs(self, name: str, configs: Mapping[str, str | None], *, validate_only: bool) -> None:
        self._controller.alter_topic_configs(name, configs, validate_only=validate_only)

    async def wait_for_topic(self, name: str, *, present: bool = True, timeout_s: float = 10.0) -> None:
        return None
