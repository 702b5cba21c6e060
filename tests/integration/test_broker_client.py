"""The outbound broker-to-broker connection (grete.network.client) against a real broker,
and against tiny misbehaving servers for the failure paths: refused connect, a peer
that closes, an oversized frame, a peer that never answers, KIP-511's fallback.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from harness import ServerProcess

from grete.network.client import BrokerConnectionError, KafkaConnection, RequestTimeout
from grete.protocol import ApiKey, ErrorCode, RequestHeader, encode_response, parse_header, schema
from grete.records.batch import read_header, split_batches
from grete.records.builder import BatchSpec, Record, build_batch

CREATE_TOPICS_V = 7
PRODUCE_V = 9
FETCH_V = 12
METADATA_V = 12
LEADER_EPOCH_END = 16  # base_offset, batch_length, partition_leader_epoch: rewritten by the broker
TIMEOUT_S = 10.0  # generous bound for requests the broker must answer


async def connect(bootstrap: str, **kwargs: Any) -> KafkaConnection:
    host, port = bootstrap.rsplit(":", 1)
    return await KafkaConnection.open(
        host, int(port), client_id="test-broker-client", connect_timeout_s=5.0, **kwargs
    )


@pytest.fixture
async def conn(shared_broker: ServerProcess) -> AsyncIterator[KafkaConnection]:
    # The session's broker (topics are uniquely named): a broker per test would cost ~4 s each.
    connection = await connect(shared_broker.bootstrap)
    try:
        yield connection
    finally:
        await connection.close()


async def create_topic(conn: KafkaConnection, name: str, partitions: int = 1) -> None:
    topic = conn.make(
        ApiKey.CREATE_TOPICS,
        CREATE_TOPICS_V,
        "CreatableTopic",
        name=name,
        num_partitions=partitions,
        replication_factor=1,
    )
    body = conn.build(ApiKey.CREATE_TOPICS, CREATE_TOPICS_V, topics=[topic], timeout=5000)
    response = await conn.request(ApiKey.CREATE_TOPICS, CREATE_TOPICS_V, body, timeout_s=TIMEOUT_S)
    assert response.topics[0].error_code == ErrorCode.none, response.topics[0]


def metadata_request(conn: KafkaConnection, topics: list[str] | None) -> Any:
    named = None
    if topics is not None:
        named = [
            conn.make(ApiKey.METADATA, METADATA_V, "MetadataRequestTopic", name=t) for t in topics
        ]
    return conn.build(ApiKey.METADATA, METADATA_V, topics=named, allow_auto_topic_creation=False)


# -- against a real broker ------------------------------------------------------------------


async def test_api_versions(conn: KafkaConnection) -> None:
    ranges = await conn.api_versions()
    for api_key, version in [
        (ApiKey.API_VERSIONS, 3),
        (ApiKey.FETCH, FETCH_V),
        (ApiKey.METADATA, METADATA_V),
        (ApiKey.PRODUCE, PRODUCE_V),
    ]:
        low, high = ranges[api_key]
        assert low <= version <= high, (api_key, ranges[api_key])
    assert not conn.closed()


async def test_metadata_names_the_broker_and_topic(
    conn: KafkaConnection, shared_broker: ServerProcess, topic_name: str
) -> None:
    await create_topic(conn, topic_name, partitions=3)
    response = await conn.request(
        ApiKey.METADATA, METADATA_V, metadata_request(conn, [topic_name]), timeout_s=TIMEOUT_S
    )
    port = int(shared_broker.bootstrap.rsplit(":", 1)[1])
    (me,) = [b for b in response.brokers if b.port == port]
    (topic,) = response.topics
    assert topic.name == topic_name
    assert topic.error_code == ErrorCode.none
    assert sorted(p.partition_index for p in topic.partitions) == [0, 1, 2]
    assert {p.leader_id for p in topic.partitions} == {me.node_id}


async def test_produce_then_fetch_back(conn: KafkaConnection, topic_name: str) -> None:
    await create_topic(conn, topic_name)
    records = [Record(key=f"k{i}".encode(), value=f"value {i}".encode()) for i in range(5)]
    batch = build_batch(records, BatchSpec(base_timestamp=1_700_000_000_000))
    data = conn.make(ApiKey.PRODUCE, PRODUCE_V, "PartitionProduceData", index=0, records=batch)
    topic_data = conn.make(
        ApiKey.PRODUCE, PRODUCE_V, "TopicProduceData", name=topic_name, partition_data=[data]
    )
    body = conn.build(
        ApiKey.PRODUCE,
        PRODUCE_V,
        transactional_id=None,
        acks=-1,
        timeout=5000,
        topic_data=[topic_data],
    )
    produced = await conn.request(ApiKey.PRODUCE, PRODUCE_V, body, timeout_s=TIMEOUT_S)
    result = produced.responses[0].partition_responses[0]
    assert result.error_code == ErrorCode.none, result
    assert result.base_offset == 0

    partition = conn.make(
        ApiKey.FETCH,
        FETCH_V,
        "FetchPartition",
        partition=0,
        current_leader_epoch=-1,
        fetch_offset=0,
        last_fetched_epoch=-1,
        log_start_offset=-1,
        partition_max_bytes=1 << 20,
    )
    fetch_topic = conn.make(
        ApiKey.FETCH, FETCH_V, "FetchTopic", topic=topic_name, partitions=[partition]
    )
    body = conn.build(
        ApiKey.FETCH,
        FETCH_V,
        replica_id=-1,
        max_wait=0,
        min_bytes=1,
        max_bytes=1 << 20,
        session_id=0,
        session_epoch=-1,
        topics=[fetch_topic],
    )
    fetched = await conn.request(ApiKey.FETCH, FETCH_V, body, timeout_s=TIMEOUT_S)
    assert fetched.error_code == ErrorCode.none
    (part,) = fetched.responses[0].partitions
    assert part.error_code == ErrorCode.none
    assert part.high_watermark == len(records)
    got = bytes(part.records or b"")
    assert list(split_batches(got)) == [(0, len(batch))]
    assert read_header(got).base_offset == 0
    assert got[LEADER_EPOCH_END:] == batch[LEADER_EPOCH_END:]  # the CRC-covered part, verbatim


async def test_fifty_pipelined_requests_are_matched(conn: KafkaConnection, topic_name: str) -> None:
    await create_topic(conn, topic_name)
    # Distinct topic names per request, and several APIs and versions interleaved: a
    # response given to the wrong request, or decoded at the wrong version, shows.
    names = [f"{topic_name}-absent-{i}" if i % 5 else topic_name for i in range(50)]

    async def one(i: int) -> tuple[str, Any]:
        if i % 7 == 3:
            body = conn.build(ApiKey.API_VERSIONS, 0)
            return "api_versions", await conn.request(
                ApiKey.API_VERSIONS, 0, body, timeout_s=TIMEOUT_S
            )
        version = METADATA_V if i % 2 else 9
        body = conn.build(
            ApiKey.METADATA,
            version,
            topics=[conn.make(ApiKey.METADATA, version, "MetadataRequestTopic", name=names[i])],
            allow_auto_topic_creation=False,
        )
        return names[i], await conn.request(ApiKey.METADATA, version, body, timeout_s=TIMEOUT_S)

    results = await asyncio.gather(*(one(i) for i in range(50)))
    assert len(results) == 50
    for i, (asked, response) in enumerate(results):
        if asked == "api_versions":
            assert response.error_code == ErrorCode.none
            assert any(k.api_key == ApiKey.FETCH for k in response.api_keys)
            continue
        (topic,) = response.topics
        assert topic.name == asked, i
        expected = ErrorCode.none if asked == topic_name else ErrorCode.unknown_topic_or_partition
        assert topic.error_code == expected, (i, topic)
    assert not conn.closed()


async def test_close_is_idempotent_and_refuses_new_requests(conn: KafkaConnection) -> None:
    await conn.close()
    await conn.close()
    assert conn.closed()
    with pytest.raises(BrokerConnectionError):
        await conn.request(ApiKey.API_VERSIONS, 0, conn.build(ApiKey.API_VERSIONS, 0), timeout_s=1)


# -- against misbehaving peers --------------------------------------------------------------

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def fake_server() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """fake_server(handler) -> "127.0.0.1:PORT" of a server running ``handler`` per connection."""
    servers: list[asyncio.Server] = []
    tasks: set[asyncio.Task[None]] = set()

    async def start(handler: Handler) -> str:
        async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            tasks.add(task)
            try:
                await handler(reader, writer)
            finally:
                writer.close()

        server = await asyncio.start_server(tracked, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        return f"127.0.0.1:{port}"

    try:
        yield start
    finally:
        for server in servers:
            server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for server in servers:
            await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> tuple[RequestHeader, bytes]:
    (size,) = struct.unpack(">i", await reader.readexactly(4))
    frame = await reader.readexactly(size)
    header, _ = parse_header(frame)
    return header, frame


async def send_two_api_versions(conn: KafkaConnection) -> list[Any]:
    body = conn.build(ApiKey.API_VERSIONS, 0)
    return await asyncio.gather(
        *(conn.request(ApiKey.API_VERSIONS, 0, body, timeout_s=TIMEOUT_S) for _ in range(2)),
        return_exceptions=True,
    )


async def test_connect_refused_fails_fast() -> None:
    with socket.socket() as sock:  # a port that was just free: nobody listens on it
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(BrokerConnectionError) as info:
        await KafkaConnection.open("127.0.0.1", port, client_id="t", connect_timeout_s=5.0)
    assert not isinstance(info.value, RequestTimeout)
    assert time.monotonic() - started < 5.0, "refusal reported as a connect timeout"
    assert "timed out" not in str(info.value)


@pytest.mark.parametrize("partial", [False, True], ids=["before-response", "mid-response"])
async def test_peer_closing_fails_pending_requests(
    fake_server: Callable[[Handler], Awaitable[str]], partial: bool
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await read_request(reader)
        if partial:  # a size prefix promising 100 bytes, then only the correlation id
            writer.write(struct.pack(">ii", 100, 1))
            await writer.drain()
        writer.close()

    conn = await connect(await fake_server(handler))
    results = await send_two_api_versions(conn)
    assert [type(r) for r in results] == [BrokerConnectionError, BrokerConnectionError]
    assert conn.closed()
    with pytest.raises(BrokerConnectionError):
        await conn.request(ApiKey.API_VERSIONS, 0, conn.build(ApiKey.API_VERSIONS, 0), timeout_s=1)
    await conn.close()


@pytest.mark.parametrize("size", [2**31 - 1, -(2**31)], ids=["2GiB-1", "negative"])
async def test_oversized_frame_closes_without_allocating(
    fake_server: Callable[[Handler], Awaitable[str]], size: int
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(struct.pack(">i", size) + b"\x00" * 4096)
        await writer.drain()
        await asyncio.sleep(TIMEOUT_S)  # keep the connection open: the client must close it

    address = await fake_server(handler)
    tracemalloc.start()
    try:
        conn = await connect(address, max_frame_bytes=1024 * 1024)
        with pytest.raises(BrokerConnectionError) as info:
            await conn.request(
                ApiKey.API_VERSIONS, 0, conn.build(ApiKey.API_VERSIONS, 0), timeout_s=5
            )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not isinstance(info.value, RequestTimeout)
    assert "refused" in str(info.value)
    assert conn.closed()
    assert peak < 16 * 1024 * 1024, f"peak traced memory {peak} bytes"
    await conn.close()


async def test_unanswered_request_times_out_and_closes(
    fake_server: Callable[[Handler], Awaitable[str]],
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:  # reads every request, answers none
            await read_request(reader)

    conn = await connect(await fake_server(handler))
    body = conn.build(ApiKey.API_VERSIONS, 0)
    other = asyncio.ensure_future(conn.request(ApiKey.API_VERSIONS, 0, body, timeout_s=TIMEOUT_S))
    started = time.monotonic()
    with pytest.raises(RequestTimeout):
        await conn.request(ApiKey.API_VERSIONS, 0, body, timeout_s=0.5)
    assert time.monotonic() - started < 5.0
    assert conn.closed()
    # The request still in flight fails at once rather than waiting out its own timeout.
    with pytest.raises(BrokerConnectionError) as info:
        await asyncio.wait_for(other, 2.0)
    assert not isinstance(info.value, RequestTimeout)
    await conn.close()


async def test_api_versions_falls_back_per_kip_511(
    fake_server: Callable[[Handler], Awaitable[str]],
) -> None:
    """A peer knowing ApiVersions up to v2 answers v3 with a v0 UNSUPPORTED_VERSION."""
    asked: list[int] = []

    def ranges(s: Any) -> list[Any]:
        return [
            s.make("ApiVersion", api_key=ApiKey.API_VERSIONS, min_version=0, max_version=2),
            s.make("ApiVersion", api_key=ApiKey.FETCH, min_version=4, max_version=11),
        ]

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            header, _ = await read_request(reader)
            asked.append(header.api_version)
            if header.api_version > 2:
                s = schema(ApiKey.API_VERSIONS, 0)
                response = s.response(error_code=ErrorCode.unsupported_version, api_keys=ranges(s))
            else:
                s = schema(ApiKey.API_VERSIONS, header.api_version)
                response = s.response(error_code=ErrorCode.none, api_keys=ranges(s))
            writer.write(encode_response(header, response))

    conn = await connect(await fake_server(handler))
    try:
        got = await conn.api_versions(timeout_s=5)
    finally:
        await conn.close()
    assert asked == [3, 2]
    assert got == {ApiKey.API_VERSIONS: (0, 2), ApiKey.FETCH: (4, 11)}


async def test_wrong_correlation_id_closes(
    fake_server: Callable[[Handler], Awaitable[str]],
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        header, _ = await read_request(reader)
        s = schema(ApiKey.API_VERSIONS, 0)
        wrong = RequestHeader(header.api_key, 0, header.correlation_id + 1000, None)
        writer.write(encode_response(wrong, s.response(error_code=ErrorCode.none, api_keys=[])))
        await asyncio.sleep(TIMEOUT_S)

    conn = await connect(await fake_server(handler))
    with pytest.raises(BrokerConnectionError, match="correlation id"):
        await conn.request(ApiKey.API_VERSIONS, 0, conn.build(ApiKey.API_VERSIONS, 0), timeout_s=5)
    assert conn.closed()
    await conn.close()
