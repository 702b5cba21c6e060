"""aiokafka (asyncio) against Grete: produce, consume, offsets, idempotent producer.

Every record read back is compared exactly with what was sent: partition, offset,
key, value and headers (and timestamps where the test set them). Consumers have no
group (group_id=None) and use assign(): Grete has no group coordinator yet.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from harness import ServerProcess
from harness.kafka import Record, create_topic, read_topic

TIMEOUT_MS = 30_000


async def produce(
    producer: AIOKafkaProducer, topic: str, outgoing: Iterable[Any]
) -> list[tuple[int, int]]:
    """Send every record, wait for every ack, and return each (partition, offset) in send order."""
    futures = [
        await producer.send(
            topic,
            key=out.key,
            value=out.value,
            headers=list(out.headers),
            partition=out.partition,
            timestamp_ms=out.timestamp_ms,
        )
        for out in outgoing
    ]
    acked = await asyncio.wait_for(asyncio.gather(*futures), TIMEOUT_MS / 1000)
    return [(metadata.partition, metadata.offset) for metadata in acked]


async def read_back(
    bootstrap: str, topic: str, partitions: int, count: int, timeout: float = 90.0
) -> tuple[list[Record], dict[tuple[int, int], int]]:
    """Read ``count`` records from the start: (records sorted by partition and offset,
    (partition, offset) -> timestamp)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_bytes=16 << 20,
        max_partition_fetch_bytes=4 << 20,
    )
    await consumer.start()
    records: list[Record] = []
    timestamps: dict[tuple[int, int], int] = {}
    deadline = time.monotonic() + timeout
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        await consumer.seek_to_beginning()
        while len(records) < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=50_000)
            for messages in batches.values():
                for m in messages:
                    records.append(Record(m.partition, m.offset, m.key, m.value, tuple(m.headers)))
                    timestamps[m.partition, m.offset] = m.timestamp
    finally:
        await consumer.stop()
    assert len(records) >= count, f"read {len(records)} of {count} records in {timeout}s"
    return sorted(records), timestamps


@pytest.fixture
async def offsets_client(shared_broker: ServerProcess) -> AsyncIterator[AIOKafkaConsumer]:
    """A group-less consumer used only for ListOffsets (end/beginning offsets, by time)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=shared_broker.bootstrap, group_id=None)
    await consumer.start()
    yield consumer
    await consumer.stop()


async def assert_end_offsets(
    client: AIOKafkaConsumer, topic: str, expected: dict[int, int]
) -> None:
    """Latest == records acked so far, earliest == 0."""
    tps = [TopicPartition(topic, p) for p in expected]
    assert {tp.partition: o for tp, o in (await client.end_offsets(tps)).items()} == expected
    beginning = await client.beginning_offsets(tps)
    assert {tp.partition: o for tp, o in beginning.items()} == dict.fromkeys(expected, 0)


async def test_round_trip_exact(
    shared_broker: ServerProcess,
    topic_name: str,
    edge_workload: Any,
    assert_same: Any,
    offsets_client: AIOKafkaConsumer,
) -> None:
    bootstrap = shared_broker.bootstrap
    workload = edge_workload()
    create_topic(bootstrap, topic_name, workload.partitions)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    acked: list[tuple[int, int]] = []
    try:
        for chunk in workload.rounds(9):
            acked += await produce(producer, topic_name, chunk)
            await assert_end_offsets(offsets_client, topic_name, workload.end_offsets(len(acked)))
    finally:
        await producer.stop()
    assert sorted(acked) == [(r.partition, r.offset) for r in workload.expected]

    count = len(workload.outgoing)
    records, timestamps = await read_back(bootstrap, topic_name, workload.partitions, count)
    assert_same(records, workload.expected)
    assert timestamps == workload.timestamps
    # What aiokafka wrote, librdkafka reads the same.
    assert_same(read_topic(bootstrap, topic_name, workload.partitions, count), workload.expected)


async def test_offsets_for_times(
    shared_broker: ServerProcess,
    topic_name: str,
    edge_workload: Any,
    offsets_client: AIOKafkaConsumer,
) -> None:
    workload = edge_workload()
    create_topic(shared_broker.bootstrap, topic_name, workload.partitions)
    producer = AIOKafkaProducer(bootstrap_servers=shared_broker.bootstrap)
    await producer.start()
    try:
        await produce(producer, topic_name, workload.outgoing)
    finally:
        await producer.stop()
    after_all = max(workload.timestamps.values()) + 1
    for p in range(workload.partitions):
        tp = TopicPartition(topic_name, p)
        timestamp, offset = workload.timestamp_query(p)
        found = (await offsets_client.offsets_for_times({tp: timestamp}))[tp]
        assert found is not None and found.offset == offset, (p, timestamp, found)
        assert found.timestamp == workload.timestamps[p, offset]
        assert (await offsets_client.offsets_for_times({tp: after_all}))[tp] is None


async def test_100k_records_byte_for_byte(
    shared_broker: ServerProcess,
    topic_name: str,
    codec: str,
    codec_id: int,
    big_workload: Any,
    assert_same: Any,
    stored_batches: Any,
    offsets_client: AIOKafkaConsumer,
) -> None:
    bootstrap = shared_broker.bootstrap
    create_topic(bootstrap, topic_name, big_workload.partitions)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        compression_type=None if codec == "none" else codec,
        linger_ms=20,
        max_batch_size=256 * 1024,
        max_request_size=4 << 20,
    )
    await producer.start()
    try:
        acked = await produce(producer, topic_name, big_workload.outgoing)
    finally:
        await producer.stop()
    assert sorted(acked) == [(r.partition, r.offset) for r in big_workload.expected]
    await assert_end_offsets(offsets_client, topic_name, big_workload.end_offsets())

    count = len(big_workload.outgoing)
    records, _ = await read_back(bootstrap, topic_name, big_workload.partitions, count)
    assert_same(records, big_workload.expected)
    for p, end in big_workload.end_offsets().items():
        batches = stored_batches(topic_name, p)
        assert {b.compression for b in batches} == {codec_id}, (
            f"partition {p} not stored as {codec}"
        )
        assert sum(b.records_count for b in batches) == end


async def test_idempotent_producer_no_duplicates_order_kept(
    shared_broker: ServerProcess,
    topic_name: str,
    big_workload: Any,
    assert_same: Any,
    stored_batches: Any,
) -> None:
    bootstrap = shared_broker.bootstrap
    workload = big_workload.head(20_000)
    create_topic(bootstrap, topic_name, workload.partitions)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,
        linger_ms=1,
        max_batch_size=8 * 1024,  # many small batches
    )
    await producer.start()
    try:
        acked = await produce(producer, topic_name, workload.outgoing)
    finally:
        await producer.stop()
    assert sorted(acked) == [(r.partition, r.offset) for r in workload.expected]
    records, _ = await read_back(bootstrap, topic_name, workload.partitions, len(workload.outgoing))
    assert_same(records, workload.expected)  # offsets in send order: no duplicate, no reordering

    producers = set()
    for p in range(workload.partitions):
        batches = stored_batches(topic_name, p)
        assert len(batches) > 10, "expected many batches"
        producers |= {(b.producer_id, b.producer_epoch) for b in batches}
        # One producer from sequence 0 on a fresh partition: each batch's sequence is its offset.
        assert [b.base_sequence for b in batches] == [b.base_offset for b in batches]
    ((producer_id, epoch),) = producers
    assert producer_id >= 0 and epoch >= 0
