"""SCRAM users and ACLs in a 3-broker cluster on ZooKeeper, with real SASL principals.

Every broker has a SASL_PLAINTEXT listener for clients besides the PLAINTEXT one the
brokers use between them. A user created through one broker logs in on another, its
credential lies in ZooKeeper in Kafka's own format, and deleting it through a third broker
ends its logins everywhere. With the ACL authorizer on, a SCRAM principal's produce is
allowed or denied by ACLs on whichever broker leads the partition.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)
from harness import GreteCluster, ZooKeeperProcess

from .conftest import CLUSTER_OVERRIDES

pytestmark = pytest.mark.cluster

SASL = "SASL_PLAINTEXT"
SASL_OVERRIDES = {
    **CLUSTER_OVERRIDES,
    "listener.security.protocol.map": f"PLAINTEXT:PLAINTEXT,{SASL}:{SASL}",
    "sasl.enabled.mechanisms": "SCRAM-SHA-256,SCRAM-SHA-512",
}
WITHIN = 15.0
CREDENTIAL = re.compile(
    r"salt=(?P<salt>[A-Za-z0-9+/=]+),stored_key=(?P<stored>[A-Za-z0-9+/=]+),"
    r"server_key=(?P<server>[A-Za-z0-9+/=]+),iterations=(?P<iterations>\d+)"
)


def _start(zookeeper: ZooKeeperProcess, root: Path, **overrides: str) -> GreteCluster:
    cluster = GreteCluster(zookeeper, root, size=3, overrides={**SASL_OVERRIDES, **overrides},
                           extra_listener_names=[SASL])
    return cluster.start()


@pytest.fixture
def sasl_cluster(zookeeper: ZooKeeperProcess, tmp_path: Path) -> Iterator[GreteCluster]:
    cluster = _start(zookeeper, tmp_path / "cluster")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def acl_sasl_cluster(zookeeper: ZooKeeperProcess, tmp_path: Path) -> Iterator[GreteCluster]:
    # The brokers reach each other as User:ANONYMOUS on PLAINTEXT: a super user, so they
    # still replicate with no ACL for the Cluster resource.
    cluster = _start(zookeeper, tmp_path / "cluster",
                     **{"authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
                        "super.users": "User:ANONYMOUS"})
    try:
        yield cluster
    finally:
        cluster.stop()


def sasl_bootstrap(cluster: GreteCluster, broker_id: int) -> str:
    return f"127.0.0.1:{cluster.listener_port(broker_id, SASL)}"


def scram(user: str, password: str, mechanism: str = "SCRAM-SHA-256") -> dict[str, str]:
    return {"security.protocol": SASL, "sasl.mechanism": mechanism,
            "sasl.username": user, "sasl.password": password}


def alter(bootstrap: str, alteration: UserScramCredentialUpsertion | UserScramCredentialDeletion) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.alter_user_scram_credentials([alteration]).values():
        future.result(timeout=15)


def add_user(bootstrap: str, user: str, password: str,
             mechanism: ScramMechanism = ScramMechanism.SCRAM_SHA_256) -> None:
    alter(bootstrap, UserScramCredentialUpsertion(user, ScramCredentialInfo(mechanism, 4096), password.encode()))


def login(bootstrap: str, conf: dict[str, str], timeout: float = 8.0) -> KafkaError | None:
    """Ask only ``bootstrap`` for metadata as ``conf``'s user: None once it answered, the
    authentication error as soon as librdkafka reports one, else the last error seen."""
    errors: list[KafkaError] = []
    client = Producer({"bootstrap.servers": bootstrap, "error_cb": errors.append, **conf})
    deadline = time.monotonic() + timeout
    last: KafkaError | None = None
    while time.monotonic() < deadline:
        try:
            client.list_topics(timeout=0.5)
            return None
        except KafkaException as exc:
            last = exc.args[0]
        client.poll(0.1)  # serves error_cb
        failed = [e for e in errors if e.code() == KafkaError._AUTHENTICATION]
        if failed:
            return failed[0]
    return errors[0] if errors else last


def wait_login(bootstrap: str, conf: dict[str, str], *, succeeds: bool) -> None:
    deadline = time.monotonic() + WITHIN
    while True:
        error = login(bootstrap, conf, timeout=4.0)
        if succeeds and error is None:
            return
        if not succeeds and error is not None and error.code() == KafkaError._AUTHENTICATION:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"login on {bootstrap}: {error}, wanted success={succeeds}")
        time.sleep(0.2)


def round_trip(bootstrap: str, conf: dict[str, str], topic: str) -> list[bytes]:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "message.timeout.ms": 15000, **conf})
    delivered: list[KafkaError | None] = []
    for i in range(3):
        producer.produce(topic, f"v{i}".encode(), on_delivery=lambda err, _m: delivered.append(err))
    assert producer.flush(20) == 0
    assert delivered == [None, None, None], delivered
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-g",
                         "auto.offset.reset": "earliest", **conf})
    values: list[bytes] = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 20
        while len(values) < 3 and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                values.append(msg.value())
    finally:
        consumer.close()
    return values


def scram_keys(password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    """RFC 5802's StoredKey and ServerKey for SHA-256."""
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    return hashlib.sha256(client_key).digest(), hmac.digest(salted, b"Server Key", "sha256")


def test_scram_user_created_through_one_broker_logs_in_on_another(sasl_cluster: GreteCluster) -> None:
    cluster = sasl_cluster
    user, password = f"u-{uuid.uuid4().hex[:6]}", "s3cret-pw"
    conf = scram(user, password)
    unknown = login(sasl_bootstrap(cluster, 2), conf, timeout=4.0)  # no such user yet
    assert unknown is not None and unknown.code() == KafkaError._AUTHENTICATION, unknown

    add_user(cluster.broker(0).bootstrap, user, password)  # broker 0's address only
    wait_login(sasl_bootstrap(cluster, 2), conf, succeeds=True)
    topic = f"scram-{uuid.uuid4().hex[:8]}"
    assert round_trip(sasl_bootstrap(cluster, 2), conf, topic) == [b"v0", b"v1", b"v2"]
    wrong = login(sasl_bootstrap(cluster, 1), scram(user, "wrong"), timeout=4.0)
    assert wrong is not None and wrong.code() == KafkaError._AUTHENTICATION, wrong

    # Kafka's znode and change notification: a Kafka broker could read them.
    zk = cluster.observer()
    data, _ = zk.get(f"/config/users/{user}")
    stored = json.loads(data)
    assert stored["version"] == 1 and set(stored["config"]) == {"SCRAM-SHA-256"}
    found = CREDENTIAL.fullmatch(stored["config"]["SCRAM-SHA-256"])
    assert found is not None, stored
    assert int(found["iterations"]) == 4096
    stored_key, server_key = scram_keys(password, base64.b64decode(found["salt"]), 4096)
    assert base64.b64decode(found["stored"]) == stored_key
    assert base64.b64decode(found["server"]) == server_key
    notifications = [json.loads(zk.get(f"/config/changes/{c}")[0])
                     for c in zk.get_children("/config/changes")]
    assert {"version": 2, "entity_path": f"users/{user}"} in notifications

    alter(cluster.broker(1).bootstrap, UserScramCredentialDeletion(user, ScramMechanism.SCRAM_SHA_256))
    for broker_id in cluster.broker_ids:
        wait_login(sasl_bootstrap(cluster, broker_id), conf, succeeds=False)
    assert zk.exists(f"/config/users/{user}") is None


def test_acls_on_scram_principals_hold_on_every_broker(acl_sasl_cluster: GreteCluster) -> None:
    cluster = acl_sasl_cluster
    topic = f"acl-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})  # ANONYMOUS: a super user
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=3)])[topic].result(timeout=15)
    for user in ("alice", "bob"):
        add_user(cluster.broker(0).bootstrap, user, f"{user}-pw", ScramMechanism.SCRAM_SHA_512)
    bindings = [
        AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:alice", "*",
                   AclOperation.WRITE, AclPermissionType.ALLOW),
        # bob may see the topic, so his produce reaches the leader and is refused there.
        AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:bob", "*",
                   AclOperation.DESCRIBE, AclPermissionType.ALLOW),
    ]
    for future in admin.create_acls(bindings).values():
        future.result(timeout=15)

    # The partitions' leaders cover every broker, so each broker judges one produce.
    leaders = {}
    deadline = time.monotonic() + WITHIN
    while len(leaders) < 3 and time.monotonic() < deadline:
        states = {p: cluster.partition_state(topic, p) for p in range(3)}
        leaders = {p: s["leader"] for p, s in states.items() if s is not None}
        time.sleep(0.1)
    assert sorted(leaders.values()) == sorted(cluster.broker_ids), leaders

    def produce(user: str, bootstrap: str) -> dict[int, KafkaError | None]:
        producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": False,
                             "message.timeout.ms": 10000, **scram(user, f"{user}-pw", "SCRAM-SHA-512")})
        outcome: dict[int, KafkaError | None] = {}
        for partition in range(3):
            producer.produce(topic, b"x", partition=partition,
                             on_delivery=lambda err, msg: outcome.__setitem__(msg.partition(), err))
        producer.flush(15)
        return outcome

    # An ACL reaches the other brokers through ZooKeeper: give it a bounded moment.
    deadline = time.monotonic() + WITHIN
    alice = produce("alice", sasl_bootstrap(cluster, 2))
    while any(alice.values()) and time.monotonic() < deadline:
        time.sleep(0.3)
        alice = produce("alice", sasl_bootstrap(cluster, 2))
    assert alice == {0: None, 1: None, 2: None}, alice

    bob = produce("bob", sasl_bootstrap(cluster, 1))
    assert {p: e.code() if e else None for p, e in bob.items()} == {
        p: KafkaError.TOPIC_AUTHORIZATION_FAILED for p in range(3)}, bob
