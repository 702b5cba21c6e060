"""What a leader believes about its followers: a fetch offset beyond the leader's log end
is not a position in its log, and must not raise the high watermark (CI once saw a
deposed leader ack a write; this is one way it could have)."""

from __future__ import annotations

import uuid
from pathlib import Path

from grete.clock import ManualClock
from grete.partition.partition import PartitionSettings
from grete.partition.replica_manager import ReplicaManager
from grete.partition.topic_partition import TopicPartition
from grete.records.builder import BatchSpec, Record, build_batch
from grete.storage.log_manager import LogManager
from grete.storage.types import LogConfig

CONFIG = LogConfig()
SETTINGS = PartitionSettings(max_message_bytes=1 << 20, log_append_time=False, log_config=CONFIG)


def batch(count: int) -> bytearray:
    return bytearray(build_batch([Record(b"k", b"v%d" % i) for i in range(count)], BatchSpec(base_timestamp=1_000)))


def leader(tmp_path: Path):  # type: ignore[no-untyped-def]
    manager = ReplicaManager(LogManager.open(tmp_path, CONFIG, ManualClock()), ManualClock(), local_id=0,
                             restore_high_watermarks=True)
    partition = manager.ensure_partition(TopicPartition("t", 0), uuid.uuid4(), SETTINGS)
    partition.become_leader(0, (0, 1, 2), (0, 1, 2), 0)
    manager.append(partition, batch(10))
    return manager, partition


def test_a_fetch_offset_past_the_log_end_does_not_raise_the_high_watermark(tmp_path: Path) -> None:
    manager, partition = leader(tmp_path)
    partition.update_follower(1, 10)
    partition.update_follower(2, 500)  # e.g. a follower already writing a newer leader's epoch
    assert partition.high_watermark == 0  # follower 2's position is unknown, not 500 (nor 10)
    partition.update_follower(2, 10)
    assert partition.high_watermark == 10
    manager.shutdown()
