"""kafka-python (pure Python) against Grete: produce, consume, offsets, admin.

Every record read back is compared exactly with what was sent: partition, offset,
key, value and headers (and timestamps where the test set them). Consumers have no
group (group_id=None) and use assign(): Grete has no group coordinator yet.
kafka-python 3 enables idempotence by default, so its producer runs idempotent here.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from harness import ServerProcess
from harness.kafka import Record, create_topic, read_topic

with warnings.catch_warnings():
    # kafka-python loads its protocol schemas with importlib.resources' legacy API.
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError

TIMEOUT_MS = 30_000


def produce(producer: KafkaProducer, topic: str, outgoing: Iterable[Any]) -> list[tuple[int, int]]:
    """Send every record, flush, and return each acknowledged (partition, offset) in send order."""
    futures = [
        producer.send(
            topic,
            key=out.key,
            value=out.value,
            headers=list(out.headers),
            partition=out.partition,
            timestamp_ms=out.timestamp_ms,
        )
        for out in outgoing
    ]
    producer.flush(timeout=TIMEOUT_MS / 1000)
    acked = []
    for future in futures:
        metadata = future.get(timeout=0)  # raises the send's error, if any
        acked.append((metadata.partition, metadata.offset))
    return acked


def read_back(
    bootstrap: str, topic: str, partitions: int, count: int, timeout: float = 90.0
) -> tuple[list[Record], dict[tuple[int, int], int]]:
    """Read ``count`` records from the start: (records sorted by partition and offset,
    (partition, offset) -> timestamp)."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_bytes=16 << 20,
        max_partition_fetch_bytes=4 << 20,
    )
    records: list[Record] = []
    timestamps: dict[tuple[int, int], int] = {}
    deadline = time.monotonic() + timeout
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        consumer.seek_to_beginning()
        while len(records) < count and time.monotonic() < deadline:
            for messages in consumer.poll(timeout_ms=500, max_records=50_000).values():
                for m in messages:
                    records.append(Record(m.partition, m.offset, m.key, m.value, tuple(m.headers)))
                    timestamps[m.partition, m.offset] = m.timestamp
    finally:
        consumer.close()
    assert len(records) >= count, f"read {len(records)} of {count} records in {timeout}s"
    return sorted(records), timestamps


@pytest.fixture
def offsets_client(shared_broker: ServerProcess) -> Iterator[KafkaConsumer]:
    """A group-less consumer used only for ListOffsets (end/beginning offsets, by time)."""
    consumer = KafkaConsumer(bootstrap_servers=shared_broker.bootstrap, group_id=None)
    yield consumer
    consumer.close()


def assert_end_offsets(client: KafkaConsumer, topic: str, expected: dict[int, int]) -> None:
    """Latest == records acked so far, earliest == 0."""
    tps = [TopicPartition(topic, p) for p in expected]
    assert {tp.partition: o for tp, o in client.end_offsets(tps, TIMEOUT_MS).items()} == expected
    beginning = client.beginning_offsets(tps, TIMEOUT_MS)
    assert {tp.partition: o for tp, o in beginning.items()} == dict.fromkeys(expected, 0)


def test_round_trip_exact(
    shared_broker: ServerProcess,
    topic_name: str,
    edge_workload: Any,
    assert_same: Any,
    offsets_client: KafkaConsumer,
    stored_batches: Any,
) -> None:
    bootstrap = shared_broker.bootstrap
    workload = edge_workload(null_header_values=False)  # kafka-python refuses None header values
    create_topic(bootstrap, topic_name, workload.partitions)
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    acked: list[tuple[int, int]] = []
    try:
        for chunk in workload.rounds(9):
            acked += produce(producer, topic_name, chunk)
            assert_end_offsets(offsets_client, topic_name, workload.end_offsets(len(acked)))
    finally:
        producer.close()
    assert sorted(acked) == [(r.partition, r.offset) for r in workload.expected]

    records, timestamps = read_back(
        bootstrap, topic_name, workload.partitions, len(workload.outgoing)
    )
    assert_same(records, workload.expected)
    assert timestamps == workload.timestamps
    # What kafka-python wrote, librdkafka reads the same.
    assert_same(
        read_topic(bootstrap, topic_name, workload.partitions, len(workload.outgoing)),
        workload.expected,
    )
    # Idempotent by default: every batch carries a producer id and sequence.
    batches = stored_batches(topic_name, 0)
    assert batches and all(b.producer_id >= 0 and b.base_sequence >= 0 for b in batches)


def test_offsets_for_times(
    shared_broker: ServerProcess, topic_name: str, edge_workload: Any, offsets_client: KafkaConsumer
) -> None:
    workload = edge_workload(null_header_values=False)
    create_topic(shared_broker.bootstrap, topic_name, workload.partitions)
    producer = KafkaProducer(bootstrap_servers=shared_broker.bootstrap)
    try:
        produce(producer, topic_name, workload.outgoing)
    finally:
        producer.close()
    after_all = max(workload.timestamps.values()) + 1
    for p in range(workload.partitions):
        tp = TopicPartition(topic_name, p)
        timestamp, offset = workload.timestamp_query(p)
        found = offsets_client.offsets_for_times({tp: timestamp}, TIMEOUT_MS)[tp]
        assert found is not None and found.offset == offset, (p, timestamp, found)
        assert found.timestamp == workload.timestamps[p, offset]
        assert offsets_client.offsets_for_times({tp: after_all}, TIMEOUT_MS)[tp] is None


def test_100k_records_byte_for_byte(
    shared_broker: ServerProcess,
    topic_name: str,
    codec: str,
    codec_id: int,
    big_workload: Any,
    assert_same: Any,
    stored_batches: Any,
    offsets_client: KafkaConsumer,
) -> None:
    bootstrap = shared_broker.bootstrap
    create_topic(bootstrap, topic_name, big_workload.partitions)
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        compression_type=None if codec == "none" else codec,
        linger_ms=20,
        batch_size=256 * 1024,
        max_request_size=4 << 20,
    )
    try:
        acked = produce(producer, topic_name, big_workload.outgoing)
    finally:
        producer.close()
    assert sorted(acked) == [(r.partition, r.offset) for r in big_workload.expected]
    assert_end_offsets(offsets_client, topic_name, big_workload.end_offsets())

    records, _ = read_back(
        bootstrap, topic_name, big_workload.partitions, len(big_workload.outgoing)
    )
    assert_same(records, big_workload.expected)
    for p, end in big_workload.end_offsets().items():
        batches = stored_batches(topic_name, p)
        # kafka-python sends a batch uncompressed when compressing would not make it smaller
        # (a small batch of random bytes): stored verbatim, it stays uncompressed.
        codecs = {b.compression for b in batches}
        assert codec_id in codecs and codecs <= {codec_id, 0}, (
            f"partition {p} not stored as {codec}: codecs {codecs}"
        )
        assert sum(b.records_count for b in batches) == end


def test_consumer_follows_new_data_through_an_incremental_fetch_session(
    shared_broker: ServerProcess, topic_name: str, big_workload: Any, assert_same: Any
) -> None:
    """kafka-python speaks KIP-227: after the first full fetch, only incremental ones."""
    bootstrap = shared_broker.bootstrap
    workload = big_workload.head(3000)
    create_topic(bootstrap, topic_name, workload.partitions)
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, fetch_max_wait_ms=100)
    records: list[Record] = []
    try:
        consumer.assign([TopicPartition(topic_name, p) for p in range(workload.partitions)])
        consumer.seek_to_beginning()
        for chunk in workload.rounds(5):
            produce(producer, topic_name, chunk)
            target = len(records) + len(chunk)
            deadline = time.monotonic() + 30
            while len(records) < target and time.monotonic() < deadline:
                for messages in consumer.poll(timeout_ms=200).values():
                    records += [
                        Record(m.partition, m.offset, m.key, m.value, tuple(m.headers))
                        for m in messages
                    ]
        # Private state, read only to prove a session was really used: its id and epoch.
        (session,) = [h.next_metadata for h in consumer._fetcher._session_handlers.values()]
    finally:
        consumer.close()
        producer.close()
    assert_same(sorted(records), workload.expected)
    assert session.session_id != 0, "the broker opened no fetch session"
    assert session.epoch > 5, "expected several incremental fetches in the session"


# -- admin -------------------------------------------------------------------------------------


@pytest.fixture
def admin(shared_broker: ServerProcess) -> Iterator[KafkaAdminClient]:
    client = KafkaAdminClient(bootstrap_servers=shared_broker.bootstrap)
    yield client
    client.close()


def test_create_and_delete_topics(admin: KafkaAdminClient, topic_name: str) -> None:
    response = admin.create_topics(
        [NewTopic(topic_name, 3, 1, topic_configs={"retention.ms": "4242"})]
    )
    (created,) = response["topics"]
    assert (created["name"], created["error_code"], created["num_partitions"]) == (topic_name, 0, 3)
    assert created["configs"]["retention.ms"]["value"] == "4242"
    assert topic_name in admin.list_topics()
    with pytest.raises(TopicAlreadyExistsError):
        admin.create_topics([NewTopic(topic_name, 1, 1)])

    (deleted,) = admin.delete_topics([topic_name])["topics"]
    assert (deleted["name"], deleted["error_code"]) == (topic_name, 0)
    assert topic_name not in admin.list_topics()
    with pytest.raises(UnknownTopicOrPartitionError):
        admin.delete_topics([topic_name])


def test_create_topics_validate_only(admin: KafkaAdminClient, topic_name: str) -> None:
    (checked,) = admin.create_topics([NewTopic(topic_name, 2, 1)], validate_only=True)["topics"]
    assert checked["error_code"] == 0
    assert topic_name not in admin.list_topics()


def test_describe_configs(admin: KafkaAdminClient, topic_name: str) -> None:
    admin.create_topics([NewTopic(topic_name, 1, 1, topic_configs={"cleanup.policy": "compact"})])
    resource = ConfigResource(ConfigResourceType.TOPIC, topic_name)
    described = admin.describe_configs([resource], config_filter="all")["topic"][topic_name]
    assert described["cleanup.policy"]["value"] == "compact"
    assert described["cleanup.policy"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"
    assert described["max.message.bytes"]["value"] == "1048588"
    assert described["max.message.bytes"]["config_source"] == "DEFAULT_CONFIG"
    # The default filter, "modified", keeps only what was set on the topic.
    modified = admin.describe_configs([resource])["topic"][topic_name]
    assert set(modified) == {"cleanup.policy"}
    named = ConfigResource(ConfigResourceType.TOPIC, topic_name, configs={"retention.ms": None})
    only = admin.describe_configs([named], config_filter="all")["topic"][topic_name]
    assert set(only) == {"retention.ms"}
