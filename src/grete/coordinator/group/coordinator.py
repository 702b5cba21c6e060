"""The group coordinator: classic groups and committed offsets, kept in ``__consumer_offsets``.

On a single node this broker coordinates every group. Each ``__consumer_offsets``
partition has an `OffsetsState` rebuilt by replaying the partition's log; groups are
`ClassicGroup` state machines rebuilt from the group metadata records, and KIP-848
`ConsumerGroup`s rebuilt from their records (key types 3..8). An operation
computes the records to append, appends them, then replays them: the log stays the
single source of truth (Kafka's CoordinatorShard / CoordinatorResult).

Waiting JoinGroup / SyncGroup requests are futures completed from the group's `poll`,
which also runs at each group's next deadline (a loop timer). Not thread-safe; event
loop only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from grete.clock import Clock
from grete.cluster.controller import Controller, NewTopic
from grete.cluster.image import TopicCatalog
from grete.config import BrokerConfig
from grete.coordinator.group.classic import ClassicGroup
from grete.coordinator.group.classic_types import (
    UNKNOWN_MEMBER_ID,
    ClassicGroupConfig,
    GroupDescription,
    GroupError,
    GroupListing,
    GroupState,
    JoinRequest,
    JoinResult,
    LeaveResult,
    LeavingMember,
    Pending,
    SyncCompletion,
    SyncRequest,
    SyncResult,
)
from grete.coordinator.group.consumer_groups import ConsumerGroups
from grete.coordinator.group.consumer_snapshot import delta_records
from grete.coordinator.group.consumer_types import (
    ConsumerGroupConfig,
    ConsumerGroupError,
    ConsumerGroupListing,
    ConsumerGroupSnapshot,
    HeartbeatRequest,
    HeartbeatResult,
)
from grete.coordinator.group.group_log import (
    OFFSETS_TOPIC,
    GroupLog,
    metadata_value,
    snapshot_of,
    subscription_topics,
)
from grete.coordinator.group.offsets import (
    CommittedOffset,
    OffsetsState,
    Record,
    group_metadata_tombstone,
)
from grete.coordinator.group.partitioner import partition_for
from grete.coordinator.group.records import encode_key, encode_value
from grete.partition.partition import NotLeader
from grete.partition.replica_manager import ReplicaManager
from grete.records.validation import RecordsError

log = logging.getLogger("grete.coordinator")

TopicPartition = tuple[str, int]
NOT_STORED = SyncResult(error=GroupError.UNKNOWN_SERVER_ERROR)
COMMIT_TIMEOUT_S = 5.0  # offsets.commit.timeout.ms


@dataclass(frozen=True, slots=True)
class OffsetCommitEntry:
    offset: int
    leader_epoch: int | None
    metadata: str | None


class GroupCoordinator:
    """Coordinates the groups whose ``__consumer_offsets`` partition this broker leads.

    On a single node (`embedded` controller given) that is every partition, loaded at
    start-up or when the topic is first needed. In a cluster a partition is loaded when
    this broker becomes its leader (`load_partition`) and dropped when it stops leading
    (`unload_partition`); a request for a group of another partition gets NOT_COORDINATOR.
    """

    def __init__(
        self,
        config: BrokerConfig,
        catalog: TopicCatalog,
        replicas: ReplicaManager,
        clock: Clock,
        *,
        embedded: Controller | None = None,
    ) -> None:
        self._config = config
        self._catalog = catalog
        self._embedded = embedded
        self._clock = clock
        self._log = GroupLog(replicas, clock)
        self._group_config = ClassicGroupConfig(
            initial_rebalance_delay_ms=config.group_initial_rebalance_delay_ms,
            min_session_timeout_ms=config.group_min_session_timeout_ms,
            max_session_timeout_ms=config.group_max_session_timeout_ms,
        )
        self._num_partitions = config.offsets_topic_num_partitions
        self._states: dict[int, OffsetsState] = {}
        self._groups: dict[str, ClassicGroup] = {}
        self._waiters: dict[tuple[str, int], asyncio.Future[JoinResult | SyncResult]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self.consumer_groups = ConsumerGroups(clock, ConsumerGroupConfig(  # KIP-848 groups
            session_timeout_ms=config.group_consumer_session_timeout_ms,
            heartbeat_interval_ms=config.group_consumer_heartbeat_interval_ms,
        ), write=self._write_consumer_group)
        # In a cluster, partitions load one by one as this broker comes to lead them.
        self._loaded = embedded is None

    # -- loading ---------------------------------------------------------------------------

    def load_if_present(self) -> None:
        """At start-up on a single node: replay ``__consumer_offsets`` if it exists (it is
        created on first use)."""
        topic = self._catalog.topic(OFFSETS_TOPIC)
        if topic is not None and self._embedded is not None:
            self._load(topic.partitions)

    def _ensure_loaded(self) -> None:
        if self._loaded or self._embedded is None:
            return
        topic = self._catalog.topic(OFFSETS_TOPIC)
        if topic is None:
            topic = self._embedded.create_topic(self.offsets_topic(), internal=True)
        self._load(topic.partitions)

    def offsets_topic(self) -> NewTopic:
        """``__consumer_offsets`` as Kafka creates it: compacted, offsets.topic.* settings."""
        configs = {"cleanup.policy": "compact", "compression.type": "producer",
                   "segment.bytes": str(self._config.offsets_topic_segment_bytes)}
        rf = self._config.offsets_topic_replication_factor if self._embedded is None else 1
        return NewTopic(OFFSETS_TOPIC, self._config.offsets_topic_num_partitions, rf, configs)

    def partition_of(self, group_id: str) -> int:
        """The ``__consumer_offsets`` partition that holds `group_id` (its coordinator leads it)."""
        topic = self._catalog.topic(OFFSETS_TOPIC)
        return partition_for(group_id, topic.partitions if topic is not None else self._num_partitions)

    def _load(self, partitions: int) -> None:
        for index in range(partitions):
            self.load_partition(index, log_summary=False)
        self._loaded = True
        log.info("loaded %d classic and %d consumer groups from %d %s partitions",
                 len(self._groups), sum(1 for _ in self.consumer_groups.listings()), partitions, OFFSETS_TOPIC)

    def load_partition(self, index: int, *, log_summary: bool = True) -> None:
        """Replay one partition's log (this broker now leads it) and take up its groups."""
        topic = self._catalog.topic(OFFSETS_TOPIC)
        if topic is not None:
            self._num_partitions = topic.partitions
        if index in self._states:
            self.unload_partition(index)
        state = OffsetsState()
        state.replay_all(self._log.read_all(index))
        self._states[index] = state
        loaded = 0
        for group_id in list(state.groups()):
            value = state.group_metadata(group_id)
            if value is not None:
                self._groups[group_id] = ClassicGroup.from_snapshot(
                    snapshot_of(group_id, value), self._clock, self._group_config
                )
                loaded += 1
        for snapshot in state.consumer_groups():
            self.consumer_groups.load(snapshot)
            self._groups.pop(snapshot.group_id, None)  # converted to the consumer protocol
            loaded += 1
        if log_summary:
            log.info("%s-%d: coordinating its %d groups", OFFSETS_TOPIC, index, loaded)

    def unload_partition(self, index: int) -> None:
        """This broker no longer leads the partition: drop its groups; waiting members get
        NOT_COORDINATOR and find the new coordinator."""
        if self._states.pop(index, None) is None:
            return
        for group_id in [g for g in self._groups if self.partition_of(g) == index]:
            self._drop_group(group_id)
        for listing in list(self.consumer_groups.listings()):
            if self.partition_of(listing.group_id) == index:
                self.consumer_groups.unload(listing.group_id)
        log.info("%s-%d: no longer its coordinator", OFFSETS_TOPIC, index)

    def _drop_group(self, group_id: str) -> None:
        self._groups.pop(group_id, None)
        timer = self._timers.pop(group_id, None)
        if timer is not None:
            timer.cancel()
        for (gid, ticket), future in list(self._waiters.items()):
            if gid == group_id:
                del self._waiters[(gid, ticket)]
                if not future.done():
                    future.set_result(JoinResult(error=GroupError.NOT_COORDINATOR))

    def not_here(self, group_id: str) -> GroupError | None:
        """NOT_COORDINATOR when another broker coordinates `group_id` (read-only requests
        check it before asking)."""
        return self._not_here(group_id)

    def _not_here(self, group_id: str) -> GroupError | None:
        """NOT_COORDINATOR unless this broker leads the group's ``__consumer_offsets`` partition."""
        self._ensure_loaded()
        index = self.partition_of(group_id)
        return None if index in self._states else GroupError.NOT_COORDINATOR

    def shutdown(self) -> None:
        self.consumer_groups.shutdown()
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for future in self._waiters.values():
            if not future.done():
                future.set_result(JoinResult(error=GroupError.NOT_COORDINATOR))
        self._waiters.clear()

    # -- membership --------------------------------------------------------------------------

    def consumer_heartbeat(self, group_id: str, request: HeartbeatRequest) -> HeartbeatResult | GroupError:
        """ConsumerGroupHeartbeat (KIP-848). A classic group with members keeps its protocol."""
        not_here = self._not_here(group_id)
        if not_here is not None:
            return not_here
        classic = self._groups.get(group_id)
        if classic is not None and classic.state not in (GroupState.EMPTY, GroupState.DEAD):
            return GroupError.INCONSISTENT_GROUP_PROTOCOL
        topics = {t.name: t.partitions for t in self._catalog.topics() if not t.internal}
        result = self.consumer_groups.heartbeat(group_id, request, topics)
        if classic is not None and group_id in self.consumer_groups:
            self._drop_classic(group_id)  # an empty classic group becomes a consumer group, as in Kafka
        return result

    def _drop_classic(self, group_id: str) -> None:
        self._groups.pop(group_id, None)
        timer = self._timers.pop(group_id, None)
        if timer is not None:
            timer.cancel()
        _, state = self._state_for(group_id)
        if state.group_metadata(group_id) is not None:
            self._append(group_id, [group_metadata_tombstone(group_id)])

    def _write_consumer_group(
        self, group_id: str, before: ConsumerGroupSnapshot | None, after: ConsumerGroupSnapshot | None
    ) -> bool:
        """Stores what changed in a KIP-848 group as records (ConsumerGroups' write hook)."""
        topic_ids = {t.name: t.topic_id for t in self._catalog.topics()}
        records = [(encode_key(k), encode_value(v)) for k, v in delta_records(before, after, topic_ids)]
        try:
            self._append(group_id, records)
        except RecordsError as exc:
            log.warning("consumer group %s: state not persisted: %s", group_id, exc)
            return False
        return True

    async def join(self, group_id: str, request: JoinRequest) -> JoinResult:
        not_here = self._not_here(group_id)
        if not_here is not None:
            return JoinResult(error=not_here)
        if group_id in self.consumer_groups:
            if not self.consumer_groups.is_empty(group_id):
                return JoinResult(error=GroupError.INCONSISTENT_GROUP_PROTOCOL)
            self.consumer_groups.delete(group_id)  # an empty consumer group becomes classic
        group = self._groups.get(group_id)
        if group is None:
            if request.member_id != UNKNOWN_MEMBER_ID:
                return JoinResult(error=GroupError.UNKNOWN_MEMBER_ID)
            group = self._groups[group_id] = ClassicGroup(group_id, self._clock, self._group_config)
        result = await self._settle(group, group.join(request))
        assert isinstance(result, JoinResult)
        return result

    async def sync(self, group_id: str, request: SyncRequest) -> SyncResult:
        not_here = self._not_here(group_id)
        if not_here is not None:
            return SyncResult(error=not_here)
        group = self._groups.get(group_id)
        if group is None:
            return SyncResult(error=GroupError.UNKNOWN_MEMBER_ID)
        result = await self._settle(group, group.sync(request))
        if isinstance(result, JoinResult):  # completed by shutdown
            return SyncResult(error=result.error)
        return result

    def heartbeat(self, group_id: str, member_id: str, generation: int, instance_id: str | None) -> GroupError | None:
        not_here = self._not_here(group_id)
        if not_here is not None:
            return not_here
        group = self._groups.get(group_id)
        if group is None:
            return GroupError.UNKNOWN_MEMBER_ID  # as Kafka's classic coordinator answers
        error = group.heartbeat(member_id, generation, instance_id)
        self._after(group)
        return error

    def leave(self, group_id: str, members: Sequence[LeavingMember]) -> LeaveResult:
        not_here = self._not_here(group_id)
        if not_here is not None:
            return LeaveResult(error=not_here)
        group = self._groups.get(group_id)
        if group is None:
            return LeaveResult(error=GroupError.UNKNOWN_MEMBER_ID)
        result = group.leave(members)
        self._after(group)
        return result

    async def _settle(
        self, group: ClassicGroup, outcome: JoinResult | SyncResult | Pending
    ) -> JoinResult | SyncResult:
        future: asyncio.Future[JoinResult | SyncResult] | None = None
        if isinstance(outcome, Pending):
            future = asyncio.get_running_loop().create_future()
            self._waiters[(group.group_id, outcome.ticket)] = future
        stored = self._after(group)
        if future is None:
            assert not isinstance(outcome, Pending)
            if not stored and isinstance(outcome, SyncResult) and outcome.error is None:
                return NOT_STORED
            return outcome
        return await future

    def _after(self, group: ClassicGroup) -> bool:
        """Persist what changed, complete finished waits, and re-arm the group's timer.

        Returns False when the group's record could not be written: as Kafka, the
        SyncGroups that installed the assignments fail with UNKNOWN_SERVER_ERROR and
        the group rebalances.
        """
        completions = group.poll()
        stored = True
        if group.persist_due:
            group.persist_due = False
            record = self._log.group_record(group.group_id, metadata_value(group.snapshot()))
            try:
                self._append(group.group_id, [record])
            except RecordsError as exc:
                log.warning("group %s: metadata not stored, rebalancing: %s", group.group_id, exc)
                stored = False
                group.assignments_not_stored()
                completions = [
                    replace(c, result=NOT_STORED)
                    if isinstance(c, SyncCompletion) and c.result.error is None else c
                    for c in completions
                ] + group.poll()
        for completion in completions:
            future = self._waiters.pop((group.group_id, completion.ticket), None)
            if future is not None and not future.done():
                future.set_result(completion.result)
        self._arm_timer(group)
        return stored

    def _arm_timer(self, group: ClassicGroup) -> None:
        old = self._timers.pop(group.group_id, None)
        if old is not None:
            old.cancel()
        deadline = group.next_deadline()
        if deadline is None:
            return
        delay = max(0.0, deadline - self._clock.monotonic())
        self._timers[group.group_id] = asyncio.get_running_loop().call_later(
            delay, self._on_timer, group.group_id
        )

    def _on_timer(self, group_id: str) -> None:
        self._timers.pop(group_id, None)
        group = self._groups.get(group_id)
        if group is not None:
            self._after(group)

    # -- offsets ---------------------------------------------------------------------------

    def _state_for(self, group_id: str) -> tuple[int, OffsetsState]:
        index = self.partition_of(group_id)
        return index, self._states[index]

    def _append(self, group_id: str, records: list[Record]) -> int:
        """Append and replay; returns the offset the high watermark must reach for the
        records to be replicated to the ISR (-1: nothing written)."""
        index, state = self._state_for(group_id)
        if not records:
            return -1
        end = self._log.append(index, records)
        state.replay_all(records)
        return end

    async def commit_offsets(
        self,
        group_id: str,
        member_id: str,
        generation: int,
        instance_id: str | None,
        offsets: Mapping[TopicPartition, OffsetCommitEntry],
        unknown_group: GroupError = GroupError.ILLEGAL_GENERATION,
    ) -> GroupError | ConsumerGroupError | None:
        """`unknown_group`: the answer to a member's commit for a group that does not exist
        (Kafka: ILLEGAL_GENERATION before OffsetCommit v9, GROUP_ID_NOT_FOUND from v9).

        Answers once the commit is replicated to the ISR, as Kafka (acks=all): a commit
        that was acknowledged survives a coordinator failover."""
        not_here = self._not_here(group_id)
        if not_here is not None:
            return not_here
        group = self._groups.get(group_id)
        if group_id in self.consumer_groups:
            consumer_error = self.consumer_groups.validate_commit(group_id, member_id, generation)
            if consumer_error is not None:
                return consumer_error
        elif group is None:
            if generation >= 0 or member_id != UNKNOWN_MEMBER_ID:
                return unknown_group
        else:
            error = group.validate_commit(member_id, generation, instance_id)
            if error is not None:
                return error
        now = self._clock.time_ms()
        _, state = self._state_for(group_id)
        commits = {
            tp: CommittedOffset(e.offset, e.metadata or "", now, e.leader_epoch)
            for tp, e in offsets.items()
        }
        index = self.partition_of(group_id)
        end = self._append(group_id, state.commit(group_id, commits))
        return await self._replicated(index, end)

    async def _replicated(self, index: int, end: int) -> GroupError | None:
        """Until the ISR has the records up to `end` (offsets.commit.timeout.ms, Kafka's 5 s)."""
        if end < 0:
            return None
        try:
            await self._log.wait_replicated(index, end, COMMIT_TIMEOUT_S)
        except TimeoutError:
            return GroupError.COORDINATOR_NOT_AVAILABLE  # Kafka's answer to a commit not replicated in time
        except NotLeader:
            return GroupError.NOT_COORDINATOR
        return None

    def fetch_offsets(
        self, group_id: str, partitions: Iterable[TopicPartition] | None
    ) -> dict[TopicPartition, CommittedOffset | None]:
        self._ensure_loaded()
        _, state = self._state_for(group_id)
        if partitions is None:
            return dict(state.committed_offsets(group_id))
        return {tp: state.committed(group_id, tp[0], tp[1]) for tp in partitions}

    def delete_offsets(
        self, group_id: str, partitions: Sequence[TopicPartition]
    ) -> tuple[GroupError | None, dict[TopicPartition, GroupError | None]]:
        """OffsetDelete, as Kafka: a group with members keeps the offsets of topics its
        members subscribe to (GROUP_SUBSCRIBED_TO_TOPIC per partition); a non-empty group
        that is not a consumer group refuses the whole request (NON_EMPTY_GROUP)."""
        not_here = self._not_here(group_id)
        if not_here is not None:
            return not_here, {}
        _, state = self._state_for(group_id)
        subscribed = self._subscribed_topics(group_id)
        if subscribed is None:
            return GroupError.NON_EMPTY_GROUP, {}
        if group_id not in self._groups and group_id not in self.consumer_groups \
                and state.group_metadata(group_id) is None and not state.committed_offsets(group_id):
            return GroupError.GROUP_ID_NOT_FOUND, {}
        errors = {tp: GroupError.GROUP_SUBSCRIBED_TO_TOPIC if tp[0] in subscribed else None for tp in partitions}
        self._append(group_id, state.delete_offsets(group_id, [tp for tp, e in errors.items() if e is None]))
        return None, errors

    def _subscribed_topics(self, group_id: str) -> set[str] | None:
        """Topics the group's members subscribe to; None for a non-empty group whose
        members' subscriptions are not the consumer protocol's."""
        kip848 = self.consumer_groups.describe(group_id)
        if kip848 is not None:
            return {t for m in kip848.members for t in m.subscribed_topic_names}
        group = self._groups.get(group_id)
        if group is None or group.state in (GroupState.EMPTY, GroupState.DEAD):
            return set()
        snapshot = group.snapshot()
        if snapshot.protocol_type != "consumer":
            return None
        topics: set[str] = set()
        for member in snapshot.members:
            topics |= subscription_topics(member.subscription)
        return topics

    def expire_offsets(self) -> int:
        """Remove offsets past ``offsets.retention.minutes`` (empty groups only, as Kafka);
        returns how many records were written. Run every offsets.retention.check.interval.ms."""
        if not self._loaded:
            return 0
        now = self._clock.time_ms()
        retention_ms = self._config.offsets_retention_minutes * 60_000

        def is_empty(group_id: str) -> bool:
            group = self._groups.get(group_id)
            classic_empty = group is None or group.state in (GroupState.EMPTY, GroupState.DEAD)
            return classic_empty and self.consumer_groups.is_empty(group_id)

        written = 0
        for index, state in self._states.items():
            records = state.expire_offsets(
                now, retention_ms, is_group_empty=is_empty, is_subscribed=self.consumer_groups.is_subscribed
            )
            if records:
                self._log.append(index, records)
                state.replay_all(records)
                written += len(records)
        for group_id, group in list(self._groups.items()):
            _, state = self._state_for(group_id)
            if group.state is GroupState.EMPTY and state.group_metadata(group_id) is None \
                    and not state.committed_offsets(group_id):
                del self._groups[group_id]  # its metadata expired: the group is gone (Dead)
        for listing in list(self.consumer_groups.listings()):
            _, state = self._state_for(listing.group_id)
            if self.consumer_groups.is_empty(listing.group_id) and not state.committed_offsets(listing.group_id):
                self.consumer_groups.delete(listing.group_id)  # empty, every offset expired: gone
        if written:
            log.info("expired %d committed offsets and group records", written)
        return written

    # -- administration ------------------------------------------------------------------

    def list_groups(self) -> list[GroupListing | ConsumerGroupListing]:
        self._ensure_loaded()
        listings: list[GroupListing | ConsumerGroupListing] = list(self.consumer_groups.listings())
        listings += [g.listing() for g in self._groups.values() if g.state is not GroupState.DEAD]
        known = {listing.group_id for listing in listings}
        for state in self._states.values():  # simple groups: offsets only
            for group_id in state.groups():
                if group_id not in known:
                    listings.append(GroupListing(group_id, "", GroupState.EMPTY))
                    known.add(group_id)
        return listings

    def describe(self, group_id: str) -> GroupDescription:
        self._ensure_loaded()
        group = self._groups.get(group_id)
        if group is None:
            _, state = self._state_for(group_id)
            exists = bool(state.committed_offsets(group_id))
            return GroupDescription(group_id, GroupState.EMPTY if exists else GroupState.DEAD, "", "", ())
        return group.describe()

    def delete_group(self, group_id: str) -> GroupError | None:
        not_here = self._not_here(group_id)
        if not_here is not None:
            return not_here
        group = self._groups.get(group_id)
        _, state = self._state_for(group_id)
        if group_id in self.consumer_groups:
            if not self.consumer_groups.delete(group_id):
                return GroupError.NON_EMPTY_GROUP
        elif group is None and not state.committed_offsets(group_id) and state.group_metadata(group_id) is None:
            return GroupError.GROUP_ID_NOT_FOUND
        if group is not None:
            error = group.delete()
            if error is not None:
                return error
            self._groups.pop(group_id, None)
            timer = self._timers.pop(group_id, None)
            if timer is not None:
                timer.cancel()
        self._append(group_id, state.delete_group(group_id))
        return None

    @property
    def loaded(self) -> bool:
        return self._loaded

