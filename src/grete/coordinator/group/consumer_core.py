"""The engine under `ConsumerGroup`: members, epochs, target assignment, deadlines.

`ConsumerGroup` (consumer_group.py) turns ConsumerGroupHeartbeat requests into calls
on this engine; the engine owns the group epoch and the target assignment (computed
by the server-side assignor as soon as the epoch bumps), partition ownership across
members, each member's step toward its target, and the session and revocation
deadlines that `poll` fires.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping

from grete.clock import Clock
from grete.coordinator.group.consumer_assignors import ASSIGNORS, MemberSpec
from grete.coordinator.group.consumer_member import (
    ConsumerMember,
    Reconciled,
    reconcile,
)
from grete.coordinator.group.consumer_types import (
    LEAVE_GROUP_STATIC_MEMBER_EPOCH,
    Assignment,
    ConsumerGroupConfig,
    ConsumerGroupState,
    MemberState,
    TopicPartition,
    partitions_of,
)

DEFAULT_CONFIG = ConsumerGroupConfig()
_MAX_EXPIRIES_PER_POLL = 10_000


def random_member_id() -> str:
    return str(uuid.uuid4())


class ConsumerGroupCore:
    """The state of one KIP-848 group, and the moves it makes on its own.

    Invariants:
    - No partition is owned (assigned or pending revocation) by two members at once: a
      partition enters a member's assignment only when no other member owns it.
    - A member's epoch only grows, except to -2 on a static member's temporary leave;
      it reaches the target epoch only once the member has nothing left to revoke.
    - The assignment epoch equals the group epoch after every call.
    - An instance id maps to exactly one member id.
    """

    def __init__(
        self,
        group_id: str,
        clock: Clock,
        config: ConsumerGroupConfig = DEFAULT_CONFIG,
        new_member_id: Callable[[], str] = random_member_id,
    ) -> None:
        self.group_id = group_id
        self._clock = clock
        self._config = config
        self._new_member_id = new_member_id
        self._members: dict[str, ConsumerMember] = {}
        self._static_members: dict[str, str] = {}  # instance id -> member id
        self._group_epoch = 0
        self._assignment_epoch = 0
        self._target: dict[str, Assignment] = {}
        self._metadata: dict[str, int] = {}  # subscribed topic -> partition count
        self._owners: dict[TopicPartition, str] = {}

    @property
    def group_epoch(self) -> int:
        return self._group_epoch

    @property
    def assignment_epoch(self) -> int:
        return self._assignment_epoch

    @property
    def state(self) -> ConsumerGroupState:
        if not self._members:
            return ConsumerGroupState.EMPTY
        if self._group_epoch > self._assignment_epoch:
            return ConsumerGroupState.ASSIGNING
        for member in self._members.values():
            if (
                member.state is not MemberState.STABLE
                or member.member_epoch != self._assignment_epoch
            ):
                return ConsumerGroupState.RECONCILING
        return ConsumerGroupState.STABLE

    def member_ids(self) -> list[str]:
        return list(self._members)

    @property
    def assignor_name(self) -> str:
        """The server assignor most members ask for (ties: the first name), else the default."""
        votes = Counter(m.server_assignor for m in self._members.values() if m.server_assignor)
        if not votes:
            return self._config.default_assignor
        return min(votes, key=lambda name: (-votes[name], name))

    # -- target assignment and reconciliation ----------------------------------------------------

    def update_metadata(self, topic_partitions: Mapping[str, int]) -> bool:
        """The broker's topics changed (e.g. partitions added): bump the epoch if it matters."""
        if self._refresh_metadata(topic_partitions):
            self._bump_group_epoch()
            return True
        return False

    def _refresh_metadata(self, topic_partitions: Mapping[str, int]) -> bool:
        subscribed = {t for m in self._members.values() for t in m.subscribed_topics}
        metadata = {t: n for t in subscribed if (n := topic_partitions.get(t, 0)) > 0}
        changed = metadata != self._metadata
        self._metadata = metadata
        return changed

    def _bump_group_epoch(self) -> None:
        self._group_epoch += 1
        self._compute_target()

    def _compute_target(self) -> None:
        """The target assignment for the group epoch (Kafka's TargetAssignmentBuilder)."""
        assignor = ASSIGNORS[self.assignor_name]
        specs = {
            m.member_id: MemberSpec(
                frozenset(m.subscribed_topics), self._target.get(m.member_id, {})
            )
            for m in self._members.values()
        }
        self._target = assignor.assign(specs, self._metadata)
        self._assignment_epoch = self._group_epoch

    def _reconcile(self, member: ConsumerMember, owned: Assignment | None) -> None:
        if member.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH:
            return

        def is_free(topic: str, partition: int) -> bool:
            return self._owners.get((topic, partition), member.member_id) == member.member_id

        target = self._target.get(member.member_id, {})
        step = reconcile(member, self._assignment_epoch, target, owned, is_free)
        if step is not None:
            self._apply(member, step)

    def _apply(self, member: ConsumerMember, step: Reconciled) -> None:
        for tp in partitions_of(member.assigned) | partitions_of(member.pending_revocation):
            if self._owners.get(tp) == member.member_id:
                del self._owners[tp]
        for tp in partitions_of(step.assigned) | partitions_of(step.pending_revocation):
            self._owners[tp] = member.member_id
        if step.state is MemberState.UNREVOKED_PARTITIONS:
            if (
                member.state is not MemberState.UNREVOKED_PARTITIONS
                or step.pending_revocation != member.pending_revocation
            ):
                member.revocation_deadline_ms = self._now_ms() + member.rebalance_timeout_ms
        else:
            member.revocation_deadline_ms = None
        if step.member_epoch != member.member_epoch:
            member.previous_member_epoch = member.member_epoch
            member.member_epoch = step.member_epoch
        member.state = step.state
        member.assigned = step.assigned
        member.pending_revocation = step.pending_revocation

    def _remove_member(self, member_id: str) -> None:
        member = self._members.pop(member_id)
        if (
            member.instance_id is not None
            and self._static_members.get(member.instance_id) == member_id
        ):
            del self._static_members[member.instance_id]
        for tp in partitions_of(member.assigned) | partitions_of(member.pending_revocation):
            if self._owners.get(tp) == member_id:
                del self._owners[tp]
        self._target.pop(member_id, None)
        subscribed = {t for m in self._members.values() for t in m.subscribed_topics}
        self._metadata = {t: n for t, n in self._metadata.items() if t in subscribed}
        self._bump_group_epoch()

    # -- deadlines ----------------------------------------------------------------------------

    def poll(self) -> list[str]:
        """Fire every deadline due by now; return the ids of the members removed."""
        removed: list[str] = []
        now = self._now_ms()
        for _ in range(_MAX_EXPIRIES_PER_POLL):
            due = min(self._deadlines(), default=None, key=lambda item: item[0])
            if due is None or due[0] > now:
                break
            removed.append(due[1])
            self._remove_member(due[1])
        return removed

    def next_deadline(self) -> float | None:
        """When `poll` next has work, in seconds on the clock's monotonic scale."""
        earliest = min((deadline for deadline, _ in self._deadlines()), default=None)
        return None if earliest is None else earliest / 1000.0

    def _deadlines(self) -> Iterator[tuple[int, str]]:
        for member in self._members.values():
            yield member.session_deadline_ms, member.member_id
            if member.revocation_deadline_ms is not None:
                yield member.revocation_deadline_ms, member.member_id

    def _now_ms(self) -> int:
        return round(self._clock.monotonic() * 1000)

    def _reset_session(self, member: ConsumerMember) -> None:
        member.session_deadline_ms = self._now_ms() + self._config.session_timeout_ms
