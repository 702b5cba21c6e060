"""The sans-IO SASL pieces: PLAIN, SCRAM through scramp's client, the session state
machine, credentials in Kafka's stored form, JAAS parsing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from scramp import ScramClient

from grete.clock import ManualClock
from grete.network.connection import CloseConnection
from grete.protocol import ApiKey, ErrorCode
from grete.security.sasl.authenticator import ListenerSasl, SaslSession, SaslState
from grete.security.sasl.credentials import ScramCredential, ScramMechanism
from grete.security.sasl.errors import SaslAuthenticationError
from grete.security.sasl.jaas import JaasConfig
from grete.security.sasl.plain import INVALID_CREDENTIALS, PlainServer
from grete.security.sasl.scram import ScramServer
from grete.security.sasl.store import LocalScramStore


def test_plain_accepts_the_right_password_only() -> None:
    users = {"alice": "s3cret"}
    server = PlainServer(users)
    assert server.evaluate(b"\x00alice\x00s3cret") == b""
    assert server.complete and server.user == "alice"
    with pytest.raises(SaslAuthenticationError) as wrong:
        PlainServer(users).evaluate(b"\x00alice\x00nope")
    with pytest.raises(SaslAuthenticationError) as unknown:
        PlainServer(users).evaluate(b"\x00bob\x00s3cret")
    assert str(wrong.value) == str(unknown.value) == INVALID_CREDENTIALS


def test_plain_refuses_a_different_authorization_id_and_malformed_tokens() -> None:
    with pytest.raises(SaslAuthenticationError, match="authorization id"):
        PlainServer({"alice": "pw"}).evaluate(b"admin\x00alice\x00pw")
    assert PlainServer({"alice": "pw"}).evaluate(b"alice\x00alice\x00pw") == b""
    for token in (b"alice\x00pw", b"\x00\x00pw", b"\x00alice\x00"):
        with pytest.raises(SaslAuthenticationError):
            PlainServer({"alice": "pw"}).evaluate(token)


def _scram_login(mechanism: ScramMechanism, credential: ScramCredential | None,
                 user: str, password: str) -> bytes:
    client = ScramClient([mechanism.mechanism_name], user, password)
    server = ScramServer(mechanism)
    assert server.client_first(client.get_client_first().encode()) == user
    client.set_server_first(server.server_first(credential).decode())
    final = server.client_final(client.get_client_final().encode())
    client.set_server_final(final.decode())  # the client checks the server's signature
    return final


@pytest.mark.parametrize("mechanism", [ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512])
def test_scram_login_and_identical_failures(mechanism: ScramMechanism) -> None:
    credential = ScramCredential.from_password(mechanism, "pw", b"salty-salt-12", 4096)
    assert _scram_login(mechanism, credential, "alice", "pw").startswith(b"v=")
    with pytest.raises(SaslAuthenticationError) as wrong:
        _scram_login(mechanism, credential, "alice", "bad")
    with pytest.raises(SaslAuthenticationError) as unknown:
        _scram_login(mechanism, None, "nobody", "pw")
    assert str(wrong.value) == str(unknown.value)
    assert mechanism.mechanism_name in str(wrong.value)


def test_scram_unknown_user_gets_a_stable_made_up_salt() -> None:
    def server_first(user: str) -> str:
        client = ScramClient(["SCRAM-SHA-256"], user, "pw")
        server = ScramServer(ScramMechanism.SCRAM_SHA_256)
        server.client_first(client.get_client_first().encode())
        return server.server_first(None).decode()

    salt = lambda text: dict(p.split("=", 1) for p in text.split(","))["s"]
    assert salt(server_first("ghost")) == salt(server_first("ghost"))
    assert salt(server_first("ghost")) != salt(server_first("spook"))


def test_credential_round_trips_kafkas_text_form() -> None:
    cred = ScramCredential.from_password(ScramMechanism.SCRAM_SHA_512, "pw", b"0123456789", 8192)
    text = cred.encode()
    assert text.startswith("salt=") and text.endswith(",iterations=8192")
    assert "stored_key=" in text and "server_key=" in text
    assert ScramCredential.decode(text) == cred
    with pytest.raises(ValueError):
        ScramCredential.decode("salt=AAAA,iterations=4096")


def test_local_store_persists_salted_credentials_only(tmp_path: Path) -> None:
    store = LocalScramStore.open(tmp_path)
    cred = ScramCredential.from_password(ScramMechanism.SCRAM_SHA_256, "hunter2", b"s" * 16)
    asyncio.run(store.alter("alice", {ScramMechanism.SCRAM_SHA_256: cred}, set()))
    assert "hunter2" not in next(tmp_path.iterdir()).read_text()
    reopened = LocalScramStore.open(tmp_path)
    assert asyncio.run(reopened.get("alice", ScramMechanism.SCRAM_SHA_256)) == cred
    asyncio.run(reopened.alter("alice", {}, {ScramMechanism.SCRAM_SHA_256}))
    assert asyncio.run(LocalScramStore.open(tmp_path).describe(None)) == {}


def test_jaas_plain_users() -> None:
    jaas = JaasConfig.parse(
        'org.apache.kafka.common.security.plain.PlainLoginModule required\n'
        '  username="admin" password="admin-secret" user_admin="admin-secret" '
        'user_alice="a \\"quoted\\" pw" user_bob=bare;'
    )
    assert jaas.login_module.endswith("PlainLoginModule")
    assert jaas.plain_users() == {"admin": "admin-secret", "alice": 'a "quoted" pw', "bob": "bare"}
    for bad in ("PlainLoginModule", 'X required user_a="b"', 'X required user_a="b";;'):
        with pytest.raises(ValueError):
            JaasConfig.parse(bad)


def _session(clock: ManualClock, reauth_ms: int = 0) -> SaslSession:
    listener = ListenerSasl(("PLAIN", "SCRAM-SHA-256"), {"alice": "pw", "bob": "pw2"}, reauth_ms, 524288)
    return SaslSession(listener, LocalScramStore(Path("/nonexistent"), {}), clock)


def test_session_serves_only_sasl_before_authentication() -> None:
    session = _session(ManualClock())
    session.admit(ApiKey.API_VERSIONS)
    session.admit(ApiKey.SASL_HANDSHAKE)
    with pytest.raises(CloseConnection, match="before SASL authentication"):
        session.admit(ApiKey.PRODUCE)
    assert session.handshake("GSSAPI", 1) == ErrorCode.unsupported_sasl_mechanism
    assert session.state is SaslState.FAILED
    with pytest.raises(CloseConnection):
        session.admit(ApiKey.API_VERSIONS)


def test_session_expires_and_reauthenticates_as_the_same_principal() -> None:
    clock = ManualClock()
    session = _session(clock, reauth_ms=1000)
    assert session.handshake("PLAIN", 1) == ErrorCode.none
    result = asyncio.run(session.authenticate(b"\x00alice\x00pw"))
    assert (result.error_code, result.session_lifetime_ms) == (ErrorCode.none, 1000)
    assert session.principal == "User:alice"
    session.admit(ApiKey.PRODUCE)
    clock.advance(1000)
    with pytest.raises(CloseConnection, match="expired"):
        session.admit(ApiKey.PRODUCE)
    session.admit(ApiKey.SASL_HANDSHAKE)  # re-authentication stays possible
    assert session.handshake("PLAIN", 1) == ErrorCode.none
    assert asyncio.run(session.authenticate(b"\x00alice\x00pw")).error_code == ErrorCode.none
    session.admit(ApiKey.PRODUCE)
    assert session.handshake("PLAIN", 1) == ErrorCode.none
    changed = asyncio.run(session.authenticate(b"\x00bob\x00pw2"))
    assert changed.error_code == ErrorCode.sasl_authentication_failed
    assert "Cannot change principals" in (changed.error_message or "")


def test_second_handshake_mid_exchange_is_an_illegal_state() -> None:
    session = _session(ManualClock())
    assert session.handshake("SCRAM-SHA-256", 1) == ErrorCode.none
    assert session.handshake("SCRAM-SHA-256", 1) == ErrorCode.illegal_sasl_state
