from __future__ import annotations

import struct
from pathlib import Path

import pytest
from crc32c import crc32c

from grete.clock import ManualClock
from grete.storage.errors import InvalidProducerEpoch, OutOfOrderSequence
from grete.storage.log import Log
from grete.storage.producer_state import (
    BatchMetadata,
    ProducerEntry,
    decode_snapshot,
    encode_snapshot,
)
from grete.storage.types import LogConfig

from .batches import T0, append, make_batch

CONFIG = LogConfig(segment_bytes=1000, index_interval_bytes=150)


def pbatch(seq: int, n: int = 3, *, pid: int = 1000, epoch: int = 0, **kw: object) -> bytes:
    return make_batch(n, producer_id=pid, producer_epoch=epoch, base_sequence=seq, **kw)  # type: ignore[arg-type]


def open_log(dir: Path, **kw: object) -> Log:
    return Log.open(dir, CONFIG, clock=ManualClock(), **kw)  # type: ignore[arg-type]


def test_duplicate_returns_original_offsets_and_writes_nothing(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    append(log, make_batch(2))
    first = append(log, pbatch(0))
    append(log, pbatch(3))
    size, end = log.size_bytes, log.log_end_offset
    again = append(log, pbatch(0))
    assert again.duplicate and (again.first_offset, again.last_offset) == (2, 4)
    assert again.max_timestamp == first.max_timestamp
    assert (log.size_bytes, log.log_end_offset) == (size, end)


def test_gap_raises_out_of_order_and_writes_nothing(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    append(log, pbatch(0))
    with pytest.raises(OutOfOrderSequence):
        append(log, pbatch(5))
    assert log.log_end_offset == 3
    assert append(log, pbatch(3)).first_offset == 3


def test_epochs(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    append(log, pbatch(0, epoch=3))
    with pytest.raises(InvalidProducerEpoch):
        append(log, pbatch(3, epoch=2))
    with pytest.raises(OutOfOrderSequence):
        append(log, pbatch(3, epoch=4))  # a new epoch must restart at 0
    assert append(log, pbatch(0, epoch=4)).first_offset == 3
    assert log.producer_state.producers[1000].epoch == 4


def test_unknown_producer_may_start_at_any_sequence(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    assert append(log, pbatch(42, pid=7)).first_offset == 0
    assert append(log, pbatch(45, pid=7)).first_offset == 3


def test_only_last_five_batches_are_duplicates(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    for i in range(6):
        append(log, pbatch(i * 3))
    with pytest.raises(OutOfOrderSequence):
        append(log, pbatch(0))
    assert append(log, pbatch(3)).duplicate


def test_sequence_wraps_at_int32_max(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    append(log, pbatch(2**31 - 2, 2))
    assert not append(log, pbatch(0, 2)).duplicate
    assert append(log, pbatch(2)).first_offset == 4


def test_several_batches_in_one_append(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    info = append(log, pbatch(0), pbatch(3), pbatch(0, pid=9))
    assert (info.first_offset, info.last_offset) == (0, 8)
    with pytest.raises(OutOfOrderSequence):
        append(log, pbatch(6), pbatch(10))
    assert log.log_end_offset == 9


def test_transactional_batches_are_tracked(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    append(log, pbatch(0, transactional=True))
    assert append(log, pbatch(0, transactional=True)).duplicate


def test_snapshot_file_layout(tmp_path: Path) -> None:
    entry = ProducerEntry(5, 2, (BatchMetadata(10, 12, 100, 102, T0),))
    data = encode_snapshot([entry])
    body = struct.pack(">i", 1) + struct.pack(">qhiqiqiq", 5, 2, 12, 102, 2, T0, -1, -1)
    assert data == struct.pack(">hI", 1, crc32c(body)) + body
    assert decode_snapshot(data) == [entry]


def test_state_survives_reopen_via_snapshot(tmp_path: Path) -> None:
    dir = tmp_path / "t-0"
    log = open_log(dir)
    for i in range(4):
        append(log, pbatch(i * 3))
    log.close()
    assert (dir / "00000000000000000012.snapshot").exists()
    reopened = open_log(dir, recovery_point=12, had_clean_shutdown=True)
    dup = append(reopened, pbatch(9))
    assert dup.duplicate and dup.first_offset == 9
    with pytest.raises(OutOfOrderSequence):
        append(reopened, pbatch(13))
    assert append(reopened, pbatch(12)).first_offset == 12


def test_state_rebuilt_from_log_without_snapshot(tmp_path: Path) -> None:
    dir = tmp_path / "t-0"
    log = open_log(dir)
    for i in range(30):  # several segment rolls
        append(log, pbatch(i * 3))
    log.close()
    for snap in dir.glob("*.snapshot"):
        snap.unlink()
    reopened = open_log(dir, recovery_point=90)
    for i in range(25, 30):  # the last five batches, from the log itself
        info = append(reopened, pbatch(i * 3))
        assert info.duplicate and info.first_offset == i * 3
    with pytest.raises(OutOfOrderSequence):
        append(reopened, pbatch(91))


def test_crash_after_roll_uses_snapshot_plus_replay(tmp_path: Path) -> None:
    dir = tmp_path / "t-0"
    log = open_log(dir)
    for i in range(20):
        append(log, pbatch(i * 3))
        append(log, pbatch(i * 2, 2, pid=2000))
    assert log.num_segments > 3
    snaps = sorted(p.name for p in dir.glob("*.snapshot"))
    assert len(snaps) == 2  # only the newest two are kept
    assert snaps[-1] == f"{log.segments[-1].base_offset:020d}.snapshot"
    # no close: a crash
    reopened = open_log(dir, recovery_point=log.recovery_point)

    def last(lg: Log) -> dict[int, tuple[int, BatchMetadata]]:
        return {pid: (e.epoch, e.batches[-1]) for pid, e in lg.producer_state.producers.items()}

    assert last(reopened) == last(log)
    assert append(reopened, pbatch(57)).duplicate
    assert append(reopened, pbatch(40, 2, pid=2000)).first_offset == reopened.log_end_offset - 2


def test_corrupt_snapshot_is_ignored(tmp_path: Path) -> None:
    dir = tmp_path / "t-0"
    log = open_log(dir)
    append(log, pbatch(0))
    append(log, pbatch(3))
    log.close()
    snap = dir / "00000000000000000006.snapshot"
    snap.write_bytes(snap.read_bytes()[:-1] + b"\x00")
    reopened = open_log(dir, recovery_point=6)
    assert not snap.exists()
    assert append(reopened, pbatch(0)).duplicate


def test_truncate_rolls_producer_state_back(tmp_path: Path) -> None:
    dir = tmp_path / "t-0"
    log = open_log(dir)
    for i in range(10):
        append(log, pbatch(i * 3))
    log.truncate_to(15)
    info = append(log, pbatch(15))
    assert not info.duplicate and info.first_offset == 15
