"""A hand-written decoder for Produce requests (v0-v11), the broker's hottest path.

kio copies each partition's records into a new bytes object; this decoder instead
returns writable memoryviews into the request frame, so the broker patches base
offsets in place and writes the very bytes that came off the socket. Measured in
docs/performance.md. The response has its own encoder (produce_response.py).

Wire layout (v9+ is "flexible": compact strings, arrays and bytes, tagged fields)::

    transactional_id  nullable string   (v3+)
    acks              int16
    timeout_ms        int32
    topic_data        array of
        name            string
        partition_data  array of
            index         int32
            records       nullable bytes
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from grete.protocol.codec import MalformedRequest, read_uvarint, skip_tagged_fields

FIRST_FLEXIBLE_VERSION = 9
FIRST_TRANSACTIONAL_VERSION = 3
_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")


@dataclass(slots=True)  # hot path: not frozen (docs/performance.md)
class PartitionProduceData:
    index: int
    records: memoryview | None  # a writable view into the request frame


@dataclass(slots=True)  # hot path: not frozen (docs/performance.md)
class TopicProduceData:
    name: str
    partition_data: list[PartitionProduceData]


@dataclass(slots=True)  # hot path: not frozen (docs/performance.md)
class ProduceRequest:
    transactional_id: str | None
    acks: int
    timeout_ms: int
    topic_data: list[TopicProduceData]


class _Reader:
    __slots__ = ("at", "buf", "flexible")

    def __init__(self, buf: memoryview, at: int, flexible: bool) -> None:
        self.buf = buf
        self.at = at
        self.flexible = flexible

    def _need(self, n: int) -> int:
        start = self.at
        if n < 0 or start + n > len(self.buf):
            raise MalformedRequest("produce request ends early")
        self.at = start + n
        return start

    def int16(self) -> int:
        return int(_INT16.unpack_from(self.buf, self._need(2))[0])

    def int32(self) -> int:
        return int(_INT32.unpack_from(self.buf, self._need(4))[0])

    def string(self, nullable: bool = False) -> str | None:
        if self.flexible:
            value, self.at = read_uvarint(self.buf, self.at)
            length = value - 1
        else:
            length = self.int16()
        if length < 0:
            if nullable and length == -1:
                return None
            raise MalformedRequest("null or negative string length")
        start = self._need(length)
        try:
            return bytes(self.buf[start : start + length]).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedRequest("string is not UTF-8") from exc

    def array_length(self) -> int:
        if self.flexible:
            value, self.at = read_uvarint(self.buf, self.at)
            length = value - 1
        else:
            length = self.int32()
        if length < 0:
            raise MalformedRequest("null or negative array length")
        if length > len(self.buf) - self.at:  # every element takes at least one byte
            raise MalformedRequest(f"array of {length} elements cannot fit in the frame")
        return length

    def nullable_bytes(self) -> memoryview | None:
        if self.flexible:
            value, self.at = read_uvarint(self.buf, self.at)
            length = value - 1
        else:
            length = self.int32()
        if length == -1:
            return None
        if length < 0:
            raise MalformedRequest("negative bytes length")
        start = self._need(length)
        return self.buf[start : start + length]

    def tagged_fields(self) -> None:
        if self.flexible:
            self.at = skip_tagged_fields(self.buf, self.at)


def decode_produce_request(frame: bytearray, at: int, version: int) -> ProduceRequest:
    """Decode the body of a Produce request starting at ``at``; raises MalformedRequest."""
    r = _Reader(memoryview(frame), at, version >= FIRST_FLEXIBLE_VERSION)
    transactional_id = r.string(nullable=True) if version >= FIRST_TRANSACTIONAL_VERSION else None
    acks = r.int16()
    timeout_ms = r.int32()
    topics = []
    for _ in range(r.array_length()):
        name = r.string()
        assert name is not None
        partitions = []
        for _ in range(r.array_length()):
            index = r.int32()
            partitions.append(PartitionProduceData(index, r.nullable_bytes()))
            r.tagged_fields()
        topics.append(TopicProduceData(name, partitions))
        r.tagged_fields()
    r.tagged_fields()
    return ProduceRequest(transactional_id, acks, timeout_ms, topics)
