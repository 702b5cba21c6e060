"""Listening sockets, the set of live connections, idle reaping and draining shutdown."""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import ssl
from dataclasses import dataclass

from grete.clock import SYSTEM_CLOCK, Clock
from grete.network.connection import Connection, ConnectionInfo, Dispatch, OnConnected
from grete.network.memory import RequestMemory

log = logging.getLogger("grete.network")


@dataclass(frozen=True, slots=True)
class ListenerSpec:
    name: str
    host: str
    port: int
    security_protocol: str = "PLAINTEXT"
    ssl_context: ssl.SSLContext | None = None  # SSL and SASL_SSL listeners
    on_connected: OnConnected | None = None  # sets the principal, the pre-auth frame cap


@dataclass(frozen=True, slots=True)
class NetworkLimits:
    max_frame_bytes: int  # socket.request.max.bytes
    max_pending_per_connection: int  # queued.max.requests
    idle_timeout_ms: int  # connections.max.idle.ms
    max_request_bytes: int = -1  # queued.max.request.bytes, over every connection


class SocketServer:
    """Accepts connections on every listener and hands frames to ``dispatch``.

    Not thread-safe; runs on the event loop.
    """

    def __init__(
        self,
        listeners: list[ListenerSpec],
        dispatch: Dispatch,
        limits: NetworkLimits,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._specs = listeners
        self._dispatch = dispatch
        self._limits = limits
        self._clock = clock
        self._servers: list[asyncio.Server] = []
        self._connections: set[Connection] = set()
        self._memory = RequestMemory(limits.max_request_bytes) if limits.max_request_bytes > 0 else None
        self._ids = itertools.count(1)
        self._reaper: asyncio.Task[None] | None = None
        self.bound: dict[str, tuple[str, int]] = {}

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for spec in self._specs:
            host = spec.host or None  # an empty host binds every interface, as in Kafka
            server = await loop.create_server(
                functools.partial(self._new_connection, spec),
                host=host,
                port=spec.port,
                reuse_address=True,
                backlog=1024,
                ssl=spec.ssl_context,
                # A peer that never answers close_notify must not hold up a draining stop.
                ssl_shutdown_timeout=2.0 if spec.ssl_context is not None else None,
            )
            self._servers.append(server)
            sockname = server.sockets[0].getsockname()
            self.bound[spec.name] = (sockname[0], sockname[1])
            log.info("listening on %s://%s:%d", spec.name, sockname[0], sockname[1])
        self._reaper = asyncio.create_task(self._reap_idle(), name="idle-reaper")

    def _new_connection(self, spec: ListenerSpec) -> Connection:
        info = ConnectionInfo(
            connection_id=next(self._ids),
            peer="?",
            listener=spec.name,
            security_protocol=spec.security_protocol,
        )
        conn = Connection(
            info=info,
            dispatch=self._dispatch,
            max_frame_bytes=self._limits.max_frame_bytes,
            max_pending=self._limits.max_pending_per_connection,
            on_close=self._connections.discard,
            clock=self._clock,
            on_connected=spec.on_connected,
            on_open=self._connections.add,  # after the TLS handshake: a failed one leaves nothing
            memory=self._memory,
        )
        return conn

    async def _reap_idle(self) -> None:
        idle_s = self._limits.idle_timeout_ms / 1000.0
        period = min(max(idle_s / 4, 0.05), 5.0)
        while True:
            await asyncio.sleep(period)
            now = self._clock.monotonic()
            for conn in list(self._connections):
                if conn.pending == 0 and now - conn.last_active > idle_s:
                    detail = f", {conn.partial_bytes} bytes of a partial frame" if conn.partial_bytes else ""
                    conn.abort(f"idle for more than {self._limits.idle_timeout_ms} ms{detail}")

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    async def shutdown(self, timeout_s: float = 30.0) -> None:
        """Stop accepting, let in-flight requests finish and be answered, close everything."""
        for server in self._servers:
            server.close()
        if self._reaper is not None:
            self._reaper.cancel()
        drains = [conn.drain_and_close() for conn in list(self._connections)]
        if drains:
            await asyncio.wait([asyncio.ensure_future(d) for d in drains], timeout=timeout_s)
            for conn in list(self._connections):
                conn.abort("shutdown timed out")
        self._servers.clear()
