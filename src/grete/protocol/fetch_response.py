"""A hand-written encoder for Fetch responses (v4-v16), the broker's hottest read path.

kio would copy every partition's record bytes into one response buffer (and that
buffer once more into the frame). This encoder instead returns the frame as a list of
buffers: the encoded fields, with each partition's record bytes, exactly as read from
the segment, in between. The connection hands the list to the transport's
``writelines`` (one vectored write), so the records are copied once in Python: when
they are read from the segment file. tests/unit/protocol/test_fetch_response.py checks
the bytes against kio's encoder for every version.

Wire layout (v12+ is "flexible": compact arrays, strings and bytes, tagged fields)::

    throttle_time_ms       int32
    error_code             int16          (v7+)
    session_id             int32          (v7+)
    responses              array of
        topic              string         (v4-v12)
        topic_id           uuid           (v13+)
        partitions         array of
            partition_index        int32
            error_code             int16
            high_watermark         int64
            last_stable_offset     int64
            log_start_offset       int64  (v5+)
            aborted_transactions   nullable array, always null here (no transactions)
            preferred_read_replica int32  (v11+), always -1
            records                nullable bytes
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from grete.protocol.codec import EncodedResponse, encode_length, encode_string

FIRST_FLEXIBLE_VERSION = 12
FIRST_TOPIC_ID_VERSION = 13
_INT32 = struct.Struct(">i")
_TOP_V4 = struct.Struct(">iii")  # size, correlation id, throttle
_TOP_V7 = struct.Struct(">iiihi")  # size, correlation id, throttle, error, session
_TOP_FLEX = struct.Struct(">iiBihi")  # size, correlation id, header tags, throttle, error, session
_PARTITION_V4 = struct.Struct(">ihqq")  # index, error, high watermark, last stable offset
_PARTITION_V5 = struct.Struct(">ihqqq")  # ... log start offset
_NULL_ARRAY = _INT32.pack(-1)
_NO_READ_REPLICA = _INT32.pack(-1)
_EMPTY_TAGS = b"\x00"
_NULL_COMPACT = b"\x00"
_THROTTLE_AT = 8  # after size and correlation id
_THROTTLE_AT_FLEX = 9  # after the header's tagged fields too


@dataclass(slots=True)
class FetchedPartition:
    partition_index: int
    error_code: int
    high_watermark: int
    last_stable_offset: int
    log_start_offset: int
    records: bytes | memoryview


@dataclass(slots=True)
class FetchedTopic:
    name: str
    topic_id: uuid.UUID | None
    partitions: list[FetchedPartition]


def _topic_key(topic: FetchedTopic, version: int, flexible: bool) -> bytes:
    if version >= FIRST_TOPIC_ID_VERSION:
        return (topic.topic_id or uuid.UUID(int=0)).bytes
    return encode_string(topic.name, flexible)


def encode_fetch_response(
    correlation_id: int,
    version: int,
    *,
    throttle_ms: int,
    error_code: int,
    session_id: int,
    topics: Sequence[FetchedTopic],
) -> EncodedResponse:
    """The whole response frame, size prefix included, as buffers to write in order."""
    flexible = version >= FIRST_FLEXIBLE_VERSION
    if flexible:
        head = bytearray(_TOP_FLEX.pack(0, correlation_id, 0, throttle_ms, error_code, session_id))
        throttle_at = _THROTTLE_AT_FLEX
    elif version >= 7:
        head = bytearray(_TOP_V7.pack(0, correlation_id, throttle_ms, error_code, session_id))
        throttle_at = _THROTTLE_AT
    else:
        head = bytearray(_TOP_V4.pack(0, correlation_id, throttle_ms))
        throttle_at = _THROTTLE_AT
    parts: list[bytes | bytearray | memoryview] = [head]
    fields = head  # where fixed fields go; a new buffer after each partition's records
    fields += encode_length(len(topics), flexible)
    partition_fields = _PARTITION_V5 if version >= 5 else _PARTITION_V4
    aborted = _NULL_COMPACT if flexible else _NULL_ARRAY
    read_replica = _NO_READ_REPLICA if version >= 11 else b""
    for topic in topics:
        fields += _topic_key(topic, version, flexible)
        fields += encode_length(len(topic.partitions), flexible)
        for p in topic.partitions:
            if version >= 5:
                fields += partition_fields.pack(
                    p.partition_index, p.error_code, p.high_watermark,
                    p.last_stable_offset, p.log_start_offset,
                )  # fmt: skip
            else:
                fields += partition_fields.pack(
                    p.partition_index, p.error_code, p.high_watermark, p.last_stable_offset
                )
            fields += aborted
            fields += read_replica
            fields += encode_length(len(p.records), flexible)
            if p.records:
                parts.append(p.records)
                fields = bytearray()
                parts.append(fields)
            if flexible:
                fields += _EMPTY_TAGS  # the partition's
        if flexible:
            fields += _EMPTY_TAGS  # the topic's
    if flexible:
        fields += _EMPTY_TAGS  # the response's
    size = sum(len(part) for part in parts) - 4
    _INT32.pack_into(head, 0, size)
    return EncodedResponse(parts, throttle_at)
