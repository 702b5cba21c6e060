"""The broker's own SASL client (replication logins) against Grete's server side, and the
inter-broker settings it is built from."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest
from harness.secure import make_pki

from grete.clock import ManualClock
from grete.config import ConfigError, load_config
from grete.protocol import ErrorCode
from grete.security.inter_broker import inter_broker_security
from grete.security.sasl.authenticator import ListenerSasl, SaslSession, SaslState
from grete.security.sasl.client import PlainClient, ScramClient, encode_saslname, sasl_client
from grete.security.sasl.credentials import ScramCredential, ScramMechanism
from grete.security.sasl.errors import SaslAuthenticationError
from grete.security.sasl.plain import PlainServer
from grete.security.sasl.scram import ScramServer, decode_saslname
from grete.security.sasl.store import LocalScramStore

SCRAMS = [ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512]


def scram_exchange(client: ScramClient, server: ScramServer, credential: ScramCredential) -> None:
    """Run the exchange to its end; raises SaslAuthenticationError on either side."""
    user = server.client_first(client.initial())
    assert user is not None
    client_final = client.evaluate(server.server_first(credential))
    assert client_final is not None
    assert client.evaluate(server.client_final(client_final)) is None


def test_plain_client_logs_in_and_a_wrong_password_is_refused() -> None:
    server = PlainServer({"broker": "broker-pw"})
    client = PlainClient("broker", "broker-pw")
    assert client.evaluate(server.evaluate(client.initial())) is None
    assert server.complete and server.user == "broker"
    with pytest.raises(SaslAuthenticationError):
        PlainServer({"broker": "broker-pw"}).evaluate(PlainClient("broker", "nope").initial())


@pytest.mark.parametrize("mechanism", SCRAMS)
def test_scram_client_logs_in_and_proves_the_server(mechanism: ScramMechanism) -> None:
    credential = ScramCredential.from_password(mechanism, "broker-pw", b"salt-of-broker", 4096)
    server = ScramServer(mechanism)
    scram_exchange(ScramClient(mechanism, "broker", "broker-pw"), server, credential)
    assert server.complete and server.user == "broker"


@pytest.mark.parametrize("mechanism", SCRAMS)
def test_scram_client_with_a_wrong_password_is_refused(mechanism: ScramMechanism) -> None:
    credential = ScramCredential.from_password(mechanism, "broker-pw", b"salt", 4096)
    server = ScramServer(mechanism)
    with pytest.raises(SaslAuthenticationError):
        scram_exchange(ScramClient(mechanism, "broker", "guess"), server, credential)
    assert not server.complete


def test_scram_client_refuses_a_server_that_does_not_know_the_password() -> None:
    mechanism = ScramMechanism.SCRAM_SHA_512
    client = ScramClient(mechanism, "broker", "pw", nonce="clientnonce")
    client.initial()
    assert client.evaluate(b"r=clientnonceSERVER,s=" + base64.b64encode(b"salt") + b",i=4096")
    forged = b"v=" + base64.b64encode(b"\x00" * 64)
    with pytest.raises(SaslAuthenticationError, match="signature"):
        client.evaluate(forged)


@pytest.mark.parametrize(
    "server_first",
    [b"r=othernonce,s=c2FsdA==,i=4096",  # does not extend our nonce
     b"r=clientnonce,s=c2FsdA==,i=4096",  # adds nothing to it
     b"r=clientnonceX,s=c2FsdA==,i=1024",  # too few iterations to resist guessing
     b"r=clientnonceX,s=!!,i=4096"],
)
def test_scram_client_refuses_a_bad_server_first(server_first: bytes) -> None:
    client = ScramClient(ScramMechanism.SCRAM_SHA_256, "broker", "pw", nonce="clientnonce")
    client.initial()
    with pytest.raises(SaslAuthenticationError):
        client.evaluate(server_first)


def test_user_names_with_commas_and_equals_round_trip() -> None:
    name = "CN=broker,O=Grete"
    assert encode_saslname(name) == "CN=3Dbroker=2CO=3DGrete"
    assert decode_saslname(encode_saslname(name)) == name
    mechanism = ScramMechanism.SCRAM_SHA_256
    server = ScramServer(mechanism)
    scram_exchange(ScramClient(mechanism, name, "pw"), server,
                   ScramCredential.from_password(mechanism, "pw", b"s", 4096))
    assert server.user == name


def test_unknown_mechanisms_are_refused() -> None:
    with pytest.raises(ValueError, match="GSSAPI"):
        sasl_client("GSSAPI", "broker", "pw")


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_client_through_the_servers_session(mechanism: str, tmp_path: Path) -> None:
    """The whole server path a broker's login takes: handshake, the exchange with the
    credential read from the store, the principal."""

    async def run() -> SaslSession:
        store = LocalScramStore.open(tmp_path)
        kind = ScramMechanism.from_name(mechanism)
        if kind is not ScramMechanism.UNKNOWN:
            await store.alter("broker", {kind: ScramCredential.from_password(kind, "pw", b"salt")}, set())
        listener = ListenerSasl((mechanism,), {"broker": "pw"}, reauth_ms=0, max_receive_size=1 << 19)
        session = SaslSession(listener, store, ManualClock())
        assert session.handshake(mechanism, 1) == ErrorCode.none
        client = sasl_client(mechanism, "broker", "pw")
        token: bytes | None = client.initial()
        while token is not None:
            result = await session.authenticate(token)
            assert result.error_code == ErrorCode.none, result.error_message
            token = client.evaluate(result.auth_bytes)
        return session

    session = asyncio.run(run())
    assert session.state is SaslState.AUTHENTICATED and session.principal == "User:broker"


def _config(protocol: str, **extra: str) -> dict[str, str]:
    return {"listeners": f"PLAINTEXT://127.0.0.1:0,{protocol}://127.0.0.1:0",
            "inter.broker.listener.name": protocol, **extra}


def test_inter_broker_sasl_takes_the_listeners_jaas_login() -> None:
    jaas = ('org.apache.kafka.common.security.scram.ScramLoginModule required '
            'username="broker" password="broker-pw";')
    cfg = load_config(overrides=_config(
        "SASL_PLAINTEXT", **{"sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
                             "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config": jaas}),
        environ={})
    security = inter_broker_security(cfg)
    assert security.ssl_context is None and security.authenticate is not None


def test_inter_broker_sasl_without_a_login_or_an_offered_mechanism_is_refused() -> None:
    no_login = load_config(overrides=_config(
        "SASL_PLAINTEXT", **{"sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-256"}), environ={})
    with pytest.raises(ValueError, match=r"listener\.name\.sasl_plaintext\.scram-sha-256\.sasl"):
        inter_broker_security(no_login)
    # PLAIN (the default) is not offered without TLS unless allowed: it cannot log in.
    plain = load_config(overrides=_config("SASL_PLAINTEXT"), environ={})
    with pytest.raises(ValueError, match="not offered"):
        inter_broker_security(plain)


def test_inter_broker_tls_trusts_the_truststore_and_checks_the_host(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    settings = _config("SSL", **{"ssl.keystore.location": str(pki.server),
                                 "ssl.truststore.location": str(pki.ca)})
    security = inter_broker_security(load_config(overrides=settings, environ={}))
    assert security.ssl_context is not None and security.authenticate is None
    assert security.ssl_context.check_hostname
    assert security.ssl_context.get_ca_certs()[0]["subject"][-1] == (("commonName", "Grete Test CA"),)
    lenient = load_config(overrides={**settings, "ssl.endpoint.identification.algorithm": ""},
                          environ={})
    context = inter_broker_security(lenient).ssl_context
    assert context is not None and not context.check_hostname


def test_an_inter_broker_mechanism_grete_lacks_is_refused_at_load() -> None:
    with pytest.raises(ConfigError, match=r"sasl\.mechanism\.inter\.broker\.protocol"):
        load_config(overrides={"sasl.mechanism.inter.broker.protocol": "GSSAPI"}, environ={})
