"""What `grete group` reads of a consumer group: its description, committed offsets, log
offsets and record timestamps, and the views `list` and `describe` print."""

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any, ClassVar

from confluent_kafka import (
    ConsumerGroupState,
    ConsumerGroupTopicPartitions,
    ConsumerGroupType,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, ConsumerGroupDescription, OffsetSpec

from grete.cli.client import ASSIGN_ONLY_GROUP, REQUEST_TIMEOUT_S, Connection, wait_all
from grete.cli.errors import CliError

Cell = str | int | None
Partition = tuple[str, int]
# Reading one record per lagging partition; a slow or empty fetch leaves its age unknown.
RECORD_TIMEOUT_S = 5.0
_POLL_S = 0.5


class GroupState(StrEnum):
    """A classic group's state, in Kafka's own words."""

    Unknown = "Unknown"
    PreparingRebalance = "PreparingRebalance"
    CompletingRebalance = "CompletingRebalance"
    Stable = "Stable"
    Dead = "Dead"
    Empty = "Empty"

    @classmethod
    def of(cls, state: Enum | None) -> "GroupState":
        """From confluent-kafka's ConsumerGroupState (typed there as a plain Enum)."""
        return cls.Unknown if state is None else _STATES.get(state, cls.Unknown)

    def client_state(self) -> Enum:
        return next(k for k, v in _STATES.items() if v is self)


_STATES: dict[Enum, GroupState] = {
    ConsumerGroupState.UNKNOWN: GroupState.Unknown,
    ConsumerGroupState.PREPARING_REBALANCING: GroupState.PreparingRebalance,
    ConsumerGroupState.COMPLETING_REBALANCING: GroupState.CompletingRebalance,
    ConsumerGroupState.STABLE: GroupState.Stable,
    ConsumerGroupState.DEAD: GroupState.Dead,
    ConsumerGroupState.EMPTY: GroupState.Empty,
}


def group_type(kind: ConsumerGroupType | None) -> str:
    """'classic', 'consumer' or 'unknown' (KIP-848's names for the two protocols)."""
    return "unknown" if kind is None else kind.name.lower()


@dataclass(frozen=True)
class GroupSummary:
    """One line of `grete group list`. A simple group only stores offsets (no protocol)."""

    COLUMNS: ClassVar[list[str]] = ["GROUP", "STATE", "TYPE"]

    group_id: str
    state: GroupState
    type: str
    simple: bool

    def table_row(self) -> list[Cell]:
        return [self.group_id, self.state.value, self.type]

    def to_json(self) -> dict[str, Any]:
        return {
            "group_id": self.group_id,
            "state": self.state.value,
            "type": self.type,
            "simple": self.simple,
        }


@dataclass(frozen=True)
class MemberView:
    """A member and the partitions the group leader assigned to it."""

    COLUMNS: ClassVar[list[str]] = ["MEMBER ID", "INSTANCE ID", "CLIENT ID", "HOST", "PARTITIONS"]

    member_id: str
    group_instance_id: str | None
    client_id: str
    host: str
    assignment: tuple[Partition, ...]

    def table_row(self) -> list[Cell]:
        assigned = ",".join(f"{topic}[{partition}]" for topic, partition in self.assignment)
        return [self.member_id, self.group_instance_id, self.client_id, self.host, assigned or "-"]

    def to_json(self) -> dict[str, Any]:
        return {
            "member_id": self.member_id,
            "group_instance_id": self.group_instance_id,
            "client_id": self.client_id,
            "host": self.host,
            "assignment": [{"topic": t, "partition": p} for t, p in self.assignment],
        }


@dataclass(frozen=True)
class PartitionLag:
    """A partition the group commits to or is assigned. `current_offset` is the committed
    offset (None: nothing committed); `lag_seconds` is the age of the record at that offset
    (0 when caught up, None when unknown); `member_id` is the owner (None: unassigned)."""

    COLUMNS: ClassVar[list[str]] = [
        "TOPIC",
        "PARTITION",
        "CURRENT OFFSET",
        "LOG END OFFSET",
        "LAG",
        "LAG SECONDS",
        "MEMBER ID",
    ]

    topic: str
    partition: int
    current_offset: int | None
    log_end_offset: int
    lag_seconds: float | None
    member_id: str | None

    @property
    def lag(self) -> int | None:
        if self.current_offset is None:
            return None
        return max(0, self.log_end_offset - self.current_offset)

    def table_row(self) -> list[Cell]:
        seconds = None if self.lag_seconds is None else f"{self.lag_seconds:.3f}"
        return [
            self.topic,
            self.partition,
            self.current_offset,
            self.log_end_offset,
            self.lag,
            seconds,
            self.member_id,
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "current_offset": self.current_offset,
            "log_end_offset": self.log_end_offset,
            "lag": self.lag,
            "lag_seconds": self.lag_seconds,
            "member_id": self.member_id,
        }


@dataclass(frozen=True)
class GroupView:
    """A described group; `protocol` is the assignor chosen (empty while no member)."""

    group_id: str
    state: GroupState
    type: str
    protocol: str
    coordinator: int | None
    members: tuple[MemberView, ...]
    partitions: tuple[PartitionLag, ...]

    def title(self) -> str:
        coordinator = "-" if self.coordinator is None else self.coordinator
        return (
            f"Group: {self.group_id}  State: {self.state.value}  Type: {self.type}"
            f"  Protocol: {self.protocol or '-'}  Coordinator: {coordinator}"
            f"  Members: {len(self.members)}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "group_id": self.group_id,
            "state": self.state.value,
            "type": self.type,
            "protocol": self.protocol,
            "coordinator": self.coordinator,
            "members": [m.to_json() for m in self.members],
            "partitions": [p.to_json() for p in self.partitions],
        }


def describe_group(
    connection: Connection, admin: AdminClient, group: str
) -> ConsumerGroupDescription:
    """The group's description; a group the coordinator does not know is in state Dead."""
    action = f"describe group {group}"
    try:
        futures = admin.describe_consumer_groups([group], request_timeout=REQUEST_TIMEOUT_S)
    except Exception as exc:
        raise connection.failure(exc, action) from exc
    results, failures = wait_all(futures)
    for failure in failures.values():
        raise connection.failure(failure, action)
    description: ConsumerGroupDescription = results[group]
    return description


def committed_offsets(
    connection: Connection,
    admin: AdminClient,
    group: str,
    partitions: Iterable[Partition] | None = None,
) -> dict[Partition, int | None]:
    """The group's committed offsets: all of them, or those of `partitions` (None where
    nothing is committed)."""
    wanted = None if partitions is None else [TopicPartition(t, p) for t, p in partitions]
    request = ConsumerGroupTopicPartitions(group, wanted)
    action = f"fetch committed offsets of group {group}"
    try:
        futures = admin.list_consumer_group_offsets([request], request_timeout=REQUEST_TIMEOUT_S)
    except Exception as exc:
        raise connection.failure(exc, action) from exc
    results, failures = wait_all(futures)
    for failure in failures.values():
        raise connection.failure(failure, action)
    offsets: dict[Partition, int | None] = {}
    for tp in results[group].topic_partitions or ():
        if tp.error is not None:
            raise CliError(
                connection.describe(tp.error, f"{action} for {tp.topic}[{tp.partition}]")
            )
        offsets[(tp.topic, tp.partition)] = tp.offset if tp.offset >= 0 else None
    return offsets


def offset_spec(name: str) -> OffsetSpec:
    """OffsetSpec.earliest() or .latest(); its factories carry no annotations."""
    factory: Callable[[], OffsetSpec] = getattr(OffsetSpec, name)
    return factory()


def list_offsets(
    connection: Connection,
    admin: AdminClient,
    specs: Mapping[Partition, OffsetSpec],
) -> dict[Partition, int]:
    """ListOffsets for each partition; -1 where a timestamp spec matched no record."""
    if not specs:
        return {}
    request = {TopicPartition(t, p): spec for (t, p), spec in specs.items()}
    futures = admin.list_offsets(request, request_timeout=REQUEST_TIMEOUT_S)
    results, failures = wait_all(futures)
    for tp, exc in failures.items():
        raise connection.failure(exc, f"list offsets of {tp.topic}[{tp.partition}]")
    return {(tp.topic, tp.partition): info.offset for tp, info in results.items()}


def record_timestamps(
    connection: Connection,
    positions: Mapping[Partition, int],
    timeout_s: float = RECORD_TIMEOUT_S,
    clock: Callable[[], float] = time.monotonic,
) -> dict[Partition, int]:
    """The timestamp (ms) of the first record at or after each position, read with an
    assign-only consumer that commits nothing. Partitions not read in `timeout_s` (or whose
    position is out of range) are missing from the result."""
    if not positions:
        return {}
    consumer = connection.consumer(
        {
            "group.id": ASSIGN_ONLY_GROUP,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "error",  # never read some other record instead
        }
    )
    pending = dict(positions)
    found: dict[Partition, int] = {}
    deadline = clock() + timeout_s
    try:
        consumer.assign([TopicPartition(t, p, offset) for (t, p), offset in positions.items()])
        while pending and (remaining := deadline - clock()) > 0:
            for message in consumer.consume(len(pending), timeout=min(_POLL_S, remaining)):
                key = (message.topic() or "", message.partition() or 0)
                if key not in pending:
                    continue
                if message.error() is not None:
                    del pending[key]  # e.g. offset out of range: the age stays unknown
                    continue
                offset = message.offset()
                if offset is None or offset < pending[key]:
                    continue
                _kind, timestamp = message.timestamp()
                if timestamp >= 0:
                    found[key] = timestamp
                del pending[key]
                consumer.pause([TopicPartition(*key)])
    finally:
        consumer.close()
    return found


def lag_seconds(lag: int | None, timestamp_ms: int | None, now_ms: int) -> float | None:
    """Age in seconds of the next record to consume: 0 when caught up; never negative
    (a producer's clock may run ahead of ours)."""
    if lag is None:
        return None
    if lag == 0:
        return 0.0
    if timestamp_ms is None:
        return None
    return round(max(0, now_ms - timestamp_ms) / 1000, 3)


def build_view(
    connection: Connection,
    admin: AdminClient,
    description: ConsumerGroupDescription,
    now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
) -> GroupView:
    """Combine a description with committed offsets, log end offsets and record ages."""
    group = description.group_id
    members = tuple(sorted((_member(m) for m in description.members), key=lambda m: m.member_id))
    owners = {tp: m.member_id for m in members for tp in m.assignment}
    committed = committed_offsets(connection, admin, group)
    keys = sorted(set(committed) | set(owners))
    log_end = list_offsets(connection, admin, {tp: offset_spec("latest") for tp in keys})
    lagging = {
        tp: offset
        for tp in keys
        if (offset := committed.get(tp)) is not None and log_end[tp] > offset
    }
    timestamps = record_timestamps(connection, lagging)
    now = now_ms()
    partitions = []
    for tp in keys:
        current = committed.get(tp)
        lag = None if current is None else max(0, log_end[tp] - current)
        partitions.append(
            PartitionLag(
                topic=tp[0],
                partition=tp[1],
                current_offset=current,
                log_end_offset=log_end[tp],
                lag_seconds=lag_seconds(lag, timestamps.get(tp), now),
                member_id=owners.get(tp),
            )
        )
    coordinator = description.coordinator
    return GroupView(
        group_id=group,
        state=GroupState.of(description.state),
        type=group_type(getattr(description, "type", None)),
        protocol=description.partition_assignor or "",
        coordinator=None if coordinator is None or coordinator.id < 0 else coordinator.id,
        members=members,
        partitions=tuple(partitions),
    )


def _member(member: Any) -> MemberView:
    assignment = member.assignment.topic_partitions if member.assignment is not None else []
    return MemberView(
        member_id=member.member_id,
        group_instance_id=member.group_instance_id,
        client_id=member.client_id,
        host=member.host,
        assignment=tuple(sorted((tp.topic, tp.partition) for tp in assignment)),
    )


def partitions_of(
    connection: Connection, admin: AdminClient, topic: str, partitions: list[int] | None, action: str
) -> list[Partition]:
    """The topic's partitions (or those chosen), checked to exist; ``action`` ("trim topic
    t") heads the error messages."""
    try:  # all topics: a Metadata request naming a missing topic may auto-create it
        metadata = admin.list_topics(timeout=REQUEST_TIMEOUT_S)
    except Exception as exc:
        raise connection.failure(exc, action) from exc
    found = metadata.topics.get(topic)
    if found is None or found.error is not None:
        raise CliError(f"{action}: topic {topic} does not exist")
    available = sorted(found.partitions)
    chosen = sorted(set(partitions or available))
    missing = [p for p in chosen if p not in available]
    if missing:
        raise CliError(f"topic {topic} has no partition {missing[0]} (it has {len(available)})")
    return [(topic, p) for p in chosen]
