"""The rebalance engine under `ClassicGroup`: members, states, deadlines, completions.

`ClassicGroup` (classic.py) turns requests into calls on this engine; the engine
owns the state transitions, the delayed join (with Kafka's initial delay), the
pending-sync timeout and session expiry, and collects the results of waiting
JoinGroup / SyncGroup requests for `poll` to hand out.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator
from functools import partial

from grete.clock import Clock
from grete.coordinator.group.classic_member import ClassicMember, select_protocol
from grete.coordinator.group.classic_types import (
    ClassicGroupConfig,
    Completion,
    GroupError,
    GroupState,
    JoinCompletion,
    JoinedMember,
    JoinRequest,
    JoinResult,
    Pending,
    SyncCompletion,
    SyncResult,
)

_EMPTY = GroupState.EMPTY
_PREPARING = GroupState.PREPARING_REBALANCE
_COMPLETING = GroupState.COMPLETING_REBALANCE
_STABLE = GroupState.STABLE
_DEAD = GroupState.DEAD

# Kafka's GroupState.validPreviousStates.
_VALID_PREVIOUS: dict[GroupState, frozenset[GroupState]] = {
    _EMPTY: frozenset({_PREPARING}),
    _PREPARING: frozenset({_STABLE, _COMPLETING, _EMPTY}),
    _COMPLETING: frozenset({_PREPARING}),
    _STABLE: frozenset({_COMPLETING}),
    _DEAD: frozenset({_STABLE, _PREPARING, _COMPLETING, _EMPTY, _DEAD}),
}
log = logging.getLogger("grete.coordinator")

# Bounds one poll; every event removes a deadline or pushes it past `now`, so this is a backstop.
_MAX_EVENTS_PER_POLL = 1_000


class IllegalGroupTransition(Exception):
    """A transition Kafka's state diagram forbids: a bug in the caller or the engine."""


class GroupEngine:
    """Membership and rebalance mechanics of one classic group. See `ClassicGroup`."""

    def __init__(self, group_id: str, clock: Clock, config: ClassicGroupConfig) -> None:
        self.group_id = group_id
        self._clock = clock
        self._config = config
        self._state = _EMPTY
        self._state_timestamp_ms: int | None = clock.time_ms()
        self._generation = 0
        self._protocol_type: str | None = None
        self._protocol_name: str | None = None
        self._leader_id: str | None = None
        self._members: dict[str, ClassicMember] = {}  # in join order
        self._static_members: dict[str, str] = {}  # group.instance.id -> member id
        self._pending_members: dict[str, int] = {}  # MEMBER_ID_REQUIRED sent -> deadline
        self._pending_sync: set[str] = set()  # members yet to sync this generation
        self._join_deadline_ms: int | None = None
        self._in_initial_delay = False
        self._initial_delay_remaining_ms = 0
        self._new_member_added = False
        self._sync_deadline_ms: int | None = None
        self._completions: list[Completion] = []
        self._tickets = itertools.count(1)
        self.persist_due = False

    @property
    def state(self) -> GroupState:
        return self._state

    @property
    def generation_id(self) -> int:
        return self._generation

    @property
    def leader_id(self) -> str | None:
        return self._leader_id

    def member_ids(self) -> list[str]:
        return list(self._members)

    # -- deadlines --------------------------------------------------------------------------

    def poll(self) -> list[Completion]:
        """Fire every deadline due by now; return the results of waiting requests, in order.

        Call it after every other call (their effects may complete others' waits)
        and whenever `next_deadline` passes.
        """
        now = self._now_ms()
        for _ in range(_MAX_EVENTS_PER_POLL):
            due = min(self._deadlines(), default=None, key=lambda item: item[0])
            if due is None or due[0] > now:
                break
            due[1]()
        completions, self._completions = self._completions, []
        return completions

    def next_deadline(self) -> float | None:
        """When `poll` next has work, in seconds on the clock's monotonic scale."""
        earliest = min((deadline for deadline, _ in self._deadlines()), default=None)
        return None if earliest is None else earliest / 1000.0

    def _deadlines(self) -> Iterator[tuple[int, Callable[[], None]]]:
        if self._state is _DEAD:
            return
        if self._state is _PREPARING and self._join_deadline_ms is not None:
            yield self._join_deadline_ms, self._on_join_deadline
        if self._sync_deadline_ms is not None:
            yield self._sync_deadline_ms, self._on_sync_deadline
        for member in self._members.values():
            # A waiting join or sync keeps a member alive; the rebalance timeout bounds it.
            if member.join_ticket is None and member.sync_ticket is None:
                yield member.session_deadline_ms, partial(self._expire_member, member.member_id)
        for member_id, deadline in self._pending_members.items():
            yield deadline, partial(self._expire_pending_member, member_id)

    def _expire_member(self, member_id: str) -> None:
        log.info("group %s: member %s session expired, removing it", self.group_id, member_id)
        self._remove_member_and_update_group(member_id)

    def _expire_pending_member(self, member_id: str) -> None:
        del self._pending_members[member_id]
        self._maybe_complete_join()

    def _now_ms(self) -> int:
        return round(self._clock.monotonic() * 1000)

    def _reset_session(self, member: ClassicMember) -> None:
        member.session_deadline_ms = self._now_ms() + member.session_timeout_ms

    # -- states -----------------------------------------------------------------------------

    def _transition(self, target: GroupState) -> None:
        if self._state not in _VALID_PREVIOUS[target]:
            raise IllegalGroupTransition(f"{self.group_id}: {self._state.value} -> {target.value}")
        previous, self._state = self._state, target
        self._state_timestamp_ms = self._clock.time_ms()
        # Kafka's GroupCoordinator logs every rebalance step at INFO: operators read them.
        log.info(
            "group %s: %s -> %s, generation %d, %d members",
            self.group_id, previous.value, target.value, self._generation, len(self._members),
        )  # fmt: skip

    def _rebalance_timeout_ms(self) -> int:
        return max((m.rebalance_timeout_ms for m in self._members.values()), default=0)

    def _maybe_prepare_rebalance(self) -> None:
        if self._state in (_STABLE, _COMPLETING, _EMPTY):
            self._prepare_rebalance()

    def _prepare_rebalance(self) -> None:
        if self._state is _COMPLETING:
            self._reset_assignments(GroupError.REBALANCE_IN_PROGRESS)
        self._pending_sync.clear()
        self._sync_deadline_ms = None
        self._new_member_added = False
        now = self._now_ms()
        timeout = self._rebalance_timeout_ms()
        if self._state is _EMPTY:
            # group.initial.rebalance.delay.ms: let more members of a new group arrive first.
            delay = self._config.initial_rebalance_delay_ms
            self._in_initial_delay = True
            self._initial_delay_remaining_ms = max(timeout - delay, 0)
            self._join_deadline_ms = now + delay
        else:
            self._in_initial_delay = False
            self._join_deadline_ms = now + timeout
        self._transition(_PREPARING)

    def _reset_assignments(self, error: GroupError) -> None:
        for member in self._members.values():
            member.assignment = b""
            self._complete_sync(member, SyncResult(error))

    # -- join phase -------------------------------------------------------------------------

    def _await_join(self, member: ClassicMember) -> Pending:
        # A second join of the same member supersedes the first (its client gave up on it).
        self._complete_join(member, JoinResult(GroupError.REBALANCE_IN_PROGRESS, member.member_id))
        member.join_ticket = next(self._tickets)
        return Pending(member.join_ticket)

    def _all_joined(self) -> bool:
        joined = all(m.join_ticket is not None for m in self._members.values())
        return joined and not self._pending_members

    def _maybe_complete_join(self) -> None:
        if self._state is _PREPARING and not self._in_initial_delay and self._all_joined():
            self._complete_join_phase()

    def _on_join_deadline(self) -> None:
        remaining = self._initial_delay_remaining_ms
        if self._in_initial_delay and self._new_member_added and remaining > 0:
            # Members keep arriving: wait another delay, within the rebalance timeout.
            self._new_member_added = False
            delay = min(self._config.initial_rebalance_delay_ms, remaining)
            self._initial_delay_remaining_ms = remaining - delay
            self._join_deadline_ms = self._now_ms() + delay
            return
        self._complete_join_phase()

    def _complete_join_phase(self) -> None:
        """End PreparingRebalance: drop laggards, start the next generation, answer joins."""
        self._in_initial_delay = False
        laggards = [
            m.member_id
            for m in self._members.values()
            if m.join_ticket is None and m.group_instance_id is None
        ]
        for member_id in laggards:
            log.info("group %s: member %s did not rejoin, removing it", self.group_id, member_id)
            self._remove_member(member_id)
        if self._members and not self._elect_joined_leader():
            # Only static members that have not rejoined are left: wait for them or their expiry.
            self._join_deadline_ms = self._now_ms() + self._rebalance_timeout_ms()
            return
        self._join_deadline_ms = None
        self._generation += 1
        if not self._members:
            self._protocol_name = None
            self._transition(_EMPTY)
            self.persist_due = True
            return
        self._protocol_name = select_protocol(list(self._members.values()))
        self._transition(_COMPLETING)
        for member in self._members.values():
            self._complete_join(member, self._join_result(member))
            self._reset_session(member)
            self._pending_sync.add(member.member_id)
        self._sync_deadline_ms = self._now_ms() + self._rebalance_timeout_ms()

    def _elect_joined_leader(self) -> bool:
        """Keep the leader if it rejoined, else pick the first member that did."""
        leader = self._members.get(self._leader_id or "")
        if leader is not None and leader.join_ticket is not None:
            return True
        joined = [m.member_id for m in self._members.values() if m.join_ticket is not None]
        if not joined:
            return False
        self._leader_id = joined[0]
        return True

    def _join_result(self, member: ClassicMember) -> JoinResult:
        is_leader = member.member_id == self._leader_id
        return JoinResult(
            error=None,
            member_id=member.member_id,
            generation_id=self._generation,
            protocol_type=self._protocol_type,
            protocol_name=self._protocol_name,
            leader=self._leader_id or "",
            members=self._joined_members() if is_leader else (),
        )

    def _joined_members(self) -> tuple[JoinedMember, ...]:
        protocol = self._protocol_name or ""
        return tuple(
            JoinedMember(m.member_id, m.group_instance_id, m.metadata(protocol))
            for m in self._members.values()
        )

    def _complete_join(self, member: ClassicMember, result: JoinResult) -> None:
        if member.join_ticket is not None:
            self._completions.append(JoinCompletion(member.join_ticket, member.member_id, result))
            member.join_ticket = None
            self._reset_session(member)  # the wait is over: the session timeout applies again

    # -- sync phase -------------------------------------------------------------------------

    def _await_sync(self, member: ClassicMember) -> Pending:
        self._complete_sync(member, SyncResult(GroupError.REBALANCE_IN_PROGRESS))
        member.sync_ticket = next(self._tickets)
        return Pending(member.sync_ticket)

    def _install_assignments(self, assignments: dict[str, bytes]) -> None:
        """The leader's SyncGroup: store every member's assignment, go Stable, answer syncs."""
        for member in self._members.values():
            member.assignment = assignments.get(member.member_id, b"")
        self._transition(_STABLE)
        self.persist_due = True
        for member in self._members.values():
            self._complete_sync(member, self._sync_result(member))

    def assignments_not_stored(self) -> None:
        """The record of the assignments just installed could not be written (Kafka: too
        large): forget them and rebalance; the caller fails the SyncGroups it answers."""
        if self._state is not _STABLE:
            return
        for member in self._members.values():
            member.assignment = b""
        self._prepare_rebalance()

    def _sync_result(self, member: ClassicMember) -> SyncResult:
        return SyncResult(None, member.assignment, self._protocol_type, self._protocol_name)

    def _on_sync_deadline(self) -> None:
        """Members that never synced within the rebalance timeout are removed."""
        self._sync_deadline_ms = None
        if self._state not in (_COMPLETING, _STABLE) or not self._pending_sync:
            self._pending_sync.clear()
            return
        for member_id in sorted(self._pending_sync):
            if member_id in self._members:
                log.info("group %s: member %s never synced, removing it", self.group_id, member_id)
                self._remove_member(member_id)
        self._pending_sync.clear()
        self._maybe_prepare_rebalance()
        self._maybe_complete_join()

    def _complete_sync(self, member: ClassicMember, result: SyncResult) -> None:
        if member.sync_ticket is not None:
            self._completions.append(SyncCompletion(member.sync_ticket, member.member_id, result))
            member.sync_ticket = None
            self._reset_session(member)

    # -- membership -------------------------------------------------------------------------

    def _add_member(self, member: ClassicMember) -> None:
        if not self._members:
            self._protocol_type = member.protocol_type
        self._members[member.member_id] = member
        if member.group_instance_id is not None:
            self._static_members[member.group_instance_id] = member.member_id
        if self._leader_id is None:
            self._leader_id = member.member_id
        if self._state is _PREPARING:
            self._new_member_added = True

    def _remove_member(self, member_id: str) -> None:
        """Drop a member and fail its waiting requests; triggers nothing."""
        member = self._members.pop(member_id)
        self._complete_join(member, JoinResult(GroupError.UNKNOWN_MEMBER_ID, member_id))
        self._complete_sync(member, SyncResult(GroupError.UNKNOWN_MEMBER_ID))
        instance_id = member.group_instance_id
        if instance_id is not None and self._static_members.get(instance_id) == member_id:
            del self._static_members[instance_id]
        self._pending_sync.discard(member_id)
        if self._leader_id == member_id:
            self._leader_id = next(iter(self._members), None)

    def _remove_member_and_update_group(self, member_id: str) -> None:
        self._remove_member(member_id)
        if self._state in (_STABLE, _COMPLETING):
            self._maybe_prepare_rebalance()
        self._maybe_complete_join()

    def _add_member_and_rebalance(self, member_id: str, request: JoinRequest) -> Pending:
        member = ClassicMember(
            member_id=member_id,
            group_instance_id=request.group_instance_id,
            client_id=request.client_id,
            client_host=request.client_host,
            protocol_type=request.protocol_type,
            protocols=request.protocols,
            session_timeout_ms=request.session_timeout_ms,
            rebalance_timeout_ms=request.rebalance_timeout_ms,
            session_deadline_ms=self._now_ms() + request.session_timeout_ms,
        )
        self._add_member(member)
        pending = self._await_join(member)
        self._maybe_prepare_rebalance()
        self._maybe_complete_join()
        return pending

    def _update_member_and_rebalance(self, member: ClassicMember, request: JoinRequest) -> Pending:
        self._update_member(member, request)
        pending = self._await_join(member)
        self._maybe_prepare_rebalance()
        self._maybe_complete_join()
        return pending

    @staticmethod
    def _update_member(member: ClassicMember, request: JoinRequest) -> None:
        member.protocols = request.protocols
        member.session_timeout_ms = request.session_timeout_ms
        member.rebalance_timeout_ms = request.rebalance_timeout_ms
        member.client_id = request.client_id
        member.client_host = request.client_host

    def _validate_member(self, member_id: str, group_instance_id: str | None) -> GroupError | None:
        if group_instance_id is not None:
            current = self._static_members.get(group_instance_id)
            if current is None:
                return GroupError.UNKNOWN_MEMBER_ID
            if current != member_id:
                return GroupError.FENCED_INSTANCE_ID
            return None
        if member_id not in self._members:
            return GroupError.UNKNOWN_MEMBER_ID
        return None
