"""What a SASL listener refuses, seen on the wire: requests before authentication, huge
pre-authentication frames, wrong passwords, expired sessions, PLAIN without TLS; and users
managed at runtime with Describe/AlterUserScramCredentials."""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import time
from pathlib import Path

from confluent_kafka.admin import AdminClient, ScramMechanism, UserScramCredentialDeletion
from harness.secure import make_pki
from harness.wire import api_versions
from scramp import ScramClient

from grete.protocol import ApiKey

from ..raw_kafka import RawKafka
from .conftest import REAUTH_MS, SecureSetup, add_scram_user, start_secure_broker
from .test_security_clients import login_error, round_trip

HANDSHAKE, AUTHENTICATE, METADATA = 17, 36, 3


def scram_login(raw: RawKafka, user: str, password: str, mechanism: str = "SCRAM-SHA-256") -> object:
    assert raw.request(HANDSHAKE, 1, mechanism=mechanism).error_code == 0
    client = ScramClient([mechanism], user, password)
    first = raw.request(AUTHENTICATE, 2, auth_bytes=client.get_client_first().encode())
    assert first.error_code == 0
    client.set_server_first(first.auth_bytes.decode())
    return raw.request(AUTHENTICATE, 2, auth_bytes=client.get_client_final().encode())


def test_wrong_password_and_unknown_user_fail_alike_then_close(secure: SecureSetup) -> None:
    answers = []
    for user, password in (("bob", "wrong"), ("nobody", "bob-secret")):
        with RawKafka(secure.broker.bootstrap_for("SASL_PLAINTEXT")) as raw:
            final = scram_login(raw, user, password)
            answers.append((final.error_code, final.error_message))
            assert raw.is_closed_by_peer()
    assert answers[0] == answers[1]
    assert answers[0][0] == 58  # SASL_AUTHENTICATION_FAILED
    with RawKafka(secure.broker.bootstrap_for("SASL_PLAINTEXT")) as raw:
        assert scram_login(raw, "bob", "bob-secret").error_code == 0  # others still served


def test_request_before_authentication_closes(secure: SecureSetup) -> None:
    with RawKafka(secure.broker.bootstrap_for("SASL_PLAINTEXT")) as raw:
        raw.request(18, 0)  # ApiVersions is allowed
        raw.send_raw(bytes.fromhex("0000000e" "00030001" "00000007" "0000" "00000000"))  # Metadata
        assert raw.is_closed_by_peer()
    assert api_versions("127.0.0.1", secure.broker.port)  # the broker keeps serving


def test_oversized_frame_before_authentication_closes(secure: SecureSetup) -> None:
    with RawKafka(secure.broker.bootstrap_for("SASL_PLAINTEXT")) as raw:
        raw.send_raw(struct.pack(">i", 524289) + b"\x00" * 1024)
        assert raw.is_closed_by_peer()
    with RawKafka(secure.broker.bootstrap) as raw:  # plaintext: the normal cap applies
        raw.send_raw(struct.pack(">i", 524289) + b"\x00" * 1024)
        assert not raw.is_closed_by_peer(timeout=1.0)


def test_session_lifetime_then_expired_session_is_closed(secure: SecureSetup) -> None:
    with RawKafka(secure.broker.bootstrap_for("SASL_PLAINTEXT")) as raw:
        final = scram_login(raw, "bob", "bob-secret")
        assert final.error_code == 0
        lifetime = final.session_lifetime
        assert int(lifetime.total_seconds() * 1000) == REAUTH_MS
        raw.request(METADATA, 1, topics=[])
        time.sleep(REAUTH_MS / 1000 + 0.3)
        raw.send_raw(bytes.fromhex("0000000e" "00030001" "00000009" "0000" "00000000"))
        assert raw.is_closed_by_peer()


def test_reauthenticating_client_keeps_working(secure: SecureSetup, topic_name: str) -> None:
    """librdkafka re-authenticates on its own before the 3 s session ends."""
    from confluent_kafka import Producer

    errors: list[object] = []
    conf = {"bootstrap.servers": secure.broker.bootstrap_for("SASL_PLAINTEXT"),
            "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-256",
            "sasl.username": "bob", "sasl.password": "bob-secret", "error_cb": errors.append}
    producer = Producer(conf)
    delivered: list[object] = []
    end = time.monotonic() + 2.5 * REAUTH_MS / 1000
    while time.monotonic() < end:
        producer.produce(topic_name, b"x", on_delivery=lambda err, msg: delivered.append(err))
        producer.poll(0.25)
    assert producer.flush(10) == 0
    assert delivered and all(err is None for err in delivered), delivered[:3]
    assert errors == []


def test_plain_without_tls_is_refused(secure: SecureSetup) -> None:
    with RawKafka(secure.broker.bootstrap_for("SASL_PLAINTEXT")) as raw:
        answer = raw.request(HANDSHAKE, 1, mechanism="PLAIN")
        assert answer.error_code == 33  # UNSUPPORTED_SASL_MECHANISM
        assert "PLAIN" not in answer.mechanisms and "SCRAM-SHA-256" in answer.mechanisms
        assert raw.is_closed_by_peer()


def test_plain_without_tls_when_allowed(tmp_path: Path, topic_name: str) -> None:
    from harness.secure import make_pki

    pki = make_pki(tmp_path / "pki")
    broker = start_secure_broker(
        tmp_path, pki, **{"grete.sasl.plain.allow.insecure": "true",
                          "listener.name.sasl_plaintext.plain.sasl.jaas.config":
                          'org.apache.kafka.common.security.plain.PlainLoginModule required '
                          'user_alice="alice-secret";'})
    try:
        conf = {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
                "sasl.username": "alice", "sasl.password": "alice-secret"}
        assert round_trip(broker.bootstrap_for("SASL_PLAINTEXT"), conf, topic_name, 2) == [b"v0", b"v1"]
    finally:
        broker.stop()


def test_user_added_and_removed_at_runtime(secure: SecureSetup) -> None:
    b = secure.broker
    conf = {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": "dave", "sasl.password": "dave-secret"}
    assert login_error(b.bootstrap_for("SASL_PLAINTEXT"), conf, timeout=4) is not None
    add_scram_user(b.bootstrap, "dave", ScramMechanism.SCRAM_SHA_512, "dave-secret")
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    described = admin.describe_user_scram_credentials(["dave"])["dave"].result(timeout=10)
    infos = [(i.mechanism, i.iterations) for i in described.scram_credential_infos]
    assert infos == [(ScramMechanism.SCRAM_SHA_512, 4096)]
    assert login_error(b.bootstrap_for("SASL_PLAINTEXT"), conf) is None
    deletion = UserScramCredentialDeletion("dave", ScramMechanism.SCRAM_SHA_512)
    admin.alter_user_scram_credentials([deletion])["dave"].result(timeout=10)
    assert login_error(b.bootstrap_for("SASL_PLAINTEXT"), conf, timeout=4) is not None


# ApiVersions v0, correlation id 1, client id "t": a request any listener would answer.
API_VERSIONS_V0 = struct.pack(">ihhih", 11, 18, 0, 1, 1) + b"t"


def test_failed_tls_handshakes_leave_nothing_behind_and_sigterm_stops_the_broker(
    tmp_path: Path,
) -> None:
    """A TLS connection whose handshake fails never becomes a connection: a broker that
    refused many (no client certificate on a listener that requires one, plain bytes on a
    TLS port) still drains and exits 0 on SIGTERM within its stop timeout. It used to keep
    every one as a connection waiting to drain, and hang."""
    pki = make_pki(tmp_path / "pki")
    broker = start_secure_broker(tmp_path, pki)
    try:
        host, port = broker.bootstrap_for("MTLS").split(":")
        context = ssl.create_default_context(cafile=str(pki.ca))
        refused = 0
        for _ in range(30):  # bounded: 30 handshakes of each kind
            with socket.create_connection((host, int(port)), timeout=5) as raw:
                try:
                    with context.wrap_socket(raw, server_hostname="localhost") as tls:
                        # TLS 1.3: the server checks the certificate after the client's
                        # handshake is done; the refusal comes as an alert or an EOF.
                        tls.sendall(API_VERSIONS_V0)
                        answered = tls.recv(4)
                except (ssl.SSLError, OSError):
                    answered = b""
                refused += not answered
            with socket.create_connection((host, int(port)), timeout=5) as raw:
                raw.sendall(b"not a TLS client hello" * 10)
                with contextlib.suppress(OSError):
                    raw.recv(1024)
        assert refused == 30, "the MTLS listener served a client without a certificate"
        with RawKafka(broker.bootstrap, timeout=10.0) as raw_kafka:  # still serving
            assert raw_kafka.request(ApiKey.API_VERSIONS, 3, client_software_name="t",
                                     client_software_version="1").error_code == 0
    finally:
        code = broker.stop(check=True)  # AssertionError if it ignores SIGTERM for 15 s
    assert code == 0
