"""Znode paths of Kafka's classic ZooKeeper layout, and the names they refuse."""

from __future__ import annotations

import pytest

from grete.cluster.zookeeper import paths


def test_kafka_paths() -> None:
    assert paths.broker_id_path(0) == "/brokers/ids/0"
    assert paths.topic_path("foo") == "/brokers/topics/foo"
    assert paths.topic_partitions_path("foo") == "/brokers/topics/foo/partitions"
    assert paths.topic_partition_state_path("foo", 3) == "/brokers/topics/foo/partitions/3/state"
    assert paths.topic_config_path("foo") == "/config/topics/foo"
    assert paths.client_config_path("app") == "/config/clients/app"
    assert paths.client_config_path(paths.DEFAULT_ENTITY) == "/config/clients/<default>"
    assert paths.broker_config_path(1) == "/config/brokers/1"
    assert paths.broker_config_path(None) == "/config/brokers/<default>"
    assert paths.delete_topic_path("foo") == "/admin/delete_topics/foo"
    assert paths.config_change_create_path() == "/config/changes/config_change_"
    assert paths.config_change_path(12) == "/config/changes/config_change_0000000012"
    assert paths.isr_change_path(0) == "/isr_change_notification/isr_change_0000000000"
    assert (paths.CONTROLLER, paths.CONTROLLER_EPOCH) == ("/controller", "/controller_epoch")
    assert paths.CLUSTER_ID == "/cluster/id"
    assert paths.LATEST_PRODUCER_ID_BLOCK == "/latest_producer_id_block"
    assert paths.BROKER_SEQUENCE_ID == "/brokers/seqid"
    assert paths.REASSIGN_PARTITIONS == "/admin/reassign_partitions"
    assert paths.ISR_CHANGE_NOTIFICATION == "/isr_change_notification"


def test_persistent_paths_include_each_config_entity_type() -> None:
    assert {"/brokers/ids", "/brokers/topics", "/config/changes", "/admin/delete_topics"} <= set(
        paths.PERSISTENT_PATHS
    )
    assert {f"/config/{t}" for t in ("topics", "clients", "users", "brokers", "ips")} <= set(
        paths.PERSISTENT_PATHS
    )


@pytest.mark.parametrize("topic", ["", "a/b", "..", ".", "a b", "x" * 250, "../controller"])
def test_illegal_topic_names_never_become_paths(topic: str) -> None:
    with pytest.raises(ValueError):
        paths.topic_path(topic)
    with pytest.raises(ValueError):
        paths.topic_config_path(topic)
    with pytest.raises(ValueError):
        paths.delete_topic_path(topic)


def test_negative_ids_are_refused() -> None:
    with pytest.raises(ValueError):
        paths.broker_id_path(-1)
    with pytest.raises(ValueError):
        paths.topic_partition_state_path("foo", -1)
    with pytest.raises(ValueError):
        paths.config_change_path(-1)
    with pytest.raises(ValueError):
        paths.config_change_path(10**10)


def test_client_ids_are_sanitized_like_kafka() -> None:
    # Kafka's Sanitizer: URL encoding with %20 for space and %2A for '*'; '~' kept.
    assert paths.sanitize_entity_name("my app*/1~") == "my%20app%2A%2F1~"
    assert paths.sanitize_entity_name("User:é") == "User%3A%C3%A9"
    assert paths.client_config_path("a/b") == "/config/clients/a%2Fb"


def test_config_entity_paths_check_type_and_name() -> None:
    with pytest.raises(ValueError):
        paths.config_entity_path("groups", "g")
    with pytest.raises(ValueError):
        paths.config_entity_path("clients", "a/b")
    with pytest.raises(ValueError):
        paths.config_entity_path("clients", "")


def test_sequence_numbers() -> None:
    assert paths.sequence_number("config_change_", "config_change_0000000042") == 42
    assert (
        paths.sequence_number(
            paths.ISR_CHANGE_PREFIX, "/isr_change_notification/isr_change_0000000007"
        )
        == 7
    )
    for bad in ("config_change_", "config_change_x1", "other_0000000001", "config_change_-1"):
        with pytest.raises(ValueError):
            paths.sequence_number("config_change_", bad)
