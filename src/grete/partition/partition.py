"""One partition as its leader sees it: validation, append, reads bounded by the high watermark."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from grete.clock import Clock
from grete.partition.topic_partition import TopicPartition
from grete.records.validation import validate_produce_records
from grete.storage.log import Log
from grete.storage.types import LogAppendInfo, LogConfig, ReadInfo, TimestampOffset


@dataclass(frozen=True, slots=True)
class PartitionSettings:
    """The topic configs a partition needs on its request paths."""

    max_message_bytes: int
    log_append_time: bool  # message.timestamp.type=LogAppendTime
    log_config: LogConfig


@dataclass(frozen=True, slots=True)
class PartitionOffsets:
    log_start_offset: int
    high_watermark: int
    last_stable_offset: int
    log_end_offset: int


class Partition:
    """A partition led by this broker.

    On a single node the leader is the only replica, so the high watermark is the
    log-end offset after each append. Not thread-safe; event loop only.
    """

    def __init__(
        self,
        tp: TopicPartition,
        topic_id: uuid.UUID,
        log: Log,
        settings: PartitionSettings,
        clock: Clock,
        leader_epoch: int = 0,
    ) -> None:
        self.tp = tp
        self.topic_id = topic_id
        self.log = log
        self.settings = settings
        self.leader_epoch = leader_epoch
        self._clock = clock

    @property
    def high_watermark(self) -> int:
        return self.log.log_end_offset

    def offsets(self) -> PartitionOffsets:
        hw = self.high_watermark
        return PartitionOffsets(self.log.log_start_offset, hw, hw, self.log.log_end_offset)

    def update_settings(self, settings: PartitionSettings) -> None:
        self.settings = settings
        self.log.update_config(settings.log_config)

    def append_records_as_leader(self, records: bytearray | memoryview) -> LogAppendInfo:
        """Validate and append a produce request's records.

        Raises records.validation.RecordsError, storage.errors.OutOfOrderSequence or
        InvalidProducerEpoch; on a retried idempotent batch returns its original offsets.
        """
        batches = validate_produce_records(records, max_message_bytes=self.settings.max_message_bytes)
        append_time = self._clock.time_ms() if self.settings.log_append_time else None
        # Patched in place: ``records`` is a writable view into the request frame.
        return self.log.append(
            records, batches, leader_epoch=self.leader_epoch, log_append_time_ms=append_time
        )

    def read(self, offset: int, max_bytes: int, *, min_one_batch: bool) -> ReadInfo:
        """Batches from ``offset`` up to the high watermark. Raises OffsetOutOfRange."""
        return self.log.read(
            offset, max_bytes, max_offset=self.high_watermark, min_one_batch=min_one_batch
        )

    def offset_for_timestamp(self, timestamp: int) -> TimestampOffset | None:
        return self.log.offset_for_timestamp(timestamp)

    def max_timestamp_offset(self) -> TimestampOffset | None:
        return self.log.max_timestamp_offset()
