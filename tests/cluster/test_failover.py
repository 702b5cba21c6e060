"""The issue's fault scenarios on a 3-broker cluster (RF 3, min.insync.replicas 2), each
judged by the history check.

Every scenario creates a 3-partition, RF 3 topic, runs an idempotent acks=all producer
(confluent-kafka; in two scenarios the Java client too) that sends unique values at a
bounded rate while the fault runs, then reads everything back with assign() and asserts
that no acked value is lost, duplicated, sharing its offset or out of order. On top of
that, each scenario asserts what the issue asks of its fault:

- kill -9 the leader: a new leader within 10 s of the kill, with leader epoch + 1;
- rolling SIGTERM restart: producing goes on (each broker hands its leaderships over
  before it exits, records keep being committed while it is down, no send fails);
- kill the controller: a new controller with controller epoch + 1;
- SIGSTOP the leader past its session timeout: once resumed it acks nothing, follows the
  new leader and rejoins the ISR;
- kill 2 of 3 replicas: NOT_ENOUGH_REPLICAS and nothing acked; acks resume once a
  replica returns;
- two failovers in quick succession: the replicas end byte-identical;
- ZooKeeper restarted: the leaders keep serving, no leader changes.

Consumer groups are not in cluster mode yet (FindCoordinator answers
COORDINATOR_NOT_AVAILABLE), so everything is read back with assign() and the issue's
consumer-group scenario is not here.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from faults import (
    PRODUCE_V,
    list_offset,
    metadata,
    receive_response,
    scan_batches,
    segment_logs,
    send_request,
)
from harness import GreteCluster, JavaProgram, ZooKeeperProcess
from integration.raw_kafka import RawKafka

from grete.protocol import ApiKey, ErrorCode
from grete.records.builder import BatchSpec, Record, build_batch

from .history import Send, Stored, check_history, java_produce_history, produce_history, read_back

pytestmark = pytest.mark.cluster

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
    raw: RawKafka, topic: str, partition: int, value: bytes, correlation: int, timeout_ms: int
) -> None:
    """An acks=all Produce v9 of one record, not waiting for the answer."""
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
        acks=-1,
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


# -- the scenarios -----------------------------------------------------------------------


def test_kill_9_of_the_leader_elects_a_new_leader_within_10s_with_the_next_epoch(
    cluster: GreteCluster, topic_name: str, java_history_producer: JavaProgram
) -> None:
    create_replicated_topic(cluster, topic_name)
    with workload(cluster, topic_name, seconds=14, java=java_history_producer) as futures:
        before = state(cluster, topic_name, 0)
        victim = int(before["leader"])
        killed_at = time.monotonic()
        cluster.kill(victim)
        after = wait_new_leader(cluster, topic_name, 0, victim, killed_at)
        assert after["leader_epoch"] == before["leader_epoch"] + 1, (before, after)
        assert victim not in after["isr"], after
        survivors = [b for b in cluster.broker_ids if b != victim]
        wait_metadata_agrees(cluster, topic_name, survivors)
        history = histories(futures)

    assert_all_acked(history, "one broker died; the 30 s delivery timeout outlasts the failover")
    assert_history_clean(cluster, topic_name, history)


def test_rolling_sigterm_restart_of_every_broker_keeps_producing(
    cluster: GreteCluster, topic_name: str, java_history_producer: JavaProgram
) -> None:
    create_replicated_topic(cluster, topic_name)
    not_handed_over: list[str] = []
    with workload(cluster, topic_name, seconds=30, java=java_history_producer) as futures:
        committed = wait_committed_past(cluster, topic_name, {}, "before the restarts")
        for broker_id in cluster.broker_ids:
            cluster.terminate(broker_id)  # SIGTERM: a controlled shutdown; it must exit 0
            # It moved each of its leaderships to a live follower before it exited.
            leaders = {p: leader(cluster, topic_name, p) for p in range(PARTITIONS)}
            if {broker_id, NO_LEADER} & set(leaders.values()):
                not_handed_over.append(f"after broker {broker_id} stopped: leaders {leaders}")
            # Acks keep coming while it is away: two replicas are enough.
            committed = wait_committed_past(
                cluster, topic_name, committed, f"while broker {broker_id} is down"
            )
            cluster.restart(broker_id)
            wait_full_isr(cluster, topic_name, what=f"after broker {broker_id} restarted")
        history = histories(futures)

    # With controlled shutdown no partition is ever without a live leader: no send may fail.
    failed = [f"{send.value!r}: {send.error}" for send in history if not send.acked]
    report = check_history(history, read_back(cluster.bootstrap, topic_name, timeout=30))
    problems = [
        *not_handed_over,
        *([f"{len(failed)} sends failed: {failed[:5]}"] if failed else []),
    ]
    assert report.clean and not problems, "\n".join([str(report), *problems])


def test_kill_9_of_the_controller_elects_a_new_controller_with_the_next_epoch(
    cluster: GreteCluster, topic_name: str
) -> None:
    create_replicated_topic(cluster, topic_name)
    with workload(cluster, topic_name, seconds=12) as futures:
        controller = cluster.controller_id()
        epoch = cluster.controller_epoch()
        assert controller is not None and epoch is not None
        cluster.kill(controller)
        found: list[tuple[int | None, int | None]] = []

        def replaced() -> bool:
            # /controller is created before /controller_epoch is bumped: wait for both.
            found.append((cluster.controller_id(), cluster.controller_epoch()))
            return found[-1][0] not in (None, controller) and found[-1][1] != epoch

        cluster.wait_until(replaced, f"a controller other than broker {controller}", SETTLE)
        successor, new_epoch = found[-1]
        assert new_epoch == epoch + 1, f"controller epoch {epoch} -> {new_epoch}"
        assert successor is not None
        survivors = [b for b in cluster.broker_ids if b != controller]
        cluster.wait_until(
            lambda: all(metadata_controller(cluster, b) == successor for b in survivors),
            f"Metadata of brokers {survivors} names controller {successor}",
            10.0,
        )
        # The new controller does its duty: nothing is led by the dead broker any more.
        cluster.wait_until(
            lambda: all(
                leader(cluster, topic_name, p) not in (controller, NO_LEADER)
                for p in range(PARTITIONS)
            ),
            f"every partition led by a live broker after controller {controller} died",
            NEW_LEADER_WITHIN,
        )
        history = histories(futures)

    assert_all_acked(history, "one broker died; the 30 s delivery timeout outlasts the failover")
    assert_history_clean(cluster, topic_name, history)


def test_a_leader_paused_past_its_session_acks_nothing_then_follows(
    cluster: GreteCluster, topic_name: str
) -> None:
    create_replicated_topic(cluster, topic_name)
    probe = RawProbe("to-the-deposed-leader")
    stale_value = b"to-the-deposed-leader-0"
    with workload(cluster, topic_name, seconds=16) as futures:
        before = state(cluster, topic_name, 0)
        paused = int(before["leader"])
        with RawKafka(cluster.broker(paused).bootstrap, timeout=20.0) as raw:
            cluster.pause(paused)
            paused_at = time.monotonic()
            try:
                after = wait_new_leader(cluster, topic_name, 0, paused, paused_at)
                # Queued in the paused broker's socket: among the first things it sees on waking.
                send_produce(raw, topic_name, 0, stale_value, correlation=1, timeout_ms=5000)
            finally:
                cluster.resume(paused)
            answer = probe.answer(raw, stale_value, 0, correlation=1)
        assert after["leader_epoch"] == before["leader_epoch"] + 1, (before, after)
        assert answer != ErrorCode.none, "the deposed leader acked a write after losing leadership"
        # It follows now: it rejoins the ISR of every partition, under the new leader.
        wait_in_isr(cluster, topic_name, paused)
        assert leader(cluster, topic_name, 0) != paused
        wait_metadata_agrees(cluster, topic_name, cluster.broker_ids)
        history = histories(futures)

    assert_all_acked(
        history, "the leader was paused; the 30 s delivery timeout outlasts the failover"
    )
    stored = assert_history_clean(cluster, topic_name, history + probe.sends)
    assert stale_value not in {record.value for record in stored}, (
        f"the deposed leader's unacked write ({answer.name}) survived its truncation"
    )


def test_with_two_of_three_replicas_dead_nothing_is_acked_until_one_returns(
    cluster: GreteCluster, topic_name: str
) -> None:
    create_replicated_topic(cluster, topic_name)
    probe = RawProbe("raw-probe")
    with workload(cluster, topic_name, seconds=20) as futures:
        survivor = leader(cluster, topic_name, 0)
        victims = [b for b in cluster.broker_ids if b != survivor]
        with RawKafka(cluster.broker(survivor).bootstrap, timeout=20.0) as raw:
            for victim in victims:
                cluster.kill(victim)
            # Until the ISR shrinks, an acks=all write waits for replicas that never fetch.
            early = probe.produce(raw, topic_name, 0, timeout_ms=1000)
            assert early != ErrorCode.none, "acked with two of three replicas dead"
            cluster.wait_until(
                lambda: all(
                    state(cluster, topic_name, p)["isr"] == [survivor]
                    and leader(cluster, topic_name, p) == survivor
                    for p in range(PARTITIONS)
                ),
                f"{topic_name}: broker {survivor} alone leads and is the ISR",
                SETTLE,
            )

            # Then every acks=all produce is refused up front with NOT_ENOUGH_REPLICAS.
            def refused() -> bool:
                answers = [
                    probe.produce(raw, topic_name, p, timeout_ms=1000) for p in range(PARTITIONS)
                ]
                assert ErrorCode.none not in answers, f"acked with one replica alive: {answers}"
                return set(answers) == {ErrorCode.not_enough_replicas}

            cluster.wait_until(refused, "produce answered NOT_ENOUGH_REPLICAS", 10.0)
        client_probes = [b"client-probe-%d" % i for i in range(6)]
        reports = confluent_probe(cluster.bootstrap, topic_name, client_probes, timeout_ms=3000)
        # Not retried, librdkafka reports the broker's refusal itself (retried, it would only
        # say _MSG_TIMED_OUT once message.timeout.ms passed).
        assert set(reports.values()) == {"NOT_ENOUGH_REPLICAS"}, reports

        cluster.restart(victims[0])
        wait_in_isr(cluster, topic_name, victims[0])
        with RawKafka(cluster.broker(survivor).bootstrap, timeout=20.0) as raw:

            def acked_again() -> bool:
                answers = [
                    probe.produce(raw, topic_name, p, timeout_ms=5000) for p in range(PARTITIONS)
                ]
                assert set(answers) <= {ErrorCode.none, ErrorCode.not_enough_replicas}, answers
                return answers == [ErrorCode.none] * PARTITIONS

            # Bounded, not at the first try: for a moment after its own ISR write the leader
            # can re-apply an older cached partition state (ZkBroker._take_role).
            cluster.wait_until(
                acked_again, "acks=all produce acked again with a replica back", 10.0
            )
        history = histories(futures)
    after = produce_history(
        cluster.bootstrap, topic_name, count=200, rate=RATE, max_seconds=5, producer="after"
    )
    assert_all_acked(after, "two replicas in sync again")

    stored = assert_history_clean(
        cluster, topic_name, history + after + probe.sends + probe_sends(reports)
    )
    values = {record.value for record in stored}
    refused_values = probe.values(ErrorCode.not_enough_replicas) | set(client_probes)
    assert not values & refused_values, "a record refused with NOT_ENOUGH_REPLICAS was appended"


def probe_sends(reports: dict[bytes, str | None]) -> list[Send]:
    """The confluent probe's values as failed sends, so the checker knows them."""
    return [
        Send("client-probe", i, value, error=str(reports[value]))
        for i, value in enumerate(sorted(reports))
    ]


def test_two_quick_failovers_leave_byte_identical_replicas(
    cluster: GreteCluster, topic_name: str
) -> None:
    create_replicated_topic(cluster, topic_name)
    with workload(cluster, topic_name, seconds=18) as futures:
        first = state(cluster, topic_name, 0)
        victim = int(first["leader"])
        killed_at = time.monotonic()
        cluster.kill(victim)
        second = wait_new_leader(cluster, topic_name, 0, victim, killed_at)
        successor = int(second["leader"])
        killed_at = time.monotonic()
        cluster.kill(successor)
        third = wait_new_leader(cluster, topic_name, 0, successor, killed_at)
        assert third["leader"] not in (victim, successor), third
        assert (second["leader_epoch"], third["leader_epoch"]) == (
            first["leader_epoch"] + 1,
            first["leader_epoch"] + 2,
        ), (first, second, third)
        cluster.restart(victim)
        cluster.restart(successor)
        wait_full_isr(cluster, topic_name, what="after both restarted")
        history = histories(futures)

    wait_full_isr(cluster, topic_name, what="once producing stopped")
    ends = wait_equal_log_ends(cluster, topic_name)
    assert_history_clean(cluster, topic_name, history)
    for p in range(PARTITIONS):
        copies = {b: partition_bytes(cluster, b, topic_name, p) for b in cluster.broker_ids}
        reference = copies[cluster.broker_ids[0]]
        assert reference, f"{topic_name}-{p} is empty"
        for broker_id, data in copies.items():
            assert data == reference, (
                f"{topic_name}-{p}: broker {broker_id}'s log differs from broker "
                f"{cluster.broker_ids[0]}'s (log ends {ends[p]})"
            )


def partition_dir(cluster: GreteCluster, broker_id: int, topic: str, partition: int) -> Path:
    return cluster.broker(broker_id).data_dir / f"{topic}-{partition}"


def partition_bytes(cluster: GreteCluster, broker_id: int, topic: str, partition: int) -> bytes:
    return b"".join(
        path.read_bytes()
        for path in segment_logs(partition_dir(cluster, broker_id, topic, partition))
    )


def log_end_offset(cluster: GreteCluster, broker_id: int, topic: str, partition: int) -> int:
    """The log-end offset of a replica, read from its segment files (not asked of the broker)."""
    end = 0
    for path in segment_logs(partition_dir(cluster, broker_id, topic, partition)):
        batches = scan_batches(path.read_bytes())
        end = max([end, int(path.stem), *(b.last_offset + 1 for b in batches)])
    return end


def wait_equal_log_ends(cluster: GreteCluster, topic: str) -> dict[int, list[int]]:
    """Wait until, for every partition, all replicas' files end at the same offset."""
    ends: dict[int, list[int]] = {}

    def equal() -> bool:
        for p in range(PARTITIONS):
            ends[p] = [log_end_offset(cluster, b, topic, p) for b in cluster.broker_ids]
        return all(len(set(e)) == 1 for e in ends.values())

    cluster.wait_until(equal, f"{topic}: every replica at the same log-end offset", SETTLE)
    return ends


def test_leaders_keep_serving_while_zookeeper_restarts(
    cluster: GreteCluster, zookeeper: ZooKeeperProcess, topic_name: str
) -> None:
    create_replicated_topic(cluster, topic_name)
    before = {p: state(cluster, topic_name, p) for p in range(PARTITIONS)}
    probe = RawProbe("zk-down")
    with workload(cluster, topic_name, seconds=12) as futures:
        zookeeper.stop()
        try:
            # While ZooKeeper is away, each leader still takes acks=all writes and serves reads.
            during = []
            for p in range(PARTITIONS):
                with RawKafka(cluster.broker(before[p]["leader"]).bootstrap, timeout=10.0) as raw:
                    during.append(probe.produce(raw, topic_name, p, timeout_ms=5000))
            assert during == [ErrorCode.none] * PARTITIONS, during
            read_during = read_back(cluster.bootstrap, topic_name, timeout=45)
        finally:
            zookeeper.start()
        assert probe.values(ErrorCode.none) <= {r.value for r in read_during}
        history = histories(futures)

    after = {p: state(cluster, topic_name, p) for p in range(PARTITIONS)}
    assert {p: (s["leader"], s["leader_epoch"]) for p, s in after.items()} == {
        p: (s["leader"], s["leader_epoch"]) for p, s in before.items()
    }, "a leader changed although no broker failed"
    assert cluster.registered_brokers() == set(cluster.broker_ids)
    assert_all_acked(history, "only ZooKeeper restarted")
    assert_history_clean(cluster, topic_name, history + probe.sends)
