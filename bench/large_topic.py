"""Issue 7: one topic of 100 million records on one broker (Grete only).

On a broker of its own: produce `records` records of 100 B (no key) to a 6-partition
topic, as the produce workloads do, then measure what reading a large topic costs:
- for partition 0, reading at its start, its middle and near its end: the time from
  assign() to the first record, and the rate over `read_records` records;
- the broker's RSS after producing, after the reads, and its peak: reads are bounded by
  the fetch sizes, never by a segment's size, so RSS must not grow with the topic;
- the bytes on disk, the number of segments of partition 0;
- stop (SIGTERM) and start on the same data until the first record at the middle.

Tansu is not run: its memory storage would hold the 10 GB in RAM.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition
from harness import BrokerProcess
from workloads import PARTITIONS, WorkloadTimeout, create_topic, produce

TOPIC = "bench-large"
SIZE = 100


@dataclass(frozen=True)
class LargeTopicConfig:
    records: int
    read_records: int = 500_000
    timeout: float = 900.0


def large_topic(kind: str, config: LargeTopicConfig, work_dir: Path, log_dir: Path) -> dict[str, Any]:
    if kind != "grete":
        return {"applicable": False, "note": f"{kind}'s memory storage would hold the topic in RAM"}
    deadline = time.monotonic() + config.timeout
    data = work_dir / "large-data"
    broker = BrokerProcess(data, log_path=log_dir / "grete-large.log", start_timeout=300, stop_timeout=300)
    results: dict[str, Any] = {"records": config.records}
    with broker:
        create_topic(broker.bootstrap, TOPIC)
        produced = produce(broker.bootstrap, TOPIC, config.records, SIZE, max(deadline - time.monotonic(), 1))
        results["produce_records_per_second"] = round(produced.records_per_second, 1)
        results["produce_mb_per_second"] = round(produced.megabytes_per_second, 2)
        results["rss_mb_after_produce"] = _rss_mb(broker)
        end = _end_offset(broker.bootstrap, deadline)
        results["partition0_records"] = end
        count = min(config.read_records, end // 2)  # every read stays inside the partition
        for name, offset in (("start", 0), ("middle", end // 2), ("end", end - count)):
            first, rate = _read(broker.bootstrap, offset, count, deadline)
            results[f"read_{name}_first_record_ms"] = round(first * 1000, 1)
            results[f"read_{name}_records_per_second"] = round(rate, 1)
        usage = broker.usage()
        results["rss_mb_after_reads"] = round(usage.rss_bytes / 2**20, 1)
        results["peak_rss_mb"] = round(usage.peak_rss_bytes / 2**20, 1)
        results["disk_gb"] = round(sum(f.stat().st_size for f in data.rglob("*") if f.is_file()) / 1e9, 2)
        results["partition0_segments"] = len(list((data / f"{TOPIC}-0").glob("*.log")))
        started = time.monotonic()
        broker.stop(check=True)
        results["stop_seconds"] = round(time.monotonic() - started, 2)
        started = time.monotonic()
        broker.start()
        _read(broker.bootstrap, end // 2, 1, deadline)
        results["start_until_middle_record_seconds"] = round(time.monotonic() - started, 2)
        results["rss_mb_after_restart"] = _rss_mb(broker)
    return results


def _rss_mb(broker: BrokerProcess) -> float:
    return round(broker.usage().rss_bytes / 2**20, 1)


def _end_offset(bootstrap: str, deadline: float) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-large-offsets"})
    try:
        _, high = consumer.get_watermark_offsets(
            TopicPartition(TOPIC, 0), timeout=max(deadline - time.monotonic(), 1)
        )
        return int(high)
    finally:
        consumer.close()


def _read(bootstrap: str, offset: int, count: int, deadline: float) -> tuple[float, float]:
    """(seconds from assign() to the first record, records/s over ``count`` records) of
    partition 0 from ``offset``; checks the offsets are dense."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": "bench-large-read", "enable.auto.commit": False,
        "enable.partition.eof": False, "fetch.queue.backoff.ms": 10,
    })  # fmt: skip
    try:
        started = time.monotonic()
        consumer.assign([TopicPartition(TOPIC, 0, offset)])
        first_at: float | None = None
        expected = offset
        while expected < offset + count:
            for message in consumer.consume(num_messages=min(10_000, offset + count - expected), timeout=0.5):
                if message.error() is not None:
                    raise KafkaException(message.error())
                if message.offset() != expected:
                    raise AssertionError(f"offset {message.offset()} where {expected} was due")
                if first_at is None:
                    first_at = time.monotonic()
                expected += 1
            if time.monotonic() > deadline:
                raise WorkloadTimeout(f"read {expected - offset} of {count} records from offset {offset}")
        assert first_at is not None
        elapsed = time.monotonic() - first_at
        return first_at - started, (count - 1) / elapsed if elapsed > 0 else float(count)
    finally:
        consumer.close()


assert PARTITIONS == 6  # the topic has the produce workloads' 6 partitions
