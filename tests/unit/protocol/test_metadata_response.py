"""The hand-written Metadata response encoder writes exactly the bytes kio writes."""

from __future__ import annotations

import random
import uuid

import pytest

from grete.protocol import ApiKey, ErrorCode, RequestHeader, encode_response, schema
from grete.protocol.metadata_response import (
    MetadataBroker,
    MetadataPartition,
    MetadataTopic,
    encode_metadata_response,
)

OMITTED = -(2**31)  # kio's default for the authorized operations


def _ids(rng: random.Random) -> list[int]:
    return rng.sample(range(2000), rng.randrange(0, 5))


def _random(rng: random.Random, version: int) -> tuple[list[MetadataBroker], list[MetadataTopic]]:
    brokers = [
        MetadataBroker(rng.randrange(0, 1000), "h" * rng.randrange(1, 40), rng.randrange(1, 65536),
                       rng.choice([None, "rack-" + "é" * rng.randrange(0, 3)]))
        for _ in range(rng.randrange(0, 4))
    ]  # fmt: skip
    topics = []
    for t in range(rng.choice([0, 1, 3, 12])):
        partitions = [
            MetadataPartition(
                rng.choice([ErrorCode.none, ErrorCode.leader_not_available]), i,
                rng.randrange(-1, 5), rng.randrange(-1, 100), _ids(rng), _ids(rng),
                _ids(rng) if version >= 5 else [],
            )
            for i in range(rng.choice([0, 1, 7, 200]))
        ]  # fmt: skip
        nullable = version >= 12
        name = None if nullable and rng.random() < 0.2 else f"topic-{t}" + "x" * rng.randrange(0, 150)
        topics.append(MetadataTopic(
            rng.choice([ErrorCode.none, ErrorCode.unknown_topic_or_partition]), name,
            uuid.UUID(int=rng.getrandbits(128)) if version >= 10 else None,
            rng.random() < 0.3, partitions,
            rng.choice([OMITTED, 0, 0x1FF8]) if version >= 8 else OMITTED,
        ))  # fmt: skip
    return brokers, topics


def _kio_frame(version: int, correlation_id: int, throttle: int, cluster_id: str | None,
               controller: int, cluster_ops: int, brokers: list[MetadataBroker],
               topics: list[MetadataTopic]) -> bytes:  # fmt: skip
    s = schema(ApiKey.METADATA, version)
    kio_brokers = [
        s.make("MetadataResponseBroker", node_id=b.node_id, host=b.host, port=b.port, rack=b.rack)
        for b in brokers
    ]
    kio_topics = []
    for t in topics:
        parts = [
            s.make(
                "MetadataResponsePartition", error_code=p.error_code,
                partition_index=p.partition_index, leader_id=p.leader_id,
                leader_epoch=p.leader_epoch, replica_nodes=list(p.replica_nodes),
                isr_nodes=list(p.isr_nodes), offline_replicas=list(p.offline_replicas),
            )
            for p in t.partitions
        ]  # fmt: skip
        values = {"error_code": t.error_code, "name": t.name, "is_internal": t.is_internal,
                  "partitions": parts, "topic_authorized_operations": t.authorized_operations}  # fmt: skip
        if t.topic_id is not None:
            values["topic_id"] = t.topic_id
        kio_topics.append(s.make("MetadataResponseTopic", **values))
    extra = {"cluster_authorized_operations": cluster_ops} if 8 <= version <= 10 else {}
    response = s.response(
        throttle_time=throttle, brokers=kio_brokers, cluster_id=cluster_id,
        controller_id=controller, topics=kio_topics, **extra,
    )  # fmt: skip
    return encode_response(RequestHeader(ApiKey.METADATA, version, correlation_id, "t"), response)


@pytest.mark.parametrize("version", range(13))
@pytest.mark.parametrize("seed", range(6))
def test_the_frame_is_byte_for_byte_kios(version: int, seed: int) -> None:
    rng = random.Random(seed * 100 + version)
    brokers, topics = _random(rng, version)
    correlation_id = rng.randrange(-(2**31), 2**31)
    throttle = rng.randrange(0, 10_000) if version >= 3 else 0
    cluster_id = rng.choice([None, "6CKOSpvIRfK9CFxKBTKS8Q"])
    controller = rng.randrange(-1, 5)
    cluster_ops = rng.choice([OMITTED, 0x1FF8])
    encoded = encode_metadata_response(
        correlation_id, version, brokers=brokers, cluster_id=cluster_id,
        controller_id=controller, topics=topics, cluster_authorized_operations=cluster_ops,
        throttle_ms=throttle,
    )  # fmt: skip
    expected = _kio_frame(version, correlation_id, throttle, cluster_id, controller,
                          cluster_ops, brokers, topics)  # fmt: skip
    assert encoded.to_bytes() == expected
    if version >= 3:
        assert encoded.throttle_ms == throttle
