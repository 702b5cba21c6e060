"""The log cleaner over real batches and real segment files, with an injected clock."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from grete.clock import ManualClock
from grete.records.batch import Compression, read_header, split_batches, validate_batch
from grete.records.builder import BatchSpec, Record, build_batch
from grete.records.record import decode_records
from grete.storage.cleaner import CleaningJob, SourceSegment, Throttler, run_cleaning
from grete.storage.cleaner_core import SegmentInfo, cleanable_range
from grete.storage.cleaner_manager import CleanerConfig, LogCleaner
from grete.storage.log import Log
from grete.storage.log_manager import LogManager
from grete.storage.segment import CLEANED_SUFFIX, SWAP_SUFFIX, LogSegment, segment_path
from grete.storage.types import LogConfig

from .batches import append

T0 = 1_700_000_000_000
CONFIG = LogConfig(
    segment_bytes=4096, cleanup_policy=("compact",), delete_retention_ms=60_000,
    min_cleanable_dirty_ratio=0.0, index_interval_bytes=256, file_delete_delay_ms=0,
)


def batch(pairs: list[tuple[str, str | None]], *, ts: int = T0, codec: Compression = Compression.NONE,
          spec: BatchSpec | None = None) -> bytes:
    records = [Record(k.encode(), None if v is None else v.encode(), timestamp=ts) for k, v in pairs]
    return build_batch(records, spec or BatchSpec(base_timestamp=ts, compression=codec))


def everything(log: Log) -> list[tuple[int, bytes | None, bytes | None]]:
    out = []
    records = log.read(log.log_start_offset, 1 << 30).records
    for start, end in split_batches(records):
        validate_batch(records[start:end])  # CRC-32C of every batch, cleaned or not
        out += [(r.offset, r.key, r.value) for r in decode_records(records[start:end])]
    return out


def latest(entries: list[tuple[int, bytes | None, bytes | None]]) -> dict[bytes, tuple[int, bytes | None]]:
    result: dict[bytes, tuple[int, bytes | None]] = {}
    for offset, key, value in entries:
        assert key is not None
        result[key] = (offset, value)
    return result


def fill(log: Log, updates: int, keys: int, codec: Compression = Compression.NONE) -> None:
    for i in range(0, updates, 5):
        append(log, batch([(f"k{(i + j) % keys}", f"v{i + j}") for j in range(5)], codec=codec))
    log.roll()


_cleaners: list[LogCleaner] = []


@pytest.fixture(autouse=True)
def _stop_cleaner_processes() -> Iterator[None]:
    yield
    import asyncio
    while _cleaners:
        asyncio.run(_cleaners.pop().worker.close())


def clean(tmp_path: Path, log: Log, clock: ManualClock) -> LogCleaner:
    manager = LogManager(tmp_path, CONFIG, clock, {("t", 0): log}, had_clean_shutdown=False)
    cleaner = LogCleaner(manager, CleanerConfig(), clock, lambda: [(("t", 0), log, log.log_end_offset)])
    _cleaners.append(cleaner)
    return cleaner


def run(cleaner: LogCleaner) -> bool:
    import asyncio
    return asyncio.run(cleaner.clean_filthiest())


@pytest.mark.parametrize("codec", [Compression.NONE, Compression.GZIP, Compression.SNAPPY,
                                   Compression.LZ4, Compression.ZSTD])
def test_latest_value_per_key_survives_at_its_offset(tmp_path: Path, codec: Compression) -> None:
    clock = ManualClock(T0)
    log = Log.open(tmp_path / "t-0", CONFIG, clock=clock)
    fill(log, 400, 20, codec)
    before = everything(log)
    expected = latest(before)
    size_before = log.size_bytes
    assert run(clean(tmp_path, log, clock))
    after = everything(log)
    assert latest(after) == expected  # latest value of each key, at its original offset
    assert sorted(o for o, _, _ in after) == [o for o, _, _ in after]  # increasing
    assert {o for o, _, _ in after} == {o for o, _ in expected.values()}  # exactly those
    assert log.size_bytes < size_before / 5
    assert log.log_end_offset == 400
    for segment in log.segments[:-1]:
        data = log.read(segment.base_offset, 1 << 20).records
        for start, end in split_batches(data):
            header = read_header(data[start:end])
            if header.records_count:
                assert header.compression == codec  # recompressed with the same codec
    reopened = Log.open(tmp_path / "t-0", CONFIG, clock=clock)  # indexes rebuilt or valid
    assert everything(reopened) == after
    assert reopened.read(expected[b"k7"][0], 100).records  # the offset index finds survivors


def test_tombstones_go_only_after_delete_retention_ms(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    log = Log.open(tmp_path / "t-0", CONFIG, clock=clock)
    fill(log, 100, 10)
    append(log, batch([("k3", None), ("k4", None)]))
    append(log, batch([("k9", "last")]))
    log.roll()
    cleaner = clean(tmp_path, log, clock)
    assert run(cleaner)
    first = latest(everything(log))
    assert first[b"k3"][1] is None and first[b"k4"][1] is None  # kept, horizon set
    clock.advance(CONFIG.delete_retention_ms - 1)
    assert not run(cleaner)  # nothing dirty, horizon not reached
    clock.advance(2)
    assert run(cleaner)  # the horizon triggers a cleaning
    second = latest(everything(log))
    assert b"k3" not in second and b"k4" not in second
    assert second[b"k9"][1] == b"last"
    assert {k: v for k, v in second.items()} == {k: v for k, v in first.items() if v[1] is not None}


def test_producer_last_batch_is_kept_and_header_fields_preserved(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    log = Log.open(tmp_path / "t-0", CONFIG, clock=clock)
    spec = BatchSpec(base_timestamp=T0, producer_id=42, producer_epoch=3, base_sequence=0)
    append(log, batch([("a", "1"), ("b", "1")], spec=spec))
    append(log, batch([("a", "2"), ("b", "2")], spec=BatchSpec(
        base_timestamp=T0, producer_id=42, producer_epoch=3, base_sequence=2)))
    append(log, batch([("a", "3"), ("b", "3")]))  # supersedes the producer's last batch
    append(log, batch([("c", "x")]))
    log.roll()
    assert run(clean(tmp_path, log, clock))
    data = log.read(0, 1 << 20).records
    headers = [read_header(data[s:e]) for s, e in split_batches(data)]
    kept = [h for h in headers if h.producer_id == 42]
    assert len(kept) == 1 and kept[0].records_count == 0  # empty, but there
    assert (kept[0].base_offset, kept[0].last_offset, kept[0].producer_epoch,
            kept[0].base_sequence) == (2, 3, 3, 2)
    reopened = Log.open(tmp_path / "t-0", CONFIG, clock=clock)
    assert reopened.producer_state.producers[42].last_seq == 3


def test_dirty_ratio_and_lags(tmp_path: Path) -> None:
    segs = [SegmentInfo(0, 1000, 8, T0, T0), SegmentInfo(10, 1000, 8, T0 + 5000, T0 + 4000),
            SegmentInfo(20, 0, 0, -1, -1)]
    kw = {"checkpoint": 10, "log_start_offset": 0, "log_end_offset": 20, "high_watermark": 20,
          "now_ms": T0 + 6000}
    half = cleanable_range(segs, LogConfig(min_cleanable_dirty_ratio=0.5), **kw)  # type: ignore[arg-type]
    assert (half.first_dirty_offset, half.first_uncleanable_offset, half.ratio) == (10, 20, 0.5)
    assert not half.should_clean(LogConfig(min_cleanable_dirty_ratio=0.5))  # needs > ratio
    assert half.should_clean(LogConfig(min_cleanable_dirty_ratio=0.4))
    lag = LogConfig(min_compaction_lag_ms=2000, min_cleanable_dirty_ratio=0.0)
    young = cleanable_range(segs, lag, **kw)  # type: ignore[arg-type]
    assert young.cleanable_bytes == 0  # segment 10 holds a record newer than 2 s
    forced = LogConfig(min_cleanable_dirty_ratio=0.9, max_compaction_lag_ms=1000)
    assert cleanable_range(segs, forced, **kw).should_clean(forced)  # type: ignore[arg-type]
    hw = cleanable_range(segs, LogConfig(), **{**kw, "high_watermark": 15})  # type: ignore[arg-type]
    assert hw.first_uncleanable_offset == 10  # the segment holding the HW is not cleaned


def _cleaned_files(
    tmp_path: Path, log: Log, clock: ManualClock
) -> tuple[list[LogSegment], list[tuple[LogSegment, tuple[int, ...]]]]:
    """Run the worker only: .cleaned files on disk, the log untouched."""
    segments = list(log.segments)
    sources = tuple(
        SourceSegment(SegmentInfo(s.base_offset, s.size, 0, -1, -1),
                      segment_path(log.dir, s.base_offset, ".log"), segments[i + 1].base_offset, 0)
        for i, s in enumerate(segments[:-1])
    )
    job = CleaningJob(log.dir, CONFIG, sources, 0, segments[-1].base_offset, clock.time_ms(), {}, 1 << 20)
    result = run_cleaning(job, Throttler(float("inf"), threading.Event()))
    opened = [
        (LogSegment.open(log.dir, g.base_offset, index_interval_bytes=CONFIG.index_interval_bytes,
                         max_index_bytes=CONFIG.segment_index_bytes, now_ms=clock.time_ms(),
                         file_suffix=CLEANED_SUFFIX), g.replaces)
        for g in result.groups
    ]
    return segments, opened


@pytest.mark.parametrize("step", ["cleaned", "half-swap", "swap", "old-deleted", "half-final"])
def test_crash_recovers_old_or_new_never_a_mix(tmp_path: Path, step: str) -> None:
    clock = ManualClock(T0)
    log = Log.open(tmp_path / "t-0", CONFIG, clock=clock)
    fill(log, 300, 10)
    old = everything(log)
    segments, groups = _cleaned_files(tmp_path, log, clock)
    new_expected = latest(old)
    cleaned, bases = groups[0]
    old_in_group = [s for s in segments if s.base_offset in bases]
    if step == "half-swap":  # index renamed .swap, log still .cleaned
        (log.dir / f"{cleaned.base_offset:020d}.index{CLEANED_SUFFIX}").rename(
            log.dir / f"{cleaned.base_offset:020d}.index{SWAP_SUFFIX}")
    if step in ("swap", "old-deleted", "half-final"):
        cleaned.change_file_suffix(SWAP_SUFFIX)
    if step in ("old-deleted", "half-final"):
        for s in old_in_group[: len(old_in_group) // 2 + 1]:
            s.rename_for_deletion()
    if step == "half-final":
        for s in old_in_group:
            s.rename_for_deletion()
        (log.dir / f"{cleaned.base_offset:020d}.index{SWAP_SUFFIX}").rename(
            log.dir / f"{cleaned.base_offset:020d}.index")
    # kill -9 here: no close, no checkpoint
    reopened = Log.open(tmp_path / "t-0", CONFIG, clock=clock)
    after = everything(reopened)
    group_end = max(o for o, _, _ in old if o < (segments[len(bases)].base_offset))
    in_group = [e for e in after if e[0] <= group_end]
    old_group = [e for e in old if e[0] <= group_end]
    if step in ("cleaned", "half-swap"):
        assert in_group == old_group  # the old segments, untouched
    else:
        assert in_group == sorted(  # the new segment: only each key's latest record
            (o, k, v) for k, (o, v) in new_expected.items() if o <= group_end
        )
        assert len(in_group) < len(old_group)
    assert [e for e in after if e[0] > group_end] == [e for e in old if e[0] > group_end]
    assert latest(after) == new_expected
    offsets = [o for o, _, _ in after]
    assert offsets == sorted(set(offsets))  # no duplicates, increasing
    leftovers = [p.name for p in reopened.dir.iterdir() if p.name.endswith((CLEANED_SUFFIX, SWAP_SUFFIX))]
    assert leftovers == []


def test_a_dead_worker_process_costs_one_cleaning_not_the_log(tmp_path: Path) -> None:
    """The cleaner runs in a process of its own: killing it mid-cleaning leaves the log
    as it was, no .cleaned file behind, and the next cleaning starts a new worker."""
    import asyncio
    import os
    import signal
    clock = ManualClock(T0)
    log = Log.open(tmp_path / "t-0", CONFIG, clock=clock)
    fill(log, 2000, 20)
    before = everything(log)
    manager = LogManager(tmp_path, CONFIG, clock, {("t", 0): log}, had_clean_shutdown=False)
    slow = LogCleaner(manager, CleanerConfig(io_max_bytes_per_second=20_000), clock,
                      lambda: [(("t", 0), log, log.log_end_offset)])
    _cleaners.append(slow)

    async def kill_mid_cleaning() -> bool:
        cleaning = asyncio.ensure_future(slow.clean_filthiest())
        for _ in range(200):  # the worker is spawned on the first cleaning
            await asyncio.sleep(0.05)
            if slow.worker.pids:
                break
        [pid] = slow.worker.pids
        await asyncio.sleep(0.5)  # reading, throttled: mid-cleaning
        assert not cleaning.done()
        os.kill(pid, signal.SIGKILL)
        return await asyncio.wait_for(cleaning, 30)

    assert asyncio.run(kill_mid_cleaning()) is False
    assert everything(log) == before
    assert [p.name for p in log.dir.iterdir() if p.name.endswith(CLEANED_SUFFIX)] == []
    assert slow.passes == 0
    fast = clean(tmp_path, log, clock)
    assert run(fast)
    assert latest(everything(log)) == latest(before)


def test_stopping_aborts_a_cleaning_in_progress_promptly(tmp_path: Path) -> None:
    import asyncio
    import time
    clock = ManualClock(T0)
    log = Log.open(tmp_path / "t-0", CONFIG, clock=clock)
    fill(log, 2000, 20)
    before = everything(log)
    manager = LogManager(tmp_path, CONFIG, clock, {("t", 0): log}, had_clean_shutdown=False)
    slow = LogCleaner(manager, CleanerConfig(io_max_bytes_per_second=5_000, backoff_ms=10), clock,
                      lambda: [(("t", 0), log, log.log_end_offset)])
    _cleaners.append(slow)

    async def stop_mid_cleaning() -> float:
        task = asyncio.create_task(slow.run())
        for _ in range(200):
            await asyncio.sleep(0.05)
            if slow.worker.pids:
                break
        await asyncio.sleep(0.5)
        started = time.monotonic()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return time.monotonic() - started

    import contextlib
    throttled_pass_s = log.size_bytes / 5_000
    assert throttled_pass_s > 4
    assert asyncio.run(stop_mid_cleaning()) < throttled_pass_s / 2  # aborted, not finished
    assert slow.worker.pids == []
    assert slow.passes == 0
    assert everything(log) == before
    assert [p.name for p in log.dir.iterdir() if p.name.endswith(CLEANED_SUFFIX)] == []


def test_a_cleaning_that_finishes_as_the_broker_stops_leaves_no_cleaned_files(tmp_path: Path) -> None:
    """The stop cancels the cleaner just as its worker returns: the result is never
    swapped in, and its .cleaned files must not stay behind (CI once found two)."""
    import asyncio
    clock = ManualClock(T0)
    log = Log.open(tmp_path / "t-0", CONFIG, clock=clock)
    fill(log, 2000, 20)
    before = everything(log)
    cleaner = clean(tmp_path, log, clock)
    real_clean = cleaner.worker.clean

    async def scenario() -> None:
        task: asyncio.Task[bool]

        async def clean_as_the_broker_stops(job):  # type: ignore[no-untyped-def]
            result = await real_clean(job)
            assert result.groups  # it did write cleaned segments
            task.cancel()
            return result

        cleaner.worker.clean = clean_as_the_broker_stops  # type: ignore[method-assign]
        task = asyncio.ensure_future(cleaner.clean_filthiest())
        try:
            await task
        except asyncio.CancelledError:
            pass
        else:
            raise AssertionError("the cleaning was not cancelled")
        await cleaner.worker.close()

    asyncio.run(scenario())
    assert cleaner.passes == 0
    assert everything(log) == before
    assert [p.name for p in log.dir.iterdir() if p.name.endswith(CLEANED_SUFFIX)] == []
