"""One partition's log: an ordered list of segments in one directory."""

from __future__ import annotations

import bisect
import logging
import math
import random
import shutil
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from pathlib import Path

from grete.clock import SYSTEM_CLOCK, Clock
from grete.records.batch import (
    NO_TIMESTAMP,
    BatchHeader,
    InvalidBatch,
    peek_offset_and_length,
    set_base_offset,
    set_leader_epoch,
    set_log_append_time,
    split_batches,
    validate_batch,
)
from grete.storage.errors import (
    CorruptRecords,
    OffsetOutOfRange,
    OffsetsOutOfOrder,
    UnexpectedAppendOffset,
)
from grete.storage.flusher import BackgroundFlusher
from grete.storage.fsutil import fsync_dir
from grete.storage.index import INT32_MAX
from grete.storage.leader_epoch import LeaderEpochCache
from grete.storage.log_loader import (
    load_leader_epoch_cache,
    load_segments,
    remove_stray_files,
)
from grete.storage.producer_state import ProducerStateManager
from grete.storage.retention import SegmentStats, deletable_segments
from grete.storage.segment import SWAP_SUFFIX, AppendedBatch, LogSegment
from grete.storage.types import (
    EpochEndOffset,
    EpochEntry,
    LogAppendInfo,
    LogConfig,
    ReadInfo,
    TimestampOffset,
    ValidBatch,
)

log = logging.getLogger("grete.storage")
_JITTER_RNG = random.Random()  # segment.jitter.ms draws; one seeding, not one per log


class Log:
    """The log of one partition replica, in Kafka's directory layout.

    Not thread-safe; called only from the event loop. Invariants: segments are sorted
    by base offset, never empty, and only the last (active) one is appended to;
    log_start_offset <= recovery_point <= log_end_offset; everything below the
    recovery point has been fsynced; the leader epoch cache names every epoch stamped
    on a batch in [log_start_offset, log_end_offset), and is written before the
    batches it names. Batches are kept as bytes: the log reads their headers, never
    their records (except in ``offset_for_timestamp``).
    """

    def __init__(
        self,
        dir: Path,
        config: LogConfig,
        segments: list[LogSegment],
        *,
        log_start_offset: int,
        recovery_point: int,
        clock: Clock,
        rng: random.Random,
        leader_epoch_cache: LeaderEpochCache | None = None,
    ) -> None:
        self._dir = dir
        self._config = config
        self._segments = segments
        self._clock = clock
        self._rng = rng
        self._log_start_offset = log_start_offset
        self._recovery_point = recovery_point
        self._last_flush_ms = clock.time_ms()
        self._roll_jitter_ms = self._new_jitter()
        self._dir_dirty = False
        self._closed = False
        self.generation = 0  # bumped whenever closed segments may change (truncation)
        # Set by the LogManager: rolls and flush.ms flushes then fsync on its thread.
        self.flusher: BackgroundFlusher | None = None
        self._background: list[tuple[Future[bool], int, int]] = []  # (job, target, generation)
        self.producer_state = ProducerStateManager(dir)
        if leader_epoch_cache is None:
            leader_epoch_cache = LeaderEpochCache(dir)
        self.leader_epoch_cache = leader_epoch_cache

    @classmethod
    def open(
        cls,
        dir: Path,
        config: LogConfig,
        *,
        recovery_point: int = 0,
        clock: Clock = SYSTEM_CLOCK,
        log_start_offset: int = 0,
        had_clean_shutdown: bool = False,
        rng: random.Random | None = None,
    ) -> Log:
        """Load (or create) the log in ``dir``, recovering everything from
        ``recovery_point`` on (nothing but the active segment's tail after a clean
        shutdown), then load the leader epoch cache and rebuild the producer state from
        its snapshot and the log."""
        dir.mkdir(parents=True, exist_ok=True)
        swap_bases = remove_stray_files(dir)
        loaded = load_segments(
            dir,
            config,
            swap_bases=swap_bases,
            recovery_point=recovery_point,
            log_start_offset=log_start_offset,
            had_clean_shutdown=had_clean_shutdown,
            now_ms=clock.time_ms(),
        )
        segments = loaded.segments
        log_end = segments[-1].next_offset
        start = min(max(log_start_offset, segments[0].base_offset), log_end)
        if loaded.recovered:
            for segment in segments:
                segment.flush()
            fsync_dir(dir)
        epoch_cache = load_leader_epoch_cache(
            dir,
            segments,
            log_start_offset=start,
            recovered_from=recovery_point if loaded.recovered and not had_clean_shutdown else None,
        )
        # Every segment holding offsets >= recovery_point was validated, then fsynced
        # above; if none was, recovery_point was already at or past the log end.
        self = cls(
            dir,
            config,
            segments,
            log_start_offset=start,
            recovery_point=log_end,
            clock=clock,
            rng=rng or _JITTER_RNG,
            leader_epoch_cache=epoch_cache,
        )
        self._load_producer_state()
        return self

    # -- properties ------------------------------------------------------------------

    @property
    def dir(self) -> Path:
        return self._dir

    @property
    def config(self) -> LogConfig:
        return self._config

    def update_config(self, config: LogConfig) -> None:
        """Takes effect on the next append; index sizes apply to new segments."""
        self._config = config
        self._roll_jitter_ms = self._new_jitter()

    @property
    def log_start_offset(self) -> int:
        return self._log_start_offset

    @property
    def log_end_offset(self) -> int:
        return self._segments[-1].next_offset

    @property
    def recovery_point(self) -> int:
        self._harvest()
        return self._recovery_point

    @property
    def last_flush_ms(self) -> int:
        return self._last_flush_ms

    @property
    def size_bytes(self) -> int:
        return sum(s.size for s in self._segments)

    @property
    def num_segments(self) -> int:
        return len(self._segments)

    @property
    def segments(self) -> Sequence[LogSegment]:
        return tuple(self._segments)

    @property
    def active_segment(self) -> LogSegment:
        return self._segments[-1]

    # -- append ----------------------------------------------------------------------

    def append(
        self,
        records: bytearray | memoryview,
        batches: Sequence[ValidBatch],
        *,
        leader_epoch: int,
        log_append_time_ms: int | None = None,
    ) -> LogAppendInfo:
        """Assign offsets from the log end, patch them (and the leader epoch, and
        LogAppendTime if given) into ``records`` in place, and write all batches with
        one write. A new ``leader_epoch`` is recorded in the epoch cache first. A retried
        idempotent batch is not written: its original offsets come back with
        duplicate=True. Raises OutOfOrderSequence, InvalidProducerEpoch."""
        if not batches:
            raise ValueError("nothing to append")
        duplicate = self.producer_state.validate(b.header for b in batches)
        if duplicate is not None:
            return LogAppendInfo(
                duplicate.first_offset,
                duplicate.last_offset,
                duplicate.timestamp,
                duplicate.timestamp if log_append_time_ms is not None else NO_TIMESTAMP,
                self._log_start_offset,
                duplicate=True,
            )
        start, end = batches[0].start, batches[-1].end
        first_offset = self.log_end_offset
        last_offset = first_offset + sum(b.header.last_offset_delta + 1 for b in batches) - 1
        now = self._clock.time_ms()
        self._maybe_roll(end - start, last_offset, now)
        latest_epoch = self.leader_epoch_cache.latest_epoch
        if leader_epoch >= 0 and (latest_epoch is None or leader_epoch > latest_epoch):
            self.leader_epoch_cache.assign(leader_epoch, first_offset)
        with memoryview(records) as view:
            appended = self._assign(view, batches, first_offset, leader_epoch, log_append_time_ms)
            self.active_segment.append(view[start:end], appended, now)
        for batch, meta in zip(batches, appended):
            base = meta.last_offset - batch.header.last_offset_delta
            self.producer_state.update(batch.header, base, meta.max_timestamp)
        if self.log_end_offset - self._recovery_point >= self._config.flush_messages:
            self.flush()
        return LogAppendInfo(
            first_offset,
            last_offset,
            max(m.max_timestamp for m in appended),
            NO_TIMESTAMP if log_append_time_ms is None else log_append_time_ms,
            self._log_start_offset,
        )

    @staticmethod
    def _assign(
        view: memoryview,
        batches: Sequence[ValidBatch],
        first_offset: int,
        leader_epoch: int,
        log_append_time_ms: int | None,
    ) -> list[AppendedBatch]:
        appended = []
        offset = first_offset
        expected_start = batches[0].start
        for b in batches:
            if b.start != expected_start:
                raise ValueError("batches must be contiguous in the records")
            expected_start = b.end
            set_base_offset(view, offset, b.start)
            set_leader_epoch(view, leader_epoch, b.start)
            max_timestamp = b.header.max_timestamp
            if log_append_time_ms is not None:
                set_log_append_time(view[b.start : b.end], log_append_time_ms)
                max_timestamp = log_append_time_ms
            offset += b.header.last_offset_delta + 1
            appended.append(AppendedBatch(offset - 1, max_timestamp, b.end - b.start))
        return appended

    def append_as_follower(self, records: bytes | bytearray | memoryview) -> LogAppendInfo:
        """Append batches whose offsets and leader epochs the leader assigned, verbatim
        (a follower's log becomes byte-identical to the leader's). Every batch is checked
        (framing, magic, CRC-32C; headers only) before anything is written. The records
        must start at the log end with increasing offsets; new epochs go to the epoch
        cache first; producer state is updated (no sequence checks: the leader made
        them), so this replica can take over as leader. Rolls segments as needed.

        Raises CorruptRecords, UnexpectedAppendOffset, OffsetsOutOfOrder; ValueError if
        ``records`` is empty."""
        batches = _validate_replicated(records, self.log_end_offset)
        self.leader_epoch_cache.assign_all(self._new_epochs(batches))
        now = self._clock.time_ms()
        with memoryview(records) as view:
            group: list[ValidBatch] = []
            for b in batches:
                size = b.end - (group[0].start if group else b.start)
                if self._should_roll(size, b.header.last_offset, now, pending=bool(group)):
                    self._append_replicated(view, group, now)
                    group = []
                    self.roll()
                group.append(b)
            self._append_replicated(view, group, now)
        if self.log_end_offset - self._recovery_point >= self._config.flush_messages:
            self.flush()
        return LogAppendInfo(
            batches[0].header.base_offset,
            batches[-1].header.last_offset,
            max(b.header.max_timestamp for b in batches),
            NO_TIMESTAMP,
            self._log_start_offset,
        )

    def _new_epochs(self, batches: Sequence[ValidBatch]) -> list[EpochEntry]:
        """Kafka's rule: a batch starts an entry when its epoch is newer than the latest."""
        latest = self.leader_epoch_cache.latest_epoch
        found = []
        for b in batches:
            epoch = b.header.partition_leader_epoch
            if epoch >= 0 and (latest is None or epoch > latest):
                found.append(EpochEntry(epoch, b.header.base_offset))
                latest = epoch
        return found

    def _append_replicated(
        self, view: memoryview, group: Sequence[ValidBatch], now_ms: int
    ) -> None:
        if not group:
            return
        appended = [
            AppendedBatch(b.header.last_offset, b.header.max_timestamp, b.end - b.start)
            for b in group
        ]
        self.active_segment.append(view[group[0].start : group[-1].end], appended, now_ms)
        for b in group:
            self.producer_state.update(b.header, b.header.base_offset, b.header.max_timestamp)

    def maybe_assign_epoch_start_offset(self, leader_epoch: int, start_offset: int) -> None:
        """Record that ``leader_epoch`` starts at ``start_offset`` if it is newer than the
        latest epoch (Kafka does this when a replica becomes leader, at its log end)."""
        latest = self.leader_epoch_cache.latest_epoch
        if leader_epoch >= 0 and (latest is None or leader_epoch > latest):
            self.leader_epoch_cache.assign(leader_epoch, start_offset)

    def end_offset_for_epoch(self, leader_epoch: int) -> EpochEndOffset:
        """OffsetForLeaderEpoch's answer from this replica: the largest epoch <=
        ``leader_epoch`` and where it ended (the log end for the latest epoch)."""
        return self.leader_epoch_cache.end_offset_for(leader_epoch, self.log_end_offset)

    def _should_roll(self, size: int, last_offset: int, now_ms: int, *, pending: bool) -> bool:
        """Whether ``size`` more bytes, up to ``last_offset``, need a new segment;
        ``pending``: the active segment has unwritten batches before these."""
        segment = self.active_segment
        if segment.size == 0 and not pending:
            return False
        segment_ms = self._config.segment_ms - self._roll_jitter_ms
        return (
            segment.size + size > self._config.segment_bytes
            or (segment.size > 0 and now_ms - segment.rolling_base_ms() > segment_ms)
            or segment.index_full
            or not segment.fits_offset(last_offset)
        )

    def _maybe_roll(self, size: int, last_offset: int, now_ms: int) -> None:
        if self._should_roll(size, last_offset, now_ms, pending=False):
            self.roll()

    def roll(self) -> LogSegment:
        """Start a new active segment at the log end (unless the active one is empty);
        snapshot the producer state there and fsync the rolled segment."""
        old = self.active_segment
        if old.size == 0:
            return old
        new_base = self.log_end_offset
        old.seal()
        snapshot = self.producer_state.take_snapshot(new_base, sync=self.flusher is None)
        segment = LogSegment.create(
            self._dir,
            new_base,
            index_interval_bytes=self._config.index_interval_bytes,
            max_index_bytes=self._config.segment_index_bytes,
            now_ms=self._clock.time_ms(),
        )
        self._segments.append(segment)
        self._dir_dirty = True
        self._roll_jitter_ms = self._new_jitter()
        self._flush_later(new_base, snapshot=snapshot)
        return segment

    def _new_jitter(self) -> int:
        jitter = self._config.segment_jitter_ms
        return self._rng.randrange(jitter) if jitter > 0 else 0

    # -- read ------------------------------------------------------------------------

    def _floor_segment(self, offset: int) -> int:
        return max(bisect.bisect_right(self._segments, offset, key=lambda s: s.base_offset) - 1, 0)

    def read(
        self,
        offset: int,
        max_bytes: int,
        *,
        max_offset: int | None = None,
        min_one_batch: bool = True,
    ) -> ReadInfo:
        """Whole batches from the one holding ``offset``: up to ``max_bytes`` (at least one
        batch if ``min_one_batch``), none whose base offset is >= ``max_offset``. May span
        segments. Raises OffsetOutOfRange outside [log_start_offset, log_end_offset]."""
        log_end = self.log_end_offset
        if offset < self._log_start_offset or offset > log_end:
            raise OffsetOutOfRange(offset, self._log_start_offset, log_end)
        chunks: list[bytes | memoryview] = []
        remaining = max_bytes
        i = self._floor_segment(offset)
        position = self._segments[i].translate_offset(offset)
        while True:
            segment = self._segments[i]
            if position is not None:
                data = segment.read(
                    position,
                    remaining,
                    max_offset=max_offset,
                    min_one_batch=min_one_batch and not chunks,
                )
                if data:
                    chunks.append(data)
                    remaining -= len(data)
                if position + len(data) < segment.size or remaining <= 0:
                    break
            i += 1
            if i == len(self._segments):
                break
            position = 0
        records = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        first = peek_offset_and_length(records)[0] if records else offset
        return ReadInfo(records, first)

    def headers_from(self, offset: int) -> Iterator[BatchHeader]:
        """Headers of the batches holding offsets >= ``offset``, in order."""
        i = self._floor_segment(offset)
        position = self._segments[i].translate_offset(offset)
        for segment in self._segments[i:]:
            if position is not None:
                for batch in segment.headers(position):
                    yield batch.header
            position = 0

    # -- timestamps ------------------------------------------------------------------

    def offset_for_timestamp(self, timestamp: int) -> TimestampOffset | None:
        """The earliest record (at or after log_start_offset) whose timestamp is >=
        ``timestamp``, with that record's timestamp; None if there is none."""
        for segment in self._segments:
            if segment.max_timestamp.timestamp >= timestamp:
                found = segment.find_offset_by_timestamp(timestamp, self._log_start_offset)
                if found is not None:
                    return found
        return None

    def max_timestamp_offset(self) -> TimestampOffset | None:
        """The largest record timestamp in the log and the earliest offset holding it."""
        best = max((s.max_timestamp.timestamp for s in self._segments), default=NO_TIMESTAMP)
        if best < 0:
            return None
        return self.offset_for_timestamp(best)

    # -- log start offset and retention -------------------------------------------------

    def maybe_increment_log_start_offset(self, offset: int) -> bool:
        """Move the log start offset up to ``offset`` (DeleteRecords, or a follower taking
        its leader's); records below it can no longer be read. Segments wholly below it go
        with the next ``delete_old_segments``. Returns whether it moved. Raises
        OffsetOutOfRange beyond the log end (callers check the high watermark)."""
        if offset > self.log_end_offset:
            raise OffsetOutOfRange(offset, self._log_start_offset, self.log_end_offset)
        if offset <= self._log_start_offset:
            return False
        self._advance_log_start_offset(offset)
        return True

    def _advance_log_start_offset(self, offset: int) -> None:
        self._log_start_offset = offset
        # Kafka's rule: nothing below the log start needs recovery any more.
        self._recovery_point = max(self._recovery_point, offset)
        self.leader_epoch_cache.truncate_from_start(offset)

    def delete_old_segments(self, now_ms: int, high_watermark: int) -> list[LogSegment]:
        """Apply retention (see storage.retention): drop the oldest segments it selects,
        advance the log start offset to the first remaining segment, and rename the
        dropped segments' files ``.deleted``. Returns them; the caller removes their
        files after file.delete.delay.ms (until then their descriptors stay open)."""
        stats = [
            SegmentStats(s.base_offset, s.size, s.largest_timestamp_ms())
            for s in self._segments[:-1]
        ] + [SegmentStats(self.active_segment.base_offset, self.active_segment.size, -1)]
        count = deletable_segments(
            stats,
            self._config,
            now_ms=now_ms,
            log_start_offset=self._log_start_offset,
            high_watermark=high_watermark,
        )
        if count == 0:
            return []
        doomed = self._segments[:count]
        del self._segments[:count]
        start = self._segments[0].base_offset
        if start > self._log_start_offset:
            self._advance_log_start_offset(start)
        for segment in doomed:
            segment.rename_for_deletion()
        self._dir_dirty = True
        return doomed

    def replace_segments(self, cleaned: LogSegment, old: Sequence[LogSegment]) -> None:
        """Swap a cleaned segment (files suffixed ``.cleaned``, fsynced) in for the
        consecutive closed segments ``old`` it was made from, as Kafka's replaceSegments:
        rename it ``.swap``, rename the old files ``.deleted`` (readers holding them keep
        reading), rename ``.swap`` to the final names, then switch the segment list in one
        step. The caller schedules ``old`` for removal. Raises ValueError, changing
        nothing, if ``old`` is not a run of this log's closed segments."""
        ids = [id(s) for s in self._segments[:-1]]
        if not old or id(old[0]) not in ids:
            raise ValueError("the cleaned segments are no longer in the log")
        i = ids.index(id(old[0]))
        if ids[i : i + len(old)] != [id(s) for s in old] or cleaned.base_offset != old[0].base_offset:
            raise ValueError("the cleaned segments are no longer in the log")
        cleaned.change_file_suffix(SWAP_SUFFIX)
        fsync_dir(self._dir)
        for segment in old:
            segment.rename_for_deletion()
        cleaned.change_file_suffix("")
        self._segments[i : i + len(old)] = [cleaned]
        fsync_dir(self._dir)

    def truncate_fully_and_start_at(self, offset: int) -> None:
        """Drop everything and restart the log empty at ``offset`` (a follower whose leader
        no longer has the offsets it would fetch next: they fell below the leader's log
        start). Epoch history and producer state go with the data."""
        self.generation += 1
        self._truncate_fully_and_start_at(offset)
        self.leader_epoch_cache.clear_and_flush()
        self._recovery_point = offset
        self._dir_dirty = True
        self.producer_state.delete_snapshots_after(-1)
        self.producer_state.clear()

    # -- durability and lifecycle ------------------------------------------------------

    def _flush_later(self, up_to: int, snapshot: Path | None = None) -> None:
        """``flush(up_to)`` with the fsyncs on the flusher's thread (and the fsync of a
        producer ``snapshot``, written unsynced); the recovery point moves when they are
        done (``_harvest``). Without a flusher: ``flush`` now."""
        if self.flusher is None:
            self.flush(up_to)
            return
        self._harvest()
        target = min(up_to, self.log_end_offset)
        paths: list[Path] = []
        for segment in self._unflushed_segments(target):
            paths += segment.write_indexes()
        dir_too = self._dir_dirty
        if paths or dir_too or snapshot is not None:
            self._dir_dirty = False
            optional = [snapshot] if snapshot is not None else []
            job = self.flusher.submit(paths, self._dir if dir_too else None, optional)
            self._background.append((job, target, self.generation))
        self._last_flush_ms = self._clock.time_ms()

    def _harvest(self) -> None:
        """Advance the recovery point past the background flushes that are done, in order.
        One that failed (a file deleted meanwhile) or that a truncation overtook moves
        nothing; the next flush covers its range again."""
        while self._background and self._background[0][0].done():
            job, target, generation = self._background.pop(0)
            try:
                done = job.result()
            except OSError as exc:
                log.error("%s: background flush failed: %s", self._dir.name, exc)
                done = False
            if not done:
                self._dir_dirty = True
            elif generation == self.generation:
                self._recovery_point = max(self._recovery_point, min(target, self.log_end_offset))

    def flush(self, up_to: int | None = None) -> None:
        """fsync every segment holding offsets in [recovery_point, up_to) (default: the
        log end) and advance the recovery point to ``up_to``."""
        self._harvest()
        log_end = self.log_end_offset
        target = log_end if up_to is None else min(up_to, log_end)
        if target > self._recovery_point:
            for segment in self._unflushed_segments(target):
                segment.flush()
            self._recovery_point = target
        if self._dir_dirty:
            fsync_dir(self._dir)
            self._dir_dirty = False
        self._last_flush_ms = self._clock.time_ms()

    def _unflushed_segments(self, target: int) -> list[LogSegment]:
        """The segments holding offsets in [recovery_point, target)."""
        log_end = self.log_end_offset
        found = []
        for i, segment in enumerate(self._segments):
            end = self._segments[i + 1].base_offset if i + 1 < len(self._segments) else log_end
            if segment.base_offset < target and end > self._recovery_point:
                found.append(segment)
        return found

    def close_idle_files(self, now: float, idle_seconds: float) -> int:
        """Close the log files unused for ``idle_seconds``; returns how many were closed."""
        return sum(1 for segment in self._segments if segment.close_if_idle(now, idle_seconds))

    def release_files(self) -> int:
        """Close every open log file now (they reopen on use); returns how many."""
        return self.close_idle_files(math.inf, 0.0)

    def flush_if_due(self) -> bool:
        """Apply flush.ms: flush if it has passed since the last flush and data is unflushed."""
        now = self._clock.time_ms()
        if self.log_end_offset > self.recovery_point and not self._background and (
            now - self._last_flush_ms >= self._config.flush_ms
        ):  # (a background flush still running is not doubled)
            self._flush_later(self.log_end_offset)
            return True
        return False

    def close(self, *, sync: bool = True) -> None:
        """Snapshot the producer state at the log end (unless a snapshot there exists
        already: the state at an offset does not change, as Kafka skips it; older ones
        are left for the next start to remove), persist indexes, close files.
        ``sync=False``: without any fsync, for a stop that makes the whole filesystem
        durable next and then calls ``closed_durable``."""
        if self._closed:
            return
        end = self.log_end_offset
        if end not in self.producer_state.snapshot_offsets():
            self.producer_state.take_snapshot(end, sync=sync, prune=False)
        for segment in self._segments:
            segment.close(sync=sync)
        self._closed = True

    def closed_durable(self) -> None:
        """After ``close(sync=False)`` and a syncfs of the log's filesystem: everything
        up to the log end is on disk, so the recovery point moves there."""
        self._background.clear()
        self._dir_dirty = False
        self._recovery_point = self.log_end_offset

    def delete(self) -> None:
        """Close and remove every file of this log, and its directory."""
        for segment in self._segments:
            segment.delete()
        self._closed = True
        shutil.rmtree(self._dir, ignore_errors=True)

    def rename_dir(self, new_dir: Path) -> None:
        """Move the whole directory (as a delete does before removing it)."""
        self._dir.rename(new_dir)
        self._dir = new_dir
        self.producer_state.dir = new_dir
        self.leader_epoch_cache.dir = new_dir
        for segment in self._segments:
            segment.dir = new_dir

    def truncate_to(self, offset: int) -> None:
        """Remove every batch holding an offset >= ``offset`` (a batch boundary, as
        replication uses it; inside a batch the whole batch goes, so the log end may
        end up below ``offset``), the epochs that started there, and the producer state
        they made (rebuilt from a snapshot below the new end)."""
        if offset >= self.log_end_offset:
            return
        self.generation += 1
        if offset <= self._segments[0].base_offset:
            self._truncate_fully_and_start_at(max(offset, 0))
            self.leader_epoch_cache.clear_and_flush()
        else:
            while self._segments[-1].base_offset >= offset:
                self._segments.pop().delete()
            self.active_segment.truncate_to(offset)
            # After the data: a crash in between leaves extra epochs, cut at load.
            self.leader_epoch_cache.truncate_from_end(self.log_end_offset)
        log_end = self.log_end_offset
        self._log_start_offset = min(self._log_start_offset, log_end)
        self._recovery_point = min(self._recovery_point, log_end)
        self._dir_dirty = True
        self.producer_state.delete_snapshots_after(log_end)
        self._load_producer_state()

    def _truncate_fully_and_start_at(self, offset: int) -> None:
        for segment in self._segments:
            segment.delete()
        self._segments = [
            LogSegment.create(
                self._dir,
                offset,
                index_interval_bytes=self._config.index_interval_bytes,
                max_index_bytes=self._config.segment_index_bytes,
                now_ms=self._clock.time_ms(),
            )
        ]
        self._log_start_offset = offset

    def _load_producer_state(self) -> None:
        """Latest snapshot at or below the log end, then replay the batch headers after it."""
        start = self.producer_state.load(self._log_start_offset, self.log_end_offset)
        for header in self.headers_from(start):
            if header.last_offset >= start:
                self.producer_state.update(header, header.base_offset, header.max_timestamp)

    def __repr__(self) -> str:
        return (
            f"Log({self._dir.name}, start={self._log_start_offset}, "
            f"end={self.log_end_offset}, segments={len(self._segments)})"
        )


def _validate_replicated(
    records: bytes | bytearray | memoryview, log_end_offset: int
) -> list[ValidBatch]:
    """Whole, valid v2 batches (headers and CRC-32C only) starting at ``log_end_offset``
    with increasing offsets, each reachable from a segment based at its predecessor's
    end. Control batches are welcome here: the leader wrote them."""
    if len(records) == 0:
        raise ValueError("nothing to append")
    view = memoryview(records)
    try:
        batches = [
            ValidBatch(start, end, validate_batch(view[start:end]))
            for start, end in split_batches(view)
        ]
    except InvalidBatch as e:
        raise CorruptRecords(f"replicated records are invalid: {e}") from None
    if batches[0].header.base_offset != log_end_offset:
        raise UnexpectedAppendOffset(batches[0].header.base_offset, log_end_offset)
    next_offset = log_end_offset
    for b in batches:
        h = b.header
        if h.base_offset < next_offset:
            raise OffsetsOutOfOrder(
                f"batch at offset {h.base_offset} does not follow offset {next_offset - 1}"
            )
        if h.last_offset - next_offset > INT32_MAX:
            raise OffsetsOutOfOrder(f"offset gap before {h.base_offset} is too large")
        next_offset = h.next_offset
    return batches
