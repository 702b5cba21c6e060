"""Retention by size and by time on a real broker, read back with real clients.

The broker checks retention every 200 ms (log.retention.check.interval.ms) and removes
deleted segments' files 500 ms later (log.segment.delete.delay.ms), so every wait here
is short and bounded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)
from harness import ServerProcess
from kafka.admin import KafkaAdminClient

from grete.protocol import ApiKey, ErrorCode
from grete.records.batch import split_batches, validate_batch

from .raw_kafka import RawKafka

MIB = 1024 * 1024
FETCH_V = 12
FAST_RETENTION = (
    "--override",
    "log.retention.check.interval.ms=200",
    "--override",
    "log.segment.delete.delay.ms=500",
)


def create_topic(bootstrap: str, name: str, configs: dict[str, str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, 1, 1, config=configs)], request_timeout=15)
    futures[name].result(timeout=15)


def value_for(offset: int, size: int) -> bytes:
    """A value that names its own offset, so a read-back proves order and content."""
    return f"{offset:012d}".encode().ljust(size, b".")


def produce(
    bootstrap: str,
    topic: str,
    count: int,
    size: int,
    *,
    timestamp: int = 0,
    first: int = 0,
    batch_size: int = 256 * 1024,
) -> None:
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "linger.ms": 5,
            "batch.size": batch_size,
        }
    )
    for offset in range(first, first + count):
        while True:
            try:
                producer.produce(topic, value_for(offset, size), partition=0, timestamp=timestamp)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    assert producer.flush(60) == 0


def wait_for(what: str, check: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def segment_files(broker: ServerProcess, topic: str) -> tuple[list[Path], list[Path]]:
    """(live .log files by base offset, files awaiting removal) of partition 0."""
    folder = broker.data_dir / f"{topic}-0"
    return sorted(folder.glob("*.log")), sorted(folder.glob("*.deleted"))


def watermarks(bootstrap: str, topic: str) -> tuple[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "watermarks"})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        return int(low), int(high)
    finally:
        consumer.close()


def consume_all(bootstrap: str, topic: str, end: int) -> list[tuple[int, bytes]]:
    """Every record from the earliest offset up to ``end`` (exclusive)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "retention-check",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    got: list[tuple[int, bytes]] = []
    try:
        consumer.assign([TopicPartition(topic, 0)])
        deadline = time.monotonic() + 30
        while (not got or got[-1][0] < end - 1) and time.monotonic() < deadline:
            for message in consumer.consume(1000, timeout=1.0):
                assert message.error() is None, message.error()
                got.append((message.offset(), message.value()))
    finally:
        consumer.close()
    return got


def test_size_retention_keeps_the_newest_bytes_readable(
    broker_factory: Callable[..., ServerProcess], topic_name: str
) -> None:
    broker = broker_factory(*FAST_RETENTION)
    limit, segment = 10 * MIB, MIB
    create_topic(
        broker.bootstrap,
        topic_name,
        {
            "retention.bytes": str(limit),
            "segment.bytes": str(segment),
            "retention.ms": "-1",
        },
    )
    size, count = 10_000, 5_000  # 50 MB of values

    produce(broker.bootstrap, topic_name, count, size)

    def settled() -> bool:
        live, pending = segment_files(broker, topic_name)
        return sum(p.stat().st_size for p in live) <= limit + segment and not pending

    wait_for("the log to shrink to its retention.bytes", settled)
    live, _ = segment_files(broker, topic_name)
    start = int(live[0].name.removesuffix(".log"))
    low, high = watermarks(broker.bootstrap, topic_name)
    assert (low, high) == (start, count)
    assert low > count // 2  # most of the 50 MB is gone
    # DescribeLogDirs reports the partition's real size, as on disk.
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        described = admin.describe_log_dirs()
    finally:
        admin.close()
    sizes = {
        (topic["name"], p["partition_index"]): p["partition_size"]
        for broker_dirs in described
        for log_dir in broker_dirs["log_dirs"]
        for topic in log_dir["topics"]
        for p in topic["partitions"]
    }
    on_disk = sum(p.stat().st_size for p in segment_files(broker, topic_name)[0])
    assert sizes[(topic_name, 0)] == on_disk

    records = consume_all(broker.bootstrap, topic_name, count)

    assert [offset for offset, _ in records] == list(range(low, count))
    assert all(value == value_for(offset, size) for offset, value in records)


def test_time_retention_deletes_only_segments_whose_newest_record_is_old(
    broker_factory: Callable[..., ServerProcess], topic_name: str
) -> None:
    broker = broker_factory(*FAST_RETENTION)
    create_topic(
        broker.bootstrap,
        topic_name,
        {
            "retention.ms": str(10 * 60_000),
            "segment.bytes": str(16 * 1024),
        },
    )
    now_ms = int(time.time() * 1000)
    old, new, size = 60, 60, 1000
    # Batches of ~4 records, so that each 16 KiB segment holds several of them.
    produce(broker.bootstrap, topic_name, old, size, timestamp=now_ms - 3_600_000, batch_size=4096)
    produce(broker.bootstrap, topic_name, new, size, first=old, batch_size=4096)  # now

    def first_kept_has_a_new_record() -> bool:
        live, pending = segment_files(broker, topic_name)
        bases = [int(p.name.removesuffix(".log")) for p in live] + [old + new]
        return bases[0] <= old < bases[1] and not pending

    # Each segment holds ~14 records: those wholly older than 10 minutes go, the one
    # where the new records begin stays, and so does everything after it.
    wait_for("the hour-old segments to be deleted", first_kept_has_a_new_record)
    live, _ = segment_files(broker, topic_name)
    start = int(live[0].name.removesuffix(".log"))
    assert 0 < start <= old
    assert watermarks(broker.bootstrap, topic_name) == (start, old + new)
    records = consume_all(broker.bootstrap, topic_name, old + new)
    assert [offset for offset, _ in records] == list(range(start, old + new))

    # A small retention.ms, set while the broker runs: all but the active segment go.
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    resource = ConfigResource(
        ResourceType.TOPIC,
        topic_name,
        incremental_configs=[
            ConfigEntry("retention.ms", "2000", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    admin.incremental_alter_configs([resource])[resource].result(timeout=15)
    wait_for(
        "every closed segment to expire", lambda: len(segment_files(broker, topic_name)[0]) == 1
    )
    live, _ = segment_files(broker, topic_name)
    active = int(live[0].name.removesuffix(".log"))
    assert active > start
    assert watermarks(broker.bootstrap, topic_name) == (active, old + new)


def long_poll(raw: RawKafka, topic: str, offset: int) -> tuple[int, int, bytes]:
    """One Fetch v12 that waits up to 300 ms for 1 MiB: (error, log start, records)."""
    partition = raw.make(
        ApiKey.FETCH,
        FETCH_V,
        "FetchPartition",
        partition=0,
        current_leader_epoch=-1,
        fetch_offset=offset,
        last_fetched_epoch=-1,
        log_start_offset=-1,
        partition_max_bytes=32 * 1024,
    )
    response = raw.request(
        ApiKey.FETCH,
        FETCH_V,
        replica_id=-1,
        max_wait=300,
        min_bytes=MIB,
        max_bytes=32 * 1024,
        isolation_level=0,
        session_id=0,
        session_epoch=-1,
        topics=[raw.make(ApiKey.FETCH, FETCH_V, "FetchTopic", topic=topic, partitions=[partition])],
        forgotten_topics_data=(),
        rack_id="",
    )
    assert response.error_code == ErrorCode.none
    data = response.responses[0].partitions[0]
    return int(data.error_code), int(data.log_start_offset), bytes(data.records or b"")


def test_long_polls_during_retention_fail_only_with_offset_out_of_range(
    broker_factory: Callable[..., ServerProcess], topic_name: str
) -> None:
    broker = broker_factory(*FAST_RETENTION)
    create_topic(
        broker.bootstrap,
        topic_name,
        {"retention.bytes": str(64 * 1024), "segment.bytes": str(16 * 1024), "retention.ms": "-1"},
    )
    errors: list[str] = []
    out_of_range = [0]
    stop = threading.Event()

    def consume(lagging: bool) -> None:
        """Long-polls from its position; on OFFSET_OUT_OF_RANGE jumps to the log start.
        A lagging consumer reads one batch a poll and falls behind retention."""
        position = 0
        with RawKafka(broker.bootstrap) as raw:
            while not stop.is_set():
                error, log_start, records = long_poll(raw, topic_name, position)
                if error == ErrorCode.offset_out_of_range:
                    out_of_range[0] += 1
                    position = log_start
                    continue
                if error != ErrorCode.none:
                    errors.append(f"fetch at {position}: {ErrorCode(error).name}")
                    return
                try:  # whole, valid batches (CRC checked), the first holding the position
                    batches = [validate_batch(records[s:e]) for s, e in split_batches(records)]
                except Exception as exc:  # noqa: BLE001 - reported by the test thread
                    errors.append(f"fetch at {position}: {exc!r}")
                    return
                if batches and not batches[0].base_offset <= position <= batches[0].last_offset:
                    errors.append(f"fetch at {position} returned {batches[0].base_offset}")
                    return
                if batches:
                    position = batches[0 if lagging else -1].last_offset + 1
                    time.sleep(0.05 if lagging else 0)

    def run(lagging: bool) -> None:
        try:
            consume(lagging)
        except Exception as exc:  # noqa: BLE001 - a failed thread fails the test
            errors.append(repr(exc))

    threads = [threading.Thread(target=run, args=(i == 0,)) for i in range(3)]
    for thread in threads:
        thread.start()
    try:
        # ~4 MB in 1 KB records over a few seconds: retention deletes segments all along.
        for round_ in range(8):
            produce(broker.bootstrap, topic_name, 500, 1000, first=round_ * 500, batch_size=8192)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert out_of_range[0] > 0  # the lagging consumer was overtaken by retention
    low, high = watermarks(broker.bootstrap, topic_name)
    assert high == 4000 and low > 3000
