"""`grete group ...` run as a real subprocess against the session's Grete broker.

Groups are made the way users make them: `grete consume --group` commits what it read, or a
confluent-kafka consumer stays subscribed (in a thread, bounded in time) to keep a group
Stable. Committed offsets are checked independently with an AdminClient.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from .test_cli import FAST_GROUP, Cli, assert_one_line_error

HOUR_MS = 3_600_000
STABLE_TIMEOUT_S = 30.0
MEMBER_LIFETIME_S = 90.0
CONSUME = f"--from-beginning --timeout 40 {FAST_GROUP}"


@pytest.fixture
def cli(shared_broker) -> Cli:  # type: ignore[no-untyped-def]
    return Cli(str(shared_broker.bootstrap))


@pytest.fixture
def names() -> tuple[str, str]:
    """A fresh (topic, group) pair."""
    stem = uuid.uuid4().hex[:10]
    return f"cli-group-{stem}", f"cli-group-{stem}-g"


def now_ms() -> int:
    return int(time.time() * 1000)


def produce(bootstrap: str, topic: str, partition: int, timestamps: list[int]) -> None:
    """One record per timestamp (CreateTime, ms) to `partition`, in order."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0})
    for index, timestamp in enumerate(timestamps):
        producer.produce(topic, f"v{index}".encode(), partition=partition, timestamp=timestamp)
    assert producer.flush(30) == 0


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    """partition -> committed offset (-1001 when nothing is committed), via the Admin API."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    wanted = [TopicPartition(topic, p) for p in range(partitions)]
    future = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group, wanted)])
    result = future[group].result(timeout=30)
    return {tp.partition: tp.offset for tp in result.topic_partitions}


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


@dataclass
class LiveMember:
    """A subscribed confluent-kafka consumer polling in a thread until stopped (or for at
    most MEMBER_LIFETIME_S), keeping its group Stable."""

    bootstrap: str
    group: str
    topic: str
    stop: threading.Event
    assigned: threading.Event
    member_id: list[str]

    def run(self) -> None:
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": self.group,
                "client.id": "live-member",
                "session.timeout.ms": 6000,
                "enable.auto.commit": False,
            }
        )
        consumer.subscribe([self.topic])
        deadline = time.monotonic() + MEMBER_LIFETIME_S
        try:
            while not self.stop.is_set() and time.monotonic() < deadline:
                consumer.poll(0.2)
                if consumer.assignment() and not self.assigned.is_set():
                    self.member_id.append(consumer.memberid() or "")
                    self.assigned.set()
        finally:
            consumer.close()


@pytest.fixture
def live_member(cli: Cli, names: tuple[str, str]) -> Iterator[LiveMember]:
    topic, group = names
    member = LiveMember(cli.bootstrap, group, topic, threading.Event(), threading.Event(), [])
    thread = threading.Thread(target=member.run, daemon=True)
    cli.create(topic, "--partitions 2")
    thread.start()
    try:
        assert member.assigned.wait(STABLE_TIMEOUT_S), "the member got no assignment"
        yield member
    finally:
        member.stop.set()
        thread.join(timeout=30)
        assert not thread.is_alive()


def reset(cli: Cli, group: str, topic: str, mode: str) -> list[dict[str, Any]]:
    """Run reset-offsets --execute; the plan it printed as JSON."""
    result = cli.ok(f"group reset-offsets {group} --topic {topic} {mode} --execute --format json")
    assert result.stderr.startswith(f"reset offsets of group {group}"), result.stderr
    plan: list[dict[str, Any]] = json.loads(result.stdout)
    return plan


# --- list and describe -----------------------------------------------------------------------


def test_list_and_describe_an_empty_group(cli: Cli, names: tuple[str, str]) -> None:
    topic, group = names
    cli.create(topic, "--partitions 2")
    base = now_ms() - HOUR_MS
    produce(cli.bootstrap, topic, 0, [base + i * 1000 for i in range(5)])
    produce(cli.bootstrap, topic, 1, [base + i * 1000 for i in range(4)])
    assert len(cli.ok(f"consume {topic} --group {group} -c 9 {CONSUME}").stdout.splitlines()) == 9
    # Two more on partition 0; the first of them (offset 5) is the next the group will read.
    produce(cli.bootstrap, topic, 0, [base + 10_000, base + 11_000])

    listed = {g["group_id"]: g for g in cli.json("group list")}
    assert listed[group] == {
        "group_id": group,
        "state": "Empty",
        "type": "classic",
        "simple": False,
    }
    assert group in {g["group_id"] for g in cli.json("group list --state Empty")}
    empty_or_dead = cli.json("group list --state empty --state dead")
    assert group in {g["group_id"] for g in empty_or_dead}
    assert group not in {g["group_id"] for g in cli.json("group list --state stable")}
    table = cli.ok("group list").stdout
    assert re.search(rf"^{group}\s+Empty\s+classic\s*$", table, re.MULTILINE), table

    before = now_ms()
    described = cli.json(f"group describe {group}")
    after = now_ms()
    assert described["group_id"] == group
    assert described["state"] == "Empty"
    assert described["type"] == "classic"
    assert described["members"] == []
    p0, p1 = described["partitions"]
    age = p0.pop("lag_seconds")
    assert p0 == {
        "topic": topic,
        "partition": 0,
        "current_offset": 5,
        "log_end_offset": 7,
        "lag": 2,
        "member_id": None,
    }
    assert (before - base - 10_000) / 1000 - 0.001 <= age <= (after - base - 10_000) / 1000 + 0.001
    assert p1 == {
        "topic": topic,
        "partition": 1,
        "current_offset": 4,
        "log_end_offset": 4,
        "lag": 0,
        "lag_seconds": 0.0,
        "member_id": None,
    }

    table = cli.ok(f"group describe {group}").stdout
    assert f"Group: {group}  State: Empty  Type: classic" in table
    assert re.search(rf"^{topic}\s+0\s+5\s+7\s+2\s+\d+\.\d{{3}}\s+-\s*$", table, re.MULTILINE)
    assert re.search(rf"^{topic}\s+1\s+4\s+4\s+0\s+0\.000\s+-\s*$", table, re.MULTILINE)


def test_describe_a_stable_group_shows_members_and_owners(
    cli: Cli, names: tuple[str, str], live_member: LiveMember
) -> None:
    topic, group = names
    described = cli.json(f"group describe {group}")
    assert described["state"] == "Stable"
    assert described["protocol"] in {"range", "roundrobin", "cooperative-sticky"}
    [member] = described["members"]
    assert member["member_id"] == live_member.member_id[0]
    assert member["client_id"] == "live-member"
    assert member["host"]
    assert member["assignment"] == [
        {"topic": topic, "partition": 0},
        {"topic": topic, "partition": 1},
    ]
    # Nothing committed: offsets and lag unknown, but the owner is known.
    assert [
        (p["partition"], p["current_offset"], p["lag"], p["lag_seconds"], p["member_id"])
        for p in described["partitions"]
    ] == [(0, None, None, None, member["member_id"]), (1, None, None, None, member["member_id"])]
    assert group in {g["group_id"] for g in cli.json("group list --state stable")}


def test_describe_an_unknown_group_is_one_line_error(cli: Cli, names: tuple[str, str]) -> None:
    line = assert_one_line_error(cli.run(f"group describe {names[1]}"), 1)
    assert "does not exist" in line


# --- reset-offsets ---------------------------------------------------------------------------


def test_reset_offsets_each_mode(cli: Cli, names: tuple[str, str]) -> None:
    topic, group = names
    cli.create(topic, "--partitions 1")
    base = now_ms() - HOUR_MS
    stamps = [base + i * 10_000 for i in range(10)]
    produce(cli.bootstrap, topic, 0, stamps)
    cli.ok(f"consume {topic} --group {group} -c 5 {CONSUME}")
    assert committed(cli.bootstrap, group, topic, 1) == {0: 5}

    dry = cli.ok(f"group reset-offsets {group} --topic {topic} --to-earliest --format json")
    assert dry.stderr == "dry run: nothing changed (add --execute to apply)\n"
    assert dry.stdout.strip().startswith("[")
    table = cli.ok(f"group reset-offsets {group} --topic {topic} --to-earliest").stdout
    assert re.search(rf"^{topic}\s+0\s+5\s+0\s*$", table, re.MULTILINE), table
    assert committed(cli.bootstrap, group, topic, 1) == {0: 5}

    cases = [
        ("--to-earliest", 0),
        ("--to-latest", 10),
        ("--to-offset 3", 3),
        ("--shift-by 4", 7),
        ("--shift-by -2", 5),
        ("--shift-by 100", 10),  # clamped to the log end
        ("--shift-by -100", 0),  # clamped to the log start
        ("--to-offset 50", 10),
        (f"--to-datetime {iso(stamps[6] + 5_000)}", 7),  # between records 6 and 7
        (f"--to-datetime {iso(stamps[4])}", 4),  # exactly record 4's time
        (f"--to-datetime {iso(stamps[0] - HOUR_MS)}", 0),
        (f"--to-datetime {iso(stamps[9] + 1)}", 10),  # after every record: the log end
    ]
    current = 5
    for mode, expected in cases:
        plan = reset(cli, group, topic, mode)
        assert plan == [
            {"topic": topic, "partition": 0, "current_offset": current, "new_offset": expected}
        ], mode
        assert committed(cli.bootstrap, group, topic, 1) == {0: expected}, mode
        current = expected


def test_reset_offsets_of_chosen_partitions(cli: Cli, names: tuple[str, str]) -> None:
    topic, group = names
    cli.create(topic, "--partitions 2")
    produce(cli.bootstrap, topic, 0, [now_ms()] * 3)
    produce(cli.bootstrap, topic, 1, [now_ms()] * 3)
    cli.ok(f"consume {topic} --group {group} -c 6 {CONSUME}")
    assert committed(cli.bootstrap, group, topic, 2) == {0: 3, 1: 3}

    plan = reset(cli, group, topic, "--partition 1 --to-offset 1")
    assert [(s["partition"], s["new_offset"]) for s in plan] == [(1, 1)]
    assert committed(cli.bootstrap, group, topic, 2) == {0: 3, 1: 1}

    missing = cli.run(f"group reset-offsets {group} --topic {topic} --partition 7 --to-latest")
    assert "no partition 7" in assert_one_line_error(missing, 1)


def test_shift_without_a_committed_offset_is_refused(cli: Cli, names: tuple[str, str]) -> None:
    topic, group = names
    cli.create(topic, "--partitions 1")
    reset(cli, group, topic, "--to-latest")  # an unknown group may be given offsets
    other = f"{topic}-other"
    cli.create(other, "--partitions 1")
    result = cli.run(f"group reset-offsets {group} --topic {other} --shift-by 1 --execute")
    assert "no committed offset" in assert_one_line_error(result, 1)


def test_reset_and_delete_are_refused_for_a_stable_group(
    cli: Cli, names: tuple[str, str], live_member: LiveMember
) -> None:
    topic, group = names
    produce(cli.bootstrap, topic, 0, [now_ms()] * 2)
    before = committed(cli.bootstrap, group, topic, 2)
    result = cli.run(f"group reset-offsets {group} --topic {topic} --to-latest --execute")
    line = assert_one_line_error(result, 1)
    assert "Stable" in line and "not Empty" in line
    assert committed(cli.bootstrap, group, topic, 2) == before

    line = assert_one_line_error(cli.run(f"group delete {group}"), 1)
    assert f"delete group {group}" in line and "NON_EMPTY_GROUP" in line
    assert group in {g["group_id"] for g in cli.json("group list")}


@pytest.mark.parametrize(
    "options",
    ["", "--to-earliest --to-latest", "--to-offset 1 --shift-by 1"],
)
def test_reset_offsets_needs_exactly_one_mode(
    cli: Cli, names: tuple[str, str], options: str
) -> None:
    topic, group = names
    result = cli.run(f"group reset-offsets {group} --topic {topic} {options}")
    assert "exactly one of" in assert_one_line_error(result, 2)


def test_reset_offsets_rejects_a_malformed_datetime(cli: Cli, names: tuple[str, str]) -> None:
    topic, group = names
    result = cli.run(f"group reset-offsets {group} --topic {topic} --to-datetime yesterday")
    assert "ISO 8601" in assert_one_line_error(result, 2)


# --- delete ----------------------------------------------------------------------------------


def test_delete_an_empty_group(cli: Cli, names: tuple[str, str]) -> None:
    topic, group = names
    cli.create(topic, "--partitions 1")
    produce(cli.bootstrap, topic, 0, [now_ms()])
    cli.ok(f"consume {topic} --group {group} -c 1 {CONSUME}")
    assert group in {g["group_id"] for g in cli.json("group list")}

    deleted = cli.ok(f"group delete {group} --format json")
    assert deleted.stderr == f"deleted group {group}\n"
    assert json.loads(deleted.stdout) == [{"group_id": group, "deleted": True, "error": None}]
    assert group not in {g["group_id"] for g in cli.json("group list")}
    assert committed(cli.bootstrap, group, topic, 1) == {0: -1001}
    assert "does not exist" in assert_one_line_error(cli.run(f"group describe {group}"), 1)


def test_delete_an_unknown_group_is_one_line_error(cli: Cli, names: tuple[str, str]) -> None:
    line = assert_one_line_error(cli.run(f"group delete {names[1]}"), 1)
    assert "GROUP_ID_NOT_FOUND" in line
    result = cli.run(f"group delete {names[1]} --format json")
    assert "GROUP_ID_NOT_FOUND" in assert_one_line_error(result, 1)
    assert json.loads(result.stdout) == [
        {"group_id": names[1], "deleted": False, "error": "GROUP_ID_NOT_FOUND"}
    ]


def test_reset_offsets_of_a_missing_topic_fails_and_creates_nothing(
    cli: Cli, names: tuple[str, str]
) -> None:
    topic, group = names
    result = cli.run(f"group reset-offsets {group} --topic {topic} --to-earliest")
    assert f"topic {topic} does not exist" in assert_one_line_error(result, 1)
    assert topic not in {t["name"] for t in cli.json("topic list")}
