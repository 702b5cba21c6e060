"""confluent-kafka (librdkafka) against Grete: produce, consume, offsets, acks, idempotence, admin.

Every record read back is compared exactly with what was sent: partition, offset,
key, value and headers (and timestamps where the test set them). Consumers use
assign(), not subscribe(): Grete has no group coordinator yet.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    OffsetSpec,
    ResourceType,
)
from harness import ServerProcess
from harness.kafka import Record, create_topic
from integration.raw_kafka import RawKafka

from grete.protocol import ApiKey
from grete.records.builder import Record as BuilderRecord
from grete.records.builder import build_batch

TIMEOUT = 30.0
CODEC_NUMBERS = {"gzip": 1, "snappy": 2}
# librdkafka enables LZ4 only if the broker lists FindCoordinator (key 10) in ApiVersions.
CODEC_MARKS: dict[str, Any] = {}


# -- helpers -----------------------------------------------------------------------------------


def produce(producer: Producer, topic: str, outgoing: Iterable[Any]) -> list[tuple[int, int]]:
    """Send every record, flush, and return the (partition, offset) of each delivery report
    in send order; fails on any delivery error."""
    reports: list[tuple[int, int]] = []
    errors: list[KafkaError] = []

    def on_delivery(error: KafkaError | None, message: Any) -> None:
        if error is not None:
            errors.append(error)
        else:
            reports.append((message.partition(), message.offset()))

    for i, out in enumerate(outgoing):
        extra = {} if out.timestamp_ms is None else {"timestamp": out.timestamp_ms}
        producer.produce(
            topic,
            key=out.key,
            value=out.value,
            headers=list(out.headers),
            partition=out.partition,
            on_delivery=on_delivery,
            **extra,
        )
        if i % 5000 == 4999:
            producer.poll(0)
    assert producer.flush(TIMEOUT) == 0, "records still queued after flush"
    assert not errors, errors[:5]
    return reports


def read_back(
    bootstrap: str, topic: str, partitions: int, count: int, timeout: float = 90.0
) -> tuple[list[Record], dict[tuple[int, int], int]]:
    """Read ``count`` records from the start of every partition: (records sorted by
    partition and offset, (partition, offset) -> timestamp)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"compat-{topic}",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
    )
    records: list[Record] = []
    timestamps: dict[tuple[int, int], int] = {}
    deadline = time.monotonic() + timeout
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        while len(records) < count and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=10_000, timeout=0.5):
                if message.error() is not None:
                    raise KafkaException(message.error())
                record = Record(
                    message.partition(),
                    message.offset(),
                    message.key(),
                    message.value(),
                    tuple(message.headers() or ()),
                )
                records.append(record)
                timestamps[record.partition, record.offset] = message.timestamp()[1]
    finally:
        consumer.close()
    assert len(records) >= count, f"read {len(records)} of {count} records in {timeout}s"
    return sorted(records), timestamps


@pytest.fixture
def admin(shared_broker: ServerProcess) -> AdminClient:
    return AdminClient({"bootstrap.servers": shared_broker.bootstrap})


@pytest.fixture
def watermarks(shared_broker: ServerProcess) -> Iterator[Consumer]:
    """A consumer used only for ListOffsets queries (get_watermark_offsets, offsets_for_times)."""
    consumer = Consumer(
        {"bootstrap.servers": shared_broker.bootstrap, "group.id": "compat-watermarks"}
    )
    yield consumer
    consumer.close()


def list_offsets(
    admin: AdminClient, topic: str, partitions: int, spec: OffsetSpec
) -> dict[int, int]:
    futures = admin.list_offsets(
        {TopicPartition(topic, p): spec for p in range(partitions)}, request_timeout=TIMEOUT
    )
    return {tp.partition: future.result(TIMEOUT).offset for tp, future in futures.items()}


def assert_end_offsets(
    watermarks: Consumer, admin: AdminClient, topic: str, expected: dict[int, int]
) -> None:
    """Latest == records acked so far and earliest == 0, by both ListOffsets paths."""
    for p, end in expected.items():
        low, high = watermarks.get_watermark_offsets(
            TopicPartition(topic, p), timeout=TIMEOUT, cached=False
        )
        assert (low, high) == (0, end), (
            f"partition {p}: watermarks {(low, high)}, expected (0, {end})"
        )
    assert list_offsets(admin, topic, len(expected), OffsetSpec.latest()) == expected
    assert list_offsets(admin, topic, len(expected), OffsetSpec.earliest()) == dict.fromkeys(
        expected, 0
    )


# -- produce and consume -----------------------------------------------------------------------


def test_round_trip_exact(
    shared_broker: ServerProcess,
    topic_name: str,
    edge_workload: Any,
    assert_same: Any,
    admin: AdminClient,
    watermarks: Consumer,
) -> None:
    bootstrap = shared_broker.bootstrap
    workload = edge_workload()
    create_topic(bootstrap, topic_name, workload.partitions)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    reports: list[tuple[int, int]] = []
    for chunk in workload.rounds(9):
        reports += produce(producer, topic_name, chunk)
        assert_end_offsets(watermarks, admin, topic_name, workload.end_offsets(len(reports)))
    assert sorted(reports) == [(r.partition, r.offset) for r in workload.expected]

    records, timestamps = read_back(
        bootstrap, topic_name, workload.partitions, len(workload.outgoing)
    )
    assert_same(records, workload.expected)
    assert timestamps == workload.timestamps


def test_offsets_for_times(
    shared_broker: ServerProcess,
    topic_name: str,
    edge_workload: Any,
    admin: AdminClient,
    watermarks: Consumer,
) -> None:
    workload = edge_workload()
    create_topic(shared_broker.bootstrap, topic_name, workload.partitions)
    produce(Producer({"bootstrap.servers": shared_broker.bootstrap}), topic_name, workload.outgoing)
    after_all = max(workload.timestamps.values()) + 1
    for p in range(workload.partitions):
        timestamp, offset = workload.timestamp_query(p)
        (found,) = watermarks.offsets_for_times(
            [TopicPartition(topic_name, p, timestamp)], timeout=TIMEOUT
        )
        assert found.error is None and found.offset == offset, (p, timestamp, found)
        (found,) = watermarks.offsets_for_times(
            [TopicPartition(topic_name, p, after_all)], timeout=TIMEOUT
        )
        assert found.offset == -1, "no record at or after that timestamp"
        spec = {TopicPartition(topic_name, p): OffsetSpec.for_timestamp(timestamp)}
        assert (
            admin.list_offsets(spec)[TopicPartition(topic_name, p)].result(TIMEOUT).offset == offset
        )
    # The newest timestamp is the last record's (they increase): MAX_TIMESTAMP finds it.
    last = workload.end_offsets()
    assert list_offsets(admin, topic_name, workload.partitions, OffsetSpec.max_timestamp()) == {
        p: end - 1 for p, end in last.items()
    }


def test_100k_records_byte_for_byte(
    shared_broker: ServerProcess,
    topic_name: str,
    codec: str,
    codec_id: int,
    big_workload: Any,
    assert_same: Any,
    stored_batches: Any,
    admin: AdminClient,
    watermarks: Consumer,
) -> None:
    bootstrap = shared_broker.bootstrap
    create_topic(bootstrap, topic_name, big_workload.partitions)
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "compression.type": codec,
            "linger.ms": 20,
            "batch.num.messages": 10_000,
            "queue.buffering.max.messages": 200_000,
        }
    )
    reports = produce(producer, topic_name, big_workload.outgoing)
    assert len(reports) == len(big_workload.outgoing)
    assert_end_offsets(watermarks, admin, topic_name, big_workload.end_offsets())

    records, _ = read_back(
        bootstrap, topic_name, big_workload.partitions, len(big_workload.outgoing)
    )
    assert_same(records, big_workload.expected)
    for p, end in big_workload.end_offsets().items():
        batches = stored_batches(topic_name, p)
        assert {b.compression for b in batches} == {codec_id}, (
            f"partition {p} not stored as {codec}"
        )
        assert sum(b.records_count for b in batches) == end


@pytest.mark.parametrize("kcat_codec", ["gzip", "snappy"])
def test_older_librdkafka_compresses(
    # librdkafka <= 2.11.0 (kcat's 2.0.2) compresses only if ApiVersions lists Produce from
    # v0; Grete lists 0-11 and answers v0-v2 UNSUPPORTED_VERSION, as Kafka 4 does (KAFKA-18659).
    shared_broker: ServerProcess, topic_name: str, kcat: str, kcat_codec: str, stored_batches: Any
) -> None:
    create_topic(shared_broker.bootstrap, topic_name, 1)
    lines = "".join(f"{'compressible ' * 8}{i}\n" for i in range(500))
    done = subprocess.run(
        [kcat, "-b", shared_broker.bootstrap, "-P", "-t", topic_name, "-p", "0", "-z", kcat_codec],
        input=lines.encode(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    batches = stored_batches(topic_name, 0)
    assert sum(b.records_count for b in batches) == 500
    assert {b.compression for b in batches} == {CODEC_NUMBERS[kcat_codec]}


@pytest.mark.parametrize("acks", ["0", "1", "all"])
def test_acks(
    shared_broker: ServerProcess,
    topic_name: str,
    acks: str,
    big_workload: Any,
    assert_same: Any,
    watermarks: Consumer,
    admin: AdminClient,
) -> None:
    bootstrap = shared_broker.bootstrap
    create_topic(bootstrap, topic_name, big_workload.partitions)
    workload = big_workload.head(3000)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": acks, "linger.ms": 5})
    reports = produce(producer, topic_name, workload.outgoing)
    if acks == "0":
        # No response, so no offsets: the records must still all arrive, in order.
        deadline = time.monotonic() + TIMEOUT
        while list_offsets(admin, topic_name, 3, OffsetSpec.latest()) != workload.end_offsets():
            assert time.monotonic() < deadline, "acks=0 records did not all arrive"
            time.sleep(0.05)
    else:
        assert sorted(reports) == [(r.partition, r.offset) for r in workload.expected]
    assert_end_offsets(watermarks, admin, topic_name, workload.end_offsets())
    records, _ = read_back(bootstrap, topic_name, workload.partitions, len(workload.outgoing))
    assert_same(records, workload.expected)


def test_acks_0_produce_gets_no_response_frame(
    shared_broker: ServerProcess, topic_name: str
) -> None:
    """A response to an acks=0 produce would be read as the answer to the next request."""
    create_topic(shared_broker.bootstrap, topic_name, 1)
    with RawKafka(shared_broker.bootstrap) as raw:
        for i in range(3):
            data = raw.make(
                ApiKey.PRODUCE,
                9,
                "PartitionProduceData",
                index=0,
                records=build_batch([BuilderRecord(b"k", b"v%d" % i)]),
            )
            topic = raw.make(
                ApiKey.PRODUCE, 9, "TopicProduceData", name=topic_name, partition_data=[data]
            )
            with pytest.raises(TimeoutError):
                raw.sock.settimeout(0.3)
                raw.request(
                    ApiKey.PRODUCE,
                    9,
                    transactional_id=None,
                    acks=0,
                    timeout=5000,
                    topic_data=[topic],
                )
        raw.sock.settimeout(10)
        part = raw.make(
            ApiKey.LIST_OFFSETS,
            7,
            "ListOffsetsPartition",
            partition_index=0,
            current_leader_epoch=-1,
            timestamp=-1,
        )
        topic = raw.make(
            ApiKey.LIST_OFFSETS, 7, "ListOffsetsTopic", name=topic_name, partitions=[part]
        )
        response = raw.request(
            ApiKey.LIST_OFFSETS, 7, replica_id=-1, isolation_level=0, topics=[topic]
        )
        assert response.topics[0].partitions[0].offset == 3


def test_idempotent_producer_no_duplicates_order_kept(
    shared_broker: ServerProcess,
    topic_name: str,
    big_workload: Any,
    assert_same: Any,
    stored_batches: Any,
) -> None:
    bootstrap = shared_broker.bootstrap
    workload = big_workload.head(20_000)
    create_topic(bootstrap, topic_name, workload.partitions)
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "max.in.flight.requests.per.connection": 5,
            "linger.ms": 1,
            "batch.num.messages": 100,  # many small batches in flight at once
        }
    )
    reports = produce(producer, topic_name, workload.outgoing)
    assert sorted(reports) == [(r.partition, r.offset) for r in workload.expected]
    records, _ = read_back(bootstrap, topic_name, workload.partitions, len(workload.outgoing))
    assert_same(records, workload.expected)  # offsets in send order: no duplicate, no reordering

    producers = set()
    for p in range(workload.partitions):
        batches = stored_batches(topic_name, p)
        assert len(batches) > 10, "expected many batches, to have several in flight"
        producers |= {(b.producer_id, b.producer_epoch) for b in batches}
        # One producer from sequence 0 on a fresh partition: each batch's sequence is its offset.
        assert [b.base_sequence for b in batches] == [b.base_offset for b in batches]
    ((producer_id, epoch),) = producers
    assert producer_id >= 0 and epoch >= 0


# -- admin -------------------------------------------------------------------------------------


def topic_error(admin: AdminClient, topic: str) -> KafkaError | None:
    """None if describe_topics finds the topic, else its error."""
    try:
        admin.describe_topics(TopicCollection([topic]))[topic].result(TIMEOUT)
    except KafkaException as exc:
        return exc.args[0]
    return None


def test_create_topics_validate_only_creates_nothing(admin: AdminClient, topic_name: str) -> None:
    futures = admin.create_topics(
        [NewTopic(topic_name, 2, 1)], validate_only=True, request_timeout=TIMEOUT
    )
    assert futures[topic_name].result(TIMEOUT) is None
    error = topic_error(admin, topic_name)
    assert error is not None and error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_create_topics_validate_only_still_validates(admin: AdminClient, topic_name: str) -> None:
    bad = NewTopic(topic_name, 2, 1, config={"cleanup.policy": "sometimes"})
    with pytest.raises(KafkaException) as raised:
        admin.create_topics([bad], validate_only=True)[topic_name].result(TIMEOUT)
    assert raised.value.args[0].code() == KafkaError.INVALID_CONFIG


def test_create_and_delete_topics(admin: AdminClient, topic_name: str) -> None:
    created = admin.create_topics([NewTopic(topic_name, 3, 1, config={"retention.ms": "12345"})])
    assert created[topic_name].result(TIMEOUT) is None
    with pytest.raises(KafkaException) as raised:
        admin.create_topics([NewTopic(topic_name, 3, 1)])[topic_name].result(TIMEOUT)
    assert raised.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS
    resource = ConfigResource(ResourceType.TOPIC, topic_name)
    configs = admin.describe_configs([resource])[resource].result(TIMEOUT)
    assert configs["retention.ms"].value == "12345"

    assert (
        admin.delete_topics([topic_name], operation_timeout=TIMEOUT)[topic_name].result(TIMEOUT)
        is None
    )
    error = topic_error(admin, topic_name)
    assert error is not None and error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    with pytest.raises(KafkaException) as raised:
        admin.delete_topics([topic_name])[topic_name].result(TIMEOUT)
    assert raised.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_create_partitions(
    admin: AdminClient, shared_broker: ServerProcess, topic_name: str
) -> None:
    create_topic(shared_broker.bootstrap, topic_name, 2)

    def partition_count() -> int:
        return len(
            admin.describe_topics(TopicCollection([topic_name]))[topic_name]
            .result(TIMEOUT)
            .partitions
        )

    dry_run = admin.create_partitions([NewPartitions(topic_name, 5)], validate_only=True)
    assert dry_run[topic_name].result(TIMEOUT) is None
    assert partition_count() == 2
    assert (
        admin.create_partitions([NewPartitions(topic_name, 5)])[topic_name].result(TIMEOUT) is None
    )
    assert partition_count() == 5
    with pytest.raises(KafkaException) as raised:
        admin.create_partitions([NewPartitions(topic_name, 3)])[topic_name].result(TIMEOUT)
    assert raised.value.args[0].code() == KafkaError.INVALID_PARTITIONS

    delivered: list[tuple[KafkaError | None, int, int]] = []
    producer = Producer({"bootstrap.servers": shared_broker.bootstrap})
    producer.produce(
        topic_name,
        value=b"to a new partition",
        partition=4,
        on_delivery=lambda e, m: delivered.append((e, m.partition(), m.offset())),
    )
    assert producer.flush(TIMEOUT) == 0
    assert delivered == [(None, 4, 0)]


@pytest.mark.filterwarnings("ignore:alter_configs has been deprecated:DeprecationWarning")
def test_describe_and_alter_topic_configs(
    admin: AdminClient, shared_broker: ServerProcess, topic_name: str
) -> None:
    create_topic(shared_broker.bootstrap, topic_name, 1)
    resource = ConfigResource(ResourceType.TOPIC, topic_name)

    def describe() -> dict[str, ConfigEntry]:
        return admin.describe_configs([resource])[resource].result(TIMEOUT)

    defaults = describe()
    assert defaults["cleanup.policy"].value == "delete"
    assert defaults["cleanup.policy"].source == ConfigSource.DEFAULT_CONFIG.value
    assert defaults["max.message.bytes"].value == "1048588"

    # AlterConfigs replaces the whole set: what is not named returns to its default.
    incremental = ConfigResource(
        ResourceType.TOPIC,
        topic_name,
        incremental_configs=[
            ConfigEntry("retention.ms", "3600000", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    admin.incremental_alter_configs([incremental])[incremental].result(TIMEOUT)
    whole = ConfigResource(ResourceType.TOPIC, topic_name, set_config={"cleanup.policy": "compact"})
    admin.alter_configs([whole])[whole].result(TIMEOUT)
    after = describe()
    assert after["cleanup.policy"].value == "compact"
    assert after["cleanup.policy"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert after["retention.ms"].value == defaults["retention.ms"].value
    assert after["retention.ms"].source == ConfigSource.DEFAULT_CONFIG.value

    # IncrementalAlterConfigs changes only what it names.
    changes = ConfigResource(
        ResourceType.TOPIC,
        topic_name,
        incremental_configs=[
            ConfigEntry("retention.ms", "999", incremental_operation=AlterConfigOpType.SET),
            ConfigEntry("cleanup.policy", None, incremental_operation=AlterConfigOpType.DELETE),
        ],
    )
    admin.incremental_alter_configs([changes])[changes].result(TIMEOUT)
    after = describe()
    assert after["retention.ms"].value == "999"
    assert after["cleanup.policy"].value == "delete"
    assert after["cleanup.policy"].source == ConfigSource.DEFAULT_CONFIG.value

    invalid = ConfigResource(
        ResourceType.TOPIC,
        topic_name,
        incremental_configs=[
            ConfigEntry("retention.ms", "soon", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    with pytest.raises(KafkaException) as raised:
        admin.incremental_alter_configs([invalid])[invalid].result(TIMEOUT)
    assert raised.value.args[0].code() == KafkaError.INVALID_CONFIG
    assert describe()["retention.ms"].value == "999"


def test_describe_cluster(admin: AdminClient, shared_broker: ServerProcess) -> None:
    cluster = admin.describe_cluster(request_timeout=TIMEOUT).result(TIMEOUT)
    assert cluster.cluster_id
    assert [(n.id, n.host, n.port) for n in cluster.nodes] == [(0, "127.0.0.1", shared_broker.port)]
    assert cluster.controller is not None and cluster.controller.id == 0


def test_describe_topics(admin: AdminClient, shared_broker: ServerProcess, topic_name: str) -> None:
    create_topic(shared_broker.bootstrap, topic_name, 3)
    described = admin.describe_topics(TopicCollection([topic_name]))[topic_name].result(TIMEOUT)
    assert described.name == topic_name and not described.is_internal
    topic_id = described.topic_id
    assert (topic_id.get_most_significant_bits(), topic_id.get_least_significant_bits()) != (0, 0)
    assert [p.id for p in described.partitions] == [0, 1, 2]
    for p in described.partitions:
        assert (
            p.leader.id == 0 and [r.id for r in p.replicas] == [0] and [r.id for r in p.isr] == [0]
        )


def test_list_all_topics(admin: AdminClient, shared_broker: ServerProcess, topic_name: str) -> None:
    create_topic(shared_broker.bootstrap, topic_name, 2)
    listed = admin.list_topics(timeout=10)
    assert topic_name in listed.topics and len(listed.topics[topic_name].partitions) == 2
