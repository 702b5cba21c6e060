"""A TCP forwarder on 127.0.0.1 that a test can cut, to partition a process from a peer.

A broker given the proxy's address instead of its peer's (ZooKeeper, another broker)
reaches the peer only while the proxy forwards. ``cut()`` models two kinds of failure:

- ``reset``: every connection through the proxy is closed at once with a TCP RST, and each
  new one is reset as soon as it is accepted. Both ends learn of it immediately, as when a
  host or a switch port goes down and the kernel answers for it.
- ``blackhole``: packets vanish. Open connections stay open but nothing crosses them, in
  either direction, closes included; new connections are accepted and then hear nothing.
  Only timeouts (ZooKeeper's session timeout, Kafka's request timeouts) notice.
  ``restore()`` lets the held bytes through, as TCP retransmission does when a partition
  heals: a client that gave up meanwhile closed its socket, and the peer sees that close.

Bytes are relayed in chunks of at most ``chunk_size`` and a relay waits for the other side
to drain before it reads more, so a stalled peer holds at most a few chunks per direction
in the proxy; the rest waits in the kernel's socket buffers, which push back on the sender.

Thread-safe: the proxy runs its own asyncio loop on its own thread; start(), cut(),
restore() and close() may be called from any thread and return once the change is in
effect (the connections they drop are already closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Coroutine
from enum import Enum
from typing import Any, Self, TypeVar

HOST = "127.0.0.1"
_LOOPBACK = frozenset({"127.0.0.1", "localhost"})
_T = TypeVar("_T")


class CutMode(str, Enum):
    """How a cut proxy treats connections (see the module docstring)."""

    RESET = "reset"
    BLACKHOLE = "blackhole"


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close the connection with an RST (SO_LINGER 0), so the peer learns at once."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class _Link:
    """One client connection and, once the proxy lets it through, its upstream connection.

    Runs on the proxy's loop only.
    """

    def __init__(
        self, proxy: TcpProxy, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.proxy = proxy
        self.client = (reader, writer)
        self.upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        proxy = self.proxy
        try:
            # A connection opened during a blackhole reaches nothing until restore().
            await proxy._flowing.wait()
            host, port = proxy.target
            try:
                self.upstream = await asyncio.wait_for(
                    asyncio.open_connection(host, port, limit=proxy.chunk_size),
                    proxy.connect_timeout,
                )
            except (OSError, TimeoutError):
                self.reset()  # the target is down: the client sees its connection reset
                return
            relays = [
                asyncio.ensure_future(self._relay(self.client[0], self.upstream[1])),
                asyncio.ensure_future(self._relay(self.upstream[0], self.client[1])),
            ]
            try:
                await asyncio.gather(*relays)
            finally:
                for relay in relays:  # one relay failed: the other must not linger
                    relay.cancel()
            self.close()
        except Exception:  # noqa: BLE001 -- reset, EOF mid-write, anything: the proxy lives on
            self.reset()  # one side reset or broke: so does the other
        finally:
            proxy._links.discard(self)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        flowing = self.proxy._flowing
        while True:
            await flowing.wait()
            data = await reader.read(self.proxy.chunk_size)
            await flowing.wait()  # bytes read just before a blackhole are held, not sent
            if not data:
                if writer.can_write_eof() and not writer.is_closing():
                    writer.write_eof()  # pass the half-close on
                return
            writer.write(data)
            await writer.drain()

    def reset(self) -> None:
        for _, writer in (self.client, self.upstream) if self.upstream else (self.client,):
            _reset(writer)
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()

    def close(self) -> None:
        for _, writer in (self.client, self.upstream) if self.upstream else (self.client,):
            writer.close()


class TcpProxy:
    """Forwards connections from 127.0.0.1:listen_port to target until cut().

    ``listen_port`` 0 lets the OS pick a free port; ``listen_port`` then gives the one in
    use, which stays the same for the proxy's lifetime (across cuts and restores).
    """

    def __init__(
        self,
        target: tuple[str, int],
        *,
        listen_port: int = 0,
        name: str = "proxy",
        chunk_size: int = 64 * 1024,
        connect_timeout: float = 5.0,
    ) -> None:
        host, port = target
        if host not in _LOOPBACK:
            raise ValueError(f"the proxy forwards to loopback only, not {host!r}")
        self.target = (host, int(port))
        self.name = name
        self.chunk_size = chunk_size
        self.connect_timeout = connect_timeout
        self._requested_port = listen_port
        self._port: int | None = None
        self._mode: CutMode | None = None
        self._accepted = 0
        self._links: set[_Link] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()  # set while forwarding; bound to the loop on first use
        self._lock = threading.Lock()

    # -- the interface tests use -------------------------------------------------
    @property
    def listen_port(self) -> int:
        """The port the proxy listens on (known before start() when one was asked for)."""
        if self._port is not None:
            return self._port
        if self._requested_port:
            return self._requested_port
        raise RuntimeError(f"{self.name} was never started and asked the OS for a port")

    @property
    def address(self) -> str:
        """host:port to give a client in place of the target's."""
        return f"{HOST}:{self.listen_port}"

    @property
    def mode(self) -> CutMode | None:
        """The cut in effect, or None while forwarding."""
        return self._mode

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def accepted(self) -> int:
        """Connections accepted since start, whatever became of them."""
        return self._accepted

    @property
    def connections(self) -> int:
        """Connections open through the proxy now (held ones during a blackhole included)."""
        return self._call(self._count_links())

    def start(self) -> Self:
        """Listen and forward; returns once the port accepts connections."""
        with self._lock:
            if self._thread is not None:
                raise RuntimeError(f"{self.name} was already started")
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._thread = threading.Thread(
                target=loop.run_forever, name=f"tcp-proxy-{self.name}", daemon=True
            )
            self._thread.start()
        try:
            self._port = self._call(self._listen())
        except BaseException:
            self.close()
            raise
        return self

    def cut(self, mode: CutMode | str = CutMode.RESET) -> None:
        """Stop forwarding: reset every connection, or blackhole them (see module docstring).

        Cutting a cut proxy switches the mode; switching to reset resets the held connections.
        """
        self._call(self._cut(CutMode(mode)))

    def restore(self) -> None:
        """Forward again; held (blackholed) connections carry on with what they had sent."""
        self._call(self._restore())

    def close(self) -> None:
        """Stop listening, reset every connection and end the proxy's thread. Idempotent."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = None
        if loop is None or thread is None:
            return
        try:
            if loop.is_running():
                asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            if not thread.is_alive():
                loop.close()

    def __enter__(self) -> Self:
        if self._thread is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        port = self._port if self._port is not None else "?"
        state = self._mode.value if self._mode else ("forwarding" if self.running else "closed")
        host, target_port = self.target
        return f"<TcpProxy {self.name} {HOST}:{port} -> {host}:{target_port} {state}>"

    # -- internals (on the proxy's loop) ----------------------------------------------
    def _call(self, coro: Coroutine[Any, Any, _T], timeout: float = 10.0) -> _T:
        loop = self._loop
        if loop is None:
            coro.close()
            raise RuntimeError(f"{self.name} is not running")
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=timeout)

    async def _listen(self) -> int:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(
            self._accept, HOST, self._requested_port, limit=self.chunk_size, reuse_address=True
        )
        return int(self._server.sockets[0].getsockname()[1])

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._accepted += 1
        if self._mode is CutMode.RESET:
            _reset(writer)
            return
        link = _Link(self, reader, writer)
        self._links.add(link)
        link.task = asyncio.get_running_loop().create_task(link.run())

    async def _count_links(self) -> int:
        return len(self._links)

    async def _cut(self, mode: CutMode) -> None:
        self._mode = mode
        self._flowing.clear()
        if mode is CutMode.RESET:
            await self._reset_all()

    async def _restore(self) -> None:
        self._mode = None
        self._flowing.set()

    async def _reset_all(self) -> None:
        links = list(self._links)
        self._links.clear()
        for link in links:
            link.reset()
        tasks = [link.task for link in links if link.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=5)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._reset_all()
        if self._server is not None:
            await self._server.wait_closed()
