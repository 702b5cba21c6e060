"""A broker with every kind of listener, its certificates and its users, for the security
tests. Listeners: PLAINTEXT (the harness's), SSL (client certificate requested), MTLS (SSL,
client certificate required), SASL_PLAINTEXT (3 s sessions: clients must re-authenticate),
SASL_SSL (PLAIN users from the JAAS config, SCRAM users from AlterUserScramCredentials)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka.admin import (
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)
from harness.secure import Pki, SecureBroker, make_pki

PLAIN_JAAS = (
    "org.apache.kafka.common.security.plain.PlainLoginModule required "
    'username="admin" password="admin-secret" user_alice="alice-secret";'
)
REAUTH_MS = 3000
SCRAM_USERS = {  # user -> (mechanism, password)
    "bob": (ScramMechanism.SCRAM_SHA_256, "bob-secret"),
    "carol": (ScramMechanism.SCRAM_SHA_512, "carol-secret"),
}


@dataclass
class SecureSetup:
    broker: SecureBroker
    pki: Pki


def add_scram_user(bootstrap: str, user: str, mechanism: ScramMechanism, password: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    upsert = UserScramCredentialUpsertion(user, ScramCredentialInfo(mechanism, 4096), password.encode())
    for future in admin.alter_user_scram_credentials([upsert]).values():
        future.result(timeout=15)


def start_secure_broker(root: Path, pki: Pki, **overrides: str) -> SecureBroker:
    broker = SecureBroker(
        root / "data",
        {"SSL": None, "MTLS": None, "SASL_PLAINTEXT": None, "SASL_SSL": None},
        log_path=root / "broker.log",
        overrides={
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SSL:SSL,MTLS:SSL,"
            "SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
            "ssl.keystore.location": str(pki.server),
            "ssl.truststore.location": str(pki.ca),
            "ssl.client.auth": "requested",
            "listener.name.mtls.ssl.client.auth": "required",
            "listener.name.sasl_ssl.plain.sasl.jaas.config": PLAIN_JAAS,
            "listener.name.sasl_plaintext.connections.max.reauth.ms": str(REAUTH_MS),
            **overrides,
        },
    )
    broker.start()
    return broker


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureSetup]:
    root = tmp_path_factory.mktemp("secure-broker")
    pki = make_pki(root / "pki")
    broker = start_secure_broker(root, pki)
    try:
        for user, (mechanism, password) in SCRAM_USERS.items():
            add_scram_user(broker.bootstrap, user, mechanism, password)
        yield SecureSetup(broker, pki)
    finally:
        try:
            broker.stop()
        finally:
            broker.kill()
