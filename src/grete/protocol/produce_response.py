"""A hand-written encoder for Produce responses (v0-v11), answered on every produce.

Encoding a Produce response through kio builds a tree of frozen dataclasses and walks
it with a generic writer; this encoder packs the few fields straight into one buffer.
kio has no schema for v0-v2, which Grete answers only with an error (KAFKA-18659).
tests/unit/protocol/test_produce_response.py checks the bytes against kio's for v3-v11.

Wire layout (v9+ is "flexible": compact arrays and strings, tagged fields)::

    responses               array of
        name                string
        partition_responses array of
            index               int32
            error_code          int16
            base_offset         int64
            log_append_time_ms  int64   (v2+)
            log_start_offset    int64   (v5+)
            record_errors       array   (v8+), always empty here
            error_message       nullable string (v8+)
    throttle_time_ms        int32   (v1+)
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from grete.protocol.codec import EncodedResponse, encode_length, encode_string

FIRST_FLEXIBLE_VERSION = 9
_INT32 = struct.Struct(">i")
_HEAD = struct.Struct(">ii")  # size, correlation id
_PARTITION = struct.Struct(">ihq")  # index, error, base offset
_INT64 = struct.Struct(">q")
_EMPTY_TAGS = b"\x00"


@dataclass(slots=True)  # hot path: not frozen (docs/performance.md)
class ProducedPartition:
    index: int
    error_code: int
    base_offset: int = -1
    log_append_time: int = -1
    log_start_offset: int = -1
    error_message: str | None = None


def encode_produce_response(
    correlation_id: int,
    version: int,
    topics: Sequence[tuple[str, Sequence[ProducedPartition]]],
    throttle_ms: int = 0,
) -> EncodedResponse:
    """The whole response frame, size prefix included, in one buffer."""
    flexible = version >= FIRST_FLEXIBLE_VERSION
    out = bytearray(_HEAD.pack(0, correlation_id))
    if flexible:
        out += _EMPTY_TAGS  # response header v1
    out += encode_length(len(topics), flexible)
    for name, partitions in topics:
        out += encode_string(name, flexible)
        out += encode_length(len(partitions), flexible)
        for p in partitions:
            out += _PARTITION.pack(p.index, p.error_code, p.base_offset)
            if version >= 2:
                out += _INT64.pack(p.log_append_time)
            if version >= 5:
                out += _INT64.pack(p.log_start_offset)
            if version >= 8:
                out += encode_length(0, flexible)  # record_errors
                out += encode_string(p.error_message, flexible)
            if flexible:
                out += _EMPTY_TAGS
        if flexible:
            out += _EMPTY_TAGS
    throttle_at = len(out)
    if version >= 1:
        out += _INT32.pack(throttle_ms)
    if flexible:
        out += _EMPTY_TAGS
    _INT32.pack_into(out, 0, len(out) - 4)
    return EncodedResponse([out], throttle_at)
