"""The classic consumer-group protocol (JoinGroup / SyncGroup / Heartbeat / LeaveGroup).

A sans-IO state machine after Kafka's GroupCoordinator / GroupMetadata: requests
go in as frozen dataclasses, results come out the same way, time comes from an
injected clock, and waiting requests are tickets whose results `poll` returns.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace

from grete.clock import Clock
from grete.coordinator.group.classic_member import (
    ClassicMember,
    candidate_protocols,
    select_protocol,
)
from grete.coordinator.group.classic_rebalance import GroupEngine, log
from grete.coordinator.group.classic_types import (
    UNKNOWN_MEMBER_ID,
    ClassicGroupConfig,
    DescribedMember,
    GroupDescription,
    GroupError,
    GroupListing,
    GroupSnapshot,
    GroupState,
    JoinRequest,
    JoinResult,
    LeaveResult,
    LeavingMember,
    MemberSnapshot,
    Pending,
    ProtocolMetadata,
    SyncRequest,
    SyncResult,
)

DEFAULT_CONFIG = ClassicGroupConfig()


def _random_uuid() -> str:
    return str(uuid.uuid4())


class ClassicGroup(GroupEngine):
    """One classic consumer group. Not thread-safe: call it only from the event loop.

    Every call takes effect at once and returns either a result or `Pending(ticket)`.
    The result of a pending JoinGroup / SyncGroup arrives later as a completion from
    `poll()`, which also fires deadlines (session, rebalance, initial delay, pending
    sync). Callers call `poll()` after every call and at `next_deadline()`.
    `persist_due` turns true when `snapshot()` holds something Kafka would write to
    __consumer_offsets (a leader's assignment, an empty generation, a replaced static
    member); the caller persists it and clears the flag.

    Invariants:
    - Dead is final; every transition is one Kafka's state diagram allows.
    - The leader is a member whenever the group has members, else None.
    - Empty has no members (ids answered with MEMBER_ID_REQUIRED may be pending).
    - Joins wait only in PreparingRebalance, syncs only in CompletingRebalance; each
      waiting request is completed exactly once, and a member has at most one of each.
    - The generation grows by one per completed join phase, even into Empty.
    - A group.instance.id maps to exactly one member id.
    """

    def __init__(
        self,
        group_id: str,
        clock: Clock,
        config: ClassicGroupConfig = DEFAULT_CONFIG,
        new_uuid: Callable[[], str] = _random_uuid,
    ) -> None:
        super().__init__(group_id, clock, config)
        self._new_uuid = new_uuid

    # -- JoinGroup --------------------------------------------------------------------------

    def join(self, request: JoinRequest) -> JoinResult | Pending:
        error = self._check_join(request)
        if error is not None:
            return JoinResult(error, request.member_id)
        if request.member_id == UNKNOWN_MEMBER_ID:
            return self._join_new_member(request)
        return self._join_known_member(request)

    def _check_join(self, request: JoinRequest) -> GroupError | None:
        config = self._config
        if not config.min_session_timeout_ms <= request.session_timeout_ms:
            return GroupError.INVALID_SESSION_TIMEOUT
        if request.session_timeout_ms > config.max_session_timeout_ms:
            return GroupError.INVALID_SESSION_TIMEOUT
        if self._state is GroupState.DEAD:
            return GroupError.COORDINATOR_NOT_AVAILABLE
        if not self._supports_protocols(request):
            return GroupError.INCONSISTENT_GROUP_PROTOCOL
        if not self._accepts_joining_member(request):
            return GroupError.GROUP_MAX_SIZE_REACHED
        return None

    def _supports_protocols(self, request: JoinRequest) -> bool:
        if not request.protocol_type or not request.protocols:
            return False
        if not self._members:
            return True
        if request.protocol_type != self._protocol_type:
            return False
        replaced = {request.member_id}
        if request.group_instance_id is not None:
            replaced.add(self._static_members.get(request.group_instance_id, ""))
        others = [m for m in self._members.values() if m.member_id not in replaced]
        if not others:
            return True
        candidates = candidate_protocols(others)
        return any(protocol.name in candidates for protocol in request.protocols)

    def _accepts_joining_member(self, request: JoinRequest) -> bool:
        if self._config.max_size is None or request.member_id in self._members:
            return True
        if request.group_instance_id in self._static_members:
            return True
        return len(self._members) < self._config.max_size

    def _join_new_member(self, request: JoinRequest) -> JoinResult | Pending:
        prefix = request.group_instance_id or request.client_id
        member_id = f"{prefix}-{self._new_uuid()}"
        if request.group_instance_id is not None:
            old_member_id = self._static_members.get(request.group_instance_id)
            if old_member_id is not None:
                return self._replace_static_member(old_member_id, member_id, request)
            return self._add_member_and_rebalance(member_id, request)
        if request.require_known_member_id:
            # KIP-394: remember the id and have the client come back with it.
            deadline = self._now_ms() + request.session_timeout_ms
            self._pending_members[member_id] = deadline
            return JoinResult(GroupError.MEMBER_ID_REQUIRED, member_id)
        return self._add_member_and_rebalance(member_id, request)

    def _join_known_member(self, request: JoinRequest) -> JoinResult | Pending:
        member_id = request.member_id
        if member_id in self._pending_members:
            if request.group_instance_id in self._static_members:
                return JoinResult(GroupError.FENCED_INSTANCE_ID, member_id)  # claimed already
            del self._pending_members[member_id]
            return self._add_member_and_rebalance(member_id, request)
        error = self._validate_member(member_id, request.group_instance_id)
        if error is not None:
            return JoinResult(error, member_id)
        member = self._members[member_id]
        unchanged = member.matches(request.protocols)
        if self._state is GroupState.COMPLETING_REBALANCE and unchanged:
            self._reset_session(member)
            return self._join_result(member)  # a retry: the same answer again
        if self._state is GroupState.STABLE and unchanged and member_id != self._leader_id:
            self._reset_session(member)
            return self._join_result(member)  # nothing changed for a follower
        return self._update_member_and_rebalance(member, request)

    def _replace_static_member(
        self, old_member_id: str, new_member_id: str, request: JoinRequest
    ) -> JoinResult | Pending:
        """A static member restarted (new member id): fence the old id, keep its place."""
        old = self._members.pop(old_member_id)
        self._complete_join(old, JoinResult(GroupError.FENCED_INSTANCE_ID, old_member_id))
        self._complete_sync(old, SyncResult(GroupError.FENCED_INSTANCE_ID))
        old_leader = self._leader_id or ""
        member = old  # same assignment and history, new identity
        member.member_id = new_member_id
        self._members[new_member_id] = member
        self._static_members[request.group_instance_id or ""] = new_member_id
        if self._leader_id == old_member_id:
            self._leader_id = new_member_id
        if old_member_id in self._pending_sync:
            self._pending_sync.discard(old_member_id)
            self._pending_sync.add(new_member_id)
        self._update_member(member, request)
        self._reset_session(member)
        if self._state is GroupState.STABLE:
            if self._selected_protocol_unchanged():
                self.persist_due = True
                # The old leader id: a restarted leader must not reassign a Stable group.
                return replace(self._join_result(member), leader=old_leader, members=())
            return self._update_member_and_rebalance(member, request)
        # PreparingRebalance: join it. CompletingRebalance: the leader may have been handed
        # the old id to assign to, so start over.
        return self._update_member_and_rebalance(member, request)

    def _selected_protocol_unchanged(self) -> bool:
        members = list(self._members.values())
        if self._protocol_name not in candidate_protocols(members):
            return False
        return select_protocol(members) == self._protocol_name

    # -- SyncGroup --------------------------------------------------------------------------

    def sync(self, request: SyncRequest) -> SyncResult | Pending:
        error = self._check_sync(request)
        if error is not None:
            return SyncResult(error)
        member = self._members[request.member_id]
        if self._state is GroupState.PREPARING_REBALANCE:
            return SyncResult(GroupError.REBALANCE_IN_PROGRESS)
        self._pending_sync.discard(member.member_id)
        if self._state is GroupState.STABLE:
            self._reset_session(member)
            return self._sync_result(member)
        if member.member_id != self._leader_id:
            return self._await_sync(member)  # followers wait for the leader
        self._install_assignments({a.member_id: a.assignment for a in request.assignments})
        self._reset_session(member)
        return self._sync_result(member)

    def _check_sync(self, request: SyncRequest) -> GroupError | None:
        if self._state is GroupState.DEAD:
            return GroupError.COORDINATOR_NOT_AVAILABLE
        error = self._validate_member(request.member_id, request.group_instance_id)
        if error is not None:
            return error
        if request.generation_id != self._generation:
            return GroupError.ILLEGAL_GENERATION
        if request.protocol_type is not None and request.protocol_type != self._protocol_type:
            return GroupError.INCONSISTENT_GROUP_PROTOCOL
        if request.protocol_name is not None and request.protocol_name != self._protocol_name:
            return GroupError.INCONSISTENT_GROUP_PROTOCOL
        return None

    # -- Heartbeat, LeaveGroup, OffsetCommit ---------------------------------------------------

    def heartbeat(
        self, member_id: str, generation_id: int, group_instance_id: str | None = None
    ) -> GroupError | None:
        if self._state is GroupState.DEAD:
            return GroupError.COORDINATOR_NOT_AVAILABLE
        error = self._validate_member(member_id, group_instance_id)
        if error is not None:
            return error
        if generation_id != self._generation:
            return GroupError.ILLEGAL_GENERATION
        self._reset_session(self._members[member_id])
        if self._state is GroupState.PREPARING_REBALANCE:
            return GroupError.REBALANCE_IN_PROGRESS
        return None

    def leave(self, members: Sequence[LeavingMember]) -> LeaveResult:
        """LeaveGroup, one member (v0-v2) or a batch by member id and/or instance id (v3+)."""
        if self._state is GroupState.DEAD:
            return LeaveResult(GroupError.COORDINATOR_NOT_AVAILABLE)
        return LeaveResult(None, tuple((m, self._leave_one(m)) for m in members))

    def _leave_one(self, leaving: LeavingMember) -> GroupError | None:
        member_id = leaving.member_id
        if member_id == UNKNOWN_MEMBER_ID:
            # An admin removing a static member by its group.instance.id alone.
            member_id = self._static_members.get(leaving.group_instance_id or "", "")
            if not member_id:
                return GroupError.UNKNOWN_MEMBER_ID
        elif self._pending_members.pop(member_id, None) is not None:
            self._maybe_complete_join()
            return None
        else:
            error = self._validate_member(member_id, leaving.group_instance_id)
            if error is not None:
                return error
        log.info("group %s: member %s left", self.group_id, member_id)
        self._remove_member_and_update_group(member_id)
        return None

    def validate_commit(
        self, member_id: str, generation_id: int, group_instance_id: str | None = None
    ) -> GroupError | None:
        """May this OffsetCommit be accepted? (Kafka's validateOffsetCommit.)"""
        if self._state is GroupState.DEAD:
            return GroupError.COORDINATOR_NOT_AVAILABLE
        if generation_id < 0 and self._state is GroupState.EMPTY:
            return None  # admin client or a consumer without group management
        if generation_id >= 0 or member_id != UNKNOWN_MEMBER_ID or group_instance_id is not None:
            error = self._validate_member(member_id, group_instance_id)
            if error is not None:
                return error
            if generation_id != self._generation:
                return GroupError.ILLEGAL_GENERATION
        elif self._state is not GroupState.EMPTY:
            return GroupError.UNKNOWN_MEMBER_ID
        if self._state is GroupState.COMPLETING_REBALANCE:
            return GroupError.REBALANCE_IN_PROGRESS
        return None

    # -- DeleteGroups, unloading ----------------------------------------------------------------

    def delete(self) -> GroupError | None:
        """DeleteGroups: only an Empty group may go; it becomes Dead."""
        if self._state is GroupState.DEAD:
            return GroupError.GROUP_ID_NOT_FOUND
        if self._state is not GroupState.EMPTY:
            return GroupError.NON_EMPTY_GROUP
        self._transition(GroupState.DEAD)
        return None

    def unload(self) -> None:
        """This broker stopped coordinating the group: go Dead, fail whatever waits."""
        for member in self._members.values():
            self._complete_join(member, JoinResult(GroupError.NOT_COORDINATOR, member.member_id))
            self._complete_sync(member, SyncResult(GroupError.NOT_COORDINATOR))
        self._transition(GroupState.DEAD)

    # -- DescribeGroups, ListGroups, persistence ------------------------------------------------

    def describe(self) -> GroupDescription:
        stable = self._state is GroupState.STABLE
        protocol = (self._protocol_name or "") if stable else ""
        members = tuple(
            DescribedMember(
                member_id=m.member_id,
                group_instance_id=m.group_instance_id,
                client_id=m.client_id,
                client_host=m.client_host,
                metadata=m.metadata(protocol) if stable else b"",
                assignment=m.assignment if stable else b"",
            )
            for m in self._members.values()
        )
        return GroupDescription(
            self.group_id, self._state, self._protocol_type or "", protocol, members
        )

    def listing(self) -> GroupListing:
        return GroupListing(self.group_id, self._protocol_type or "", self._state)

    def snapshot(self) -> GroupSnapshot:
        protocol = self._protocol_name or ""
        members = tuple(
            MemberSnapshot(
                member_id=m.member_id,
                group_instance_id=m.group_instance_id,
                client_id=m.client_id,
                client_host=m.client_host,
                rebalance_timeout_ms=m.rebalance_timeout_ms,
                session_timeout_ms=m.session_timeout_ms,
                subscription=m.metadata(protocol),
                assignment=m.assignment,
            )
            for m in self._members.values()
        )
        return GroupSnapshot(
            group_id=self.group_id,
            protocol_type=self._protocol_type,
            generation_id=self._generation,
            protocol_name=self._protocol_name,
            leader=self._leader_id,
            current_state_timestamp_ms=self._state_timestamp_ms,
            members=members,
        )

    @classmethod
    def from_snapshot(
        cls,
        snapshot: GroupSnapshot,
        clock: Clock,
        config: ClassicGroupConfig = DEFAULT_CONFIG,
        new_uuid: Callable[[], str] = _random_uuid,
    ) -> ClassicGroup:
        """Rebuild a loaded group: Stable with its members, or Empty (as Kafka loads it)."""
        group = cls(snapshot.group_id, clock, config, new_uuid)
        group._generation = snapshot.generation_id
        for m in snapshot.members:
            protocols = (
                (ProtocolMetadata(snapshot.protocol_name, m.subscription),)
                if snapshot.protocol_name
                else ()
            )
            group._add_member(
                ClassicMember(
                    member_id=m.member_id,
                    group_instance_id=m.group_instance_id,
                    client_id=m.client_id,
                    client_host=m.client_host,
                    protocol_type=snapshot.protocol_type or "",
                    protocols=protocols,
                    session_timeout_ms=m.session_timeout_ms,
                    rebalance_timeout_ms=m.rebalance_timeout_ms,
                    session_deadline_ms=group._now_ms() + m.session_timeout_ms,
                    assignment=m.assignment,
                )
            )
        group._protocol_type = snapshot.protocol_type
        group._protocol_name = snapshot.protocol_name
        if snapshot.leader in group._members:
            group._leader_id = snapshot.leader
        if group._members:
            group._state = GroupState.STABLE  # loading is not a transition
        group._state_timestamp_ms = snapshot.current_state_timestamp_ms
        return group
