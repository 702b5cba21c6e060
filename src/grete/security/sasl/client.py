"""SASL on the client side, for a broker that logs in to its peers (replication).

The exchanges are sans-IO: ``initial()`` gives the first message, ``evaluate(challenge)``
the next one, or None once the exchange is done (and the server proven, for SCRAM).
``sasl_login`` runs one over a ``KafkaConnection`` with SaslHandshake v1 and
SaslAuthenticate v2, as Kafka's clients do; any refusal raises ``AuthenticationFailed``.
When the server limits the session (connections.max.reauth.ms, KIP-368), the connection is
marked for renewal at 85% of its lifetime: its user opens a new connection then instead of
re-authenticating in place, which needs no request-free moment on a pipelined connection.

SCRAM follows RFC 5802 as Kafka does: no SASLprep, no channel binding (gs2 header
``n,,``), at least 4096 iterations, and the server-final signature is checked, so a peer
that does not know our password cannot pose as the leader.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable

from grete.network.client import AuthenticationFailed, KafkaConnection
from grete.protocol import ApiKey, ErrorCode
from grete.security.sasl.credentials import MIN_ITERATIONS, ScramMechanism
from grete.security.sasl.errors import SaslAuthenticationError

HANDSHAKE_VERSION = 1  # v1: the tokens then travel in SaslAuthenticate requests
AUTHENTICATE_VERSION = 2
_GS2_HEADER = "n,,"
RENEW_FRACTION = 0.85  # of a session's lifetime (connections.max.reauth.ms), then reconnect


class PlainClient:
    """RFC 4616: one message, ``NUL user NUL password`` (no authorization id, as Kafka)."""

    mechanism = "PLAIN"

    def __init__(self, username: str, password: str) -> None:
        self._message = b"\x00" + username.encode() + b"\x00" + password.encode()

    def initial(self) -> bytes:
        return self._message

    def evaluate(self, challenge: bytes) -> bytes | None:
        if challenge:
            raise SaslAuthenticationError("unexpected PLAIN server message")
        return None


def encode_saslname(name: str) -> str:
    """RFC 5802 saslname: "," and "=" are written "=2C" and "=3D"."""
    return name.replace("=", "=3D").replace(",", "=2C")


class ScramClient:
    """One SCRAM-SHA-256/512 exchange. Not thread-safe; one instance per login."""

    def __init__(
        self, mechanism: ScramMechanism, username: str, password: str, nonce: str | None = None
    ) -> None:
        if mechanism not in (ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512):
            raise ValueError(f"not a SCRAM mechanism: {mechanism!r}")
        self.mechanism = mechanism.mechanism_name
        self._digest = mechanism.hash_name
        self._password = password.encode()
        self._nonce = nonce or secrets.token_urlsafe(24)
        self._first_bare = f"n={encode_saslname(username)},r={self._nonce}"
        self._server_signature: bytes | None = None
        self._step = 0

    def initial(self) -> bytes:
        return (_GS2_HEADER + self._first_bare).encode()

    def evaluate(self, challenge: bytes) -> bytes | None:
        self._step += 1
        if self._step == 1:
            return self._client_final(challenge)
        if self._step == 2:
            self._check_server_final(challenge)
            return None
        raise SaslAuthenticationError("unexpected SCRAM server message")

    def _client_final(self, server_first: bytes) -> bytes:
        text = server_first.decode("utf-8", "replace")
        attributes = dict(part.split("=", 1) for part in text.split(",") if "=" in part)
        nonce, salt_b64, iterations_text = (attributes.get(k, "") for k in ("r", "s", "i"))
        if not nonce.startswith(self._nonce) or len(nonce) == len(self._nonce):
            raise SaslAuthenticationError("SCRAM server nonce does not extend ours")
        try:
            salt = base64.b64decode(salt_b64, validate=True)
            iterations = int(iterations_text)
        except (binascii.Error, ValueError):
            raise SaslAuthenticationError(f"invalid SCRAM server-first {text!r}") from None
        if iterations < MIN_ITERATIONS:
            raise SaslAuthenticationError(f"SCRAM iterations {iterations} below {MIN_ITERATIONS}")
        salted = hashlib.pbkdf2_hmac(self._digest, self._password, salt, iterations)
        channel_binding = base64.b64encode(_GS2_HEADER.encode()).decode()
        without_proof = f"c={channel_binding},r={nonce}"
        auth_message = f"{self._first_bare},{text},{without_proof}".encode()
        client_key = hmac.digest(salted, b"Client Key", self._digest)
        stored_key = hashlib.new(self._digest, client_key).digest()
        signature = hmac.digest(stored_key, auth_message, self._digest)
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        server_key = hmac.digest(salted, b"Server Key", self._digest)
        self._server_signature = hmac.digest(server_key, auth_message, self._digest)
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def _check_server_final(self, server_final: bytes) -> None:
        text = server_final.decode("utf-8", "replace")
        if text.startswith("e="):
            raise SaslAuthenticationError(f"SCRAM server error: {text[2:]}")
        try:
            signature = base64.b64decode(text.removeprefix("v="), validate=True)
        except binascii.Error:
            signature = b""
        expected = self._server_signature or b""
        if not text.startswith("v=") or not hmac.compare_digest(signature, expected):
            raise SaslAuthenticationError("SCRAM server signature does not match: not our server")


SaslClient = PlainClient | ScramClient


def sasl_client(mechanism: str, username: str, password: str) -> SaslClient:
    """The exchange for ``mechanism``; ValueError for one Grete cannot speak."""
    if mechanism == "PLAIN":
        return PlainClient(username, password)
    scram = ScramMechanism.from_name(mechanism)
    if scram is ScramMechanism.UNKNOWN:
        raise ValueError(f"SASL mechanism {mechanism} is not supported")
    return ScramClient(scram, username, password)


async def sasl_login(
    conn: KafkaConnection, mechanism: str, username: str, password: str, *, timeout_s: float
) -> None:
    """Authenticate ``conn`` as ``username``; raises AuthenticationFailed if refused."""
    exchange = sasl_client(mechanism, username, password)
    handshake = conn.build(ApiKey.SASL_HANDSHAKE, HANDSHAKE_VERSION, mechanism=mechanism)
    answer = await conn.request(
        ApiKey.SASL_HANDSHAKE, HANDSHAKE_VERSION, handshake, timeout_s=timeout_s
    )
    if answer.error_code != ErrorCode.none:
        raise AuthenticationFailed(
            f"{conn.peer} refused SASL mechanism {mechanism}: "
            f"{ErrorCode(answer.error_code).name}, it offers {list(answer.mechanisms)}"
        )
    token: bytes | None = exchange.initial()
    while token is not None:
        body = conn.build(ApiKey.SASL_AUTHENTICATE, AUTHENTICATE_VERSION, auth_bytes=token)
        response = await conn.request(
            ApiKey.SASL_AUTHENTICATE, AUTHENTICATE_VERSION, body, timeout_s=timeout_s
        )
        if response.error_code != ErrorCode.none:
            raise AuthenticationFailed(
                f"{conn.peer} refused {mechanism} login of {username!r}: "
                f"{ErrorCode(response.error_code).name} {response.error_message or ''}".rstrip()
            )
        try:
            token = exchange.evaluate(bytes(response.auth_bytes))
        except SaslAuthenticationError as exc:
            raise AuthenticationFailed(f"{conn.peer}: {exc}") from None
        lifetime = response.session_lifetime  # kio: a timedelta; 0 when the session never ends
        if token is None and lifetime > datetime.timedelta(0):
            # Kafka's clients re-authenticate at 85-95% of the lifetime; we reconnect then.
            renew_in = lifetime.total_seconds() * RENEW_FRACTION
            conn.renew_at = asyncio.get_running_loop().time() + renew_in


def sasl_step(
    mechanism: str, username: str, password: str, *, timeout_s: float = 30.0
) -> Callable[[KafkaConnection], Awaitable[None]]:
    """``ConnectSecurity.authenticate`` for these credentials."""
    sasl_client(mechanism, username, password)  # refuse an unknown mechanism now, not per connect

    async def authenticate(conn: KafkaConnection) -> None:
        await sasl_login(conn, mechanism, username, password, timeout_s=timeout_s)

    return authenticate
