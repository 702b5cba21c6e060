"""Filtering the records of one v2 batch for the log cleaner (sans-IO).

Kept records are copied as they are (their offset and timestamp deltas still hold,
since a cleaned batch keeps its base offset and base timestamp), except when the
batch gains a delete horizon: then ``base_timestamp`` becomes the horizon (KIP-534)
and every record's timestamp delta is rewritten against it. The batch keeps its base
offset, last offset delta, producer id and epoch, base sequence, partition leader
epoch, timestamp type and flags, as Kafka's ``MemoryRecords.filterTo`` keeps them;
its records are recompressed with the same codec and its CRC-32C recomputed.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from grete.records.batch import (
    CODEC_MASK,
    CRC_AT,
    DELETE_HORIZON_BIT,
    HEADER,
    HEADER_SIZE,
    BatchHeader,
    Compression,
    InvalidBatch,
    compute_crc,
    read_header,
)
from grete.records.builder import compress, zigzag_varint
from grete.records.record import decompress, read_varint

_UINT32 = struct.Struct(">I")


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One record as stored: its absolute offset and timestamp, its key, whether it has a
    value, and its bytes after the length prefix (``ts_at``/``ts_end``: the timestamp
    delta's varint inside ``body``)."""

    offset: int
    timestamp: int
    key: bytes | None
    has_value: bool
    body: bytes
    ts_at: int
    ts_end: int


def _skip_bytes(buf: bytes, at: int) -> tuple[bytes | None, int]:
    length, at = read_varint(buf, at)
    if length < 0:
        return None, at
    if at + length > len(buf):
        raise InvalidBatch("record field runs past the end of the records")
    return buf[at : at + length], at + length


def read_raw_records(batch: bytes | bytearray | memoryview) -> tuple[BatchHeader, list[RawRecord]]:
    """The header and every record of one complete v2 batch, keys decoded, bodies kept."""
    header = read_header(batch)
    payload = decompress(header.compression, bytes(memoryview(batch)[HEADER_SIZE : header.size]))
    records: list[RawRecord] = []
    at = 0
    for _ in range(header.records_count):
        length, at = read_varint(payload, at)
        end = at + length
        if length < 0 or end > len(payload):
            raise InvalidBatch("record length runs past the end of the records")
        body = payload[at:end]
        ts_delta, ts_end = read_varint(body, 1)  # after the attributes byte
        offset_delta, pos = read_varint(body, ts_end)
        key, pos = _skip_bytes(body, pos)
        value_length, _ = read_varint(body, pos)
        records.append(RawRecord(
            header.base_offset + offset_delta, header.base_timestamp + ts_delta, key,
            value_length >= 0, body, 1, ts_end,
        ))
        at = end
    return header, records


def _with_base_timestamp(record: RawRecord, base_timestamp: int) -> bytes:
    delta = zigzag_varint(record.timestamp - base_timestamp)
    body = record.body[: record.ts_at] + delta + record.body[record.ts_end :]
    return zigzag_varint(len(body)) + body


def rebuild_batch(
    header: BatchHeader, records: Sequence[RawRecord], *, delete_horizon_ms: int | None
) -> bytes:
    """A batch holding only ``records`` (a non-empty subset of ``header``'s batch, in
    order), with the header fields Kafka keeps; ``delete_horizon_ms`` stamps the horizon."""
    if not records:
        raise ValueError("use empty_batch for a batch without records")
    attributes = header.attributes & ~DELETE_HORIZON_BIT
    if delete_horizon_ms is not None:
        attributes |= DELETE_HORIZON_BIT
        base_timestamp = delete_horizon_ms
        raw = b"".join(_with_base_timestamp(r, base_timestamp) for r in records)
    else:
        base_timestamp = header.base_timestamp
        raw = b"".join(zigzag_varint(len(r.body)) + r.body for r in records)
    if header.log_append_time:
        max_timestamp = header.max_timestamp
    else:
        max_timestamp = max(r.timestamp for r in records)
    payload = compress(Compression(header.compression), raw)
    return _pack(header, attributes, base_timestamp, max_timestamp, len(records), payload)


def empty_batch(header: BatchHeader) -> bytes:
    """The header alone, records removed (Kafka's ``writeEmptyHeader``): it keeps the
    batch's offsets, producer id, epoch and sequence so producer state survives
    cleaning. Uncompressed; both timestamps are the batch's max timestamp."""
    attributes = header.attributes & ~(CODEC_MASK | DELETE_HORIZON_BIT)
    return _pack(header, attributes, header.max_timestamp, header.max_timestamp, 0, b"")


def _pack(
    header: BatchHeader,
    attributes: int,
    base_timestamp: int,
    max_timestamp: int,
    count: int,
    payload: bytes,
) -> bytes:
    batch = bytearray(HEADER_SIZE + len(payload))
    HEADER.pack_into(
        batch, 0,
        header.base_offset,
        len(batch) - 12,
        header.partition_leader_epoch,
        2,
        0,
        attributes,
        header.last_offset_delta,
        base_timestamp,
        max_timestamp,
        header.producer_id,
        header.producer_epoch,
        header.base_sequence,
        count,
    )
    batch[HEADER_SIZE:] = payload
    _UINT32.pack_into(batch, CRC_AT, compute_crc(batch))
    return bytes(batch)
