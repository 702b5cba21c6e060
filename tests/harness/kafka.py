"""Small confluent-kafka helpers for tests: create a topic, read a topic back exactly.

Records are compared as `Record` tuples of raw bytes, so a test can assert byte-for-byte
equality between what one client wrote and what another read.
"""

from __future__ import annotations

import time
from typing import NamedTuple

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


class Record(NamedTuple):
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]


def create_topic(bootstrap: str, topic: str, partitions: int, timeout: float = 30.0) -> None:
    """CreateTopics with replication factor 1; raises KafkaException on failure."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1)],
        operation_timeout=timeout,
        request_timeout=timeout,
    )
    futures[topic].result(timeout=timeout)


def read_topic(
    bootstrap: str, topic: str, partitions: int, count: int, timeout: float = 60.0
) -> list[Record]:
    """Assign partitions 0..partitions-1 from the beginning and read `count` records.

    Uses assign(), not subscribe(), so no group coordinator is involved beyond what
    librdkafka does on its own for a consumer that has a group.id. Returns the records
    sorted by (partition, offset); raises AssertionError if fewer arrive before timeout.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"grete-tests-reader-{topic}",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
    )
    records: list[Record] = []
    deadline = time.monotonic() + timeout
    try:
        consumer.assign([TopicPartition(topic, p, -2) for p in range(partitions)])  # -2: beginning
        while len(records) < count and time.monotonic() < deadline:
            for message in consumer.consume(
                num_messages=min(10_000, count - len(records)), timeout=0.5
            ):
                error = message.error()
                if error is not None:
                    raise KafkaException(error)
                records.append(
                    Record(
                        partition=message.partition() or 0,
                        offset=message.offset() or 0,
                        key=message.key(),
                        value=message.value(),
                        headers=_headers(message),
                    )
                )
    finally:
        consumer.close()
    if len(records) < count:
        raise AssertionError(f"read {len(records)} of {count} records from {topic} in {timeout}s")
    return sorted(records)


def _headers(message: Message) -> tuple[tuple[str, bytes | None], ...]:
    raw = message.headers() or []
    pairs = raw.items() if isinstance(raw, dict) else raw
    return tuple(
        (name, value.encode() if isinstance(value, str) else value) for name, value in pairs
    )
