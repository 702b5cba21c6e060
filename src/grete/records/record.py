"""Decoding the records inside a v2 batch: the slow path, for ListOffsets and tests only.

The produce and fetch paths never call this module: they keep batches as bytes.

Layout of one record (after the 61-byte batch header, possibly compressed)::

    length          varint   bytes after this field
    attributes      int8     unused
    timestamp_delta varlong  from the batch's base_timestamp
    offset_delta    varint   from the batch's base_offset
    key_length      varint   -1 for a null key
    key             bytes
    value_length    varint   -1 for a null value
    value           bytes
    header_count    varint
    headers         (key_length varint, key utf-8, value_length varint, value) * count

Varints are zigzag-encoded, as in protobuf.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import cramjam

from grete.records.batch import (
    HEADER_SIZE,
    Compression,
    InvalidBatch,
    read_header,
)

# Java's xerial SnappyOutputStream frames its blocks behind this header.
XERIAL_MAGIC = b"\x82SNAPPY\x00"
_XERIAL_HEADER_SIZE = len(XERIAL_MAGIC) + 8  # magic, version int32, compatible int32
_INT32 = struct.Struct(">i")


@dataclass(frozen=True, slots=True)
class Record:
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()


def read_varint(buf: bytes | memoryview, at: int) -> tuple[int, int]:
    """Decode a zigzag varint at ``at``; return (value, position after it)."""
    shift = 0
    raw = 0
    while True:
        if at >= len(buf):
            raise InvalidBatch("varint runs past the end of the records")
        byte = buf[at]
        at += 1
        raw |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
        if shift > 63:
            raise InvalidBatch("varint longer than 10 bytes")
    return (raw >> 1) ^ -(raw & 1), at


def _read_bytes(buf: bytes | memoryview, at: int) -> tuple[bytes | None, int]:
    length, at = read_varint(buf, at)
    if length < 0:
        return None, at
    if at + length > len(buf):
        raise InvalidBatch("record field runs past the end of the records")
    return bytes(buf[at : at + length]), at + length


def _unframe_xerial(data: bytes) -> bytes:
    """Concatenate the raw snappy blocks of a xerial stream (int32 length + block, repeated)."""
    out = bytearray()
    at = _XERIAL_HEADER_SIZE
    while at < len(data):
        (length,) = _INT32.unpack_from(data, at)
        at += 4
        out += bytes(cramjam.snappy.decompress_raw(data[at : at + length]))
        at += length
    return bytes(out)


def decompress(codec: int, data: bytes) -> bytes:
    """Decompress a batch's records section as Kafka's clients write it."""
    if codec == Compression.NONE:
        return data
    if codec == Compression.GZIP:
        return bytes(cramjam.gzip.decompress(data))
    if codec == Compression.SNAPPY:
        if data.startswith(XERIAL_MAGIC):
            return _unframe_xerial(data)
        return bytes(cramjam.snappy.decompress_raw(data))
    if codec == Compression.LZ4:
        return bytes(cramjam.lz4.decompress(data))
    if codec == Compression.ZSTD:
        return bytes(cramjam.zstd.decompress(data))
    raise InvalidBatch(f"unknown compression codec {codec}", corrupt=False)


def _decode_record(buf: bytes, at: int, base_offset: int, base_ts: int) -> tuple[Record, int]:
    length, at = read_varint(buf, at)
    end = at + length
    if length < 0 or end > len(buf):
        raise InvalidBatch("record length runs past the end of the records")
    at += 1  # attributes
    ts_delta, at = read_varint(buf, at)
    offset_delta, at = read_varint(buf, at)
    key, at = _read_bytes(buf, at)
    value, at = _read_bytes(buf, at)
    count, at = read_varint(buf, at)
    headers: list[tuple[str, bytes | None]] = []
    for _ in range(count):
        name, at = _read_bytes(buf, at)
        header_value, at = _read_bytes(buf, at)
        headers.append(((name or b"").decode("utf-8", "replace"), header_value))
    if at != end:
        raise InvalidBatch("record length disagrees with its fields")
    record = Record(base_offset + offset_delta, base_ts + ts_delta, key, value, tuple(headers))
    return record, end


def decode_records(batch: bytes | bytearray | memoryview) -> list[Record]:
    """All records of one complete v2 batch, with absolute offsets and timestamps.

    With LogAppendTime every record's timestamp is the batch's max_timestamp.
    """
    header = read_header(batch)
    payload = decompress(header.compression, bytes(memoryview(batch)[HEADER_SIZE : header.size]))
    records: list[Record] = []
    at = 0
    for _ in range(header.records_count):
        record, at = _decode_record(payload, at, header.base_offset, header.base_timestamp)
        if header.log_append_time:
            record = Record(
                record.offset, header.max_timestamp, record.key, record.value, record.headers
            )
        records.append(record)
    return records
