"""Bad input, one test per case: each gets its Kafka error code or a closed connection,
while the broker keeps serving other connections and loses nothing already acked."""

from __future__ import annotations

import random
import struct
import time

import pytest

from grete.protocol import ApiKey, ErrorCode
from grete.records.builder import Record, build_batch

from .raw_kafka import RawKafka

PRODUCE_V = 9
ACKED = 10


def produce(raw: RawKafka, topic: str, partitions: dict[int, bytes], acks: int = -1) -> dict[int, object]:
    data = [raw.make(ApiKey.PRODUCE, PRODUCE_V, "PartitionProduceData", index=p, records=records)
            for p, records in partitions.items()]
    topic_data = [raw.make(ApiKey.PRODUCE, PRODUCE_V, "TopicProduceData", name=topic, partition_data=data)]
    response = raw.request(ApiKey.PRODUCE, PRODUCE_V, transactional_id=None, acks=acks, timeout=5000,
                           topic_data=topic_data)
    return {p.index: p for p in response.responses[0].partition_responses}


def create_topic(raw: RawKafka, name: str, partitions: int = 2, configs: dict[str, str] | None = None) -> object:
    configs_ = [raw.make(ApiKey.CREATE_TOPICS, 7, "CreatableTopicConfig", name=k, value=v)
                for k, v in (configs or {}).items()]
    topic = raw.make(ApiKey.CREATE_TOPICS, 7, "CreatableTopic", name=name, num_partitions=partitions,
                     replication_factor=1, assignments=(), configs=configs_)
    response = raw.request(ApiKey.CREATE_TOPICS, 7, topics=[topic], timeout=5000, validate_only=False)
    return response.topics[0]


def latest_offset(raw: RawKafka, topic: str, partition: int) -> int:
    p = raw.make(ApiKey.LIST_OFFSETS, 8, "ListOffsetsPartition", partition_index=partition,
                 current_leader_epoch=-1, timestamp=-1)
    t = raw.make(ApiKey.LIST_OFFSETS, 8, "ListOffsetsTopic", name=topic, partitions=[p])
    response = raw.request(ApiKey.LIST_OFFSETS, 8, replica_id=-1, isolation_level=0, topics=[t])
    part = response.topics[0].partitions[0]
    assert part.error_code == ErrorCode.none
    return int(part.offset)


def batch(n: int, value: bytes = b"value") -> bytes:
    return build_batch([Record(b"k%d" % i, value + b"-%d" % i) for i in range(n)])


def seed(broker):  # type: ignore[no-untyped-def]
    """Give the broker a topic "seeded" holding ACKED acknowledged records in partition 0."""
    with RawKafka(broker.bootstrap) as raw:
        assert create_topic(raw, "seeded").error_code == ErrorCode.none
        result = produce(raw, "seeded", {0: batch(ACKED)})[0]
        assert result.error_code == ErrorCode.none and result.base_offset == 0
    return broker


@pytest.fixture
def seeded(broker):  # type: ignore[no-untyped-def]
    """A broker with a topic holding ACKED acknowledged records in partition 0."""
    return seed(broker)


def assert_still_serving(broker) -> None:  # type: ignore[no-untyped-def]
    """Another connection is served, and the acked records are all still there."""
    assert broker.running
    with RawKafka(broker.bootstrap) as raw:
        assert latest_offset(raw, "seeded", 0) == ACKED
        result = produce(raw, "seeded", {0: batch(1)})[0]
        assert result.error_code == ErrorCode.none and result.base_offset == ACKED


def broker_log(broker) -> str:  # type: ignore[no-untyped-def]
    return broker.log_path.read_text(errors="replace")


def closing_lines(broker, needle: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The broker's log lines about a connection it closed that contain ``needle``."""
    return [line for line in broker_log(broker).splitlines()
            if "closing connection" in line and needle in line]


@pytest.mark.parametrize(
    "prefix",
    [
        pytest.param(struct.pack(">i", -42), id="negative-size"),
        pytest.param(struct.pack(">i", 200 * 1024 * 1024), id="over-the-cap"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", id="ascii-http"),
        pytest.param(bytes.fromhex("160301020001") + b"\x00" * 40, id="tls-client-hello"),
    ],
)
def test_impossible_frame_size_closes_the_connection(seeded, prefix: bytes) -> None:  # type: ignore[no-untyped-def]
    with RawKafka(seeded.bootstrap) as raw:
        raw.send_raw(prefix)
        assert raw.is_closed_by_peer()
    assert_still_serving(seeded)


def test_truncated_request_closes_the_connection_and_logs_one_line(seeded) -> None:  # type: ignore[no-untyped-def]
    # Header v2 (no tagged fields), then a topics array announcing one topic that never comes.
    body = struct.pack(">hhih", ApiKey.METADATA, 9, 7, 3) + b"cli" + b"\x00" + b"\x02\x07"
    with RawKafka(seeded.bootstrap) as raw:
        raw.send_raw(struct.pack(">i", len(body)) + body)
        assert raw.is_closed_by_peer()
    assert_still_serving(seeded)
    lines = [line for line in broker_log(seeded).splitlines() if "malformed METADATA v9" in line]
    assert len(lines) == 1


def test_malformed_header_closes_the_connection_and_logs_one_line(seeded) -> None:  # type: ignore[no-untyped-def]
    body = struct.pack(">hhih", ApiKey.METADATA, 1, 7, 500) + b"short"  # client id longer than the frame
    with RawKafka(seeded.bootstrap) as raw:
        raw.send_raw(struct.pack(">i", len(body)) + body)
        assert raw.is_closed_by_peer()
    assert_still_serving(seeded)
    lines = closing_lines(seeded, "client id runs past the end of the frame")
    assert len(lines) == 1, broker_log(seeded)[-3000:]


def test_unknown_api_key_closes_the_connection(seeded) -> None:  # type: ignore[no-untyped-def]
    body = struct.pack(">hhih", 999, 0, 7, -1) + b"\x00" * 8
    with RawKafka(seeded.bootstrap) as raw:
        raw.send_raw(struct.pack(">i", len(body)) + body)
        assert raw.is_closed_by_peer()
    assert_still_serving(seeded)
    assert "unknown API key 999" in broker_log(seeded)


def test_unsupported_api_versions_version_gets_the_v0_fallback(seeded) -> None:  # type: ignore[no-untyped-def]
    body = struct.pack(">hhih", ApiKey.API_VERSIONS, 99, 5, 1) + b"x" + b"\x00" * 6
    with RawKafka(seeded.bootstrap) as raw:
        raw.send_raw(struct.pack(">i", len(body)) + body)
        frame = raw.read_frame()
        correlation, error_code, count = struct.unpack_from(">ihi", frame)
        assert (correlation, error_code) == (5, ErrorCode.unsupported_version)
        ranges = {struct.unpack_from(">hhh", frame, 10 + 6 * i)[0] for i in range(count)}
        assert {ApiKey.PRODUCE, ApiKey.FETCH, ApiKey.API_VERSIONS} <= ranges
        # The connection stays usable after the fallback.
        assert raw.request(ApiKey.API_VERSIONS, 3, client_software_name="t",
                           client_software_version="1").error_code == ErrorCode.none
    assert_still_serving(seeded)


def test_unsupported_version_of_a_known_api_gets_unsupported_version(seeded) -> None:  # type: ignore[no-untyped-def]
    with RawKafka(seeded.bootstrap) as raw:
        response = raw.request(ApiKey.METADATA, 13, topics=None, allow_auto_topic_creation=False,
                               include_topic_authorized_operations=False)
        assert response.error_code == ErrorCode.unsupported_version
    assert_still_serving(seeded)


def test_crc_mismatch_fails_only_that_partition(seeded) -> None:  # type: ignore[no-untyped-def]
    corrupt = bytearray(batch(3))
    corrupt[-1] ^= 0xFF
    with RawKafka(seeded.bootstrap) as raw:
        results = produce(raw, "seeded", {0: bytes(corrupt), 1: batch(3)})
        assert results[0].error_code == ErrorCode.corrupt_message
        assert results[1].error_code == ErrorCode.none
        assert latest_offset(raw, "seeded", 1) == 3
    assert_still_serving(seeded)


def test_invalid_acks_get_invalid_required_acks(seeded) -> None:  # type: ignore[no-untyped-def]
    with RawKafka(seeded.bootstrap) as raw:
        results = produce(raw, "seeded", {0: batch(2)}, acks=2)
        assert results[0].error_code == ErrorCode.invalid_required_acks
    assert_still_serving(seeded)


def test_batch_over_max_message_bytes_gets_message_too_large(seeded) -> None:  # type: ignore[no-untyped-def]
    with RawKafka(seeded.bootstrap) as raw:
        assert create_topic(raw, "small", 1, {"max.message.bytes": "1000"}).error_code == ErrorCode.none
        results = produce(raw, "small", {0: batch(1, b"x" * 2000)})
        assert results[0].error_code == ErrorCode.message_too_large
        assert produce(raw, "small", {0: batch(1, b"x" * 100)})[0].error_code == ErrorCode.none
    assert_still_serving(seeded)


def test_unknown_topic_or_partition(seeded) -> None:  # type: ignore[no-untyped-def]
    with RawKafka(seeded.bootstrap) as raw:
        assert produce(raw, "seeded", {99: batch(1)})[99].error_code == ErrorCode.unknown_topic_or_partition
        assert produce(raw, "no-such-topic", {0: batch(1)})[0].error_code == ErrorCode.unknown_topic_or_partition
    assert_still_serving(seeded)


@pytest.mark.parametrize("name", ["bad name", "x" * 250, "..", "a/b"])
def test_invalid_topic_name(seeded, name: str) -> None:  # type: ignore[no-untyped-def]
    with RawKafka(seeded.bootstrap) as raw:
        assert create_topic(raw, name).error_code == ErrorCode.invalid_topic_exception
        topic = raw.make(ApiKey.METADATA, 12, "MetadataRequestTopic", name=name)
        response = raw.request(ApiKey.METADATA, 12, topics=[topic], allow_auto_topic_creation=True,
                               include_topic_authorized_operations=False)
        assert response.topics[0].error_code == ErrorCode.invalid_topic_exception
    assert_still_serving(seeded)


def test_half_a_frame_then_silence_is_timed_out(broker_factory) -> None:  # type: ignore[no-untyped-def]
    broker = seed(broker_factory("--override", "connections.max.idle.ms=1000"))
    with RawKafka(broker.bootstrap) as raw:
        raw.send_raw(struct.pack(">i", 100) + b"\x00\x03\x00")
        started = time.monotonic()
        assert raw.is_closed_by_peer(timeout=10)
        assert 0.5 < time.monotonic() - started < 8
    with RawKafka(broker.bootstrap) as raw:
        assert raw.request(ApiKey.API_VERSIONS, 3, client_software_name="t",
                           client_software_version="1").error_code == ErrorCode.none
    assert_still_serving(broker)


# -- socket.request.max.bytes other than its default -------------------------------------

SMALL_CAP = 1024 * 1024


def produce_frame_of(raw: RawKafka, size: int) -> tuple[int, bytes]:
    """A Produce request to "seeded" partition 0 whose frame (after its size prefix) is
    exactly ``size`` bytes: one record with an incompressible value padded to fit."""
    def encode(value_size: int) -> tuple[int, bytes]:
        records = build_batch([Record(b"k", random.Random(7).randbytes(value_size))])
        data = [raw.make(ApiKey.PRODUCE, PRODUCE_V, "PartitionProduceData", index=0, records=records)]
        topic = [raw.make(ApiKey.PRODUCE, PRODUCE_V, "TopicProduceData", name="seeded", partition_data=data)]
        return raw.encode(ApiKey.PRODUCE, PRODUCE_V, transactional_id=None, acks=-1, timeout=5000,
                          topic_data=topic)

    value_size = size - 200
    for _ in range(3):  # the record's varint lengths barely move near the target
        correlation, frame = encode(value_size)
        if len(frame) - 4 == size:
            return correlation, frame
        value_size += size - (len(frame) - 4)
    raise AssertionError(f"cannot build a Produce frame of exactly {size} bytes")


def test_request_max_bytes_cap_is_the_configured_one(broker_factory) -> None:  # type: ignore[no-untyped-def]
    broker = seed(broker_factory("--override", f"socket.request.max.bytes={SMALL_CAP}"))
    with RawKafka(broker.bootstrap) as raw:
        raw.send_raw(struct.pack(">i", 2 * SMALL_CAP) + b"\x00" * 64)  # announces 2 MiB
        assert raw.is_closed_by_peer()
    assert len(closing_lines(broker, f"frame size {2 * SMALL_CAP} refused (limit {SMALL_CAP})")) == 1
    with RawKafka(broker.bootstrap) as raw:
        correlation, frame = produce_frame_of(raw, SMALL_CAP + 1)  # one byte over: refused
        raw.send_raw(frame)
        assert raw.is_closed_by_peer()
    assert_still_serving(broker)  # the seeded records, and offset ACKED for a new one
    with RawKafka(broker.bootstrap) as raw:
        correlation, frame = produce_frame_of(raw, SMALL_CAP)  # exactly the cap: served
        raw.send_raw(frame)
        (result,) = raw.response(ApiKey.PRODUCE, PRODUCE_V, correlation).responses[0].partition_responses
        assert result.error_code == ErrorCode.none and result.base_offset == ACKED + 1
        assert latest_offset(raw, "seeded", 0) == ACKED + 2


@pytest.mark.parametrize(
    ("prefix", "looks_like"),
    [
        pytest.param(bytes.fromhex("160301020001") + b"\x00" * 40,
                     "a TLS handshake on a plaintext listener", id="tls-client-hello"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                     "an HTTP request on a Kafka listener", id="http-get"),
    ],
)
def test_text_or_tls_is_refused_under_a_2gb_cap(broker_factory, prefix: bytes, looks_like: str) -> None:  # type: ignore[no-untyped-def]
    # Both prefixes read as sizes under 2 GB: the cap alone would allocate and wait.
    broker = seed(broker_factory("--override", "socket.request.max.bytes=2000000000"))
    assert struct.unpack_from(">i", prefix)[0] < 2_000_000_000
    with RawKafka(broker.bootstrap) as raw:
        raw.send_raw(prefix)
        assert raw.is_closed_by_peer()
    assert len(closing_lines(broker, looks_like)) == 1, broker_log(broker)[-3000:]
    assert_still_serving(broker)
