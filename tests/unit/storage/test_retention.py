"""Retention, log start offset moves and deferred segment deletion, with an injected clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from grete.clock import ManualClock
from grete.storage.checkpoint import read_checkpoint
from grete.storage.errors import OffsetOutOfRange
from grete.storage.log import Log
from grete.storage.log_manager import LogManager
from grete.storage.retention import (
    SegmentStats,
    deletable_segments,
    remove_segment_files,
)
from grete.storage.segment import DELETED_SUFFIX
from grete.storage.types import LogConfig

from .batches import T0, append, headers, make_batch, offsets

HOUR = 3_600_000
# About 3 batches of 3 records per segment (each batch is ~130 bytes).
SMALL = LogConfig(segment_bytes=400, index_interval_bytes=150, retention_ms=-1)


def stats(*sizes_and_times: tuple[int, int], step: int = 10) -> list[SegmentStats]:
    return [SegmentStats(i * step, size, ts) for i, (size, ts) in enumerate(sizes_and_times)]


def count(segments: list[SegmentStats], config: LogConfig, **kw: int) -> int:
    args = {"now_ms": 10 * HOUR, "log_start_offset": 0, "high_watermark": 10**9} | kw
    return deletable_segments(segments, config, **args)


# -- the policy, without files -------------------------------------------------------------------


def test_size_retention_keeps_at_least_retention_bytes() -> None:
    segments = stats((100, 0), (100, 0), (100, 0), (100, 0), (50, 0))  # 450 bytes
    assert count(segments, LogConfig(retention_ms=-1, retention_bytes=250)) == 2  # 250 left
    assert count(segments, LogConfig(retention_ms=-1, retention_bytes=249)) == 2  # never below
    assert count(segments, LogConfig(retention_ms=-1, retention_bytes=150)) == 3  # 150 left
    assert count(segments, LogConfig(retention_ms=-1, retention_bytes=450)) == 0
    assert count(segments, LogConfig(retention_ms=-1, retention_bytes=0)) == 4  # never the active
    assert count(segments, LogConfig(retention_ms=-1, retention_bytes=-1)) == 0


def test_time_retention_stops_at_the_first_young_segment() -> None:
    now = 10 * HOUR
    segments = stats(
        (1, now - 5 * HOUR),
        (1, now - 3 * HOUR),
        (1, now - HOUR),
        (1, now - 4 * HOUR),
        (1, now - 9 * HOUR),
    )
    config = LogConfig(retention_ms=2 * HOUR)
    # The fourth is old but follows a young one; the last is the active segment.
    assert count(segments, config) == 2
    assert count(segments, LogConfig(retention_ms=3 * HOUR)) == 1  # exactly 3 h old stays
    assert count(segments, LogConfig(retention_ms=-1)) == 0


def test_nothing_at_or_above_the_high_watermark_goes() -> None:
    segments = stats((100, 0), (100, 0), (100, 0), (100, 0))  # bases 0, 10, 20, 30
    config = LogConfig(retention_ms=1)
    assert count(segments, config, high_watermark=30) == 3
    assert count(segments, config, high_watermark=29) == 2  # segment 20 holds offset 29
    assert count(segments, config, high_watermark=0) == 0


def test_segments_below_the_log_start_go_whatever_the_policy() -> None:
    segments = stats((100, 10 * HOUR), (100, 10 * HOUR), (100, 10 * HOUR))
    compact = LogConfig(cleanup_policy=("compact",), retention_ms=1, retention_bytes=0)
    assert count(segments, compact, log_start_offset=15) == 1  # segment 10 holds 15
    assert count(segments, compact, log_start_offset=20) == 2
    assert count(segments, compact, log_start_offset=9) == 0
    assert count(segments, LogConfig(), log_start_offset=20) == 2


def test_compact_only_topics_keep_old_and_large_segments() -> None:
    segments = stats((100, 0), (100, 0), (100, 0))
    config = LogConfig(cleanup_policy=("compact",), retention_ms=1, retention_bytes=1)
    assert count(segments, config) == 0
    both = LogConfig(cleanup_policy=("compact", "delete"), retention_ms=1)
    assert count(segments, both) == 2


# -- on a real log ---------------------------------------------------------------------------------


def open_log(path: Path, config: LogConfig = SMALL, clock: ManualClock | None = None) -> Log:
    return Log.open(path / "t-0", config, clock=clock or ManualClock())


def fill(log: Log, batches: int, *, timestamp: int = T0) -> None:
    for _ in range(batches):
        append(log, make_batch(3, timestamps=[timestamp] * 3))


def test_time_retention_deletes_segments_whose_newest_record_is_too_old(tmp_path: Path) -> None:
    clock = ManualClock(T0 + 10 * HOUR)
    log = open_log(tmp_path, SMALL, clock)
    fill(log, 8, timestamp=T0)  # three batches a segment: the third has room for one more
    old_segments = log.num_segments - 1
    fill(log, 9, timestamp=T0 + 8 * HOUR)  # newer
    assert old_segments >= 2 and log.num_segments >= old_segments + 3
    log.update_config(LogConfig(segment_bytes=400, index_interval_bytes=150, retention_ms=5 * HOUR))
    first_young = log.segments[old_segments].base_offset
    before = log.read(first_young, 10**9).records

    doomed = log.delete_old_segments(clock.time_ms(), log.log_end_offset)

    # The segment that holds both old and new records stays: its newest record is young.
    assert len(doomed) == old_segments
    assert all(s.max_timestamp.timestamp == T0 for s in doomed)
    assert all(s.max_timestamp.timestamp == T0 + 8 * HOUR for s in log.segments)
    assert log.log_start_offset == first_young == log.segments[0].base_offset
    assert log.read(first_young, 10**9).records == before
    with pytest.raises(OffsetOutOfRange):
        log.read(first_young - 1, 1000)
    # Nothing more goes until time passes; then all but the active segment.
    assert log.delete_old_segments(clock.time_ms(), log.log_end_offset) == []
    clock.advance(4 * HOUR)
    assert len(log.delete_old_segments(clock.time_ms(), log.log_end_offset)) >= 1
    assert log.num_segments == 1 and log.log_start_offset == log.active_segment.base_offset


def test_size_retention_settles_below_limit_plus_one_segment(tmp_path: Path) -> None:
    config = LogConfig(
        segment_bytes=400, index_interval_bytes=150, retention_ms=-1, retention_bytes=1200
    )
    log = open_log(tmp_path, config)
    for _ in range(10):
        fill(log, 5)
        log.delete_old_segments(0, log.log_end_offset)
        assert log.size_bytes <= config.retention_bytes + config.segment_bytes
    data = log.read(log.log_start_offset, 10**9).records
    assert offsets(data) == list(range(log.log_start_offset, log.log_end_offset))
    assert log.log_start_offset > 0


def test_retention_renames_then_the_queue_removes_after_the_delay(tmp_path: Path) -> None:
    clock = ManualClock(T0 + 10 * HOUR)
    config = LogConfig(
        segment_bytes=400, index_interval_bytes=150, retention_ms=HOUR, file_delete_delay_ms=60_000
    )
    manager = LogManager.open(tmp_path, config, clock)
    log = manager.create("t", 0, config)
    fill(log, 12)
    names = {p.name for p in (tmp_path / "t-0").glob("*.log")}

    deleted = manager.delete_old_segments(log, log.log_end_offset)

    assert deleted == len(names) - 1
    left = {p.name for p in (tmp_path / "t-0").glob("*.log")}
    assert left == {f"{log.active_segment.base_offset:020d}.log"}
    renamed = {p.name for p in (tmp_path / "t-0").glob(f"*{DELETED_SUFFIX}")}
    assert {n + DELETED_SUFFIX for n in names - left} <= renamed
    assert manager.deletions.ms_until_next(clock.time_ms()) == 60_000
    clock.advance(59_999)
    assert manager.deletions.pop_due(clock.time_ms()) == []
    clock.advance(1)
    due = manager.deletions.pop_due(clock.time_ms())
    assert len(due) == deleted
    remove_segment_files(due)
    assert list((tmp_path / "t-0").glob(f"*{DELETED_SUFFIX}")) == []
    assert manager.deletions.ms_until_next(clock.time_ms()) is None


def test_a_read_in_progress_on_a_deleted_segment_completes(tmp_path: Path) -> None:
    clock = ManualClock(T0 + 10 * HOUR)
    log = open_log(
        tmp_path, LogConfig(segment_bytes=400, index_interval_bytes=150, retention_ms=HOUR), clock
    )
    fill(log, 12)
    everything = log.read(0, 10**9).records
    reader = log.headers_from(0)  # a reader already walking the oldest segment
    first = next(reader)
    oldest = log.segments[0]

    doomed = log.delete_old_segments(clock.time_ms(), log.log_end_offset)

    assert oldest in doomed and oldest.is_deleted
    assert not (tmp_path / "t-0" / "00000000000000000000.log").exists()
    rest = list(reader)
    assert [first, *rest] == headers(everything)
    # The segment object still serves reads from its renamed, still open file.
    assert oldest.read(0, 10**9, max_offset=None, min_one_batch=True) == everything[: oldest.size]
    remove_segment_files(doomed)
    assert list((tmp_path / "t-0").glob(f"*{DELETED_SUFFIX}")) == []


def test_leftover_deleted_files_are_removed_at_start_up(tmp_path: Path) -> None:
    clock = ManualClock(T0 + 10 * HOUR)
    log = open_log(
        tmp_path, LogConfig(segment_bytes=400, index_interval_bytes=150, retention_ms=HOUR), clock
    )
    fill(log, 12)
    doomed = log.delete_old_segments(clock.time_ms(), log.log_end_offset)
    start, end = log.log_start_offset, log.log_end_offset
    assert doomed and list((tmp_path / "t-0").glob(f"*{DELETED_SUFFIX}"))
    log.close()  # a crash before removal: the .deleted files are still there

    reopened = open_log(tmp_path, LogConfig(segment_bytes=400, index_interval_bytes=150), clock)

    assert list((tmp_path / "t-0").glob(f"*{DELETED_SUFFIX}")) == []
    assert (reopened.log_start_offset, reopened.log_end_offset) == (start, end)


def test_log_start_offset_moves_within_a_segment_and_survives_restart(tmp_path: Path) -> None:
    clock = ManualClock()
    manager = LogManager.open(tmp_path, SMALL, clock)
    log = manager.create("t", 0)
    fill(log, 12)  # offsets 0..35
    append(log, make_batch(3), leader_epoch=3)
    with pytest.raises(OffsetOutOfRange):
        log.maybe_increment_log_start_offset(log.log_end_offset + 1)

    assert log.maybe_increment_log_start_offset(16)
    assert not log.maybe_increment_log_start_offset(10)  # never backwards

    assert log.log_start_offset == 16
    assert log.read(16, 1).first_offset == 15  # the batch holding 16 starts at 15
    with pytest.raises(OffsetOutOfRange):
        log.read(15, 1000)
    assert log.offset_for_timestamp(0) is not None
    assert log.offset_for_timestamp(0).offset == 16  # type: ignore[union-attr]
    assert log.leader_epoch_cache.entries()[0].start_offset == 16
    assert log.recovery_point >= 16
    manager.checkpoint_log_start_offsets()
    assert read_checkpoint(tmp_path / "log-start-offset-checkpoint") == {("t", 0): 16}
    # Segments wholly below the start go with the next retention pass, whatever the policy.
    log.update_config(
        LogConfig(
            segment_bytes=400,
            index_interval_bytes=150,
            retention_ms=-1,
            cleanup_policy=("compact",),
        )
    )
    assert manager.delete_old_segments(log, log.log_end_offset) >= 1
    assert log.segments[0].base_offset <= 16 < log.segments[1].base_offset

    # A crash: no clean shutdown, but the start offset was checkpointed.
    reopened = LogManager.open(tmp_path, SMALL, clock).get("t", 0)
    assert reopened is not None and reopened.log_start_offset == 16
    assert offsets(reopened.read(16, 10**9).records)[1:] == list(range(16, 39))


def test_truncate_fully_and_start_at(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    fill(log, 6)
    append(log, make_batch(1, producer_id=7, producer_epoch=0, base_sequence=0), leader_epoch=2)
    log.roll()

    log.truncate_fully_and_start_at(100)

    assert (log.log_start_offset, log.log_end_offset, log.num_segments) == (100, 100, 1)
    assert [p.name for p in (tmp_path / "t-0").glob("*.log")] == [f"{100:020d}.log"]
    assert len(log.leader_epoch_cache) == 0
    assert log.producer_state.producers == {}
    assert log.producer_state.snapshot_offsets() == []
    assert log.append_as_follower(make_batch(2, base_offset=100)).last_offset == 101
    with pytest.raises(OffsetOutOfRange):
        log.read(99, 100)
