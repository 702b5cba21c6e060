"""A follower's log: verbatim appends of a leader's batches, the leader epoch cache,
truncation by epoch, and what survives a restart."""

from __future__ import annotations

import logging
from itertools import pairwise
from pathlib import Path

import pytest

from grete.clock import ManualClock
from grete.records.batch import CRC_AT, MAGIC_AT
from grete.records.builder import BatchSpec, Record, build_batch
from grete.storage.errors import (
    CorruptRecords,
    OffsetsOutOfOrder,
    OutOfOrderSequence,
    UnexpectedAppendOffset,
)
from grete.storage.leader_epoch import LEADER_EPOCH_CHECKPOINT
from grete.storage.log import Log
from grete.storage.types import LogAppendInfo, LogConfig

from .batches import append, headers, make_batch

CONFIG = LogConfig(segment_bytes=1000, index_interval_bytes=150)
PID = 7
# (leader epoch, batches of 3 records) written by the leader, in order
EPOCHS = ((0, 10), (2, 8), (5, 12))
EPOCH_STARTS = [(0, 0), (2, 30), (5, 54)]
LOG_END = 90
DATA_SUFFIXES = (".log", ".index", ".timeindex", ".snapshot")


def open_log(dir: Path, **kw: object) -> Log:
    return Log.open(dir, CONFIG, clock=ManualClock(), **kw)  # type: ignore[arg-type]


def write_leader(log: Log, epochs: tuple[tuple[int, int], ...] = EPOCHS) -> list[bytes]:
    """Append as leader: plain batches and an idempotent producer's; return those of PID."""
    sequence = 0
    idempotent = []
    for epoch, count in epochs:
        for i in range(count):
            if i % 2:
                batch = make_batch(3, producer_id=PID, producer_epoch=0, base_sequence=sequence)
                sequence += 3
                idempotent.append(batch)
            else:
                batch = make_batch(3)
            append(log, batch, leader_epoch=epoch)
    return idempotent


def replicate(leader: Log, follower: Log, max_bytes: int = 700) -> list[LogAppendInfo]:
    """What a replica fetcher does: fetch from the follower's log end, append verbatim."""
    infos = []
    for _ in range(leader.log_end_offset + 1):  # every append moves the log end
        if follower.log_end_offset >= leader.log_end_offset:
            break
        chunk = leader.read(follower.log_end_offset, max_bytes).records
        infos.append(follower.append_as_follower(chunk))
    assert follower.log_end_offset == leader.log_end_offset
    return infos


def everything(log: Log) -> bytes:
    return log.read(log.log_start_offset, 10**9).records


def data_files(dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(dir.iterdir()) if p.suffix in DATA_SUFFIXES}


def pairs(log: Log) -> list[tuple[int, int]]:
    return [(e.epoch, e.start_offset) for e in log.leader_epoch_cache.entries()]


@pytest.fixture
def leader(tmp_path: Path) -> Log:
    log = open_log(tmp_path / "leader" / "t-0")
    write_leader(log)
    return log


# -- verbatim appends ----------------------------------------------------------------


@pytest.mark.parametrize("max_bytes", [1, 700, 10**9])
def test_follower_log_is_byte_identical_to_the_leader(
    tmp_path: Path, leader: Log, max_bytes: int
) -> None:
    follower = open_log(tmp_path / "follower" / "t-0")
    infos = replicate(leader, follower, max_bytes)
    assert everything(follower) == everything(leader)
    assert [s.base_offset for s in follower.segments] == [s.base_offset for s in leader.segments]
    assert follower.num_segments > 3 and all(
        s.size <= CONFIG.segment_bytes for s in follower.segments
    )
    for offset in range(LOG_END):  # the follower's indexes find every offset
        assert follower.read(offset, 1).records == leader.read(offset, 1).records
    assert infos[0].first_offset == 0 and infos[-1].last_offset == LOG_END - 1
    assert all(a.last_offset + 1 == b.first_offset for a, b in pairwise(infos))
    assert all(i.log_append_time == -1 and not i.duplicate for i in infos)
    assert max(i.max_timestamp for i in infos) == max(
        h.max_timestamp for h in headers(everything(leader))
    )
    leader.close()
    follower.close()
    # Same rolls, same index entries, same producer snapshots, same epoch checkpoint.
    assert data_files(follower.dir) == data_files(leader.dir)
    assert (follower.dir / LEADER_EPOCH_CHECKPOINT).read_text() == (
        leader.dir / LEADER_EPOCH_CHECKPOINT
    ).read_text()


def test_control_batches_and_foreign_epochs_are_kept_verbatim(tmp_path: Path) -> None:
    """The leader's transaction markers are replicated too (clients may not produce them)."""
    follower = open_log(tmp_path / "t-0")
    marker = build_batch(
        [Record(b"\x00\x00\x00\x01", b"\x00\x00\x00\x00\x00\x00")],
        BatchSpec(
            base_offset=0,
            producer_id=9,
            producer_epoch=1,
            control=True,
            transactional=True,
            partition_leader_epoch=4,
        ),
    )
    data = build_batch([Record(b"k", b"v")] * 2, BatchSpec(base_offset=1, partition_leader_epoch=4))
    info = follower.append_as_follower(marker + data)
    assert (info.first_offset, info.last_offset) == (0, 2)
    assert everything(follower) == marker + data
    assert pairs(follower) == [(4, 0)]
    assert follower.producer_state.producers[9].epoch == 1


# -- refusals write nothing ---------------------------------------------------------


def assert_unchanged(log: Log, before: tuple[int, int, list[tuple[int, int]]]) -> None:
    assert (log.log_end_offset, log.size_bytes, pairs(log)) == before


def test_records_must_start_at_the_log_end(tmp_path: Path, leader: Log) -> None:
    follower = open_log(tmp_path / "f" / "t-0")
    first = leader.read(0, 700).records
    follower.append_as_follower(first)
    before = (follower.log_end_offset, follower.size_bytes, pairs(follower))
    with pytest.raises(UnexpectedAppendOffset) as raised:
        follower.append_as_follower(first)  # already there
    assert (raised.value.first_offset, raised.value.log_end_offset) == (0, before[0])
    ahead = leader.read(before[0] + 3, 700).records  # a gap
    with pytest.raises(UnexpectedAppendOffset):
        follower.append_as_follower(ahead)
    assert_unchanged(follower, before)
    follower.append_as_follower(leader.read(before[0], 700).records)
    assert follower.log_end_offset > before[0]


def test_damaged_records_are_refused_whole(tmp_path: Path, leader: Log) -> None:
    follower = open_log(tmp_path / "f" / "t-0")
    follower.append_as_follower(leader.read(0, 200).records)
    before = (follower.log_end_offset, follower.size_bytes, pairs(follower))
    # Batches from epoch 0 into epoch 2, so a partial append would also add an epoch.
    chunk = leader.read(before[0], 2000).records
    assert len(headers(chunk)) > 3 and headers(chunk)[-1].partition_leader_epoch == 2
    bad_crc = bytearray(chunk)
    bad_crc[-1] ^= 0x01  # a record byte of the last batch
    bad_header_crc = bytearray(chunk)
    bad_header_crc[CRC_AT] ^= 0xFF  # the first batch's CRC field
    old_magic = bytearray(chunk)
    old_magic[MAGIC_AT] = 1
    for damaged in (bytes(bad_crc), bytes(bad_header_crc), bytes(old_magic), chunk[:-5]):
        with pytest.raises(CorruptRecords):
            follower.append_as_follower(damaged)
        assert_unchanged(follower, before)
    with pytest.raises(ValueError):
        follower.append_as_follower(b"")
    follower.append_as_follower(memoryview(chunk))
    assert follower.log_end_offset > before[0]
    follower.close()
    reopened = open_log(follower.dir, recovery_point=0)
    assert everything(reopened) == leader.read(0, len(everything(reopened))).records


def test_offsets_must_increase_within_an_append(tmp_path: Path) -> None:
    follower = open_log(tmp_path / "t-0")
    one = build_batch([Record(b"k", b"v")] * 3, BatchSpec(base_offset=0, partition_leader_epoch=1))
    overlapping = build_batch(
        [Record(b"k", b"v")], BatchSpec(base_offset=2, partition_leader_epoch=3)
    )
    with pytest.raises(OffsetsOutOfOrder):
        follower.append_as_follower(one + overlapping)
    assert_unchanged(follower, (0, 0, []))
    later = build_batch([Record(b"k", b"v")], BatchSpec(base_offset=5, partition_leader_epoch=3))
    info = follower.append_as_follower(one + later)  # a gap between batches is allowed
    assert (info.first_offset, info.last_offset, follower.log_end_offset) == (0, 5, 6)
    assert pairs(follower) == [(1, 0), (3, 5)]


def test_remembered_positions_agree_with_a_scan_across_offset_gaps(tmp_path: Path) -> None:
    """A compacted leader's batches reach a follower with gaps between their offsets: a
    read that stops before a batch remembers that batch's base offset, and every offset
    in the gap before it must still translate to that batch."""
    config = LogConfig(index_interval_bytes=200)  # one segment, several index entries
    follower = Log.open(tmp_path / "t-0", config, clock=ManualClock())
    records, offset = b"", 0
    for i in range(40):
        count = 1 + i % 3
        records += build_batch(
            [Record(b"k", b"v" * (i % 5))] * count, BatchSpec(base_offset=offset)
        )
        offset += count + i % 4  # a gap of 0 to 3 offsets after each batch
    follower.append_as_follower(records)
    batches = headers(records)
    for max_bytes in (1, 150):
        at = 0
        while at < follower.log_end_offset:
            after = headers(bytes(follower.read(at, max_bytes).records))[-1].next_offset
            assert after > at  # each read moves on: the loop ends
            at = after
    segment = follower.segments[0]
    assert segment._position_hints
    position, expected = 0, {}
    for h in batches:
        expected.update({o: position for o in range(len(expected), h.next_offset)})
        position += h.size
    for offset in range(batches[-1].next_offset):
        assert segment.translate_offset(offset) == expected[offset], offset


# -- the leader epoch cache -------------------------------------------------------------


def test_epoch_cache_follows_the_leaders_epochs(tmp_path: Path, leader: Log) -> None:
    follower = open_log(tmp_path / "f" / "t-0")
    replicate(leader, follower)
    assert pairs(leader) == pairs(follower) == EPOCH_STARTS
    assert (follower.dir / LEADER_EPOCH_CHECKPOINT).read_text() == "0\n3\n0 0\n2 30\n5 54\n"
    answers = {e: tuple(follower.end_offset_for_epoch(e)) for e in (-1, 0, 1, 2, 3, 4, 5, 6)}
    assert answers == {
        -1: (-1, -1),
        0: (0, 30),
        1: (0, 30),
        2: (2, 54),
        3: (2, 54),
        4: (2, 54),
        5: (5, LOG_END),
        6: (-1, -1),
    }


def test_leader_appends_record_a_new_epoch_once(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    append(log, make_batch(2), leader_epoch=0)
    checkpoint = log.dir / LEADER_EPOCH_CHECKPOINT
    inode = checkpoint.stat().st_ino
    append(log, make_batch(2), leader_epoch=0)
    assert checkpoint.stat().st_ino == inode  # same epoch: the file is not rewritten
    append(log, make_batch(2), leader_epoch=3)
    append(log, make_batch(2), leader_epoch=1)  # a stale stamp never rewinds the cache
    assert pairs(log) == [(0, 0), (3, 4)]
    pid_batch = make_batch(2, producer_id=1, producer_epoch=0, base_sequence=0)
    append(log, pid_batch, leader_epoch=3)
    retry = append(log, pid_batch, leader_epoch=4)
    assert retry.duplicate and pairs(log) == [(0, 0), (3, 4)]  # nothing written, no epoch
    assert checkpoint.read_text() == "0\n2\n0 0\n3 4\n"


def test_new_leader_records_its_epoch_at_the_log_end(tmp_path: Path, leader: Log) -> None:
    follower = open_log(tmp_path / "f" / "t-0")
    replicate(leader, follower)
    follower.maybe_assign_epoch_start_offset(7, follower.log_end_offset)
    follower.maybe_assign_epoch_start_offset(6, follower.log_end_offset)  # stale: ignored
    assert tuple(follower.end_offset_for_epoch(5)) == (5, LOG_END)
    append(follower, make_batch(4), leader_epoch=7)
    assert pairs(follower) == EPOCH_STARTS + [(7, LOG_END)]
    assert tuple(follower.end_offset_for_epoch(7)) == (7, LOG_END + 4)


def test_truncate_to_drops_the_epochs_beyond(tmp_path: Path, leader: Log) -> None:
    follower = open_log(tmp_path / "f" / "t-0")
    replicate(leader, follower)
    follower.truncate_to(60)  # inside epoch 5
    assert pairs(follower) == EPOCH_STARTS
    follower.truncate_to(54)  # where epoch 5 began
    assert pairs(follower) == [(0, 0), (2, 30)]
    assert tuple(follower.end_offset_for_epoch(2)) == (2, 54)
    follower.truncate_to(31)  # inside the batch at 30: it goes, and epoch 2 with it
    assert follower.log_end_offset == 30 and pairs(follower) == [(0, 0)]
    # The producer state forgets the truncated batches (its last was at 33..35).
    assert follower.producer_state.producers[PID].batches[-1].last_offset == 29
    assert [
        (e.epoch, e.start_offset) for e in open_log(follower.dir).leader_epoch_cache.entries()
    ] == [(0, 0)]
    replicate(leader, follower)
    assert everything(follower) == everything(leader) and pairs(follower) == EPOCH_STARTS
    follower.truncate_to(0)
    assert (follower.log_end_offset, pairs(follower)) == (0, [])
    assert (follower.dir / LEADER_EPOCH_CHECKPOINT).read_text() == "0\n0\n"


def test_divergent_replica_truncates_by_leader_epoch(tmp_path: Path) -> None:
    """KIP-101: the old leader wrote past what the new leader got, in an epoch the new
    leader never saw; asking the new leader for that epoch's end gives the cut."""
    old = open_log(tmp_path / "old" / "t-0")
    new = open_log(tmp_path / "new" / "t-0")
    write_leader(old, ((0, 10), (1, 4)))  # offsets 0..41
    new.append_as_follower(old.read(0, 10**9, max_offset=36).records)  # got 0..35
    new.maybe_assign_epoch_start_offset(2, new.log_end_offset)
    for _ in range(5):
        append(new, make_batch(2), leader_epoch=2)  # 36..45
    latest = old.leader_epoch_cache.latest_epoch
    assert latest == 1
    epoch, end_offset = new.end_offset_for_epoch(latest)
    assert (epoch, end_offset) == (1, 36)
    old.truncate_to(end_offset)
    replicate(new, old)
    assert everything(old) == everything(new)
    assert pairs(old) == pairs(new) == [(0, 0), (1, 30), (2, 36)]


# -- restarts and producer state -------------------------------------------------------


@pytest.mark.parametrize("clean", [True, False])
def test_restart_keeps_the_epoch_cache(tmp_path: Path, leader: Log, clean: bool) -> None:
    follower = open_log(tmp_path / "f" / "t-0")
    replicate(leader, follower)
    if clean:
        follower.close()
        reopened = open_log(
            follower.dir, recovery_point=follower.recovery_point, had_clean_shutdown=True
        )
    else:  # no close: everything past recovery point 0 is validated again
        reopened = open_log(follower.dir, recovery_point=0)
    assert pairs(reopened) == EPOCH_STARTS
    assert tuple(reopened.end_offset_for_epoch(2)) == (2, 54)
    assert everything(reopened) == everything(leader)


def test_follower_that_becomes_leader_detects_duplicates(tmp_path: Path) -> None:
    leader = open_log(tmp_path / "leader" / "t-0")
    sent = write_leader(leader)
    follower = open_log(tmp_path / "f" / "t-0")
    replicate(leader, follower)
    assert follower.producer_state.producers == leader.producer_state.producers
    original = leader.producer_state.producers[PID].batches[-1]
    assert headers(leader.read(original.first_offset, 1).records)[0].producer_id == PID
    # The client did not get its answer and retries against the new leader.
    retry = append(follower, sent[-1], leader_epoch=6)
    assert retry.duplicate
    assert (retry.first_offset, retry.last_offset) == (original.first_offset, original.last_offset)
    assert follower.log_end_offset == LOG_END
    next_seq = headers(sent[-1])[0].last_sequence + 1
    with pytest.raises(OutOfOrderSequence):
        append(
            follower,
            make_batch(1, producer_id=PID, producer_epoch=0, base_sequence=next_seq + 1),
            leader_epoch=6,
        )
    follower.close()
    reopened = open_log(
        follower.dir, recovery_point=follower.recovery_point, had_clean_shutdown=True
    )
    assert append(reopened, sent[-1], leader_epoch=6).duplicate
    info = append(
        reopened,
        make_batch(1, producer_id=PID, producer_epoch=0, base_sequence=next_seq),
        leader_epoch=6,
    )
    assert not info.duplicate and info.first_offset == LOG_END


# -- loading the cache -------------------------------------------------------------------


def test_missing_checkpoint_is_rebuilt_from_the_batches(tmp_path: Path, leader: Log) -> None:
    leader.close()
    (leader.dir / LEADER_EPOCH_CHECKPOINT).unlink()
    reopened = open_log(leader.dir, recovery_point=LOG_END, had_clean_shutdown=True)
    assert pairs(reopened) == EPOCH_STARTS
    assert (leader.dir / LEADER_EPOCH_CHECKPOINT).read_text() == "0\n3\n0 0\n2 30\n5 54\n"


def test_corrupt_checkpoint_is_rebuilt_from_the_batches(
    tmp_path: Path, leader: Log, caplog: pytest.LogCaptureFixture
) -> None:
    leader.close()
    (leader.dir / LEADER_EPOCH_CHECKPOINT).write_text("0\n3\n0 0\n2 3")
    with caplog.at_level(logging.WARNING):
        reopened = open_log(leader.dir, recovery_point=LOG_END, had_clean_shutdown=True)
    assert pairs(reopened) == EPOCH_STARTS
    assert "leader epoch cache" in caplog.text
    assert (leader.dir / LEADER_EPOCH_CHECKPOINT).read_text() == "0\n3\n0 0\n2 30\n5 54\n"


def test_epochs_past_the_log_end_are_cut_at_load(tmp_path: Path, leader: Log) -> None:
    """A crash between writing the checkpoint and the batches it announced."""
    leader.close()
    (leader.dir / LEADER_EPOCH_CHECKPOINT).write_text("0\n4\n0 0\n2 30\n5 54\n6 90\n")
    reopened = open_log(leader.dir, recovery_point=LOG_END, had_clean_shutdown=True)
    assert pairs(reopened) == EPOCH_STARTS
    assert tuple(reopened.end_offset_for_epoch(5)) == (5, LOG_END)
    assert "6 90" not in (leader.dir / LEADER_EPOCH_CHECKPOINT).read_text()


def test_recovery_adds_epochs_found_in_unflushed_batches(tmp_path: Path, leader: Log) -> None:
    """As Kafka's segment recovery: validated batches past the recovery point name
    their epochs, should the checkpoint lag behind them."""
    (leader.dir / LEADER_EPOCH_CHECKPOINT).write_text("0\n2\n0 0\n2 30\n")
    reopened = open_log(leader.dir, recovery_point=40)
    assert pairs(reopened) == EPOCH_STARTS


def test_log_start_offset_trims_the_first_epoch(tmp_path: Path, leader: Log) -> None:
    leader.close()
    start = leader.segments[2].base_offset
    assert 30 < start < 54
    reopened = open_log(
        leader.dir, recovery_point=LOG_END, had_clean_shutdown=True, log_start_offset=start
    )
    assert pairs(reopened) == [(2, start), (5, 54)]
    assert tuple(reopened.end_offset_for_epoch(0)) == (0, start)
