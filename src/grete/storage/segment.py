"""One log segment: ``<base offset>.log`` plus its ``.index`` and ``.timeindex``.

File names carry the segment's base offset on 20 digits (``00000000000000000000.log``).
The ``.log`` file is a plain concatenation of v2 batches, exactly as Kafka writes it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from grete.records.batch import (
    NO_TIMESTAMP,
    InvalidBatch,
    peek_offset_and_length,
    validate_batch,
)
from grete.records.record import decode_records
from grete.storage.errors import LogDirFailure
from grete.storage.file_scan import BatchScanner, ScannedBatch
from grete.storage.fsutil import fsync_path, pread_exact, write_all
from grete.storage.index import INT32_MAX, CorruptIndex, OffsetIndex, TimeIndex
from grete.storage.types import TimestampOffset

LOG_SUFFIX = ".log"
INDEX_SUFFIX = ".index"
TIME_INDEX_SUFFIX = ".timeindex"
DELETED_SUFFIX = ".deleted"  # appended to a deleted segment's files until they are removed
CLEANED_SUFFIX = ".cleaned"  # a segment the log cleaner is writing
SWAP_SUFFIX = ".swap"  # a cleaned segment about to replace the segments it was made from
_LOOKUP_CHUNK = 16 * 1024  # translating an offset reads a few KiB past an index entry
# Batch boundaries remembered per segment (translate_offset): a few readers' positions.
# About 1 KB per segment read or written; 10,000 busy partitions hold some 10 MB.
_POSITION_HINTS = 8


def segment_path(dir: Path, base_offset: int, suffix: str) -> Path:
    return dir / f"{base_offset:020d}{suffix}"


@dataclass(slots=True)  # hot path: not frozen (docs/performance.md)
class AppendedBatch:
    """What a segment needs to index one batch it is given to append."""

    last_offset: int
    max_timestamp: int
    size: int


class LogSegment:
    """A segment of one partition's log. Not thread-safe; event loop only.

    Invariants: the ``.log`` file holds exactly ``size`` bytes of whole batches with
    increasing offsets, all >= ``base_offset`` and < base_offset + 2**31; both indexes
    only name batches inside [0, size). Index entries follow one rule wherever they
    are made (append, recovery, tail scan), so a rebuilt index equals the original.
    """

    def __init__(
        self,
        dir: Path,
        base_offset: int,
        *,
        index_interval_bytes: int,
        max_index_bytes: int,
        now_ms: int,
        file_suffix: str = "",
    ) -> None:
        self.dir = dir
        self.base_offset = base_offset
        self.file_suffix = file_suffix  # "", or .cleaned / .swap while the cleaner owns it
        self.created_ms = now_ms
        self.index_interval_bytes = index_interval_bytes
        self.needs_index_rebuild = False
        self._fd: int | None = None
        self._fd_used = 0.0  # time.monotonic() of the last use of the log file's descriptor
        # Written since the last fsync, with the descriptor closed since (idle): the next
        # flush reopens the file to fsync it (fsync covers the file, whatever descriptor).
        self._unsynced = False
        self._written = False  # since the last fsync
        self._indexes_unsynced = False  # written for a background flush, maybe not fsynced yet
        self._size = 0
        self._next_offset: int | None = base_offset
        self._max_ts = TimestampOffset(NO_TIMESTAMP, base_offset)
        self._bytes_since_index = 0
        self._rolling_base_ms: int | None = None
        self._deleted = False
        # offset -> file position of the batch translate_offset() would find for it, for
        # the batch boundaries appended or read last: a consumer or follower fetching from
        # where it stopped finds its position without scanning headers from an index entry.
        self._position_hints: dict[int, int] = {}
        self.offset_index = OffsetIndex(base_offset, max_index_bytes // OffsetIndex.ENTRY.size)
        self.time_index = TimeIndex(base_offset, max_index_bytes // TimeIndex.ENTRY.size)

    # -- opening -------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        dir: Path,
        base_offset: int,
        *,
        index_interval_bytes: int,
        max_index_bytes: int,
        now_ms: int,
        file_suffix: str = "",
    ) -> LogSegment:
        """A new empty segment; its files are created (emptied if they exist)."""
        segment = cls(
            dir,
            base_offset,
            index_interval_bytes=index_interval_bytes,
            max_index_bytes=max_index_bytes,
            now_ms=now_ms,
            file_suffix=file_suffix,
        )
        for suffix in (LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX):
            segment._path(suffix).write_bytes(b"")
        return segment

    @classmethod
    def open(
        cls,
        dir: Path,
        base_offset: int,
        *,
        index_interval_bytes: int,
        max_index_bytes: int,
        now_ms: int,
        file_suffix: str = "",
    ) -> LogSegment:
        """An existing segment, trusted as it is: call ``check_tail`` or ``recover`` to
        check it. ``needs_index_rebuild`` tells whether an index was missing or corrupt."""
        segment = cls(
            dir,
            base_offset,
            index_interval_bytes=index_interval_bytes,
            max_index_bytes=max_index_bytes,
            now_ms=now_ms,
            file_suffix=file_suffix,
        )
        segment._size = segment._path(LOG_SUFFIX).stat().st_size
        segment._next_offset = None if segment._size else base_offset
        segment._load_indexes(max_index_bytes)
        return segment

    def _load_indexes(self, max_index_bytes: int) -> None:
        try:
            self.offset_index = OffsetIndex(
                self.base_offset,
                max_index_bytes // OffsetIndex.ENTRY.size,
                self._read_file(INDEX_SUFFIX),
            )
            self.time_index = TimeIndex(
                self.base_offset,
                max_index_bytes // TimeIndex.ENTRY.size,
                self._read_file(TIME_INDEX_SUFFIX),
            )
            if self.offset_index.last_entry.position >= max(self._size, 1):
                raise CorruptIndex("offset index points past the end of the log")
        except (CorruptIndex, FileNotFoundError):
            self.needs_index_rebuild = self._size > 0
            self.offset_index.clear()
            self.time_index.clear()
            self.offset_index.mark_stale()
            self.time_index.mark_stale()
        if self.time_index.entries:
            self._max_ts = self.time_index.last_entry

    def _path(self, suffix: str) -> Path:
        """Where one of this segment's files is now (renamed once the segment is deleted)."""
        path = segment_path(self.dir, self.base_offset, suffix + self.file_suffix)
        return path.with_name(path.name + DELETED_SUFFIX) if self._deleted else path

    def _read_file(self, suffix: str) -> bytes:
        return self._path(suffix).read_bytes()

    @property
    def fd(self) -> int:
        """The log file's descriptor, opened on first use (and again after an idle close)."""
        if self._fd is None:
            path = self._path(LOG_SUFFIX)
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        self._fd_used = time.monotonic()
        return self._fd

    def _fd_source(self) -> int:
        return self.fd

    def close_if_idle(self, now: float, idle_seconds: float) -> bool:
        """Close the log file's descriptor if unused for ``idle_seconds`` (``now`` on the
        time.monotonic() scale), so that thousands of quiet partitions hold no open files.
        A segment renamed for deletion keeps its descriptor: its reader needs it."""
        if self._fd is None or self._deleted or now - self._fd_used < idle_seconds:
            return False
        os.close(self._fd)
        self._fd = None
        self._unsynced = self._written
        return True

    # -- state ---------------------------------------------------------------------

    @property
    def size(self) -> int:
        return self._size

    @property
    def next_offset(self) -> int:
        """One past the last offset in this segment (base_offset when empty)."""
        if self._next_offset is None:
            self._reindex_from_last_entry()
        assert self._next_offset is not None
        return self._next_offset

    @property
    def max_timestamp(self) -> TimestampOffset:
        """Largest batch max_timestamp here and the last offset of the first batch reaching
        it; NO_TIMESTAMP when empty."""
        return self._max_ts

    def largest_timestamp_ms(self) -> int:
        """What time retention compares with retention.ms: the largest record timestamp,
        or the file's modification time when no record carries one (as Kafka)."""
        if self._max_ts.timestamp >= 0:
            return self._max_ts.timestamp
        return os.stat(self._path(LOG_SUFFIX)).st_mtime_ns // 1_000_000

    @property
    def index_full(self) -> bool:
        return self.offset_index.is_full or self.time_index.is_full

    def rolling_base_ms(self) -> int:
        """Time the segment.ms countdown started: the first append, or after a restart the
        first batch's timestamp when plausible (else the load time)."""
        if self._size == 0:
            return self.created_ms
        if self._rolling_base_ms is None:
            self._rolling_base_ms = self.created_ms
            for batch in self.headers(0):
                if 0 <= batch.header.max_timestamp <= self.created_ms:
                    self._rolling_base_ms = batch.header.max_timestamp
                break
        return self._rolling_base_ms

    def fits_offset(self, offset: int) -> bool:
        return 0 <= offset - self.base_offset <= INT32_MAX

    # -- indexing ------------------------------------------------------------------

    def _index_batch(self, position: int, last_offset: int, max_timestamp: int, size: int) -> None:
        if max_timestamp > self._max_ts.timestamp:
            self._max_ts = TimestampOffset(max_timestamp, last_offset)
        if self._bytes_since_index > self.index_interval_bytes and not self.index_full:
            self.offset_index.append(last_offset, position)
            self.time_index.maybe_append(self._max_ts.timestamp, self._max_ts.offset)
            self._bytes_since_index = 0
        self._bytes_since_index += size

    def _reindex_from_last_entry(self) -> None:
        """Recompute next offset, max timestamp and the index countdown from the last
        offset-index entry onward, adding any entry the rule calls for."""
        entry = self.offset_index.last_entry
        if self.time_index.entries:
            self._max_ts = self.time_index.last_entry
        else:
            self._max_ts = TimestampOffset(NO_TIMESTAMP, self.base_offset)
        self._bytes_since_index = 0
        self._next_offset = self.base_offset
        for batch in self.headers(entry.position):
            h = batch.header
            self._index_batch(batch.position, h.last_offset, h.max_timestamp, h.size)
            self._next_offset = h.next_offset

    def _scan_framing(self, start: int, expect_last: int | None) -> tuple[int, int]:
        """(valid_end, next_offset) of the well-framed batches from ``start`` whose offsets
        increase and fit this segment."""
        scanner = BatchScanner(self._fd_source, start, self._size, chunk_bytes=_LOOKUP_CHUNK)
        next_offset = self.base_offset
        for batch in scanner:
            h = batch.header
            if expect_last is not None:
                # Kafka may index a multi-batch append's last offset at its first batch.
                if not h.base_offset <= expect_last:
                    raise CorruptIndex("offset index entry does not match its batch")
                expect_last = None
            if h.base_offset < next_offset or not self.fits_offset(h.last_offset):
                return batch.position, next_offset
            next_offset = h.next_offset
        return scanner.valid_end, next_offset

    def check_tail(self) -> int:
        """Cheap check of the end of the segment: walk batch prefixes from the last index
        entry, cut the file after the last well-framed batch. Returns bytes cut.
        Raises CorruptIndex when the index disagrees with the log (then ``recover``)."""
        entry = self.offset_index.last_entry
        has_entry = self.offset_index.entries > 0
        valid_end, next_offset = self._scan_framing(
            entry.position, entry.offset if has_entry else None
        )
        if has_entry and valid_end <= entry.position:
            raise CorruptIndex("offset index entry names a damaged batch")
        cut = self._size - valid_end
        if cut:
            self._truncate_file(valid_end)
        self.time_index.truncate_to(next_offset)
        self._reindex_from_last_entry()
        return cut

    def recover(self) -> int:
        """Validate every batch (framing and CRC-32C), cut the file at the first invalid
        one and rebuild both indexes. Returns bytes cut."""
        self.offset_index.clear()
        self.time_index.clear()
        self._max_ts = TimestampOffset(NO_TIMESTAMP, self.base_offset)
        self._bytes_since_index = 0
        next_offset = self.base_offset
        scanner = BatchScanner(self._fd_source, 0, self._size, full=True)
        valid_end = 0
        for batch in scanner:
            try:
                h = validate_batch(batch.data)
            except InvalidBatch:
                break
            if h.base_offset < next_offset or not self.fits_offset(h.last_offset):
                break
            self._index_batch(batch.position, h.last_offset, h.max_timestamp, h.size)
            next_offset = h.next_offset
            valid_end = batch.end
        cut = self._size - valid_end
        if cut:
            self._truncate_file(valid_end)
        self._next_offset = next_offset
        self.needs_index_rebuild = False
        return cut

    # -- appending and reading -------------------------------------------------------

    def append(
        self, data: bytes | bytearray | memoryview, batches: Sequence[AppendedBatch], now_ms: int
    ) -> None:
        """Write whole, offset-assigned batches at the end with one write call."""
        position = self._size
        self._written = True
        try:
            write_all(self.fd, data, position)
        except OSError as e:
            raise LogDirFailure(f"cannot append to {self.dir}: {e}") from e
        if self._next_offset is None:  # load the index countdown before indexing
            self._reindex_from_last_entry()
        for batch in batches:
            self._index_batch(position, batch.last_offset, batch.max_timestamp, batch.size)
            position += batch.size
            self._hint(batch.last_offset + 1, position)
        self._size = position
        self._next_offset = batches[-1].last_offset + 1
        if self._rolling_base_ms is None:
            self._rolling_base_ms = now_ms

    def headers(self, position: int = 0) -> Iterator[ScannedBatch]:
        """The batch headers from ``position`` (a batch boundary) to the end."""
        return iter(BatchScanner(self._fd_source, position, self._size, chunk_bytes=_LOOKUP_CHUNK))

    def _hint(self, offset: int, position: int) -> None:
        hints = self._position_hints
        hints[offset] = position
        if len(hints) > _POSITION_HINTS:
            del hints[next(iter(hints))]  # the oldest

    def translate_offset(self, offset: int) -> int | None:
        """File position of the batch holding ``offset`` (or the first after it), or None
        when every batch here ends before ``offset``."""
        if self._next_offset is not None and offset >= self._next_offset:
            return None
        hinted = self._position_hints.get(offset)
        if hinted is not None and hinted < self._size:
            return hinted
        for batch in self.headers(self.offset_index.lookup(offset).position):
            if batch.header.last_offset >= offset:
                return batch.position
        return None

    def read(
        self, position: int, max_bytes: int, *, max_offset: int | None, min_one_batch: bool
    ) -> bytes | memoryview:
        """Whole batches from ``position``: as many as fit in ``max_bytes`` (at least one
        when ``min_one_batch``), none whose base offset is >= ``max_offset``. A read cut
        to whole batches is a view of the bytes read, not a copy of them."""
        limit = min(max_bytes, self._size - position)
        buf = pread_exact(self.fd, limit, position) if limit > 0 else b""
        at = 0
        while at + 12 <= len(buf):
            base, length = peek_offset_and_length(buf, at)
            if (max_offset is not None and base >= max_offset) or at + 12 + length > len(buf):
                if at:  # where the next read of this reader starts
                    self._hint(base, position + at)
                break
            at += 12 + length
        if at or not min_one_batch or position + 12 > self._size:
            return buf if at == len(buf) else memoryview(buf)[:at]
        base, length = peek_offset_and_length(pread_exact(self.fd, 12, position))
        if max_offset is not None and base >= max_offset:
            return b""
        return pread_exact(self.fd, 12 + length, position)

    def find_offset_by_timestamp(
        self, timestamp: int, starting_offset: int
    ) -> TimestampOffset | None:
        """The first record at or after ``starting_offset`` whose timestamp is >= ``timestamp``."""
        entry = self.time_index.lookup(timestamp)
        position = self.offset_index.lookup(max(entry.offset, starting_offset)).position
        for batch in self.headers(position):
            h = batch.header
            if h.max_timestamp < timestamp or h.last_offset < starting_offset:
                continue
            for record in decode_records(pread_exact(self.fd, h.size, batch.position)):
                if record.timestamp >= timestamp and record.offset >= starting_offset:
                    return TimestampOffset(record.timestamp, record.offset)
        return None

    # -- truncation, durability, lifecycle -------------------------------------------

    def _truncate_file(self, size: int) -> None:
        self._position_hints.clear()
        self._written = True
        os.ftruncate(self.fd, size)
        self._size = size

    def truncate_to(self, offset: int) -> int:
        """Remove every batch holding an offset >= ``offset``; returns bytes removed."""
        position = self.translate_offset(offset)
        if position is None:
            return 0
        removed = self._size - position
        self.offset_index.truncate_to(offset)
        self.time_index.truncate_to(offset)
        self._truncate_file(position)
        self._reindex_from_last_entry()
        if self._size == 0:
            self._rolling_base_ms = None
        return removed

    def seal(self) -> None:
        """Record the segment's max timestamp as the last time-index entry (on roll/close),
        so a later load finds it without scanning."""
        if self._size:
            self.time_index.maybe_append(
                self._max_ts.timestamp, self._max_ts.offset, skip_full_check=True
            )

    def flush(self) -> None:
        """fsync the log, then write and fsync both indexes."""
        if self._fd is not None or self._unsynced:
            os.fsync(self.fd)
            self._unsynced = self._written = False
        if self._indexes_unsynced:  # a background flush may still be on its way
            self._indexes_unsynced = False
            for suffix in (INDEX_SUFFIX, TIME_INDEX_SUFFIX):
                fsync_path(self._path(suffix))
        self._persist_index(INDEX_SUFFIX, self.offset_index)
        self._persist_index(TIME_INDEX_SUFFIX, self.time_index)

    def write_indexes(self) -> list[Path]:
        """Write both indexes' new entries to their files without fsync, for a background
        flush; returns the paths that flush must fsync (log file included)."""
        self._persist_index(INDEX_SUFFIX, self.offset_index, sync=False)
        self._persist_index(TIME_INDEX_SUFFIX, self.time_index, sync=False)
        return [self._path(suffix) for suffix in (LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX)]

    def _persist_index(self, suffix: str, index: OffsetIndex | TimeIndex, *, sync: bool = True) -> None:
        pending = index.pending_write()
        if pending is None:
            return
        at, data, final_size = pending
        fd = os.open(self._path(suffix), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            write_all(fd, data, at)
            os.ftruncate(fd, final_size)
            if sync:
                os.fsync(fd)
            else:
                self._indexes_unsynced = True
        finally:
            os.close(fd)
        index.mark_persisted()

    def close(self, *, sync: bool = True) -> None:
        """Seal, persist the indexes and close. ``sync=False``: without any fsync, for a
        caller that makes the whole filesystem durable next (a stop's syncfs)."""
        self.seal()
        if sync:
            self.flush()
        else:
            self.write_indexes()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def delete(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        for suffix in (LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX):
            self._path(suffix).unlink(missing_ok=True)

    def rename_for_deletion(self) -> None:
        """Append ``.deleted`` to the file names (Kafka's first step of a deletion). The
        log file stays open, so a reader holding this segment still reads it; ``delete``
        removes the files later. A crash in between leaves ``.deleted`` files, which the
        next start-up removes."""
        if self._deleted:
            return
        _ = self.fd  # opened under the old name, so reads survive the rename
        for suffix in (LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX):
            path = self._path(suffix)
            try:
                path.rename(path.with_name(path.name + DELETED_SUFFIX))
            except FileNotFoundError:  # an index never written: nothing to rename
                pass
        self._deleted = True

    def change_file_suffix(self, new_suffix: str) -> None:
        """Rename the three files from the current suffix to ``new_suffix`` (the cleaner's
        .cleaned -> .swap -> "" steps), log file last so that a crash midway leaves a
        ``.log`` with the old suffix, which recovery treats by that suffix. The log file
        stays open across the renames."""
        for suffix in (INDEX_SUFFIX, TIME_INDEX_SUFFIX, LOG_SUFFIX):
            path = self._path(suffix)
            target = segment_path(self.dir, self.base_offset, suffix + new_suffix)
            try:
                path.rename(target)
            except FileNotFoundError:  # an index never written: nothing to rename
                pass
        self.file_suffix = new_suffix

    @property
    def is_deleted(self) -> bool:
        return self._deleted

    def __repr__(self) -> str:
        return f"LogSegment(base_offset={self.base_offset}, size={self._size})"
