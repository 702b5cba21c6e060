"""Values that cross the KIP-848 consumer group's boundary (ConsumerGroupHeartbeat & co.).

Partitions are named by topic *name* here: the handler maps the wire's topic ids to
names (and back) from the metadata image, so the state machine needs no ids. Nothing
here knows kio; the handler maps `ConsumerGroupError` names onto Kafka error codes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum, IntEnum

# Member epochs a heartbeat may carry besides the member's current epoch.
JOIN_GROUP_MEMBER_EPOCH = 0
LEAVE_GROUP_MEMBER_EPOCH = -1
LEAVE_GROUP_STATIC_MEMBER_EPOCH = -2
# "unchanged" for an int field of ConsumerGroupHeartbeat (rebalance timeout).
UNCHANGED = -1

# A member's assignment, inside the group: topic name -> partitions; no empty topics.
Assignment = dict[str, frozenset[int]]
TopicPartition = tuple[str, int]


class ConsumerGroupState(Enum):
    """Kafka's ConsumerGroup.ConsumerGroupState; values are what Describe / ListGroups say."""

    EMPTY = "Empty"
    ASSIGNING = "Assigning"
    RECONCILING = "Reconciling"
    STABLE = "Stable"


class MemberState(IntEnum):
    """Kafka's MemberState; the values are those of ConsumerGroupCurrentMemberAssignmentValue."""

    STABLE = 0
    UNREVOKED_PARTITIONS = 1  # asked to revoke; its epoch stays until it acknowledges
    UNRELEASED_PARTITIONS = 2  # at the target epoch, waiting for others to release partitions


class ConsumerGroupError(Enum):
    """Kafka error codes a KIP-848 group operation can answer with; values are Kafka's names."""

    FENCED_MEMBER_EPOCH = "fenced_member_epoch"
    STALE_MEMBER_EPOCH = "stale_member_epoch"
    UNKNOWN_MEMBER_ID = "unknown_member_id"
    UNSUPPORTED_ASSIGNOR = "unsupported_assignor"
    GROUP_MAX_SIZE_REACHED = "group_max_size_reached"
    INVALID_REQUEST = "invalid_request"
    UNRELEASED_INSTANCE_ID = "unreleased_instance_id"
    FENCED_INSTANCE_ID = "fenced_instance_id"


@dataclass(frozen=True, slots=True)
class ConsumerGroupConfig:
    """The broker settings a KIP-848 group obeys (Kafka's defaults)."""

    session_timeout_ms: int = 45_000  # group.consumer.session.timeout.ms
    heartbeat_interval_ms: int = 5_000  # group.consumer.heartbeat.interval.ms
    default_assignor: str = "uniform"  # first of group.consumer.assignors
    max_size: int | None = None  # group.consumer.max.size; None: unbounded


@dataclass(frozen=True, slots=True)
class HeartbeatRequest:
    """One ConsumerGroupHeartbeat. None (or UNCHANGED) means "same as last time"."""

    member_id: str  # "" on a v0 join: the coordinator generates one
    member_epoch: int
    client_id: str = ""
    client_host: str = ""
    instance_id: str | None = None
    rebalance_timeout_ms: int = UNCHANGED
    subscribed_topic_names: Sequence[str] | None = None
    server_assignor: str | None = None
    owned_partitions: Mapping[str, Sequence[int]] | None = None


@dataclass(frozen=True, slots=True)
class TopicAssignment:
    topic: str
    partitions: tuple[int, ...]  # ascending


@dataclass(frozen=True, slots=True)
class HeartbeatResult:
    error: ConsumerGroupError | None
    member_id: str = ""
    member_epoch: int = 0
    heartbeat_interval_ms: int = 0
    assignment: tuple[TopicAssignment, ...] | None = None  # None: unchanged since last sent


@dataclass(frozen=True, slots=True)
class DescribedConsumerMember:
    member_id: str
    instance_id: str | None
    member_epoch: int
    state: MemberState
    client_id: str
    client_host: str
    subscribed_topic_names: tuple[str, ...]
    server_assignor: str | None
    assignment: tuple[TopicAssignment, ...]
    partitions_pending_revocation: tuple[TopicAssignment, ...]
    target_assignment: tuple[TopicAssignment, ...]


@dataclass(frozen=True, slots=True)
class ConsumerGroupDescription:
    group_id: str
    state: ConsumerGroupState
    group_epoch: int
    assignment_epoch: int
    assignor_name: str
    members: tuple[DescribedConsumerMember, ...]


@dataclass(frozen=True, slots=True)
class ConsumerGroupListing:
    group_id: str
    protocol_type: str  # always "consumer"
    state: ConsumerGroupState
    group_type: str = "consumer"


def to_assignment(
    partitions: Mapping[str, Sequence[int]] | Mapping[str, frozenset[int]],
) -> Assignment:
    return {t: frozenset(ps) for t, ps in partitions.items() if ps}


def to_wire(assignment: Mapping[str, frozenset[int]]) -> tuple[TopicAssignment, ...]:
    """Sorted by topic then partition, so equal assignments compare equal."""
    return tuple(
        TopicAssignment(t, tuple(sorted(ps))) for t, ps in sorted(assignment.items()) if ps
    )


def as_assignment(wire: Iterable[TopicAssignment]) -> Assignment:
    return {ta.topic: frozenset(ta.partitions) for ta in wire if ta.partitions}


def partitions_of(assignment: Mapping[str, frozenset[int]]) -> set[TopicPartition]:
    return {(t, p) for t, ps in assignment.items() for p in ps}


@dataclass(frozen=True, slots=True)
class ConsumerMemberSnapshot:
    member_id: str
    instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    subscribed_topic_names: tuple[str, ...]
    server_assignor: str | None
    member_epoch: int
    previous_member_epoch: int
    state: MemberState
    assigned: tuple[TopicAssignment, ...]
    pending_revocation: tuple[TopicAssignment, ...]
    target: tuple[TopicAssignment, ...]


@dataclass(frozen=True, slots=True)
class ConsumerGroupSnapshot:
    """What must be persisted to rebuild the group (Kafka's ConsumerGroup* records)."""

    group_id: str
    group_epoch: int
    assignment_epoch: int
    topic_partitions: tuple[tuple[str, int], ...]  # subscribed topic -> partition count
    members: tuple[ConsumerMemberSnapshot, ...]
