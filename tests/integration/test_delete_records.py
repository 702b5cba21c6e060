"""DeleteRecords (KIP-107) against a real broker, through three clients' admin APIs and
raw requests: the log start offset moves, reads below it fail with OFFSET_OUT_OF_RANGE,
consumers reset by auto.offset.reset, and the new start survives a restart (even a crash).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiokafka.admin
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from harness import ServerProcess
from kafka import TopicPartition as KpTopicPartition
from kafka.admin import KafkaAdminClient

from grete.protocol import ApiKey, ErrorCode

from .raw_kafka import RawKafka

FETCH_V = 12
FAST_RETENTION = (
    "--override",
    "log.retention.check.interval.ms=200",
    "--override",
    "log.segment.delete.delay.ms=300",
)


def create_topic(bootstrap: str, name: str, partitions: int = 1, **configs: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    new = NewTopic(name, partitions, 1, config={k.replace("_", "."): v for k, v in configs.items()})
    admin.create_topics([new], request_timeout=15)[name].result(timeout=15)


def produce(
    bootstrap: str, topic: str, count: int, *, batch_size: int = 2048, pad: int = 0
) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "batch.size": batch_size})
    for i in range(count):
        producer.produce(topic, f"value-{i}".encode().ljust(pad, b"."), partition=0)
    assert producer.flush(30) == 0


def delete_with_confluent(bootstrap: str, topic: str, offset: int) -> int:
    """AdminClient.delete_records on partition 0; returns the low watermark. The admin
    client must outlive its futures (librdkafka drops them with the client)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.delete_records([TopicPartition(topic, 0, offset)], request_timeout=15)
    (future,) = futures.values()
    return int(future.result(timeout=20).low_watermark)


def confluent_error(bootstrap: str, topic: str, offset: int) -> int:
    """The KafkaError code AdminClient.delete_records fails with."""
    with pytest.raises(KafkaException) as failure:
        delete_with_confluent(bootstrap, topic, offset)
    return int(failure.value.args[0].code())


def earliest(bootstrap: str, topic: str, partition: int = 0) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "earliest"})
    try:
        low, _ = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        return int(low)
    finally:
        consumer.close()


def raw_fetch_error(bootstrap: str, topic: str, offset: int) -> tuple[int, int]:
    """(error code, log start offset) of a Fetch v12 of partition 0 at ``offset``."""
    with RawKafka(bootstrap) as raw:
        partition = raw.make(
            ApiKey.FETCH,
            FETCH_V,
            "FetchPartition",
            partition=0,
            current_leader_epoch=-1,
            fetch_offset=offset,
            last_fetched_epoch=-1,
            log_start_offset=-1,
            partition_max_bytes=1 << 20,
        )
        response = raw.request(
            ApiKey.FETCH,
            FETCH_V,
            replica_id=-1,
            max_wait=0,
            min_bytes=1,
            max_bytes=1 << 20,
            isolation_level=0,
            session_id=0,
            session_epoch=-1,
            topics=[
                raw.make(ApiKey.FETCH, FETCH_V, "FetchTopic", topic=topic, partitions=[partition])
            ],
            forgotten_topics_data=(),
            rack_id="",
        )
    data = response.responses[0].partitions[0]
    return int(data.error_code), int(data.log_start_offset)


def raw_delete(
    bootstrap: str, topic: str, offsets: dict[int, int], version: int = 2
) -> dict[int, Any]:
    with RawKafka(bootstrap) as raw:
        partitions = [
            raw.make(
                ApiKey.DELETE_RECORDS,
                version,
                "DeleteRecordsPartition",
                partition_index=p,
                offset=o,
            )
            for p, o in offsets.items()
        ]
        response = raw.request(
            ApiKey.DELETE_RECORDS,
            version,
            timeout=5000,
            topics=[
                raw.make(
                    ApiKey.DELETE_RECORDS,
                    version,
                    "DeleteRecordsTopic",
                    name=topic,
                    partitions=partitions,
                )
            ],
        )
    assert [t.name for t in response.topics] == [topic]
    return {p.partition_index: p for p in response.topics[0].partitions}


def consume_from(bootstrap: str, topic: str, offset: int, count: int) -> list[int]:
    """Offsets a consumer reads after assigning ``offset`` with auto.offset.reset=earliest."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "reset-check",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    got: list[int] = []
    try:
        consumer.assign([TopicPartition(topic, 0, offset)])
        deadline = time.monotonic() + 20
        while len(got) < count and time.monotonic() < deadline:
            for message in consumer.consume(100, timeout=0.5):
                assert message.error() is None, message.error()
                got.append(message.offset())
    finally:
        consumer.close()
    return got


def test_confluent_delete_records_moves_the_start_and_consumers_reset(
    broker: ServerProcess, topic_name: str
) -> None:
    create_topic(broker.bootstrap, topic_name)
    produce(broker.bootstrap, topic_name, 100)

    assert delete_with_confluent(broker.bootstrap, topic_name, 40) == 40
    assert earliest(broker.bootstrap, topic_name) == 40
    assert raw_fetch_error(broker.bootstrap, topic_name, 39) == (ErrorCode.offset_out_of_range, 40)
    assert raw_fetch_error(broker.bootstrap, topic_name, 40) == (ErrorCode.none, 40)
    # A consumer positioned below the start gets OFFSET_OUT_OF_RANGE and resets to it.
    assert consume_from(broker.bootstrap, topic_name, 10, 60) == list(range(40, 100))

    # OFFSET_END (-1) means the high watermark.
    assert delete_with_confluent(broker.bootstrap, topic_name, -1) == 100
    assert earliest(broker.bootstrap, topic_name) == 100


def test_confluent_delete_records_errors(broker: ServerProcess, topic_name: str) -> None:
    create_topic(broker.bootstrap, topic_name)
    create_topic(broker.bootstrap, topic_name + "-compact", cleanup_policy="compact")
    produce(broker.bootstrap, topic_name, 10)
    produce(broker.bootstrap, topic_name + "-compact", 10)

    assert confluent_error(broker.bootstrap, topic_name, 11) == KafkaError.OFFSET_OUT_OF_RANGE
    compact = topic_name + "-compact"
    assert confluent_error(broker.bootstrap, compact, 5) == KafkaError.POLICY_VIOLATION
    assert earliest(broker.bootstrap, topic_name) == 0
    assert earliest(broker.bootstrap, topic_name + "-compact") == 0


def test_raw_delete_records_error_codes(broker: ServerProcess, topic_name: str) -> None:
    create_topic(broker.bootstrap, topic_name, partitions=2)
    produce(broker.bootstrap, topic_name, 10)

    for version in (0, 1, 2):
        results = raw_delete(broker.bootstrap, topic_name, {0: 11, 1: -5, 2: 0}, version)
        assert {p: (r.error_code, r.low_watermark) for p, r in results.items()} == {
            0: (ErrorCode.offset_out_of_range, -1),
            1: (ErrorCode.offset_out_of_range, -1),
            2: (ErrorCode.unknown_topic_or_partition, -1),
        }
    unknown = raw_delete(broker.bootstrap, topic_name + "-missing", {0: 1})
    assert unknown[0].error_code == ErrorCode.unknown_topic_or_partition

    results = raw_delete(broker.bootstrap, topic_name, {0: 3, 1: -1})
    assert {p: (r.error_code, r.low_watermark) for p, r in results.items()} == {
        0: (ErrorCode.none, 3),
        1: (ErrorCode.none, 0),  # partition 1 is empty: its high watermark is 0
    }
    # Deleting below the current start changes nothing and is no error.
    assert raw_delete(broker.bootstrap, topic_name, {0: 1})[0].low_watermark == 3


def test_kafka_python_and_aiokafka_delete_records(broker: ServerProcess, topic_name: str) -> None:
    create_topic(broker.bootstrap, topic_name)
    produce(broker.bootstrap, topic_name, 50)

    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        result = admin.delete_records({KpTopicPartition(topic_name, 0): 20})
    finally:
        admin.close()
    (only,) = result.values()
    assert only["low_watermark"] == 20
    assert earliest(broker.bootstrap, topic_name) == 20

    async def with_aiokafka() -> dict[Any, int]:
        client = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
        await client.start()
        try:
            return await client.delete_records(
                {
                    aiokafka.structs.TopicPartition(topic_name, 0): aiokafka.admin.RecordsToDelete(
                        before_offset=35
                    )
                },
                timeout_ms=10_000,
            )
        finally:
            await client.close()

    low_watermarks = asyncio.run(with_aiokafka())
    assert list(low_watermarks.values()) == [35]
    assert earliest(broker.bootstrap, topic_name) == 35


def test_start_offset_survives_restart_and_crash_and_segments_go(
    broker_factory: Callable[..., ServerProcess], topic_name: str
) -> None:
    broker = broker_factory(*FAST_RETENTION)
    create_topic(broker.bootstrap, topic_name, segment_bytes="4096")
    produce(broker.bootstrap, topic_name, 600, batch_size=1024, pad=100)  # ~20 segments
    folder = broker.data_dir / f"{topic_name}-0"
    segments_before = len(list(folder.glob("*.log")))
    assert segments_before > 4

    assert delete_with_confluent(broker.bootstrap, topic_name, 333) == 333

    # The segments wholly below 333 are renamed .deleted at once, removed 300 ms later.
    bases = sorted(int(p.name.removesuffix(".log")) for p in folder.glob("*.log"))
    assert bases[0] <= 333 and (len(bases) == 1 or bases[1] > 333)
    deadline = time.monotonic() + 10
    while list(folder.glob("*.deleted")):
        assert time.monotonic() < deadline, "the .deleted files were never removed"
        time.sleep(0.1)

    broker.kill()  # a crash right after DeleteRecords: the start was checkpointed at once
    broker.start()
    assert earliest(broker.bootstrap, topic_name) == 333
    assert raw_fetch_error(broker.bootstrap, topic_name, 332)[0] == ErrorCode.offset_out_of_range

    assert delete_with_confluent(broker.bootstrap, topic_name, 500) == 500
    broker.restart(check=True)
    assert earliest(broker.bootstrap, topic_name) == 500
    assert consume_from(broker.bootstrap, topic_name, 0, 100) == list(range(500, 600))
