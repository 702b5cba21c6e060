"""Real clients over TLS and SASL listeners: confluent-kafka, kafka-python, kcat, Java."""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from harness import JavaProgram, compile_java
from harness.java import JAVA_SOURCE_DIR

from .conftest import SecureSetup


def _tls(setup: SecureSetup) -> dict[str, str]:
    return {"ssl.ca.location": str(setup.pki.ca)}


def _sasl(protocol: str, mechanism: str, user: str, password: str) -> dict[str, str]:
    return {"security.protocol": protocol, "sasl.mechanism": mechanism,
            "sasl.username": user, "sasl.password": password}


def round_trip(bootstrap: str, conf: dict[str, str], topic: str, n: int = 5) -> list[bytes]:
    """Produce n records, consume them in a group and commit; the values read back."""
    errors: list[KafkaError] = []
    producer = Producer({"bootstrap.servers": bootstrap, "error_cb": errors.append, **conf})
    for i in range(n):
        producer.produce(topic, f"v{i}".encode())
    assert producer.flush(15) == 0, errors
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-g",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False, **conf})
    try:
        consumer.subscribe([topic])
        values: list[bytes] = []
        deadline = time.monotonic() + 20
        while len(values) < n and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                values.append(msg.value())
        committed = consumer.commit(asynchronous=False)
        assert committed is not None and committed[0].offset == n
    finally:
        consumer.close()
    return values


def login_error(bootstrap: str, conf: dict[str, str], timeout: float = 8.0) -> KafkaError | None:
    """The first error a producer reports while connecting (None if it delivers)."""
    errors: list[KafkaError] = []
    producer = Producer({"bootstrap.servers": bootstrap, "error_cb": errors.append,
                         "message.timeout.ms": int(timeout * 1000), **conf})
    producer.produce("login-probe", b"x")
    left = producer.flush(timeout)
    deadline = time.monotonic() + 2
    while not errors and left and time.monotonic() < deadline:
        producer.poll(0.1)
    return errors[0] if errors else None


EXPECTED = [f"v{i}".encode() for i in range(5)]


def test_ssl_without_and_with_a_client_certificate(secure: SecureSetup, topic_name: str) -> None:
    b, pki = secure.broker, secure.pki
    plain_tls = {"security.protocol": "SSL", **_tls(secure)}
    assert round_trip(b.bootstrap_for("SSL"), plain_tls, topic_name + "-anon") == EXPECTED
    with_cert = {**plain_tls, "ssl.certificate.location": str(pki.client_cert),
                 "ssl.key.location": str(pki.client_key)}
    assert round_trip(b.bootstrap_for("MTLS"), with_cert, topic_name + "-mtls") == EXPECTED


def test_mtls_listener_refuses_a_missing_or_foreign_certificate(secure: SecureSetup) -> None:
    b, pki = secure.broker, secure.pki
    base = {"security.protocol": "SSL", **_tls(secure)}
    assert login_error(b.bootstrap_for("MTLS"), base) is not None
    stranger = {**base, "ssl.certificate.location": str(pki.stranger_cert),
                "ssl.key.location": str(pki.stranger_key)}
    assert login_error(b.bootstrap_for("MTLS"), stranger) is not None
    # the broker keeps serving everyone else
    good = {**base, "ssl.certificate.location": str(pki.client_cert), "ssl.key.location": str(pki.client_key)}
    assert login_error(b.bootstrap_for("MTLS"), good) is None


@pytest.mark.parametrize(
    ("listener", "mechanism", "user", "password"),
    [
        ("SASL_PLAINTEXT", "SCRAM-SHA-256", "bob", "bob-secret"),
        ("SASL_PLAINTEXT", "SCRAM-SHA-512", "carol", "carol-secret"),
        ("SASL_SSL", "PLAIN", "alice", "alice-secret"),
        ("SASL_SSL", "SCRAM-SHA-512", "carol", "carol-secret"),
    ],
)
def test_confluent_sasl(secure: SecureSetup, topic_name: str, listener: str, mechanism: str,
                        user: str, password: str) -> None:
    conf = _sasl(listener, mechanism, user, password)
    if listener == "SASL_SSL":
        conf.update(_tls(secure))
    assert round_trip(secure.broker.bootstrap_for(listener), conf, topic_name) == EXPECTED


@pytest.mark.parametrize(
    ("listener", "mechanism", "user", "password"),
    [("SASL_SSL", "SCRAM-SHA-256", "bob", "bob-secret"),
     ("SASL_PLAINTEXT", "SCRAM-SHA-512", "carol", "carol-secret"),
     ("SASL_SSL", "PLAIN", "alice", "alice-secret")],
)
def test_kafka_python_sasl(secure: SecureSetup, topic_name: str, listener: str, mechanism: str,
                           user: str, password: str) -> None:
    from kafka import KafkaConsumer, KafkaProducer

    conf: dict[str, Any] = {
        "bootstrap_servers": secure.broker.bootstrap_for(listener), "security_protocol": listener,
        "sasl_mechanism": mechanism, "sasl_plain_username": user, "sasl_plain_password": password,
    }
    if listener == "SASL_SSL":
        conf["ssl_cafile"] = str(secure.pki.ca)
    producer = KafkaProducer(**conf, request_timeout_ms=10000)
    for i in range(5):
        producer.send(topic_name, f"v{i}".encode()).get(timeout=15)
    producer.close()
    consumer = KafkaConsumer(topic_name, **conf, group_id=f"{topic_name}-g",
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             consumer_timeout_ms=15000)
    try:
        values = []
        for msg in consumer:
            values.append(msg.value)
            if len(values) == 5:
                break
        consumer.commit()
        from kafka import TopicPartition

        assert consumer.committed(TopicPartition(topic_name, 0)) == 5
    finally:
        consumer.close()
    assert values == EXPECTED


def _run(args: list[str], stdin: bytes = b"") -> bytes:
    done = subprocess.run(args, input=stdin, timeout=25, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return done.stdout


def test_kcat_sasl_ssl_plain(secure: SecureSetup, kcat: str, topic_name: str) -> None:
    # PLAIN here; kcat's SCRAM logins are in test_scram_nonce.py.
    args = [kcat, "-b", secure.broker.bootstrap_for("SASL_SSL"),
            "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=PLAIN",
            "-X", "sasl.username=alice", "-X", "sasl.password=alice-secret",
            "-X", f"ssl.ca.location={secure.pki.ca}"]
    _run([*args, "-P", "-t", topic_name], b"one\ntwo\nthree\n")
    out = _run([*args, "-C", "-t", topic_name, "-o", "beginning", "-c", "3", "-e"])
    assert out.split() == [b"one", b"two", b"three"]


def test_kcat_ssl_with_client_certificate(secure: SecureSetup, kcat: str, topic_name: str) -> None:
    pki = secure.pki
    args = [kcat, "-b", secure.broker.bootstrap_for("MTLS"), "-X", "security.protocol=SSL",
            "-X", f"ssl.ca.location={pki.ca}", "-X", f"ssl.certificate.location={pki.client_cert}",
            "-X", f"ssl.key.location={pki.client_key}"]
    _run([*args, "-P", "-t", topic_name], b"a\nb\n")
    out = _run([*args, "-C", "-t", topic_name, "-o", "beginning", "-c", "2", "-e"])
    assert out.split() == [b"a", b"b"]


def _kcat_secure_args(setup: SecureSetup, mode: str) -> tuple[str, dict[str, str]]:
    """The listener and librdkafka settings for kcat (and confluent-kafka) in ``mode``."""
    pki = setup.pki
    conf = {"ssl.ca.location": str(pki.ca)}
    if mode == "SASL_SSL-SCRAM-SHA-512":
        conf.update(_sasl("SASL_SSL", "SCRAM-SHA-512", "carol", "carol-secret"))
        return setup.broker.bootstrap_for("SASL_SSL"), conf
    conf.update({"security.protocol": "SSL", "ssl.certificate.location": str(pki.client_cert),
                 "ssl.key.location": str(pki.client_key)})
    return setup.broker.bootstrap_for("MTLS"), conf


def committed_offset(bootstrap: str, conf: dict[str, str], group: str, topic: str) -> int:
    """The group's committed offset of partition 0, read back by confluent-kafka."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, **conf})
    try:
        [tp] = consumer.committed([TopicPartition(topic, 0)], timeout=15)
        return int(tp.offset)
    finally:
        consumer.close()


@pytest.mark.parametrize("mode", ["SASL_SSL-SCRAM-SHA-512", "SSL-client-cert"])
def test_kcat_group_consumer_commits(secure: SecureSetup, kcat: str, topic_name: str, mode: str) -> None:
    """kcat produces, then consumes as a balanced group member (-G) with auto commit; the
    offsets it committed on close are read back through another client."""
    bootstrap, conf = _kcat_secure_args(secure, mode)
    args = [kcat, "-b", bootstrap, *(a for k, v in conf.items() for a in ("-X", f"{k}={v}"))]
    _run([*args, "-P", "-t", topic_name], b"one\ntwo\nthree\n")
    group = f"{topic_name}-kcat"
    out = _run([*args, "-X", "enable.auto.commit=true", "-X", "auto.offset.reset=earliest",
                "-G", group, "-c", "3", topic_name])
    assert out.split() == [b"one", b"two", b"three"]
    assert committed_offset(bootstrap, conf, group, topic_name) == 3


@pytest.fixture(scope="module")
def java_secure(tmp_path_factory: pytest.TempPathFactory) -> JavaProgram:
    return compile_java(JAVA_SOURCE_DIR / "GreteSecureClient.java", tmp_path_factory.mktemp("javasec"))


@pytest.mark.parametrize("mode", ["SASL_SSL-SCRAM-SHA-512", "SSL-client-cert"])
def test_java_client(secure: SecureSetup, java_secure: JavaProgram, tmp_path: Path, mode: str) -> None:
    pki = secure.pki
    props = {"ssl.truststore.type": "PEM", "ssl.truststore.location": str(pki.ca)}
    if mode.startswith("SASL_SSL"):
        props.update({
            "bootstrap.servers": secure.broker.bootstrap_for("SASL_SSL"),
            "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule "
                                'required username="carol" password="carol-secret";',
        })
    else:
        key_store = tmp_path / "client-keystore.pem"
        key_store.write_bytes(pki.client_key.read_bytes() + pki.client_cert.read_bytes())
        props.update({
            "bootstrap.servers": secure.broker.bootstrap_for("MTLS"), "security.protocol": "SSL",
            "ssl.keystore.type": "PEM", "ssl.keystore.location": str(key_store),
        })
    path = tmp_path / "client.properties"
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    topic = f"java-{mode}-{uuid.uuid4().hex[:6]}"
    assert java_secure(str(path), topic, "4", timeout=60).split() == ["consumed", "4", "committed", "4"]
