"""An outbound Kafka protocol connection, for broker-to-broker requests (replica fetching).

Requests are pipelined: many may be in flight on one connection. A Kafka broker
answers a connection's requests strictly in the order it received them, so the
in-flight requests form a FIFO and each response must carry the correlation id
of the oldest one; anything else means the stream is not what we think it is
and the connection is closed.

Failure policy: any error that leaves the stream in doubt (connect refused or timed
out, peer closed, a frame over ``max_frame_bytes``, an undecodable response, a
request timeout) closes the connection and fails every in-flight request with
``BrokerConnectionError``. The caller opens a new connection; there is no retry here.

Why a timed-out request closes the connection: a late response would still be
matched correctly (the request keeps its FIFO place), so nothing desynchronises,
but a peer that has not answered within the bound is presumed unhealthy, and
keeping the connection means holding the slot and the late response's memory
for an answer nobody waits for. Kafka's NetworkClient also disconnects on a
request timeout. A caller that is *cancelled* (rather than timed out) leaves the
connection open: its response is read and dropped.

Framing: responses are read with asyncio streams, header then body with
``readexactly``. The server side's ``FrameDecoder`` is not reused because it
refuses frames under 10 bytes (the smallest *request*), and a legal response can
be shorter (a correlation id and an error code). A refused size allocates
nothing: ``readexactly`` only ever holds bytes that actually arrived.

Security (``ConnectSecurity``): an optional TLS context for the socket and an optional
authentication step (SASL, see ``grete.security.sasl.client``) that runs on the new
connection before ``open`` returns it. A connection that fails either is closed.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import ssl
import struct
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from grete import __version__
from grete.protocol import ApiKey, ErrorCode, RequestHeader, schema
from grete.protocol.codec import decode_response, encode_request
from grete.protocol.schema import build

log = logging.getLogger("grete.network")

_SIZE = struct.Struct(">i")
_API_VERSIONS_ERROR = struct.Struct(">ih")  # correlation id, then error_code in every version
_CORRELATION_BYTES = 4
_API_VERSIONS_V = 3
_READ_LIMIT = 1024 * 1024  # StreamReader pauses the socket past twice this with no reader waiting
_MAX_CORRELATION_ID = 2**31 - 1
_CLOSE_TIMEOUT_S = 2.0


class BrokerConnectionError(Exception):
    """The connection failed (refused, timed out, peer closed, bad framing); it is unusable."""


class RequestTimeout(BrokerConnectionError):
    """A request was not answered in time; the connection has been closed."""


class AuthenticationFailed(BrokerConnectionError):
    """The peer refused this connection's credentials (TLS or SASL); retrying will not help
    until the configuration changes."""


@dataclass(frozen=True, slots=True)
class ConnectSecurity:
    """How to secure a new connection: TLS with ``ssl_context`` (its ``check_hostname``
    decides whether the peer's certificate must name the host we dialled), then
    ``authenticate``, awaited once on the open connection (it raises to refuse it)."""

    ssl_context: ssl.SSLContext | None = None
    authenticate: Callable[[KafkaConnection], Awaitable[None]] | None = None


@dataclass(slots=True)
class _InFlight:
    correlation_id: int
    api_key: int
    version: int
    future: asyncio.Future[Any]
    decode: Callable[[bytes], Any] | None = None  # None: kio's response entity


class KafkaConnection:
    """One client connection to a Kafka broker.

    Not thread-safe; all methods run on the event loop that opened it. Requests may
    be issued concurrently from many tasks; their responses are matched by
    correlation id, in order. Produce with acks=0 (no response) is not supported.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        peer: str,
        client_id: str,
        max_frame_bytes: int,
    ) -> None:
        self.peer = peer
        self.client_id = client_id
        self._reader = reader
        self._writer = writer
        self._max_frame_bytes = max_frame_bytes
        self._in_flight: collections.deque[_InFlight] = collections.deque()
        self._correlation_ids = itertools.count(1)
        self._error: BrokerConnectionError | None = None  # set once, when the connection closes
        # Monotonic time to replace an authenticated connection before the peer ends its
        # session (KIP-368); set by the authentication step, None: the session never ends.
        self.renew_at: float | None = None
        self._read_task = asyncio.get_running_loop().create_task(
            self._read_responses(), name=f"kafka-connection-read {peer}"
        )

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        *,
        client_id: str,
        connect_timeout_s: float,
        max_frame_bytes: int = 100 * 1024 * 1024,
        security: ConnectSecurity | None = None,
    ) -> KafkaConnection:
        """Connect to ``host:port`` (with TLS and authentication if ``security`` says so);
        raises BrokerConnectionError if that fails or times out."""
        peer = f"{host}:{port}"
        context = security.ssl_context if security is not None else None
        try:
            async with asyncio.timeout(connect_timeout_s):
                reader, writer = await asyncio.open_connection(
                    host, port, limit=_READ_LIMIT, ssl=context,
                    ssl_handshake_timeout=connect_timeout_s if context is not None else None,
                )
        except TimeoutError:
            raise BrokerConnectionError(
                f"connect to {peer} timed out after {connect_timeout_s} s"
            ) from None
        except ssl.SSLCertVerificationError as exc:
            raise AuthenticationFailed(f"TLS to {peer}: {exc.verify_message}") from exc
        except OSError as exc:  # ssl.SSLError included
            raise BrokerConnectionError(f"connect to {peer} failed: {exc}") from exc
        log.debug("connected to %s as %r", peer, client_id)
        conn = cls(reader, writer, peer=peer, client_id=client_id, max_frame_bytes=max_frame_bytes)
        if security is not None and security.authenticate is not None:
            try:
                await security.authenticate(conn)
            except BaseException:
                await conn.close()
                raise
        return conn

    def closed(self) -> bool:
        return self._error is not None

    def needs_renewal(self) -> bool:
        """True once the authenticated session is near its end: open a new connection."""
        return self.renew_at is not None and asyncio.get_running_loop().time() >= self.renew_at

    def build(self, api_key: int, version: int, **fields: Any) -> Any:
        """The request entity of ``api_key`` at ``version``; absent fields get neutral defaults."""
        return build(schema(api_key, version).request_cls, fields)

    def make(self, api_key: int, version: int, cls_name: str, **fields: Any) -> Any:
        """A nested request entity by kio's class name, e.g. ``make(1, 12, "FetchTopic", ...)``."""
        module = sys.modules[schema(api_key, version).request_cls.__module__]
        return build(getattr(module, cls_name), fields)

    async def request(
        self,
        api_key: int,
        version: int,
        body: Any,
        *,
        timeout_s: float,
        decode: Callable[[bytes], Any] | None = None,
    ) -> Any:
        """Send ``body`` and return the decoded response (``decode`` reads the frame
        after its size prefix, for a response extended with tagged fields).

        Raises RequestTimeout if no response came within ``timeout_s`` (the connection
        is then closed), BrokerConnectionError if the connection failed or was closed.
        """
        if self._error is not None:
            raise BrokerConnectionError(f"connection to {self.peer} is closed: {self._error}")
        if api_key == ApiKey.PRODUCE and getattr(body, "acks", None) == 0:
            raise ValueError("Produce with acks=0 gets no response; not supported here")
        correlation_id = self._next_correlation_id()
        frame = encode_request(
            RequestHeader(api_key, version, correlation_id, self.client_id), body
        )
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        # No await between queueing and writing: the FIFO order is the order on the wire.
        self._in_flight.append(_InFlight(correlation_id, api_key, version, future, decode))
        self._writer.write(frame)
        try:
            async with asyncio.timeout(timeout_s):
                await self._writer.drain()
                return await future
        except TimeoutError:
            error = RequestTimeout(
                f"api {api_key} v{version} (correlation id {correlation_id}) to {self.peer} "
                f"not answered within {timeout_s} s"
            )
            log.warning("%s; closing the connection", error)
            self._shutdown(error)
            raise error from None
        except OSError as exc:  # drain() on a connection the peer reset
            self._shutdown(BrokerConnectionError(f"connection to {self.peer} lost: {exc}"))
            raise BrokerConnectionError(str(self._error)) from exc
        finally:
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: drain() may have failed first

    async def api_versions(self, *, timeout_s: float = 30.0) -> dict[int, tuple[int, int]]:
        """The peer's supported version range per API key (ApiVersions v3).

        KIP-511: a peer that does not know v3 answers UNSUPPORTED_VERSION with its
        ranges in a v0 response; we then ask again at the highest version it supports.
        Raises BrokerConnectionError (and closes) if the peer still reports an error.
        """
        version = _API_VERSIONS_V
        body = self.build(
            ApiKey.API_VERSIONS,
            version,
            client_software_name="grete",
            client_software_version=__version__,
        )
        response = await self.request(ApiKey.API_VERSIONS, version, body, timeout_s=timeout_s)
        if response.error_code == ErrorCode.unsupported_version:
            low, high = _ranges(response).get(ApiKey.API_VERSIONS, (0, 0))
            version = max(low, min(high, _API_VERSIONS_V - 1))
            log.info("%s does not support ApiVersions v3; retrying with v%d", self.peer, version)
            body = self.build(ApiKey.API_VERSIONS, version)
            response = await self.request(ApiKey.API_VERSIONS, version, body, timeout_s=timeout_s)
        if response.error_code != ErrorCode.none:
            error = BrokerConnectionError(
                f"{self.peer} answered ApiVersions v{version} with {ErrorCode(response.error_code).name}"
            )
            await self._close(error)
            raise error
        return _ranges(response)

    async def close(self) -> None:
        """Close the connection (idempotent); every in-flight request fails."""
        await self._close(BrokerConnectionError(f"connection to {self.peer} closed"))

    async def _close(self, error: BrokerConnectionError) -> None:
        self._shutdown(error)
        await asyncio.wait([self._read_task])
        try:
            # A peer that stopped reading (a draining broker) could hold our unsent bytes,
            # and with them this close, for ever.
            async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                await self._writer.wait_closed()
        except TimeoutError:
            self._writer.transport.abort()
        except OSError:
            pass

    def _shutdown(self, error: BrokerConnectionError) -> None:
        """Mark the connection closed with ``error``, fail in-flight requests, drop the socket."""
        if self._error is not None:
            return
        self._error = error
        while self._in_flight:
            future = self._in_flight.popleft().future
            if not future.done():
                future.set_exception(BrokerConnectionError(str(error)))
        self._writer.close()
        if asyncio.current_task() is not self._read_task:
            self._read_task.cancel()

    def _next_correlation_id(self) -> int:
        correlation_id = next(self._correlation_ids)
        if correlation_id > _MAX_CORRELATION_ID:
            self._correlation_ids = itertools.count(2)
            correlation_id = 1
        return correlation_id

    async def _read_responses(self) -> None:
        """Read response frames until the connection fails or is closed."""
        try:
            while True:
                (size,) = _SIZE.unpack(await self._reader.readexactly(_SIZE.size))
                if not _CORRELATION_BYTES <= size <= self._max_frame_bytes:
                    raise BrokerConnectionError(
                        f"response frame size {size} from {self.peer} refused "
                        f"(max_frame_bytes {self._max_frame_bytes})"
                    )
                self._complete(await self._reader.readexactly(size))
        except asyncio.IncompleteReadError as exc:
            where = "between responses" if not exc.partial else "in the middle of a response"
            self._shutdown(BrokerConnectionError(f"{self.peer} closed the connection {where}"))
        except BrokerConnectionError as exc:
            log.warning("%s; closing the connection", exc)
            self._shutdown(exc)
        except OSError as exc:
            self._shutdown(BrokerConnectionError(f"connection to {self.peer} lost: {exc}"))

    def _complete(self, frame: bytes) -> None:
        """Match a response frame to the oldest in-flight request and resolve it."""
        if not self._in_flight:
            raise BrokerConnectionError(f"{self.peer} sent a response to no request")
        request = self._in_flight[0]
        (correlation_id,) = _SIZE.unpack_from(frame, 0)
        if correlation_id != request.correlation_id:
            raise BrokerConnectionError(
                f"{self.peer} answered correlation id {correlation_id}, "
                f"expected {request.correlation_id}"
            )
        try:
            response = _decode(request, frame)
        except Exception as exc:  # kio raises a variety of errors on bad bytes
            raise BrokerConnectionError(
                f"cannot decode api {request.api_key} v{request.version} response "
                f"from {self.peer}: {exc!r}"
            ) from exc
        self._in_flight.popleft()
        if not request.future.done():  # done if the caller was cancelled
            request.future.set_result(response)


def _decode(request: _InFlight, frame: bytes) -> Any:
    if request.decode is not None:
        return request.decode(frame)
    version = request.version
    if request.api_key == ApiKey.API_VERSIONS and len(frame) >= _API_VERSIONS_ERROR.size:
        _, error_code = _API_VERSIONS_ERROR.unpack_from(frame, 0)
        if error_code == ErrorCode.unsupported_version:
            version = 0  # KIP-511: this answer is always in v0, whatever was asked
    _, response = decode_response(request.api_key, version, frame)
    return response


def _ranges(response: Any) -> dict[int, tuple[int, int]]:
    return {int(k.api_key): (int(k.min_version), int(k.max_version)) for k in response.api_keys}
