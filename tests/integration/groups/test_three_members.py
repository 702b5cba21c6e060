"""Three members of one classic group, for each client: every record once, partitions disjoint.

The members join first; records are produced only once the group is balanced, so no
rebalance happens while records flow and, with a synchronous commit after every poll,
the group must deliver each record to exactly one member exactly once.
"""

from __future__ import annotations

import logging
import time

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions
from confluent_kafka.admin import AdminClient
from harness import JavaProgram, ServerProcess
from harness.kafka import create_topic

from .helpers import (
    AioKafkaMember,
    ConfluentMember,
    KafkaPythonMember,
    Ledger,
    ProcessMember,
    ThreadMember,
    balanced,
    produce_values,
    stop_all,
    wait_for,
)

PARTITIONS = 6
RECORDS = 3_000
MEMBERS = 3
THREAD_CLIENTS = {
    "confluent-kafka": ConfluentMember,
    "kafka-python": KafkaPythonMember,
    "aiokafka": AioKafkaMember,
}


def java_command(program: JavaProgram, bootstrap: str, group: str, topic: str) -> list[str]:
    return [
        program.java, "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
        "-cp", program.classpath, program.main_class,
        "--bootstrap", bootstrap, "--group", group, "--topic", topic,
        "--idle-ms", "120000", "--session-timeout-ms", "6000", "--heartbeat-ms", "1000",
    ]  # fmt: skip


def committed_offsets(bootstrap: str, group: str) -> dict[int, int]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])
    result = futures[group].result(timeout=30)
    return {tp.partition: tp.offset for tp in result.topic_partitions if tp.error is None}


@pytest.mark.parametrize("client", [*THREAD_CLIENTS, "java"])
def test_three_members_share_every_record_once(
    client: str,
    group_broker: ServerProcess,
    group_member: JavaProgram,
    topic_name: str,
    group_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # kafka-python's rebalance and metadata steps, shown if the group never balances.
    caplog.set_level(logging.DEBUG, logger="kafka.coordinator")
    caplog.set_level(logging.DEBUG, logger="kafka.cluster")
    bootstrap = group_broker.bootstrap
    create_topic(bootstrap, topic_name, PARTITIONS)
    ledger = Ledger()
    names = [f"{client}-{i}" for i in range(MEMBERS)]
    threads: list[ThreadMember] = []
    processes: list[ProcessMember] = []
    try:
        for name in names:
            if client == "java":
                command = java_command(group_member, bootstrap, group_id, topic_name)
                processes.append(ProcessMember(name, ledger, command))
            else:
                member = THREAD_CLIENTS[client](name, ledger, bootstrap, group_id, topic_name)
                member.start()
                threads.append(member)
        wait_for(
            lambda: balanced(ledger, names, PARTITIONS),
            90,
            f"{MEMBERS} {client} members to share {PARTITIONS} partitions",
            detail=lambda: ledger.snapshot()[1],
        )
        _, owned = ledger.snapshot()

        expected = produce_values(bootstrap, topic_name, PARTITIONS, 0, RECORDS)
        wait_for(lambda: ledger.count() >= RECORDS, 90, f"{RECORDS} records across the group")
        time.sleep(1.0)  # room for a duplicate delivery to show up before we count
        _, owned_after = ledger.snapshot()  # before close() revokes everything
    finally:
        try:
            stop_all(threads)
        finally:
            codes: list[int | str] = []
            for process in processes:
                try:
                    codes.append(process.stop())
                except AssertionError as exc:
                    codes.append(str(exc))
    assert codes == [0] * len(processes), [p.stderr_tail() for p in processes]

    records, _ = ledger.snapshot()
    # The assignment: every partition owned by exactly one member, and it did not change.
    shares = [owned[name] for name in names]
    assert sorted(p for share in shares for p in share) == list(range(PARTITIONS)), owned
    assert {n: owned_after.get(n) for n in names} == {n: owned[n] for n in names}
    # Every record once: no value and no (partition, offset) twice, none missing.
    values = [record.value for record in records]
    assert len(values) == len(set(values)), f"{len(values) - len(set(values))} duplicates"
    assert set(values) == set(expected)
    assert len({(r.partition, r.offset) for r in records}) == RECORDS
    # Each member read only its own partitions; each value came from the partition it was sent to.
    for record in records:
        assert record.partition in owned[record.member], record
        assert expected[record.value] == record.partition, record
    # What the group committed is the end of every partition.
    assert committed_offsets(bootstrap, group_id) == {
        p: RECORDS // PARTITIONS for p in range(PARTITIONS)
    }
