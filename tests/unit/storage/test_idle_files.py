"""Idle segment files are closed and reopen on their next use, losing nothing."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from grete.clock import ManualClock
from grete.storage.log import Log
from grete.storage.log_manager import LogManager
from grete.storage.types import LogConfig

from .batches import append, make_batch, offsets

SMALL = LogConfig(segment_bytes=1000, index_interval_bytes=150)
LATER = 10**9  # a time.monotonic() far in the future: every file is idle then


def open_log(path: Path) -> Log:
    return Log.open(path / "t-0", SMALL, clock=ManualClock())


def everything(log: Log) -> bytes:
    return bytes(log.read(log.log_start_offset, 10**9).records)


def open_files(under: Path, suffix: str) -> set[str]:
    """Files under ``under`` this process has open (other tests' logs may be open too)."""
    paths = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            paths.add(os.readlink(f"/proc/self/fd/{fd}"))
        except FileNotFoundError:  # the listing's own descriptor
            pass
    return {p for p in paths if p.startswith(str(under)) and p.endswith(suffix)}


def test_idle_files_close_and_reopen_on_read_and_append(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    for _ in range(30):
        append(log, make_batch(3))
    assert log.num_segments > 2
    before = everything(log)
    assert len(open_files(tmp_path, ".log")) == log.num_segments
    assert log.close_idle_files(time.monotonic() + 3600, 60.0) == log.num_segments
    assert not open_files(tmp_path, ".log")
    assert everything(log) == before  # reads reopen the files
    end = log.log_end_offset
    info = append(log, make_batch(2))
    assert info.first_offset == end
    assert offsets(log.read(end, 10**6).records) == [end, end + 1]
    log.close()


def test_recently_used_files_stay_open(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    append(log, make_batch(3))
    assert log.close_idle_files(time.monotonic(), 60.0) == 0
    assert log.close_idle_files(time.monotonic() + 61, 60.0) == 1
    log.close()


def test_a_write_then_an_idle_close_is_still_fsynced_by_the_next_flush(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = open_log(tmp_path)
    log.flush()
    append(log, make_batch(3))
    assert log.close_idle_files(LATER, 1.0) == 1
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    log.flush()
    assert any(p.endswith("00000000000000000000.log") for p in synced), synced
    # Nothing written since: an idle close costs no reopen at the next flush.
    assert log.close_idle_files(LATER, 1.0) == 1
    synced.clear()
    append(log, make_batch(1))  # reopens; this one is written, so it is synced
    log.close_idle_files(LATER, 1.0)
    log.flush()
    assert any(p.endswith(".log") for p in synced)
    log.close()


def test_a_scan_suspended_across_an_idle_close_reads_the_right_file(tmp_path: Path) -> None:
    log = Log.open(tmp_path / "t-0", LogConfig(), clock=ManualClock())
    for _ in range(3):  # each batch larger than a scan's 16 KiB read: one read per batch
        append(log, make_batch(3, value_size=8000))
    segment = log.segments[0]
    scan = segment.headers()
    first = next(scan)
    assert segment.close_if_idle(LATER, 1.0)
    # The freed descriptor number goes to another file, as it would in a busy broker.
    other = tmp_path / "other"
    other.write_bytes(b"\xff" * 4096)
    fd = os.open(other, os.O_RDONLY)
    try:
        rest = [batch.header.base_offset for batch in scan]
    finally:
        os.close(fd)
    assert first.header.base_offset == 0
    assert rest == [3, 6]
    log.close()


def test_a_segment_renamed_for_deletion_keeps_its_file_open(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    for _ in range(30):
        append(log, make_batch(3))
    assert log.num_segments > 1
    oldest = log.segments[0]
    oldest.rename_for_deletion()
    assert not oldest.close_if_idle(LATER, 1.0)
    assert oldest.read(0, 10**6, max_offset=None, min_one_batch=True)
    log.close()


def test_the_log_manager_closes_idle_files_of_every_log(tmp_path: Path) -> None:
    manager = LogManager.open(tmp_path, SMALL, clock=ManualClock())
    logs = [manager.create(f"t{i}", 0) for i in range(5)]
    for lg in logs:
        append(lg, make_batch(2))
    assert manager.close_idle_files(0.0) == 5
    assert all(lg.read(0, 10**6).records for lg in logs)
    manager.shutdown()


@pytest.mark.parametrize("threads", [1, 4])
def test_logs_load_and_shut_down_on_recovery_threads_holding_no_files(
    tmp_path: Path, threads: int
) -> None:
    manager = LogManager.open(tmp_path, SMALL, clock=ManualClock(), recovery_threads=threads)
    contents = {}
    for i in range(20):
        lg = manager.create(f"t{i}", 0)
        for _ in range(i % 4 + 1):
            append(lg, make_batch(3))
        contents[f"t{i}"] = everything(lg)
    manager.shutdown()
    assert (tmp_path / ".kafka_cleanshutdown").exists()
    reopened = LogManager.open(tmp_path, SMALL, clock=ManualClock(), recovery_threads=threads)
    assert not open_files(tmp_path, ".log")  # loading released every file it opened
    assert {t: everything(reopened.get(t, 0)) for t in contents} == contents  # type: ignore[arg-type]
    reopened.shutdown()


def test_a_log_that_fails_to_load_fails_the_start_on_threads_too(tmp_path: Path) -> None:
    manager = LogManager.open(tmp_path, SMALL, clock=ManualClock())
    for i in range(6):
        append(manager.create(f"t{i}", 0), make_batch(2))
    manager.shutdown()
    (tmp_path / "t3-0" / "00000000000000000000.log").chmod(0)
    (tmp_path / "t3-0" / "00000000000000000000.log").rename(tmp_path / "t3-0" / "x")
    (tmp_path / "t3-0" / "00000000000000000000.log").mkdir()  # unreadable as a file
    with pytest.raises(OSError):
        LogManager.open(tmp_path, SMALL, clock=ManualClock(), recovery_threads=3)
