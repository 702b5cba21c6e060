"""Consumer groups in a cluster: the coordinator is the leader of the group's
__consumer_offsets partition (replicated, RF 3), so a group survives the coordinator's
death: nothing is lost and no record whose offset was committed is read again."""

from __future__ import annotations

import threading
import time
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from harness import GreteCluster
from integration.groups.helpers import CommitLedger, produce_values, wait_for

from grete.coordinator.group.partitioner import partition_for

PARTITIONS = 6
PHASE = 600
OFFSETS_PARTITIONS = 50


class TolerantMember(threading.Thread):
    """A classic-protocol member that rides out a failover: a commit that fails (the
    coordinator moved) is not recorded, and the member carries on."""

    def __init__(
        self, name: str, ledger: CommitLedger, bootstrap: str, group: str, topic: str
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.member, self.ledger, self.bootstrap, self.group, self.topic = (
            name,
            ledger,
            bootstrap,
            group,
            topic,
        )
        self.stopping = threading.Event()
        self.failed_commits = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._consume()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def _consume(self) -> None:
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": self.group,
                "group.protocol": "classic",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 1000,
                "partition.assignment.strategy": "range",
            }
        )
        owned: set[int] = set()

        def on_assign(_: Any, partitions: list[TopicPartition]) -> None:
            owned.clear()
            owned.update(tp.partition for tp in partitions)

        def on_revoke(_: Any, partitions: list[TopicPartition]) -> None:
            owned.clear()

        consumer.subscribe(
            [self.topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_revoke
        )
        deadline = time.monotonic() + 120
        try:
            while not self.stopping.is_set() and time.monotonic() < deadline:
                messages = consumer.consume(num_messages=100, timeout=0.2)
                next_offsets: dict[int, int] = {}
                for m in messages:
                    if m.error() is not None:
                        continue  # transient: a broker went away
                    if m.partition() not in owned:
                        continue
                    self.ledger.receive(self.member, m.partition(), m.offset(), m.value())
                    next_offsets[m.partition()] = m.offset() + 1
                if not next_offsets:
                    continue
                offsets = [TopicPartition(self.topic, p, o) for p, o in next_offsets.items()]
                try:
                    consumer.commit(offsets=offsets, asynchronous=False)
                except KafkaException:
                    self.failed_commits += 1
                    continue
                self.ledger.commit(self.member, next_offsets)
        finally:
            consumer.close()


def test_group_consumes_through_a_coordinator_failover(cluster: GreteCluster) -> None:
    topic, group = "orders", "billing"
    bootstrap = cluster.bootstrap
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, PARTITIONS, 3)])[topic].result(30)
    ledger = CommitLedger()
    expected = produce_values(bootstrap, topic, PARTITIONS, 0, PHASE)
    members = [TolerantMember(n, ledger, bootstrap, group, topic) for n in ("a", "b")]
    for member in members:
        member.start()
    try:
        wait_for(
            lambda: len({(r.partition, r.offset) for r in ledger.snapshot()[0]}) >= PHASE,
            60,
            "the group to read the first phase",
        )
        index = partition_for(group, OFFSETS_PARTITIONS)
        state = cluster.partition_state("__consumer_offsets", index)
        assert state is not None
        coordinator, epoch = int(state["leader"]), int(state["leader_epoch"])
        cluster.kill(coordinator)
        expected |= produce_values(bootstrap, topic, PARTITIONS, PHASE, PHASE)

        def moved() -> bool:
            now = cluster.partition_state("__consumer_offsets", index)
            return (
                now is not None
                and now["leader"] not in (coordinator, -1)
                and now["leader_epoch"] > epoch
            )

        cluster.wait_until(moved, "a new coordinator for the group", timeout=20)
        wait_for(
            lambda: {r.value for r in ledger.snapshot()[0]} >= set(expected),
            90,
            "the group to read everything after the failover",
        )
    finally:
        for member in members:
            member.stopping.set()
        for member in members:
            member.join(30)
    for member in members:
        assert member.error is None, f"member {member.member} failed: {member.error!r}"
    records, _ = ledger.snapshot()
    assert {r.value for r in records} >= set(expected), "every record read"
    assert ledger.rereads_of_committed() == [], (
        "no record read again after its offset was committed"
    )
    # The committed offsets survived the coordinator's death: a new member starts there.
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        committed = consumer.committed(
            [TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=20
        )
    finally:
        consumer.close()
    # A commit whose answer was lost with the coordinator may still have landed: at least.
    stored = {tp.partition: tp.offset for tp in committed}
    for partition, offset in ledger.group_committed().items():
        assert stored[partition] >= offset, (partition, stored, ledger.group_committed())
    cluster.restart(coordinator)
