"""The `grete` command line, run as a real subprocess against a real broker.

`kafka_bootstrap` starts the broker the CLI talks to. For now it starts Tansu (in-memory
storage, on a free port, killed by PID at teardown); to test against Grete, make it
yield a Grete broker's bootstrap address instead.

Commands are written as in a shell (`cli.ok(f"consume {topic} -f '%k=%s\\n'")`) and
split with shlex, so a template's backslash escapes reach grete exactly as typed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from confluent_kafka import Producer

HOST = "127.0.0.1"
COMMAND_TIMEOUT_S = 60.0
BROKER_START_TIMEOUT_S = 20.0
# librdkafka group settings shortened so that a consumer group forms quickly on any broker.
FAST_GROUP = "-X session.timeout.ms=6000 -X max.poll.interval.ms=7000"

Result = subprocess.CompletedProcess[str]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def kafka_bootstrap(shared_broker) -> str:  # type: ignore[no-untyped-def]
    """host:port of the session's Grete broker; this module's topics have unique names."""
    return str(shared_broker.bootstrap)


def _cli_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    # No inherited GRETE_* variable may steer the CLI (or the broker config) under test.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRETE_")}
    env.update(extra or {})
    return env


def run_grete(args: list[str], stdin: str = "", env: Mapping[str, str] | None = None) -> Result:
    """Run `python -m grete ARGS`; its status, stdout and stderr."""
    return subprocess.run(
        [sys.executable, "-m", "grete", *args],
        check=False,
        input=stdin,
        capture_output=True,
        text=True,
        env=_cli_env(env),
        timeout=COMMAND_TIMEOUT_S,
    )


def assert_one_line_error(result: Result, status: int) -> str:
    """The command exited with `status` and exactly one `error: ...` line on stderr."""
    assert result.returncode == status, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


@dataclass(frozen=True)
class Cli:
    """`grete` pointed at one broker: every command gets `-b <bootstrap>`."""

    bootstrap: str

    def run(self, command: str, stdin: str = "") -> Result:
        return run_grete([*shlex.split(command), "-b", self.bootstrap], stdin)

    def ok(self, command: str, stdin: str = "") -> Result:
        result = self.run(command, stdin)
        assert result.returncode == 0, f"`grete {command}`: {result.returncode} {result.stderr}"
        return result

    def json(self, command: str, stdin: str = "") -> Any:
        return json.loads(self.ok(f"{command} --format json", stdin).stdout)

    def create(self, topic: str, options: str = "") -> None:
        result = self.ok(f"topic create {topic} {options}")
        assert result.stderr == f"created topic {topic}\n"

    def topics(self) -> dict[str, dict[str, Any]]:
        return {row["name"]: row for row in self.json("topic list")}

    def describe(self, topic: str) -> dict[str, Any]:
        described = self.json(f"topic describe {topic}")
        assert [d["name"] for d in described] == [topic]
        return dict(described[0])


@pytest.fixture
def cli(kafka_bootstrap: str) -> Cli:
    return Cli(kafka_bootstrap)


@pytest.fixture
def topic() -> str:
    return f"cli-{uuid.uuid4().hex[:10]}"


# --- topics -------------------------------------------------------------------------------


def test_create_list_describe_delete(cli: Cli, topic: str) -> None:
    cli.create(topic, "--partitions 3 --replication-factor 1")

    assert cli.topics()[topic] == {
        "name": topic,
        "partitions": 3,
        "replication_factor": 1,
        "internal": False,
    }
    table = cli.ok("topic list").stdout
    assert re.search(rf"^{topic}\s+3\s+1\s*$", table, re.MULTILINE), table

    described = cli.describe(topic)
    assert described["partition_count"] == 3
    assert described["replication_factor"] == 1
    assert described["internal"] is False
    assert isinstance(described["topic_id"], str) and described["topic_id"]
    partitions = described["partitions"]
    assert [p["partition"] for p in partitions] == [0, 1, 2]
    for p in partitions:
        assert p["leader"] is not None
        assert p["replicas"] == [p["leader"]]
        assert p["isr"] == [p["leader"]]
        assert (p["log_start_offset"], p["log_end_offset"]) == (0, 0)

    assert cli.ok(f"topic delete {topic}").stderr == f"deleted topic {topic}\n"
    assert topic not in cli.topics()


def test_describe_table_shows_each_partition(cli: Cli, topic: str) -> None:
    cli.create(topic, "--partitions 2")
    out = cli.ok(f"topic describe {topic}").stdout
    assert re.search(rf"^Topic: {topic}\s+TopicId: \S+\s+Partitions: 2\s", out, re.MULTILINE), out
    # ... LOG START, LOG END, SIZE (bytes), SEGMENTS: an empty partition has one segment.
    rows = re.findall(r"^([01])\s+(\d+)\s+(\d+)\s+(\d+)\s+0\s+0\s+0\s+1\s*$", out, re.MULTILINE)
    assert [row[0] for row in rows] == ["0", "1"], out


def test_create_existing_topic_fails_unless_if_not_exists(cli: Cli, topic: str) -> None:
    cli.create(topic, "--partitions 1")
    line = assert_one_line_error(cli.run(f"topic create {topic}"), 1)
    assert topic in line and "TOPIC_ALREADY_EXISTS" in line
    again = cli.ok(f"topic create {topic} --if-not-exists")
    assert again.stderr == f"topic {topic} already exists\n"


def test_delete_unknown_topic_fails_unless_if_exists(cli: Cli, topic: str) -> None:
    line = assert_one_line_error(cli.run(f"topic delete {topic}"), 1)
    assert topic in line and "UNKNOWN_TOPIC_OR_PART" in line
    assert cli.ok(f"topic delete {topic} --if-exists").stderr == f"topic {topic} does not exist\n"


def test_describe_unknown_topic_is_one_line_error(cli: Cli, topic: str) -> None:
    result = cli.run(f"topic describe {topic}")
    line = assert_one_line_error(result, 1)
    assert topic in line and "UNKNOWN_TOPIC_OR_PART" in line
    assert result.stdout == ""


def test_describe_shows_known_topics_and_fails_for_an_unknown_one(cli: Cli, topic: str) -> None:
    cli.create(topic, "--partitions 1")
    result = cli.run(f"topic describe {topic} {topic}-missing --format json")
    assert f"{topic}-missing" in assert_one_line_error(result, 1)
    assert [d["name"] for d in json.loads(result.stdout)] == [topic]


def test_alter_adds_partitions(cli: Cli, topic: str) -> None:
    cli.create(topic, "--partitions 1")
    cli.ok(f"topic alter {topic} --partitions 3")
    assert cli.describe(topic)["partition_count"] == 3
    assert cli.topics()[topic]["partitions"] == 3


def test_alter_cannot_shrink_partitions(cli: Cli, topic: str) -> None:
    cli.create(topic, "--partitions 2")
    line = assert_one_line_error(cli.run(f"topic alter {topic} --partitions 1"), 1)
    assert "INVALID_PARTITIONS" in line
    assert cli.describe(topic)["partition_count"] == 2


def test_create_json_reports_the_topic_as_the_broker_made_it(cli: Cli, topic: str) -> None:
    created = cli.ok(f"topic create {topic} -p 3 -c retention.ms=3600000 --format json")
    assert created.stderr == f"created topic {topic}\n"
    made = json.loads(created.stdout)
    assert made == {**cli.describe(topic), "created": True}
    assert (made["name"], made["partition_count"], made["replication_factor"]) == (topic, 3, 1)
    assert made["configs"] == {"retention.ms": "3600000"}
    # The broker's defaults (num.partitions=1), not the request's -1, and an existing topic.
    defaulted = cli.json(f"topic create {topic}-defaults")
    assert (defaulted["created"], defaulted["partition_count"], defaulted["replication_factor"]) == (
        True, 1, 1,
    )
    again = cli.ok(f"topic create {topic} -p 5 --if-not-exists --format json")
    assert again.stderr == f"topic {topic} already exists\n"
    assert json.loads(again.stdout) == {**made, "created": False}


def test_alter_json_reports_the_changes(cli: Cli, topic: str) -> None:
    cli.create(topic, "-p 1 --config cleanup.policy=compact")
    changed = cli.json(f"topic alter {topic} -p 4 -c retention.ms=60000 --delete-config cleanup.policy")
    assert changed == {
        "name": topic,
        "partitions": 4,
        "set_configs": {"retention.ms": "60000"},
        "deleted_configs": ["cleanup.policy"],
    }
    described = cli.describe(topic)
    assert (described["partition_count"], described["configs"]) == (4, {"retention.ms": "60000"})
    configs_only = cli.json(f"topic alter {topic} -c retention.ms=1000")
    assert configs_only["partitions"] is None and configs_only["set_configs"] == {"retention.ms": "1000"}


def test_delete_json_reports_each_topic(cli: Cli, topic: str) -> None:
    cli.create(topic, "-p 1")
    missing = f"{topic}-missing"
    result = cli.ok(f"topic delete {topic} {missing} --if-exists --format json")
    assert json.loads(result.stdout) == [
        {"name": topic, "deleted": True, "error": None},
        {"name": missing, "deleted": False, "error": "UNKNOWN_TOPIC_OR_PART"},
    ]
    assert topic not in cli.topics()
    failed = cli.run(f"topic delete {missing} --format json")
    assert missing in assert_one_line_error(failed, 1)
    assert json.loads(failed.stdout) == [
        {"name": missing, "deleted": False, "error": "UNKNOWN_TOPIC_OR_PART"}
    ]


def test_produce_json_reports_records_and_offsets_per_partition(cli: Cli, topic: str) -> None:
    cli.create(topic, "-p 3")
    first = cli.ok(f"produce {topic} -p 2 --format json", stdin="a\nb\nc\n")
    assert first.stderr == f"produced 3 records to topic {topic}\n"
    assert json.loads(first.stdout) == {
        "topic": topic, "produced": 3, "failed": 0, "errors": [],
        "partitions": [{"partition": 2, "records": 3, "first_offset": 0, "last_offset": 2}],
    }  # fmt: skip
    keyed = cli.json(f"produce {topic} -K : -X linger.ms=1000", stdin="k1:x\nk2:y\nk1:z\nk3:w\n")
    assert (keyed["produced"], keyed["failed"]) == (4, 0)
    counts = {p["partition"]: p["records"] for p in keyed["partitions"]}
    assert sum(counts.values()) == 4
    ends = {p["partition"]: p["log_end_offset"] for p in cli.describe(topic)["partitions"]}
    for p in keyed["partitions"]:  # each partition's offsets: after what it held, consecutive
        start = 3 if p["partition"] == 2 else 0
        assert (p["first_offset"], p["last_offset"]) == (start, start + p["records"] - 1)
        assert ends[p["partition"]] == p["last_offset"] + 1
    unacked = cli.json(f"produce {topic} -p 0 --acks 0", stdin="fire\nforget\n")
    assert unacked["partitions"] == [
        {"partition": 0, "records": 2, "first_offset": None, "last_offset": None}
    ]


def test_produce_json_reports_failures(cli: Cli, topic: str) -> None:
    cli.create(topic, "-p 1")
    result = cli.run(f"produce {topic} -p 7 --format json", stdin="x\ny\n")
    assert result.returncode == 1
    summary = json.loads(result.stdout)
    assert (summary["produced"], summary["failed"], summary["partitions"]) == (0, 2, [])
    assert sum(e["records"] for e in summary["errors"]) == 2
    assert all("UNKNOWN_PARTITION" in e["error"] for e in summary["errors"]), summary


def test_topic_configs_are_created_altered_and_described(cli: Cli, topic: str) -> None:
    cli.create(topic, "-p 1 --config cleanup.policy=compact --config retention.ms=3600000")
    assert cli.describe(topic)["configs"] == {
        "cleanup.policy": "compact",
        "retention.ms": "3600000",
    }
    cli.ok(f"topic alter {topic} --config retention.ms=60000 --delete-config cleanup.policy")
    assert cli.describe(topic)["configs"] == {"retention.ms": "60000"}


# --- produce and consume ------------------------------------------------------------------


def test_produce_and_consume_keys_values_and_headers_in_order(cli: Cli, topic: str) -> None:
    cli.create(topic, "--partitions 1")
    lines = "k1:v1\nk2:value:with:colons\nk3:\nk4:last\n"
    produced = cli.ok(
        f"produce {topic} --key-separator : --header src=cli --header t=a=b --header src=2",
        stdin=lines,
    )
    assert produced.stderr == f"produced 4 records to topic {topic}\n"

    template = r"'%t|%p|%o|%k|%s|%h|%K|%S\n'"
    consumed = cli.ok(f"consume {topic} --from-beginning --max-messages 4 --format {template}")
    headers = "src=cli,t=a=b,src=2"
    assert consumed.stdout.splitlines() == [
        f"{topic}|0|0|k1|v1|{headers}|2|2",
        f"{topic}|0|1|k2|value:with:colons|{headers}|2|17",
        f"{topic}|0|2|k3||{headers}|2|0",
        f"{topic}|0|3|k4|last|{headers}|2|4",
    ]
    assert consumed.stderr == "consumed 4 records\n"


def test_consume_json_output(cli: Cli, topic: str) -> None:
    cli.create(topic, "--partitions 1")
    cli.ok(f"produce {topic} -H h=1", stdin="plain\nsnow ☃\n")
    out = cli.ok(f"consume {topic} --from-beginning -c 2 --format json").stdout
    records = [json.loads(line) for line in out.splitlines()]
    assert [(r["offset"], r["key"], r["value"], r["headers"]) for r in records] == [
        (0, None, "plain", [["h", "1"]]),
        (1, None, "snow ☃", [["h", "1"]]),
    ]
    assert all(r["topic"] == topic and r["partition"] == 0 for r in records)
    assert all(isinstance(r["timestamp"], int) and r["timestamp"] > 0 for r in records)


def test_consume_table_output(cli: Cli, topic: str) -> None:
    cli.create(topic, "--partitions 1")
    cli.ok(f"produce {topic} -K =", stdin="a=tab\there\n")
    header, row = cli.ok(f"consume {topic} --from-beginning -c 1 -f table").stdout.splitlines()
    assert header.split() == ["PARTITION", "OFFSET", "TIMESTAMP", "KEY", "VALUE"]
    assert re.fullmatch(r"\s*0\s+0\s+\d+\s+a\s+tab\\there", row), row


def test_produce_to_a_partition_and_consume_from_an_offset(cli: Cli, topic: str) -> None:
    cli.create(topic, "--partitions 3")
    cli.ok(f"produce {topic} --partition 2", stdin="r0\nr1\nr2\nr3\n")
    out = cli.ok(f"consume {topic} --partition 2 --offset 2 -c 2 -f '%p:%o:%s\\n'").stdout
    assert out.splitlines() == ["2:2:r2", "2:3:r3"]


def test_describe_shows_log_end_offsets(cli: Cli, topic: str) -> None:
    cli.create(topic, "--partitions 2")
    cli.ok(f"produce {topic} -p 1", stdin="a\nb\nc\n")
    offsets = [
        (p["log_start_offset"], p["log_end_offset"]) for p in cli.describe(topic)["partitions"]
    ]
    assert offsets == [(0, 0), (0, 3)]


def test_trim_by_offset_and_describe_sizes_and_segments(cli: Cli, topic: str) -> None:
    cli.create(topic, "--partitions 1 --config segment.bytes=600")
    for batch in range(5):  # one produce, one batch of 20 offsets, one segment each
        lines = "".join(f"{batch}-{i}-{'x' * 30}\n" for i in range(20))
        # linger.ms holds the 20 records for the final flush: with librdkafka's 5 ms a busy
        # machine split one produce into two batches (CI: 8 segments, not 5).
        cli.ok(f"produce {topic} -X linger.ms=10000", stdin=lines)
    (before,) = cli.describe(topic)["partitions"]
    assert (before["log_start_offset"], before["log_end_offset"], before["segments"]) == (0, 100, 5)
    assert before["size_bytes"] > 5 * 20 * 30

    steps = cli.json(f"topic trim {topic} --before 45")

    assert steps == [
        {"topic": topic, "partition": 0, "old_log_start_offset": 0, "log_start_offset": 45}
    ]
    (after,) = cli.describe(topic)["partitions"]
    # The segments of offsets 0-19 and 20-39 are gone; the one holding 45 stays.
    assert (after["log_start_offset"], after["log_end_offset"], after["segments"]) == (45, 100, 3)
    assert 0 < after["size_bytes"] < before["size_bytes"]
    out = cli.ok(f"consume {topic} --from-beginning -c 55 -f '%o\n'").stdout
    assert out.split() == [str(o) for o in range(45, 100)]
    table = cli.ok(f"topic describe {topic}").stdout
    size = after["size_bytes"]
    assert re.search(rf"^0\s+\d+\s+\d+\s+\d+\s+45\s+100\s+{size}\s+3\s*$", table, re.MULTILINE), table
    # An offset past the end trims everything; trimming again changes nothing.
    trimmed = cli.ok(f"topic trim {topic} --before 1000")
    assert trimmed.stderr == f"trimmed topic {topic}: 55 records deleted from 1 partition(s)\n"
    assert re.search(r"^\S+\s+0\s+45\s+100\s*$", trimmed.stdout, re.MULTILINE), trimmed.stdout
    again = cli.json(f"topic trim {topic} --before 10")
    assert again[0]["log_start_offset"] == 100


def test_trim_by_datetime(cli: Cli, topic: str) -> None:
    cli.create(topic, "--partitions 2")
    start_ms = 1_714_564_800_000  # 2024-05-01T12:00:00Z
    producer = Producer({"bootstrap.servers": cli.bootstrap})
    for partition in (0, 1):
        for minute in range(10):
            producer.produce(topic, b"v", partition=partition, timestamp=start_ms + minute * 60_000)
    assert producer.flush(30) == 0

    steps = cli.json(f"topic trim {topic} -p 1 --before 2024-05-01T12:04:30Z")

    assert [(s["partition"], s["log_start_offset"]) for s in steps] == [(1, 5)]
    # The same instant in another zone; partition 0 only gets trimmed now.
    steps = cli.json(f"topic trim {topic} --before 2024-05-01T14:02:00+02:00")
    assert [(s["partition"], s["log_start_offset"]) for s in steps] == [(0, 2), (1, 5)]
    starts = [p["log_start_offset"] for p in cli.describe(topic)["partitions"]]
    assert starts == [2, 5]
    # A time after every record trims everything.
    steps = cli.json(f"topic trim {topic} --before 2030-01-01T00:00:00Z")
    assert [s["log_start_offset"] for s in steps] == [10, 10]


def test_trim_errors(cli: Cli, topic: str) -> None:
    line = assert_one_line_error(cli.run(f"topic trim {topic} --before 5"), 1)
    assert line == f"error: trim topic {topic}: topic {topic} does not exist"
    cli.create(topic, "--partitions 1 --config cleanup.policy=compact")
    cli.ok(f"produce {topic} -K :", stdin="k:v\nk:w\n")
    line = assert_one_line_error(cli.run(f"topic trim {topic} --before 1"), 1)
    assert f"{topic}[0]" in line and "POLICY_VIOLATION" in line
    line = assert_one_line_error(cli.run(f"topic trim {topic} --before 1 -p 3"), 1)
    assert line == f"error: topic {topic} has no partition 3 (it has 1)"
    result = cli.run(f"topic trim {topic} --before soon")
    assert result.returncode == 2 and "--before" in result.stderr


def test_consume_exits_at_the_end_of_every_partition(cli: Cli, topic: str) -> None:
    cli.create(topic, "--partitions 3")
    values = [f"m{i}" for i in range(6)]
    cli.ok(f"produce {topic} -K :", stdin="".join(f"k{i}:{v}\n" for i, v in enumerate(values)))
    result = cli.ok(f"consume {topic} --from-beginning --exit")
    assert sorted(result.stdout.splitlines()) == values
    assert result.stderr == "consumed 6 records\n"


def test_consume_timeout_exits_when_idle(cli: Cli, topic: str) -> None:
    cli.create(topic, "--partitions 1")
    started = time.monotonic()
    result = cli.ok(f"consume {topic} --timeout 1.5")
    elapsed = time.monotonic() - started
    assert (result.stdout, result.stderr) == ("", "consumed 0 records\n")
    assert 1.5 <= elapsed < 20, elapsed


def test_consume_starts_at_the_end_by_default(cli: Cli, topic: str) -> None:
    cli.create(topic, "--partitions 1")
    cli.ok(f"produce {topic}", stdin="old1\nold2\nold3\n")
    assert cli.ok(f"consume {topic} --timeout 3").stdout == ""


def test_consumer_group_resumes_from_its_committed_offset(cli: Cli, topic: str) -> None:
    group = f"{topic}-group"
    cli.create(topic, "--partitions 1")
    cli.ok(f"produce {topic}", stdin="a\nb\nc\n")
    consume = f"consume {topic} --group {group} --from-beginning --timeout 40 {FAST_GROUP}"
    assert cli.ok(f"{consume} -c 3").stdout.splitlines() == ["a", "b", "c"]

    cli.ok(f"produce {topic}", stdin="d\n")
    assert cli.ok(f"{consume} -c 1").stdout.splitlines() == ["d"]


def test_produce_reports_lines_without_key_separator(cli: Cli, topic: str) -> None:
    cli.create(topic, "--partitions 1")
    result = cli.run(f"produce {topic} -K :", stdin="k:v\nno separator\nk2:v2\n")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: 1 record not produced: line 2: no key separator",
        f"produced 2 records to topic {topic}, 1 failed",
    ]
    consumed = cli.ok(f"consume {topic} --from-beginning --exit -f '%k=%s\\n'")
    assert consumed.stdout.splitlines() == ["k=v", "k2=v2"]


def test_produce_failed_delivery_exits_non_zero(cli: Cli, topic: str) -> None:
    cli.create(topic, "--partitions 1")
    result = cli.run(f"produce {topic} --partition 7", stdin="x\ny\n")
    assert result.returncode == 1
    *errors, summary = result.stderr.splitlines()
    assert errors and all(re.match(r"error: \d records? not produced: ", e) for e in errors)
    assert summary == f"produced 0 records to topic {topic}, 2 failed"


def test_consume_unknown_topic_is_one_line_error(cli: Cli, topic: str) -> None:
    line = assert_one_line_error(cli.run(f"consume {topic} --exit"), 1)
    assert line == f"error: consume: topic {topic} does not exist"


def test_consume_unknown_partition_is_one_line_error(cli: Cli, topic: str) -> None:
    cli.create(topic, "--partitions 2")
    line = assert_one_line_error(cli.run(f"consume {topic} --partition 5"), 1)
    assert line == f"error: topic {topic} has no partition 5 (it has 2)"


def test_consume_stops_cleanly_on_sigterm(kafka_bootstrap: str, cli: Cli, topic: str) -> None:
    cli.create(topic, "--partitions 1")
    process = subprocess.Popen(
        [sys.executable, "-m", "grete", "consume", topic, "-b", kafka_bootstrap],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_cli_env(),
    )
    try:
        time.sleep(3)
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert process.returncode == 128 + signal.SIGTERM
    assert (stdout, stderr) == ("", "consumed 0 records\n")


# --- configuration, usage and connection errors -------------------------------------------


def test_bootstrap_server_from_environment(kafka_bootstrap: str, cli: Cli, topic: str) -> None:
    cli.create(topic, "--partitions 1")
    env = {"GRETE_BOOTSTRAP_SERVER": kafka_bootstrap}
    result = run_grete(["topic", "list", "--format", "json"], env=env)
    assert result.returncode == 0, result.stderr
    assert topic in {row["name"] for row in json.loads(result.stdout)}


def test_unreachable_broker_is_one_line_error() -> None:
    closed = f"{HOST}:{_free_port()}"
    line = assert_one_line_error(run_grete(["topic", "list", "-b", closed]), 1)
    assert closed in line


@pytest.mark.parametrize(
    ("command", "needle"),
    [
        ("topic create", "Missing argument"),
        ("topic create t --partitions 0", "--partitions"),
        ("topic create t --config no-equals-sign", "KEY=VALUE"),
        ("topic alter t", "nothing to alter"),
        ("consume t --format %q", "%q"),
        ("consume t --offset soon", "--offset"),
        ("consume t --offset 1 --from-beginning", "--from-beginning"),
        ("consume t --group g --offset 1", "--partition"),
        ("produce t --acks 2", "--acks"),
        ("produce t --key-separator ''", "--key-separator"),
        ("produce t --property no.such.property=1", "no.such.property"),
        ("no-such-command", "no-such-command"),
    ],
)
def test_usage_errors_are_one_line_with_status_2(command: str, needle: str) -> None:
    assert needle in assert_one_line_error(run_grete(shlex.split(command)), 2)


def test_serve_rejects_an_unknown_setting() -> None:
    result = run_grete(["serve", "--override", "no.such.setting=1"])
    assert "no.such.setting" in assert_one_line_error(result, 2)


def test_serve_rejects_listeners_conflicting_with_override() -> None:
    args = "serve --listeners PLAINTEXT://127.0.0.1:1 --override listeners=PLAINTEXT://127.0.0.1:2"
    assert "--listeners" in assert_one_line_error(run_grete(args.split()), 2)


def test_version() -> None:
    result = run_grete(["version"])
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"grete \d+\.\d+\.\d+\S*\n", result.stdout), result.stdout
