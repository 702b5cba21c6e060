from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from grete.clock import ManualClock
from grete.storage.log import Log
from grete.storage.types import LogConfig

from .batches import append, make_batch, offsets

SMALL = LogConfig(segment_bytes=1000, index_interval_bytes=150)


def build(
    dir: Path, config: LogConfig, batches: int, rng: random.Random
) -> tuple[Log, list[int], list[int]]:
    """A log of batches of random sizes; returns it, each batch's end offset and the
    positions where the active segment's batches end (read from the bytes)."""
    log = Log.open(dir, config, clock=ManualClock())
    ends = []
    for _ in range(batches):
        info = append(log, make_batch(rng.randint(1, 5), value_size=rng.randint(1, 60)))
        ends.append(info.last_offset + 1)
    boundaries = [0]
    data = log.read(log.segments[-1].base_offset, 10**9).records
    at = 0
    while at < len(data):
        at += int.from_bytes(data[at + 8 : at + 12], "big") + 12
        boundaries.append(at)
    return log, ends, boundaries


@pytest.mark.parametrize("mode", ["unflushed", "flushed", "clean"])
@pytest.mark.parametrize("seed", range(12))
def test_cut_active_segment_at_random_byte(tmp_path: Path, mode: str, seed: int) -> None:
    rng = random.Random(seed)
    dir = tmp_path / "t-0"
    log, _, boundaries = build(dir, SMALL, 25, rng)
    active = log.segments[-1]
    if mode != "unflushed":
        log.flush()
    recovery_point = log.recovery_point
    before = log.read(0, 10**9).records
    cut = rng.randrange(1, active.size)  # process dies without closing
    os.truncate(dir / f"{active.base_offset:020d}.log", cut)

    reopened = Log.open(
        dir,
        SMALL,
        recovery_point=recovery_point,
        had_clean_shutdown=mode == "clean",
        clock=ManualClock(),
    )
    kept = max(b for b in boundaries if b <= cut)
    assert reopened.segments[-1].size == kept
    data = reopened.read(0, 10**9).records
    assert before.startswith(data)
    assert len(data) == len(before) - (active.size - kept)
    assert offsets(data) == list(range(reopened.log_end_offset))
    assert (dir / f"{active.base_offset:020d}.log").stat().st_size == kept
    end = reopened.log_end_offset
    assert end == (offsets(data)[-1] + 1 if data else 0)
    assert append(reopened, make_batch(2)).first_offset == end
    assert offsets(reopened.read(0, 10**9).records) == list(range(reopened.log_end_offset))


def test_corrupt_crc_in_the_middle_truncates_there(tmp_path: Path) -> None:
    dir = tmp_path / "t-0"
    log, _, _ = build(dir, SMALL, 40, random.Random(1))
    assert log.num_segments >= 4
    victim = log.segments[1]
    second = victim.translate_offset(victim.base_offset + 1)
    data = log.read(victim.base_offset, 10**9).records
    first_len = int.from_bytes(data[8:12], "big") + 12
    bad_offset = int.from_bytes(data[first_len : first_len + 8], "big")
    assert second is not None
    log.close()
    path = dir / f"{victim.base_offset:020d}.log"
    raw = bytearray(path.read_bytes())
    raw[first_len + 70] ^= 0xFF  # inside the second batch's records
    path.write_bytes(bytes(raw))

    reopened = Log.open(dir, SMALL, recovery_point=0, clock=ManualClock())
    assert reopened.log_end_offset == bad_offset
    assert reopened.num_segments == 2
    assert sorted(p.name for p in dir.glob("*.log")) == [
        f"{s.base_offset:020d}.log" for s in reopened.segments
    ]
    assert reopened.segments[-1].size == first_len
    assert append(reopened, make_batch(1)).first_offset == bad_offset


def test_corruption_below_the_recovery_point_is_trusted(tmp_path: Path) -> None:
    dir = tmp_path / "t-0"
    log, _, _ = build(dir, SMALL, 40, random.Random(2))
    end = log.log_end_offset
    log.flush()
    log.close()
    path = dir / "00000000000000000000.log"
    raw = bytearray(path.read_bytes())
    raw[100] ^= 0xFF
    path.write_bytes(bytes(raw))
    assert Log.open(dir, SMALL, recovery_point=end, clock=ManualClock()).log_end_offset == end


def test_deleted_indexes_are_rebuilt_identically(tmp_path: Path) -> None:
    dir = tmp_path / "t-0"
    config = LogConfig(segment_bytes=3000, index_interval_bytes=100)
    log, _, _ = build(dir, config, 80, random.Random(3))
    log.flush()
    expected = [(s.offset_index.to_bytes(), s.time_index.to_bytes()) for s in log.segments]
    assert all(e[0] for e in expected)
    before = log.read(0, 10**9).records
    log.close()
    for p in list(dir.glob("*.index")) + list(dir.glob("*.timeindex")):
        p.unlink()

    reopened = Log.open(
        dir, config, recovery_point=log.log_end_offset, had_clean_shutdown=True, clock=ManualClock()
    )
    rebuilt = [(s.offset_index.to_bytes(), s.time_index.to_bytes()) for s in reopened.segments]
    assert [r[0] for r in rebuilt] == [e[0] for e in expected]
    assert [r[1] for r in rebuilt[:-1]] == [e[1] for e in expected[:-1]]
    for s, (offset_index, _) in zip(reopened.segments, rebuilt):
        assert (dir / f"{s.base_offset:020d}.index").read_bytes() == offset_index
    assert reopened.read(0, 10**9).records == before
    for offset in range(0, reopened.log_end_offset, 7):
        assert offset in offsets(reopened.read(offset, 1).records)


def test_corrupt_index_is_rebuilt(tmp_path: Path) -> None:
    dir = tmp_path / "t-0"
    log, _, _ = build(dir, SMALL, 30, random.Random(4))
    log.close()
    index = dir / "00000000000000000000.index"
    good = index.read_bytes()
    index.write_bytes(good + b"\x01\x02\x03")  # not a multiple of 8
    reopened = Log.open(dir, SMALL, recovery_point=log.log_end_offset, clock=ManualClock())
    assert reopened.segments[0].offset_index.to_bytes() == good
    assert index.read_bytes() == good


def test_preallocated_zeros_are_trimmed(tmp_path: Path) -> None:
    dir = tmp_path / "t-0"
    log, _, _ = build(dir, SMALL, 10, random.Random(5))
    end, size = log.log_end_offset, log.segments[-1].size
    log.close()
    with open(dir / f"{log.segments[-1].base_offset:020d}.log", "ab") as f:
        f.write(b"\x00" * 500)
    reopened = Log.open(
        dir, SMALL, recovery_point=end, had_clean_shutdown=True, clock=ManualClock()
    )
    assert (reopened.log_end_offset, reopened.segments[-1].size) == (end, size)


def test_stray_and_orphan_files_are_removed(tmp_path: Path) -> None:
    dir = tmp_path / "t-0"
    log, _, _ = build(dir, SMALL, 5, random.Random(6))
    log.close()
    strays = [
        "00000000000000000000.log.swap",
        "00000000000000000000.log.cleaned",
        "00000000000000000000.log.deleted",
        "00000000000000000000.snapshot.tmp",
        "00000000000000000777.index",
        "00000000000000000777.timeindex",
    ]
    for name in strays:
        (dir / name).write_bytes(b"junk")
    Log.open(dir, SMALL, recovery_point=log.log_end_offset, clock=ManualClock())
    assert not any((dir / name).exists() for name in strays)


def test_clean_reopen_keeps_everything(tmp_path: Path) -> None:
    dir = tmp_path / "t-0"
    log, _, _ = build(dir, SMALL, 50, random.Random(7))
    state = (
        [(s.base_offset, s.size, s.max_timestamp) for s in log.segments],
        log.log_end_offset,
        log.read(0, 10**9).records,
    )
    log.flush()
    log.close()
    reopened = Log.open(
        dir, SMALL, recovery_point=state[1], had_clean_shutdown=True, clock=ManualClock()
    )
    assert (
        [(s.base_offset, s.size, s.max_timestamp) for s in reopened.segments],
        reopened.log_end_offset,
        reopened.read(0, 10**9).records,
    ) == state
    assert reopened.recovery_point == state[1]
