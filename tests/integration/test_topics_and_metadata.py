"""Metadata with auto topic creation, and DescribeLogDirs, through confluent-kafka's clients."""

from __future__ import annotations

from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic


def test_producing_to_a_new_topic_creates_it_with_broker_defaults(broker_factory) -> None:  # type: ignore[no-untyped-def]
    broker = broker_factory("--override", "num.partitions=3")
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    producer.produce("auto-created", value=b"x")
    assert producer.flush(10) == 0
    topic = AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=10).topics["auto-created"]
    assert sorted(topic.partitions) == [0, 1, 2]
    assert all(p.leader == 0 and p.replicas == [0] and p.isrs == [0] for p in topic.partitions.values())


def test_auto_creation_can_be_switched_off(broker_factory) -> None:  # type: ignore[no-untyped-def]
    broker = broker_factory("--override", "auto.create.topics.enable=false")
    errors: list[KafkaError] = []
    producer = Producer({"bootstrap.servers": broker.bootstrap, "message.timeout.ms": 2000,
                         "error_cb": errors.append})
    results: list[KafkaError | None] = []
    producer.produce("not-created", value=b"x", on_delivery=lambda err, msg: results.append(err))
    producer.flush(10)
    assert results and results[0] is not None
    assert results[0].code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._MSG_TIMED_OUT,
                                 KafkaError._UNKNOWN_TOPIC)
    assert "not-created" not in AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=10).topics


def test_describe_log_dirs_reports_partition_sizes(broker) -> None:  # type: ignore[no-untyped-def]
    from .raw_kafka import RawKafka

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("sized", 2, 1)])["sized"].result(10)
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for _ in range(50):
        producer.produce("sized", value=b"v" * 1000, partition=1)
    assert producer.flush(10) == 0
    with RawKafka(broker.bootstrap) as raw:
        response = raw.request(35, 4, topics=None)
    result = response.results[0]
    assert result.log_dir == str(broker.data_dir.resolve())
    sizes = {(t.name, p.partition_index): p.partition_size for t in result.topics for p in t.partitions}
    log1 = broker.data_dir / "sized-1" / "00000000000000000000.log"
    assert sizes[("sized", 0)] == 0
    assert sizes[("sized", 1)] == log1.stat().st_size > 50_000
