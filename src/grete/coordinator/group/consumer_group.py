"""A KIP-848 consumer group: the ConsumerGroupHeartbeat protocol, sans-IO.

After Kafka's ConsumerGroup / GroupMetadataManager: a heartbeat goes in with the
topic metadata snapshot the broker holds, a result comes out; time comes from an
injected clock and `poll` fires the session and revocation deadlines. The group
epoch bumps when members, subscriptions or the subscribed topics' partition counts
change; the server-side assignor then computes the target assignment for that epoch
at once (so the Assigning state is never observed between calls), and each member
reconciles toward its target on its own heartbeats (`consumer_member.reconcile`).
`snapshot` / `from_snapshot` carry the state to and from records (consumer_snapshot).

Not supported (yet): regular-expression subscriptions, rack-aware assignment,
client-side assignors, classic-protocol members inside a consumer group.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from grete.clock import Clock
from grete.coordinator.group.consumer_assignors import ASSIGNORS
from grete.coordinator.group.consumer_core import (
    DEFAULT_CONFIG,
    ConsumerGroupCore,
    random_member_id,
)
from grete.coordinator.group.consumer_member import (
    ConsumerMember,
    check_heartbeat,
    describe_member,
)
from grete.coordinator.group.consumer_types import (
    JOIN_GROUP_MEMBER_EPOCH,
    LEAVE_GROUP_MEMBER_EPOCH,
    LEAVE_GROUP_STATIC_MEMBER_EPOCH,
    UNCHANGED,
    Assignment,
    ConsumerGroupConfig,
    ConsumerGroupDescription,
    ConsumerGroupError,
    ConsumerGroupListing,
    ConsumerGroupSnapshot,
    ConsumerMemberSnapshot,
    HeartbeatRequest,
    HeartbeatResult,
    MemberState,
    as_assignment,
    partitions_of,
    to_assignment,
    to_wire,
)


class ConsumerGroup(ConsumerGroupCore):
    """One KIP-848 consumer group. Not thread-safe: call it only from the event loop.

    `heartbeat` answers at once (no request ever waits); call `poll` at
    `next_deadline` to expire silent members and members that do not revoke in time.
    The invariants are `ConsumerGroupCore`'s.
    """

    # -- ConsumerGroupHeartbeat --------------------------------------------------------------

    def heartbeat(
        self, request: HeartbeatRequest, topic_partitions: Mapping[str, int]
    ) -> HeartbeatResult:
        """One heartbeat; `topic_partitions` is the broker's topic name -> partition count."""
        error = check_heartbeat(request, ASSIGNORS)
        if error is not None:
            return self._error(error, request)
        if request.member_epoch in (LEAVE_GROUP_MEMBER_EPOCH, LEAVE_GROUP_STATIC_MEMBER_EPOCH):
            return self._leave(request)
        if request.member_epoch == JOIN_GROUP_MEMBER_EPOCH:
            found = self._joining_member(request)
        else:
            found = self._known_member(request)
        if isinstance(found, ConsumerGroupError):
            return self._error(found, request)
        member, bump = found
        bump = self._update_member(member, request) or bump
        bump = self._refresh_metadata(topic_partitions) or bump
        if bump:
            self._bump_group_epoch()
        joining = request.member_epoch == JOIN_GROUP_MEMBER_EPOCH
        owned = {} if joining else self._owned(request)
        before = dict(member.assigned)
        self._reconcile(member, owned)
        self._reset_session(member)
        full = (
            request.rebalance_timeout_ms != UNCHANGED
            and request.subscribed_topic_names is not None
            and request.owned_partitions is not None
        )
        send = joining or full or before != member.assigned
        return HeartbeatResult(
            error=None,
            member_id=member.member_id,
            member_epoch=member.member_epoch,
            heartbeat_interval_ms=self._config.heartbeat_interval_ms,
            assignment=to_wire(member.assigned) if send else None,
        )

    def _error(self, error: ConsumerGroupError, request: HeartbeatRequest) -> HeartbeatResult:
        return HeartbeatResult(error, request.member_id, request.member_epoch)

    def _joining_member(
        self, request: HeartbeatRequest
    ) -> tuple[ConsumerMember, bool] | ConsumerGroupError:
        """Epoch 0: a new member, a member coming back, or a static member's new incarnation."""
        if request.instance_id is not None and request.instance_id in self._static_members:
            old = self._members[self._static_members[request.instance_id]]
            if old.member_id != request.member_id:
                if old.member_epoch != LEAVE_GROUP_STATIC_MEMBER_EPOCH:
                    return ConsumerGroupError.UNRELEASED_INSTANCE_ID  # the old one is still there
                return self._replace_static_member(
                    old, request.member_id or self._new_member_id()
                ), False
        member = self._members.get(request.member_id) if request.member_id else None
        if member is not None:
            # Rejoining after being fenced (it lost its partitions) or after a static leave.
            if member.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH:
                member.member_epoch = member.previous_member_epoch
            return member, False
        if self._config.max_size is not None and len(self._members) >= self._config.max_size:
            return ConsumerGroupError.GROUP_MAX_SIZE_REACHED
        member = ConsumerMember(
            member_id=request.member_id or self._new_member_id(),  # v0: the coordinator's id
            instance_id=request.instance_id,
            client_id=request.client_id,
            client_host=request.client_host,
            rebalance_timeout_ms=request.rebalance_timeout_ms,
            subscribed_topics=(),
            server_assignor=None,
            session_deadline_ms=self._now_ms(),
        )
        self._members[member.member_id] = member
        if member.instance_id is not None:
            self._static_members[member.instance_id] = member.member_id
        return member, True

    def _replace_static_member(self, old: ConsumerMember, member_id: str) -> ConsumerMember:
        """A static member restarted: the new id takes over its epoch and assignment."""
        del self._members[old.member_id]
        for tp in partitions_of(old.assigned) | partitions_of(old.pending_revocation):
            self._owners[tp] = member_id
        self._target[member_id] = self._target.pop(old.member_id, {})
        old.member_id = member_id
        old.member_epoch = old.previous_member_epoch  # the epoch it left with
        self._members[member_id] = old
        self._static_members[old.instance_id or ""] = member_id
        return old

    def _known_member(
        self, request: HeartbeatRequest
    ) -> tuple[ConsumerMember, bool] | ConsumerGroupError:
        member = self._members.get(request.member_id)
        if member is None:
            if request.instance_id is not None and request.instance_id in self._static_members:
                return ConsumerGroupError.FENCED_INSTANCE_ID  # replaced by a newer incarnation
            return ConsumerGroupError.UNKNOWN_MEMBER_ID
        epoch = request.member_epoch
        if epoch > member.member_epoch:
            return ConsumerGroupError.FENCED_MEMBER_EPOCH
        if epoch < member.member_epoch:
            # The last response may have been lost: accept the previous epoch if what the
            # member owns is still a subset of what it was assigned.
            owned = self._owned(request)
            if epoch != member.previous_member_epoch or owned is None:
                return ConsumerGroupError.FENCED_MEMBER_EPOCH
            if not partitions_of(owned) <= partitions_of(member.assigned):
                return ConsumerGroupError.FENCED_MEMBER_EPOCH
        return member, False

    def _update_member(self, member: ConsumerMember, request: HeartbeatRequest) -> bool:
        """Take the request's changes; True if the group epoch must bump."""
        if request.client_id:
            member.client_id = request.client_id
        if request.client_host:
            member.client_host = request.client_host
        if request.rebalance_timeout_ms != UNCHANGED:
            member.rebalance_timeout_ms = request.rebalance_timeout_ms
        changed = False
        if (
            request.server_assignor is not None
            and request.server_assignor != member.server_assignor
        ):
            member.server_assignor = request.server_assignor
            changed = True
        if request.subscribed_topic_names is not None:
            topics = tuple(sorted(set(request.subscribed_topic_names)))
            if topics != member.subscribed_topics:
                member.subscribed_topics = topics
                changed = True
        return changed

    @staticmethod
    def _owned(request: HeartbeatRequest) -> Assignment | None:
        if request.owned_partitions is None:
            return None
        return to_assignment(request.owned_partitions)

    def _leave(self, request: HeartbeatRequest) -> HeartbeatResult:
        if request.instance_id is not None:
            member_id = self._static_members.get(request.instance_id)
            if member_id is None:
                return self._error(ConsumerGroupError.UNKNOWN_MEMBER_ID, request)
            if member_id != request.member_id:
                return self._error(ConsumerGroupError.FENCED_INSTANCE_ID, request)
        member = self._members.get(request.member_id)
        if member is None:
            return self._error(ConsumerGroupError.UNKNOWN_MEMBER_ID, request)
        if request.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH:
            # A temporary leave: keep the partitions for the next incarnation, until the
            # session times out.
            if member.member_epoch != LEAVE_GROUP_STATIC_MEMBER_EPOCH:
                member.previous_member_epoch = member.member_epoch
            member.member_epoch = LEAVE_GROUP_STATIC_MEMBER_EPOCH
            self._reset_session(member)
        else:
            self._remove_member(member.member_id)
        return HeartbeatResult(
            None, request.member_id, request.member_epoch, self._config.heartbeat_interval_ms
        )

    # -- OffsetCommit, ConsumerGroupDescribe, ListGroups ------------------------------------------

    def validate_commit(self, member_id: str, member_epoch: int) -> ConsumerGroupError | None:
        """May this OffsetCommit be accepted? (Kafka's ConsumerGroup.validateOffsetCommit.)"""
        if member_epoch < 0 and not self._members:
            return None  # admin client or a consumer without group management
        member = self._members.get(member_id)
        if member is None:
            return ConsumerGroupError.UNKNOWN_MEMBER_ID
        if member_epoch != member.member_epoch:
            return ConsumerGroupError.STALE_MEMBER_EPOCH
        return None

    def describe(self) -> ConsumerGroupDescription:
        members = tuple(
            describe_member(m, self._target.get(m.member_id, {})) for m in self._members.values()
        )
        return ConsumerGroupDescription(
            self.group_id,
            self.state,
            self._group_epoch,
            self._assignment_epoch,
            self.assignor_name,
            members,
        )

    def listing(self) -> ConsumerGroupListing:
        return ConsumerGroupListing(self.group_id, "consumer", self.state)

    # -- persistence ------------------------------------------------------------------------

    def snapshot(self) -> ConsumerGroupSnapshot:
        members = tuple(
            ConsumerMemberSnapshot(
                m.member_id,
                m.instance_id,
                m.client_id,
                m.client_host,
                m.rebalance_timeout_ms,
                m.subscribed_topics,
                m.server_assignor,
                m.member_epoch,
                m.previous_member_epoch,
                m.state,
                to_wire(m.assigned),
                to_wire(m.pending_revocation),
                to_wire(self._target.get(m.member_id, {})),
            )
            for m in self._members.values()
        )
        topics = tuple(sorted(self._metadata.items()))
        return ConsumerGroupSnapshot(
            self.group_id, self._group_epoch, self._assignment_epoch, topics, members
        )

    @classmethod
    def from_snapshot(
        cls,
        snapshot: ConsumerGroupSnapshot,
        clock: Clock,
        config: ConsumerGroupConfig = DEFAULT_CONFIG,
        new_member_id: Callable[[], str] = random_member_id,
    ) -> ConsumerGroup:
        """Rebuild a loaded group; every member's session (and revocation) restarts now."""
        group = cls(snapshot.group_id, clock, config, new_member_id)
        group._group_epoch = snapshot.group_epoch
        group._assignment_epoch = snapshot.assignment_epoch
        group._metadata = dict(snapshot.topic_partitions)
        for s in snapshot.members:
            member = ConsumerMember(
                s.member_id,
                s.instance_id,
                s.client_id,
                s.client_host,
                s.rebalance_timeout_ms,
                s.subscribed_topic_names,
                s.server_assignor,
                group._now_ms(),
                s.member_epoch,
                s.previous_member_epoch,
                s.state,
                as_assignment(s.assigned),
                as_assignment(s.pending_revocation),
            )
            group._reset_session(member)
            if member.state is MemberState.UNREVOKED_PARTITIONS:
                member.revocation_deadline_ms = group._now_ms() + member.rebalance_timeout_ms
            group._members[member.member_id] = member
            group._target[member.member_id] = as_assignment(s.target)
            if member.instance_id is not None:
                group._static_members[member.instance_id] = member.member_id
            for tp in partitions_of(member.assigned) | partitions_of(member.pending_revocation):
                group._owners[tp] = member.member_id
        if group._assignment_epoch < group._group_epoch:
            group._compute_target()  # the target of the last epoch was never written
        return group
