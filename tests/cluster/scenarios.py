"""What the fault scenarios share: a replicated topic, the view each broker and ZooKeeper
give of it, a bounded producing workload judged by the history check, and raw acks=all
probes that remember what they sent.

The topic has 3 partitions and RF 3 on a cluster with min.insync.replicas 2 (the `cluster`
fixtures); waits are bounded by SETTLE unless a scenario asks for less.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from confluent_kafka import KafkaError, Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from faults import PRODUCE_V, list_offset, metadata, receive_response, send_request
from harness import GreteCluster, JavaProgram
from integration.raw_kafka import RawKafka

from grete.protocol import ApiKey, ErrorCode
from grete.records.builder import BatchSpec, Record, build_batch

from .history import Send, Stored, check_history, java_produce_history, produce_history, read_back

PARTITIONS = 3
REPLICATION_FACTOR = 3
RATE = 200.0  # values per second, per producer
NEW_LEADER_WITHIN = 10.0  # seconds from the kill, as the issue asks
SETTLE = 30.0  # bound of every wait for the cluster to converge
NO_LEADER = -1


# -- the topic and what the cluster says about it ----------------------------------------


def create_replicated_topic(cluster: GreteCluster, topic: str) -> None:
    """CreateTopics (3 partitions, RF 3) through any broker; wait until every partition has
    all three replicas in sync and every broker's Metadata names its leader."""
    wait_metadata_ready(cluster)
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=PARTITIONS, replication_factor=REPLICATION_FACTOR)],
        operation_timeout=30,
        request_timeout=30,
    )
    futures[topic].result(timeout=30)
    wait_full_isr(cluster, topic)
    wait_metadata_agrees(cluster, topic, cluster.broker_ids)


def wait_metadata_ready(cluster: GreteCluster, timeout: float = 10.0) -> None:
    """Every broker's Metadata names the controller and every broker, before a client
    bootstraps: cluster.start() waits for the ZooKeeper registrations only, and an
    AdminClient whose first Metadata names no controller waits for one until it times out
    ("Failed while waiting for controller"), as seen before brokers held requests back
    until their view of the cluster was loaded."""

    def ready() -> bool:
        controller = cluster.controller_id()
        return controller is not None and all(
            metadata_brokers(cluster, b) == (controller, set(cluster.broker_ids))
            for b in cluster.broker_ids
        )

    cluster.wait_until(
        ready, "every broker's Metadata names the controller and all brokers", timeout
    )


def metadata_brokers(cluster: GreteCluster, broker_id: int) -> tuple[int, set[int]] | None:
    """(controller id, broker ids) in broker ``broker_id``'s Metadata; None if it does not answer."""
    try:
        with RawKafka(cluster.broker(broker_id).bootstrap, timeout=5.0) as raw:
            response = metadata(raw, [])
    except OSError:
        return None
    return int(response.controller_id), {int(b.node_id) for b in response.brokers}


def metadata_controller(cluster: GreteCluster, broker_id: int) -> int | None:
    found = metadata_brokers(cluster, broker_id)
    return None if found is None else found[0]


def state(cluster: GreteCluster, topic: str, partition: int) -> dict[str, Any]:
    found = cluster.partition_state(topic, partition)
    assert found is not None, f"{topic}-{partition} has no state znode"
    return found


def leader(cluster: GreteCluster, topic: str, partition: int) -> int:
    return int(state(cluster, topic, partition)["leader"])


def wait_full_isr(
    cluster: GreteCluster, topic: str, timeout: float = SETTLE, what: str = ""
) -> None:
    """Every partition led and with every broker in its ISR."""

    def full() -> bool:
        states = [cluster.partition_state(topic, p) for p in range(PARTITIONS)]
        return all(
            s is not None and s["leader"] != NO_LEADER and set(s["isr"]) == set(cluster.broker_ids)
            for s in states
        )

    cluster.wait_until(full, f"{topic}: all brokers in the ISR of every partition {what}", timeout)


def wait_in_isr(cluster: GreteCluster, topic: str, broker_id: int, timeout: float = SETTLE) -> None:
    cluster.wait_until(
        lambda: all(broker_id in state(cluster, topic, p)["isr"] for p in range(PARTITIONS)),
        f"{topic}: broker {broker_id} back in the ISR of every partition",
        timeout,
    )


def metadata_leaders(
    cluster: GreteCluster, broker_id: int, topic: str
) -> dict[int, tuple[int, int]]:
    """What broker ``broker_id`` answers to Metadata: partition -> (leader, leader epoch)."""
    with RawKafka(cluster.broker(broker_id).bootstrap, timeout=5.0) as raw:
        response = metadata(raw, [topic])
    (found,) = response.topics
    assert found.error_code == ErrorCode.none, (broker_id, topic, found.error_code)
    return {
        int(p.partition_index): (int(p.leader_id), int(p.leader_epoch)) for p in found.partitions
    }


def wait_metadata_agrees(
    cluster: GreteCluster, topic: str, broker_ids: list[int], timeout: float = 10.0
) -> None:
    """Every broker in ``broker_ids`` answers Metadata with the leaders and leader epochs
    that ZooKeeper holds (the docs promise it within a watch delay)."""

    def agrees() -> bool:
        want = {
            p: (int(s["leader"]), int(s["leader_epoch"]))
            for p in range(PARTITIONS)
            if (s := cluster.partition_state(topic, p)) is not None
        }
        try:
            return all(metadata_leaders(cluster, b, topic) == want for b in broker_ids)
        except (OSError, AssertionError):
            return False

    cluster.wait_until(
        agrees, f"{topic}: Metadata of brokers {broker_ids} agrees with ZooKeeper", timeout
    )


def high_watermarks(cluster: GreteCluster, topic: str) -> dict[int, int]:
    """Each partition's high watermark, asked of its leader; partitions without a leader
    that answers are left out."""
    found: dict[int, int] = {}
    for p in range(PARTITIONS):
        led_by = leader(cluster, topic, p)
        if led_by == NO_LEADER or not cluster.broker(led_by).running:
            continue
        try:
            with RawKafka(cluster.broker(led_by).bootstrap, timeout=2.0) as raw:
                found[p] = list_offset(raw, topic, p)
        except (OSError, AssertionError):
            continue
    return found


def wait_committed_past(
    cluster: GreteCluster,
    topic: str,
    before: dict[int, int],
    what: str,
    timeout: float = SETTLE,
    at_least: int = 1,
) -> dict[int, int]:
    """Wait until the partitions' high watermarks have grown by ``at_least`` records in
    all since ``before`` (missing partitions count as 0); return the highest seen of each."""
    seen = dict(before)

    def grew() -> bool:
        for p, hw in high_watermarks(cluster, topic).items():
            seen[p] = max(seen.get(p, 0), hw)
        return sum(seen.values()) - sum(before.values()) >= at_least

    cluster.wait_until(grew, f"{topic}: more records committed ({what})", timeout)
    return seen


# -- the workload ------------------------------------------------------------------------


@contextmanager
def workload(
    cluster: GreteCluster,
    topic: str,
    *,
    seconds: float,
    java: JavaProgram | None = None,
    delivery_timeout_ms: int = 30_000,
) -> Iterator[list[Future[list[Send]]]]:
    """Producers running in threads for ``seconds`` while the body injects the fault: the
    confluent-kafka one always, the Java one when given. Yields their futures; the body
    starts once the topic has committed records."""
    count = int(seconds * RATE)
    with ThreadPoolExecutor(2) as pool:
        futures = [
            pool.submit(
                produce_history, cluster.bootstrap, topic, count=count, rate=RATE,
                max_seconds=seconds, producer="py", delivery_timeout_ms=delivery_timeout_ms,
            )
        ]  # fmt: skip
        if java is not None:
            futures.append(
                pool.submit(
                    java_produce_history, java, cluster.bootstrap, topic, count=count, rate=RATE,
                    max_seconds=seconds, producer="java", delivery_timeout_ms=delivery_timeout_ms,
                )
            )  # fmt: skip
        wait_committed_past(cluster, topic, {}, "producing started", at_least=50)
        yield futures


def histories(futures: list[Future[list[Send]]], timeout: float = 90.0) -> list[Send]:
    return [send for future in futures for send in future.result(timeout=timeout)]


def assert_history_clean(cluster: GreteCluster, topic: str, history: list[Send]) -> list[Stored]:
    """Read the topic back and assert the four counts (and unknown values) are zero."""
    stored = read_back(cluster.bootstrap, topic, timeout=30)
    report = check_history(history, stored)
    report.assert_clean()
    assert report.acked > 0, f"nothing was acked: {report}"
    return stored


def assert_all_acked(history: list[Send], why: str) -> None:
    failed = [send for send in history if not send.acked]
    assert not failed, f"{len(failed)} of {len(history)} sends failed ({why}); first: " + "; ".join(
        f"{s.value!r}: {s.error}" for s in failed[:5]
    )


def wait_new_leader(
    cluster: GreteCluster, topic: str, partition: int, old: int, killed_at: float
) -> dict[str, Any]:
    """The partition state once a live broker other than ``old`` leads; AssertionError if
    that takes more than NEW_LEADER_WITHIN seconds from ``killed_at``."""
    found: list[dict[str, Any]] = []

    def elected() -> bool:
        s = cluster.partition_state(topic, partition)
        if s is not None and s["leader"] not in (old, NO_LEADER):
            found.append(s)
            return True
        return False

    remaining = NEW_LEADER_WITHIN - (time.monotonic() - killed_at)
    cluster.wait_until(
        elected, f"{topic}-{partition}: a new leader after broker {old} died", remaining
    )
    return found[-1]


# -- raw produce probes ------------------------------------------------------------------


def one_record_batch(value: bytes) -> bytes:
    spec = BatchSpec(base_timestamp=int(time.time() * 1000))
    return bytes(build_batch([Record(value, value)], spec))


def send_produce(
    raw: RawKafka, topic: str, partition: int, value: bytes, correlation: int, timeout_ms: int,
    acks: int = -1,
) -> None:
    """A Produce v9 of one record (acks=all unless told), not waiting for the answer."""
    data = raw.make(
        ApiKey.PRODUCE,
        PRODUCE_V,
        "PartitionProduceData",
        index=partition,
        records=one_record_batch(value),
    )
    topic_data = raw.make(
        ApiKey.PRODUCE, PRODUCE_V, "TopicProduceData", name=topic, partition_data=[data]
    )
    send_request(
        raw,
        ApiKey.PRODUCE,
        PRODUCE_V,
        correlation,
        transactional_id=None,
        acks=acks,
        timeout=timeout_ms,
        topic_data=[topic_data],
    )


class RawProbe:
    """acks=all produces of single records over one raw connection, each remembered as a
    Send of producer ``name`` (acked at its offset, or failed with its error code), so the
    history check knows every value a probe may have left in the log."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sends: list[Send] = []

    def produce(
        self, raw: RawKafka, topic: str, partition: int, timeout_ms: int = 2000
    ) -> ErrorCode:
        value = b"%s-%d" % (self.name.encode(), len(self.sends))
        correlation = len(self.sends) + 1
        send_produce(raw, topic, partition, value, correlation, timeout_ms)
        return self.answer(raw, value, partition, correlation)

    def answer(self, raw: RawKafka, value: bytes, partition: int, correlation: int) -> ErrorCode:
        """Receive the answer to a produce of ``value`` sent with send_produce()."""
        response = receive_response(raw, ApiKey.PRODUCE, PRODUCE_V, correlation)
        part = response.responses[0].partition_responses[0]
        error = ErrorCode(part.error_code)
        n = len(self.sends)
        if error == ErrorCode.none:
            self.sends.append(Send(self.name, n, value, partition, int(part.base_offset)))
        else:
            self.sends.append(Send(self.name, n, value, error=error.name))
        return error

    def values(self, *errors: ErrorCode) -> set[bytes]:
        """The values whose produce got one of ``errors`` (ErrorCode.none: the acked ones)."""
        names = {e.name for e in errors}
        return {
            s.value
            for s in self.sends
            if (s.acked and ErrorCode.none in errors) or s.error in names
        }


def confluent_probe(
    bootstrap: str, topic: str, values: list[bytes], timeout_ms: int
) -> dict[bytes, str | None]:
    """Send ``values`` round-robin over the partitions with a plain acks=all confluent-kafka
    producer that does not retry and whose messages expire after ``timeout_ms``: value ->
    None if acked, else the error its delivery report named."""
    reports: dict[bytes, str | None] = {}

    def report(error: KafkaError | None, message: Message) -> None:
        reports[message.value() or b""] = None if error is None else error.name()

    client = Producer({
        "bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": False,
        "message.timeout.ms": timeout_ms, "linger.ms": 0,
        "retries": 0,  # report the broker's first answer, not a timeout after retrying it
    })  # fmt: skip
    try:
        for i, value in enumerate(values):
            client.produce(
                topic, value=value, key=value, partition=i % PARTITIONS, on_delivery=report
            )
        remaining = client.flush(timeout_ms / 1000 + 10)
    finally:
        client.close()
    assert remaining == 0, f"{remaining} probe messages without a delivery report"
    return reports
