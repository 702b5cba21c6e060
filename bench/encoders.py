"""Microbenchmark: kio's response encoding against Grete's hand-written encoders.

    .venv/bin/python bench/encoders.py

Prints the best of five timings per call. Fetch: one topic, six partitions of 1 MiB
(a consumer catching up) and of 200 bytes (a consumer at the log end); Produce: one
partition acknowledged; Metadata: every topic of a broker with 10,000 partitions (the
entries are built inside the timing, as the handler builds them). The hand-written fetch encoder does not join the record bytes
into one buffer (the transport writes the parts with one vectored write); kio's copies
them into its output, which is part of what this measures.
"""

from __future__ import annotations

import os
import timeit
import uuid
from collections.abc import Callable
from typing import Any

from grete.protocol import ApiKey, RequestHeader, encode_response, schema
from grete.protocol.fetch_response import FetchedPartition, FetchedTopic, encode_fetch_response
from grete.protocol.metadata_response import (
    MetadataBroker,
    MetadataPartition,
    MetadataTopic,
    encode_metadata_response,
)
from grete.protocol.produce_response import ProducedPartition, encode_produce_response

FETCH_VERSION = 12  # librdkafka 2.x
PRODUCE_VERSION = 9
PARTITIONS = 6


def _kio_fetch(records: list[bytes]) -> Callable[[], Any]:
    s = schema(ApiKey.FETCH, FETCH_VERSION)
    header = RequestHeader(ApiKey.FETCH, FETCH_VERSION, 1, "bench")

    def run() -> bytes:
        parts = [
            s.make(
                "PartitionData", partition_index=i, error_code=0, high_watermark=10,
                last_stable_offset=10, log_start_offset=0, aborted_transactions=None,
                preferred_read_replica=-1, records=data,
            )
            for i, data in enumerate(records)
        ]  # fmt: skip
        topic = s.make("FetchableTopicResponse", topic="t", partitions=parts)
        response = s.response(throttle_time=0, error_code=0, session_id=1, responses=[topic])
        return encode_response(header, response)

    return run


def _hand_fetch(records: list[bytes]) -> Callable[[], Any]:
    def run() -> Any:
        partitions = [FetchedPartition(i, 0, 10, 10, 0, data) for i, data in enumerate(records)]
        topic = FetchedTopic("t", None, partitions)
        return encode_fetch_response(
            1, FETCH_VERSION, throttle_ms=0, error_code=0, session_id=1, topics=[topic]
        )

    return run


def _kio_produce() -> Any:
    s = schema(ApiKey.PRODUCE, PRODUCE_VERSION)
    partition = s.make(
        "PartitionProduceResponse", index=0, error_code=0, base_offset=5,
        log_append_time=-1, log_start_offset=0, record_errors=[],
    )  # fmt: skip
    response = s.response(
        responses=[s.make("TopicProduceResponse", name="t", partition_responses=[partition])],
        throttle_time=0,
    )
    return encode_response(RequestHeader(ApiKey.PRODUCE, PRODUCE_VERSION, 1, "bench"), response)


def _hand_produce() -> Any:
    partitions = [ProducedPartition(0, 0, 5, -1, 0)]
    return encode_produce_response(1, PRODUCE_VERSION, [("t", partitions)])


METADATA_VERSION = 12
OMITTED = -(2**31)


def _kio_metadata(topics: int, partitions: int) -> Callable[[], Any]:
    s = schema(ApiKey.METADATA, METADATA_VERSION)
    header = RequestHeader(ApiKey.METADATA, METADATA_VERSION, 1, "bench")
    ids = [uuid.UUID(int=t + 1) for t in range(topics)]

    def run() -> bytes:
        entities = [
            s.make(
                "MetadataResponseTopic", error_code=0, name=f"t{t}", topic_id=ids[t],
                is_internal=False, topic_authorized_operations=OMITTED,
                partitions=[
                    s.make(
                        "MetadataResponsePartition", error_code=0, partition_index=p,
                        leader_id=0, leader_epoch=0, replica_nodes=[0], isr_nodes=[0],
                        offline_replicas=[],
                    )
                    for p in range(partitions)
                ],
            )
            for t in range(topics)
        ]  # fmt: skip
        broker = s.make("MetadataResponseBroker", node_id=0, host="127.0.0.1", port=9092, rack=None)
        response = s.response(
            throttle_time=0, brokers=[broker], cluster_id="c", controller_id=0, topics=entities
        )
        return encode_response(header, response)

    return run


def _hand_metadata(topics: int, partitions: int) -> Callable[[], Any]:
    ids = [uuid.UUID(int=t + 1) for t in range(topics)]

    def run() -> Any:
        entries = [
            MetadataTopic(0, f"t{t}", ids[t], False, [
                MetadataPartition(0, p, 0, 0, (0,), (0,), ()) for p in range(partitions)
            ], OMITTED)
            for t in range(topics)
        ]  # fmt: skip
        return encode_metadata_response(
            1, METADATA_VERSION, brokers=[MetadataBroker(0, "127.0.0.1", 9092, None)],
            cluster_id="c", controller_id=0, topics=entries, cluster_authorized_operations=OMITTED,
        )  # fmt: skip

    return run


def _best_us(run: Callable[[], Any], number: int) -> float:
    return min(timeit.repeat(run, number=number, repeat=5)) / number * 1e6


def main() -> None:
    large = [os.urandom(1 << 20) for _ in range(PARTITIONS)]
    small = [os.urandom(200) for _ in range(PARTITIONS)]
    rows = [
        ("Fetch, 6 x 1 MiB", _kio_fetch(large), _hand_fetch(large), 200),
        ("Fetch, 6 x 200 B", _kio_fetch(small), _hand_fetch(small), 20_000),
        ("Produce, 1 partition", _kio_produce, _hand_produce, 20_000),
        ("Metadata, 100 topics × 100 partitions", _kio_metadata(100, 100),
         _hand_metadata(100, 100), 3),
    ]  # fmt: skip
    print("| Response | kio, µs | hand-written, µs | ratio |")
    print("|---|---|---|---|")
    for name, kio, hand, number in rows:
        kio_us, hand_us = _best_us(kio, number), _best_us(hand, number)
        print(f"| {name} | {kio_us:.1f} | {hand_us:.1f} | {kio_us / hand_us:.0f}× |")


if __name__ == "__main__":
    main()
