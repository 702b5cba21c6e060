"""Issue 7: replicated produce, 3 Grete brokers and ZooKeeper on this machine, RF 3, acks=all.

Grete only (Tansu has no comparable replication). Starts ZooKeeper and a 3-broker
GreteCluster of its own, creates a topic of 6 partitions with RF 3 and
min.insync.replicas 2, waits until every partition has its 3 replicas in sync, then:
- one idempotent producer in this process (PRODUCER_CONFIG: acks=all, batch.size 1 MB,
  linger.ms 5) sends `size`-byte records as fast as it can, up to `records` or `seconds`,
  and waits for their acks: MB/s and records/s over the whole time;
- meanwhile a second producer in its own process (paced_producers.py, same settings) sends
  `latency_rate` records/s: its ack latency p50/p99/max is the latency under that load;
- then the same again without idempotence, librdkafka's default (on two cores its
  idempotent producer takes a core of its own): at most 5 requests in flight as the Java
  client (fields prefixed `plain_`), then 1 (`one_in_flight_`; see VARIANTS).
Also the 3 brokers' CPU seconds (summed) and each broker's peak RSS. Then everything is
stopped, the broker logs are copied to the run's log directory, and the data is removed.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from harness import GreteCluster, ZooKeeperProcess
from paced_producers import PURGED, Workers, latency_summary, worker_command
from workloads import PARTITIONS, PRODUCER_CONFIG, WorkloadTimeout, drop_page_cache

TOPIC = "bench-replicated"
BROKERS = 3
REPLICATION_FACTOR = 3
MIN_INSYNC_REPLICAS = 2
# Kafka's defaults, not the cluster tests' quick failure detection: a benchmark on two
# busy cores must not see a failover.
OVERRIDES = {
    "zookeeper.session.timeout.ms": "18000",
    "replica.lag.time.max.ms": "30000",
    "default.replication.factor": str(REPLICATION_FACTOR),
    "offsets.topic.replication.factor": str(REPLICATION_FACTOR),
    "group.initial.rebalance.delay.ms": "0",
}
MAIN_PRODUCER = {
    **PRODUCER_CONFIG,
    # 64 MiB queued at most: at the time bound, the rest must be acked within FLUSH_SECONDS.
    "queue.buffering.max.kbytes": 65_536,
}
FLUSH_SECONDS = 60.0
# (field prefix, enable.idempotence, max.in.flight.requests.per.connection), in order.
# 5 in flight is the Java client's default; librdkafka's (a million) would pile the run's
# whole queue into the leaders at once. With one in flight a producer keeps its order
# without idempotence, and the acks=all backlog ahead of the paced producer is shortest.
VARIANTS = (("", True, 5), ("plain_", False, 5), ("one_in_flight_", False, 1))


@dataclass(frozen=True)
class ReplicatedConfig:
    records: int
    seconds: float
    latency_rate: int
    size: int = 1024
    setup_timeout: float = 120.0


def replicated_produce(
    kind: str, config: ReplicatedConfig, work_dir: Path, log_dir: Path
) -> dict[str, Any]:
    if kind != "grete":
        return {"applicable": False, "note": f"{kind} has no comparable replication"}
    zookeeper = ZooKeeperProcess(
        work_dir / "zookeeper" / "data", log_path=log_dir / "grete-replicated-zookeeper.log"
    )
    cluster = GreteCluster(zookeeper, work_dir / "cluster", size=BROKERS, overrides=OVERRIDES)
    try:
        zookeeper.start()
        cluster.start()
        deadline = time.monotonic() + config.setup_timeout
        _wait_brokers_see_cluster(cluster, deadline)
        _create_topic(cluster.bootstrap, deadline)
        results: dict[str, Any] = {}
        for i, (prefix, idempotent, in_flight) in enumerate(VARIANTS):
            if i:  # each starts as the first did (bench/run.py drops the cache before it)
                drop_page_cache()
            measured = _measure(cluster, config, idempotent, in_flight)
            results.update({f"{prefix}{k}": v for k, v in measured.items()})
        return results
    finally:
        try:
            cluster.stop(check=False)
        finally:
            zookeeper.stop()
            zookeeper.kill()
            for broker_id in cluster.broker_ids:
                _keep_log(
                    cluster.broker(broker_id).log_path,
                    log_dir / f"grete-replicated-{broker_id}.log",
                )
            shutil.rmtree(work_dir, ignore_errors=True)


def _measure(
    cluster: GreteCluster, config: ReplicatedConfig, idempotent: bool, in_flight: int
) -> dict[str, Any]:
    brokers = cluster.brokers
    cpu_before = [broker.usage().cpu_seconds for broker in brokers]
    paced = Workers([
        worker_command(cluster.bootstrap, TOPIC, 1, config.latency_rate, config.seconds,
                       size=config.size, client_id="bench-replicated-paced",
                       idempotence=idempotent)
    ])  # fmt: skip
    try:
        paced.start(config.setup_timeout)
        main = _produce_flat_out(cluster.bootstrap, config, idempotent, in_flight)
        paced.stop()
        (latency,) = paced.reports(FLUSH_SECONDS + 30)
    finally:
        paced.close()
    usage = [broker.usage() for broker in brokers]
    return {
        **main,
        "paced_rate": config.latency_rate,
        "paced_acked": latency["acked"],
        **{f"paced_{k}": v for k, v in latency_summary(latency["latencies_ms"]).items()},
        "paced_errors": latency["error_count"],
        "brokers_cpu_seconds": round(sum(u.cpu_seconds for u in usage) - sum(cpu_before), 2),
        **{
            f"broker{i}_peak_rss_mb": round(u.peak_rss_bytes / 2**20, 1)
            for i, u in enumerate(usage)
        },
        **{f"broker{i}_rss_mb_end": round(u.rss_bytes / 2**20, 1) for i, u in enumerate(usage)},
    }


def _produce_flat_out(
    bootstrap: str, config: ReplicatedConfig, idempotent: bool, in_flight: int
) -> dict[str, Any]:
    """Up to `records` or `seconds`, whichever comes first, then wait for every ack."""
    errors: list[KafkaError] = []  # the first few
    error_count = 0

    def on_error(error: KafkaError | None, _message: Message) -> None:
        nonlocal error_count
        if error is not None and error.code() not in PURGED:
            error_count += 1
            if len(errors) < 3:
                errors.append(error)

    producer = Producer({
        "bootstrap.servers": bootstrap, **MAIN_PRODUCER, "enable.idempotence": idempotent,
        "max.in.flight.requests.per.connection": in_flight,
        "client.id": "bench-replicated-main",
        "delivery.report.only.error": True, "on_delivery": on_error,
    })  # fmt: skip
    producer.list_topics(TOPIC, timeout=30)
    value = os.urandom(config.size)
    start = time.monotonic()
    stop_at = start + config.seconds
    produced = 0
    while produced < config.records:
        try:
            producer.produce(TOPIC, value)
            produced += 1
        except BufferError:  # the local queue is full: the cluster is the limit
            producer.poll(0.005)
            if time.monotonic() > stop_at:
                break
            continue
        if produced % 10_000 == 0:
            producer.poll(0)
            if time.monotonic() > stop_at:
                break
    produce_seconds = time.monotonic() - start
    unacked = producer.flush(FLUSH_SECONDS)
    seconds = time.monotonic() - start
    acked = produced - unacked - error_count
    if unacked:
        producer.purge()
        producer.flush(1.0)
    return {
        "records_produced": produced,
        "records_acked": acked,
        "unacked_at_deadline": unacked,
        "errors": error_count,
        "first_errors": [str(error) for error in errors],
        "produce_seconds": round(produce_seconds, 3),
        "seconds": round(seconds, 3),
        "records_per_second": round(acked / seconds, 1),
        "mb_per_second": round(acked * config.size / seconds / 1e6, 2),
    }


def _wait_brokers_see_cluster(cluster: GreteCluster, deadline: float) -> None:
    """Every broker's Metadata names a controller and all brokers: CreateTopics with RF 3
    is refused by a broker whose view of the cluster is not loaded yet."""
    for broker in cluster.brokers:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        while True:
            try:
                metadata = admin.list_topics(timeout=5)
                if metadata.controller_id >= 0 and len(metadata.brokers) == BROKERS:
                    break
            except KafkaException:
                pass
            if time.monotonic() > deadline:
                raise WorkloadTimeout(f"{broker.bootstrap} does not see {BROKERS} brokers")
            time.sleep(0.1)


def _create_topic(bootstrap: str, deadline: float) -> None:
    """Create the topic and wait until every partition has a leader and all 3 replicas in
    sync, so the measurement does not include the followers catching up from nothing."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topic = NewTopic(TOPIC, PARTITIONS, REPLICATION_FACTOR,
                     config={"min.insync.replicas": str(MIN_INSYNC_REPLICAS)})  # fmt: skip
    admin.create_topics([topic], request_timeout=60)[TOPIC].result(timeout=90)
    while True:
        try:
            partitions = admin.list_topics(TOPIC, timeout=5).topics[TOPIC].partitions.values()
            if len(partitions) == PARTITIONS and all(
                p.leader >= 0 and len(p.isrs) == REPLICATION_FACTOR for p in partitions
            ):
                return
        except KafkaException:
            pass
        if time.monotonic() > deadline:
            raise WorkloadTimeout(f"{TOPIC}: not every partition has {REPLICATION_FACTOR} in sync")
        time.sleep(0.1)


def _keep_log(source: Path, target: Path) -> None:
    try:
        shutil.copyfile(source, target)
    except OSError:
        pass  # the broker never started
