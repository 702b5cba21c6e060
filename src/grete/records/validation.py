"""Validation of a produce request's records for one partition, reading batch headers only."""

from __future__ import annotations

from enum import Enum

from grete.records.batch import InvalidBatch, UnsupportedMagic, split_batches, validate_batch
from grete.records.record import decode_records
from grete.storage.types import ValidBatch


class RecordsErrorKind(Enum):
    CORRUPT = "corrupt"  # CORRUPT_MESSAGE: bad framing or CRC
    INVALID = "invalid"  # INVALID_RECORD: well-formed but breaks a rule
    TOO_LARGE = "too_large"  # MESSAGE_TOO_LARGE
    UNSUPPORTED_FORMAT = "unsupported_format"  # UNSUPPORTED_FOR_MESSAGE_FORMAT


class RecordsError(ValueError):
    def __init__(self, kind: RecordsErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def validate_produce_records(
    records: bytes | bytearray | memoryview, *, max_message_bytes: int, compacted: bool = False
) -> list[ValidBatch]:
    """Split ``records`` into batches and check each one's header and CRC-32C.

    Raises RecordsError. Decompresses and parses records only for a compacted topic,
    where, as in Kafka, a record without a key is refused (INVALID_RECORD): the cleaner
    could never keep or drop it by key.
    """
    if len(records) == 0:
        raise RecordsError(RecordsErrorKind.CORRUPT, "produce request has no record batch")
    batches: list[ValidBatch] = []
    try:
        for start, end in split_batches(records):
            view = memoryview(records)[start:end]
            if end - start > max_message_bytes:
                raise RecordsError(
                    RecordsErrorKind.TOO_LARGE,
                    f"batch of {end - start} bytes exceeds max.message.bytes {max_message_bytes}",
                )
            header = validate_batch(view)
            if header.is_control:
                raise RecordsError(RecordsErrorKind.INVALID, "clients may not produce control batches")
            if header.records_count == 0:
                raise RecordsError(RecordsErrorKind.INVALID, "batch has no records")
            if compacted and any(r.key is None for r in decode_records(view)):
                raise RecordsError(
                    RecordsErrorKind.INVALID, "Compacted topic cannot accept message without key"
                )
            batches.append(ValidBatch(start, end, header))
    except UnsupportedMagic as exc:
        raise RecordsError(RecordsErrorKind.UNSUPPORTED_FORMAT, str(exc)) from None
    except InvalidBatch as exc:
        kind = RecordsErrorKind.CORRUPT if exc.corrupt else RecordsErrorKind.INVALID
        raise RecordsError(kind, str(exc)) from None
    return batches
