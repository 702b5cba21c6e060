"""Consume at the batch level: how fast a broker serves a topic when the client does
not decode records (issue 7's consume target, the broker's side of it).

A Fetch v12 loop over one socket, sessionless, with librdkafka's default sizes
(fetch.max.bytes 50 MB, max.partition.fetch.bytes 1 MiB) and fetch.wait.max.ms 500, from
offset 0 of every partition until `count` records have come. Each response is decoded
(kio) and its record batches are walked by their 61-byte headers only: the next fetch
offset of a partition is its last batch's last offset + 1, and offsets must be dense.
What a consumer would then do per record (decode, hand over to Python) is left out,
which is the point: the confluent-kafka row measures a consumer, this one the broker.
"""

from __future__ import annotations

import socket
import struct
import time
from typing import Any

from integration.raw_kafka import RawKafka
from workloads import Throughput, WorkloadTimeout

from grete.protocol.codec import decode_response

FETCH = 1
FETCH_V = 12  # the last version naming topics by name
MAX_BYTES = 52_428_800  # librdkafka's fetch.max.bytes
PARTITION_MAX_BYTES = 1_048_576  # librdkafka's max.partition.fetch.bytes
MAX_WAIT_MS = 500
_BATCH = struct.Struct(">qi")  # base offset, batch length (after these 12 bytes)
_LAST_OFFSET_DELTA_AT = 23  # base offset 8, length 4, epoch 4, magic 1, crc 4, attributes 2


def raw_consume(
    bootstrap: str, topic: str, partitions: int, count: int, value_size: int, timeout: float
) -> Throughput:
    """Read `count` records of `value_size` bytes; MB/s counts their values, as the
    confluent-kafka consume rows do."""
    offsets = [0] * partitions
    received = 0
    first_record_at: float | None = None
    with RawKafka(bootstrap, timeout=30.0) as raw:
        raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        start = time.monotonic()
        deadline = start + timeout
        while received < count:  # bounded: count, and the deadline below
            correlation, request = raw.encode(FETCH, FETCH_V, **_fetch_fields(raw, topic, offsets))
            raw.send_raw(request)
            got_correlation, response = decode_response(FETCH, FETCH_V, raw.read_frame_view())
            assert got_correlation == correlation
            if response.error_code != 0:
                raise RuntimeError(f"fetch failed: error {response.error_code}")
            for answer in response.responses:
                for p in answer.partitions:
                    if p.error_code != 0:
                        raise RuntimeError(f"partition {p.partition_index}: error {p.error_code}")
                    got = _walk(p.records or b"", offsets, p.partition_index)
                    if got and first_record_at is None:
                        first_record_at = time.monotonic()
                    received += got
            if time.monotonic() > deadline:
                raise WorkloadTimeout(f"deadline passed: raw-fetched {received} of {count} records")
        elapsed = time.monotonic() - start
    return Throughput(
        records=received,
        bytes=received * value_size,
        seconds=elapsed,
        first_record_seconds=None if first_record_at is None else first_record_at - start,
    )


def _fetch_fields(raw: RawKafka, topic: str, offsets: list[int]) -> dict[str, Any]:
    partitions = [
        raw.make(
            FETCH, FETCH_V, "FetchPartition", partition=i, current_leader_epoch=-1,
            fetch_offset=offset, last_fetched_epoch=-1, log_start_offset=-1,
            partition_max_bytes=PARTITION_MAX_BYTES,
        )
        for i, offset in enumerate(offsets)
    ]  # fmt: skip
    return {
        "replica_id": -1, "max_wait": MAX_WAIT_MS, "min_bytes": 1, "max_bytes": MAX_BYTES,
        "isolation_level": 0, "session_id": 0, "session_epoch": -1, "rack_id": "",
        "forgotten_topics_data": (),
        "topics": [raw.make(FETCH, FETCH_V, "FetchTopic", topic=topic, partitions=partitions)],
    }  # fmt: skip


def _walk(records: bytes | memoryview, offsets: list[int], partition: int) -> int:
    """Records in the whole batches of `records` at or after the partition's fetch
    offset; moves that offset past them. A partial batch at the end is left for the
    next fetch, as clients do."""
    got = at = 0
    while at + _LAST_OFFSET_DELTA_AT + 4 <= len(records):
        base, length = _BATCH.unpack_from(records, at)
        if at + 12 + length > len(records):
            break
        (delta,) = struct.unpack_from(">i", records, at + _LAST_OFFSET_DELTA_AT)
        last = base + delta
        if last >= offsets[partition]:
            if base > offsets[partition]:
                raise AssertionError(f"partition {partition}: offset {base} after a gap")
            got += last + 1 - offsets[partition]
            offsets[partition] = last + 1
        at += 12 + length
    return got
