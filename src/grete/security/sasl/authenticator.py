"""SASL on a connection: which requests are served before authentication, the exchange,
the session's lifetime and re-authentication (KIP-368).

A `SaslSession` is the state machine of one connection on a SASL_PLAINTEXT or SASL_SSL
listener:

    HANDSHAKE --SaslHandshake(mechanism)--> AUTHENTICATE --exchange done--> AUTHENTICATED
        AUTHENTICATED --SaslHandshake--> AUTHENTICATE (re-authentication; the old session
        stays valid until it expires) --done, same principal--> AUTHENTICATED
    any failure --> FAILED (the response is sent after a delay, then the connection closes)

Before the first authentication only ApiVersions, SaslHandshake and SaslAuthenticate are
served, in frames of at most sasl.server.max.receive.size bytes; anything else closes the
connection, as in Kafka. Once connections.max.reauth.ms has passed, any request other than
a re-authentication closes it. After a SaslHandshake v0 the client sends bare SASL tokens
(size-prefixed, no request header) instead of SaslAuthenticate requests.

Not thread-safe; event loop only. The exchanges themselves are sans-IO (plain, scram).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import struct
from dataclasses import dataclass

from grete.clock import Clock
from grete.config import BrokerConfig
from grete.config.kafka_type import list_items
from grete.network.connection import CloseConnection, ConnectionInfo
from grete.protocol import ApiKey, ErrorCode
from grete.security.sasl.credentials import ScramMechanism
from grete.security.sasl.errors import SaslAuthenticationError
from grete.security.sasl.jaas import JaasConfig
from grete.security.sasl.plain import PlainServer
from grete.security.sasl.scram import ScramServer
from grete.security.sasl.store import ScramCredentialStore

log = logging.getLogger("grete.security")

SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")
_PRE_AUTH_APIS = frozenset({ApiKey.API_VERSIONS, ApiKey.SASL_HANDSHAKE, ApiKey.SASL_AUTHENTICATE})
_SESSION_KEY = "sasl"
_SIZE = struct.Struct(">i")


class SaslState(enum.Enum):
    HANDSHAKE = "handshake"
    AUTHENTICATE = "authenticate"
    AUTHENTICATED = "authenticated"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ListenerSasl:
    """A SASL listener's settings, resolved once at start-up."""

    mechanisms: tuple[str, ...]
    plain_users: dict[str, str]
    reauth_ms: int  # connections.max.reauth.ms; 0: sessions never expire
    max_receive_size: int  # sasl.server.max.receive.size


@dataclass(frozen=True, slots=True)
class AuthenticateResult:
    error_code: ErrorCode
    error_message: str | None
    auth_bytes: bytes
    session_lifetime_ms: int


class SaslSession:
    """The SASL state of one connection."""

    def __init__(self, listener: ListenerSasl, store: ScramCredentialStore, clock: Clock) -> None:
        self.listener = listener
        self._store = store
        self._clock = clock
        self.state = SaslState.HANDSHAKE
        self.mechanism: str | None = None
        self.handshake_version = 1
        self.principal: str | None = None  # of the last successful authentication
        self._expires_at: float | None = None  # monotonic seconds
        self._exchange: PlainServer | ScramServer | None = None
        self._scram_step = 0

    @property
    def authenticated(self) -> bool:
        return self.principal is not None

    @property
    def expects_raw_token(self) -> bool:
        """After SaslHandshake v0 the next frames are bare SASL tokens."""
        return self.state is SaslState.AUTHENTICATE and self.handshake_version == 0

    def expired(self) -> bool:
        return self._expires_at is not None and self._clock.monotonic() >= self._expires_at

    # -- requests ---------------------------------------------------------------------------

    def admit(self, api_key: int) -> None:
        """Raise CloseConnection for a request this connection may not make now."""
        if self.state is SaslState.FAILED:
            raise CloseConnection("request after a failed authentication")
        if api_key in _PRE_AUTH_APIS:
            return
        if not self.authenticated:
            raise CloseConnection(
                f"unexpected {ApiKey(api_key).name} request before SASL authentication"
            )
        if self.expired():
            raise CloseConnection(
                f"SASL session of {self.principal} expired (connections.max.reauth.ms); "
                f"{ApiKey(api_key).name} refused"
            )

    def handshake(self, mechanism: str, version: int) -> ErrorCode:
        """SaslHandshake; anything but NONE closes the connection after the response."""
        if self.state is SaslState.AUTHENTICATE or self.state is SaslState.FAILED:
            self.state = SaslState.FAILED
            return ErrorCode.illegal_sasl_state
        if mechanism not in self.listener.mechanisms:
            self.state = SaslState.FAILED
            return ErrorCode.unsupported_sasl_mechanism
        if self.authenticated and mechanism != self.mechanism:
            self.state = SaslState.FAILED  # Kafka: re-authentication keeps the mechanism
            return ErrorCode.illegal_sasl_state
        self.mechanism, self.handshake_version = mechanism, version
        self.state = SaslState.AUTHENTICATE
        self._scram_step = 0
        if mechanism == "PLAIN":
            self._exchange = PlainServer(self.listener.plain_users)
        else:
            self._exchange = ScramServer(ScramMechanism.from_name(mechanism))
        return ErrorCode.none

    async def authenticate(self, token: bytes) -> AuthenticateResult:
        """One SaslAuthenticate step (or one bare token after a v0 handshake)."""
        if self.state is not SaslState.AUTHENTICATE or self._exchange is None:
            self.state = SaslState.FAILED
            return AuthenticateResult(
                ErrorCode.illegal_sasl_state, "Unexpected SaslAuthenticate request", b"", 0
            )
        try:
            answer = await self._step(self._exchange, token)
        except SaslAuthenticationError as exc:
            self.state = SaslState.FAILED
            log.info("SASL %s authentication failed: %s", self.mechanism, exc)
            return AuthenticateResult(ErrorCode.sasl_authentication_failed, str(exc), b"", 0)
        if not self._exchange.complete:
            return AuthenticateResult(ErrorCode.none, None, answer, 0)
        return self._complete(self._exchange, answer)

    async def _step(self, exchange: PlainServer | ScramServer, token: bytes) -> bytes:
        if isinstance(exchange, PlainServer):
            return exchange.evaluate(token)
        self._scram_step += 1
        if self._scram_step == 1:
            user = exchange.client_first(token)
            credential = await self._store.get(user, ScramMechanism.from_name(exchange.mechanism))
            return exchange.server_first(credential)
        if self._scram_step == 2:
            return exchange.client_final(token)
        raise SaslAuthenticationError("Unexpected SCRAM message")

    def _complete(self, exchange: PlainServer | ScramServer, answer: bytes) -> AuthenticateResult:
        principal = f"User:{exchange.user}"
        if self.principal is not None and principal != self.principal:
            self.state = SaslState.FAILED
            message = (
                f"Cannot change principals during re-authentication from {self.principal} "
                f"to {principal}"
            )
            return AuthenticateResult(ErrorCode.sasl_authentication_failed, message, b"", 0)
        self.principal = principal
        self.state = SaslState.AUTHENTICATED
        self._exchange = None
        lifetime = self.listener.reauth_ms
        self._expires_at = self._clock.monotonic() + lifetime / 1000.0 if lifetime > 0 else None
        return AuthenticateResult(ErrorCode.none, None, answer, lifetime)


class Authenticator:
    """The broker's SASL settings per listener, and the session of each SASL connection."""

    def __init__(
        self,
        listeners: dict[str, ListenerSasl],
        store: ScramCredentialStore,
        clock: Clock,
        failure_delay_ms: int,
    ) -> None:
        self._listeners = listeners
        self.store = store
        self._clock = clock
        self.failure_delay_s = failure_delay_ms / 1000.0

    @classmethod
    def from_config(
        cls, cfg: BrokerConfig, store: ScramCredentialStore, clock: Clock
    ) -> Authenticator:
        listeners = {}
        for endpoint in cfg.listener_endpoints():
            if endpoint.security_protocol in SASL_PROTOCOLS:
                listeners[endpoint.name] = listener_sasl(
                    cfg, endpoint.name, endpoint.security_protocol
                )
        return cls(listeners, store, clock, cfg.connection_failed_authentication_delay_ms)

    def max_receive_size(self, listener: str) -> int | None:
        found = self._listeners.get(listener)
        return None if found is None else found.max_receive_size

    def session(self, info: ConnectionInfo) -> SaslSession | None:
        """The connection's session; None on a listener without SASL."""
        found = info.attributes.get(_SESSION_KEY)
        if isinstance(found, SaslSession):
            return found
        listener = self._listeners.get(info.listener)
        if listener is None:
            return None
        session = SaslSession(listener, self.store, self._clock)
        info.attributes[_SESSION_KEY] = session
        return session

    def authenticated(self, info: ConnectionInfo, session: SaslSession) -> None:
        """After a successful exchange: the principal and the full frame size."""
        if session.principal is not None:
            info.principal = session.principal
        info.max_frame_bytes = None

    async def fail(self, info: ConnectionInfo) -> None:
        """Delay a failure's answer (slows password guessing), then close after it."""
        info.close_after_response = True
        if self.failure_delay_s > 0:
            await asyncio.sleep(self.failure_delay_s)

    async def raw_token(
        self, frame: bytearray, info: ConnectionInfo, session: SaslSession
    ) -> bytes | None:
        """A bare token after SaslHandshake v0: the answer is a bare size-prefixed token; a
        failure closes the connection without one (Kafka's v0 behaviour)."""
        result = await session.authenticate(bytes(frame))
        if result.error_code != ErrorCode.none:
            await self.fail(info)
            return None
        if session.authenticated and session.state is SaslState.AUTHENTICATED:
            self.authenticated(info, session)
        return _SIZE.pack(len(result.auth_bytes)) + result.auth_bytes


def listener_sasl(cfg: BrokerConfig, listener: str, protocol: str) -> ListenerSasl:
    """Resolve a listener's mechanisms and PLAIN users; PLAIN is dropped from a listener
    without TLS unless grete.sasl.plain.allow.insecure is set."""
    mechanisms = list_items(cfg.listener_setting(listener, "sasl.enabled.mechanisms"))
    if "PLAIN" in mechanisms and protocol != "SASL_SSL" and not cfg.grete_sasl_plain_allow_insecure:
        log.warning(
            "listener %s: PLAIN is not offered without TLS (set grete.sasl.plain.allow.insecure "
            "to allow it)",
            listener,
        )
        mechanisms = tuple(m for m in mechanisms if m != "PLAIN")
    users: dict[str, str] = {}
    jaas = cfg.listener_setting(listener, "plain.sasl.jaas.config")
    if jaas:
        users = JaasConfig.parse(jaas).plain_users()
    return ListenerSasl(
        mechanisms=tuple(mechanisms),
        plain_users=users,
        reauth_ms=int(cfg.listener_setting(listener, "connections.max.reauth.ms")),
        max_receive_size=int(cfg.listener_setting(listener, "sasl.server.max.receive.size")),
    )
