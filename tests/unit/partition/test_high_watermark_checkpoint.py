"""replication-offset-checkpoint: a replicated partition restarts from its checkpointed
high watermark, not from its log end, so a restarted leader exposes nothing its followers
may lack; a single node (its own ISR) starts at its log end."""

from __future__ import annotations

import uuid
from pathlib import Path

from grete.clock import ManualClock
from grete.partition.partition import PartitionSettings
from grete.partition.replica_manager import ReplicaManager
from grete.partition.topic_partition import TopicPartition
from grete.records.builder import BatchSpec, Record, build_batch
from grete.storage.checkpoint import REPLICATION_CHECKPOINT, read_checkpoint, write_checkpoint
from grete.storage.log_manager import LogManager
from grete.storage.types import LogConfig

CONFIG = LogConfig()
SETTINGS = PartitionSettings(max_message_bytes=1 << 20, log_append_time=False, log_config=CONFIG)
TOPIC_ID = uuid.uuid4()


def batch(count: int) -> bytearray:
    records = [Record(b"k%d" % i, b"v%d" % i) for i in range(count)]
    return bytearray(build_batch(records, BatchSpec(base_timestamp=1_000)))


def replicas(log_dir: Path, *, restore: bool) -> ReplicaManager:
    logs = LogManager.open(log_dir, CONFIG, ManualClock())
    return ReplicaManager(logs, ManualClock(), local_id=0, restore_high_watermarks=restore)


def write_log(log_dir: Path, topic: str, records: int) -> None:
    """A partition log of ``records`` records, left as a broker leaves it at shutdown."""
    manager = replicas(log_dir, restore=False)
    partition = manager.ensure_partition(TopicPartition(topic, 0), TOPIC_ID, SETTINGS)
    manager.append(partition, batch(records))
    manager.shutdown()


def test_a_replicated_partition_restarts_at_its_checkpointed_high_watermark(tmp_path: Path) -> None:
    write_log(tmp_path, "t", 10)
    write_checkpoint(tmp_path / REPLICATION_CHECKPOINT, {("t", 0): 4, ("gone", 0): 7})

    manager = replicas(tmp_path, restore=True)
    partition = manager.ensure_partition(TopicPartition("t", 0), TOPIC_ID, SETTINGS)
    assert (partition.high_watermark, partition.log.log_end_offset) == (4, 10)

    # Leading again with followers that have not fetched yet: still 4, whatever the log end.
    partition.become_leader(1, (0, 1, 2), (0, 1, 2), 1)
    assert partition.high_watermark == 4
    partition.update_follower(1, 10)
    assert partition.high_watermark == 4  # the ISR's lowest log end is still unknown
    partition.update_follower(2, 10)
    assert partition.high_watermark == 10

    # The checkpoint keeps the entries of partitions not hosted (yet), in Kafka's format.
    manager.checkpoint_high_watermarks()
    assert read_checkpoint(tmp_path / REPLICATION_CHECKPOINT) == {("t", 0): 10, ("gone", 0): 7}
    text = (tmp_path / REPLICATION_CHECKPOINT).read_text()
    assert text.splitlines() == ["0", "2", "gone 0 7", "t 0 10"]


def test_a_checkpointed_high_watermark_beyond_the_log_end_is_capped(tmp_path: Path) -> None:
    write_log(tmp_path, "t", 10)
    write_checkpoint(tmp_path / REPLICATION_CHECKPOINT, {("t", 0): 25})
    partition = replicas(tmp_path, restore=True).ensure_partition(
        TopicPartition("t", 0), TOPIC_ID, SETTINGS
    )
    assert partition.high_watermark == 10


def test_without_a_checkpoint_or_on_a_single_node_the_high_watermark_is_the_log_end(
    tmp_path: Path,
) -> None:
    write_log(tmp_path, "t", 10)
    (tmp_path / REPLICATION_CHECKPOINT).unlink()
    restored = replicas(tmp_path, restore=True).ensure_partition(
        TopicPartition("t", 0), TOPIC_ID, SETTINGS
    )
    assert restored.high_watermark == 10

    write_checkpoint(tmp_path / REPLICATION_CHECKPOINT, {("t", 0): 3})
    single = replicas(tmp_path, restore=False).ensure_partition(
        TopicPartition("t", 0), TOPIC_ID, SETTINGS
    )
    assert single.high_watermark == 10


def test_shutdown_writes_the_high_watermarks(tmp_path: Path) -> None:
    write_log(tmp_path, "t", 6)
    assert read_checkpoint(tmp_path / REPLICATION_CHECKPOINT) == {("t", 0): 6}


def test_a_corrupt_checkpoint_is_ignored(tmp_path: Path) -> None:
    write_log(tmp_path, "t", 5)
    (tmp_path / REPLICATION_CHECKPOINT).write_text("0\n3\nt 0 1\n")  # says 3 entries, holds 1
    partition = replicas(tmp_path, restore=True).ensure_partition(
        TopicPartition("t", 0), TOPIC_ID, SETTINGS
    )
    assert partition.high_watermark == 5
