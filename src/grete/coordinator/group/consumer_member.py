"""A KIP-848 member: what its heartbeat may say, how it moves toward its target
(Kafka's CurrentAssignmentBuilder), how Describe shows it."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from grete.coordinator.group.consumer_types import (
    JOIN_GROUP_MEMBER_EPOCH,
    LEAVE_GROUP_STATIC_MEMBER_EPOCH,
    UNCHANGED,
    Assignment,
    ConsumerGroupError,
    DescribedConsumerMember,
    HeartbeatRequest,
    MemberState,
    to_wire,
)


@dataclass(slots=True)
class ConsumerMember:
    """A member's mutable state inside a `ConsumerGroup` (never handed out).

    `assigned` is what the member was told it owns; `pending_revocation` what it was
    asked to give up and has not yet acknowledged. Both count as owned by this member
    until then. Deadlines are on the group's monotonic millisecond scale; the
    revocation deadline is set only in UNREVOKED_PARTITIONS.
    """

    member_id: str
    instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    subscribed_topics: tuple[str, ...]
    server_assignor: str | None
    session_deadline_ms: int
    member_epoch: int = 0
    previous_member_epoch: int = -1
    state: MemberState = MemberState.STABLE
    assigned: Assignment = field(default_factory=dict)
    pending_revocation: Assignment = field(default_factory=dict)
    revocation_deadline_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Reconciled:
    """The member's next step toward its target."""

    state: MemberState
    member_epoch: int
    assigned: Assignment
    pending_revocation: Assignment


def check_heartbeat(
    request: HeartbeatRequest, assignors: Collection[str]
) -> ConsumerGroupError | None:
    """Kafka's throwIfConsumerGroupHeartbeatRequestIsInvalid (regex left out)."""
    invalid = ConsumerGroupError.INVALID_REQUEST
    epoch = request.member_epoch
    if epoch < LEAVE_GROUP_STATIC_MEMBER_EPOCH:
        return invalid
    if epoch == JOIN_GROUP_MEMBER_EPOCH:
        if request.subscribed_topic_names is None or request.rebalance_timeout_ms == UNCHANGED:
            return invalid
        if any(request.owned_partitions.values() if request.owned_partitions else ()):
            return invalid  # a (re)joining member owns nothing
    elif not request.member_id:
        return invalid
    if epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH and request.instance_id is None:
        return invalid
    if request.server_assignor is not None and request.server_assignor not in assignors:
        return ConsumerGroupError.UNSUPPORTED_ASSIGNOR
    return None


def describe_member(
    member: ConsumerMember, target: Mapping[str, frozenset[int]]
) -> DescribedConsumerMember:
    return DescribedConsumerMember(
        member_id=member.member_id,
        instance_id=member.instance_id,
        member_epoch=member.member_epoch,
        state=member.state,
        client_id=member.client_id,
        client_host=member.client_host,
        subscribed_topic_names=member.subscribed_topics,
        server_assignor=member.server_assignor,
        assignment=to_wire(member.assigned),
        partitions_pending_revocation=to_wire(member.pending_revocation),
        target_assignment=to_wire(target),
    )


def owns_any(
    owned: Mapping[str, frozenset[int]] | None, partitions: Mapping[str, frozenset[int]]
) -> bool:
    """Does the member still own any of `partitions`? Unknown (None) counts as yes."""
    if owned is None:
        return bool(partitions)
    return any(owned.get(t, frozenset()) & ps for t, ps in partitions.items())


def reconcile(
    member: ConsumerMember,
    target_epoch: int,
    target: Mapping[str, frozenset[int]],
    owned: Mapping[str, frozenset[int]] | None,
    is_free: Callable[[str, int], bool],
) -> Reconciled | None:
    """The member's next state, or None if it stays as it is.

    `owned` is what the heartbeat says the member owns (None: not said); `is_free`
    tells whether no *other* member owns a partition (assigned or pending revocation).
    """
    if member.state is MemberState.UNREVOKED_PARTITIONS:
        if owns_any(owned, member.pending_revocation):
            return None  # still revoking
        return _next(member.member_epoch, target_epoch, target, member.assigned, owned, is_free)
    if member.state is MemberState.STABLE and member.member_epoch == target_epoch:
        return None
    return _next(member.member_epoch, target_epoch, target, member.assigned, owned, is_free)


def _next(
    member_epoch: int,
    target_epoch: int,
    target: Mapping[str, frozenset[int]],
    assigned: Mapping[str, frozenset[int]],
    owned: Mapping[str, frozenset[int]] | None,
    is_free: Callable[[str, int], bool],
) -> Reconciled:
    kept: Assignment = {}
    revoking: Assignment = {}
    unreleased = False
    with_new: Assignment = {}
    for topic in sorted(target.keys() | assigned.keys()):
        current = assigned.get(topic, frozenset())
        wanted = target.get(topic, frozenset())
        if current & wanted:
            kept[topic] = current & wanted
        if current - wanted:
            revoking[topic] = current - wanted
        free = frozenset(p for p in wanted - current if is_free(topic, p))
        unreleased = unreleased or len(free) < len(wanted - current)
        if (current & wanted) | free:
            with_new[topic] = (current & wanted) | free
    if revoking and owns_any(owned, revoking):
        # Incremental revocation: give up first, get new partitions after acknowledging.
        return Reconciled(MemberState.UNREVOKED_PARTITIONS, member_epoch, kept, revoking)
    state = MemberState.UNRELEASED_PARTITIONS if unreleased else MemberState.STABLE
    return Reconciled(state, target_epoch, with_new, {})
