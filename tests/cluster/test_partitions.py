"""Network partitions on a 3-broker cluster (RF 3, min.insync.replicas 2), judged by the
history check, as in test_failover.py.

The brokers reach ZooKeeper and each other only through proxies (`partitionable_cluster`),
which the test cuts in blackhole mode: packets vanish, nothing is closed, only timeouts
notice. Clients always reach every broker.

- The leader parted from its followers, still reaching ZooKeeper: it drops them from the
  ISR itself and, below min.insync.replicas, refuses acks=all writes with
  NOT_ENOUGH_REPLICAS; the other partitions keep acking with two replicas; once healed,
  the followers catch up and rejoin, and nothing acked is lost.
- The leader parted from ZooKeeper and its peers (a split brain: clients still reach it):
  its session expires, the controller elects a new leader with the next epoch, and the
  old leader, which has not heard, can commit nothing (its followers left and it cannot
  shrink the ISR without ZooKeeper). Once healed it learns its session expired,
  registers again, follows, and its uncommitted write is truncated away.
"""

from __future__ import annotations

import time

import pytest
from harness import GreteCluster
from integration.raw_kafka import RawKafka

from grete.protocol import ErrorCode

from .scenarios import (
    PARTITIONS,
    SETTLE,
    RawProbe,
    assert_all_acked,
    assert_history_clean,
    create_replicated_topic,
    histories,
    leader,
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


def test_a_leader_parted_from_its_followers_shrinks_its_isr_and_refuses_acks_all(
    partitionable_cluster: GreteCluster, topic_name: str
) -> None:
    cluster = partitionable_cluster
    create_replicated_topic(cluster, topic_name)
    probe = RawProbe("parted-leader")
    with workload(cluster, topic_name, seconds=24) as futures:
        parted = leader(cluster, topic_name, 0)
        led = [p for p in range(PARTITIONS) if leader(cluster, topic_name, p) == parted]
        others = [p for p in range(PARTITIONS) if p not in led]
        before = {p: state(cluster, topic_name, p) for p in range(PARTITIONS)}
        cluster.isolate_from_peers(parted)
        try:
            # It still reaches ZooKeeper: it shrinks its own partitions' ISR to itself,
            # keeping its leadership and leader epoch; the other leaders drop it.
            def shrunk() -> bool:
                states = {p: state(cluster, topic_name, p) for p in range(PARTITIONS)}
                return all(states[p]["isr"] == [parted] for p in led) and all(
                    parted not in states[p]["isr"] for p in others
                )

            cluster.wait_until(
                shrunk, f"broker {parted} parted out of every ISR but its own", SETTLE
            )
            for p in led:
                s = state(cluster, topic_name, p)
                assert (s["leader"], s["leader_epoch"]) == (parted, before[p]["leader_epoch"]), s
            with RawKafka(cluster.broker(parted).bootstrap, timeout=20.0) as raw:
                answers = [probe.produce(raw, topic_name, p, timeout_ms=1000) for p in led]
            assert answers == [ErrorCode.not_enough_replicas] * len(led), answers
            # Two replicas are still enough where the parted broker only followed.
            if others:
                committed = {p: 0 for p in range(PARTITIONS)}
                wait_committed_past(cluster, topic_name, committed, "while parted", at_least=1)
        finally:
            cluster.heal(parted)
        wait_full_isr(cluster, topic_name, what=f"after broker {parted} rejoined its peers")
        history = histories(futures)

    assert [leader(cluster, topic_name, p) for p in led] == [parted] * len(led)
    assert_all_acked(history, "the partition healed within the 30 s delivery timeout")
    stored = assert_history_clean(cluster, topic_name, history + probe.sends)
    refused = probe.values(ErrorCode.not_enough_replicas)
    assert refused and not refused & {record.value for record in stored}


def test_a_leader_parted_from_zookeeper_and_its_peers_commits_nothing_then_follows(
    partitionable_cluster: GreteCluster, topic_name: str
) -> None:
    cluster = partitionable_cluster
    create_replicated_topic(cluster, topic_name)
    probe = RawProbe("split-brain")
    stale_value = b"split-brain-0"
    with workload(cluster, topic_name, seconds=24) as futures:
        before = state(cluster, topic_name, 0)
        old = int(before["leader"])
        with RawKafka(cluster.broker(old).bootstrap, timeout=30.0) as raw:
            cluster.isolate(old)
            try:
                after = wait_new_leader(cluster, topic_name, 0, old, time.monotonic())
                assert after["leader_epoch"] == before["leader_epoch"] + 1, (before, after)
                assert old not in after["isr"], after
                # The old leader has heard nothing; clients still reach it. It appends the
                # write but can commit nothing.
                send_produce(raw, topic_name, 0, stale_value, correlation=1, timeout_ms=3000)
                answer = probe.answer(raw, stale_value, 0, correlation=1)
                assert answer != ErrorCode.none, "a leader parted from everyone acked a write"
            finally:
                cluster.heal(old)
        # Its session expired: it registers again and follows the new leader.
        wait_in_isr(cluster, topic_name, old)
        assert leader(cluster, topic_name, 0) != old
        wait_metadata_agrees(cluster, topic_name, cluster.broker_ids)
        history = histories(futures)

    assert_all_acked(history, "clients find the new leader within the 30 s delivery timeout")
    stored = assert_history_clean(cluster, topic_name, history + probe.sends)
    assert stale_value not in {record.value for record in stored}, (
        f"the split-brain leader's uncommitted write ({answer.name}) survived its truncation"
    )
