"""The partitions this broker hosts, their logs, and the fetches waiting on them."""

from __future__ import annotations

import base64
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from grete.clock import Clock
from grete.partition.delayed_fetch import FetchPurgatory
from grete.partition.partition import NotLeader, Partition, PartitionSettings
from grete.partition.topic_partition import TopicPartition
from grete.storage.checkpoint import (
    REPLICATION_CHECKPOINT,
    CorruptCheckpoint,
    PartitionKey,
    read_checkpoint,
    write_checkpoint,
)
from grete.storage.log import Log
from grete.storage.log_manager import LogManager
from grete.storage.types import LogAppendInfo

log = logging.getLogger("grete.partition")

PARTITION_METADATA = "partition.metadata"


def kafka_uuid(value: uuid.UUID) -> str:
    """Kafka's text form of a UUID: URL-safe base64 of its 16 bytes, unpadded."""
    return base64.urlsafe_b64encode(value.bytes).decode().rstrip("=")


def read_partition_topic_id(log_dir: Path) -> str | None:
    """The topic id recorded in a partition directory's ``partition.metadata``, if any."""
    try:
        text = (log_dir / PARTITION_METADATA).read_text("utf-8")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "topic_id":
            return value.strip()
    return None


def write_partition_metadata(log_dir: Path, topic_id: uuid.UUID) -> None:
    """Kafka's ``partition.metadata`` file, naming the topic id the directory belongs to."""
    path = log_dir / PARTITION_METADATA
    content = f"version: 0\ntopic_id: {kafka_uuid(topic_id)}\n"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(content, "utf-8")
    os.replace(tmp, path)


class ReplicaManager:
    """Hosts partitions (single node: leads all of them) on top of one LogManager.

    Not thread-safe; event loop only.
    """

    def __init__(
        self, logs: LogManager, clock: Clock, local_id: int = 0, *, restore_high_watermarks: bool = False
    ) -> None:
        self.logs = logs
        self.clock = clock
        self.local_id = local_id
        # Replicated partitions start from the high watermark of replication-offset-checkpoint
        # (Kafka's), not from their log end: a restarted leader must not expose records its
        # followers may lack. A single node is its own ISR: its high watermark is its log end.
        self._checkpointed_hw: dict[PartitionKey, int] = (
            _read_high_watermarks(logs.log_dir) if restore_high_watermarks else {}
        )
        self.on_isr_candidate: Callable[[Partition, int], None] | None = None
        # True while this broker must not act as a leader (cluster: a stall fence).
        self.fence: Callable[[], bool] | None = None
        self.purgatory = FetchPurgatory()
        self._partitions: dict[TopicPartition, Partition] = {}
        self._by_topic: dict[str, dict[int, Partition]] = {}
        self._recorded_ids: dict[TopicPartition, str | None] = {}  # read by remove_stray_logs

    # -- hosting ---------------------------------------------------------------------------

    def ensure_partition(
        self, tp: TopicPartition, topic_id: uuid.UUID, settings: PartitionSettings
    ) -> Partition:
        """The partition, opening or creating its log if needed."""
        partition = self._partitions.get(tp)
        if partition is not None:
            return partition
        log_ = self.logs.get(tp.topic, tp.partition)
        expected = kafka_uuid(topic_id)
        recorded = None
        if log_ is not None:
            recorded = self._recorded_ids.pop(tp) if tp in self._recorded_ids else read_partition_topic_id(log_.dir)
        if log_ is not None and recorded not in (None, expected):
            # The directory belongs to an earlier topic of the same name: never reuse its data.
            self.logs.delete(tp.topic, tp.partition)
            log_ = recorded = None
        if log_ is None:
            log_ = self.logs.create(tp.topic, tp.partition, settings.log_config)
        else:
            log_.update_config(settings.log_config)
        if recorded != expected:
            write_partition_metadata(log_.dir, topic_id)
        partition = Partition(
            tp, topic_id, log_, settings, self.clock, local_id=self.local_id,
            high_watermark=self._checkpointed_hw.pop((tp.topic, tp.partition), None),
        )
        partition.on_high_watermark = self._on_commit
        self._partitions[tp] = partition
        self._by_topic.setdefault(tp.topic, {})[tp.partition] = partition
        return partition

    def remove_topic(self, topic: str) -> None:
        """Stop hosting every partition of ``topic`` and delete their logs."""
        indexes = sorted(self._by_topic.pop(topic, {}))
        for index in indexes:
            tp = TopicPartition(topic, index)
            self._partitions.pop(tp, None)
            self._recorded_ids.pop(tp, None)
            self.purgatory.wake_all(tp)
        self.logs.delete_many((topic, index) for index in indexes)

    def remove_partition(self, tp: TopicPartition) -> None:
        """Stop hosting one partition (reassigned away) and delete its log."""
        self._recorded_ids.pop(tp, None)
        if self._partitions.pop(tp, None) is None:
            return
        by_topic = self._by_topic.get(tp.topic, {})
        by_topic.pop(tp.partition, None)
        if not by_topic:
            self._by_topic.pop(tp.topic, None)
        self.purgatory.wake_all(tp)
        self.logs.delete_many([(tp.topic, tp.partition)])

    def remove_stray_logs(self, expected: dict[TopicPartition, uuid.UUID]) -> list[TopicPartition]:
        """Delete logs on disk that the metadata does not know, or whose recorded topic id
        is another topic's (a deletion interrupted by a crash). Called at start-up."""
        strays = []
        for (topic, index), log_ in self.logs.all_logs().items():
            tp = TopicPartition(topic, index)
            topic_id = expected.get(tp)
            recorded = read_partition_topic_id(log_.dir)
            if topic_id is None or recorded not in (None, kafka_uuid(topic_id)):
                strays.append(tp)
            else:
                self._recorded_ids[tp] = recorded  # for ensure_partition, right after
        if strays:
            log.warning("deleting %d stray partition logs: %s", len(strays), ", ".join(map(str, strays)))
            self.logs.delete_many((tp.topic, tp.partition) for tp in strays)
        return strays

    def get(self, topic: str, partition: int) -> Partition | None:
        return self._partitions.get(TopicPartition(topic, partition))

    def topic_partitions(self, topic: str) -> dict[int, Partition]:
        return self._by_topic.get(topic, {})

    def __iter__(self) -> Iterator[Partition]:
        return iter(list(self._partitions.values()))

    # -- data path ---------------------------------------------------------------------------

    def append(self, partition: Partition, records: bytearray | memoryview) -> LogAppendInfo:
        """Append as leader and wake followers' fetches waiting on this partition (consumers'
        fetches wake when the high watermark exposes the records: `_on_commit`).
        Raises NotLeader while the fence is up."""
        if self.fence is not None and self.fence():
            raise NotLeader(f"{partition.tp}: leadership fenced until ZooKeeper confirms it")
        info = partition.append_records_as_leader(records)
        if not info.duplicate:
            self.purgatory.on_append(partition.tp, len(records))
        return info

    async def wait_committed(self, partition: Partition, offset: int) -> None:
        """Until the high watermark reaches ``offset`` (acks=all, as Kafka's delayed produce).
        Raises NotLeader if this broker stops leading, or is fenced, before it may answer."""
        await partition.wait_for_high_watermark(offset)
        if self.fence is not None and self.fence():
            raise NotLeader(f"{partition.tp}: leadership fenced until ZooKeeper confirms it")

    def isr_candidate(self, partition: Partition, replica: int) -> None:
        """A follower caught up with the leader: the cluster runtime adds it to the ISR."""
        if self.on_isr_candidate is not None:
            self.on_isr_candidate(partition, replica)

    def _on_commit(self, partition: Partition, nbytes: int) -> None:
        self.purgatory.on_commit(partition.tp, nbytes)

    # -- log start offset and retention -----------------------------------------------------

    def delete_records(self, partition: Partition, offset: int) -> int:
        """DeleteRecords on a partition this broker leads: advance its log start offset
        (see Partition.delete_records_on_leader) and delete the segments now wholly below
        it. Returns the new log start offset (the low watermark of the response)."""
        low_watermark = partition.delete_records_on_leader(offset)
        self.logs.delete_old_segments(partition.log, partition.high_watermark)
        return low_watermark

    def enforce_retention(self) -> int:
        """One pass of retention over every hosted replica, leader or follower (each with
        its own high watermark, as Kafka). Returns how many segments were deleted."""
        return sum(
            self.logs.delete_old_segments(partition.log, partition.high_watermark)
            for partition in self._partitions.values()
        )

    def compacted_logs(self) -> list[tuple[tuple[str, int], Log, int]]:
        """The log cleaner's candidates: every hosted replica (leader or follower, each
        cleaned on its own, as Kafka's) of a topic with cleanup.policy=compact, and its
        high watermark."""
        return [
            ((p.tp.topic, p.tp.partition), p.log, p.high_watermark)
            for p in self._partitions.values()
            if p.log.config.compact
        ]

    def checkpoint_log_start_offsets(self) -> None:
        self.logs.checkpoint_log_start_offsets()

    # -- durability ------------------------------------------------------------------------

    def checkpoint(self) -> None:
        self.logs.checkpoint()
        self.checkpoint_high_watermarks()

    def checkpoint_high_watermarks(self) -> None:
        """Write every hosted partition's high watermark to replication-offset-checkpoint,
        keeping the checkpointed ones of partitions not hosted again yet."""
        offsets = dict(self._checkpointed_hw)
        offsets.update({(p.tp.topic, p.tp.partition): p.high_watermark for p in self._partitions.values()})
        write_checkpoint(self.logs.log_dir / REPLICATION_CHECKPOINT, offsets)

    def flush_dirty(self) -> None:
        self.logs.flush_dirty()

    def release_waiters(self) -> None:
        """Answer every acks=all produce still waiting (see ``Partition.release_waiters``)."""
        for partition in self._partitions.values():
            partition.release_waiters()

    def shutdown(self) -> None:
        self.checkpoint_high_watermarks()
        self.logs.shutdown()


def _read_high_watermarks(log_dir: Path) -> dict[PartitionKey, int]:
    try:
        return read_checkpoint(log_dir / REPLICATION_CHECKPOINT)
    except CorruptCheckpoint as exc:
        log.warning("ignoring %s: %s; high watermarks start at the log ends", REPLICATION_CHECKPOINT, exc)
        return {}
