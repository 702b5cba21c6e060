"""Long polling: a parked fetch wakes when data arrives, and otherwise waits out max_wait.

A consumer parked in a long poll (fetch.wait.max.ms=5000) must see a new record
within milliseconds of its produce being acked, not when its 5 s wait ends. With no
data, a fetch returns after about max_wait; with too little data for min_bytes it
waits, and the append that reaches min_bytes wakes it.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from typing import Any, Self

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from harness.kafka import create_topic

from grete.protocol import ApiKey, ErrorCode
from grete.records.batch import read_header, split_batches
from grete.records.builder import Record, build_batch

from .raw_kafka import RawKafka

FETCH_V = 12
PRODUCE_V = 9
ROUNDS = 20
CONSUMER_WAIT_MS = 5000


class ReceiveClock:
    """A consumer polling in a background thread; records when each value arrives."""

    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer
        self.arrivals: dict[bytes, float] = {}
        self.errors: list[KafkaError] = []
        self._arrived = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="long-poll-consumer", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            message = self.consumer.poll(0.05)
            now = time.monotonic()
            if message is None:
                continue
            with self._arrived:
                if message.error() is not None:
                    self.errors.append(message.error())
                else:
                    self.arrivals[message.value()] = now
                self._arrived.notify_all()

    def wait_for(self, value: bytes, timeout: float) -> float:
        with self._arrived:
            if not self._arrived.wait_for(lambda: value in self.arrivals or self.errors, timeout):
                raise AssertionError(f"{value!r} not received within {timeout}s")
            assert not self.errors, self.errors
            return self.arrivals[value]


def produce_and_time_ack(producer: Producer, topic: str, value: bytes) -> float:
    acked: list[float] = []

    def on_delivery(error: KafkaError | None, _message: Any) -> None:
        assert error is None, error
        acked.append(time.monotonic())

    producer.produce(topic, value=value, partition=0, on_delivery=on_delivery)
    assert producer.flush(10) == 0
    assert len(acked) == 1
    return acked[0]


def test_parked_consumer_wakes_on_new_data(shared_broker: Any, topic_name: str) -> None:
    bootstrap = shared_broker.bootstrap
    create_topic(bootstrap, topic_name, 1)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "acks": "all"})
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"long-poll-{topic_name}",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": CONSUMER_WAIT_MS,
            "fetch.min.bytes": 1,
        }
    )
    consumer.assign([TopicPartition(topic_name, 0, 0)])
    deltas: list[float] = []
    try:
        with ReceiveClock(consumer) as clock:
            produce_and_time_ack(producer, topic_name, b"warm-up")
            clock.wait_for(b"warm-up", timeout=15)
            for i in range(ROUNDS):
                time.sleep(0.15)  # let the consumer's next fetch park at the broker
                value = b"round-%d" % i
                acked = produce_and_time_ack(producer, topic_name, value)
                received = clock.wait_for(value, timeout=CONSUMER_WAIT_MS / 1000 + 5)
                deltas.append(received - acked)
    finally:
        consumer.close()
    median, worst = statistics.median(deltas), max(deltas)
    report = ", ".join(f"{d * 1000:.1f}" for d in deltas)
    assert median < 0.050, f"median ack->receive {median * 1000:.1f} ms; all (ms): {report}"
    assert worst < 0.200, f"max ack->receive {worst * 1000:.1f} ms; all (ms): {report}"


# -- raw Fetch v12: max_wait and min_bytes --------------------------------------------------------


def raw_create_topic(raw: RawKafka, name: str) -> None:
    topic = raw.make(
        ApiKey.CREATE_TOPICS,
        7,
        "CreatableTopic",
        name=name,
        num_partitions=1,
        replication_factor=1,
        assignments=(),
        configs=(),
    )
    response = raw.request(
        ApiKey.CREATE_TOPICS, 7, topics=[topic], timeout=5000, validate_only=False
    )
    assert response.topics[0].error_code == ErrorCode.none, response


def raw_produce(raw: RawKafka, topic: str, batch: bytes) -> int:
    data = raw.make(ApiKey.PRODUCE, PRODUCE_V, "PartitionProduceData", index=0, records=batch)
    topic_data = raw.make(
        ApiKey.PRODUCE, PRODUCE_V, "TopicProduceData", name=topic, partition_data=[data]
    )
    response = raw.request(
        ApiKey.PRODUCE,
        PRODUCE_V,
        transactional_id=None,
        acks=-1,
        timeout=5000,
        topic_data=[topic_data],
    )
    result = response.responses[0].partition_responses[0]
    assert result.error_code == ErrorCode.none, result
    return int(result.base_offset)


def timed_fetch(
    raw: RawKafka, topic: str, offset: int, *, max_wait_ms: int, min_bytes: int
) -> tuple[float, Any]:
    """Fetch v12 of partition 0 from ``offset``; returns (seconds taken, partition data)."""
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
    topics = [raw.make(ApiKey.FETCH, FETCH_V, "FetchTopic", topic=topic, partitions=[partition])]
    started = time.monotonic()
    response = raw.request(
        ApiKey.FETCH,
        FETCH_V,
        replica_id=-1,
        max_wait=max_wait_ms,
        min_bytes=min_bytes,
        max_bytes=1 << 20,
        isolation_level=0,
        session_id=0,
        session_epoch=-1,
        topics=topics,
        forgotten_topics_data=(),
        rack_id="",
    )
    elapsed = time.monotonic() - started
    assert response.error_code == ErrorCode.none
    (part,) = response.responses[0].partitions
    assert part.error_code == ErrorCode.none
    return elapsed, part


def offsets_in(part: Any) -> list[int]:
    records = bytes(part.records or b"")
    return [read_header(records, start).base_offset for start, _ in split_batches(records)]


def small_batch(text: bytes) -> bytes:
    return build_batch([Record(b"k", text)])


@pytest.fixture
def raw_topic(shared_broker: Any, topic_name: str) -> Iterator[tuple[RawKafka, str]]:
    with RawKafka(shared_broker.bootstrap, timeout=15) as raw:
        raw_create_topic(raw, topic_name)
        yield raw, topic_name


def test_fetch_without_data_returns_after_max_wait(raw_topic: tuple[RawKafka, str]) -> None:
    raw, topic = raw_topic
    elapsed, part = timed_fetch(raw, topic, 0, max_wait_ms=500, min_bytes=1)
    assert 0.4 <= elapsed <= 2.0, f"returned after {elapsed:.3f}s for max_wait 500 ms"
    assert offsets_in(part) == [] and part.high_watermark == 0


def test_fetch_with_data_returns_at_once(raw_topic: tuple[RawKafka, str]) -> None:
    raw, topic = raw_topic
    raw_produce(raw, topic, small_batch(b"there already"))
    elapsed, part = timed_fetch(raw, topic, 0, max_wait_ms=5000, min_bytes=1)
    assert elapsed < 1.0, f"{elapsed:.3f}s with min_bytes already met"
    assert offsets_in(part) == [0]


def test_min_bytes_not_reached_waits_for_the_deadline(raw_topic: tuple[RawKafka, str]) -> None:
    raw, topic = raw_topic
    small = small_batch(b"too small")
    assert len(small) < 1000
    raw_produce(raw, topic, small)
    elapsed, part = timed_fetch(raw, topic, 0, max_wait_ms=500, min_bytes=1000)
    assert 0.4 <= elapsed <= 2.0, f"returned after {elapsed:.3f}s; min_bytes was not reached"
    assert offsets_in(part) == [0], "at the deadline the fetch returns what there is"


def test_append_reaching_min_bytes_wakes_the_fetch(
    shared_broker: Any, raw_topic: tuple[RawKafka, str]
) -> None:
    raw, topic = raw_topic
    raw_produce(raw, topic, small_batch(b"too small"))
    big = small_batch(b"x" * 1200)
    delay = 0.3

    def produce_later() -> None:
        time.sleep(delay)
        with RawKafka(shared_broker.bootstrap) as other:
            raw_produce(other, topic, big)

    producer = threading.Thread(target=produce_later)
    producer.start()
    try:
        elapsed, part = timed_fetch(raw, topic, 0, max_wait_ms=10_000, min_bytes=1000)
    finally:
        producer.join(timeout=15)
    assert delay - 0.05 <= elapsed < 3.0, (
        f"returned after {elapsed:.3f}s; the append at {delay}s should wake it"
    )
    assert offsets_in(part) == [0, 1]
