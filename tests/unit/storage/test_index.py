from __future__ import annotations

import struct

import pytest

from grete.storage.index import CorruptIndex, OffsetIndex, OffsetPosition, TimeIndex
from grete.storage.types import TimestampOffset


def test_offset_index_entries_are_kafka_format() -> None:
    index = OffsetIndex(base_offset=100, max_entries=10)
    index.append(105, 4200)
    index.append(130, 9000)
    assert index.to_bytes() == struct.pack(">iiii", 5, 4200, 30, 9000)


def test_offset_index_lookup_is_largest_entry_at_or_below() -> None:
    index = OffsetIndex(100, 100)
    for i in range(1, 50):
        index.append(100 + i * 10, i * 1000)
    assert index.lookup(99) == OffsetPosition(100, 0)
    assert index.lookup(109) == OffsetPosition(100, 0)
    assert index.lookup(110) == OffsetPosition(110, 1000)
    assert index.lookup(255) == OffsetPosition(250, 15000)
    assert index.lookup(10**9) == OffsetPosition(590, 49000)


def test_offset_index_rejects_non_increasing_and_out_of_range() -> None:
    index = OffsetIndex(100, 10)
    index.append(110, 10)
    with pytest.raises(ValueError):
        index.append(110, 20)
    with pytest.raises(ValueError):
        index.append(99, 20)
    with pytest.raises(ValueError):
        index.append(100 + 2**31, 20)


def test_offset_index_truncate_and_full() -> None:
    index = OffsetIndex(0, 3)
    for off in (10, 20, 30):
        index.append(off, off * 10)
    assert index.is_full
    index.truncate_to(20)
    assert index.entries == 1 and index.last_entry == OffsetPosition(10, 100)
    assert not index.is_full


def test_offset_index_load_rejects_partial_entry() -> None:
    with pytest.raises(CorruptIndex):
        OffsetIndex(0, 10, b"\x00" * 12)


def test_time_index_only_grows() -> None:
    index = TimeIndex(50, 10)
    index.maybe_append(1000, 55)
    index.maybe_append(1000, 60)  # not larger: ignored
    index.maybe_append(999, 61)  # smaller: ignored
    index.maybe_append(2000, 70)
    assert index.to_bytes() == struct.pack(">qiqi", 1000, 5, 2000, 20)
    assert index.lookup(999) == TimestampOffset(-1, 50)
    assert index.lookup(1500) == TimestampOffset(1000, 55)
    assert index.lookup(2000) == TimestampOffset(2000, 70)
    index.truncate_to(70)
    assert index.last_entry == TimestampOffset(1000, 55)


def test_pending_write_tracks_appends_and_truncation() -> None:
    index = OffsetIndex(0, 10, struct.pack(">ii", 5, 100))
    assert index.pending_write() is None
    index.append(9, 200)
    assert index.pending_write() == (8, struct.pack(">ii", 9, 200), 16)
    index.mark_persisted()
    index.truncate_to(5)
    assert index.pending_write() == (0, b"", 0)


def test_preallocated_tail_of_zeros_is_corrupt() -> None:
    good = struct.pack(">iiii", 5, 100, 9, 200)
    assert OffsetIndex(0, 10, good).entries == 2
    with pytest.raises(CorruptIndex):
        OffsetIndex(0, 10, good + b"\x00" * 16)
    with pytest.raises(CorruptIndex):
        TimeIndex(0, 10, struct.pack(">qi", 1000, 5) + b"\x00" * 24)
