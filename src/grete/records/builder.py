"""Building v2 record batches from records, for the broker's own writes and for tools.

Off the produce/fetch hot path: the broker writes batches it builds itself only
for its internal topics and control records. Tests use it to craft input.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

import cramjam

from grete.records.batch import (
    CODEC_MASK,
    CONTROL_BIT,
    CRC_AT,
    HEADER,
    NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID,
    NO_SEQUENCE,
    TRANSACTIONAL_BIT,
    Compression,
    compute_crc,
)

_UINT32 = struct.Struct(">I")
# Java's SnappyOutputStream header: magic, version 1, compatible version 1.
XERIAL_HEADER = b"\x82SNAPPY\x00" + struct.pack(">ii", 1, 1)


def zigzag_varint(value: int) -> bytes:
    raw = (value << 1) ^ (value >> 63)
    out = bytearray()
    while raw >= 0x80:
        out.append((raw & 0x7F) | 0x80)
        raw >>= 7
    out.append(raw)
    return bytes(out)


@dataclass(frozen=True, slots=True)
class Record:
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]] = ()
    timestamp: int | None = None  # None: the batch's base timestamp


@dataclass(frozen=True, slots=True)
class BatchSpec:
    """Header fields of a batch to build; offsets are deltas from ``base_offset``."""

    base_offset: int = 0
    base_timestamp: int = 0
    compression: Compression = Compression.NONE
    producer_id: int = NO_PRODUCER_ID
    producer_epoch: int = NO_PRODUCER_EPOCH
    base_sequence: int = NO_SEQUENCE
    transactional: bool = False
    control: bool = False
    partition_leader_epoch: int = -1
    extra_attributes: int = field(default=0)


def _bytes_field(data: bytes | None) -> bytes:
    return zigzag_varint(-1) if data is None else zigzag_varint(len(data)) + data


def encode_record(offset_delta: int, timestamp_delta: int, record: Record) -> bytes:
    body = bytearray(b"\x00")  # record attributes: unused
    body += zigzag_varint(timestamp_delta)
    body += zigzag_varint(offset_delta)
    body += _bytes_field(record.key)
    body += _bytes_field(record.value)
    body += zigzag_varint(len(record.headers))
    for name, value in record.headers:
        body += _bytes_field(name.encode("utf-8"))
        body += _bytes_field(value)
    return zigzag_varint(len(body)) + bytes(body)


def compress(codec: Compression, raw: bytes) -> bytes:
    """Compress a batch's records as Kafka's clients do (snappy in Java's xerial framing)."""
    if codec == Compression.NONE:
        return raw
    if codec == Compression.GZIP:
        return bytes(cramjam.gzip.compress(raw))
    if codec == Compression.SNAPPY:
        chunk = bytes(cramjam.snappy.compress_raw(raw))
        return XERIAL_HEADER + struct.pack(">i", len(chunk)) + chunk
    if codec == Compression.LZ4:
        return bytes(cramjam.lz4.compress(raw))
    if codec == Compression.ZSTD:
        return bytes(cramjam.zstd.compress(raw))
    raise ValueError(f"unknown compression codec {codec}")


def build_batch(records: Sequence[Record], spec: BatchSpec = BatchSpec()) -> bytes:
    """One complete v2 batch with a valid CRC-32C."""
    if not records:
        raise ValueError("a batch needs at least one record")
    timestamps = [spec.base_timestamp if r.timestamp is None else r.timestamp for r in records]
    base_ts = min(timestamps)
    raw = b"".join(encode_record(i, ts - base_ts, r) for i, (r, ts) in enumerate(zip(records, timestamps)))
    payload = compress(spec.compression, raw)
    attributes = (int(spec.compression) & CODEC_MASK) | spec.extra_attributes
    if spec.transactional:
        attributes |= TRANSACTIONAL_BIT
    if spec.control:
        attributes |= CONTROL_BIT
    batch = bytearray(HEADER.size + len(payload))
    HEADER.pack_into(
        batch, 0,
        spec.base_offset,
        len(batch) - 12,
        spec.partition_leader_epoch,
        2,
        0,
        attributes,
        len(records) - 1,
        base_ts,
        max(timestamps),
        spec.producer_id,
        spec.producer_epoch,
        spec.base_sequence,
        len(records),
    )
    batch[HEADER.size :] = payload
    _UINT32.pack_into(batch, CRC_AT, compute_crc(batch))
    return bytes(batch)
