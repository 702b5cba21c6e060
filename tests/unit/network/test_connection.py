"""The connection layer with a stand-in dispatcher, over real loopback sockets."""

from __future__ import annotations

import asyncio
import struct

import pytest

from grete.network.connection import CloseConnection, ConnectionInfo
from grete.network.listener import ListenerSpec, NetworkLimits, SocketServer


def frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    (size,) = struct.unpack(">i", await reader.readexactly(4))
    return await reader.readexactly(size)


async def start(dispatch, **limits) -> tuple[SocketServer, int]:  # type: ignore[no-untyped-def]
    values = dict(max_frame_bytes=1024, max_pending_per_connection=100, idle_timeout_ms=60_000)
    values.update(limits)
    server = SocketServer([ListenerSpec("PLAINTEXT", "127.0.0.1", 0)], dispatch, NetworkLimits(**values))
    await server.start()
    return server, server.bound["PLAINTEXT"][1]


async def test_responses_keep_request_order_when_handlers_finish_out_of_order() -> None:
    async def dispatch(payload: bytes, info: ConnectionInfo) -> bytes:
        n = payload[-1]
        await asyncio.sleep((10 - n) * 0.005)  # later requests finish first
        return frame(payload)

    server, port = await start(dispatch)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"".join(frame(b"request-no-" + bytes([i])) for i in range(10)))
    replies = [await asyncio.wait_for(read_frame(reader), 5) for _ in range(10)]
    assert [r[-1] for r in replies] == list(range(10))
    writer.close()
    await server.shutdown()


async def test_reading_pauses_when_too_many_responses_are_pending() -> None:
    release = asyncio.Event()
    started = 0

    async def dispatch(payload: bytes, info: ConnectionInfo) -> bytes:
        nonlocal started
        started += 1
        await release.wait()
        return frame(payload)

    server, port = await start(dispatch, max_pending_per_connection=3)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"".join(frame(b"0123456789" + bytes([i])) for i in range(8)))
    await asyncio.sleep(0.2)
    assert started == 3  # the other five wait in the socket, unread
    release.set()
    replies = [await asyncio.wait_for(read_frame(reader), 5) for _ in range(8)]
    assert [r[-1] for r in replies] == list(range(8))
    assert started == 8
    writer.close()
    await server.shutdown()


async def test_half_a_frame_then_silence_is_timed_out() -> None:
    async def dispatch(payload: bytes, info: ConnectionInfo) -> bytes:
        return frame(payload)

    server, port = await start(dispatch, idle_timeout_ms=200)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(frame(b"0123456789abcdef")[:9])
    assert await asyncio.wait_for(reader.read(), 3) == b""  # closed by the broker
    await server.shutdown()


@pytest.mark.parametrize("garbage", [b"GET / HTTP/1.1\r\n\r\n", b"\x16\x03\x01\x00\xa5\x01\x00", struct.pack(">i", -1)])
async def test_garbage_closes_the_connection_but_not_the_server(garbage: bytes) -> None:
    async def dispatch(payload: bytes, info: ConnectionInfo) -> bytes:
        return frame(payload)

    server, port = await start(dispatch)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(garbage)
    assert await asyncio.wait_for(reader.read(), 3) == b""
    reader2, writer2 = await asyncio.open_connection("127.0.0.1", port)
    writer2.write(frame(b"still-serving"))
    assert await asyncio.wait_for(read_frame(reader2), 3) == b"still-serving"
    writer2.close()
    await server.shutdown()


async def test_dispatcher_can_close_the_connection() -> None:
    async def dispatch(payload: bytes, info: ConnectionInfo) -> bytes:
        raise CloseConnection("unknown API key")

    server, port = await start(dispatch)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(frame(b"0123456789ab"))
    assert await asyncio.wait_for(reader.read(), 3) == b""
    await server.shutdown()


async def test_shutdown_finishes_in_flight_requests() -> None:
    async def dispatch(payload: bytes, info: ConnectionInfo) -> bytes:
        await asyncio.sleep(0.2)
        return frame(payload)

    server, port = await start(dispatch)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(frame(b"in-flight-1") + frame(b"in-flight-2"))
    await asyncio.sleep(0.05)
    await server.shutdown()
    assert await read_frame(reader) == b"in-flight-1"
    assert await read_frame(reader) == b"in-flight-2"
    assert await reader.read() == b""
