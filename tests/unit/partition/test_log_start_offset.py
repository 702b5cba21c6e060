"""DeleteRecords on a leader, and a follower taking its leader's log start offset from
real kio fetch responses (the replica fetcher's apply step, with no sockets)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from grete.clock import ManualClock
from grete.partition.partition import (
    HIGH_WATERMARK,
    NotLeader,
    Partition,
    PartitionSettings,
    PolicyViolation,
)
from grete.partition.replica_fetcher import FetcherConfig, ReplicaFetcher, _Following
from grete.partition.topic_partition import TopicPartition
from grete.protocol import ApiKey, ErrorCode
from grete.protocol.schema import schema
from grete.records.builder import BatchSpec, Record, build_batch
from grete.storage.errors import OffsetOutOfRange
from grete.storage.log import Log
from grete.storage.types import LogConfig

TP = TopicPartition("t", 0)
CONFIG = LogConfig(segment_bytes=400, index_interval_bytes=150)


def make_batch(count: int, *, base_offset: int = 0) -> bytes:
    records = [Record(b"k", b"v%d" % i) for i in range(count)]
    return build_batch(records, BatchSpec(base_offset=base_offset, base_timestamp=1_000))


def partition(tmp_path: Path, config: LogConfig = CONFIG, *, local_id: int = 0) -> Partition:
    clock = ManualClock()
    log = Log.open(tmp_path / "t-0", config, clock=clock)
    settings = PartitionSettings(
        max_message_bytes=1 << 20, log_append_time=False, log_config=config
    )
    return Partition(TP, uuid.uuid4(), log, settings, clock, local_id=local_id)


def test_delete_records_on_leader(tmp_path: Path) -> None:
    p = partition(tmp_path)
    for _ in range(5):
        p.append_records_as_leader(bytearray(make_batch(3)))
    p.update_high_watermark_from_leader(12)  # as if followers had 12; the log end is 15
    p.become_leader(1, (0, 1), (0, 1), 0)
    assert p.high_watermark == 12

    with pytest.raises(OffsetOutOfRange):
        p.delete_records_on_leader(13)  # beyond the high watermark
    with pytest.raises(OffsetOutOfRange):
        p.delete_records_on_leader(-2)
    assert p.delete_records_on_leader(4) == 4
    assert p.delete_records_on_leader(2) == 4  # never backwards
    assert p.delete_records_on_leader(HIGH_WATERMARK) == 12
    assert p.offsets().log_start_offset == 12

    p.become_follower(1, 2, (0, 1), (0, 1), 0)
    with pytest.raises(NotLeader):
        p.delete_records_on_leader(12)


def test_delete_records_refused_on_compact_only_topics(tmp_path: Path) -> None:
    config = LogConfig(segment_bytes=400, cleanup_policy=("compact",))
    p = partition(tmp_path, config)
    p.append_records_as_leader(bytearray(make_batch(3)))
    with pytest.raises(PolicyViolation):
        p.delete_records_on_leader(1)
    assert p.log.log_start_offset == 0


def fetch_data(
    records: bytes, *, high_watermark: int, log_start_offset: int, error: ErrorCode = ErrorCode.none
) -> object:
    return schema(ApiKey.FETCH, 12).make(
        "PartitionData",
        partition_index=0,
        error_code=error,
        high_watermark=high_watermark,
        last_stable_offset=high_watermark,
        log_start_offset=log_start_offset,
        aborted_transactions=None,
        preferred_read_replica=-1,
        records=records,
    )


async def test_follower_takes_the_leaders_log_start_offset(tmp_path: Path) -> None:
    p = partition(tmp_path, local_id=2)
    p.become_follower(1, 0, (1, 2), (1, 2), 0)
    fetcher = ReplicaFetcher(1, FetcherConfig(local_id=2), lambda _: None)
    following = _Following(p, p.leader_epoch, needs_truncation=False)
    try:
        batches = b"".join(make_batch(3, base_offset=3 * i) for i in range(4))  # offsets 0..11
        fetcher._apply(following, fetch_data(batches, high_watermark=9, log_start_offset=5))
        assert (p.log.log_end_offset, p.high_watermark, p.log.log_start_offset) == (12, 9, 5)
        # Never past the follower's own high watermark, never backwards.
        fetcher._apply(following, fetch_data(b"", high_watermark=9, log_start_offset=11))
        assert p.log.log_start_offset == 9
        fetcher._apply(following, fetch_data(b"", high_watermark=12, log_start_offset=3))
        assert (p.high_watermark, p.log.log_start_offset) == (12, 9)

        # The leader deleted past our log end: start over, empty, at its log start.
        fetcher._apply(
            following,
            fetch_data(
                b"", high_watermark=-1, log_start_offset=40, error=ErrorCode.offset_out_of_range
            ),
        )
        assert (p.log.log_start_offset, p.log.log_end_offset, p.high_watermark) == (40, 40, 40)
        assert not following.needs_truncation
        fetcher._apply(
            following,
            fetch_data(make_batch(2, base_offset=40), high_watermark=42, log_start_offset=40),
        )
        assert (p.log.log_end_offset, p.high_watermark) == (42, 42)

        # Out of range while the leader's start is below our end: truncate by epoch instead.
        fetcher._apply(
            following,
            fetch_data(
                b"", high_watermark=-1, log_start_offset=40, error=ErrorCode.offset_out_of_range
            ),
        )
        assert following.needs_truncation and p.log.log_end_offset == 42
    finally:
        await fetcher.close()
