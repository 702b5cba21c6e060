"""Durability and fault tests: real Grete processes killed, stopped, restarted, their files cut.

What the suites share lives here:

- a raw-socket vocabulary (create topics, produce crafted batches, list offsets, fetch batch
  headers) on top of tests/integration/raw_kafka.py;
- an independent reader of segment and index files. The oracle a fault test compares the
  broker against must not be the storage code under test, so files are parsed here with
  plain ``struct`` from Kafka's documented layouts.
"""

from __future__ import annotations

import os
import signal
import struct
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition
from integration.raw_kafka import RawKafka

from grete.protocol import ApiKey, ErrorCode, RequestHeader
from grete.protocol.codec import decode_response, encode_request
from grete.protocol.schema import build, schema
from grete.records.builder import BatchSpec, Record, build_batch

PRODUCE_V = 9
LIST_OFFSETS_V = 8
FETCH_V = 12
METADATA_V = 12
CREATE_TOPICS_V = 7
DELETE_TOPICS_V = 6
DESCRIBE_CONFIGS_V = 4
INIT_PRODUCER_ID_V = 4

LATEST, EARLIEST, MAX_TIMESTAMP = -1, -2, -3
TOPIC_RESOURCE = 2  # DescribeConfigs resource type of a topic
ZERO_UUID = uuid.UUID(int=0)

# A v2 batch starts: base_offset int64 | batch_length int32 | leader_epoch int32 | magic int8 |
# crc uint32 | attributes int16 | last_offset_delta int32 | ... 61 bytes of header in all.
BATCH_PREFIX = struct.Struct(">qi")
LAST_OFFSET_DELTA = struct.Struct(">i")
LAST_OFFSET_DELTA_AT = 23
BATCH_HEADER_BYTES = 61
LOG_OVERHEAD = 12
OFFSET_INDEX_ENTRY = struct.Struct(">ii")  # relative offset, position
TIME_INDEX_ENTRY = struct.Struct(">qi")  # timestamp, relative offset


def now_ms() -> int:
    return int(time.time() * 1000)


# -- requests -----------------------------------------------------------------------------


def send_request(raw: RawKafka, api_key: int, version: int, correlation: int, **fields: Any) -> None:
    """Send a request without waiting for its response (to pipeline, or to kill mid-way)."""
    body = build(schema(api_key, version).request_cls, fields)
    raw.send_raw(encode_request(RequestHeader(api_key, version, correlation, "faults"), body))


def receive_response(raw: RawKafka, api_key: int, version: int, correlation: int) -> Any:
    got, response = decode_response(api_key, version, raw.read_frame())
    assert got == correlation, f"response {got} arrived where {correlation} was due"
    return response


def create_topic(
    raw: RawKafka, name: str, partitions: int = 1, configs: dict[str, str] | None = None
) -> None:
    entries = [
        raw.make(ApiKey.CREATE_TOPICS, CREATE_TOPICS_V, "CreatableTopicConfig", name=k, value=v)
        for k, v in (configs or {}).items()
    ]
    topic = raw.make(ApiKey.CREATE_TOPICS, CREATE_TOPICS_V, "CreatableTopic", name=name,
                     num_partitions=partitions, replication_factor=1, assignments=(), configs=entries)
    response = raw.request(ApiKey.CREATE_TOPICS, CREATE_TOPICS_V, topics=[topic], timeout=5000,
                           validate_only=False)
    result = response.topics[0]
    assert result.error_code == ErrorCode.none, (name, result.error_code, result.error_message)


def produce(raw: RawKafka, topic: str, partition: int, records: bytes, acks: int = -1) -> Any:
    """One Produce v9 for one partition; returns its PartitionProduceResponse."""
    data = raw.make(ApiKey.PRODUCE, PRODUCE_V, "PartitionProduceData", index=partition, records=records)
    topic_data = raw.make(ApiKey.PRODUCE, PRODUCE_V, "TopicProduceData", name=topic,
                          partition_data=[data])
    response = raw.request(ApiKey.PRODUCE, PRODUCE_V, transactional_id=None, acks=acks,
                           timeout=5000, topic_data=[topic_data])
    return response.responses[0].partition_responses[0]


def produce_ok(raw: RawKafka, topic: str, partition: int, records: bytes) -> int:
    """Produce and insist on success; returns the base offset."""
    result = produce(raw, topic, partition, records)
    assert result.error_code == ErrorCode.none, (topic, partition, result.error_code)
    return int(result.base_offset)


def list_offset(raw: RawKafka, topic: str, partition: int, timestamp: int = LATEST) -> int:
    return list_offset_and_timestamp(raw, topic, partition, timestamp)[0]


def list_offset_and_timestamp(
    raw: RawKafka, topic: str, partition: int, timestamp: int
) -> tuple[int, int]:
    """ListOffsets v8 for one partition: (offset, timestamp)."""
    p = raw.make(ApiKey.LIST_OFFSETS, LIST_OFFSETS_V, "ListOffsetsPartition",
                 partition_index=partition, current_leader_epoch=-1, timestamp=timestamp)
    t = raw.make(ApiKey.LIST_OFFSETS, LIST_OFFSETS_V, "ListOffsetsTopic", name=topic, partitions=[p])
    response = raw.request(ApiKey.LIST_OFFSETS, LIST_OFFSETS_V, replica_id=-1, isolation_level=0,
                           topics=[t])
    part = response.topics[0].partitions[0]
    assert part.error_code == ErrorCode.none, (topic, partition, part.error_code)
    return int(part.offset), int(part.timestamp)


def fetch_request_fields(
    raw: RawKafka, topic: str, partition: int, offset: int, *, max_wait_ms: int = 0,
    min_bytes: int = 1, max_bytes: int = 1 << 20,
) -> dict[str, Any]:
    """The fields of a sessionless Fetch v12 for one partition."""
    p = raw.make(ApiKey.FETCH, FETCH_V, "FetchPartition", partition=partition,
                 current_leader_epoch=-1, fetch_offset=offset, last_fetched_epoch=-1,
                 log_start_offset=-1, partition_max_bytes=max_bytes)
    t = raw.make(ApiKey.FETCH, FETCH_V, "FetchTopic", topic=topic, partitions=[p])
    return {"cluster_id": None, "replica_id": -1, "max_wait": max_wait_ms, "min_bytes": min_bytes,
            "max_bytes": max_bytes, "isolation_level": 0, "session_id": 0, "session_epoch": -1,
            "topics": [t], "forgotten_topics_data": [], "rack_id": ""}


def fetch(raw: RawKafka, topic: str, partition: int, offset: int, max_bytes: int = 1 << 20) -> Any:
    """Fetch v12 without waiting; returns the one PartitionData."""
    fields = fetch_request_fields(raw, topic, partition, offset, max_bytes=max_bytes)
    response = raw.request(ApiKey.FETCH, FETCH_V, **fields)
    assert response.error_code == ErrorCode.none
    return response.responses[0].partitions[0]


def init_producer_id(raw: RawKafka, producer_id: int = -1, epoch: int = -1) -> tuple[int, int]:
    response = raw.request(ApiKey.INIT_PRODUCER_ID, INIT_PRODUCER_ID_V, transactional_id=None,
                           transaction_timeout=60000, producer_id=producer_id,
                           producer_epoch=epoch)
    assert response.error_code == ErrorCode.none, response.error_code
    return int(response.producer_id), int(response.producer_epoch)


def metadata(raw: RawKafka, topics: Sequence[str] | None = None) -> Any:
    wanted = None if topics is None else [
        raw.make(ApiKey.METADATA, METADATA_V, "MetadataRequestTopic", name=name) for name in topics
    ]
    return raw.request(ApiKey.METADATA, METADATA_V, topics=wanted, allow_auto_topic_creation=False,
                       include_topic_authorized_operations=False)


def delete_topic(raw: RawKafka, name: str) -> None:
    state = raw.make(ApiKey.DELETE_TOPICS, DELETE_TOPICS_V, "DeleteTopicState", name=name,
                     topic_id=ZERO_UUID)
    response = raw.request(ApiKey.DELETE_TOPICS, DELETE_TOPICS_V, topics=[state], timeout=5000)
    assert response.responses[0].error_code == ErrorCode.none, response.responses[0]


def topic_configs(raw: RawKafka, topic: str) -> dict[str, tuple[str | None, int]]:
    """DescribeConfigs v4 of a topic: name -> (value, config_source)."""
    resource = raw.make(ApiKey.DESCRIBE_CONFIGS, DESCRIBE_CONFIGS_V, "DescribeConfigsResource",
                        resource_type=TOPIC_RESOURCE, resource_name=topic, configuration_keys=None)
    response = raw.request(ApiKey.DESCRIBE_CONFIGS, DESCRIBE_CONFIGS_V, resources=[resource],
                           include_synonyms=False, include_documentation=False)
    result = response.results[0]
    assert result.error_code == ErrorCode.none, (topic, result.error_code, result.error_message)
    return {c.name: (c.value, int(c.config_source)) for c in result.configs}


# -- batches ------------------------------------------------------------------------------


def value_for(topic: str, partition: int, offset: int) -> bytes:
    """The value a test writes at (partition, offset): checkable without a lookup table."""
    return f"{topic}/{partition}/{offset:08d}/".encode() + b"." * (offset % 37)


def numbered_batch(
    topic: str, partition: int, first_offset: int, count: int, timestamp: int | None = None
) -> bytes:
    """A batch whose i-th record carries value_for(..., first_offset + i); every record has
    ``timestamp`` (default: now)."""
    records = [Record(b"k%d" % (first_offset + i), value_for(topic, partition, first_offset + i))
               for i in range(count)]
    return build_batch(records, BatchSpec(base_timestamp=now_ms() if timestamp is None else timestamp))


@dataclass(frozen=True, slots=True)
class FileBatch:
    """A batch found in a segment file (or a fetch response) by its 12-byte prefix."""

    position: int
    size: int
    base_offset: int
    last_offset: int

    @property
    def end(self) -> int:
        return self.position + self.size


def scan_batches(data: bytes) -> list[FileBatch]:
    """The whole batches at the start of ``data``; stops at the first incomplete one."""
    found: list[FileBatch] = []
    at = 0
    while at + BATCH_HEADER_BYTES <= len(data):
        base, length = BATCH_PREFIX.unpack_from(data, at)
        size = LOG_OVERHEAD + length
        if length < BATCH_HEADER_BYTES - LOG_OVERHEAD or at + size > len(data):
            break
        (delta,) = LAST_OFFSET_DELTA.unpack_from(data, at + LAST_OFFSET_DELTA_AT)
        found.append(FileBatch(at, size, base, base + delta))
        at += size
    return found


def segment_logs(partition_dir: Path) -> list[Path]:
    """The partition's ``.log`` files, oldest first (names are 20-digit base offsets)."""
    return sorted(partition_dir.glob("*.log"))


def check_indexes(partition_dir: Path) -> int:
    """Assert each segment's .index and .timeindex agree with its .log; returns entries seen.

    Offset index entries must name the start of a batch and that batch's last offset (as
    Kafka writes them); time index entries must name offsets inside the segment.
    """
    entries = 0
    for log_path in segment_logs(partition_dir):
        base = int(log_path.stem)
        batches = scan_batches(log_path.read_bytes())
        assert sum(b.size for b in batches) == log_path.stat().st_size, f"{log_path} has a torn tail"
        by_position = {b.position: b for b in batches}
        end_offset = batches[-1].last_offset + 1 if batches else base
        index = log_path.with_suffix(".index").read_bytes()
        assert len(index) % OFFSET_INDEX_ENTRY.size == 0, f"{log_path}.index is torn"
        last = -1
        for i in range(0, len(index), OFFSET_INDEX_ENTRY.size):
            relative, position = OFFSET_INDEX_ENTRY.unpack_from(index, i)
            batch = by_position.get(position)
            assert batch is not None, f"{log_path.name}: index entry {relative}@{position} is no batch"
            assert base + relative == batch.last_offset, (log_path.name, relative, batch)
            assert relative > last, f"{log_path.name}: index not increasing at {relative}"
            last = relative
            entries += 1
        time_index = log_path.with_suffix(".timeindex").read_bytes()
        assert len(time_index) % TIME_INDEX_ENTRY.size == 0, f"{log_path}.timeindex is torn"
        for i in range(0, len(time_index), TIME_INDEX_ENTRY.size):
            _, relative = TIME_INDEX_ENTRY.unpack_from(time_index, i)
            assert base <= base + relative < end_offset, (log_path.name, relative, end_offset)
    return entries


def read_checkpoint(path: Path) -> dict[tuple[str, int], int]:
    """Kafka's checkpoint text format: version 0, entry count, then `topic partition offset`."""
    lines = path.read_text().splitlines()
    assert lines[0] == "0" and int(lines[1]) == len(lines) - 2, lines
    return {(t, int(p)): int(o) for t, p, o in (line.split(" ") for line in lines[2:])}


# -- processes ----------------------------------------------------------------------------


def signal_and_wait(broker: Any, sig: signal.Signals, timeout: float = 20.0) -> int:
    """Send ``sig`` to the broker and wait (bounded) for it to exit; returns the exit code."""
    os.kill(broker.pid, sig)
    deadline = time.monotonic() + timeout
    while broker.returncode is None and time.monotonic() < deadline:
        time.sleep(0.02)
    code = broker.returncode
    assert code is not None, f"broker ignored {sig.name} for {timeout}s"
    broker.stop()  # reaps and forgets the process object; it has exited already
    return int(code)


# -- reading back with a real client -----------------------------------------------------


def read_partitions(
    bootstrap: str, topic: str, ends: dict[int, int], timeout: float = 60.0
) -> dict[int, list[tuple[int, bytes]]]:
    """Every record of each partition from offset 0 to ``ends[p]`` (exclusive), read with
    confluent-kafka (CRCs checked): {partition: [(offset, value), ...]} in offset order."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"faults-{topic}",
        "enable.auto.commit": False,
        "check.crcs": True,
        "fetch.wait.max.ms": 50,
    })
    got: dict[int, list[tuple[int, bytes]]] = {p: [] for p in ends}
    missing = {p for p, end in ends.items() if end > 0}
    deadline = time.monotonic() + timeout
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in missing])
        while missing and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=10_000, timeout=0.5):
                if message.error() is not None:
                    raise KafkaException(message.error())
                p, offset = message.partition() or 0, message.offset() or 0
                got[p].append((offset, message.value() or b""))
                if offset >= ends[p] - 1:
                    missing.discard(p)
    finally:
        consumer.close()
    assert not missing, f"partitions {sorted(missing)} not read to their end in {timeout}s"
    return got
