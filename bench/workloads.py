"""Benchmark workloads, driven by confluent-kafka (librdkafka) from this process.

Each function is bounded in record count and in wall time: past its deadline it stops
and raises WorkloadTimeout, so a slow or stuck broker cannot hang the run.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

PARTITIONS = 6
DEFAULT_LINGER_MS = 5  # librdkafka's default
PRODUCER_CONFIG = {
    "acks": "all",
    "batch.size": 1_048_576,
    "linger.ms": DEFAULT_LINGER_MS,
    "compression.type": "none",
    "queue.buffering.max.messages": 1_000_000,
    "queue.buffering.max.kbytes": 1_048_576,
}
LATENCY_CONSUMER = Path(__file__).with_name("latency_consumer.py")
OFFSET_BEGINNING = -2


class WorkloadTimeout(RuntimeError):
    """A workload did not finish before its deadline."""


@dataclass(frozen=True)
class Throughput:
    records: int
    bytes: int
    seconds: float
    # Consume only: how much of `seconds` passed before the first record arrived
    # (connection, metadata, ListOffsets and the first fetch).
    first_record_seconds: float | None = None

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds

    @property
    def megabytes_per_second(self) -> float:
        return self.bytes / self.seconds / 1e6


@dataclass(frozen=True)
class Latency:
    records: int
    p50_ms: float
    p99_ms: float
    max_ms: float


def drop_page_cache() -> bool:
    """sync, then drop the kernel's clean page cache; False where not permitted (not
    root). On this VM a write's cost depended on how much cache was in use."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("1\n")
    except OSError:
        return False
    return True


def create_topic(bootstrap: str, topic: str, partitions: int = PARTITIONS) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1)]
    )
    futures[topic].result(timeout=30)


def produce(bootstrap: str, topic: str, count: int, size: int, timeout: float) -> Throughput:
    """Produce `count` records of `size` random bytes (no key) as fast as librdkafka allows."""
    errors: list[KafkaError] = []

    def on_error(error: KafkaError | None, _message: Message) -> None:
        if error is not None and len(errors) < 100:
            errors.append(error)

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            **PRODUCER_CONFIG,
            "delivery.report.only.error": True,
            "on_delivery": on_error,
        }
    )
    value = os.urandom(size)
    start = time.monotonic()
    deadline = start + timeout
    for i in range(count):
        while True:
            try:
                producer.produce(topic, value)
                break
            except BufferError:  # local queue full: let librdkafka drain it
                producer.poll(0.01)
                _check(deadline, f"produce stalled after {i} of {count} records")
        if i % 20_000 == 0:
            producer.poll(0)
            _check(deadline, f"produced {i} of {count} records")
    remaining = producer.flush(max(0.0, deadline - time.monotonic()))
    elapsed = time.monotonic() - start
    if remaining:
        raise WorkloadTimeout(
            f"{remaining} of {count} records still unacknowledged at the deadline"
        )
    if errors:
        raise KafkaException(errors[0])
    return Throughput(records=count, bytes=count * size, seconds=elapsed)


def high_watermark_total(bootstrap: str, topic: str, partitions: int = PARTITIONS) -> int:
    """Sum of the partitions' high watermarks: the records a fresh topic holds."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "grete-bench-watermarks"})
    try:
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(partitions)
        )
    finally:
        consumer.close()


def consume(bootstrap: str, topic: str, count: int, timeout: float) -> Throughput:
    """Read `count` records from the beginning of every partition (assign, no group).

    Checks that the offsets read are dense: each partition's records are 0..last with
    nothing missing or repeated, so the count is of distinct stored records."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"grete-bench-{topic}",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
            # librdkafka pauses fetching for this long once 100k records are queued locally;
            # its 1 s default would make the client, not the broker, the limit.
            "fetch.queue.backoff.ms": 10,
        }
    )
    received = total_bytes = 0
    first_record_at: float | None = None
    next_offset = [0] * PARTITIONS
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        start = time.monotonic()
        deadline = start + timeout
        while received < count:
            # Never ask for more than remain: a batch call waits for all it asked for.
            for message in consumer.consume(
                num_messages=min(10_000, count - received), timeout=0.5
            ):
                if message.error() is not None:
                    raise KafkaException(message.error())
                partition, offset = message.partition() or 0, message.offset() or 0
                if offset != next_offset[partition]:
                    raise AssertionError(
                        f"partition {partition}: offset {offset} after {next_offset[partition] - 1}"
                    )
                next_offset[partition] = offset + 1
                if first_record_at is None:
                    first_record_at = time.monotonic()
                received += 1
                total_bytes += len(message.value() or b"")
            _check(deadline, f"consumed {received} of {count} records")
        elapsed = time.monotonic() - start
    finally:
        consumer.close()
    return Throughput(
        records=received,
        bytes=total_bytes,
        seconds=elapsed,
        first_record_seconds=None if first_record_at is None else first_record_at - start,
    )


def end_to_end_latency(
    bootstrap: str,
    topic: str,
    rate: int,
    seconds: float,
    size: int = 100,
    linger_ms: int = DEFAULT_LINGER_MS,
) -> Latency:
    """Produce `rate` records/s for `seconds`, each stamped with CLOCK_MONOTONIC; a separate
    consumer process reports receive-time minus stamp (one clock: same machine).

    `linger_ms` is the producer's wait for a batch to fill: librdkafka's default 5 ms
    (PRODUCER_CONFIG), or 0 as Kafka's own EndToEndLatency tool sets it, so that what is
    left is the broker's and the consumer's share."""
    count = int(rate * seconds)
    consumer = subprocess.Popen(
        [sys.executable, str(LATENCY_CONSUMER), "--bootstrap", bootstrap, "--topic", topic,
         "--partitions", str(PARTITIONS), "--count", str(count), "--timeout", str(seconds + 60)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        if consumer.stdout is None or consumer.stdout.readline().strip() != "ready":
            raise RuntimeError("latency consumer failed to start")
        _paced_produce(
            bootstrap, topic, count, rate, size, linger_ms, deadline=time.monotonic() + seconds + 30
        )
        out, _ = consumer.communicate(timeout=90)
    finally:
        if consumer.poll() is None:
            consumer.kill()
            consumer.wait(timeout=10)
    if consumer.returncode != 0:
        raise RuntimeError(f"latency consumer exited {consumer.returncode}: {out[-2000:]}")
    stats = json.loads(out)
    return Latency(
        records=stats["records"],
        p50_ms=stats["p50_ms"],
        p99_ms=stats["p99_ms"],
        max_ms=stats["max_ms"],
    )


def _paced_produce(
    bootstrap: str, topic: str, count: int, rate: int, size: int, linger_ms: int, deadline: float
) -> None:
    stamp = struct.Struct(">q")  # CLOCK_MONOTONIC nanoseconds, then padding up to `size`
    padding = b"\0" * (size - stamp.size)
    producer = Producer({"bootstrap.servers": bootstrap, **PRODUCER_CONFIG, "linger.ms": linger_ms})
    start = time.monotonic()
    for i in range(count):
        due = start + i / rate
        while (delay := due - time.monotonic()) > 0:
            # Sleep, then serve delivery reports. Not poll(delay): librdkafka takes whole
            # milliseconds, so a wait under 1 ms became poll(0) in a loop, which spun a
            # whole core of this 2-core machine away from the broker and the consumer.
            time.sleep(min(delay, 0.005))
            producer.poll(0)
        producer.produce(topic, stamp.pack(time.monotonic_ns()) + padding)
        if i % 1000 == 0:
            _check(deadline, f"paced produce reached {i} of {count} records")
    if producer.flush(max(0.0, deadline - time.monotonic())):
        raise WorkloadTimeout("paced records still unacknowledged at the deadline")


def _check(deadline: float, progress: str) -> None:
    if time.monotonic() > deadline:
        raise WorkloadTimeout(f"deadline passed: {progress}")
