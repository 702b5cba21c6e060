"""ACLs in a 3-broker cluster: created through one broker, enforced by every broker without a
restart, stored in ZooKeeper in Kafka's layout; replication keeps working with the
authorizer on.

With ``allow.everyone.if.no.acl.found=true`` the Cluster resource has no ACL, so brokers
(User:ANONYMOUS on the plaintext inter-broker listener) keep their ClusterAction; the ACLs
under test deny User:ANONYMOUS on some topics. Extend with SASL principals once they exist.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer
from harness import GreteCluster, ZooKeeperProcess
from integration.raw_kafka import RawKafka

from grete.protocol import ApiKey, ErrorCode

from .conftest import CLUSTER_OVERRIDES

pytestmark = pytest.mark.cluster

SEEN_WITHIN = 10.0
ANON = "User:ANONYMOUS"
TOPIC, LITERAL, PREFIXED = 2, 3, 4
ANY, ALL, DESCRIBE = 1, 2, 8
DENY = 2


def metadata_error(cluster: GreteCluster, broker_id: int, topic: str) -> ErrorCode:
    with RawKafka(cluster.broker(broker_id).bootstrap) as raw:
        wanted = [raw.make(ApiKey.METADATA, 12, "MetadataRequestTopic", name=topic)]
        response = raw.request(ApiKey.METADATA, 12, topics=wanted, allow_auto_topic_creation=False,
                               include_topic_authorized_operations=False)
        return ErrorCode(response.topics[0].error_code)


def wait_on_every_broker(cluster: GreteCluster, topic: str, expected: ErrorCode) -> None:
    deadline = time.monotonic() + SEEN_WITHIN
    pending = set(cluster.broker_ids)
    seen: dict[int, ErrorCode] = {}
    while pending:
        for broker_id in sorted(pending):
            seen[broker_id] = metadata_error(cluster, broker_id, topic)
            if seen[broker_id] == expected:
                pending.discard(broker_id)
        if pending and time.monotonic() > deadline:
            raise AssertionError(f"{topic}: brokers answer {seen}, not {expected.name}, after {SEEN_WITHIN}s")
        time.sleep(0.05)


def create_acl(cluster: GreteCluster, broker_id: int, name: str, pattern: int, operation: int) -> None:
    with RawKafka(cluster.broker(broker_id).bootstrap) as raw:
        creation = raw.make(ApiKey.CREATE_ACLS, 3, "AclCreation", resource_type=TOPIC, resource_name=name,
                            resource_pattern_type=pattern, principal=ANON, host="*",
                            operation=operation, permission_type=DENY)
        response = raw.request(ApiKey.CREATE_ACLS, 3, creations=[creation])
        assert [r.error_code for r in response.results] == [ErrorCode.none]


@pytest.fixture
def acl_cluster(zookeeper: ZooKeeperProcess, tmp_path: Path) -> Iterator[GreteCluster]:
    overrides = {**CLUSTER_OVERRIDES, "authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
                 "allow.everyone.if.no.acl.found": "true"}
    started = GreteCluster(zookeeper, tmp_path / "cluster", size=3, overrides=overrides)
    started.start()
    try:
        yield started
    finally:
        started.stop()


def test_acl_created_through_one_broker_is_enforced_by_every_broker(acl_cluster: GreteCluster) -> None:
    cluster = acl_cluster
    prefix = f"acl-{uuid.uuid4().hex[:8]}"
    hidden, open_topic = f"{prefix}-hidden", f"{prefix}-open"
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all", "message.timeout.ms": 15000})
    delivered: list[object] = []
    for topic in (hidden, open_topic):  # auto-created, RF 3
        producer.produce(topic, b"before", on_delivery=lambda err, _m: delivered.append(err))
    producer.flush(20)
    assert delivered == [None, None], delivered

    first, second, third = sorted(cluster.broker_ids)
    create_acl(cluster, first, hidden, LITERAL, DESCRIBE)
    create_acl(cluster, first, f"{prefix}-pre", PREFIXED, ALL)
    wait_on_every_broker(cluster, hidden, ErrorCode.topic_authorization_failed)

    # Kafka's znodes and change notifications.
    zk = cluster.observer()
    deny_describe = {"principal": ANON, "permissionType": "Deny", "operation": "Describe", "host": "*"}
    literal, _ = zk.get(f"/kafka-acl/Topic/{hidden}")
    assert json.loads(literal) == {"version": 1, "acls": [deny_describe]}
    prefixed, _ = zk.get(f"/kafka-acl-extended/prefixed/Topic/{prefix}-pre")
    assert json.loads(prefixed) == {"version": 1, "acls": [{**deny_describe, "operation": "All"}]}
    literal_changes = [zk.get(f"/kafka-acl-changes/{c}")[0] for c in zk.get_children("/kafka-acl-changes")]
    assert f"TOPIC:{hidden}".encode() in literal_changes
    extended = [json.loads(zk.get(f"/kafka-acl-extended-changes/{c}")[0])
                for c in zk.get_children("/kafka-acl-extended-changes")]
    assert {"version": 1, "resourceType": "TOPIC", "name": f"{prefix}-pre", "patternType": "PREFIXED"} in extended
    assert all(c.startswith("acl_changes_") for c in zk.get_children("/kafka-acl-changes"))

    # Replication still works with the authorizer on (acks=all, min ISR 2).
    producer.produce(open_topic, b"after", on_delivery=lambda err, _m: delivered.append(err))
    producer.flush(20)
    assert delivered[-1] is None, delivered[-1]

    # Deleted through another broker: every broker shows the topic again.
    with RawKafka(cluster.broker(third).bootstrap) as raw:
        selector = raw.make(ApiKey.DELETE_ACLS, 3, "DeleteAclsFilter", resource_type_filter=TOPIC,
                            resource_name_filter=hidden, pattern_type_filter=LITERAL, principal_filter=None,
                            host_filter=None, operation=ANY, permission_type=ANY)
        response = raw.request(ApiKey.DELETE_ACLS, 3, filters=[selector])
        assert [len(r.matching_acls) for r in response.filter_results] == [1]
    wait_on_every_broker(cluster, hidden, ErrorCode.none)
    assert zk.exists(f"/kafka-acl/Topic/{hidden}") is None
    assert metadata_error(cluster, second, f"{prefix}-pre-x") == ErrorCode.topic_authorization_failed
