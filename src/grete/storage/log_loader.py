"""Loading a partition directory: stray files, segments, indexes, recovery.

Kafka's rule: everything from the recovery point on may be torn or unwritten, so
it is validated batch by batch (framing and CRC-32C) and cut at the first bad batch;
what lies before the recovery point was fsynced and is trusted. The active segment's
end is always walked cheaply, so a file cut mid-batch is trimmed whatever the
recovery point says.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from grete.storage.fsutil import fsync_dir
from grete.storage.index import CorruptIndex
from grete.storage.leader_epoch import (
    CorruptLeaderEpochCheckpoint,
    LeaderEpochCache,
    read_leader_epoch_checkpoint,
)
from grete.storage.segment import (
    CLEANED_SUFFIX,
    DELETED_SUFFIX,
    INDEX_SUFFIX,
    LOG_SUFFIX,
    SWAP_SUFFIX,
    TIME_INDEX_SUFFIX,
    LogSegment,
)
from grete.storage.types import EpochEntry, LogConfig

log = logging.getLogger(__name__)

# Leftovers of interrupted deletions or atomic writes.
STRAY_SUFFIXES = (DELETED_SUFFIX, ".tmp")
_STRAY_CANDIDATES = (*STRAY_SUFFIXES, CLEANED_SUFFIX, SWAP_SUFFIX)
_SEGMENT_FILE_SUFFIXES = (LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX)


@dataclass(frozen=True, slots=True)
class LoadedSegments:
    segments: list[LogSegment]
    recovered: bool  # some segment was validated (the caller flushes before trusting it)


def remove_stray_files(dir: Path) -> list[int]:
    """Remove what an interrupted deletion, write or cleaning left, and return the base
    offsets of the ``.log.swap`` files that must replace the segments they were cleaned
    from (Kafka's ``removeTempFilesAndCollectSwapFiles``).

    The cleaner renames a cleaned segment's files ``.cleaned`` -> ``.swap`` (log file
    last) only once they are complete and fsynced, so: every ``.cleaned`` file goes, and
    so does every ``.swap`` file whose base offset is at or above the lowest ``.cleaned``
    one (its renaming was cut short). Index ``.swap`` files go too: ``complete_swaps``
    rebuilds the indexes of the swap segments it keeps."""
    cleaned: list[Path] = []
    swaps: list[Path] = []
    with os.scandir(dir) as entries:  # no stat per file: the directory entry's type
        files = [Path(e.path) for e in entries if e.name.endswith(_STRAY_CANDIDATES) and e.is_file()]
    for path in files:
        if path.name.endswith(STRAY_SUFFIXES):
            log.info("deleting stray file %s", path)
            path.unlink(missing_ok=True)
        elif path.name.endswith(CLEANED_SUFFIX):
            cleaned.append(path)
        elif path.name.endswith(SWAP_SUFFIX):
            swaps.append(path)
    min_cleaned = min((_file_offset(p) for p in cleaned), default=2**63)
    for path in cleaned:
        log.info("deleting unfinished cleaned file %s", path)
        path.unlink(missing_ok=True)
    bases = []
    for path in swaps:
        if path.name.endswith(LOG_SUFFIX + SWAP_SUFFIX) and _file_offset(path) < min_cleaned:
            bases.append(_file_offset(path))
        else:
            path.unlink(missing_ok=True)
    return sorted(bases)


def _file_offset(path: Path) -> int:
    stem = path.name.split(".", 1)[0]
    return int(stem) if stem.isdigit() else 2**63


@dataclass(frozen=True, slots=True)
class _SegmentOptions:
    index_interval_bytes: int
    max_index_bytes: int
    now_ms: int

    def open(self, dir: Path, base: int, file_suffix: str = "") -> LogSegment:
        return LogSegment.open(
            dir, base, index_interval_bytes=self.index_interval_bytes,
            max_index_bytes=self.max_index_bytes, now_ms=self.now_ms, file_suffix=file_suffix,
        )

    def create(self, dir: Path, base: int) -> LogSegment:
        return LogSegment.create(
            dir, base, index_interval_bytes=self.index_interval_bytes,
            max_index_bytes=self.max_index_bytes, now_ms=self.now_ms,
        )


def complete_swaps(dir: Path, swap_bases: list[int], opts: _SegmentOptions) -> None:
    """Finish swaps a crash interrupted (Kafka's LogLoader): recover each ``.log.swap``
    segment, delete the segments it replaces (those based in [its base, its end)), then
    give it its final names. The swap was complete on disk, so the log ends up with the
    new segments; ``remove_stray_files`` already removed every unfinished one."""
    for base in swap_bases:
        swap = opts.open(dir, base, SWAP_SUFFIX)
        swap.recover()
        end = swap.next_offset
        for old in segment_base_offsets(dir):
            if base <= old < end:
                for suffix in _SEGMENT_FILE_SUFFIXES:
                    segment_path_of(dir, old, suffix).unlink(missing_ok=True)
        for suffix in (INDEX_SUFFIX, TIME_INDEX_SUFFIX):  # new indexes renamed before a crash
            segment_path_of(dir, base, suffix).unlink(missing_ok=True)
        swap.close()  # seals and writes its rebuilt indexes (still .swap), fsynced
        swap.change_file_suffix("")
        log.warning("%s: completed the swap of cleaned segment %d (up to offset %d)", dir, base, end)
    if swap_bases:
        fsync_dir(dir)


def segment_path_of(dir: Path, base_offset: int, suffix: str) -> Path:
    return dir / f"{base_offset:020d}{suffix}"


def _name_offset(name: str, suffix: str) -> int | None:
    """The base offset a ``<20 digits><suffix>`` file name carries, else None."""
    if len(name) == 20 + len(suffix) and name.endswith(suffix) and name[:20].isdigit():
        return int(name[:20])
    return None


def segment_base_offsets(dir: Path) -> list[int]:
    """Base offsets of the ``.log`` files; index files without a log file are deleted."""
    names = os.listdir(dir)  # one listing for all three kinds
    bases = {b for name in names if (b := _name_offset(name, LOG_SUFFIX)) is not None}
    for suffix in (INDEX_SUFFIX, TIME_INDEX_SUFFIX):
        for name in names:
            base = _name_offset(name, suffix)
            if base is not None and base not in bases:
                (dir / name).unlink(missing_ok=True)
    return sorted(bases)


def load_segments(
    dir: Path,
    config: LogConfig,
    *,
    recovery_point: int,
    log_start_offset: int,
    had_clean_shutdown: bool,
    now_ms: int,
    swap_bases: list[int] | None = None,
) -> LoadedSegments:
    """Open and check every segment of ``dir`` (which must exist). Never returns an
    empty list: a new directory gets a first segment at ``log_start_offset``."""
    opts = _SegmentOptions(config.index_interval_bytes, config.segment_index_bytes, now_ms)
    complete_swaps(dir, swap_bases or [], opts)
    bases = segment_base_offsets(dir)
    if not bases:
        first = opts.create(dir, max(log_start_offset, 0))
        return LoadedSegments([first], recovered=False)
    segments = [opts.open(dir, base) for base in bases]
    trusted_below = 2**63 if had_clean_shutdown else recovery_point
    recovered = _recover(dir, segments, trusted_below)
    return LoadedSegments(segments, recovered)


def _recover(dir: Path, segments: list[LogSegment], trusted_below: int) -> bool:
    """Validate segments holding offsets >= ``trusted_below`` (or with a bad index), cut
    the log at the first invalid batch. Mutates ``segments``; True if any was validated."""
    recovered = False
    i = 0
    while i < len(segments):
        segment = segments[i]
        is_last = i == len(segments) - 1
        if is_last and not segment.needs_index_rebuild:
            try:
                if segment.check_tail():
                    log.warning("%s: cut a torn tail off %s", dir, segment)
            except CorruptIndex:
                segment.needs_index_rebuild = True
        if segment.needs_index_rebuild or _end_offset(segments, i) > trusted_below:
            recovered = True
            cut = segment.recover()
            if not is_last:
                segment.seal()
            if cut:
                log.warning("%s: %d invalid bytes at the end of %s", dir, cut, segment)
                for later in segments[i + 1 :]:
                    later.delete()
                del segments[i + 1 :]
        i += 1
    return recovered


def _end_offset(segments: list[LogSegment], i: int) -> int:
    return segments[i + 1].base_offset if i + 1 < len(segments) else segments[i].next_offset


def load_leader_epoch_cache(
    dir: Path, segments: list[LogSegment], *, log_start_offset: int, recovered_from: int | None
) -> LeaderEpochCache:
    """The leader epoch cache of a loaded log, trimmed to [log_start_offset, log end).

    The checkpoint is written before the data it covers, so after a crash it may name
    epochs past the log end (cut here) but never miss one. Batches from
    ``recovered_from`` on (unflushed data, validated by recovery) add any newer epoch,
    as Kafka's segment recovery does. With no checkpoint (a log older than the file) or
    an unreadable one, the cache is rebuilt from every batch header: the epochs are
    all stamped there, so nothing is lost but a header scan.
    """
    log_end = segments[-1].next_offset
    non_empty = log_end > segments[0].base_offset
    corrupt = False
    try:
        entries = read_leader_epoch_checkpoint(dir)
    except CorruptLeaderEpochCheckpoint as e:
        log.warning("%s: rebuilding the leader epoch cache from the log: %s", dir, e)
        entries, corrupt = None, True
    scan_from = recovered_from if recovered_from is not None and recovered_from < log_end else None
    if entries is None and non_empty:
        scan_from = segments[0].base_offset
    cache = LeaderEpochCache(dir, entries or ())
    changed = cache.truncate_from_end(log_end)
    if scan_from is not None:
        changed = cache.assign_all(_new_epochs(segments, cache.latest_epoch, scan_from)) or changed
    changed = cache.truncate_from_start(log_start_offset) or changed
    if not changed and (corrupt or (entries is None and non_empty)):
        cache.flush()  # record the rebuild, so the next open need not scan again
    return cache


def _new_epochs(
    segments: list[LogSegment], latest_epoch: int | None, from_offset: int
) -> list[EpochEntry]:
    """Each epoch newer than ``latest_epoch`` first seen in batches holding offsets >=
    ``from_offset``, with its first batch's base offset."""
    found: list[EpochEntry] = []
    latest = -1 if latest_epoch is None else latest_epoch
    for i, segment in enumerate(segments):
        if i + 1 < len(segments) and segments[i + 1].base_offset <= from_offset:
            continue
        for batch in segment.headers():
            h = batch.header
            if h.last_offset >= from_offset and h.partition_leader_epoch > latest:
                latest = h.partition_leader_epoch
                found.append(EpochEntry(latest, h.base_offset))
    return found
