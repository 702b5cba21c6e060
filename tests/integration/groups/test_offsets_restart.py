"""Committed offsets survive a broker restart: the group resumes exactly where it committed.

Tansu runs with in-memory storage here, so this suite has nothing to restart from on it.
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, Producer
from confluent_kafka.admin import AdminClient
from harness import ServerProcess
from harness.kafka import create_topic

from .helpers import (
    ConfluentMember,
    Ledger,
    balanced,
    fast_group_args,
    on_tansu,
    stop_all,
    wait_for,
)

PARTITIONS = 6
# A different count per partition, so a resume at the wrong partition's offset shows.
FIRST = {p: 20 * (p + 1) for p in range(PARTITIONS)}
SECOND = {p: 15 for p in range(PARTITIONS)}


def produce_counts(bootstrap: str, topic: str, counts: dict[int, int], tag: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for partition, count in counts.items():
        for i in range(count):
            producer.produce(topic, value=f"{tag}-{partition}-{i}".encode(), partition=partition)
    assert producer.flush(30) == 0


def group_offsets(bootstrap: str, group: str) -> dict[int, int]:
    """OffsetFetch through AdminClient.list_consumer_group_offsets: partition -> committed."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    result = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(
        30
    )
    return {tp.partition: tp.offset for tp in result.topic_partitions if tp.error is None}


def run_group(bootstrap: str, group: str, topic: str, ledger: Ledger, want: int, tag: str) -> None:
    """Two members read until `want` records arrived (+1 s for strays), then close."""
    names = [f"{tag}-a", f"{tag}-b"]
    members = [ConfluentMember(n, ledger, bootstrap, group, topic) for n in names]
    try:
        for member in members:
            member.start()
        wait_for(lambda: balanced(ledger, names, PARTITIONS), 60, f"{tag} members to balance")
        wait_for(lambda: ledger.count() >= want, 60, f"{want} records in {tag}")
        time.sleep(1.0)
    finally:
        stop_all(members)


@pytest.mark.skipif(
    on_tansu(), reason="Tansu runs on memory:// storage here: a restart loses everything"
)
def test_group_resumes_at_committed_offsets_after_broker_restart(
    broker_factory,
    topic_name: str,
    group_id: str,  # type: ignore[no-untyped-def]
) -> None:
    broker: ServerProcess = broker_factory(*fast_group_args(), name="grete")
    create_topic(broker.bootstrap, topic_name, PARTITIONS)
    produce_counts(broker.bootstrap, topic_name, FIRST, "first")
    before = Ledger()
    run_group(broker.bootstrap, group_id, topic_name, before, sum(FIRST.values()), "before")
    assert before.count() == sum(FIRST.values())
    assert group_offsets(broker.bootstrap, group_id) == FIRST

    broker.stop(check=True)
    broker.start()

    # OffsetFetch after the restart answers from what was replayed.
    assert group_offsets(broker.bootstrap, group_id) == FIRST
    produce_counts(broker.bootstrap, topic_name, SECOND, "second")
    after = Ledger()
    run_group(broker.bootstrap, group_id, topic_name, after, sum(SECOND.values()), "after")

    records, _ = after.snapshot()
    first_read = {p: min(r.offset for r in records if r.partition == p) for p in range(PARTITIONS)}
    assert first_read == FIRST, "resumed somewhere other than the committed offsets"
    assert sorted((r.partition, r.offset) for r in records) == sorted(
        (p, FIRST[p] + i) for p in range(PARTITIONS) for i in range(SECOND[p])
    )
    assert all(r.value.startswith(b"second-%d-" % r.partition) for r in records)
    assert group_offsets(broker.bootstrap, group_id) == {
        p: FIRST[p] + SECOND[p] for p in range(PARTITIONS)
    }
