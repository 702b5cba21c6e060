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
