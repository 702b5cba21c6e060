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
- SIGSTOP the leader past its session timeout: once resumed it acks nothing (its stall
  fence refuses writes until ZooKeeper confirms its roles), follows the new leader and
  rejoins the ISR;
- kill 2 of 3 replicas: NOT_ENOUGH_REPLICAS and nothing acked; acks resume once a
  replica returns;
- two failovers in quick succession: the replicas end byte-identical;
- ZooKeeper restarted: the leaders keep serving, no leader changes.

Everything is read back with assign(); the consumer-group scenario (a coordinator killed)
is in test_cluster_groups.py, the network partitions in test_partitions.py.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from faults import scan_batches, segment_logs
from harness import GreteCluster, JavaProgram, ZooKeeperProcess
from integration.raw_kafka import RawKafka

from grete.protocol import ErrorCode

from .history import Send, check_history, produce_history, read_back
from .scenarios import (
    NEW_LEADER_WITHIN,
    NO_LEADER,
    PARTITIONS,
    RATE,
    SETTLE,
    RawProbe,
    assert_all_acked,
    assert_history_clean,
    confluent_probe,
    create_replicated_topic,
    histories,
    leader,
    metadata_controller,
    send_produce,
    state,
    wait_committed_past,
    wait_full_isr,
    wait_in_isr,
    wait_metadata_agrees,
    wait_new_leader,
    workload,
)

pytestmark = pytest.mark.cluster


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
    stale = {-1: b"to-the-deposed-leader-acks-all", 1: b"to-the-deposed-leader-acks-1"}
    with workload(cluster, topic_name, seconds=16) as futures:
        before = state(cluster, topic_name, 0)
        paused = int(before["leader"])
        with RawKafka(cluster.broker(paused).bootstrap, timeout=20.0) as raw:
            cluster.pause(paused)
            paused_at = time.monotonic()
            try:
                after = wait_new_leader(cluster, topic_name, 0, paused, paused_at)
                # Queued in the paused broker's socket: among the first things it sees on
                # waking, before kazoo tells it that its session expired.
                for correlation, (acks, value) in enumerate(stale.items(), start=1):
                    send_produce(raw, topic_name, 0, value, correlation, timeout_ms=5000, acks=acks)
            finally:
                cluster.resume(paused)
            answers = {
                acks: probe.answer(raw, value, 0, correlation)
                for correlation, (acks, value) in enumerate(stale.items(), start=1)
            }
        assert after["leader_epoch"] == before["leader_epoch"] + 1, (before, after)
        # Its stall fence answers both at once: it may no longer act as the leader.
        assert answers == {-1: ErrorCode.not_leader_or_follower, 1: ErrorCode.not_leader_or_follower}, answers
        # It follows now: it rejoins the ISR of every partition, under the new leader.
        wait_in_isr(cluster, topic_name, paused)
        assert leader(cluster, topic_name, 0) != paused
        wait_metadata_agrees(cluster, topic_name, cluster.broker_ids)
        history = histories(futures)

    assert_all_acked(
        history, "the leader was paused; the 30 s delivery timeout outlasts the failover"
    )
    stored = assert_history_clean(cluster, topic_name, history + probe.sends)
    # Refused before the append: neither write is in the log.
    assert not set(stale.values()) & {record.value for record in stored}


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
