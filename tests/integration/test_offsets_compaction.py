"""``__consumer_offsets`` is compacted by the same log cleaner as any compacted topic.

One group commits one partition's offset thousands of times. Small offsets-topic
segments (``offsets.topic.segment.bytes``) and a 200 ms cleaner backoff make the cleaner
compact them within seconds; a restart then replays the compacted log.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
from harness import ServerProcess

from grete.records.batch import read_header, split_batches, validate_batch

from .test_compaction import FAST_CLEANER, cleaner_checkpoint, consume_all, wait_for

OFFSETS = "__consumer_offsets"
SMALL_OFFSETS_TOPIC = (
    *FAST_CLEANER,
    "--override",
    "offsets.topic.num.partitions=1",  # the group's records all land in partition 0
    "--override",
    f"offsets.topic.segment.bytes={16 * 1024}",
)
COMMITS = 3000


def committer(bootstrap: str, group: str) -> Consumer:
    """A simple consumer (no subscription): its commits carry generation -1, as Kafka allows."""
    return Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False}
    )


def records_on_disk(partition_dir: Path) -> int:
    """Records in every segment of a partition, counted from the batch headers (CRCs checked)."""
    count = 0
    for log_file in sorted(partition_dir.glob("*.log")):
        data = log_file.read_bytes()
        for start, stop in split_batches(data):
            validate_batch(data[start:stop])
            count += read_header(data, start).records_count
    return count


def test_consumer_offsets_is_compacted_and_replays_the_last_commit(
    broker_factory: Callable[..., ServerProcess], topic_name: str
) -> None:
    broker: ServerProcess = broker_factory(*SMALL_OFFSETS_TOPIC)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic_name, 2, 1)])[topic_name].result(15)
    group = f"group-{topic_name}"
    consumer = committer(broker.bootstrap, group)
    try:
        # Partition 1's only commit is old: compaction must keep it although it is not recent.
        consumer.commit(offsets=[TopicPartition(topic_name, 1, 7)], asynchronous=False)
        for offset in range(1, COMMITS + 1):
            consumer.commit(
                offsets=[TopicPartition(topic_name, 0, offset * 10)], asynchronous=False
            )
    finally:
        consumer.close()
    # Offsets records of every commit, plus filler from another group to close the last
    # segment the commits sit in (the active segment is never cleaned).
    filler = committer(broker.bootstrap, f"filler-{topic_name}")
    try:
        for offset in range(100):
            filler.commit(offsets=[TopicPartition(topic_name, 0, offset)], asynchronous=False)
    finally:
        filler.close()
    # The offsets topic was created with offsets.topic.segment.bytes, so it has many segments.
    resource = ConfigResource(ConfigResource.Type.TOPIC, OFFSETS)
    configs = admin.describe_configs([resource])[resource].result(15)
    assert (configs["segment.bytes"].value, configs["cleanup.policy"].value) == (
        str(16 * 1024),
        "compact",
    )

    wait_for(
        lambda: cleaner_checkpoint_of(broker.data_dir) > COMMITS,
        30,
        "the cleaner to compact __consumer_offsets past the group's commits",
    )
    checkpoint = cleaner_checkpoint_of(broker.data_dir)
    records = consume_all(broker.bootstrap, OFFSETS)
    cleaned_keys = [key for offset, key, _ in records if offset < checkpoint]
    # The cleaned range holds each key at most once: the group's 3,001 commits became one.
    assert len(cleaned_keys) == len(set(cleaned_keys))
    # The group's 3,001 commits are down to the latest of each partition, offsets kept.
    assert [offset for offset, key, _ in records if group.encode() in key] == [0, COMMITS]

    broker.stop()
    # ~500 bytes a commit were written (1.6 MB); what is left is the cleaned part plus the tail.
    partition_dir = broker.data_dir / f"{OFFSETS}-0"
    assert records_on_disk(partition_dir) < 200
    assert sum(p.stat().st_size for p in partition_dir.glob("*.log")) < 100_000
    broker.start()  # the coordinator replays the compacted partition
    consumer = committer(broker.bootstrap, group)
    try:
        committed = consumer.committed(
            [TopicPartition(topic_name, 0), TopicPartition(topic_name, 1)], timeout=15
        )
    finally:
        consumer.close()
    assert [(tp.partition, tp.offset, tp.error) for tp in committed] == [
        (0, COMMITS * 10, None),
        (1, 7, None),
    ]


def cleaner_checkpoint_of(data_dir: Path) -> int:
    """The offsets partition's entry in cleaner-offset-checkpoint (-1 before any cleaning)."""
    return cleaner_checkpoint(data_dir, OFFSETS)
