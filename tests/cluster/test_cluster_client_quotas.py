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
