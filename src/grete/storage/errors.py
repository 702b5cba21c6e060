"""Failures the storage layer reports; handlers map them to Kafka error codes."""

from __future__ import annotations


class StorageError(Exception):
    pass


class OffsetOutOfRange(StorageError):
    def __init__(self, offset: int, log_start_offset: int, log_end_offset: int) -> None:
        super().__init__(
            f"offset {offset} is outside [{log_start_offset}, {log_end_offset}]"
        )
        self.offset = offset
        self.log_start_offset = log_start_offset
        self.log_end_offset = log_end_offset


class OutOfOrderSequence(StorageError):
    """OUT_OF_ORDER_SEQUENCE_NUMBER: an idempotent batch left a gap in its sequence."""


class InvalidProducerEpoch(StorageError):
    """INVALID_PRODUCER_EPOCH: a batch from an older (fenced) producer epoch."""


class LogDirFailure(StorageError):
    """KAFKA_STORAGE_ERROR: an I/O error in a log directory."""


class UnexpectedAppendOffset(StorageError):
    """A follower's records do not start at its log end (Kafka's
    UnexpectedAppendOffsetException): the fetcher and the log disagree."""

    def __init__(self, first_offset: int, log_end_offset: int) -> None:
        super().__init__(
            f"records start at offset {first_offset}, expected the log end {log_end_offset}"
        )
        self.first_offset = first_offset
        self.log_end_offset = log_end_offset


class OffsetsOutOfOrder(StorageError):
    """Replicated batches whose offsets do not increase (Kafka's OffsetsOutOfOrderException)."""


class CorruptRecords(StorageError):
    """Replicated bytes that are not whole, valid v2 batches (framing, magic or CRC-32C)."""
