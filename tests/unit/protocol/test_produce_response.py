"""The hand-written Produce response encoder writes exactly the bytes kio writes."""

from __future__ import annotations

import random

import pytest

from grete.protocol import ApiKey, ErrorCode, RequestHeader, encode_response, schema
from grete.protocol.produce_response import ProducedPartition, encode_produce_response

ERRORS = [ErrorCode.none, ErrorCode.not_enough_replicas, ErrorCode.corrupt_message]


def _topics(rng: random.Random) -> list[tuple[str, list[ProducedPartition]]]:
    topics = []
    for t in range(rng.choice([0, 1, 2, 4])):
        partitions = [
            ProducedPartition(
                rng.randrange(0, 2**31), rng.choice(ERRORS), rng.randrange(-1, 2**50),
                rng.randrange(-1, 2**42), rng.randrange(-1, 2**50),
                rng.choice([None, "", "no: " + "é" * rng.randrange(0, 80)]),
            )
            for _ in range(rng.randrange(0, 5))
        ]  # fmt: skip
        topics.append((f"t{t}" + "x" * rng.randrange(0, 150), partitions))
    return topics


def _kio_frame(version: int, correlation_id: int, throttle_ms: int,
               topics: list[tuple[str, list[ProducedPartition]]]) -> bytes:  # fmt: skip
    s = schema(ApiKey.PRODUCE, version)
    responses = [
        s.make("TopicProduceResponse", name=name, partition_responses=[
            s.make(
                "PartitionProduceResponse", index=p.index, error_code=p.error_code,
                base_offset=p.base_offset, log_append_time=p.log_append_time,
                log_start_offset=p.log_start_offset, record_errors=[],
                error_message=p.error_message,
            )
            for p in partitions
        ])
        for name, partitions in topics
    ]  # fmt: skip
    response = s.response(responses=responses, throttle_time=throttle_ms)
    return encode_response(RequestHeader(ApiKey.PRODUCE, version, correlation_id, "t"), response)


@pytest.mark.parametrize("version", range(3, 12))
@pytest.mark.parametrize("seed", range(6))
def test_the_frame_is_byte_for_byte_kios(version: int, seed: int) -> None:
    rng = random.Random(seed * 100 + version)
    topics = _topics(rng)
    correlation_id = rng.randrange(-(2**31), 2**31)
    throttle = rng.randrange(0, 100_000)
    encoded = encode_produce_response(correlation_id, version, topics, throttle)
    assert encoded.to_bytes() == _kio_frame(version, correlation_id, throttle, topics)
    assert encoded.throttle_ms == throttle
    encoded.set_throttle_ms(throttle + 1)
    assert encoded.to_bytes() == _kio_frame(version, correlation_id, throttle + 1, topics)
