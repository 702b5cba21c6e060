"""A segment's sparse indexes, in Kafka's file formats, held in memory (sans-IO).

``.index`` (OffsetIndex), 8-byte entries, big-endian::

    relative_offset  int32   offset - segment base offset; the LAST offset of a batch
    position         int32   file position where that batch starts

``.timeindex`` (TimeIndex), 12-byte entries, big-endian::

    timestamp        int64   largest timestamp seen in the segment up to this entry
    relative_offset  int32   last offset of the batch that first reached that timestamp

Both are sorted and strictly increasing in their key. An entry is added for a batch
once more than ``index.interval.bytes`` of log has been written since the previous
entry; the time index only gains an entry when the segment's max timestamp grows.
The bytes in memory are exactly the file's valid contents: the owner persists them
with ``pending_write()`` / ``mark_persisted()`` and never preallocates.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from grete.records.batch import NO_TIMESTAMP
from grete.storage.errors import StorageError
from grete.storage.types import TimestampOffset

INT32_MAX = 2**31 - 1


class CorruptIndex(StorageError):
    """An index file fails its sanity check; the segment rebuilds it from the log."""


@dataclass(frozen=True, slots=True)
class OffsetPosition:
    offset: int
    position: int


class _SortedEntries:
    """Fixed-size entries in a bytearray, searchable by their leading key."""

    ENTRY: struct.Struct

    def __init__(self, base_offset: int, max_entries: int, data: bytes = b"") -> None:
        if len(data) % self.ENTRY.size:
            raise CorruptIndex(f"index size {len(data)} is not a multiple of {self.ENTRY.size}")
        self.base_offset = base_offset
        self.max_entries = max(1, max_entries)
        self._buf = bytearray(data)
        self._persisted = len(data)  # bytes [0, _persisted) are on disk as they are here
        self._file_size = len(data)

    @property
    def entries(self) -> int:
        return len(self._buf) // self.ENTRY.size

    @property
    def is_full(self) -> bool:
        return self.entries >= self.max_entries

    @property
    def size_bytes(self) -> int:
        return len(self._buf)

    def to_bytes(self) -> bytes:
        return bytes(self._buf)

    def _entry(self, i: int) -> tuple[int, int]:
        a, b = self.ENTRY.unpack_from(self._buf, i * self.ENTRY.size)
        return int(a), int(b)

    def _floor_slot(self, key: int, key_of: int) -> int:
        """Index of the last entry whose field ``key_of`` is <= key, or -1."""
        lo, hi = 0, self.entries
        while lo < hi:
            mid = (lo + hi) // 2
            if self._entry(mid)[key_of] <= key:
                lo = mid + 1
            else:
                hi = mid
        return lo - 1

    def _append(self, a: int, b: int) -> None:
        self._buf += self.ENTRY.pack(a, b)

    def _truncate_entries(self, keep: int) -> None:
        del self._buf[keep * self.ENTRY.size :]
        self._persisted = min(self._persisted, len(self._buf))

    def clear(self) -> None:
        self._truncate_entries(0)

    def mark_stale(self) -> None:
        """The file on disk is unusable: rewrite it whole on the next persist."""
        self._persisted = 0
        self._file_size = -1

    def pending_write(self) -> tuple[int, bytes, int] | None:
        """(file position, bytes to write there, final file size), or None if in sync."""
        if self._persisted == len(self._buf) and self._file_size == len(self._buf):
            return None
        return self._persisted, bytes(self._buf[self._persisted :]), len(self._buf)

    def mark_persisted(self) -> None:
        self._persisted = self._file_size = len(self._buf)


class OffsetIndex(_SortedEntries):
    """Maps a batch's last offset to the file position where the batch starts."""

    ENTRY = struct.Struct(">ii")

    def __init__(self, base_offset: int, max_entries: int, data: bytes = b"") -> None:
        super().__init__(base_offset, max_entries, data)
        if self.entries and (self._entry(0)[0] < 0 or self._entry(0)[1] < 0):
            raise CorruptIndex("offset index starts with a negative entry")
        if self.entries > 1 and self._entry(self.entries - 1)[0] <= self._entry(0)[0]:
            raise CorruptIndex("offset index does not end above its start (preallocated?)")

    def entry(self, i: int) -> OffsetPosition:
        relative, position = self._entry(i)
        return OffsetPosition(self.base_offset + relative, position)

    @property
    def last_entry(self) -> OffsetPosition:
        """The last entry, or (base_offset, 0) when empty."""
        if not self.entries:
            return OffsetPosition(self.base_offset, 0)
        return self.entry(self.entries - 1)

    def lookup(self, offset: int) -> OffsetPosition:
        """The largest entry with offset <= ``offset``, or (base_offset, 0)."""
        slot = self._floor_slot(offset - self.base_offset, 0)
        if slot < 0:
            return OffsetPosition(self.base_offset, 0)
        return self.entry(slot)

    def append(self, offset: int, position: int) -> None:
        relative = offset - self.base_offset
        if not 0 <= relative <= INT32_MAX:
            raise ValueError(f"offset {offset} does not fit segment {self.base_offset}")
        if self.entries and offset <= self.last_entry.offset:
            raise ValueError(f"offset {offset} is not above the last entry")
        self._append(relative, position)

    def truncate_to(self, offset: int) -> None:
        """Drop every entry whose offset is >= ``offset``."""
        self._truncate_entries(self._floor_slot(offset - self.base_offset - 1, 0) + 1)


class TimeIndex(_SortedEntries):
    """Maps a growing max timestamp to the last offset of the batch that reached it."""

    ENTRY = struct.Struct(">qi")

    def __init__(self, base_offset: int, max_entries: int, data: bytes = b"") -> None:
        super().__init__(base_offset, max_entries, data)
        if self.entries and self._entry(0)[1] < 0:
            raise CorruptIndex("time index starts with a negative offset")
        if self.entries > 1 and self._entry(self.entries - 1)[0] <= self._entry(0)[0]:
            raise CorruptIndex("time index does not end above its start (preallocated?)")

    def entry(self, i: int) -> TimestampOffset:
        timestamp, relative = self._entry(i)
        return TimestampOffset(timestamp, self.base_offset + relative)

    @property
    def last_entry(self) -> TimestampOffset:
        """The last entry, or (NO_TIMESTAMP, base_offset) when empty."""
        if not self.entries:
            return TimestampOffset(NO_TIMESTAMP, self.base_offset)
        return self.entry(self.entries - 1)

    def lookup(self, timestamp: int) -> TimestampOffset:
        """The largest entry with timestamp <= ``timestamp``, or (NO_TIMESTAMP, base_offset)."""
        slot = self._floor_slot(timestamp, 0)
        if slot < 0:
            return TimestampOffset(NO_TIMESTAMP, self.base_offset)
        return self.entry(slot)

    def maybe_append(self, timestamp: int, offset: int, *, skip_full_check: bool = False) -> None:
        """Append only if ``timestamp`` is above the last entry's (Kafka's maybeAppend)."""
        if self.is_full and not skip_full_check:
            raise ValueError("time index is full")
        last = self.last_entry
        if timestamp <= last.timestamp:
            return
        if offset < last.offset and self.entries:
            raise ValueError(f"offset {offset} is below the last time index entry")
        relative = offset - self.base_offset
        if not 0 <= relative <= INT32_MAX:
            raise ValueError(f"offset {offset} does not fit segment {self.base_offset}")
        self._append(timestamp, relative)

    def truncate_to(self, offset: int) -> None:
        """Drop every entry whose offset is >= ``offset`` (offsets are non-decreasing)."""
        self._truncate_entries(self._floor_slot(offset - self.base_offset - 1, 1) + 1)
