"""Replication over a secure inter-broker listener, with the ACL authorizer on.

Every broker has a PLAINTEXT listener (where the harness sees it is up, and where an
anonymous client gets nothing) and one secure listener that is its inter-broker listener.
Followers must fetch as a replica, which needs ClusterAction: only User:broker (and the
test's User:admin) are super users. So the ISR stays full and acks=all succeeds only if
the followers reach their leaders over that listener and are authenticated there; the same
replica fetch sent anonymously is refused.

1. SASL_SSL with SCRAM-SHA-512: the brokers' SCRAM user is written to ZooKeeper in Kafka's
   format before they start, as `kafka-configs --zookeeper` does; each broker logs in with
   the username/password of its listener's JAAS entry.
2. SSL with client certificates required: the brokers' certificate subject is mapped to
   User:broker by ssl.principal.mapping.rules.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import hmac
import ipaddress
import json
import os
import struct
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from harness import GreteCluster, ZooKeeperProcess

from grete.network.client import KafkaConnection
from grete.protocol import ApiKey, ErrorCode

from .conftest import CLUSTER_OVERRIDES

pytestmark = pytest.mark.cluster

HOST = "127.0.0.1"
WITHIN = 20.0
RECORDS = 20
SESSION_MS = 8000
SUPER_USERS = "User:broker;User:admin"
ACLS_ON = {"authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
           "super.users": SUPER_USERS}


# -- TLS material: one certificate for every broker, usable as server and as client ------------

@dataclass(frozen=True)
class Pki:
    ca: Path
    broker: Path  # certificate and key of CN=Broker,O=Grete,C=DE (serverAuth and clientAuth)
    admin_cert: Path  # CN=Admin,O=Grete,C=DE (clientAuth)
    admin_key: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Grete"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _sign(subject: str, key: ec.EllipticCurvePrivateKey, ca_key: ec.EllipticCurvePrivateKey,
          usages: list[x509.ObjectIdentifier] | None) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name("Test CA"))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=usages is None, path_length=None),
                              critical=True))
    if usages is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address(HOST))]), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def make_pki(directory: Path) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)

    def pem(cert: x509.Certificate) -> bytes:
        return cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    def write(name: str, data: bytes) -> Path:
        path = directory / name
        path.write_bytes(data)
        os.chmod(path, 0o600)
        return path

    ca_key, broker_key, admin_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    broker = _sign("Broker", broker_key, ca_key,
                   [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])
    admin = _sign("Admin", admin_key, ca_key, [ExtendedKeyUsageOID.CLIENT_AUTH])
    return Pki(ca=write("ca.pem", pem(_sign("Test CA", ca_key, ca_key, None))),
               broker=write("broker.pem", pem(broker) + key_pem(broker_key)),
               admin_cert=write("admin-cert.pem", pem(admin)),
               admin_key=write("admin-key.pem", key_pem(admin_key)))


# -- checks -----------------------------------------------------------------------------------

def scram_sha512_credential(password: str) -> str:
    """Kafka's stored SCRAM form (ScramCredentialUtils), computed here from RFC 5802."""
    salt, iterations = os.urandom(16), 4096
    salted = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    stored = hashlib.sha512(hmac.digest(salted, b"Client Key", "sha512")).digest()
    server = hmac.digest(salted, b"Server Key", "sha512")
    b64 = base64.b64encode
    return (f"salt={b64(salt).decode()},stored_key={b64(stored).decode()},"
            f"server_key={b64(server).decode()},iterations={iterations}")


def create_topic(conf: dict[str, str], topic: str) -> None:
    admin = AdminClient(conf)
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=3)])[topic].result(15)


def produce_acks_all(conf: dict[str, str], topic: str, first: int = 0) -> None:
    """Records value-<first> .. value-<first + RECORDS - 1>, each acknowledged by the ISR."""
    producer = Producer({**conf, "acks": "all", "message.timeout.ms": 20000})
    delivered: list[KafkaError | None] = []
    for i in range(first, first + RECORDS):
        producer.produce(topic, f"value-{i:02d}".encode(),
                         on_delivery=lambda err, _msg: delivered.append(err))
    assert producer.flush(30) == 0
    errors = [e.str() for e in delivered if e is not None]
    assert len(delivered) == RECORDS and not errors, errors[:3]


def log_end_offset(segment: bytes) -> int:
    """The next offset after the last record batch of a segment file (v2 batch headers:
    base offset at 0, batch length at 8, last offset delta at 23)."""
    at, end = 0, 0
    while at + 27 <= len(segment):
        base, length = struct.unpack_from(">qi", segment, at)
        if length <= 0:
            break
        (delta,) = struct.unpack_from(">i", segment, at + 23)
        end, at = base + delta + 1, at + 12 + length
    return end


def replica_logs(cluster: GreteCluster, topic: str) -> dict[int, bytes]:
    logs = {}
    for broker_id in cluster.broker_ids:
        directory = cluster.broker(broker_id).data_dir / f"{topic}-0"
        segments = sorted(directory.glob("*.log")) if directory.exists() else []
        logs[broker_id] = b"".join(p.read_bytes() for p in segments)
    return logs


def assert_replicated(cluster: GreteCluster, topic: str, records: int = RECORDS) -> dict[str, Any]:
    """Every replica holds the leader's batches, byte for byte, and the ISR is full."""
    deadline = time.monotonic() + WITHIN
    logs = replica_logs(cluster, topic)
    while any(log_end_offset(d) != records for d in logs.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
        logs = replica_logs(cluster, topic)
    assert {b: log_end_offset(d) for b, d in logs.items()} == {b: records for b in logs}
    assert len(set(logs.values())) == 1, "replicas differ from the leader's log"
    assert b"value-00" in logs[0] and f"value-{records - 1:02d}".encode() in logs[0]
    state = cluster.partition_state(topic, 0)
    assert state is not None and sorted(state["isr"]) == cluster.broker_ids, state
    return state


def anonymous_replica_fetch(port: int, topic: str, replica_id: int) -> int:
    """The error of a follower's Fetch sent without credentials on PLAINTEXT."""

    async def fetch() -> int:
        conn = await KafkaConnection.open(HOST, port, client_id="impostor", connect_timeout_s=5)
        try:
            partition = conn.make(ApiKey.FETCH, 12, "FetchPartition", partition=0,
                                  current_leader_epoch=-1, fetch_offset=0, last_fetched_epoch=-1,
                                  log_start_offset=-1, partition_max_bytes=1 << 20)
            request = conn.build(
                ApiKey.FETCH, 12, replica_id=replica_id, max_wait=0, min_bytes=1,
                max_bytes=1 << 20, isolation_level=0, session_id=0, session_epoch=-1,
                topics=[conn.make(ApiKey.FETCH, 12, "FetchTopic", topic=topic,
                                  partitions=[partition])],
                forgotten_topics_data=[], rack_id="")
            response = await conn.request(ApiKey.FETCH, 12, request, timeout_s=10)
            return int(response.responses[0].partitions[0].error_code)
        finally:
            await conn.close()

    return asyncio.run(fetch())


def assert_anonymous_refused(cluster: GreteCluster, topic: str, state: dict[str, Any]) -> None:
    leader = state["leader"]
    follower = next(b for b in cluster.broker_ids if b != leader)
    error = anonymous_replica_fetch(cluster.broker(leader).port, topic, follower)
    assert error == ErrorCode.topic_authorization_failed, ErrorCode(error).name
    after = cluster.partition_state(topic, 0)
    assert after is not None and sorted(after["isr"]) == cluster.broker_ids, after


def _cluster(zookeeper: ZooKeeperProcess, root: Path, listener: str,
             overrides: dict[str, str]) -> GreteCluster:
    return GreteCluster(
        zookeeper, root, size=3, extra_listener_names=[listener],
        overrides={**CLUSTER_OVERRIDES, **ACLS_ON,
                   "listener.security.protocol.map": f"PLAINTEXT:PLAINTEXT,{listener}:{listener}",
                   "inter.broker.listener.name": listener, **overrides})


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


# -- 1. SASL_SSL, SCRAM-SHA-512 -----------------------------------------------------------------

@pytest.fixture
def scram_cluster(zookeeper: ZooKeeperProcess, tmp_path: Path, pki: Pki) -> Iterator[GreteCluster]:
    jaas = ('org.apache.kafka.common.security.scram.ScramLoginModule required '
            'username="broker" password="broker-secret";')
    cluster = _cluster(zookeeper, tmp_path / "cluster", "SASL_SSL", {
        "ssl.keystore.location": str(pki.broker),
        "ssl.truststore.location": str(pki.ca),
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": jaas,
        # KIP-368: the leader ends a session after this; followers must renew in time.
        "listener.name.sasl_ssl.connections.max.reauth.ms": str(SESSION_MS),
    })
    # As `kafka-configs --zookeeper ... --add-config SCRAM-SHA-512=[password=...]`, before
    # any broker runs: the brokers need their own user to replicate at all.
    try:
        zk = cluster.observer()
        for user, password in (("broker", "broker-secret"), ("admin", "admin-secret")):
            config = {"version": 1, "config": {"SCRAM-SHA-512": scram_sha512_credential(password)}}
            zk.create(f"/config/users/{user}", json.dumps(config).encode(), makepath=True)
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def test_replication_over_sasl_ssl_with_scram(scram_cluster: GreteCluster, pki: Pki) -> None:
    cluster = scram_cluster
    topic = f"sasl-ssl-{uuid.uuid4().hex[:8]}"
    conf = {"bootstrap.servers": f"{HOST}:{cluster.listener_port(1, 'SASL_SSL')}",
            "security.protocol": "SASL_SSL", "ssl.ca.location": str(pki.ca),
            "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "admin",
            "sasl.password": "admin-secret"}
    create_topic(conf, topic)
    started = time.monotonic()
    produce_acks_all(conf, topic)
    state = assert_replicated(cluster, topic)
    assert_anonymous_refused(cluster, topic, state)

    # Past the followers' first session: they reconnected before it ended, so the ISR is
    # still full, acks=all still works and no leader closed an expired broker session.
    time.sleep(max(0.0, started + SESSION_MS / 1000 + 2 - time.monotonic()))
    produce_acks_all(conf, topic, first=RECORDS)
    assert_replicated(cluster, topic, 2 * RECORDS)
    expired = [line for b in cluster.brokers for line in b.log_path.read_text().splitlines()
               if "SASL session of User:broker expired" in line]
    assert not expired, expired[:3]


# -- 2. SSL with client certificates required ---------------------------------------------------

@pytest.fixture
def mtls_cluster(zookeeper: ZooKeeperProcess, tmp_path: Path, pki: Pki) -> Iterator[GreteCluster]:
    cluster = _cluster(zookeeper, tmp_path / "cluster", "SSL", {
        "ssl.keystore.location": str(pki.broker),
        "ssl.truststore.location": str(pki.ca),
        "listener.name.ssl.ssl.client.auth": "required",
        # CN=Broker,O=Grete,C=DE -> broker; without the rule the principal is the whole DN.
        "ssl.principal.mapping.rules": "RULE:^CN=([A-Za-z]+),O=Grete,C=DE$/$1/L",
    })
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def test_replication_over_ssl_with_client_certificates(mtls_cluster: GreteCluster, pki: Pki) -> None:
    cluster = mtls_cluster
    topic = f"mtls-{uuid.uuid4().hex[:8]}"
    conf = {"bootstrap.servers": f"{HOST}:{cluster.listener_port(2, 'SSL')}",
            "security.protocol": "SSL", "ssl.ca.location": str(pki.ca),
            "ssl.certificate.location": str(pki.admin_cert),
            "ssl.key.location": str(pki.admin_key)}
    create_topic(conf, topic)
    produce_acks_all(conf, topic)
    state = assert_replicated(cluster, topic)
    assert_anonymous_refused(cluster, topic, state)
