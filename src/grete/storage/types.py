"""Small frozen values that cross the storage boundary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from grete.records.batch import BatchHeader


@dataclass(frozen=True, slots=True)
class LogConfig:
    """Per-log settings, with Kafka's topic-level names and broker defaults."""

    segment_bytes: int = 1024 * 1024 * 1024  # segment.bytes
    segment_ms: int = 7 * 24 * 3600 * 1000  # segment.ms
    segment_jitter_ms: int = 0  # segment.jitter.ms
    segment_index_bytes: int = 10 * 1024 * 1024  # segment.index.bytes
    index_interval_bytes: int = 4096  # index.interval.bytes
    flush_messages: int = 2**63 - 1  # flush.messages (Long.MAX_VALUE: leave it to the OS)
    flush_ms: int = 2**63 - 1  # flush.ms
    max_message_bytes: int = 1024 * 1024 + 12  # max.message.bytes (1048588)
    retention_ms: int = 7 * 24 * 3600 * 1000  # retention.ms (negative: no time limit)
    retention_bytes: int = -1  # retention.bytes (negative: no size limit)
    file_delete_delay_ms: int = 60000  # file.delete.delay.ms
    cleanup_policy: tuple[str, ...] = ("delete",)  # cleanup.policy
    delete_retention_ms: int = 86400000  # delete.retention.ms (how long tombstones stay)
    min_cleanable_dirty_ratio: float = 0.5  # min.cleanable.dirty.ratio
    min_compaction_lag_ms: int = 0  # min.compaction.lag.ms
    max_compaction_lag_ms: int = 2**63 - 1  # max.compaction.lag.ms

    @property
    def delete(self) -> bool:
        """Whether retention (time and size) applies: cleanup.policy contains delete."""
        return "delete" in self.cleanup_policy

    @property
    def compact(self) -> bool:
        """Whether the log cleaner keeps only the latest record per key."""
        return "compact" in self.cleanup_policy


@dataclass(slots=True)  # hot path: not frozen (docs/performance.md)
class LogAppendInfo:
    """What an append did. For a duplicate (a retried idempotent batch) the offsets are the
    original ones and nothing was written."""

    first_offset: int
    last_offset: int
    max_timestamp: int
    log_append_time: int  # -1 unless LogAppendTime was stamped
    log_start_offset: int
    duplicate: bool = False


@dataclass(slots=True)  # hot path: not frozen (docs/performance.md)
class ReadInfo:
    """Bytes of whole batches read from the log, starting with the batch that holds the
    fetch offset (which may begin before it, as in Kafka)."""

    records: bytes | memoryview  # a view when the read was cut to whole batches
    first_offset: int  # base offset of the first batch returned, or the fetch offset if none


@dataclass(slots=True)  # hot path: not frozen (docs/performance.md)
class TimestampOffset:
    timestamp: int
    offset: int


@dataclass(slots=True)  # hot path: not frozen (docs/performance.md)
class ValidBatch:
    """One validated batch inside a produce's records bytes: [start, end) and its header."""

    start: int
    end: int
    header: BatchHeader


@dataclass(frozen=True, slots=True)
class EpochEntry:
    """Leader epoch ``epoch`` wrote its first batch at ``start_offset`` (Kafka's EpochEntry)."""

    epoch: int
    start_offset: int


class EpochEndOffset(NamedTuple):
    """An OffsetForLeaderEpoch answer: the largest known epoch <= the one asked for and
    the offset where it ended; both -1 when unknown."""

    leader_epoch: int
    end_offset: int
