"""Metadata with auto topic creation, and DescribeLogDirs, through confluent-kafka's clients."""

from __future__ import annotations

from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic


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


def test_metadata_for_every_topic_follows_each_change(broker) -> None:  # type: ignore[no-untyped-def]
    """All-topic Metadata is answered from an encoded copy while nothing changes: each
    answer carries its own correlation id, and a topic created or grown shows at once."""
    from grete.protocol import ApiKey

    from .raw_kafka import RawKafka

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})

    def every_topic(raw: RawKafka, version: int) -> dict[str, int]:
        response = raw.request(ApiKey.METADATA, version, topics=None, allow_auto_topic_creation=False)
        return {t.name: len(t.partitions) for t in response.topics}

    with RawKafka(broker.bootstrap) as raw:
        for version in (1, 9, 12):  # decode_response checks each correlation id
            assert "cached-a" not in every_topic(raw, version)
            assert every_topic(raw, version) == every_topic(raw, version)
        admin.create_topics([NewTopic("cached-a", 2, 1)])["cached-a"].result(10)
        for version in (1, 9, 12):
            assert every_topic(raw, version)["cached-a"] == 2
        admin.create_partitions([NewPartitions("cached-a", 5)])["cached-a"].result(10)
        assert every_topic(raw, 12)["cached-a"] == 5
        assert every_topic(raw, 1)["cached-a"] == 5
        admin.delete_topics(["cached-a"])["cached-a"].result(10)
        assert "cached-a" not in every_topic(raw, 12)


def _meta_properties(data_dir) -> dict[str, str]:  # type: ignore[no-untyped-def]
    lines = (data_dir / "meta.properties").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def test_describe_cluster_on_a_single_node(broker_factory) -> None:  # type: ignore[no-untyped-def]
    """Raw DescribeCluster at v0 and at the highest version advertised: the cluster id the
    broker keeps in meta.properties, itself as controller, itself as the only broker."""
    from grete.protocol import ApiKey, ErrorCode

    from .raw_kafka import RawKafka

    cluster_id = "MkU3OEVBNTcwNTJENDM2Qg"  # a Kafka cluster id: 16 bytes, URL-safe base64
    broker = broker_factory("--override", f"cluster.id={cluster_id}")
    meta = _meta_properties(broker.data_dir)
    assert meta["cluster.id"] == cluster_id
    node_id = int(meta.get("node.id", meta.get("broker.id", "-1")))
    low, high = broker.api_ranges[ApiKey.DESCRIBE_CLUSTER]
    assert low == 0 and high >= 1
    with RawKafka(broker.bootstrap) as raw:
        for version in sorted({0, high}):
            fields: dict[str, object] = {"include_cluster_authorized_operations": False}
            if version >= 1:
                fields["endpoint_type"] = 1  # brokers, not controllers
            if version >= 2:
                fields["include_fenced_brokers"] = False
            response = raw.request(ApiKey.DESCRIBE_CLUSTER, version, **fields)
            assert (response.error_code, response.error_message) == (ErrorCode.none, None), version
            assert response.cluster_id == cluster_id, version
            assert response.controller_id == node_id == 0, version
            brokers = [(b.broker_id, b.host, b.port, b.rack) for b in response.brokers]
            assert brokers == [(node_id, "127.0.0.1", broker.port, None)], version
            if version >= 1:
                assert response.endpoint_type == 1
        # Metadata tells clients the same cluster and controller.
        metadata = raw.request(ApiKey.METADATA, 12, topics=[], allow_auto_topic_creation=False,
                               include_topic_authorized_operations=False)
        assert (metadata.cluster_id, metadata.controller_id) == (cluster_id, node_id)
