"""Group churn with real clients: a member joins, leaves cleanly, is SIGKILLed, restarts statically.

Members commit synchronously after each batch (threads) or each message (the subprocess
member), so after any takeover no record below a partition's committed offset may be
read again, and every record must be read.
"""

from __future__ import annotations

import time
from collections import Counter

from harness import ServerProcess
from harness.kafka import create_topic

from grete.protocol import ApiKey, ErrorCode

from ..raw_kafka import RawKafka
from .helpers import (
    SESSION_TIMEOUT_MS,
    ConfluentMember,
    Ledger,
    ProcessMember,
    balanced,
    produce_values,
    python_member_command,
    stop_all,
    wait_for,
)

PARTITIONS = 6
PHASE = 600  # records produced per phase, 100 per partition
REBALANCE_S = 10.0  # allowance for one rebalance on a 2-core machine


class Phases:
    """Produces the phases of distinct records and waits until the group has read them."""

    def __init__(self, bootstrap: str, topic: str, ledger: Ledger) -> None:
        self.bootstrap, self.topic, self.ledger = bootstrap, topic, ledger
        self.produced = 0
        self.expected: dict[bytes, int] = {}

    def produce(self) -> None:
        self.expected |= produce_values(
            self.bootstrap, self.topic, PARTITIONS, self.produced, PHASE
        )
        self.produced += PHASE

    def read_by(self, partitions: frozenset[int] | None = None) -> int:
        records, _ = self.ledger.snapshot()
        seen = {(r.partition, r.offset) for r in records}
        return sum(1 for p, _ in seen if partitions is None or p in partitions)

    def wait_read(self, partitions: frozenset[int] | None = None, timeout: float = 60) -> None:
        share = PARTITIONS if partitions is None else len(partitions)
        want = self.produced // PARTITIONS * share
        wait_for(
            lambda: self.read_by(partitions) >= want, timeout, f"{want} records on {partitions}"
        )


def test_join_leave_and_kill_move_partitions_without_rereading_commits(
    group_broker: ServerProcess, topic_name: str, group_id: str
) -> None:
    bootstrap = group_broker.bootstrap
    create_topic(bootstrap, topic_name, PARTITIONS)
    ledger = Ledger()
    phases = Phases(bootstrap, topic_name, ledger)
    a, b = (ConfluentMember(n, ledger, bootstrap, group_id, topic_name) for n in ("a", "b"))
    joiner = ConfluentMember("c", ledger, bootstrap, group_id, topic_name)
    victim: ProcessMember | None = None
    try:
        a.start(), b.start()
        wait_for(lambda: balanced(ledger, ["a", "b"], PARTITIONS), 60, "a and b to share the topic")
        phases.produce()
        phases.wait_read()

        # A member joins: the partitions are redistributed over three.
        joiner.start()
        wait_for(
            lambda: balanced(ledger, ["a", "b", "c"], PARTITIONS),
            REBALANCE_S + 5,
            "c to get a share",
        )
        phases.produce()
        phases.wait_read()
        assert any(r.member == "c" for r in ledger.snapshot()[0]), "c joined but read nothing"

        # It leaves cleanly: LeaveGroup hands its partitions over before any session timeout.
        joiner.stop()
        took = wait_for(
            lambda: balanced(ledger, ["a", "b"], PARTITIONS),
            REBALANCE_S,
            "a and b to take c's share",
        )
        assert took < SESSION_TIMEOUT_MS / 1000, f"takeover after LeaveGroup took {took:.1f}s"
        phases.produce()
        phases.wait_read()

        # A slow member in a subprocess joins, commits as it goes, and is SIGKILLed mid-phase.
        victim = ProcessMember(
            "k", ledger, python_member_command(bootstrap, group_id, topic_name, delay_ms=25)
        )
        wait_for(
            lambda: balanced(ledger, ["a", "b", "k"], PARTITIONS),
            REBALANCE_S + 10,
            "k to get a share",
        )
        owned = ledger.snapshot()[1]
        victim_share = owned["k"]
        before_phase = len([r for r in ledger.snapshot()[0] if r.member == "k"])
        phases.produce()
        phases.wait_read(owned["a"] | owned["b"])  # the survivors are idle when k dies
        wait_for(lambda: len([r for r in ledger.snapshot()[0] if r.member == "k"]) >= before_phase + 20,
                 30, "k to read 20 records")  # fmt: skip
        victim.kill()
        killed_at = ledger.count()
        committed_at_kill = ledger.group_committed()
        victim_last = {}
        for r in ledger.snapshot()[0]:
            if r.member == "k":
                victim_last[r.partition] = max(victim_last.get(r.partition, -1), r.offset)
        assert any(o < phases.produced // PARTITIONS - 1 for o in victim_last.values()), (
            "k finished before the kill"
        )

        took = wait_for(lambda: balanced(ledger, ["a", "b"], PARTITIONS),
                        SESSION_TIMEOUT_MS / 1000 + REBALANCE_S, "a and b to take k's share")  # fmt: skip
        print(f"takeover after SIGKILL: {took:.2f}s")
        phases.wait_read()
        phases.produce()
        phases.wait_read()
        time.sleep(1.0)  # room for a late duplicate
    finally:
        if victim is not None:
            victim.kill()
        stop_all([a, b, joiner])

    records, _ = ledger.snapshot()
    # Every record was read.
    assert {r.value for r in records} == set(phases.expected)
    assert all(phases.expected[r.value] == r.partition for r in records)
    # After the kill, the survivors resumed each of k's partitions at k's last commit.
    for partition in victim_share:
        after = [
            r.offset for r in records[killed_at:] if r.member != "k" and r.partition == partition
        ]
        assert after, f"nobody read partition {partition} after k died"
        low, high = committed_at_kill.get(partition, 0), victim_last.get(partition, -1) + 1
        assert low <= min(after) <= max(low, high), (partition, min(after), low, high)
    # The only records read twice are ones k read and had not committed when it died.
    reads = Counter((r.partition, r.offset) for r in records)
    for (partition, offset), times in reads.items():
        if times > 1:
            assert times == 2 and partition in victim_share, (partition, offset, times)
            assert offset >= committed_at_kill.get(partition, 0), (partition, offset)


def describe_members(bootstrap: str, group: str) -> tuple[str, dict[str | None, str]]:
    """(state, {group.instance.id: member id}) from DescribeGroups v5, which carries instance ids."""
    with RawKafka(bootstrap) as raw:
        response = raw.request(
            ApiKey.DESCRIBE_GROUPS, 5, groups=[group], include_authorized_operations=False
        )
    (described,) = response.groups
    assert described.error_code == ErrorCode.none, described
    return described.group_state, {m.group_instance_id: m.member_id for m in described.members}


def test_restarting_a_static_member_does_not_rebalance_the_others(
    group_broker: ServerProcess, topic_name: str, group_id: str
) -> None:
    bootstrap = group_broker.bootstrap
    create_topic(bootstrap, topic_name, PARTITIONS)
    ledger = Ledger()

    def static(name: str) -> ConfluentMember:
        extra = {"group.instance.id": f"static-{name}", "session.timeout.ms": 10_000}
        return ConfluentMember(name, ledger, bootstrap, group_id, topic_name, extra=extra)

    a, b = static("a"), static("b")
    restarted: ConfluentMember | None = None
    try:
        a.start(), b.start()
        wait_for(lambda: balanced(ledger, ["a", "b"], PARTITIONS), 60, "a and b to share the topic")
        time.sleep(2.0)  # let any trailing rebalance settle before counting
        wait_for(lambda: balanced(ledger, ["a", "b"], PARTITIONS), 30, "a stable group")
        a_assigns, owned = a.assign_calls, ledger.snapshot()[1]
        state, members = describe_members(bootstrap, group_id)
        assert state == "Stable" and set(members) == {"static-a", "static-b"}, (state, members)

        b.stop()  # a static member's close sends no LeaveGroup: the group keeps its slot
        restarted = static("b")
        restarted.start()
        wait_for(
            lambda: ledger.snapshot()[1].get("b") == owned["b"], 8, "b to get its partitions back"
        )
        time.sleep(3.0)  # three of a's heartbeats: a rebalance would reach a by now

        assert a.assign_calls == a_assigns, "a was rebalanced when static member b restarted"
        assert ledger.snapshot()[1]["a"] == owned["a"]
        state_after, members_after = describe_members(bootstrap, group_id)
        assert state_after == "Stable"
        assert members_after["static-a"] == members["static-a"]
        # Kafka hands a rejoining static member a new member id and fences the old one.
        assert members_after["static-b"] != members["static-b"]
        assert set(members_after) == {"static-a", "static-b"}

        # The restarted member still reads its partitions: produce and see every record once.
        expected = produce_values(bootstrap, topic_name, PARTITIONS, 0, PHASE)
        wait_for(lambda: ledger.count() >= PHASE, 60, "the group to read a phase")
    finally:
        stop_all([a, b, restarted])  # b may be stopped already: stop() is idempotent
    records, _ = ledger.snapshot()
    assert sorted(r.value for r in records) == sorted(expected)
    assert all(r.member == "b" for r in records if r.partition in owned["b"])
