"""A hand-written encoder for Metadata responses (v0-v12).

A client asking for every topic of a broker with 10,000 partitions made kio build
10,000 partition entities and walk them with its generic writer: about 230 ms on the
event loop per request (docs/performance.md). This encoder packs the same fields
straight into one buffer. tests/unit/protocol/test_metadata_response.py checks the
bytes against kio's for every version.

Wire layout (v9+ is "flexible": compact arrays and strings, tagged fields)::

    throttle_time_ms          int32   (v3+)
    brokers                   array of
        node_id  int32, host string, port int32, rack nullable string (v1+)
    cluster_id                nullable string (v2+)
    controller_id             int32   (v1+)
    topics                    array of
        error_code            int16
        name                  string (nullable in v12+)
        topic_id              uuid    (v10+)
        is_internal           bool    (v1+)
        partitions            array of
            error_code int16, partition_index int32, leader_id int32,
            leader_epoch int32 (v7+), replica_nodes [int32], isr_nodes [int32],
            offline_replicas [int32] (v5+)
        topic_authorized_operations int32 (v8+)
    cluster_authorized_operations int32 (v8-v10)
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from grete.protocol.codec import EncodedResponse, encode_length, encode_string

FIRST_FLEXIBLE_VERSION = 9
_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")
_HEAD = struct.Struct(">ii")  # size, correlation id
_PARTITION = struct.Struct(">hii")  # error, index, leader
_EMPTY_TAGS = b"\x00"
_NO_TOPIC_ID = bytes(16)
_FALSE, _TRUE = b"\x00", b"\x01"


@dataclass(slots=True)  # hot path: not frozen (docs/performance.md)
class MetadataBroker:
    node_id: int
    host: str
    port: int
    rack: str | None


@dataclass(slots=True)  # hot path: not frozen (docs/performance.md)
class MetadataPartition:
    error_code: int
    partition_index: int
    leader_id: int
    leader_epoch: int
    replica_nodes: Sequence[int]
    isr_nodes: Sequence[int]
    offline_replicas: Sequence[int]


@dataclass(slots=True)  # hot path: not frozen (docs/performance.md)
class MetadataTopic:
    error_code: int
    name: str | None
    topic_id: uuid.UUID | None
    is_internal: bool
    partitions: Sequence[MetadataPartition]
    authorized_operations: int


# Replica lists are short: their length prefixes and packers are made once.
_SHORT = 64
_COMPACT_LENGTHS = [encode_length(n, True) for n in range(_SHORT)]
_INT32_LENGTHS = [encode_length(n, False) for n in range(_SHORT)]
_PACKERS = [struct.Struct(f">{n}i") for n in range(_SHORT)]


def _int32s(values: Sequence[int], flexible: bool) -> bytes:
    n = len(values)
    if n < _SHORT:
        return (_COMPACT_LENGTHS if flexible else _INT32_LENGTHS)[n] + _PACKERS[n].pack(*values)
    return encode_length(n, flexible) + struct.pack(f">{n}i", *values)


def encode_metadata_response(
    correlation_id: int,
    version: int,
    *,
    brokers: Sequence[MetadataBroker],
    cluster_id: str | None,
    controller_id: int,
    topics: Sequence[MetadataTopic],
    cluster_authorized_operations: int,
    throttle_ms: int = 0,
) -> EncodedResponse:
    """The whole response frame, size prefix included, in one buffer."""
    flexible = version >= FIRST_FLEXIBLE_VERSION
    tags = _EMPTY_TAGS if flexible else b""
    out = bytearray(_HEAD.pack(0, correlation_id))
    out += tags  # response header v1
    throttle_at = len(out) if version >= 3 else -1
    if version >= 3:
        out += _INT32.pack(throttle_ms)
    out += encode_length(len(brokers), flexible)
    for b in brokers:
        out += _INT32.pack(b.node_id)
        out += encode_string(b.host, flexible)
        out += _INT32.pack(b.port)
        if version >= 1:
            out += encode_string(b.rack, flexible)
        out += tags
    if version >= 2:
        out += encode_string(cluster_id, flexible)
    if version >= 1:
        out += _INT32.pack(controller_id)
    out += encode_length(len(topics), flexible)
    for t in topics:
        out += _INT16.pack(t.error_code)
        out += encode_string(t.name, flexible)
        if version >= 10:
            out += t.topic_id.bytes if t.topic_id is not None else _NO_TOPIC_ID
        if version >= 1:
            out += _TRUE if t.is_internal else _FALSE
        out += encode_length(len(t.partitions), flexible)
        for p in t.partitions:
            out += _PARTITION.pack(p.error_code, p.partition_index, p.leader_id)
            if version >= 7:
                out += _INT32.pack(p.leader_epoch)
            out += _int32s(p.replica_nodes, flexible)
            out += _int32s(p.isr_nodes, flexible)
            if version >= 5:
                out += _int32s(p.offline_replicas, flexible)
            out += tags
        if version >= 8:
            out += _INT32.pack(t.authorized_operations)
        out += tags
    if 8 <= version <= 10:
        out += _INT32.pack(cluster_authorized_operations)
    out += tags
    _INT32.pack_into(out, 0, len(out) - 4)
    return EncodedResponse([out], throttle_at)
