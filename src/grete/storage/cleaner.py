"""One cleaning of one log, in the cleaner's worker process: Kafka's ``Cleaner.doClean``.

The worker opens the closed segments itself, builds the offset map of the dirty
section, then writes each group of segments into one new segment named
``<base>.log.cleaned`` (with its indexes), fsynced. It never touches the ``Log``
(which lives in the broker process): the swap into the log happens later on the event
loop
(``Log.replace_segments``), which renames ``.cleaned`` to ``.swap``, the old
segments to ``.deleted``, then ``.swap`` to the final names. A crash at any point
recovers to the old or the new segments (``log_loader.remove_stray_files``).

Reads and writes go through a ``Throttler`` (log.cleaner.io.max.bytes.per.second);
``stop`` aborts the work between two batches. ``storage.cleaner_process`` runs this
in a separate process, so that cleaning never holds the broker's GIL.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from grete.storage.cleaner_core import (
    BatchFilter,
    OffsetMap,
    SegmentInfo,
    clean_batch,
    group_segments,
    map_batch,
)
from grete.storage.file_scan import BatchScanner
from grete.storage.fsutil import fsync_dir
from grete.storage.segment import (
    CLEANED_SUFFIX,
    INDEX_SUFFIX,
    LOG_SUFFIX,
    TIME_INDEX_SUFFIX,
    AppendedBatch,
    LogSegment,
    segment_path,
)
from grete.storage.types import LogConfig

_WRITE_CHUNK = 1024 * 1024


class CleaningAborted(Exception):
    """The broker is stopping (or the log changed under the cleaner): nothing swapped."""


class StopFlag(Protocol):
    """A threading or multiprocessing Event."""

    def is_set(self) -> bool: ...
    def wait(self, timeout: float | None = None) -> bool: ...


class Throttler:
    """Keeps the bytes passed to ``maybe_throttle`` at or below ``bytes_per_second`` by
    sleeping (Kafka's Throttler). Thread-safe enough for one worker; ``stop`` cuts sleeps."""

    def __init__(self, bytes_per_second: float, stop: StopFlag) -> None:
        self.bytes_per_second = bytes_per_second
        self._stop = stop
        self._start = time.monotonic()
        self._bytes = 0.0

    def maybe_throttle(self, size: int) -> None:
        if self._stop.is_set():
            raise CleaningAborted("the cleaner is stopping")
        if self.bytes_per_second >= 1e300:
            return
        self._bytes += size
        elapsed = time.monotonic() - self._start
        due = self._bytes / self.bytes_per_second
        if due > elapsed and self._stop.wait(due - elapsed):
            raise CleaningAborted("the cleaner is stopping")
        if elapsed > 1.0:  # a sliding window, so an idle spell does not buy a burst
            self._start, self._bytes = time.monotonic(), 0.0


@dataclass(frozen=True, slots=True)
class SourceSegment:
    """A closed segment as the worker sees it: its log file, a frozen size."""

    info: SegmentInfo
    path: Path  # the .log file
    end_offset: int  # the next segment's base offset
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class CleaningJob:
    dir: Path
    config: LogConfig
    segments: tuple[SourceSegment, ...]  # every segment below first_uncleanable_offset
    first_dirty_offset: int
    first_uncleanable_offset: int
    now_ms: int
    producer_last_offsets: Mapping[int, int]
    dedupe_buffer_bytes: int


@dataclass(frozen=True, slots=True)
class CleanedGroup:
    """A cleaned segment written as ``<base_offset>.*.cleaned`` (closed, fsynced), and the
    base offsets of the segments it replaces."""

    base_offset: int
    replaces: tuple[int, ...]


@dataclass(slots=True)
class CleaningResult:
    """What a cleaning wrote: plain data, so that it crosses a process boundary."""

    groups: list[CleanedGroup] = field(default_factory=list)
    end_offset: int = 0  # the new cleaner checkpoint: first offset not cleaned
    delete_horizon_ms: int | None = None  # earliest horizon of a kept tombstone
    bytes_read: int = 0
    bytes_written: int = 0


def run_cleaning(job: CleaningJob, throttler: Throttler) -> CleaningResult:
    """Build the offset map, then write the cleaned groups. Raises CleaningAborted (also
    when a segment was deleted meanwhile); on any error the ``.cleaned`` files written
    so far are removed."""
    fds: dict[int, int] = {}
    try:
        for source in job.segments:
            try:
                fds[source.info.base_offset] = os.open(source.path, os.O_RDONLY)
            except FileNotFoundError:
                raise CleaningAborted(f"{source.path.name} was deleted meanwhile") from None
        return _run(job, fds, throttler)
    finally:
        for fd in fds.values():
            os.close(fd)


def _run(job: CleaningJob, fds: Mapping[int, int], throttler: Throttler) -> CleaningResult:
    result = CleaningResult()
    offset_map = _build_offset_map(job, fds, throttler, result)
    result.end_offset = offset_map.latest_offset + 1
    to_clean = [s for s in job.segments if s.info.base_offset < result.end_offset]
    groups = group_segments(
        [s.info for s in to_clean],
        max_size=job.config.segment_bytes,
        max_index_bytes=job.config.segment_index_bytes,
        end_offset=result.end_offset,
    )
    by_base = {s.info.base_offset: s for s in to_clean}
    try:
        for infos in groups:
            sources = [by_base[info.base_offset] for info in infos]
            cleaned = _clean_group(job, sources, fds, offset_map, throttler, result)
            result.groups.append(CleanedGroup(cleaned.base_offset, tuple(s.info.base_offset for s in sources)))
        fsync_dir(job.dir)
    except BaseException:
        for done in result.groups:
            delete_cleaned(job.dir, done.base_offset)
        raise
    return result


def delete_cleaned(dir: Path, base_offset: int) -> None:
    """Remove one cleaned segment's files (a cleaning thrown away)."""
    for suffix in (LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX):
        segment_path(dir, base_offset, suffix + CLEANED_SUFFIX).unlink(missing_ok=True)


def _build_offset_map(
    job: CleaningJob, fds: Mapping[int, int], throttler: Throttler, result: CleaningResult
) -> OffsetMap:
    offset_map = OffsetMap(job.dedupe_buffer_bytes)
    offset_map.latest_offset = job.first_dirty_offset - 1
    for source in job.segments:
        if source.end_offset <= job.first_dirty_offset:
            continue
        if source.info.base_offset >= job.first_uncleanable_offset:
            break
        for batch in BatchScanner(fds[source.info.base_offset], 0, source.info.size, full=True):
            throttler.maybe_throttle(batch.header.size)
            result.bytes_read += batch.header.size
            if batch.header.last_offset < job.first_dirty_offset:
                continue
            if not map_batch(bytes(batch.data), offset_map, job.first_dirty_offset):
                return offset_map  # full: the rest waits for the next cleaning
        # Offsets the segment skips (a gap left by an earlier cleaning) are covered too.
        offset_map.update_latest_offset(source.end_offset - 1)
    return offset_map


def _clean_group(
    job: CleaningJob,
    sources: Sequence[SourceSegment],
    fds: Mapping[int, int],
    offset_map: OffsetMap,
    throttler: Throttler,
    result: CleaningResult,
) -> LogSegment:
    cleaned = LogSegment.create(
        job.dir,
        sources[0].info.base_offset,
        index_interval_bytes=job.config.index_interval_bytes,
        max_index_bytes=job.config.segment_index_bytes,
        now_ms=job.now_ms,
        file_suffix=CLEANED_SUFFIX,
    )
    try:
        f = BatchFilter(
            offset_map, job.now_ms, job.config.delete_retention_ms, job.producer_last_offsets,
            group_end_offset=min(sources[-1].end_offset, result.end_offset),
        )
        writer = _ChunkWriter(cleaned, job.now_ms, throttler, result)
        for source in sources:
            for batch in BatchScanner(fds[source.info.base_offset], 0, source.info.size, full=True):
                throttler.maybe_throttle(batch.header.size)
                result.bytes_read += batch.header.size
                out = clean_batch(bytes(batch.data), f)
                if out.data is None or out.header is None:
                    continue
                if out.delete_horizon_ms is not None:
                    result.delete_horizon_ms = min(
                        out.delete_horizon_ms, result.delete_horizon_ms or out.delete_horizon_ms
                    )
                writer.add(out.data, out.header.last_offset, out.header.max_timestamp)
        writer.flush()
        # Keep the last old segment's modification time, as Kafka does (time retention
        # falls back on it when records carry no timestamp).
        last = sources[-1].mtime_ns
        os.utime(cleaned.fd, ns=(last, last))
        cleaned.close()  # sealed (the last time-index entry), fsynced with its indexes
    except BaseException:
        cleaned.delete()
        raise
    return cleaned


class _ChunkWriter:
    """Appends cleaned batches to the new segment about a megabyte at a time."""

    def __init__(
        self, segment: LogSegment, now_ms: int, throttler: Throttler, result: CleaningResult
    ) -> None:
        self._segment = segment
        self._now_ms = now_ms
        self._throttler = throttler
        self._result = result
        self._pending: list[bytes] = []
        self._appended: list[AppendedBatch] = []
        self._bytes = 0

    def add(self, data: bytes, last_offset: int, max_timestamp: int) -> None:
        self._pending.append(data)
        self._appended.append(AppendedBatch(last_offset, max_timestamp, len(data)))
        self._bytes += len(data)
        if self._bytes >= _WRITE_CHUNK:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._segment.append(data, self._appended, self._now_ms)
        self._throttler.maybe_throttle(len(data))
        self._result.bytes_written += len(data)
        self._pending, self._appended, self._bytes = [], [], 0
