"""What a leader believes about its followers: a fetch offset beyond the leader's log end
is not a position in its log, and must not raise the high watermark (CI once saw a
deposed leader ack a write; this is one way it could have)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from grete.clock import ManualClock
from grete.partition.partition import NotLeader, PartitionSettings
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


class Fence:
    def __init__(self) -> None:
        self.up = False

    def __call__(self) -> bool:
        return self.up


def test_a_fenced_leader_appends_nothing(tmp_path: Path) -> None:
    manager, partition = leader(tmp_path)
    fence = Fence()
    manager.fence = fence
    fence.up = True
    with pytest.raises(NotLeader):
        manager.append(partition, batch(1))
    assert partition.log.log_end_offset == 10
    fence.up = False
    manager.append(partition, batch(1))
    assert partition.log.log_end_offset == 11
    manager.shutdown()


async def test_a_fenced_leader_does_not_complete_an_acks_all_wait(tmp_path: Path) -> None:
    """The batch reached the ISR while the process stood still: the answer still waits
    for ZooKeeper to confirm the leadership, so it is NOT_LEADER_OR_FOLLOWER."""
    manager, partition = leader(tmp_path)
    fence = Fence()
    manager.fence = fence
    waiting = asyncio.ensure_future(manager.wait_committed(partition, 10))
    await asyncio.sleep(0)
    fence.up = True
    partition.update_follower(1, 10)
    partition.update_follower(2, 10)
    assert partition.high_watermark == 10
    with pytest.raises(NotLeader):
        await waiting
    fence.up = False
    await manager.wait_committed(partition, 10)  # confirmed: answered
    manager.shutdown()
