"""A view over the 61-byte header of a v2 (magic 2) record batch.

The broker never parses individual records on the produce or fetch path: it
reads this header, checks the CRC-32C, and patches the base offset in place.

Layout of a v2 record batch (all integers big-endian)::

    offset  size  field
         0     8  base_offset
         8     4  batch_length          bytes after this field
        12     4  partition_leader_epoch
        16     1  magic                 must be 2
        17     4  crc                   CRC-32C of bytes [21, end)
        21     2  attributes            bits 0-2 codec, 3 timestamp type,
                                        4 transactional, 5 control,
                                        6 delete horizon
        23     4  last_offset_delta
        27     8  base_timestamp
        35     8  max_timestamp
        43     8  producer_id
        51     2  producer_epoch
        53     4  base_sequence
        57     4  records_count
        61     -  records
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum

from crc32c import crc32c

HEADER = struct.Struct(">qiibIhiqqqhii")
HEADER_SIZE = HEADER.size  # 61
assert HEADER_SIZE == 61

# Named byte offsets into the header, for in-place patches.
BASE_OFFSET_AT = 0
BATCH_LENGTH_AT = 8
LEADER_EPOCH_AT = 12
MAGIC_AT = 16
CRC_AT = 17
ATTRIBUTES_AT = 21
MAX_TIMESTAMP_AT = 35
# Bytes before batch_length's coverage starts: base_offset + batch_length.
LOG_OVERHEAD = 12

_OFFSET_AND_LENGTH = struct.Struct(">qi")
_INT64 = struct.Struct(">q")
_INT32 = struct.Struct(">i")
_UINT32 = struct.Struct(">I")
_INT16 = struct.Struct(">h")

NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1
NO_SEQUENCE = -1
NO_TIMESTAMP = -1

CODEC_MASK = 0x07
TIMESTAMP_TYPE_BIT = 0x08
TRANSACTIONAL_BIT = 0x10
CONTROL_BIT = 0x20
DELETE_HORIZON_BIT = 0x40  # KIP-534: base_timestamp holds the tombstones' delete horizon


class Compression(IntEnum):
    NONE = 0
    GZIP = 1
    SNAPPY = 2
    LZ4 = 3
    ZSTD = 4


class InvalidBatch(ValueError):
    """The bytes do not hold a valid v2 record batch.

    ``corrupt`` tells CRC or framing damage (CORRUPT_MESSAGE) apart from a
    well-formed batch that breaks a rule (INVALID_RECORD).
    """

    def __init__(self, message: str, *, corrupt: bool = True) -> None:
        super().__init__(message)
        self.corrupt = corrupt


class UnsupportedMagic(InvalidBatch):
    """A batch in the legacy message format (magic 0 or 1)."""


@dataclass(slots=True)  # hot path: not frozen (docs/performance.md)
class BatchHeader:
    """The decoded 61-byte header of one batch; ``size`` is the whole batch's size."""

    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records_count: int

    @property
    def size(self) -> int:
        return self.batch_length + LOG_OVERHEAD

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.last_offset + 1

    @property
    def compression(self) -> int:
        return self.attributes & CODEC_MASK

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & TRANSACTIONAL_BIT)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & CONTROL_BIT)

    @property
    def log_append_time(self) -> bool:
        return bool(self.attributes & TIMESTAMP_TYPE_BIT)

    @property
    def delete_horizon_ms(self) -> int | None:
        """When the cleaner may drop this batch's tombstones (set by a first cleaning)."""
        return self.base_timestamp if self.attributes & DELETE_HORIZON_BIT else None

    @property
    def has_producer_id(self) -> bool:
        return self.producer_id >= 0

    @property
    def last_sequence(self) -> int:
        if self.base_sequence == NO_SEQUENCE:
            return NO_SEQUENCE
        # Sequences wrap at 2**31 - 1, as in Kafka.
        return (self.base_sequence + self.last_offset_delta) % 2**31


def read_header(buf: bytes | bytearray | memoryview, at: int = 0) -> BatchHeader:
    """Decode the header of the batch starting at ``at``; ``buf`` must hold 61 bytes there."""
    return BatchHeader(*HEADER.unpack_from(buf, at))


def peek_offset_and_length(buf: bytes | bytearray | memoryview, at: int = 0) -> tuple[int, int]:
    """(base_offset, batch_length) from the first 12 bytes of a batch."""
    base_offset, length = _OFFSET_AND_LENGTH.unpack_from(buf, at)
    return int(base_offset), int(length)


def compute_crc(batch: bytes | bytearray | memoryview) -> int:
    return int(crc32c(memoryview(batch)[ATTRIBUTES_AT:]))


def validate_batch(batch: bytes | bytearray | memoryview) -> BatchHeader:
    """Check one complete batch (exactly ``len(batch)`` bytes) and return its header.

    Checks the framing, the magic, the CRC-32C and the header's own consistency.
    Never looks at the records themselves. A batch emptied by the log cleaner (no
    records, offsets kept) is valid here; produce refuses empty batches itself.
    """
    if len(batch) < HEADER_SIZE:
        if len(batch) >= 17 and batch[MAGIC_AT] in (0, 1):
            raise UnsupportedMagic(f"message format v{batch[MAGIC_AT]} is not supported")
        raise InvalidBatch(f"batch of {len(batch)} bytes is shorter than its header")
    header = read_header(batch)
    if header.magic != 2:
        raise UnsupportedMagic(f"message format v{header.magic} is not supported")
    if header.size != len(batch):
        raise InvalidBatch(f"batch length {header.batch_length} does not match {len(batch)} bytes")
    if compute_crc(batch) != header.crc:
        raise InvalidBatch("CRC-32C mismatch")
    if header.records_count < 0:
        raise InvalidBatch("negative record count", corrupt=False)
    if header.last_offset_delta < 0 or (
        header.records_count > 0 and header.last_offset_delta < header.records_count - 1
    ):
        raise InvalidBatch("last offset delta disagrees with the record count", corrupt=False)
    if header.compression > Compression.ZSTD:
        raise InvalidBatch(f"unknown compression codec {header.compression}", corrupt=False)
    return header


def split_batches(
    records: bytes | bytearray | memoryview,
) -> Iterator[tuple[int, int]]:
    """Yield (start, end) of each complete batch in ``records``.

    Raises InvalidBatch if the bytes end in the middle of a batch or a length is
    impossible. Only the 12-byte prefix of each batch is read here.
    """
    view = memoryview(records)
    at = 0
    total = len(view)
    while at < total:
        if total - at < LOG_OVERHEAD:
            raise InvalidBatch("truncated batch prefix")
        _, length = peek_offset_and_length(view, at)
        if length < HEADER_SIZE - LOG_OVERHEAD:
            raise InvalidBatch(f"impossible batch length {length}")
        end = at + LOG_OVERHEAD + length
        if end > total:
            raise InvalidBatch("truncated batch")
        yield at, end
        at = end


def set_base_offset(batch: bytearray | memoryview, base_offset: int, at: int = 0) -> None:
    """Patch the base offset (outside the CRC's coverage, so the CRC stays valid)."""
    _INT64.pack_into(batch, at + BASE_OFFSET_AT, base_offset)


def set_leader_epoch(batch: bytearray | memoryview, epoch: int, at: int = 0) -> None:
    """Patch the partition leader epoch (outside the CRC's coverage)."""
    _INT32.pack_into(batch, at + LEADER_EPOCH_AT, epoch)


def set_log_append_time(batch: bytearray | memoryview, timestamp_ms: int) -> None:
    """Stamp a whole batch with LogAppendTime and recompute its CRC.

    Only the header changes: Kafka's readers take every record's timestamp from
    max_timestamp when the timestamp-type bit is set.
    """
    (attributes,) = _INT16.unpack_from(batch, ATTRIBUTES_AT)
    _INT16.pack_into(batch, ATTRIBUTES_AT, attributes | TIMESTAMP_TYPE_BIT)
    _INT64.pack_into(batch, MAX_TIMESTAMP_AT, timestamp_ms)
    _UINT32.pack_into(batch, CRC_AT, compute_crc(batch))
