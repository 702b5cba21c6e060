"""The connection layer with a stand-in dispatcher, over real loopback sockets."""

from __future__ import annotations

import asyncio
import socket
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


async def test_queued_max_request_bytes_holds_new_requests_until_memory_comes_back() -> None:
    """Two connections share 1,000 request bytes: once they are used, neither starts a
    request (nor reads) until an answered one gives its bytes back. As Kafka's pool, a
    request may start while any byte is left, even if it is larger."""
    release = asyncio.Event()
    started: list[bytes] = []

    async def dispatch(payload: bytes, info: ConnectionInfo) -> bytes:
        started.append(bytes(payload[:2]))
        if payload.startswith(b"a"):
            await release.wait()
        return frame(payload[:2])

    server, port = await start(dispatch, max_frame_bytes=10_000, max_request_bytes=1_000)
    first = await asyncio.open_connection("127.0.0.1", port)
    second = await asyncio.open_connection("127.0.0.1", port)
    first[1].write(frame(b"a1" + b"x" * 598) + frame(b"a2" + b"x" * 598) + frame(b"a3" + b"x" * 598))
    await asyncio.sleep(0.2)
    assert started == [b"a1", b"a2"]  # 600 used: a2 starts (soft bound); 1,200 used: a3 waits
    second[1].write(frame(b"b1" + b"x" * 10))
    await asyncio.sleep(0.2)
    assert started == [b"a1", b"a2"], "another connection waits for memory too"
    release.set()
    assert [await asyncio.wait_for(read_frame(first[0]), 5) for _ in range(3)] == [b"a1", b"a2", b"a3"]
    assert await asyncio.wait_for(read_frame(second[0]), 5) == b"b1"
    for _, writer in (first, second):
        writer.close()
    await server.shutdown()


async def test_a_client_not_reading_its_responses_gets_no_more_requests_run() -> None:
    """A slow consumer that pipelined many fetches: once its responses fill the socket,
    the requests behind them wait instead of each building a large response."""
    ran = 0

    async def dispatch(payload: bytes, info: ConnectionInfo) -> bytes:
        nonlocal ran
        ran += 1
        return frame(b"r" * 4_000_000)  # a large fetch response

    server, port = await start(dispatch)
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 16)
    writer.transport.set_write_buffer_limits(high=1 << 20)
    sock = writer.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
    reader._transport.pause_reading()  # type: ignore[attr-defined] # the client stops reading
    writer.write(b"".join(frame(b"fetch-request-%02d" % i) for i in range(20)))
    await asyncio.sleep(0.5)
    assert 1 <= ran <= 2, f"{ran} of 20 pipelined requests ran while the client read nothing"
    reader._transport.resume_reading()  # type: ignore[attr-defined]
    replies = [await asyncio.wait_for(read_frame(reader), 10) for _ in range(20)]
    assert len(replies) == 20 and ran == 20
    writer.close()
    await server.shutdown()
