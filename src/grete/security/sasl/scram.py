"""SASL SCRAM-SHA-256 / SCRAM-SHA-512 (RFC 5802) on the server, through `scramp`.

Two client messages: client-first names the user (the caller then looks the credential up,
possibly in ZooKeeper) and client-final carries the proof, which scramp checks in constant
time. An unknown user gets a made-up credential (a salt derived from the name and a
per-process secret, keys that match no password), so the exchange runs its course and fails
on the proof exactly like a wrong password. Sans-IO: bytes in, bytes out.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from typing import Protocol

from scramp import ScramException
from scramp import ScramMechanism as _ScrampMechanism

from grete.security.sasl.credentials import MIN_ITERATIONS, ScramCredential, ScramMechanism
from grete.security.sasl.errors import SaslAuthenticationError

_DECOY_SECRET = secrets.token_bytes(32)
log = logging.getLogger("grete.security")


class _ScrampServer(Protocol):
    """The part of scramp's ScramServer used here (scramp ships no types)."""

    def set_client_first(self, client_first: str) -> None: ...
    def get_server_first(self) -> str: ...
    def set_client_final(self, client_final: str) -> None: ...
    def get_server_final(self) -> str: ...


def invalid_credentials(mechanism: str) -> str:
    return (
        "Authentication failed during authentication due to invalid credentials with SASL "
        f"mechanism {mechanism}"
    )


def decode_saslname(name: str) -> str:
    """RFC 5802 saslname: "=2C" is a comma, "=3D" an equals sign."""
    return name.replace("=2C", ",").replace("=3D", "=")


class ScramServer:
    """One SCRAM exchange: ``client_first`` -> user name, ``server_first(credential)``,
    ``client_final`` -> server-final message. Any failure raises SaslAuthenticationError."""

    def __init__(self, mechanism: ScramMechanism) -> None:
        self.mechanism = mechanism.mechanism_name
        self._kind = mechanism
        self._scramp = _ScrampMechanism(self.mechanism)
        self._client_first = ""
        self._server: _ScrampServer | None = None
        self.user: str | None = None  # the name the client gave
        self.complete = False

    def client_first(self, token: bytes) -> str:
        """Parse client-first; returns the user whose credential ``server_first`` needs."""
        try:
            text = token.decode("utf-8")
            gs2, _, bare = text.partition(",")  # gs2-cbind-flag
            authzid, _, bare = bare.partition(",")
        except UnicodeDecodeError:
            raise SaslAuthenticationError(invalid_credentials(self.mechanism)) from None
        attributes = dict(a.split("=", 1) for a in bare.split(",") if "=" in a)
        if gs2 not in ("n", "y") or "n" not in attributes or "r" not in attributes:
            raise SaslAuthenticationError(invalid_credentials(self.mechanism))
        self.user = decode_saslname(attributes["n"])
        if authzid and decode_saslname(authzid.removeprefix("a=")) != self.user:
            raise SaslAuthenticationError(
                "Authentication failed: Client requested an authorization id that is "
                "different from username"
            )
        self._client_first = text
        return self.user

    def server_first(self, credential: ScramCredential | None) -> bytes:
        cred = credential if credential is not None else self._decoy()

        def auth_fn(_: str) -> tuple[bytes, bytes, bytes, int]:
            return cred.salt, cred.stored_key, cred.server_key, cred.iterations

        try:
            # A short server nonce, like Kafka's: librdkafka 2.0 mangles scramp's 64-byte one.
            server: _ScrampServer = self._scramp.make_server(
                auth_fn, s_nonce=secrets.token_urlsafe(18)
            )
            server.set_client_first(self._client_first)
            first = server.get_server_first()
        except ScramException as exc:
            log.debug("SCRAM client-first of %r refused: %s", self.user, exc)
            raise SaslAuthenticationError(invalid_credentials(self.mechanism)) from None
        self._server = server
        return first.encode()

    def client_final(self, token: bytes) -> bytes:
        server = self._server
        if server is None:
            raise SaslAuthenticationError(invalid_credentials(self.mechanism))
        try:
            server.set_client_final(token.decode("utf-8"))
            final = server.get_server_final()
        except (ScramException, UnicodeDecodeError) as exc:
            log.debug("SCRAM client-final of %r refused: %s", self.user, exc)
            raise SaslAuthenticationError(invalid_credentials(self.mechanism)) from None
        self.complete = True
        return final.encode()

    def _decoy(self) -> ScramCredential:
        seed = hmac.digest(_DECOY_SECRET, (self.user or "").encode(), "sha256")
        fake_key = hashlib.new(self._kind.hash_name, seed + b"key").digest()
        return ScramCredential(seed[:16], fake_key, fake_key, MIN_ITERATIONS)
