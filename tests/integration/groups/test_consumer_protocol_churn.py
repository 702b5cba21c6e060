"""KIP-848 groups (librdkafka `group.protocol=consumer`) under churn, static members and restarts.

The broker runs with a 6 s consumer-group session and 500 ms heartbeats. Members commit
synchronously after each batch (threads) or each message (the subprocess member), only
for partitions they still own, so whatever happens to the group no record may be read
after some member committed past it (`CommitLedger.rereads_of_committed`), and every
record must be read. Only what a client can see is asserted: after a broker restart the
members may keep their epochs or be fenced and rejoin, and both must hold.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, Producer
from confluent_kafka.admin import AdminClient
from harness import ServerProcess
from harness.kafka import create_topic

from .helpers import (
    CommitLedger,
    ConsumerProtocolMember,
    ProcessMember,
    balanced,
    fast_group_args,
    on_tansu,
    produce_values,
    python_member_command,
    stop_all,
    wait_for,
)

pytestmark = pytest.mark.skipif(
    on_tansu(), reason="Tansu takes no --override flags and keeps no state across restarts here"
)

PARTITIONS = 6
PHASE = 600  # records produced per phase, 100 per partition
SESSION_S = 6.0  # group.consumer.session.timeout.ms
HEARTBEAT_S = 0.5  # group.consumer.heartbeat.interval.ms
REBALANCE_S = 10.0  # allowance for one rebalance on a loaded 2-core machine
KIP848_ARGS = (
    "--override", f"group.consumer.session.timeout.ms={int(SESSION_S * 1000)}",
    "--override", f"group.consumer.heartbeat.interval.ms={int(HEARTBEAT_S * 1000)}",
)  # fmt: skip
# Reconnect quickly after a broker restart (librdkafka backs off up to 10 s by default).
QUICK_RECONNECT = {"reconnect.backoff.ms": 100, "reconnect.backoff.max.ms": 500}


@pytest.fixture
def kip848_broker(broker_factory) -> ServerProcess:  # type: ignore[no-untyped-def]
    broker: ServerProcess = broker_factory(*fast_group_args(), *KIP848_ARGS, name="grete")
    return broker


class Stream:
    """Produces phases of distinct records and waits until the group has read them."""

    def __init__(self, bootstrap: str, topic: str, ledger: CommitLedger) -> None:
        self.bootstrap, self.topic, self.ledger = bootstrap, topic, ledger
        self.produced = 0
        self.expected: dict[bytes, int] = {}

    def produce(self, count: int = PHASE) -> None:
        self.expected |= produce_values(
            self.bootstrap, self.topic, PARTITIONS, self.produced, count
        )
        self.produced += count

    def read_on(self, partitions: frozenset[int] | None) -> int:
        """Distinct records read so far on `partitions` (None: all)."""
        records, _ = self.ledger.snapshot()
        seen = {(r.partition, r.offset) for r in records}
        return sum(1 for p, _ in seen if partitions is None or p in partitions)

    def wait_read(self, partitions: frozenset[int] | None = None, timeout: float = 30) -> None:
        share = PARTITIONS if partitions is None else len(partitions)
        want = self.produced // PARTITIONS * share
        wait_for(
            lambda: self.read_on(partitions) >= want, timeout, f"{want} records on {partitions}"
        )

    def end_offsets(self) -> dict[int, int]:
        return dict.fromkeys(range(PARTITIONS), self.produced // PARTITIONS)


def group_offsets(bootstrap: str, group: str) -> dict[int, int]:
    """OffsetFetch through AdminClient.list_consumer_group_offsets: partition -> committed."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])
    result = futures[group].result(30)
    return {tp.partition: tp.offset for tp in result.topic_partitions if tp.error is None}


def describe(bootstrap: str, group: str) -> dict[str, tuple[str | None, frozenset[int]]]:
    """ConsumerGroupDescribe through AdminClient: member id -> (instance id, partitions)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    described = admin.describe_consumer_groups([group])[group].result(30)
    return {
        m.member_id: (
            m.group_instance_id,
            frozenset(tp.partition for tp in m.assignment.topic_partitions),
        )
        for m in described.members
    }


def assert_invariants(ledger: CommitLedger, expected: dict[bytes, int]) -> None:
    """Every produced record was read, on its partition; none after a commit covered it."""
    records, _ = ledger.snapshot()
    missing = set(expected) - {r.value for r in records}
    assert not missing, f"{len(missing)} records never read, e.g. {sorted(missing)[:5]}"
    assert all(expected[r.value] == r.partition for r in records)
    rereads = ledger.rereads_of_committed()
    assert not rereads, f"{len(rereads)} records read after a commit past them: {rereads[:5]}"


def duplicates(ledger: CommitLedger) -> Iterator[tuple[int, int, list[str]]]:
    """(partition, offset, readers in order) of each record read more than once."""
    records, _ = ledger.snapshot()
    readers: dict[tuple[int, int], list[str]] = {}
    for r in records:
        readers.setdefault((r.partition, r.offset), []).append(r.member)
    return ((p, o, names) for (p, o), names in readers.items() if len(names) > 1)


def failed_commit_on(member: ConsumerProtocolMember, partition: int) -> bool:
    return any(partition in offsets for _, offsets in member.commit_errors)


def test_join_leave_and_kill_move_partitions_without_rereading_commits(
    kip848_broker: ServerProcess, topic_name: str, group_id: str
) -> None:
    bootstrap = kip848_broker.bootstrap
    create_topic(bootstrap, topic_name, PARTITIONS)
    ledger = CommitLedger()
    stream = Stream(bootstrap, topic_name, ledger)
    a, b, c = (
        ConsumerProtocolMember(n, ledger, bootstrap, group_id, topic_name) for n in ("a", "b", "c")
    )
    victim: ProcessMember | None = None
    try:
        a.start()
        b.start()
        wait_for(lambda: balanced(ledger, ["a", "b"], PARTITIONS), 30, "a and b to share the topic")
        stream.produce()
        stream.wait_read()

        # A member joins: the partitions spread over three, 2/2/2.
        c.start()
        wait_for(lambda: balanced(ledger, ["a", "b", "c"], PARTITIONS), REBALANCE_S, "c's share")
        stream.produce()
        stream.wait_read()
        assert any(r.member == "c" for r in ledger.snapshot()[0]), "c joined but read nothing"

        # It leaves cleanly: its leave heartbeat (epoch -1) removes it at once, so it is
        # gone and a and b own its partitions well before its session would have expired.
        c_id = c.member_id
        c.stop()
        wait_for(lambda: c_id not in describe(bootstrap, group_id), SESSION_S / 2,
                 "the broker to drop c after its leave heartbeat", poll=0.2)  # fmt: skip
        took = wait_for(lambda: balanced(ledger, ["a", "b"], PARTITIONS), SESSION_S, "c's share")
        print(f"takeover after a clean leave: {took:.2f}s")
        stream.produce()
        stream.wait_read()

        # A slow member in a subprocess joins, commits as it goes, and is SIGKILLed mid-phase.
        command = python_member_command(
            bootstrap, group_id, topic_name, delay_ms=25, protocol="consumer"
        )
        victim = ProcessMember("k", ledger, command)
        wait_for(
            lambda: balanced(ledger, ["a", "b", "k"], PARTITIONS), REBALANCE_S + 5, "k's share"
        )
        owned = ledger.snapshot()[1]
        victim_share = owned["k"]
        before = sum(1 for r in ledger.snapshot()[0] if r.member == "k")
        stream.produce()
        stream.wait_read(owned["a"] | owned["b"])  # the survivors are idle when k dies
        wait_for(lambda: sum(1 for r in ledger.snapshot()[0] if r.member == "k") >= before + 20,
                 20, "k to read 20 records")  # fmt: skip
        victim.kill()
        killed_at = ledger.count()
        committed_at_kill = ledger.group_committed()
        victim_last: dict[int, int] = {}
        for r in ledger.snapshot()[0]:
            if r.member == "k":
                victim_last[r.partition] = max(victim_last.get(r.partition, -1), r.offset)
        assert any(
            victim_last.get(p, -1) < stream.produced // PARTITIONS - 1 for p in victim_share
        ), "k finished its share before the kill"

        # Only the session timeout tells the broker k is gone.
        took = wait_for(lambda: balanced(ledger, ["a", "b"], PARTITIONS),
                        SESSION_S + REBALANCE_S, "a and b to take k's share")  # fmt: skip
        print(f"takeover after SIGKILL: {took:.2f}s")
        stream.wait_read()
        stream.produce()
        stream.wait_read()
        wait_for(lambda: group_offsets(bootstrap, group_id) == stream.end_offsets(), 15,
                 "the group to commit every record", poll=0.5)  # fmt: skip
    finally:
        if victim is not None:
            victim.kill()
        stop_all([a, b, c])

    print(f"commit errors: a={a.commit_errors[:3]} b={b.commit_errors[:3]} c={c.commit_errors[:3]}")
    assert_invariants(ledger, stream.expected)
    records, _ = ledger.snapshot()
    # The survivors resumed each of k's partitions at k's last commit.
    for partition in victim_share:
        after = [
            r.offset for r in records[killed_at:] if r.member != "k" and r.partition == partition
        ]
        assert after, f"nobody read partition {partition} after k died"
        low, high = committed_at_kill.get(partition, 0), victim_last.get(partition, -1) + 1
        assert low <= min(after) <= max(low, high), (partition, min(after), low, high)
    # A record is read twice only if its first reader could not commit it: k, killed
    # between reading and committing, or a member whose commit the broker refused.
    threads = {"a": a, "b": b, "c": c}
    for partition, offset, readers in duplicates(ledger):
        first = readers[0]
        if first == "k":
            assert partition in victim_share and offset >= committed_at_kill.get(partition, 0)
        else:
            assert failed_commit_on(threads[first], partition), (partition, offset, readers)


def test_restarting_a_static_member_does_not_rebalance_the_others(
    kip848_broker: ServerProcess, topic_name: str, group_id: str
) -> None:
    """librdkafka 2.16 sends group.instance.id in ConsumerGroupHeartbeat and leaves with
    epoch -2 on close(); the broker keeps the static member's partitions for its next
    incarnation until the session times out."""
    bootstrap = kip848_broker.bootstrap
    create_topic(bootstrap, topic_name, PARTITIONS)
    ledger = CommitLedger()

    def static(name: str, instance: str) -> ConsumerProtocolMember:
        extra = {"group.instance.id": f"static-{instance}"}
        return ConsumerProtocolMember(name, ledger, bootstrap, group_id, topic_name, extra=extra)

    a, b = static("a", "a"), static("b", "b")
    restarted = static("b2", "b")
    try:
        a.start()
        b.start()
        wait_for(lambda: balanced(ledger, ["a", "b"], PARTITIONS), 30, "a and b to share the topic")
        owned = ledger.snapshot()[1]
        wanted = {a.member_id: ("static-a", owned["a"]), b.member_id: ("static-b", owned["b"])}
        wait_for(lambda: describe(bootstrap, group_id) == wanted, 5,
                 "ConsumerGroupDescribe to show the members' assignments", poll=0.2)  # fmt: skip
        time.sleep(2 * HEARTBEAT_S)  # let the first rebalance's last callbacks run
        a_callbacks = len(a.callbacks)

        b.stop()  # a static member's close is a temporary leave: its slot stays
        time.sleep(4 * HEARTBEAT_S)  # a heartbeats meanwhile: a rebalance would reach it now
        during = {i: p for i, p in describe(bootstrap, group_id).values()}
        assert during == {"static-a": owned["a"], "static-b": owned["b"]}, during
        assert ledger.snapshot()[1]["a"] == owned["a"]

        restarted.start()
        wait_for(lambda: ledger.snapshot()[1].get("b2") == owned["b"], REBALANCE_S,
                 "the new incarnation of b to get b's partitions")  # fmt: skip
        time.sleep(4 * HEARTBEAT_S)
        assert a.callbacks[a_callbacks:] == [], "a was rebalanced when static member b restarted"
        assert restarted.callbacks == [("assign", owned["b"])]
        after = describe(bootstrap, group_id)
        assert after == {
            a.member_id: ("static-a", owned["a"]),
            restarted.member_id: ("static-b", owned["b"]),
        }
        assert restarted.member_id != b.member_id  # a new incarnation took over the instance

        # The new incarnation reads b's partitions: every record once, nothing by a.
        expected = produce_values(bootstrap, topic_name, PARTITIONS, 0, PHASE)
        wait_for(lambda: ledger.count() >= PHASE, 30, "the group to read a phase")
        time.sleep(0.5)  # room for a stray duplicate
    finally:
        stop_all([a, b, restarted])
    records, _ = ledger.snapshot()
    assert sorted(r.value for r in records) == sorted(expected)
    assert all(r.member == "b2" for r in records if r.partition in owned["b"])
    assert a.callbacks[a_callbacks:] == [("revoke", owned["a"])], "a revokes only on close"


# --- broker restarts ---------------------------------------------------------------------

# A different count per partition, so a resume at another partition's offset shows.
FIRST = {p: 20 * (p + 1) for p in range(PARTITIONS)}
SECOND = {p: 15 for p in range(PARTITIONS)}


def produce_counts(bootstrap: str, topic: str, counts: dict[int, int], tag: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for partition, count in counts.items():
        for i in range(count):
            producer.produce(topic, value=f"{tag}-{partition}-{i}".encode(), partition=partition)
    assert producer.flush(30) == 0


def read_counts(
    bootstrap: str, group: str, topic: str, counts: dict[int, int], tag: str
) -> CommitLedger:
    """Two members join, then `counts` records are produced; they read them all and close."""
    ledger = CommitLedger()
    names = [f"{tag}-a", f"{tag}-b"]
    members = [ConsumerProtocolMember(n, ledger, bootstrap, group, topic) for n in names]
    try:
        for member in members:
            member.start()
        wait_for(lambda: balanced(ledger, names, PARTITIONS), 30, f"{tag} members to balance")
        produce_counts(bootstrap, topic, counts, tag)
        want = sum(counts.values())
        wait_for(lambda: ledger.count() >= want, 30, f"{want} records in {tag}")
        time.sleep(0.5)  # room for a stray duplicate
    finally:
        stop_all(members)
    for member in members:
        assert member.commit_errors == [], (member.member, member.commit_errors[:3])
    return ledger


def test_group_resumes_at_committed_offsets_after_broker_restart(
    kip848_broker: ServerProcess, topic_name: str, group_id: str
) -> None:
    bootstrap = kip848_broker.bootstrap
    create_topic(bootstrap, topic_name, PARTITIONS)
    before = read_counts(bootstrap, group_id, topic_name, FIRST, "first")
    assert Counter(r.partition for r in before.snapshot()[0]) == FIRST
    assert group_offsets(bootstrap, group_id) == FIRST

    kip848_broker.stop(check=True)
    kip848_broker.start()

    assert group_offsets(bootstrap, group_id) == FIRST
    after = read_counts(bootstrap, group_id, topic_name, SECOND, "second")
    records, _ = after.snapshot()
    assert sorted((r.partition, r.offset) for r in records) == sorted(
        (p, FIRST[p] + i) for p in range(PARTITIONS) for i in range(SECOND[p])
    ), "the group did not resume exactly at its committed offsets"
    assert all(r.value.startswith(b"second-%d-" % r.partition) for r in records)
    assert group_offsets(bootstrap, group_id) == {
        p: FIRST[p] + SECOND[p] for p in range(PARTITIONS)
    }


def test_members_keep_consuming_across_a_broker_restart(
    kip848_broker: ServerProcess, topic_name: str, group_id: str
) -> None:
    bootstrap = kip848_broker.bootstrap
    create_topic(bootstrap, topic_name, PARTITIONS)
    ledger = CommitLedger()
    stream = Stream(bootstrap, topic_name, ledger)
    # Slow readers (10 records, then 50 ms) so the restart lands mid-stream.
    a, b = (
        ConsumerProtocolMember(
            n, ledger, bootstrap, group_id, topic_name,
            extra=QUICK_RECONNECT, batch=10, pause_s=0.05,
        )
        for n in ("a", "b")
    )  # fmt: skip
    try:
        a.start()
        b.start()
        wait_for(lambda: balanced(ledger, ["a", "b"], PARTITIONS), 30, "a and b to share the topic")
        stream.produce()
        wait_for(lambda: ledger.count() >= PHASE // 4, 30, "a quarter of the phase to be read")
        kip848_broker.restart(check=True)
        restarted_at = ledger.count()
        assert restarted_at < PHASE, "the members read the whole phase before the restart"

        stream.wait_read()
        stream.produce()
        stream.wait_read()
        wait_for(lambda: group_offsets(bootstrap, group_id) == stream.end_offsets(), 15,
                 "the group to commit every record", poll=0.5)  # fmt: skip
        readers_after = {r.member for r in ledger.snapshot()[0][restarted_at:]}
        assert readers_after == {"a", "b"}, f"only {readers_after} read after the restart"
    finally:
        stop_all([a, b])
    print(f"after restart: callbacks a={a.callbacks} b={b.callbacks}")
    print(f"commit errors: a={a.commit_errors[:3]} b={b.commit_errors[:3]}; errors {a.errors[:3]}")
    assert_invariants(ledger, stream.expected)
    for partition, offset, readers in duplicates(ledger):
        first = {"a": a, "b": b}[readers[0]]
        assert failed_commit_on(first, partition), (partition, offset, readers)
