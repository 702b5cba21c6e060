"""One client connection: frames in, responses out in request order.

Requests on a connection are handled concurrently (a long-polling fetch does not
hold up the requests behind it) but responses are written strictly in request
order, as Kafka clients require. Handling starts in arrival order, so appends of
pipelined produce requests happen in order too.

Backpressure: reading pauses while ``max_pending`` responses are outstanding, or
while the transport's write buffer is over its high-water mark, and resumes when
both drain (uvicorn's flow control). While that buffer is over its mark (the client is
not reading its responses), requests already read wait before they run, so a slow
consumer holds at most one response beyond the mark, not one per pipelined fetch. Across
connections, ``queued.max.request.bytes`` (network/memory.py) bounds the request bytes
read and not yet answered. A quota also pauses it: a handler that throttles
the client sets ``ConnectionInfo.muted_until`` and the connection starts no request, and
reads none, before then (KIP-219's muted channel); after it, requests run one at a time
until one is not throttled.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import cast

from grete.clock import SYSTEM_CLOCK, Clock
from grete.network.framing import FrameDecoder, FrameError
from grete.network.memory import RequestMemory

log = logging.getLogger("grete.network")


CLOSE_GRACE_S = 3.0  # after close(), how long the transport may take to report itself lost


class CloseConnection(Exception):
    """Raised by a dispatcher to close the connection after logging ``str(exc)``."""


@dataclass(slots=True)
class ConnectionInfo:
    """What a handler may know about the connection a request came on."""

    connection_id: int
    peer: str
    listener: str
    security_protocol: str = "PLAINTEXT"
    # Kafka's KafkaPrincipal as "type:name": User:ANONYMOUS until SASL or a client
    # certificate authenticates the connection (security/ sets it).
    principal: str = "User:ANONYMOUS"
    attributes: dict[str, object] = field(default_factory=dict)
    # A lower cap on request size while a SASL connection is unauthenticated; None: the
    # listener's socket.request.max.bytes. Re-read after every response.
    max_frame_bytes: int | None = None
    # Set by a handler (a failed authentication): write this response, then close.
    close_after_response: bool = False
    # A throttled client (KIP-219): no request is read or started before this monotonic
    # time; responses already due are still written, in order.
    muted_until: float = 0.0


# A response frame: one buffer, or buffers written in order with one vectored write (a
# fetch response keeps its record bytes apart instead of copying them into one frame).
ResponseFrame = bytes | list[bytes | bytearray | memoryview]
# Frames are bytearrays that the dispatcher may modify (the produce path patches offsets).
Dispatch = Callable[[bytearray, ConnectionInfo], Awaitable[ResponseFrame | None]]
# Called once the connection is up (after the TLS handshake on a TLS listener): sets what
# the listener knows about the peer, such as the principal of a client certificate.
OnConnected = Callable[[ConnectionInfo, asyncio.BaseTransport], None]


class _Slot:
    """A response position in the connection's ordered queue."""

    __slots__ = ("done", "frame", "task")

    def __init__(self) -> None:
        self.done = False
        self.frame: ResponseFrame | None = None
        self.task: asyncio.Task[None] | None = None


class Connection(asyncio.BufferedProtocol):
    """asyncio protocol for one Kafka client connection.

    Not thread-safe; all methods run on the event loop.
    """

    def __init__(
        self,
        *,
        info: ConnectionInfo,
        dispatch: Dispatch,
        max_frame_bytes: int,
        max_pending: int,
        on_close: Callable[[Connection], None],
        clock: Clock = SYSTEM_CLOCK,
        on_connected: OnConnected | None = None,
        on_open: Callable[[Connection], None] | None = None,
        memory: RequestMemory | None = None,
    ) -> None:
        """``on_open`` and ``on_close`` bracket the connection's life: a TLS connection whose
        handshake fails is never opened, so it is never closed either."""
        self.info = info
        self._dispatch = dispatch
        self._max_frame_bytes = max_frame_bytes
        self._on_connected = on_connected
        self._decoder = FrameDecoder(max_frame_bytes)
        self._apply_frame_limit()
        self._max_pending = max_pending
        self._pending: collections.deque[_Slot] = collections.deque()
        self._on_close = on_close
        self._on_open = on_open
        self._clock = clock
        self._transport: asyncio.Transport | None = None
        self._reading_paused = False
        self._writing_paused = False
        self._draining = False
        self._closed = False
        self._drained = asyncio.Event()
        self._unmute: asyncio.TimerHandle | None = None
        # Once muted, one request at a time until one passes unthrottled, as Kafka's muted
        # channel: else the requests a pipelining client queued meanwhile all run at once.
        self._throttled = False
        self._unmuted: asyncio.Future[None] | None = None  # waited on by requests read earlier
        self._memory = memory
        self._writable: asyncio.Future[None] | None = None  # requests waiting for resume_writing
        self.last_active = clock.monotonic()

    # -- asyncio.BufferedProtocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        if self._on_open is not None:
            self._on_open(self)
        peer = transport.get_extra_info("peername")
        if peer:
            self.info.peer = f"{peer[0]}:{peer[1]}"
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._on_connected is not None:
            try:
                self._on_connected(self.info, transport)
            except Exception as exc:  # noqa: BLE001 - e.g. no principal mapping rule applies
                self.abort(f"refused: {exc}")
                return
        self._apply_frame_limit()
        self.last_active = self._clock.monotonic()

    def _apply_frame_limit(self) -> None:
        cap = self.info.max_frame_bytes
        self._decoder.max_frame_bytes = (
            self._max_frame_bytes if cap is None else min(cap, self._max_frame_bytes)
        )

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._decoder.get_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        if self._closed or self._draining:
            return
        self.last_active = self._clock.monotonic()
        self._decoder.buffer_updated(nbytes)
        self._start_buffered()

    def _start_buffered(self) -> None:
        """Start every complete buffered frame, as long as the pending limit allows."""
        try:
            while (
                not self._closed
                and not self._draining
                and len(self._pending) < self._max_pending
                and not self._muted()
                and not (self._throttled and self._pending)
                and not self._out_of_memory()
            ):
                frame = self._decoder.next_frame()
                if frame is None:
                    break
                self._start(frame)
        except FrameError as exc:
            self.abort(str(exc))
            return
        self._update_reading()

    def eof_received(self) -> bool | None:
        # The client half-closed: finish what is pending, then close.
        self._draining = True
        self._maybe_finish_drain()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if self._drained.is_set():
            return  # already given up on by _force_lost
        self._closed = True
        if self._unmute is not None:
            self._unmute.cancel()
            self._unmute = None
        if self._memory is not None:
            self._memory.forget(self)
        for slot in self._pending:
            if slot.task is not None and not slot.task.done():
                slot.task.cancel()
        self._pending.clear()
        self._drained.set()
        self._on_close(self)

    def pause_writing(self) -> None:
        self._writing_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._writing_paused = False
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)  # waiters run in the order they began waiting
        self._update_reading()

    # -- request handling ------------------------------------------------------------------

    def _start(self, frame: bytearray) -> None:
        slot = _Slot()
        self._pending.append(slot)
        if self._memory is not None:
            self._memory.reserve(len(frame))
        slot.task = asyncio.ensure_future(self._run(slot, frame))

    async def _run(self, slot: _Slot, frame: bytearray) -> None:
        try:
            await self._wait_to_run()
            response = await self._dispatch(frame, self.info)
        except CloseConnection as exc:
            self.abort(str(exc))
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("connection %s: unexpected error; closing", self.info.peer)
            self.abort(None)
            return
        finally:
            if self._memory is not None:
                self._memory.release(len(frame))
        slot.frame = response
        slot.done = True
        if self._throttled and self.info.muted_until <= self._clock.monotonic():
            self._throttled = False
        self._apply_frame_limit()
        if self.info.close_after_response:
            self._draining = True  # read nothing more; close once this response is written
            self._update_reading()
        self._flush()

    async def _wait_to_run(self) -> None:
        """Hold a request read earlier while its client is muted (a quota) or is not
        reading the responses already written; both wait in arrival order."""
        while True:
            if self._muted():
                if self._unmuted is None:
                    self._unmuted = asyncio.get_running_loop().create_future()
                await self._unmuted
            elif self._writing_paused:
                if self._writable is None:
                    self._writable = asyncio.get_running_loop().create_future()
                await self._writable
            else:
                return

    def _out_of_memory(self) -> bool:
        """queued.max.request.bytes is used up: read nothing until memory comes back."""
        memory = self._memory
        if memory is None or not memory.exhausted():
            return False
        memory.wait(self, self._start_buffered)
        return True

    def _flush(self) -> None:
        transport = self._transport
        if transport is None or self._closed:
            return
        pending = self._pending
        while pending and pending[0].done:
            frame = pending.popleft().frame
            if isinstance(frame, list):
                transport.writelines(frame)
            elif frame is not None:
                transport.write(frame)
        self.last_active = self._clock.monotonic()
        self._start_buffered()
        self._maybe_finish_drain()

    def _update_reading(self) -> None:
        transport = self._transport
        if transport is None or self._closed:
            return
        should_pause = (
            self._draining
            or self._writing_paused
            or len(self._pending) >= self._max_pending
            or self._muted()
            or (self._throttled and bool(self._pending))
            or self._out_of_memory()
        )
        if should_pause and not self._reading_paused:
            self._reading_paused = True
            transport.pause_reading()
        elif not should_pause and self._reading_paused:
            self._reading_paused = False
            transport.resume_reading()

    def _muted(self) -> bool:
        """Whether a quota throttle holds the connection; arms the timer that ends it."""
        until = self.info.muted_until
        if until <= 0.0:
            return False
        remaining = until - self._clock.monotonic()
        if remaining <= 0.0:
            self.info.muted_until = 0.0
            return False
        self._throttled = True
        if self._unmute is None:
            self._unmute = asyncio.get_running_loop().call_later(remaining, self._end_mute)
        return True

    def _end_mute(self) -> None:
        self._unmute = None
        unmuted, self._unmuted = self._unmuted, None
        if unmuted is not None and not unmuted.done():
            unmuted.set_result(None)  # waiters resume in the order they began waiting
        if not self._closed:
            self._start_buffered()  # re-arms itself if the mute was extended meanwhile

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def partial_bytes(self) -> int:
        return self._decoder.buffered

    def abort(self, reason: str | None) -> None:
        """Close now, dropping pending responses; logs ``reason`` as one line."""
        if self._closed:
            return
        if reason:
            log.warning("closing connection from %s: %s", self.info.peer, reason)
        self._closed = True
        if self._transport is not None:
            self._transport.abort()
            self._expect_lost()

    def _maybe_finish_drain(self) -> None:
        if self._draining and not self._pending and not self._closed:
            self._closed = True
            if self._transport is not None:
                self._transport.close()
                self._expect_lost()

    def _expect_lost(self) -> None:
        # A TLS transport may never report itself lost after a close or an abort (a peer
        # that never answers close_notify, an SSL shutdown racing the peer's EOF): it must
        # not hold a draining shutdown, nor this connection's resources, for ever.
        asyncio.get_running_loop().call_later(CLOSE_GRACE_S, self._force_lost)

    def _force_lost(self) -> None:
        if self._drained.is_set():
            return
        if self._transport is not None:
            self._transport.abort()
        self.connection_lost(None)

    async def drain_and_close(self) -> None:
        """Stop reading, finish in-flight requests, write their responses, close."""
        self._draining = True
        self._update_reading()
        self._maybe_finish_drain()
        if not self._drained.is_set():
            await self._drained.wait()
