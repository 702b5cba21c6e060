from __future__ import annotations

import random
from pathlib import Path

import pytest

from grete.clock import ManualClock
from grete.records.batch import Compression
from grete.records.record import decode_records
from grete.storage.log import Log
from grete.storage.types import LogConfig, TimestampOffset

from .batches import T0, append, make_batch

CONFIG = LogConfig(segment_bytes=2000, index_interval_bytes=120)


def all_records(log: Log) -> list[tuple[int, int]]:
    """(offset, timestamp) of every record, decoded batch by batch."""
    data = log.read(0, 10**9).records
    out = []
    at = 0
    while at < len(data):
        size = int.from_bytes(data[at + 8 : at + 12], "big") + 12
        out += [(r.offset, r.timestamp) for r in decode_records(data[at : at + size])]
        at += size
    return out


def brute_force(
    records: list[tuple[int, int]], target: int, start: int = 0
) -> TimestampOffset | None:
    for offset, ts in records:
        if offset >= start and ts >= target:
            return TimestampOffset(ts, offset)
    return None


def fill(log: Log, rng: random.Random, batches: int, codecs: list[Compression]) -> None:
    clock_ts = T0
    for i in range(batches):
        n = rng.randint(1, 6)
        # mostly increasing, with some records from the past
        stamps = [clock_ts + rng.randint(-30, 40) for _ in range(n)]
        clock_ts += 25
        append(
            log,
            make_batch(
                n,
                timestamps=stamps,
                compression=codecs[i % len(codecs)],
                value_size=rng.randint(5, 80),
            ),
        )


@pytest.mark.parametrize("codec", list(Compression))
def test_offset_for_timestamp_matches_brute_force(tmp_path: Path, codec: Compression) -> None:
    log = Log.open(tmp_path / "t-0", CONFIG, clock=ManualClock())
    fill(log, random.Random(int(codec)), 60, [codec])
    assert log.num_segments > 2
    records = all_records(log)
    lo, hi = min(t for _, t in records), max(t for _, t in records)
    for target in range(lo - 5, hi + 5, 3):
        assert log.offset_for_timestamp(target) == brute_force(records, target), target
    assert log.offset_for_timestamp(hi + 1) is None


def test_offset_for_timestamp_with_mixed_codecs_after_reopen(tmp_path: Path) -> None:
    dir = tmp_path / "t-0"
    log = Log.open(dir, CONFIG, clock=ManualClock())
    fill(log, random.Random(9), 80, list(Compression))
    records = all_records(log)
    log.flush()
    log.close()
    reopened = Log.open(
        dir, CONFIG, recovery_point=log.log_end_offset, had_clean_shutdown=True, clock=ManualClock()
    )
    for target in range(T0 - 40, T0 + 25 * 80 + 50, 7):
        assert reopened.offset_for_timestamp(target) == brute_force(records, target), target


def test_max_timestamp_offset_is_earliest_record_with_max(tmp_path: Path) -> None:
    log = Log.open(tmp_path / "t-0", CONFIG, clock=ManualClock())
    assert log.max_timestamp_offset() is None
    assert log.offset_for_timestamp(0) is None
    append(log, make_batch(3, timestamps=[T0, T0 + 50, T0 + 1]))
    append(log, make_batch(3, timestamps=[T0 + 2, T0 + 90, T0 + 90], compression=Compression.ZSTD))
    append(log, make_batch(2, timestamps=[T0 + 90, T0 + 3]))
    assert log.max_timestamp_offset() == TimestampOffset(T0 + 90, 4)


def test_log_append_time_batches(tmp_path: Path) -> None:
    log = Log.open(tmp_path / "t-0", CONFIG, clock=ManualClock())
    append(log, make_batch(3, timestamps=[T0, T0 + 1, T0 + 2]))
    append(
        log,
        make_batch(4, timestamps=[T0 - 100] * 4, compression=Compression.LZ4),
        log_append_time_ms=T0 + 1000,
    )
    assert log.offset_for_timestamp(T0 + 3) == TimestampOffset(T0 + 1000, 3)
    assert log.max_timestamp_offset() == TimestampOffset(T0 + 1000, 3)


def test_offset_for_timestamp_respects_log_start_offset(tmp_path: Path) -> None:
    dir = tmp_path / "t-0"
    log = Log.open(dir, CONFIG, clock=ManualClock())
    for i in range(5):
        append(log, make_batch(2, timestamps=[T0 + i, T0 + i]))
    log.close()
    reopened = Log.open(dir, CONFIG, log_start_offset=3, recovery_point=10, clock=ManualClock())
    assert reopened.log_start_offset == 3
    assert reopened.offset_for_timestamp(T0) == TimestampOffset(T0 + 1, 3)
