"""Values that cross the classic group state machine's boundary.

Requests come in as small frozen dataclasses built by the handler from the wire
types; results go out the same way. Nothing here knows kio: the handler maps
`GroupError` names onto Kafka error codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

# Kafka's member id of a member that has none yet (JoinGroup, LeaveGroup, OffsetCommit).
UNKNOWN_MEMBER_ID = ""
# Generation of a group that never completed a join; also what simple consumers commit with.
NO_GENERATION = -1


class GroupState(Enum):
    """Kafka's classic group states; the values are what DescribeGroups and ListGroups say."""

    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"


class GroupError(Enum):
    """Kafka error codes a group operation can answer with; values are Kafka's names."""

    COORDINATOR_NOT_AVAILABLE = "coordinator_not_available"
    NOT_COORDINATOR = "not_coordinator"
    UNKNOWN_MEMBER_ID = "unknown_member_id"
    MEMBER_ID_REQUIRED = "member_id_required"
    ILLEGAL_GENERATION = "illegal_generation"
    REBALANCE_IN_PROGRESS = "rebalance_in_progress"
    INCONSISTENT_GROUP_PROTOCOL = "inconsistent_group_protocol"
    INVALID_SESSION_TIMEOUT = "invalid_session_timeout"
    GROUP_MAX_SIZE_REACHED = "group_max_size_reached"
    FENCED_INSTANCE_ID = "fenced_instance_id"
    NON_EMPTY_GROUP = "non_empty_group"
    GROUP_ID_NOT_FOUND = "group_id_not_found"
    GROUP_SUBSCRIBED_TO_TOPIC = "group_subscribed_to_topic"
    UNKNOWN_SERVER_ERROR = "unknown_server_error"


@dataclass(frozen=True, slots=True)
class ClassicGroupConfig:
    """The broker settings a classic group obeys (Kafka's defaults)."""

    initial_rebalance_delay_ms: int = 3_000  # group.initial.rebalance.delay.ms
    min_session_timeout_ms: int = 6_000  # group.min.session.timeout.ms
    max_session_timeout_ms: int = 1_800_000  # group.max.session.timeout.ms
    max_size: int | None = None  # group.max.size; None: unbounded


@dataclass(frozen=True, slots=True)
class ProtocolMetadata:
    """One (name, metadata) entry of a JoinGroup request, e.g. ("range", subscription bytes)."""

    name: str
    metadata: bytes


@dataclass(frozen=True, slots=True)
class JoinRequest:
    member_id: str  # UNKNOWN_MEMBER_ID on a member's first join
    client_id: str
    client_host: str
    protocol_type: str  # "consumer", "connect", ...
    protocols: tuple[ProtocolMetadata, ...]  # in the client's order of preference
    session_timeout_ms: int
    rebalance_timeout_ms: int  # v0 requests have none: pass the session timeout
    group_instance_id: str | None = None  # static membership (KIP-345), v5+
    require_known_member_id: bool = False  # KIP-394: true for v4+ requests


@dataclass(frozen=True, slots=True)
class JoinedMember:
    """A member as the leader sees it in its JoinGroup response."""

    member_id: str
    group_instance_id: str | None
    metadata: bytes  # the member's metadata for the selected protocol


@dataclass(frozen=True, slots=True)
class JoinResult:
    error: GroupError | None
    member_id: str = UNKNOWN_MEMBER_ID
    generation_id: int = NO_GENERATION
    protocol_type: str | None = None
    protocol_name: str | None = None
    leader: str = UNKNOWN_MEMBER_ID
    members: tuple[JoinedMember, ...] = ()  # only the leader gets them


@dataclass(frozen=True, slots=True)
class MemberAssignment:
    member_id: str
    assignment: bytes


@dataclass(frozen=True, slots=True)
class SyncRequest:
    member_id: str
    generation_id: int
    group_instance_id: str | None = None
    protocol_type: str | None = None  # v5+: checked when given
    protocol_name: str | None = None  # v5+: checked when given
    assignments: tuple[MemberAssignment, ...] = ()  # only the leader's count


@dataclass(frozen=True, slots=True)
class SyncResult:
    error: GroupError | None
    assignment: bytes = b""
    protocol_type: str | None = None
    protocol_name: str | None = None


@dataclass(frozen=True, slots=True)
class Pending:
    """The request waits; its result comes later from `ClassicGroup.poll` under this ticket."""

    ticket: int


@dataclass(frozen=True, slots=True)
class JoinCompletion:
    ticket: int
    member_id: str
    result: JoinResult


@dataclass(frozen=True, slots=True)
class SyncCompletion:
    ticket: int
    member_id: str
    result: SyncResult


Completion = JoinCompletion | SyncCompletion


@dataclass(frozen=True, slots=True)
class LeavingMember:
    """One entry of a (batch, KIP-345) LeaveGroup request."""

    member_id: str = UNKNOWN_MEMBER_ID
    group_instance_id: str | None = None


@dataclass(frozen=True, slots=True)
class LeaveResult:
    error: GroupError | None  # the top-level error
    members: tuple[tuple[LeavingMember, GroupError | None], ...] = ()


@dataclass(frozen=True, slots=True)
class DescribedMember:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    metadata: bytes  # empty unless the group is Stable
    assignment: bytes  # empty unless the group is Stable


@dataclass(frozen=True, slots=True)
class GroupDescription:
    group_id: str
    state: GroupState
    protocol_type: str  # "" if none
    protocol: str  # "" unless the group is Stable
    members: tuple[DescribedMember, ...]


@dataclass(frozen=True, slots=True)
class GroupListing:
    group_id: str
    protocol_type: str
    state: GroupState


@dataclass(frozen=True, slots=True)
class MemberSnapshot:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    subscription: bytes  # metadata for the group's protocol
    assignment: bytes


@dataclass(frozen=True, slots=True)
class GroupSnapshot:
    """What must be persisted to rebuild the group (Kafka's GroupMetadataValue)."""

    group_id: str
    protocol_type: str | None
    generation_id: int
    protocol_name: str | None
    leader: str | None
    current_state_timestamp_ms: int | None
    members: tuple[MemberSnapshot, ...]
