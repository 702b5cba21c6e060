"""Issue 7: one broker with 10,000 partitions (100 topics of 100 by default).

On a broker of its own: create the topics, write one record to every partition (so that
every partition has a segment), then measure what a user with many partitions feels:
- Metadata for every topic (librdkafka's list_topics), p50 and max over `metadata_calls`;
- idle CPU over `idle_seconds` with no client connected;
- open file descriptors (right after the writes, and after the idle period: Grete runs
  with grete.log.file.idle.close.ms at IDLE_CLOSE_MS so that its idle-file closing
  shows within the run) and RSS of the broker;
- Grete only: the time to stop (SIGTERM) and to start again on the same data, until
  Metadata lists every partition with a leader. Tansu's memory storage keeps nothing
  across a restart, so that row is not applicable to it.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from harness import BrokerProcess, ServerProcess, TansuProcess
from workloads import WorkloadTimeout

TOPICS_PER_REQUEST = 10
IDLE_CLOSE_MS = 5_000
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ManyPartitionsConfig:
    topics: int
    partitions_per_topic: int
    metadata_calls: int = 20
    idle_seconds: float = 10.0
    timeout: float = 600.0


def _topic(i: int) -> str:
    return f"bench-many-{i:04d}"


def _create(admin: AdminClient, config: ManyPartitionsConfig, deadline: float) -> None:
    names = [_topic(i) for i in range(config.topics)]
    for start in range(0, len(names), TOPICS_PER_REQUEST):
        batch = [NewTopic(n, config.partitions_per_topic, 1) for n in names[start : start + TOPICS_PER_REQUEST]]
        for future in admin.create_topics(batch, request_timeout=120).values():
            future.result(timeout=max(deadline - time.monotonic(), 1))


def _partitions_with_leaders(admin: AdminClient, config: ManyPartitionsConfig) -> int:
    metadata = admin.list_topics(timeout=60)
    return sum(
        1
        for name, topic in metadata.topics.items()
        if name.startswith("bench-many-") and topic.error is None
        for p in topic.partitions.values()
        if p.leader >= 0
    )


def _write_one_each(bootstrap: str, config: ManyPartitionsConfig, deadline: float) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50, "acks": 1})
    for i in range(config.topics):
        for p in range(config.partitions_per_topic):
            producer.produce(_topic(i), b"x" * 100, partition=p)
        producer.poll(0)
    while producer.flush(1.0) > 0:
        if time.monotonic() > deadline:
            raise WorkloadTimeout("writing one record to every partition")


def _open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _serving_all(admin: AdminClient, config: ManyPartitionsConfig, deadline: float) -> None:
    expected = config.topics * config.partitions_per_topic
    while True:
        try:
            if _partitions_with_leaders(admin, config) == expected:
                return
        except KafkaException:
            pass
        if time.monotonic() > deadline:
            raise WorkloadTimeout(f"Metadata listing {expected} partitions after a restart")
        time.sleep(0.2)


def many_partitions(kind: str, config: ManyPartitionsConfig, work_dir: Path, log_dir: Path) -> dict[str, Any]:
    deadline = time.monotonic() + config.timeout
    broker: ServerProcess
    if kind == "grete":
        broker = BrokerProcess(work_dir / "many-data", log_path=log_dir / "grete-many.log",
                               start_timeout=300, stop_timeout=120,
                               overrides={"grete.log.file.idle.close.ms": str(IDLE_CLOSE_MS)})  # fmt: skip
    else:
        broker = TansuProcess(work_dir / "many-data", log_path=log_dir / "tansu-many.log")
    results: dict[str, Any] = {"partitions": config.topics * config.partitions_per_topic}
    with broker:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        started = time.monotonic()
        _create(admin, config, deadline)
        results["create_seconds"] = round(time.monotonic() - started, 2)
        started = time.monotonic()
        _write_one_each(broker.bootstrap, config, deadline)
        results["write_one_each_seconds"] = round(time.monotonic() - started, 2)
        results["partitions_with_leaders"] = _partitions_with_leaders(admin, config)
        timings = []
        for _ in range(config.metadata_calls):
            started = time.monotonic()
            admin.list_topics(timeout=60)
            timings.append((time.monotonic() - started) * 1000)
        results["metadata_p50_ms"] = round(statistics.median(timings), 1)
        results["metadata_max_ms"] = round(max(timings), 1)
        results["open_fds_busy"] = _open_fds(broker.pid)
        del admin  # no client connected while idle
        time.sleep(1.0)
        before = broker.usage().cpu_seconds
        time.sleep(config.idle_seconds)
        results["idle_cpu_percent"] = round((broker.usage().cpu_seconds - before) / config.idle_seconds * 100, 2)
        results["open_fds"] = _open_fds(broker.pid)
        usage = broker.usage()
        results["rss_mb"] = round(usage.rss_bytes / 2**20, 1)
        results["peak_rss_mb"] = round(usage.peak_rss_bytes / 2**20, 1)
        if kind != "grete":
            results["restart"] = "not applicable: Tansu's memory storage keeps nothing across a restart"
            return results
        started = time.monotonic()
        broker.stop(check=True)
        results["stop_seconds"] = round(time.monotonic() - started, 2)
        started = time.monotonic()
        broker.start()
        results["start_until_apiversions_seconds"] = round(time.monotonic() - started, 2)
        _serving_all(AdminClient({"bootstrap.servers": broker.bootstrap}), config, deadline)
        results["start_until_metadata_complete_seconds"] = round(time.monotonic() - started, 2)
        results["open_fds_after_restart"] = _open_fds(broker.pid)
        results["rss_mb_after_restart"] = round(broker.usage().rss_bytes / 2**20, 1)
    return results
