"""The log cleaner's scheduling: which log to clean, the worker thread, the swap.

Kafka's ``LogCleaner`` and ``LogCleanerManager`` for one log directory. Every
``log.cleaner.backoff.ms`` (at once again after a cleaning) the cleaner picks the
compacted log with the highest dirty ratio above its ``min.cleanable.dirty.ratio`` (or
one past ``max.compaction.lag.ms``, or one whose tombstones' delete horizon has passed),
cleans it in a worker process (``storage.cleaner``, ``storage.cleaner_process``), then,
back on the event loop, swaps the cleaned segments in and writes
``cleaner-offset-checkpoint``: the first offset not yet cleaned, per partition. Appends and fetches go on meanwhile; the cleaner only
reads closed segments, through its own file descriptors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from grete.clock import Clock
from grete.storage.checkpoint import (
    CorruptCheckpoint,
    PartitionKey,
    read_checkpoint,
    write_checkpoint,
)
from grete.storage.cleaner import (
    CleaningAborted,
    CleaningJob,
    CleaningResult,
    SourceSegment,
    delete_cleaned,
)
from grete.storage.cleaner_core import CleanableRange, SegmentInfo, cleanable_range
from grete.storage.cleaner_process import CleanerProcess
from grete.storage.log import Log
from grete.storage.log_manager import LogManager
from grete.storage.segment import CLEANED_SUFFIX, LOG_SUFFIX, LogSegment, segment_path

log = logging.getLogger(__name__)

CLEANER_OFFSET_CHECKPOINT = "cleaner-offset-checkpoint"

# A compacted log this broker hosts and its high watermark (nothing above it is cleaned).
Candidate = tuple[PartitionKey, Log, int]


@dataclass(frozen=True, slots=True)
class CleanerConfig:
    """The broker's log.cleaner.* settings."""

    enable: bool = True
    threads: int = 1
    backoff_ms: int = 15000
    io_max_bytes_per_second: float = 1.7976931348623157e308
    dedupe_buffer_size: int = 128 * 1024 * 1024


class LogCleaner:
    """Cleans compacted logs, one at a time, off the event loop.

    ``run`` is the background task; everything but ``storage.cleaner.run_cleaning`` (in the
    worker process) runs on the event loop. ``passes`` counts finished cleanings (for tests
    and logs).
    """

    def __init__(
        self,
        logs: LogManager,
        config: CleanerConfig,
        clock: Clock,
        candidates: Callable[[], Iterable[Candidate]],
    ) -> None:
        self._logs = logs
        self._config = config
        self._clock = clock
        self._candidates = candidates
        self._path = logs.log_dir / CLEANER_OFFSET_CHECKPOINT
        self._checkpoints: dict[PartitionKey, int] = _read_or_empty(self._path)
        self._horizons: dict[PartitionKey, int] = {}
        self.worker = CleanerProcess(config.io_max_bytes_per_second)
        self._work: asyncio.Future[CleaningResult] | None = None
        self._work_dir: Path | None = None  # the log directory the work writes in
        self.passes = 0

    async def run(self) -> None:
        """Clean until cancelled; a cancellation aborts the worker and waits for it."""
        try:
            while True:
                try:
                    cleaned = await self.clean_filthiest()
                except Exception:  # a dead cleaner would stop compaction for good
                    log.exception("log cleaning failed; retrying after log.cleaner.backoff.ms")
                    cleaned = False
                if not cleaned:
                    await asyncio.sleep(self._config.backoff_ms / 1000.0)
        finally:
            self.worker.request_stop()
            work = self._work
            if work is not None and not work.done():
                with contextlib.suppress(BaseException):
                    await work
            if work is not None and self._work_dir is not None:
                _discard_unswapped(work, self._work_dir)
            await self.worker.close()

    async def clean_filthiest(self) -> bool:
        """Clean the log that needs it most, if any; True if one was cleaned."""
        chosen = self._choose()
        if chosen is None:
            return False
        (key, lg, _), rng = chosen
        job, sources = self._job(lg, rng)
        generation = lg.generation
        self._work = work = asyncio.ensure_future(self.worker.clean(job))
        self._work_dir = job.dir
        try:
            result = await asyncio.shield(work)
        except CleaningAborted:
            return False
        except asyncio.CancelledError:
            if work.done():  # finished as the broker stopped: it is never swapped in
                _discard_unswapped(work, job.dir)
                self._work = None
            raise
        finally:
            if self._work is not None and self._work.done():
                self._work = None
        self._swap(key, lg, generation, sources, result)
        return True

    # -- choosing --------------------------------------------------------------------

    def _choose(self) -> tuple[Candidate, CleanableRange] | None:
        now = self._clock.time_ms()
        best: tuple[Candidate, CleanableRange] | None = None
        expired: tuple[Candidate, CleanableRange] | None = None
        for candidate in self._candidates():
            key, lg, high_watermark = candidate
            if lg.num_segments < 2:
                continue
            rng = cleanable_range(
                [_info(s, lg) for s in lg.segments],
                lg.config,
                checkpoint=self._checkpoints.get(key),
                log_start_offset=lg.log_start_offset,
                log_end_offset=lg.log_end_offset,
                high_watermark=high_watermark,
                now_ms=now,
            )
            if rng.should_clean(lg.config) and (best is None or rng.ratio > best[1].ratio):
                best = (candidate, rng)
            elif self._horizons.get(key, 2**63) <= now and expired is None:
                expired = (candidate, rng)
        return best or expired

    def _job(self, lg: Log, rng: CleanableRange) -> tuple[CleaningJob, dict[int, LogSegment]]:
        closed = [s for s in lg.segments[:-1] if s.base_offset < rng.first_uncleanable_offset]
        bases = [s.base_offset for s in lg.segments]
        sources = []
        for i, segment in enumerate(closed):
            path = segment_path(lg.dir, segment.base_offset, LOG_SUFFIX)
            sources.append(SourceSegment(_info(segment, lg), path, bases[i + 1], os.stat(path).st_mtime_ns))
        producers = {
            pid: entry.batches[-1].last_offset
            for pid, entry in lg.producer_state.producers.items()
            if entry.batches
        }
        job = CleaningJob(
            lg.dir, lg.config, tuple(sources), rng.first_dirty_offset,
            rng.first_uncleanable_offset, self._clock.time_ms(), producers,
            self._config.dedupe_buffer_size // max(self._config.threads, 1),
        )
        return job, {s.base_offset: s for s in closed}

    # -- swapping --------------------------------------------------------------------

    def _swap(
        self,
        key: PartitionKey,
        lg: Log,
        generation: int,
        sources: dict[int, LogSegment],
        result: CleaningResult,
    ) -> None:
        """Put the cleaned segments in (or throw them away if the log changed meanwhile)."""
        still_there = self._logs.get(*key) is lg and lg.generation == generation
        swapped = 0
        for group in result.groups:
            if not still_there:
                delete_cleaned(lg.dir, group.base_offset)
                continue
            cleaned = LogSegment.open(
                lg.dir, group.base_offset,
                index_interval_bytes=lg.config.index_interval_bytes,
                max_index_bytes=lg.config.segment_index_bytes,
                now_ms=self._clock.time_ms(),
                file_suffix=CLEANED_SUFFIX,
            )
            old = [sources[b] for b in group.replaces]
            try:
                lg.replace_segments(cleaned, old)
            except ValueError:  # retention or DeleteRecords removed some meanwhile
                still_there = False
                cleaned.delete()
                continue
            self._logs.deletions.schedule(old, self._clock.time_ms() + lg.config.file_delete_delay_ms)
            swapped += 1
        if not still_there:
            log.info("%s: the log changed while it was cleaned; cleaning again later", lg.dir.name)
            return
        self._checkpoints[key] = result.end_offset
        if result.delete_horizon_ms is not None:
            self._horizons[key] = result.delete_horizon_ms
        else:
            self._horizons.pop(key, None)
        self._write_checkpoint()
        self.passes += 1
        log.info(
            "%s: cleaned up to offset %d: %d segment group(s), read %d bytes, wrote %d bytes",
            lg.dir.name, result.end_offset, swapped, result.bytes_read, result.bytes_written,
        )

    def _write_checkpoint(self) -> None:
        hosted = self._logs.all_logs()
        self._checkpoints = {k: v for k, v in self._checkpoints.items() if k in hosted}
        write_checkpoint(self._path, self._checkpoints)


def _info(segment: LogSegment, lg: Log) -> SegmentInfo:
    first_ts = -1
    if lg.config.max_compaction_lag_ms < 2**63 - 1 and segment.size:
        first = next(iter(segment.headers(0)), None)
        first_ts = first.header.max_timestamp if first is not None else -1
    return SegmentInfo(
        segment.base_offset,
        segment.size,
        segment.offset_index.size_bytes,
        segment.max_timestamp.timestamp,
        first_ts,
    )


def _read_or_empty(path: Path) -> dict[PartitionKey, int]:
    try:
        return read_checkpoint(path)
    except CorruptCheckpoint as e:  # clean each log again from its start
        log.warning("ignoring %s: %s", path, e)
        return {}


def _discard_unswapped(work: asyncio.Future[CleaningResult], dir: Path) -> None:
    """Remove the ``.cleaned`` files of a cleaning that finished but will not be swapped in
    (the broker is stopping); an aborted or failed one removed its own."""
    if work.cancelled() or work.exception() is not None:
        return
    for group in work.result().groups:
        delete_cleaned(dir, group.base_offset)
