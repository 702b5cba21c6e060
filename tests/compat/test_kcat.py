"""kcat (Debian's, on librdkafka 2.0) against Grete: produce, consume and metadata listing.

kcat is an older librdkafka than confluent-kafka's, so it negotiates different API
versions; every output is compared exactly, line for line.
"""

from __future__ import annotations

import json
import subprocess

from harness import ServerProcess
from harness.kafka import Record, create_topic, read_topic

PARTITIONS = 3
PER_PARTITION = 4
# -H name=value gives each record the header; "name" alone gives a null value.
HEADER_ARGS = ("-H", "part=P", "-H", "empty=", "-H", "novalue", "-H", "eq=a=b")


def run_kcat(kcat: str, *args: str, stdin: str | None = None, timeout: float = 60.0) -> str:
    done = subprocess.run(
        [kcat, *args],
        input=stdin.encode() if stdin is not None else None,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, (
        f"kcat {' '.join(args)} exited {done.returncode}: {done.stderr.decode(errors='replace')}"
    )
    return done.stdout.decode()


def produce_lines(partition: int) -> str:
    """-K: lines: key:value; with -Z an empty key or value is sent as null."""
    lines = [f"k{partition}-{i}:value {partition} {i}" for i in range(PER_PARTITION - 2)]
    lines += [f":nokey {partition}", f"tomb{partition}:"]
    return "".join(f"{line}\n" for line in lines)


def expected_lines(partition: int) -> list[str]:
    """What '%k|%s|%h|%p|%o|%K|%S' prints (with -Z) for produce_lines(partition)."""
    headers = f"part={partition},empty=,novalue=NULL,eq=a=b"
    lines = []
    for i in range(PER_PARTITION - 2):
        key, value = f"k{partition}-{i}", f"value {partition} {i}"
        lines.append(f"{key}|{value}|{headers}|{partition}|{i}|{len(key)}|{len(value)}")
    nokey = f"nokey {partition}"
    tomb = f"tomb{partition}"
    lines.append(f"NULL|{nokey}|{headers}|{partition}|{PER_PARTITION - 2}|-1|{len(nokey)}")
    lines.append(f"{tomb}|NULL|{headers}|{partition}|{PER_PARTITION - 1}|{len(tomb)}|-1")
    return lines


def expected_records(partition: int) -> list[Record]:
    headers = (("part", str(partition).encode()), ("empty", b""), ("novalue", None), ("eq", b"a=b"))
    records = [
        Record(
            partition, i, f"k{partition}-{i}".encode(), f"value {partition} {i}".encode(), headers
        )
        for i in range(PER_PARTITION - 2)
    ]
    records.append(
        Record(partition, PER_PARTITION - 2, None, f"nokey {partition}".encode(), headers)
    )
    records.append(Record(partition, PER_PARTITION - 1, f"tomb{partition}".encode(), None, headers))
    return records


def produce_with_kcat(kcat: str, bootstrap: str, topic: str) -> None:
    for partition in range(PARTITIONS):
        headers = [arg.replace("=P", f"={partition}") for arg in HEADER_ARGS]
        run_kcat(
            kcat, "-b", bootstrap, "-P", "-t", topic, "-p", str(partition), "-K:", "-Z", *headers,
            stdin=produce_lines(partition),
        )  # fmt: skip


def test_kcat_produce_and_consume_exactly(
    shared_broker: ServerProcess, kcat: str, topic_name: str
) -> None:
    bootstrap = shared_broker.bootstrap
    create_topic(bootstrap, topic_name, PARTITIONS)
    produce_with_kcat(kcat, bootstrap, topic_name)

    fmt = "%k|%s|%h|%p|%o|%K|%S\\n"
    everything = run_kcat(
        kcat, "-b", bootstrap, "-C", "-t", topic_name, "-Z", "-e", "-q", "-f", fmt
    )
    want = [line for p in range(PARTITIONS) for line in expected_lines(p)]
    assert sorted(everything.splitlines()) == sorted(want)

    # One partition from a given offset, in log order.
    middle = run_kcat(
        kcat, "-b", bootstrap, "-C", "-t", topic_name, "-p", "1", "-o", "1", "-c", "2",
        "-Z", "-e", "-q", "-f", fmt,
    )  # fmt: skip
    assert middle.splitlines() == expected_lines(1)[1:3]

    # The same bytes, nulls and headers as another client reads them.
    want_records = [r for p in range(PARTITIONS) for r in expected_records(p)]
    assert read_topic(bootstrap, topic_name, PARTITIONS, len(want_records)) == want_records


def test_kcat_brief_format(shared_broker: ServerProcess, kcat: str, topic_name: str) -> None:
    bootstrap = shared_broker.bootstrap
    create_topic(bootstrap, topic_name, 1)
    run_kcat(
        kcat, "-b", bootstrap, "-P", "-t", topic_name, "-K:", "-H", "h=1",
        stdin="a:first\nb:second\nc:third\n",
    )  # fmt: skip
    out = run_kcat(
        kcat, "-b", bootstrap, "-C", "-t", topic_name, "-e", "-q", "-f", "%k %s %h %o\\n"
    )
    assert out == "a first h=1 0\nb second h=1 1\nc third h=1 2\n"


def test_kcat_metadata_lists_topic_and_partitions(
    shared_broker: ServerProcess, kcat: str, topic_name: str
) -> None:
    bootstrap = shared_broker.bootstrap
    create_topic(bootstrap, topic_name, PARTITIONS)

    listing = json.loads(run_kcat(kcat, "-b", bootstrap, "-L", "-J", "-t", topic_name))

    brokers = {broker["id"]: broker["name"] for broker in listing["brokers"]}
    assert list(brokers.values()) == [bootstrap]
    (broker_id,) = brokers
    assert listing["originating_broker"]["id"] == broker_id
    (topic,) = listing["topics"]
    assert topic["topic"] == topic_name and "error" not in topic
    assert [p["partition"] for p in sorted(topic["partitions"], key=lambda p: p["partition"])] == [
        0,
        1,
        2,
    ]
    for partition in topic["partitions"]:
        assert "error" not in partition, partition
        assert partition["leader"] == broker_id
        assert partition["replicas"] == [{"id": broker_id}]
        assert partition["isrs"] == [{"id": broker_id}]

    lines = run_kcat(kcat, "-b", bootstrap, "-L", "-t", topic_name).splitlines()
    assert f'  topic "{topic_name}" with {PARTITIONS} partitions:' in lines
    for p in range(PARTITIONS):
        assert (
            f"    partition {p}, leader {broker_id}, replicas: {broker_id}, isrs: {broker_id}"
            in lines
        )
