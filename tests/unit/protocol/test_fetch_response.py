"""The hand-written Fetch response encoder writes exactly the bytes kio writes."""

from __future__ import annotations

import random
import uuid

import pytest

from grete.protocol import ApiKey, ErrorCode, RequestHeader, encode_response, schema
from grete.protocol.codec import decode_response
from grete.protocol.fetch_response import FetchedPartition, FetchedTopic, encode_fetch_response

VERSIONS = range(4, 17)


def _topics(rng: random.Random, count: int) -> list[FetchedTopic]:
    topics = []
    for t in range(count):
        partitions = [
            FetchedPartition(
                partition_index=rng.randrange(0, 1000),
                error_code=rng.choice([ErrorCode.none, ErrorCode.offset_out_of_range,
                                       ErrorCode.not_leader_or_follower]),
                high_watermark=rng.randrange(-1, 2**40),
                last_stable_offset=rng.randrange(-1, 2**40),
                log_start_offset=rng.randrange(-1, 2**40),
                # empty, small, and one needing a two-byte compact length
                records=rng.choice([b"", rng.randbytes(rng.randrange(1, 100)), rng.randbytes(300)]),
            )
            for _ in range(rng.randrange(0, 4))
        ]  # fmt: skip
        name = f"topic-{t}-" + "é" * rng.randrange(0, 3) + "x" * rng.randrange(0, 200)
        topics.append(FetchedTopic(name, uuid.UUID(int=rng.getrandbits(128)), partitions))
    return topics


def _kio_frame(version: int, correlation_id: int, throttle_ms: int, error: int,
               session_id: int, topics: list[FetchedTopic]) -> bytes:  # fmt: skip
    s = schema(ApiKey.FETCH, version)
    responses = []
    for topic in topics:
        parts = [
            s.make(
                "PartitionData", partition_index=p.partition_index, error_code=p.error_code,
                high_watermark=p.high_watermark, last_stable_offset=p.last_stable_offset,
                log_start_offset=p.log_start_offset, aborted_transactions=None,
                preferred_read_replica=-1, records=bytes(p.records),
            )
            for p in topic.partitions
        ]  # fmt: skip
        key = {"topic_id": topic.topic_id} if version >= 13 else {"topic": topic.name}
        responses.append(s.make("FetchableTopicResponse", **key, partitions=parts))
    response = s.response(
        throttle_time=throttle_ms, error_code=error, session_id=session_id, responses=responses
    )
    header = RequestHeader(ApiKey.FETCH, version, correlation_id, "test")
    return encode_response(header, response)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("seed", range(5))
def test_the_frame_is_byte_for_byte_kios(version: int, seed: int) -> None:
    rng = random.Random(seed * 100 + version)
    topics = _topics(rng, rng.choice([0, 1, 3]))
    correlation_id = rng.randrange(-(2**31), 2**31)
    session_id = rng.randrange(0, 2**31)
    error = rng.choice([ErrorCode.none, ErrorCode.fetch_session_id_not_found])
    throttle = rng.randrange(0, 10_000)
    encoded = encode_fetch_response(
        correlation_id, version, throttle_ms=throttle, error_code=error,
        session_id=session_id, topics=topics,
    )  # fmt: skip
    expected = _kio_frame(version, correlation_id, throttle, error, session_id, topics)
    assert encoded.to_bytes() == expected
    assert encoded.throttle_ms == throttle


@pytest.mark.parametrize("version", VERSIONS)
def test_records_are_not_copied_and_the_throttle_can_be_raised(version: int) -> None:
    records = memoryview(bytearray(b"r" * 1000))
    topic = FetchedTopic("t", uuid.uuid4(), [FetchedPartition(0, 0, 10, 10, 0, records)])
    encoded = encode_fetch_response(
        7, version, throttle_ms=0, error_code=0, session_id=0, topics=[topic]
    )
    assert any(part is records for part in encoded.parts)
    encoded.set_throttle_ms(1234)
    correlation_id, decoded = decode_response(ApiKey.FETCH, version, encoded.to_bytes()[4:])
    assert correlation_id == 7
    assert decoded.throttle_time.total_seconds() == pytest.approx(1.234)
    assert decoded.responses[0].partitions[0].records == bytes(records)
