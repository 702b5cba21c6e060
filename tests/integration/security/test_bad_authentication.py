"""Bad logins and wrong protocols, each refused, after which a real client on the same
listener still produces: the refusal closes one connection, never the listener.

Cases: a wrong password, an unknown user, a PLAIN authorization id that is not the user, a
Produce before authentication, a huge frame before authentication, plain Kafka bytes sent
to a TLS port, and a TLS ClientHello sent to a plaintext port.
"""

from __future__ import annotations

import socket
import ssl
import struct

import pytest
from confluent_kafka import KafkaError

from grete.protocol import RequestHeader, schema
from grete.protocol.codec import encode_request
from grete.protocol.schema import build

from ..raw_kafka import RawKafka
from .conftest import SecureSetup
from .test_security_clients import login_error

HANDSHAKE, AUTHENTICATE, PRODUCE = 17, 36, 0
SASL_AUTHENTICATION_FAILED = 58
# ApiVersions v0, correlation id 1, client id "t": what a Kafka client sends first.
API_VERSIONS_V0 = struct.pack(">ihhih", 11, 18, 0, 1, 1) + b"t"


def good_client(setup: SecureSetup, listener: str) -> dict[str, str]:
    """Settings for a client that may use ``listener``."""
    pki = setup.pki
    tls = {"ssl.ca.location": str(pki.ca)}
    return {
        "PLAINTEXT": {},
        "SSL": {"security.protocol": "SSL", **tls},
        "MTLS": {"security.protocol": "SSL", **tls, "ssl.certificate.location": str(pki.client_cert),
                 "ssl.key.location": str(pki.client_key)},
        "SASL_PLAINTEXT": {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-256",
                           "sasl.username": "bob", "sasl.password": "bob-secret"},
        "SASL_SSL": {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
                     "sasl.username": "carol", "sasl.password": "carol-secret", **tls},
    }[listener]


def bootstrap(setup: SecureSetup, listener: str) -> str:
    return setup.broker.bootstrap if listener == "PLAINTEXT" else setup.broker.bootstrap_for(listener)


def assert_still_serving(setup: SecureSetup, listener: str) -> None:
    """A real client logs in on the listener and its record is delivered."""
    assert login_error(bootstrap(setup, listener), good_client(setup, listener)) is None


def raw_on(setup: SecureSetup, listener: str) -> RawKafka:
    """A RawKafka on the listener, inside TLS when the listener has it."""
    raw = RawKafka(bootstrap(setup, listener))
    if listener in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(cafile=str(setup.pki.ca))
        raw.sock = context.wrap_socket(raw.sock, server_hostname="localhost")
    return raw


@pytest.mark.parametrize(("user", "password"), [("carol", "not-carols"), ("nobody", "carol-secret")])
def test_wrong_password_or_unknown_user(secure: SecureSetup, user: str, password: str) -> None:
    conf = {**good_client(secure, "SASL_SSL"), "sasl.username": user, "sasl.password": password}
    error = login_error(secure.broker.bootstrap_for("SASL_SSL"), conf, timeout=5)
    assert error is not None and error.code() == KafkaError._AUTHENTICATION, error
    assert "Authentication failed" in error.str(), error.str()
    assert_still_serving(secure, "SASL_SSL")


def test_plain_authorization_id_other_than_the_user(secure: SecureSetup) -> None:
    """alice's correct password, asking to act as "otheruser": refused, then closed."""
    with raw_on(secure, "SASL_SSL") as raw:
        assert raw.request(HANDSHAKE, 1, mechanism="PLAIN").error_code == 0
        answer = raw.request(AUTHENTICATE, 2, auth_bytes=b"otheruser\x00alice\x00alice-secret")
        assert answer.error_code == SASL_AUTHENTICATION_FAILED
        assert "authorization id" in answer.error_message
        assert raw.is_closed_by_peer()
    with raw_on(secure, "SASL_SSL") as raw:  # the same login without the authzid passes
        assert raw.request(HANDSHAKE, 1, mechanism="PLAIN").error_code == 0
        assert raw.request(AUTHENTICATE, 2, auth_bytes=b"\x00alice\x00alice-secret").error_code == 0
    assert_still_serving(secure, "SASL_SSL")


@pytest.mark.parametrize("listener", ["SASL_PLAINTEXT", "SASL_SSL"])
def test_produce_before_authentication_closes(secure: SecureSetup, listener: str,
                                              topic_name: str) -> None:
    s = schema(PRODUCE, 3)
    body = build(s.request_cls, {"transactional_id": None, "acks": 1, "timeout_ms": 1000,
                                 "topic_data": []})
    with raw_on(secure, listener) as raw:
        raw.send_raw(encode_request(RequestHeader(PRODUCE, 3, 7, "early"), body))
        assert raw.is_closed_by_peer()
    assert_still_serving(secure, listener)


@pytest.mark.parametrize("listener", ["SASL_PLAINTEXT", "SASL_SSL"])
def test_huge_frame_before_authentication_closes(secure: SecureSetup, listener: str) -> None:
    with raw_on(secure, listener) as raw:
        raw.send_raw(struct.pack(">i", 100 * 1024 * 1024) + b"\x00" * 4096)
        assert raw.is_closed_by_peer()
    assert_still_serving(secure, listener)


@pytest.mark.parametrize("listener", ["SSL", "MTLS", "SASL_SSL"])
def test_plaintext_to_a_tls_port(secure: SecureSetup, listener: str) -> None:
    """A Kafka request in clear: no Kafka answer, the connection closes."""
    host, port = secure.broker.bootstrap_for(listener).rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(API_VERSIONS_V0)
        sock.settimeout(5)
        got = b""
        try:
            while chunk := sock.recv(4096):
                got += chunk
        except ConnectionResetError:
            pass
    # At most a TLS alert record (content type 21), never a Kafka response frame.
    assert got == b"" or got[0] == 21, got[:16]
    assert_still_serving(secure, listener)


@pytest.mark.parametrize("listener", ["PLAINTEXT", "SASL_PLAINTEXT"])
def test_tls_client_hello_to_a_plaintext_port(secure: SecureSetup, listener: str) -> None:
    """The ClientHello is read as a frame of about 0x16030100 bytes: too big, closed."""
    host, port = bootstrap(secure, listener).rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(secure.pki.ca))
    with socket.create_connection((host, int(port)), timeout=5) as sock, \
            pytest.raises((ssl.SSLError, OSError)) as refused:
        context.wrap_socket(sock, server_hostname="localhost")
    # Closed by the broker (EOF or reset), not left waiting for the rest of the "frame".
    assert not isinstance(refused.value, TimeoutError), refused.value
    assert_still_serving(secure, listener)
