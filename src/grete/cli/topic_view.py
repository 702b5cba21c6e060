"""What `grete topic describe` shows of a topic: partitions, offsets, sizes and config overrides."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from confluent_kafka import TopicPartition, TopicPartitionInfo
from confluent_kafka.admin import (
    AdminClient,
    ConfigResource,
    ConfigSource,
    OffsetSpec,
    ResourceType,
    TopicDescription,
)

from grete.cli.client import REQUEST_TIMEOUT_S, Connection, wait_all
from grete.cli.log_dirs import Leader, LogDirStats, log_dir_stats

Cell = str | int | None


@dataclass(frozen=True)
class TopicSummary:
    """One line of `grete topic list`."""

    COLUMNS: ClassVar[list[str]] = ["TOPIC", "PARTITIONS", "REPLICATION FACTOR"]

    name: str
    partitions: int
    replication_factor: int
    internal: bool

    @classmethod
    def of(cls, description: TopicDescription) -> "TopicSummary":
        partitions = description.partitions
        return cls(
            name=description.name,
            partitions=len(partitions),
            replication_factor=len(partitions[0].replicas) if partitions else 0,
            internal=description.is_internal,
        )

    def table_row(self) -> list[Cell]:
        return [self.name, self.partitions, self.replication_factor]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "partitions": self.partitions,
            "replication_factor": self.replication_factor,
            "internal": self.internal,
        }


@dataclass(frozen=True)
class PartitionView:
    """One partition; a leader of None means the partition has no leader right now.
    Size (bytes of the leader's segments) and segment count are None when the leader
    does not report them."""

    COLUMNS: ClassVar[list[str]] = [
        "PARTITION", "LEADER", "REPLICAS", "ISR", "LOG START", "LOG END", "SIZE", "SEGMENTS",
    ]

    partition: int
    leader: int | None
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    log_start_offset: int
    log_end_offset: int
    size_bytes: int | None = None
    segments: int | None = None

    def table_row(self) -> list[Cell]:
        return [
            self.partition,
            "none" if self.leader is None else self.leader,
            ",".join(map(str, self.replicas)),
            ",".join(map(str, self.isr)),
            self.log_start_offset,
            self.log_end_offset,
            self.size_bytes,
            self.segments,
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "leader": self.leader,
            "replicas": list(self.replicas),
            "isr": list(self.isr),
            "log_start_offset": self.log_start_offset,
            "log_end_offset": self.log_end_offset,
            "size_bytes": self.size_bytes,
            "segments": self.segments,
        }


@dataclass(frozen=True)
class TopicView:
    """A described topic; `configs` holds only the topic's own overrides."""

    name: str
    topic_id: str
    internal: bool
    partitions: tuple[PartitionView, ...]
    configs: dict[str, str]

    @property
    def replication_factor(self) -> int:
        return len(self.partitions[0].replicas) if self.partitions else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "topic_id": self.topic_id,
            "internal": self.internal,
            "partition_count": len(self.partitions),
            "replication_factor": self.replication_factor,
            "configs": dict(sorted(self.configs.items())),
            "partitions": [p.to_json() for p in self.partitions],
        }


Watermarks = dict[tuple[str, int], tuple[int, int]]


def describe_views(
    connection: Connection, admin: AdminClient, descriptions: Sequence[TopicDescription]
) -> list[TopicView]:
    """Fetch configs, log start/end offsets and log dir stats for `descriptions` and
    combine them."""
    if not descriptions:
        return []
    configs = _topic_overrides(connection, admin, [d.name for d in descriptions])
    watermarks = _watermarks(connection, admin, descriptions)
    stats = log_dir_stats(_leaders(descriptions))
    return [_view(d, configs[d.name], watermarks, stats) for d in descriptions]


def _leaders(descriptions: Sequence[TopicDescription]) -> dict[tuple[str, int], Leader]:
    return {
        (d.name, p.id): Leader(p.leader.host, p.leader.port)
        for d in descriptions
        for p in d.partitions
        if p.leader is not None and p.leader.id >= 0
    }


def _view(
    description: TopicDescription,
    configs: dict[str, str],
    marks: Watermarks,
    stats: dict[tuple[str, int], LogDirStats],
) -> TopicView:
    partitions = tuple(
        _partition_view(description.name, p, marks, stats.get((description.name, p.id)))
        for p in sorted(description.partitions, key=lambda p: p.id)
    )
    return TopicView(
        name=description.name,
        topic_id=str(description.topic_id),
        internal=description.is_internal,
        partitions=partitions,
        configs=configs,
    )


def _partition_view(
    topic: str, p: TopicPartitionInfo, marks: Watermarks, stats: LogDirStats | None
) -> PartitionView:
    return PartitionView(
        partition=p.id,
        leader=p.leader.id if p.leader is not None and p.leader.id >= 0 else None,
        replicas=tuple(node.id for node in p.replicas),
        isr=tuple(node.id for node in p.isr),
        log_start_offset=marks[(topic, p.id)][0],
        log_end_offset=marks[(topic, p.id)][1],
        size_bytes=None if stats is None else stats.size_bytes,
        segments=None if stats is None else stats.segments,
    )


def _topic_overrides(
    connection: Connection, admin: AdminClient, names: Sequence[str]
) -> dict[str, dict[str, str]]:
    """Configs set on the topic itself (what kafka-topics shows as "Configs:")."""
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in names]
    futures = admin.describe_configs(resources, request_timeout=REQUEST_TIMEOUT_S)
    results, failures = wait_all(futures)
    for resource, exc in failures.items():
        raise connection.failure(exc, f"describe configs of topic {resource.name}")
    overrides: dict[str, dict[str, str]] = {}
    for resource, entries in results.items():
        overrides[resource.name] = {
            name: "(sensitive)" if entry.is_sensitive or entry.value is None else entry.value
            for name, entry in entries.items()
            if entry.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
        }
    return overrides


def _watermarks(
    connection: Connection, admin: AdminClient, descriptions: Sequence[TopicDescription]
) -> Watermarks:
    partitions = [TopicPartition(d.name, p.id) for d in descriptions for p in d.partitions]
    earliest = _list_offsets(connection, admin, partitions, _offset_spec("earliest"))
    latest = _list_offsets(connection, admin, partitions, _offset_spec("latest"))
    return {key: (earliest[key], latest[key]) for key in earliest}


def _offset_spec(name: Literal["earliest", "latest"]) -> OffsetSpec:
    # OffsetSpec's factory class methods carry no annotations; name the result's type here.
    factory: Callable[[], OffsetSpec] = getattr(OffsetSpec, name)
    return factory()


def _list_offsets(
    connection: Connection, admin: AdminClient, partitions: list[TopicPartition], spec: OffsetSpec
) -> dict[tuple[str, int], int]:
    if not partitions:
        return {}
    futures = admin.list_offsets({tp: spec for tp in partitions}, request_timeout=REQUEST_TIMEOUT_S)
    results, failures = wait_all(futures)
    for tp, exc in failures.items():
        raise connection.failure(exc, f"list offsets of {tp.topic}[{tp.partition}]")
    return {(tp.topic, tp.partition): info.offset for tp, info in results.items()}
