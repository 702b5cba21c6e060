from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path

import pytest

from grete.clock import ManualClock
from grete.records.batch import read_header, validate_batch
from grete.storage.errors import OffsetOutOfRange
from grete.storage.flusher import BackgroundFlusher
from grete.storage.log import Log
from grete.storage.types import LogConfig, TimestampOffset

from .batches import T0, append, headers, make_batch, offsets

SMALL = LogConfig(segment_bytes=1000, index_interval_bytes=150)


def open_log(path: Path, config: LogConfig = SMALL, **kw: object) -> Log:
    return Log.open(path / "t-0", config, clock=kw.pop("clock", ManualClock()), **kw)  # type: ignore[arg-type]


def fill(log: Log, batches: int, records: int = 3) -> list[bytes]:
    """Append ``batches`` batches; return each as written (offsets patched)."""
    written = []
    for _ in range(batches):
        info = append(log, make_batch(records))
        written.append(log.read(info.first_offset, 1, min_one_batch=True).records)
    return written


def test_new_log_has_one_empty_segment(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    assert (tmp_path / "t-0" / "00000000000000000000.log").exists()
    assert (log.log_start_offset, log.log_end_offset, log.num_segments, log.size_bytes) == (
        0,
        0,
        1,
        0,
    )
    assert log.read(0, 1000).records == b""


def test_append_assigns_offsets_and_patches_headers(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    info = append(log, make_batch(3), make_batch(2), leader_epoch=7)
    assert (info.first_offset, info.last_offset, info.duplicate) == (0, 4, False)
    assert info.max_timestamp == T0 + 2 and info.log_append_time == -1
    info = append(log, make_batch(4, base_offset=999), leader_epoch=7)
    assert (info.first_offset, info.last_offset) == (5, 8)
    data = log.read(0, 10_000).records
    hs = headers(data)
    assert [h.base_offset for h in hs] == [0, 3, 5]
    assert {h.partition_leader_epoch for h in hs} == {7}
    assert offsets(data) == list(range(9))
    assert log.log_end_offset == 9 and log.size_bytes == len(data)


def test_round_trip_across_segment_rolls(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    written = fill(log, 60)
    assert log.num_segments > 5
    names = sorted(p.name for p in (tmp_path / "t-0").glob("*.log"))
    assert names == [f"{s.base_offset:020d}.log" for s in log.segments]
    assert all(s.size <= SMALL.segment_bytes for s in log.segments)
    everything = log.read(0, 10**9).records
    assert everything == b"".join(written)
    assert offsets(everything) == list(range(180))
    for offset in range(180):  # every offset finds the batch that holds it
        info = log.read(offset, 1)
        assert info.records == written[offset // 3]
        assert info.first_offset == offset - offset % 3


def test_read_respects_max_bytes_and_whole_batches(tmp_path: Path) -> None:
    log = open_log(tmp_path, LogConfig())
    written = fill(log, 10)
    size = len(written[0])
    assert log.read(0, size * 3 + size // 2).records == b"".join(written[:3])
    assert log.read(0, size // 2).records == written[0]  # min_one_batch
    assert log.read(0, size // 2, min_one_batch=False).records == b""
    assert log.read(3, 0, min_one_batch=False).records == b""


def test_read_stops_at_max_offset(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    written = fill(log, 20)
    data = log.read(0, 10**9, max_offset=31).records  # batch at 30 starts below 31
    assert data == b"".join(written[:11])
    assert log.read(30, 10**9, max_offset=30).records == b""
    assert log.read(33, 10**9, max_offset=30).records == b""


def test_read_out_of_range(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    fill(log, 2)
    with pytest.raises(OffsetOutOfRange):
        log.read(7, 100)
    with pytest.raises(OffsetOutOfRange):
        log.read(-1, 100)
    info = log.read(6, 100)
    assert (info.records, info.first_offset) == (b"", 6)


def test_log_append_time_is_stamped_with_valid_crc(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    info = append(log, make_batch(3), log_append_time_ms=T0 + 5000)
    assert (info.max_timestamp, info.log_append_time) == (T0 + 5000, T0 + 5000)
    header = validate_batch(log.read(0, 1000).records)
    assert header.log_append_time and header.max_timestamp == T0 + 5000


def test_roll_on_segment_ms(tmp_path: Path) -> None:
    clock = ManualClock()
    log = open_log(tmp_path, LogConfig(segment_ms=1000), clock=clock)
    fill(log, 2)
    clock.advance(1000)
    fill(log, 1)
    assert log.num_segments == 1  # not more than segment.ms yet
    clock.advance(1)
    fill(log, 1)
    assert [s.base_offset for s in log.segments] == [0, 9]
    clock.advance(5000)  # an empty active segment never rolls, the clock starts at its first batch
    fill(log, 1)
    assert [s.base_offset for s in log.segments] == [0, 9, 12]


def test_roll_when_index_full(tmp_path: Path) -> None:
    # 24 bytes: 3 offset-index entries (8 bytes each), 2 time-index entries (12 bytes each)
    log = open_log(tmp_path, LogConfig(segment_index_bytes=24, index_interval_bytes=0))
    fill(log, 9, records=1)
    # interval 0: every batch but a segment's first gets an entry
    assert [s.base_offset for s in log.segments] == [0, 4, 8]
    assert all(s.offset_index.entries == 3 for s in log.segments[:2])


def test_roll_when_time_index_full(tmp_path: Path) -> None:
    log = open_log(tmp_path, LogConfig(segment_index_bytes=24, index_interval_bytes=0))
    for i in range(4):  # growing timestamps: one time-index entry per indexed batch
        append(log, make_batch(1, timestamps=[T0 + i]))
    assert [s.base_offset for s in log.segments] == [0, 3]
    tindex = log.segments[0].time_index
    assert tindex.is_full and tindex.last_entry == TimestampOffset(T0 + 2, 2)


def test_flush_messages_advances_recovery_point(tmp_path: Path) -> None:
    log = open_log(tmp_path, LogConfig(flush_messages=5))
    fill(log, 1)
    assert log.recovery_point == 0
    fill(log, 1)
    assert log.recovery_point == 6


def test_flush_ms(tmp_path: Path) -> None:
    clock = ManualClock()
    log = open_log(tmp_path, LogConfig(flush_ms=100), clock=clock)
    fill(log, 1)
    assert not log.flush_if_due()
    clock.advance(100)
    assert log.flush_if_due() and log.recovery_point == 3
    clock.advance(100)
    assert not log.flush_if_due()  # nothing new


def test_roll_flushes_and_moves_recovery_point(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    fill(log, 30)
    assert log.recovery_point == log.segments[-1].base_offset


def test_index_lookup_matches_a_linear_scan(tmp_path: Path) -> None:
    log = open_log(tmp_path, LogConfig(index_interval_bytes=200))
    fill(log, 80)
    segment = log.segments[0]
    assert segment.offset_index.entries > 10
    positions = {}
    at = 0
    data = log.read(0, 10**9).records
    while at < len(data):
        h = read_header(data, at)
        positions.update({o: at for o in range(h.base_offset, h.next_offset)})
        at += h.size
    for offset in range(240):
        entry = segment.offset_index.lookup(offset)
        assert (
            entry.offset <= offset
            and positions[entry.offset] == entry.position
            or entry.position == 0
        )
        assert segment.translate_offset(offset) == positions[offset]
    assert segment.translate_offset(240) is None


def _positions_by_scan(log: Log) -> dict[int, int]:
    """offset -> position of the batch holding it (or the first after it), from a full read."""
    positions: dict[int, int] = {}
    data, at, after = log.read(log.log_start_offset, 10**9).records, 0, 0
    while at < len(data):
        h = read_header(data, at)
        positions.update({o: at for o in range(after, h.next_offset)})
        after, at = h.next_offset, at + h.size
    return positions


def test_remembered_positions_agree_with_a_header_scan(tmp_path: Path) -> None:
    """translate_offset answers from the batch boundaries appended and read last; each
    answer must be the one a scan from the index gives, also after a truncation moved
    every boundary."""
    log = open_log(tmp_path, LogConfig(index_interval_bytes=400))
    segment = log.segments[0]
    for round_ in range(2):
        for i in range(60):  # single- and multi-batch appends of different sizes
            batches = [make_batch(1 + (i + k + round_) % 4) for k in range(1 + i % 3)]
            append(log, *batches)
        for max_bytes in (1, 90, 333):  # reads that stop at batch boundaries remember them
            offset = 0
            while offset < log.log_end_offset:
                after = headers(bytes(log.read(offset, max_bytes).records))[-1].next_offset
                assert after > offset  # each read moves on: the loop ends
                offset = after
        positions = _positions_by_scan(log)
        assert segment._position_hints  # remembered something to answer from
        for offset in range(log.log_end_offset):
            assert segment.translate_offset(offset) == positions[offset], offset
        assert segment.translate_offset(log.log_end_offset) is None
        # Cut where the remembered boundaries are and append batches of another size
        # there: no old boundary may answer for them.
        log.truncate_to(log.log_end_offset - 20)
        for _ in range(5):
            append(log, make_batch(7))
        positions = _positions_by_scan(log)
        for offset in range(log.log_end_offset):
            assert segment.translate_offset(offset) == positions[offset], offset


def test_truncate_to(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    written = fill(log, 40)
    log.truncate_to(60)
    assert log.log_end_offset == 60
    assert log.read(0, 10**9).records == b"".join(written[:20])
    info = append(log, make_batch(2))
    assert info.first_offset == 60
    log.truncate_to(31)  # inside a batch: the whole batch goes
    assert log.log_end_offset == 30
    log.truncate_to(0)
    assert (log.log_end_offset, log.num_segments, log.size_bytes) == (0, 1, 0)


def test_update_config_applies_to_next_append(tmp_path: Path) -> None:
    log = open_log(tmp_path, LogConfig())
    fill(log, 10)
    log.update_config(SMALL)
    assert log.config == SMALL
    fill(log, 10)
    assert log.num_segments > 1


def test_delete_removes_directory(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    fill(log, 30)
    log.delete()
    assert not (tmp_path / "t-0").exists()


class GatedFlusher(BackgroundFlusher):
    """Its jobs wait until the test opens the gate: a slow disk."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def submit(self, paths: Sequence[Path], dir: Path | None, optional: Sequence[Path] = ()) -> Future[bool]:
        self._pool.submit(self.gate.wait)
        return super().submit(paths, dir, optional)


def test_a_roll_fsyncs_in_the_background_and_moves_the_recovery_point_after(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    log.flusher = flusher = GatedFlusher()
    fill(log, 30)
    rolled_to = log.segments[-1].base_offset
    assert log.num_segments > 2 and log.recovery_point == 0, "nothing is durable before the fsync"
    flusher.gate.set()
    flusher.drain()
    assert log.recovery_point == rolled_to
    flusher.close()


def test_a_truncation_overtaking_a_background_flush_keeps_the_recovery_point_below_it(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    log.flusher = flusher = GatedFlusher()
    fill(log, 30)
    assert log.segments[-1].base_offset > 20
    log.truncate_to(12)  # a follower truncating while the rolls' fsyncs wait
    flusher.gate.set()
    flusher.drain()
    assert log.recovery_point <= log.log_end_offset <= 12
    log.flush()  # the next flush covers what the overtaken one did not
    assert log.recovery_point == log.log_end_offset
    flusher.close()


def test_a_background_flush_of_deleted_files_moves_nothing(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    log.flusher = flusher = GatedFlusher()
    fill(log, 12)
    assert log.num_segments >= 2
    first = log.segments[0]
    first.rename_for_deletion()  # the job's paths are gone when it runs
    flusher.gate.set()
    flusher.drain()
    assert log.recovery_point == 0
    flusher.close()
