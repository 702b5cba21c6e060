"""Client quota configs in a 3-broker cluster: any broker takes an alteration, every broker
describes it without a restart, and ZooKeeper holds it in Kafka's layout.

Raw requests pick the broker (the one that alters, the ones that describe); the cluster's
kazoo observer reads and writes ZooKeeper as an operator, or Kafka's own tooling, would.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from harness import GreteCluster
from integration.client_quotas import (
    EXACT,
    NONE,
    Entity,
    alter,
    client,
    describe,
    user,
    user_client,
)
from integration.raw_kafka import RawKafka

from .scenarios import create_replicated_topic

pytestmark = pytest.mark.cluster

SEEN_WITHIN = 10.0  # every broker describes a change within this


def described_by(cluster: GreteCluster, broker_id: int) -> dict[Entity, dict[str, float]]:
    with RawKafka(cluster.broker(broker_id).bootstrap) as raw:
        return describe(raw)


def wait_for_every_broker(
    cluster: GreteCluster, condition: Callable[[dict[Entity, dict[str, float]]], bool], what: str
) -> None:
    deadline = time.monotonic() + SEEN_WITHIN
    pending = set(cluster.broker_ids)
    last: dict[int, object] = {}
    while pending:
        for broker_id in sorted(pending):
            last[broker_id] = found = described_by(cluster, broker_id)
            if condition(found):
                pending.discard(broker_id)
        if pending and time.monotonic() > deadline:
            raise AssertionError(
                f"{what}: brokers {sorted(pending)} describe {last} after {SEEN_WITHIN}s"
            )
        time.sleep(0.05)


def test_quotas_altered_through_one_broker_reach_every_broker_through_zookeeper(
    cluster: GreteCluster,
) -> None:
    observer = cluster.observer()
    quotas = {
        user_client("alice@example.com", "app"): {
            "producer_byte_rate": 1024.0,
            "request_percentage": 50.0,
        },
        client(None): {"consumer_byte_rate": 2048.0},
    }
    with RawKafka(cluster.broker(1).bootstrap) as raw:
        assert [r[:2] for r in alter(raw, list(quotas.items()))] == [(NONE, None)] * 2
        assert describe(raw) == quotas  # the broker that wrote sees it at once
    wait_for_every_broker(cluster, lambda found: found == quotas, "the alteration")

    def znode(path: str) -> object:
        return json.loads(observer.get(path)[0])

    assert znode("/config/users/alice%40example.com/clients/app") == {
        "version": 1,
        "config": {"producer_byte_rate": "1024", "request_percentage": "50.0"},
    }
    assert znode("/config/clients/<default>") == {
        "version": 1,
        "config": {"consumer_byte_rate": "2048"},
    }
    changes = [
        znode(f"/config/changes/{c}") for c in sorted(observer.get_children("/config/changes"))
    ]
    assert {"version": 2, "entity_path": "users/alice%40example.com/clients/app"} in changes
    assert {"version": 2, "entity_path": "clients/<default>"} in changes

    # What Kafka's kafka-configs.sh --zookeeper did: the znode, then a notification.
    observer.create(
        "/config/users/<default>", b'{"version":1,"config":{"producer_byte_rate":"300"}}'
    )
    observer.create(
        "/config/changes/config_change_",
        b'{"version":2,"entity_path":"users/<default>"}',
        sequence=True,
    )
    quotas[user(None)] = {"producer_byte_rate": 300.0}
    wait_for_every_broker(
        cluster, lambda found: found == quotas, "a change written by Kafka's tooling"
    )

    # Another broker removes every quota of the pair: the znode and its empty parents go.
    with RawKafka(cluster.broker(2).bootstrap) as raw:
        pair = user_client("alice@example.com", "app")
        assert alter(raw, [(pair, {"producer_byte_rate": None, "request_percentage": None})])[0][
            :2
        ] == (
            NONE,
            None,
        )
        assert describe(raw, [("user", EXACT, "alice@example.com")]) == {}
    del quotas[user_client("alice@example.com", "app")]
    wait_for_every_broker(cluster, lambda found: found == quotas, "the removal")
    assert observer.exists("/config/users/alice%40example.com") is None

    # Enforced by every broker: a quota set through broker 0 throttles a producer on the
    # leaders of all three partitions (a quota is per broker, as Kafka's).
    # (Without the <default> user quota, which would come first, KIP-55, and catch all.)
    with RawKafka(cluster.broker(0).bootstrap) as raw:
        altered = alter(raw, [(client("capped"), {"producer_byte_rate": 10_000.0}),
                              (user(None), {"producer_byte_rate": None})])
        assert [r[:2] for r in altered] == [(NONE, None)] * 2
    quotas[client("capped")] = {"producer_byte_rate": 10_000.0}
    del quotas[user(None)]
    wait_for_every_broker(cluster, lambda found: found == quotas, "the producer quota")
    assert throttling_brokers(cluster, "quota-topic", "capped") == set(cluster.broker_ids)
    assert throttling_brokers(cluster, "quota-topic", "free") == set()


def throttling_brokers(cluster: GreteCluster, topic: str, client_id: str) -> set[int]:
    """Brokers that answered ``client_id``'s Produce with throttle_time_ms > 0 while it sent
    10 KB records round-robin to the topic's three partitions (leaders on each broker):
    until all three did, 3 MB, or 30 s."""
    create = AdminClient({"bootstrap.servers": cluster.bootstrap})
    if topic not in create.list_topics(timeout=10).topics:
        create_replicated_topic(cluster, topic)
    leaders = {p.leader for p in create.list_topics(topic, timeout=10).topics[topic].partitions.values()}
    assert leaders == set(cluster.broker_ids)
    throttled: set[int] = set()
    producer = Producer({
        "bootstrap.servers": cluster.bootstrap,
        "client.id": client_id,
        "linger.ms": 5,
        "throttle_cb": lambda e: throttled.add(e.broker_id) if e.throttle_time > 0 else None,
    })
    deadline = time.monotonic() + 30
    sent = 0
    while throttled != leaders and time.monotonic() < deadline and sent < 300:
        try:
            producer.produce(topic, b"x" * 10_000, partition=sent % 3)
            sent += 1
        except BufferError:
            pass
        producer.poll(0.01)
    producer.poll(1.0)
    producer.purge()
    producer.flush(0)
    assert sent > 0
    return throttled
