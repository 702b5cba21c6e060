"""One partition as this broker hosts it: leader or follower, its log, the high watermark.

As leader it validates and appends produce batches, tracks each follower's log-end
offset from its fetches, advances the high watermark to the lowest log-end offset in the
ISR, and says which followers should join or leave the ISR. As follower it appends the
leader's batches verbatim and takes the leader's high watermark. On a single node the
leader is the only replica, so the high watermark is the log-end offset after each append.
Not thread-safe; event loop only.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from grete.clock import Clock
from grete.partition.topic_partition import TopicPartition
from grete.records.validation import validate_produce_records
from grete.storage.errors import OffsetOutOfRange
from grete.storage.log import Log
from grete.storage.types import LogAppendInfo, LogConfig, ReadInfo, TimestampOffset

NO_LEADER = -1
HIGH_WATERMARK = -1  # DeleteRecords' offset meaning "up to the high watermark"


@dataclass(frozen=True, slots=True)
class PartitionSettings:
    """The topic configs a partition needs on its request paths."""

    max_message_bytes: int
    log_append_time: bool  # message.timestamp.type=LogAppendTime
    log_config: LogConfig
    min_insync_replicas: int = 1


@dataclass(slots=True)  # hot path: not frozen (docs/performance.md)
class PartitionOffsets:
    log_start_offset: int
    high_watermark: int
    last_stable_offset: int
    log_end_offset: int


@dataclass(slots=True)
class FollowerState:
    """A follower as its leader sees it (Kafka's Replica): where it is, when it was caught up."""

    log_end_offset: int = -1  # unknown until its first fetch
    last_caught_up_ms: int = 0
    last_fetch_ms: int = 0
    leader_end_at_last_fetch: int = -1


class NotLeader(Exception):
    """This broker stopped leading the partition while a request waited on it."""


class PolicyViolation(Exception):
    """POLICY_VIOLATION: records of a topic whose cleanup.policy lacks delete cannot be
    deleted (Kafka's rule for DeleteRecords)."""


class Partition:
    def __init__(
        self,
        tp: TopicPartition,
        topic_id: uuid.UUID,
        log: Log,
        settings: PartitionSettings,
        clock: Clock,
        leader_epoch: int = 0,
        local_id: int = 0,
        high_watermark: int | None = None,
    ) -> None:
        """``high_watermark``: the checkpointed one (bounded by the log); None: the log end."""
        self.tp = tp
        self.topic_id = topic_id
        self.log = log
        self.settings = settings
        self.leader_epoch = leader_epoch
        self.local_id = local_id
        self.leader_id = local_id
        self.replicas: tuple[int, ...] = (local_id,)
        self.isr: tuple[int, ...] = (local_id,)
        self.partition_epoch = 0  # the version of the partition's state in ZooKeeper
        self.leader_epoch_start_offset = log.log_end_offset
        self._clock = clock
        self._hw = log.log_end_offset
        if high_watermark is not None:
            self._hw = max(log.log_start_offset, min(high_watermark, log.log_end_offset))
        self._followers: dict[int, FollowerState] = {}
        self._hw_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._uncommitted: deque[tuple[int, int]] = deque()  # (end offset, bytes) above the HW
        # Called with the bytes that the high watermark just exposed to consumers.
        self.on_high_watermark: Callable[[Partition, int], None] | None = None

    # -- role ----------------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        return self.leader_id == self.local_id

    def become_leader(
        self, leader_epoch: int, replicas: tuple[int, ...], isr: tuple[int, ...], partition_epoch: int
    ) -> None:
        """Lead from `leader_epoch` on; followers in the ISR count as caught up now (Kafka)."""
        now = self._clock.time_ms()
        self.leader_id = self.local_id
        self.leader_epoch = leader_epoch
        self.replicas, self.isr, self.partition_epoch = replicas, isr, partition_epoch
        self.leader_epoch_start_offset = self.log.log_end_offset
        self._followers = {
            r: FollowerState(last_caught_up_ms=now if r in isr else 0)
            for r in replicas if r != self.local_id
        }
        self._maybe_advance_high_watermark()

    def become_follower(
        self, leader: int, leader_epoch: int, replicas: tuple[int, ...], isr: tuple[int, ...],
        partition_epoch: int,
    ) -> None:
        self.leader_id = leader
        self.leader_epoch = leader_epoch
        self.replicas, self.isr, self.partition_epoch = replicas, isr, partition_epoch
        self._followers = {}
        self._uncommitted.clear()
        self._fail_waiters()

    def update_replicas(self, replicas: tuple[int, ...]) -> None:
        """The assignment changed under the same leader epoch (a reassignment): track the
        added followers (not yet caught up), forget the removed ones."""
        self.replicas = replicas
        if not self.is_leader:
            return
        self._followers = {
            r: self._followers.get(r) or FollowerState() for r in replicas if r != self.local_id
        }

    def update_isr(self, isr: tuple[int, ...], partition_epoch: int) -> None:
        """The ISR as now stored (after this leader's own conditional write, or a newer state)."""
        self.isr, self.partition_epoch = isr, partition_epoch
        now = self._clock.time_ms()
        for replica, state in self._followers.items():
            if replica in isr and state.last_caught_up_ms == 0:
                state.last_caught_up_ms = now
        self._maybe_advance_high_watermark()

    # -- offsets -------------------------------------------------------------------------------

    @property
    def high_watermark(self) -> int:
        return self._hw

    def offsets(self) -> PartitionOffsets:
        hw = self._hw
        return PartitionOffsets(self.log.log_start_offset, hw, hw, self.log.log_end_offset)

    def update_settings(self, settings: PartitionSettings) -> None:
        self.settings = settings
        self.log.update_config(settings.log_config)

    def _set_high_watermark(self, hw: int) -> None:
        if hw == self._hw:
            return
        advanced = hw > self._hw
        self._hw = hw
        if advanced:
            exposed = 0
            while self._uncommitted and self._uncommitted[0][0] <= hw:
                exposed += self._uncommitted.popleft()[1]
            self._wake_waiters()
            if self.on_high_watermark is not None:
                self.on_high_watermark(self, exposed)

    def _maybe_advance_high_watermark(self) -> None:
        """Leader: the high watermark is the lowest log-end offset in the ISR; it never goes back."""
        if not self.is_leader:
            return
        hw = self.log.log_end_offset
        for replica in self.isr:
            if replica == self.local_id:
                continue
            state = self._followers.get(replica)
            end = -1 if state is None else state.log_end_offset
            hw = min(hw, end)
        if hw > self._hw:
            self._set_high_watermark(hw)

    # -- leader data path ----------------------------------------------------------------------

    def append_records_as_leader(self, records: bytearray | memoryview) -> LogAppendInfo:
        """Validate and append a produce request's records.

        Raises records.validation.RecordsError, storage.errors.OutOfOrderSequence or
        InvalidProducerEpoch; on a retried idempotent batch returns its original offsets.
        """
        batches = validate_produce_records(
            records,
            max_message_bytes=self.settings.max_message_bytes,
            compacted=self.settings.log_config.compact,
        )
        append_time = self._clock.time_ms() if self.settings.log_append_time else None
        # Patched in place: ``records`` is a writable view into the request frame.
        info = self.log.append(
            records, batches, leader_epoch=self.leader_epoch, log_append_time_ms=append_time
        )
        if not info.duplicate:
            self._uncommitted.append((info.last_offset + 1, len(records)))
        self._maybe_advance_high_watermark()
        return info

    def update_follower(self, replica: int, fetch_offset: int) -> bool:
        """A follower fetched from `fetch_offset`: it has everything before it. Returns True
        when it should join the ISR (it reached the high watermark in this leader epoch)."""
        state = self._followers.get(replica)
        if state is None:
            return False
        now = self._clock.time_ms()
        leader_end = self.log.log_end_offset
        if fetch_offset > leader_end:
            # Not a position in this leader's log (Kafka answers OFFSET_OUT_OF_RANGE and
            # records nothing): counting it could raise the high watermark over records
            # the follower does not have.
            return False
        if fetch_offset == leader_end:
            state.last_caught_up_ms = now
        elif fetch_offset >= state.leader_end_at_last_fetch >= 0:
            state.last_caught_up_ms = max(state.last_caught_up_ms, state.last_fetch_ms)
        state.log_end_offset = fetch_offset
        state.last_fetch_ms = now
        state.leader_end_at_last_fetch = leader_end
        self._maybe_advance_high_watermark()
        return (
            replica not in self.isr
            and fetch_offset >= self._hw
            and fetch_offset >= self.leader_epoch_start_offset
        )

    def lagging_followers(self, max_lag_ms: int) -> set[int]:
        """ISR followers not caught up for `max_lag_ms` (replica.lag.time.max.ms)."""
        now = self._clock.time_ms()
        return {
            replica for replica in self.isr
            if replica != self.local_id
            and now - self._followers.get(replica, FollowerState()).last_caught_up_ms > max_lag_ms
        }

    def follower_end_offset(self, replica: int) -> int:
        state = self._followers.get(replica)
        return -1 if state is None else state.log_end_offset

    async def wait_for_high_watermark(self, offset: int) -> None:
        """Until the high watermark reaches `offset` (acks=all). Raises NotLeader if this
        broker stops leading first. The caller bounds the wait."""
        if self._hw >= offset:
            return
        if not self.is_leader:
            raise NotLeader(str(self.tp))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._hw_waiters.append((offset, future))
        try:
            await future
        finally:
            self._hw_waiters = [(o, f) for o, f in self._hw_waiters if f is not future]

    def _wake_waiters(self) -> None:
        for offset, future in self._hw_waiters:
            if offset <= self._hw and not future.done():
                future.set_result(None)

    def release_waiters(self) -> None:
        """Shutting down: acks=all produces waiting for the ISR are answered at once with
        NOT_LEADER_OR_FOLLOWER (the client retries, on the next leader), rather than
        holding the drain until they time out. Nothing waiting was acknowledged."""
        self._fail_waiters()

    def _fail_waiters(self) -> None:
        for _, future in self._hw_waiters:
            if not future.done():
                future.set_exception(NotLeader(str(self.tp)))

    def delete_records_on_leader(self, offset: int) -> int:
        """DeleteRecords: move the log start offset up to ``offset`` (HIGH_WATERMARK: the
        high watermark); returns the log start offset after it. Raises NotLeader,
        PolicyViolation, or OffsetOutOfRange for a negative offset or one beyond the
        high watermark."""
        if not self.is_leader:
            raise NotLeader(str(self.tp))
        if not self.log.config.delete:
            raise PolicyViolation(
                f"Records of partition {self.tp} can not be deleted due to the configured policy"
            )
        target = self._hw if offset == HIGH_WATERMARK else offset
        if target < 0 or target > self._hw:
            raise OffsetOutOfRange(target, self.log.log_start_offset, self._hw)
        self.log.maybe_increment_log_start_offset(target)
        return self.log.log_start_offset

    # -- follower data path ---------------------------------------------------------------------

    def append_as_follower(self, records: bytes | bytearray | memoryview) -> LogAppendInfo:
        info = self.log.append_as_follower(records)
        self._uncommitted.append((info.last_offset + 1, len(records)))
        return info

    def update_high_watermark_from_leader(self, leader_hw: int) -> None:
        self._set_high_watermark(min(leader_hw, self.log.log_end_offset))

    def update_log_start_offset_from_leader(self, leader_log_start_offset: int) -> None:
        """Follow the leader's log start offset (its retention or DeleteRecords), never
        past this replica's high watermark; it only ever moves up."""
        self.log.maybe_increment_log_start_offset(min(leader_log_start_offset, self._hw))

    def truncate_fully_and_start_at(self, offset: int) -> None:
        """Follower: the leader's log starts past everything here; restart empty there."""
        self.log.truncate_fully_and_start_at(offset)
        self._hw = offset
        self._uncommitted.clear()

    def truncate_to(self, offset: int) -> None:
        if offset < self.log.log_end_offset:
            self.log.truncate_to(offset)
        self._hw = min(self._hw, self.log.log_end_offset)
        while self._uncommitted and self._uncommitted[-1][0] > self.log.log_end_offset:
            self._uncommitted.pop()

    # -- reads ---------------------------------------------------------------------------------

    def read(
        self, offset: int, max_bytes: int, *, min_one_batch: bool, up_to_log_end: bool = False
    ) -> ReadInfo:
        """Batches from ``offset`` up to the high watermark (a follower's fetch: the log end).
        Raises OffsetOutOfRange."""
        limit = self.log.log_end_offset if up_to_log_end else self._hw
        return self.log.read(offset, max_bytes, max_offset=limit, min_one_batch=min_one_batch)

    def offset_for_timestamp(self, timestamp: int) -> TimestampOffset | None:
        return self.log.offset_for_timestamp(timestamp)

    def max_timestamp_offset(self) -> TimestampOffset | None:
        return self.log.max_timestamp_offset()
