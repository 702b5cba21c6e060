"""Builders for valid v2 record batches, encoded here record by record (varints, CRC-32C)."""

from __future__ import annotations

import struct
from collections.abc import Sequence

import cramjam
from crc32c import crc32c

from grete.records.batch import (
    HEADER,
    TIMESTAMP_TYPE_BIT,
    TRANSACTIONAL_BIT,
    BatchHeader,
    Compression,
    read_header,
    split_batches,
    validate_batch,
)
from grete.storage.log import Log
from grete.storage.types import LogAppendInfo, ValidBatch

T0 = 1_700_000_000_000


def varint(value: int) -> bytes:
    raw = (value << 1) ^ (value >> 63)  # zigzag
    out = bytearray()
    while True:
        byte = raw & 0x7F
        raw >>= 7
        if raw:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(data: bytes | None) -> bytes:
    return varint(-1) if data is None else varint(len(data)) + data


def encode_record(
    offset_delta: int,
    timestamp_delta: int,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes | None]] = (),
) -> bytes:
    body = bytearray(b"\x00")  # attributes
    body += varint(timestamp_delta) + varint(offset_delta) + _field(key) + _field(value)
    body += varint(len(headers))
    for name, header_value in headers:
        body += _field(name.encode()) + _field(header_value)
    return varint(len(body)) + bytes(body)


def xerial_frame(raw: bytes, block: int = 64) -> bytes:
    """Java's SnappyOutputStream framing (small blocks to exercise several of them)."""
    out = bytearray(b"\x82SNAPPY\x00" + struct.pack(">ii", 1, 1))
    for at in range(0, len(raw), block):
        chunk = bytes(cramjam.snappy.compress_raw(raw[at : at + block]))
        out += struct.pack(">i", len(chunk)) + chunk
    return bytes(out)


def compress(codec: Compression, raw: bytes, *, xerial: bool = True) -> bytes:
    if codec == Compression.NONE:
        return raw
    if codec == Compression.GZIP:
        return bytes(cramjam.gzip.compress(raw))
    if codec == Compression.SNAPPY:
        return xerial_frame(raw) if xerial else bytes(cramjam.snappy.compress_raw(raw))
    if codec == Compression.LZ4:
        return bytes(cramjam.lz4.compress(raw))
    return bytes(cramjam.zstd.compress(raw))


def make_batch(
    count: int = 1,
    *,
    base_offset: int = 0,
    timestamps: Sequence[int] | None = None,
    value_size: int = 10,
    values: Sequence[bytes | None] | None = None,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    compression: Compression = Compression.NONE,
    xerial: bool = True,
    transactional: bool = False,
    log_append_time: bool = False,
) -> bytes:
    """One valid batch of ``count`` records (``timestamps`` default to T0, T0+1, ...)."""
    if values is None:
        values = [bytes([65 + i % 26]) * value_size for i in range(count)]
    count = len(values)
    if timestamps is None:
        timestamps = [T0 + i for i in range(count)]
    base_ts = timestamps[0]
    raw = b"".join(
        encode_record(i, ts - base_ts, f"k{i}".encode(), v, [("h", b"x")])
        for i, (ts, v) in enumerate(zip(timestamps, values))
    )
    payload = compress(compression, raw, xerial=xerial)
    attributes = int(compression)
    if transactional:
        attributes |= TRANSACTIONAL_BIT
    if log_append_time:
        attributes |= TIMESTAMP_TYPE_BIT
    length = HEADER.size - 12 + len(payload)
    header = bytearray(
        HEADER.pack(
            base_offset,
            length,
            -1,
            2,
            0,
            attributes,
            count - 1,
            base_ts,
            max(timestamps),
            producer_id,
            producer_epoch,
            base_sequence,
            count,
        )
    )
    batch = header + payload
    struct.pack_into(">I", batch, 17, crc32c(bytes(batch[21:])))
    return bytes(batch)


def valid_batches(records: bytes | bytearray) -> list[ValidBatch]:
    return [
        ValidBatch(s, e, validate_batch(memoryview(records)[s:e]))
        for s, e in split_batches(records)
    ]


def append(
    log: Log, *batches: bytes, leader_epoch: int = 0, log_append_time_ms: int | None = None
) -> LogAppendInfo:
    records = bytearray(b"".join(batches))
    return log.append(
        records,
        valid_batches(records),
        leader_epoch=leader_epoch,
        log_append_time_ms=log_append_time_ms,
    )


def headers(records: bytes) -> list[BatchHeader]:
    return [read_header(records, s) for s, _ in split_batches(records)]


def offsets(records: bytes) -> list[int]:
    """Every offset covered by the batches in ``records``."""
    return [o for h in headers(records) for o in range(h.base_offset, h.next_offset)]
