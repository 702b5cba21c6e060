"""The stock Java client (kafka-clients 3.9) against Grete.

The Java producer is idempotent by default (InitProducerId, sequence numbers); the Java
consumer uses incremental fetch sessions (KIP-227); the Java admin client creates and
describes topics. Every record is checked byte for byte through a second client.
"""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import KafkaError, Message, Producer
from harness import JavaProgram, ServerProcess
from harness.kafka import Record, read_topic

PARTITIONS = 3
COUNT = 1000


def expected_record(partition: int, offset: int, i: int) -> Record:
    return Record(partition, offset, f"k{i}".encode(), f"v{i}".encode(), (("h", str(i).encode()),))


def parse_acks(stdout: str) -> list[tuple[int, int]]:
    return [(int(p), int(o)) for p, o in (line.split() for line in stdout.splitlines())]


def parse_java_records(stdout: str) -> list[Record]:
    """Lines of "partition offset key value h=v[,h=v]" as printed by GreteRoundTrip consume."""
    records = []
    for line in stdout.splitlines():
        partition, offset, key, value, headers = line.split(" ")
        pairs = () if headers == "-" else tuple(h.split("=", 1) for h in headers.split(","))
        records.append(
            Record(
                int(partition), int(offset), key.encode(), value.encode(),
                tuple((name, data.encode()) for name, data in pairs),
            )
        )  # fmt: skip
    return records


def assert_dense_offsets(acks: list[tuple[int, int]]) -> None:
    """A fresh topic's offsets in each partition are exactly 0..n-1, each acked once."""
    by_partition: dict[int, list[int]] = {}
    for partition, offset in acks:
        by_partition.setdefault(partition, []).append(offset)
    assert set(by_partition) <= set(range(PARTITIONS))
    for partition, offsets in by_partition.items():
        assert sorted(offsets) == list(range(len(offsets))), f"partition {partition}"


def create_with_java(java: JavaProgram, bootstrap: str, topic: str) -> None:
    assert java("--bootstrap", bootstrap, "admin-create", topic, str(PARTITIONS)).split() == [
        "created",
        topic,
        str(PARTITIONS),
    ]


@pytest.mark.parametrize("compression", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_java_produce_read_back_by_java_and_librdkafka(
    shared_broker: ServerProcess, java_client: JavaProgram, topic_name: str, compression: str
) -> None:
    bootstrap = shared_broker.bootstrap
    create_with_java(java_client, bootstrap, topic_name)

    produced = java_client(
        "--bootstrap", bootstrap, "--compression", compression, "produce", topic_name, str(COUNT)
    )
    acks = parse_acks(produced)
    assert len(acks) == COUNT
    assert_dense_offsets(acks)
    expected = sorted(expected_record(p, o, i) for i, (p, o) in enumerate(acks))

    consumed_by_java = parse_java_records(
        java_client("--bootstrap", bootstrap, "consume", topic_name, str(COUNT))
    )
    assert consumed_by_java == expected

    assert read_topic(bootstrap, topic_name, PARTITIONS, COUNT) == expected


def test_java_admin_describes_created_topic(
    shared_broker: ServerProcess, java_client: JavaProgram, topic_name: str
) -> None:
    create_with_java(java_client, shared_broker.bootstrap, topic_name)
    lines = java_client("--bootstrap", shared_broker.bootstrap, "describe", topic_name).splitlines()
    assert [line.split()[1] for line in lines] == [str(p) for p in range(PARTITIONS)]
    for line in lines:
        _, _, _, leader, _, replicas, _, isr = line.split()
        assert leader != "none" and replicas == leader and isr == leader, line


def test_java_consumer_reads_librdkafka_records(
    shared_broker: ServerProcess, java_client: JavaProgram, topic_name: str
) -> None:
    bootstrap = shared_broker.bootstrap
    create_with_java(java_client, bootstrap, topic_name)
    expected = produce_with_librdkafka(bootstrap, topic_name, range(COUNT))

    consumed = java_client("--bootstrap", bootstrap, "consume", topic_name, str(COUNT))
    assert parse_java_records(consumed) == expected


def test_java_consumer_follows_live_appends(
    broker: ServerProcess, java_client: JavaProgram, topic_name: str
) -> None:
    """Records arrive in waves while the Java consumer polls: its incremental fetch
    sessions must report each partition's new data and nothing twice."""
    waves, per_wave = 5, 200
    create_with_java(java_client, broker.bootstrap, topic_name)
    expected: list[Record] = []
    failures: list[BaseException] = []

    def produce_waves() -> None:
        try:
            time.sleep(2.0)  # let the consumer's first (empty) fetches go out
            for wave in range(waves):
                numbers = range(wave * per_wave, (wave + 1) * per_wave)
                expected.extend(produce_with_librdkafka(broker.bootstrap, topic_name, numbers))
                time.sleep(0.3)
        except Exception as exc:  # noqa: BLE001 -- re-raised by the main thread below
            failures.append(exc)

    producer = threading.Thread(target=produce_waves, daemon=True)
    producer.start()
    consumed = java_client(
        "--bootstrap", broker.bootstrap, "consume", topic_name, str(waves * per_wave)
    )
    producer.join(timeout=60)
    assert not failures, failures
    assert parse_java_records(consumed) == sorted(expected)


def produce_with_librdkafka(bootstrap: str, topic: str, numbers: range) -> list[Record]:
    """Produce k<i>/v<i>/h=<i> for each i with acks=all; return the acked records, sorted."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    acked: list[Record] = []
    errors: list[str] = []

    def on_delivery(error: KafkaError | None, message: Message) -> None:
        if error is not None:
            errors.append(str(error))
            return
        i = int((message.value() or b"v-1")[1:])
        acked.append(expected_record(message.partition() or 0, message.offset() or 0, i))

    for i in numbers:
        producer.produce(
            topic, key=f"k{i}".encode(), value=f"v{i}".encode(),
            headers=[("h", str(i).encode())], on_delivery=on_delivery,
        )  # fmt: skip
    remaining = producer.flush(30)
    assert remaining == 0 and not errors, (remaining, errors[:5])
    assert len(acked) == len(numbers)
    return sorted(acked)
