from __future__ import annotations

import os
from pathlib import Path

import pytest

from grete.storage import fsutil
from grete.storage.errors import LogDirFailure
from grete.storage.leader_epoch import (
    LEADER_EPOCH_CHECKPOINT,
    UNDEFINED_EPOCH,
    UNDEFINED_EPOCH_OFFSET,
    CorruptLeaderEpochCheckpoint,
    LeaderEpochCache,
)
from grete.storage.types import EpochEntry

UNDEFINED = (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)


def cache_with(tmp_path: Path, *pairs: tuple[int, int]) -> LeaderEpochCache:
    cache = LeaderEpochCache(tmp_path)
    for epoch, start in pairs:
        cache.assign(epoch, start)
    return cache


def pairs(cache: LeaderEpochCache) -> list[tuple[int, int]]:
    return [(e.epoch, e.start_offset) for e in cache.entries()]


# -- assign: Kafka's LeaderEpochFileCacheTest cases ------------------------------------


def test_empty_cache(tmp_path: Path) -> None:
    cache = LeaderEpochCache(tmp_path)
    assert cache.latest_epoch is None and cache.latest_entry is None
    assert cache.end_offset_for(7, 0) == UNDEFINED
    assert cache.end_offset_for(UNDEFINED_EPOCH, 73) == UNDEFINED
    assert not cache.truncate_from_start(7) and not cache.truncate_from_end(7)
    assert not (tmp_path / LEADER_EPOCH_CHECKPOINT).exists()  # nothing changed, nothing written


def test_a_known_latest_epoch_keeps_its_first_start_offset(tmp_path: Path) -> None:
    cache = cache_with(tmp_path, (2, 6))
    assert not cache.assign(2, 10)
    assert pairs(cache) == [(2, 6)]
    assert cache.latest_entry == EpochEntry(2, 6)


@pytest.mark.parametrize(
    ("assigned", "expected"),
    [
        ([(2, 9), (3, 9)], [(3, 9)]),  # same start offset: the newer epoch replaces
        ([(2, 6), (3, 5)], [(3, 5)]),  # a newer epoch at a lower offset drops the older one
        ([(1, 5), (2, 6), (1, 7)], [(1, 7)]),  # an older epoch drops every epoch >= it
        ([(5, 11), (6, 12), (7, 13), (7, 12)], [(5, 11), (7, 12)]),  # same epoch, lower start
        ([(0, 0), (1, 0)], [(1, 0)]),
        ([(0, 0), (0, 1), (1, 3), (1, 4), (2, 6)], [(0, 0), (1, 3), (2, 6)]),
    ],
)
def test_assign_keeps_epochs_and_offsets_monotonic(
    tmp_path: Path, assigned: list[tuple[int, int]], expected: list[tuple[int, int]]
) -> None:
    cache = cache_with(tmp_path, *assigned)
    assert pairs(cache) == expected
    assert pairs(LeaderEpochCache.load(tmp_path)) == expected


@pytest.mark.parametrize(("epoch", "start"), [(-1, 0), (0, -1)])
def test_assign_rejects_undefined_values(tmp_path: Path, epoch: int, start: int) -> None:
    with pytest.raises(ValueError):
        LeaderEpochCache(tmp_path).assign(epoch, start)


# -- end_offset_for ----------------------------------------------------------------


def test_end_offset_for_gaps_between_epochs(tmp_path: Path) -> None:
    cache = cache_with(tmp_path, (0, 10), (2, 13), (4, 17))
    assert cache.end_offset_for(1, 0) == (0, 13)  # largest epoch <= 1, start of the next
    assert cache.end_offset_for(2, 0) == (2, 17)
    assert cache.end_offset_for(3, 0) == (2, 17)
    assert cache.end_offset_for(4, 25) == (4, 25)  # the latest epoch ends at the log end
    assert cache.end_offset_for(5, 25) == UNDEFINED  # newer than anything known
    assert cache.end_offset_for(UNDEFINED_EPOCH, 25) == UNDEFINED


def test_end_offset_for_an_epoch_older_than_the_first(tmp_path: Path) -> None:
    # Since KIP-279: the requested epoch with the start of the first known one.
    cache = cache_with(tmp_path, (5, 11), (6, 12), (7, 13))
    assert cache.end_offset_for(4, 0) == (4, 11)


def test_end_offset_for_as_leaders_change(tmp_path: Path) -> None:
    cache = cache_with(tmp_path, (0, 0), (0, 1), (0, 2))
    assert cache.end_offset_for(0, 3) == (0, 3)
    cache.assign(1, 3)
    cache.assign(1, 4)
    cache.assign(2, 6)
    assert cache.latest_epoch == 2
    assert cache.end_offset_for(2, 9) == (2, 9)
    assert cache.end_offset_for(1, 9) == (1, 6)
    assert cache.end_offset_for(0, 9) == (0, 3)
    result = cache.end_offset_for(1, 9)
    assert (result.leader_epoch, result.end_offset) == (1, 6)


def test_epoch_for_offset(tmp_path: Path) -> None:
    cache = cache_with(tmp_path, (3, 5), (4, 7), (6, 10))
    assert [cache.epoch_for_offset(o) for o in (0, 4, 5, 6, 7, 9, 10, 999)] == [
        None,
        None,
        3,
        3,
        4,
        4,
        6,
        6,
    ]


# -- truncation --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("end_offset", "expected"),
    [
        (8, [(2, 6)]),  # an epoch starting exactly there goes
        (9, [(2, 6), (3, 8)]),
        (12, [(2, 6), (3, 8), (4, 11)]),
        (UNDEFINED_EPOCH_OFFSET, [(2, 6), (3, 8), (4, 11)]),
        (0, []),
    ],
)
def test_truncate_from_end(
    tmp_path: Path, end_offset: int, expected: list[tuple[int, int]]
) -> None:
    cache = cache_with(tmp_path, (2, 6), (3, 8), (4, 11))
    cache.truncate_from_end(end_offset)
    assert pairs(cache) == expected
    assert pairs(LeaderEpochCache.load(tmp_path)) == expected


@pytest.mark.parametrize(
    ("start_offset", "expected"),
    [
        (1, [(2, 6), (3, 8), (4, 11)]),
        (6, [(2, 6), (3, 8), (4, 11)]),
        (8, [(3, 8), (4, 11)]),
        (9, [(3, 9), (4, 11)]),
        (11, [(4, 11)]),
        (15, [(4, 15)]),
        (UNDEFINED_EPOCH_OFFSET, [(2, 6), (3, 8), (4, 11)]),
    ],
)
def test_truncate_from_start(
    tmp_path: Path, start_offset: int, expected: list[tuple[int, int]]
) -> None:
    cache = cache_with(tmp_path, (2, 6), (3, 8), (4, 11))
    cache.truncate_from_start(start_offset)
    assert pairs(cache) == expected
    assert pairs(LeaderEpochCache.load(tmp_path)) == expected


def test_truncate_from_start_between_the_first_two(tmp_path: Path) -> None:
    cache = cache_with(tmp_path, (0, 0), (1, 7), (2, 10))
    assert cache.truncate_from_start(5)
    assert pairs(cache) == [(0, 5), (1, 7), (2, 10)]


def test_clear_and_flush(tmp_path: Path) -> None:
    cache = cache_with(tmp_path, (2, 6), (3, 8))
    cache.clear_and_flush()
    assert pairs(cache) == [] and cache.latest_epoch is None
    assert (tmp_path / LEADER_EPOCH_CHECKPOINT).read_text() == "0\n0\n"
    assert pairs(LeaderEpochCache.load(tmp_path)) == []


# -- the checkpoint file -----------------------------------------------------------


def test_exact_file_format_and_round_trip(tmp_path: Path) -> None:
    cache_with(tmp_path, (0, 0), (3, 1200), (7, 5000))
    assert (tmp_path / LEADER_EPOCH_CHECKPOINT).read_text() == "0\n3\n0 0\n3 1200\n7 5000\n"
    assert not (tmp_path / f"{LEADER_EPOCH_CHECKPOINT}.tmp").exists()
    assert pairs(LeaderEpochCache.load(tmp_path)) == [(0, 0), (3, 1200), (7, 5000)]


def test_reads_a_kafka_written_file(tmp_path: Path) -> None:
    (tmp_path / LEADER_EPOCH_CHECKPOINT).write_text("0\n2\n0 1\n1 2\n")
    cache = LeaderEpochCache.load(tmp_path)
    assert pairs(cache) == [(0, 1), (1, 2)]
    assert cache.end_offset_for(0, 10) == (0, 2)


@pytest.mark.parametrize("text", [None, "", "0\n"])
def test_missing_or_empty_file_is_an_empty_cache(tmp_path: Path, text: str | None) -> None:
    if text is not None:
        (tmp_path / LEADER_EPOCH_CHECKPOINT).write_text(text)
    assert pairs(LeaderEpochCache.load(tmp_path)) == []


@pytest.mark.parametrize(
    "text",
    [
        "1\n0\n",  # unknown version
        "zero\n0\n",
        "0\nx\n",
        "0\n2\n0 0\n",  # fewer entries than counted
        "0\n1\n0 0\n1 5\n",  # more entries than counted
        "0\n1\n0\n",
        "0\n1\n0 0 0\n",
        "0\n1\na 0\n",
        "0\n2\n0 0\n\n",
        "0\n1\n-1 0\n",
        "0\n1\n0 -5\n",
        "\xff\xfe",
    ],
)
def test_corrupt_files_are_rejected(tmp_path: Path, text: str) -> None:
    (tmp_path / LEADER_EPOCH_CHECKPOINT).write_bytes(text.encode("latin-1"))
    with pytest.raises(CorruptLeaderEpochCheckpoint):
        LeaderEpochCache.load(tmp_path)


def test_every_change_is_on_disk_before_the_call_returns(tmp_path: Path) -> None:
    cache = LeaderEpochCache(tmp_path)
    steps = [
        lambda: cache.assign(0, 0),
        lambda: cache.assign(2, 10),
        lambda: cache.assign_all([EpochEntry(3, 20), EpochEntry(5, 30)]),
        lambda: cache.truncate_from_end(25),
        lambda: cache.truncate_from_start(12),
    ]
    for step in steps:
        assert step()
        assert LeaderEpochCache.load(tmp_path).entries() == cache.entries()
    assert pairs(cache) == [(2, 12), (3, 20)]


def test_unchanged_cache_does_not_rewrite_its_file(tmp_path: Path) -> None:
    cache = cache_with(tmp_path, (1, 0), (2, 5))
    inode = (tmp_path / LEADER_EPOCH_CHECKPOINT).stat().st_ino
    assert not cache.assign(2, 9)
    assert not cache.assign_all([EpochEntry(2, 7)])
    assert not cache.truncate_from_end(6)
    assert not cache.truncate_from_start(0)
    assert (tmp_path / LEADER_EPOCH_CHECKPOINT).stat().st_ino == inode


def test_a_failed_write_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rename is the commit point: fail it and the previous contents survive."""
    cache = cache_with(tmp_path, (1, 0))

    def failing_replace(src: object, dst: object) -> None:
        raise OSError(5, "injected I/O error")

    monkeypatch.setattr(fsutil.os, "replace", failing_replace)
    with pytest.raises(LogDirFailure):
        cache.assign(2, 10)
    monkeypatch.setattr(fsutil.os, "replace", os.replace)
    assert (tmp_path / LEADER_EPOCH_CHECKPOINT).read_text() == "0\n1\n1 0\n"
    assert pairs(LeaderEpochCache.load(tmp_path)) == [(1, 0)]


def test_moving_the_directory_moves_the_file(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    cache = cache_with(tmp_path / "a", (1, 0))
    (tmp_path / "a").rename(tmp_path / "b")
    cache.dir = tmp_path / "b"
    cache.assign(2, 4)
    assert pairs(LeaderEpochCache.load(tmp_path / "b")) == [(1, 0), (2, 4)]
