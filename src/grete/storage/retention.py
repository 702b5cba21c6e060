"""Retention: which old segments go, and the queue of deleted segments awaiting removal.

Kafka's rules (``UnifiedLog.deleteOldSegments``): whole segments only, oldest first,
never the active segment, and never a segment holding offsets at or above the high
watermark. A segment goes when any of these holds for it and every older segment:

- it lies wholly below the log start offset (DeleteRecords, or a follower that took
  its leader's start offset), whatever the cleanup policy;
- with ``cleanup.policy`` containing ``delete``: dropping it still leaves the log at
  least ``retention.bytes`` large;
- with ``cleanup.policy`` containing ``delete``: its largest record timestamp is more
  than ``retention.ms`` old.

A deleted segment's files are renamed ``.deleted`` at once and removed
``file.delete.delay.ms`` later, so a reader that already holds the segment keeps
reading a file that still exists (its descriptor stays open until removal).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from grete.storage.segment import LogSegment
from grete.storage.types import LogConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SegmentStats:
    """What retention needs of one segment."""

    base_offset: int
    size: int
    largest_timestamp_ms: int  # the largest record timestamp, else the file's mtime


def deletable_segments(
    segments: Sequence[SegmentStats],
    config: LogConfig,
    *,
    now_ms: int,
    log_start_offset: int,
    high_watermark: int,
) -> int:
    """How many of the oldest ``segments`` (ordered by base offset, the last one active)
    retention deletes now. Pure: no I/O."""
    # Candidates: not the active segment, and wholly below the high watermark.
    candidates = 0
    while candidates + 1 < len(segments) and segments[candidates + 1].base_offset <= high_watermark:
        candidates += 1
    count = 0
    while count < candidates and segments[count + 1].base_offset <= log_start_offset:
        count += 1
    if not config.delete:
        return count
    if config.retention_bytes >= 0:
        excess = sum(s.size for s in segments) - config.retention_bytes
        by_size = 0
        while by_size < candidates and excess - segments[by_size].size >= 0:
            excess -= segments[by_size].size
            by_size += 1
        count = max(count, by_size)
    if config.retention_ms >= 0:
        by_time = 0
        while (
            by_time < candidates
            and now_ms - segments[by_time].largest_timestamp_ms > config.retention_ms
        ):
            by_time += 1
        count = max(count, by_time)
    return count


class SegmentDeletionQueue:
    """Segments renamed ``.deleted``, each waiting for its removal time (ms since epoch).

    Not thread-safe; event loop only. ``scheduled`` is set whenever a segment is added,
    so the task that removes files can recompute how long to sleep.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, LogSegment]] = []
        self._sequence = itertools.count()
        self.scheduled = asyncio.Event()

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, segments: Sequence[LogSegment], due_ms: int) -> None:
        for segment in segments:
            heapq.heappush(self._heap, (due_ms, next(self._sequence), segment))
        if segments:
            self.scheduled.set()

    def ms_until_next(self, now_ms: int) -> int | None:
        """Milliseconds until the earliest removal is due (0 if overdue); None if empty."""
        if not self._heap:
            return None
        return max(self._heap[0][0] - now_ms, 0)

    def pop_due(self, now_ms: int) -> list[LogSegment]:
        due = []
        while self._heap and self._heap[0][0] <= now_ms:
            due.append(heapq.heappop(self._heap)[2])
        return due

    def pop_all(self) -> list[LogSegment]:
        doomed = [entry[2] for entry in sorted(self._heap)]
        self._heap.clear()
        return doomed


def remove_segment_files(segments: Sequence[LogSegment]) -> None:
    """Close and unlink the (``.deleted``) files of segments no log holds any more. Safe
    to run on a worker thread: nothing else uses these segments once they are due."""
    for segment in segments:
        try:
            segment.delete()
        except OSError as exc:  # a leftover .deleted file is removed at the next start-up
            log.warning(
                "cannot remove the files of deleted %s in %s: %s", segment, segment.dir, exc
            )
