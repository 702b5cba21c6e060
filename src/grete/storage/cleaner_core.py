"""The log cleaner's decisions, without I/O: what is cleanable, what a batch keeps.

Kafka's rules (``LogCleanerManager.cleanableOffsets``, ``Cleaner.cleanInto``):

- The dirty section starts at the cleaner's checkpoint (else the log start offset) and
  ends before the first *uncleanable* segment: the active segment, the segment holding
  the high watermark, or the first segment holding a record newer than
  ``min.compaction.lag.ms``.
- A log is cleaned when its dirty bytes exceed ``min.cleanable.dirty.ratio`` of its
  non-active bytes, or at once when its oldest dirty batch is older than
  ``max.compaction.lag.ms`` (KIP-354), or when a delete horizon it holds has passed.
- A record survives when no later record in the dirty section has its key, or it lies
  past the section mapped in the offset map. A record without a key never survives.
- A tombstone (null value) gets a delete horizon (now + ``delete.retention.ms``) the
  first time it is cleaned (KIP-534: the batch's ``base_timestamp`` holds it, attribute
  bit 6 says so) and is dropped by the first cleaning after the horizon.
- A batch that lost every record is dropped, except the last batch of a producer still
  in the producer state (kept empty, so its sequence and epoch survive) and the last
  batch of a cleaning group (kept empty so that the group's end offset survives; see
  docs/behaviour.md, "Compaction"). Control batches are kept as they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from grete.records.batch import BatchHeader, read_header
from grete.records.compaction import empty_batch, read_raw_records, rebuild_batch
from grete.storage.types import LogConfig

NO_DELETE_HORIZON = 2**63 - 1
OFFSET_MAP_ENTRY_BYTES = 24  # Kafka's map: a 16-byte MD5 of the key and an 8-byte offset
OFFSET_MAP_LOAD_FACTOR = 0.9  # log.cleaner.io.buffer.load.factor


class OffsetMap:
    """Latest offset of each key in the dirty section, bounded like Kafka's dedupe buffer.

    Keys are kept whole (Kafka keeps a hash), so two keys never collide; the capacity
    is the number of entries Kafka's buffer of the same size holds.
    """

    def __init__(self, buffer_bytes: int) -> None:
        self.capacity = max(1, int(buffer_bytes // OFFSET_MAP_ENTRY_BYTES * OFFSET_MAP_LOAD_FACTOR))
        self._offsets: dict[bytes, int] = {}
        self.latest_offset = -1  # the last offset the map covers

    def __len__(self) -> int:
        return len(self._offsets)

    @property
    def full(self) -> bool:
        return len(self._offsets) >= self.capacity

    def put(self, key: bytes, offset: int) -> None:
        self._offsets[key] = offset

    def get(self, key: bytes) -> int:
        return self._offsets.get(key, -1)

    def update_latest_offset(self, offset: int) -> None:
        self.latest_offset = max(self.latest_offset, offset)


def map_batch(batch: bytes, offset_map: OffsetMap, start_offset: int) -> bool:
    """Add one batch's keyed records at or after ``start_offset`` to the map. Returns
    False (mapping nothing of this batch) when the map cannot take all of them."""
    header = read_header(batch)
    if header.is_control or header.records_count == 0:
        offset_map.update_latest_offset(header.last_offset)
        return True
    _, records = read_raw_records(batch)
    keys = [(r.key, r.offset) for r in records if r.key is not None and r.offset >= start_offset]
    if len(offset_map) + len(keys) > offset_map.capacity and len(offset_map) > 0:
        return False
    for key, offset in keys:
        offset_map.put(key, offset)
    offset_map.update_latest_offset(header.last_offset)
    return True


@dataclass(frozen=True, slots=True)
class BatchFilter:
    """What cleaning one batch depends on, besides the batch."""

    offset_map: OffsetMap
    now_ms: int
    delete_retention_ms: int
    producer_last_offsets: Mapping[int, int]  # producer id -> last offset of its last batch
    group_end_offset: int  # batches ending here are kept, even empty


@dataclass(frozen=True, slots=True)
class CleanedBatch:
    """The batch as written to the cleaned segment (None: dropped) and its delete horizon."""

    data: bytes | None
    header: BatchHeader | None
    delete_horizon_ms: int | None
    records_kept: int


def clean_batch(batch: bytes, f: BatchFilter) -> CleanedBatch:
    """Apply the cleaner's rules (see the module docstring) to one batch."""
    header = read_header(batch)
    if header.is_control:
        return CleanedBatch(batch, header, header.delete_horizon_ms, header.records_count)
    retain_empty = header.next_offset == f.group_end_offset or (
        header.has_producer_id and f.producer_last_offsets.get(header.producer_id) == header.last_offset
    )
    _, records = read_raw_records(batch) if header.records_count else (header, [])
    horizon = header.delete_horizon_ms
    kept = [r for r in records if _retain(r.offset, r.key, r.has_value, horizon, f)]
    tombstones = any(not r.has_value for r in kept)
    if tombstones and horizon is None:
        horizon = f.now_ms + f.delete_retention_ms
        data = rebuild_batch(header, kept, delete_horizon_ms=horizon)
    elif len(kept) == len(records) and records:
        data = batch
    elif kept:
        data = rebuild_batch(header, kept, delete_horizon_ms=horizon)
    elif retain_empty:
        data = empty_batch(header)
    else:
        return CleanedBatch(None, None, None, 0)
    return CleanedBatch(
        data, read_header(data), horizon if tombstones else None, len(kept)
    )


def _retain(
    offset: int, key: bytes | None, has_value: bool, horizon: int | None, f: BatchFilter
) -> bool:
    if offset > f.offset_map.latest_offset:
        return True
    if key is None:
        return False
    if offset < f.offset_map.get(key):
        return False
    return has_value or horizon is None or f.now_ms < horizon


# -- which logs, which segments --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """What the cleaner's choices need of one segment."""

    base_offset: int
    size: int
    index_bytes: int
    largest_timestamp_ms: int  # -1 when no record carries one
    first_batch_timestamp_ms: int  # -1 when empty or no timestamp


@dataclass(frozen=True, slots=True)
class CleanableRange:
    """A log's dirty section [first_dirty_offset, first_uncleanable_offset) and its ratio."""

    first_dirty_offset: int
    first_uncleanable_offset: int
    clean_bytes: int
    cleanable_bytes: int
    must_compact_now: bool  # max.compaction.lag.ms has passed for the oldest dirty batch

    @property
    def ratio(self) -> float:
        total = self.clean_bytes + self.cleanable_bytes
        return self.cleanable_bytes / total if total else 0.0

    def should_clean(self, config: LogConfig) -> bool:
        if self.cleanable_bytes <= 0:
            return False
        return self.must_compact_now or self.ratio > config.min_cleanable_dirty_ratio


def cleanable_range(
    segments: Sequence[SegmentInfo],
    config: LogConfig,
    *,
    checkpoint: int | None,
    log_start_offset: int,
    log_end_offset: int,
    high_watermark: int,
    now_ms: int,
) -> CleanableRange:
    """Kafka's ``cleanableOffsets`` for one log (``segments`` ordered, the last active)."""
    first_dirty = checkpoint if checkpoint is not None else log_start_offset
    if not log_start_offset <= first_dirty <= log_end_offset:
        first_dirty = log_start_offset  # reset, as Kafka does for an out-of-range checkpoint
    bases = [s.base_offset for s in segments]
    uncleanable = min(bases[-1], high_watermark)
    dirty = [s for i, s in enumerate(segments[:-1]) if _end(bases, i, log_end_offset) > first_dirty]
    if config.min_compaction_lag_ms > 0:
        for s in dirty:
            if s.largest_timestamp_ms > now_ms - config.min_compaction_lag_ms:
                uncleanable = min(uncleanable, s.base_offset)
                break
    # Whole segments only: the segment holding the uncleanable offset is not cleaned.
    first_uncleanable = max(
        (b for b in bases if b <= uncleanable), default=bases[0]
    )
    first_uncleanable = max(first_uncleanable, first_dirty)
    cleanable = [s for s in dirty if s.base_offset < first_uncleanable]
    clean = [
        s for i, s in enumerate(segments[:-1]) if _end(bases, i, log_end_offset) <= first_dirty
    ]
    must = False
    if config.max_compaction_lag_ms < 2**63 - 1 and cleanable:
        first_ts = cleanable[0].first_batch_timestamp_ms
        must = first_ts >= 0 and now_ms - first_ts > config.max_compaction_lag_ms
    return CleanableRange(
        first_dirty, first_uncleanable, sum(s.size for s in clean),
        sum(s.size for s in cleanable), must,
    )


def _end(bases: Sequence[int], i: int, log_end_offset: int) -> int:
    return bases[i + 1] if i + 1 < len(bases) else log_end_offset


def group_segments(
    segments: Sequence[SegmentInfo], *, max_size: int, max_index_bytes: int, end_offset: int
) -> list[list[SegmentInfo]]:
    """Kafka's ``groupSegmentsBySize``: consecutive segments whose log bytes and index
    bytes each fit one segment, and whose offsets fit one segment's 32-bit range."""
    groups: list[list[SegmentInfo]] = []
    i = 0
    while i < len(segments):
        group = [segments[i]]
        size, index = segments[i].size, segments[i].index_bytes
        i += 1
        while i < len(segments):
            nxt = segments[i]
            last_offset = (segments[i + 1].base_offset if i + 1 < len(segments) else end_offset) - 1
            if (
                size + nxt.size > max_size
                or index + nxt.index_bytes > max_index_bytes
                or (nxt.size and last_offset - group[0].base_offset > 2**31 - 1)
            ):
                break
            group.append(nxt)
            size += nxt.size
            index += nxt.index_bytes
            i += 1
        groups.append(group)
    return groups
