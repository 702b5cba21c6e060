from __future__ import annotations

import os
from pathlib import Path

import pytest

from grete.clock import ManualClock
from grete.storage import log_manager
from grete.storage.checkpoint import read_checkpoint
from grete.storage.log_manager import CLEAN_SHUTDOWN_FILE, LogManager, parse_log_dir_name
from grete.storage.types import LogConfig

from .batches import append, make_batch

CONFIG = LogConfig(segment_bytes=1000, index_interval_bytes=150)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("orders-0", ("orders", 0)),
        ("my-topic-12", ("my-topic", 12)),
        ("a.b-c.d-3", ("a.b-c.d", 3)),
        ("__consumer_offsets-49", ("__consumer_offsets", 49)),
        ("nopartition", None),
        ("topic-", None),
        ("-3", None),
        ("topic-x", None),
    ],
)
def test_parse_log_dir_name(name: str, expected: tuple[str, int] | None) -> None:
    assert parse_log_dir_name(name) == expected


@pytest.fixture(params=["syncfs", "fsync-each-file"])
def durability(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways a stop makes the logs durable: one syncfs (Linux), or an fsync of each
    file where there is no syncfs (macOS)."""
    if request.param == "fsync-each-file":
        monkeypatch.setattr(log_manager, "can_syncfs", lambda: False)
    return str(request.param)


def test_create_load_and_checkpoints(tmp_path: Path, durability: str) -> None:
    clock = ManualClock()
    manager = LogManager.open(tmp_path, CONFIG, clock)
    assert manager.all_logs() == {}
    names = [("my-topic", 0), ("my.topic", 1), ("a-b.c-d", 12)]
    for topic, partition in names:
        log = manager.create(topic, partition)
        for _ in range(10):
            append(log, make_batch(3))
    assert manager.create("my-topic", 0) is manager.get("my-topic", 0)
    manager.flusher.drain()  # the rolls' fsyncs run on the flusher's thread
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == [
        "a-b.c-d-12",
        "my-topic-0",
        "my.topic-1",
    ]
    manager.checkpoint()
    points = read_checkpoint(tmp_path / "recovery-point-offset-checkpoint")
    assert set(points) == set(names)
    assert all(points[k] == manager.get(*k).recovery_point for k in names)  # type: ignore[union-attr]
    assert read_checkpoint(tmp_path / "log-start-offset-checkpoint") == {k: 0 for k in names}

    manager.shutdown()
    assert (tmp_path / CLEAN_SHUTDOWN_FILE).exists()
    assert read_checkpoint(tmp_path / "recovery-point-offset-checkpoint") == {k: 30 for k in names}

    reopened = LogManager.open(tmp_path, CONFIG, clock)
    assert reopened.had_clean_shutdown
    assert not (tmp_path / CLEAN_SHUTDOWN_FILE).exists()
    assert set(reopened.all_logs()) == set(names)
    for key in names:
        log = reopened.get(*key)
        assert log is not None and log.log_end_offset == 30 and log.recovery_point == 30
        assert append(log, make_batch(1)).first_offset == 30


def test_a_stop_makes_every_log_durable_with_one_syncfs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not log_manager.can_syncfs():
        pytest.skip("no syncfs(2) on this platform: the fsync-each-file stop is tested above")
    manager = LogManager.open(tmp_path, LogConfig(), ManualClock())
    logs = [manager.create("t", p) for p in range(20)]
    for log in logs:
        append(log, make_batch(3))
    manager.flusher.drain()
    synced: list[Path] = []
    fsyncs = 0
    real_syncfs, real_fsync = log_manager.syncfs, os.fsync

    def counting_syncfs(path: Path) -> None:
        synced.append(path)
        real_syncfs(path)

    def counting_fsync(fd: int) -> None:
        nonlocal fsyncs
        fsyncs += 1
        real_fsync(fd)

    monkeypatch.setattr(log_manager, "syncfs", counting_syncfs)
    monkeypatch.setattr(os, "fsync", counting_fsync)
    manager.shutdown()
    assert synced == [tmp_path]
    # The checkpoint files and the clean-shutdown marker only, not 20 logs' files.
    assert fsyncs <= 8, fsyncs
    assert read_checkpoint(tmp_path / "recovery-point-offset-checkpoint") == {
        ("t", p): 3 for p in range(20)
    }
    for p in range(20):
        assert (tmp_path / f"t-{p}" / "00000000000000000003.snapshot").exists()
    reopened = LogManager.open(tmp_path, LogConfig(), ManualClock())
    assert reopened.had_clean_shutdown
    assert all(log.recovery_point == 3 for log in reopened.all_logs().values())


def test_a_stop_writes_no_snapshot_twice_and_leaves_pruning_to_the_next_start(
    tmp_path: Path,
) -> None:
    def snapshots() -> list[str]:
        return sorted(p.name for p in (tmp_path / "t-0").glob("*.snapshot"))

    manager = LogManager.open(tmp_path, LogConfig(), ManualClock())
    append(manager.create("t", 0), make_batch(2))
    manager.shutdown()
    assert snapshots() == ["00000000000000000002.snapshot"]
    first = (tmp_path / "t-0" / "00000000000000000002.snapshot").stat()

    # Nothing appended: the snapshot at the log end is the state there; not rewritten.
    LogManager.open(tmp_path, LogConfig(), ManualClock()).shutdown()
    again = (tmp_path / "t-0" / "00000000000000000002.snapshot").stat()
    assert (again.st_ino, again.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)

    # Each stop after appends adds one and deletes none...
    for _ in range(2):
        manager = LogManager.open(tmp_path, LogConfig(), ManualClock())
        append(manager.get("t", 0), make_batch(1))  # type: ignore[arg-type]
        manager.shutdown()
    assert snapshots() == [f"{n:020d}.snapshot" for n in (2, 3, 4)]
    # ...and the next start deletes all but the newest two, on the flusher's thread.
    manager = LogManager.open(tmp_path, LogConfig(), ManualClock())
    manager.flusher.drain()
    assert snapshots() == [f"{n:020d}.snapshot" for n in (3, 4)]
    assert manager.get("t", 0).log_end_offset == 4  # type: ignore[union-attr]
    manager.shutdown()


def test_unclean_start_recovers_from_checkpoint(tmp_path: Path) -> None:
    manager = LogManager.open(tmp_path, CONFIG, ManualClock())
    log = manager.create("t", 0)
    for _ in range(20):
        append(log, make_batch(3))
    manager.checkpoint()
    active = log.segments[-1]
    os.truncate(tmp_path / "t-0" / f"{active.base_offset:020d}.log", active.size - 1)
    # crash: no shutdown, no marker
    reopened = LogManager.open(tmp_path, CONFIG, ManualClock())
    assert not reopened.had_clean_shutdown
    assert reopened.get("t", 0).log_end_offset == 57  # type: ignore[union-attr]


def test_delete(tmp_path: Path) -> None:
    manager = LogManager.open(tmp_path, CONFIG, ManualClock())
    for p in range(2):
        append(manager.create("t-x", p), make_batch(3))
    assert manager.delete("t-x", 0)
    assert not manager.delete("t-x", 0)
    assert manager.get("t-x", 0) is None
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["t-x-1"]
    assert set(read_checkpoint(tmp_path / "recovery-point-offset-checkpoint")) == {("t-x", 1)}


def test_leftover_delete_dirs_are_removed_and_odd_dirs_ignored(tmp_path: Path) -> None:
    doomed = tmp_path / "t-0.0123456789abcdef0123456789abcdef-delete"
    doomed.mkdir()
    (doomed / "00000000000000000000.log").write_bytes(b"x")
    (tmp_path / "lost+found").mkdir()
    (tmp_path / "t-1-future").mkdir()
    (tmp_path / "meta.properties").write_text("version=1\n")
    manager = LogManager.open(tmp_path, CONFIG, ManualClock())
    assert not doomed.exists()
    assert manager.all_logs() == {}
    assert (tmp_path / "meta.properties").exists()


def test_flush_dirty_applies_flush_ms(tmp_path: Path) -> None:
    clock = ManualClock()
    manager = LogManager.open(tmp_path, LogConfig(flush_ms=1000), clock)
    quiet = manager.create("quiet", 0)
    busy = manager.create("busy", 0, LogConfig(flush_ms=1000))
    append(busy, make_batch(2))
    assert manager.flush_dirty() == 0
    clock.advance(1000)
    assert manager.flush_dirty() == 1
    manager.flusher.drain()  # its fsyncs run on the flusher's thread
    assert busy.recovery_point == 2 and quiet.recovery_point == 0


def test_illegal_topic_name_is_rejected(tmp_path: Path) -> None:
    manager = LogManager.open(tmp_path, CONFIG, ManualClock())
    with pytest.raises(ValueError):
        manager.create("../evil", 0)
