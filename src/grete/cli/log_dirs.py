"""Partition sizes and segment counts for `grete topic describe`, from DescribeLogDirs.

confluent-kafka has no DescribeLogDirs, so the CLI sends it itself, to the leader of
each partition (a broker reports only the replicas it hosts), over Grete's own
Kafka-protocol client. It asks for Grete's segment count tag (protocol/log_dirs.py);
a broker that does not know it (Kafka) gives the size only.
"""

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from grete.network.client import BrokerConnectionError, KafkaConnection
from grete.protocol import ApiKey, ErrorCode
from grete.protocol.log_dirs import (
    NO_SEGMENT_COUNT,
    decode_response,
    describe_request,
    supports_segment_count,
)

MAX_VERSION = 4
TIMEOUT_S = 15.0

Partition = tuple[str, int]


@dataclass(frozen=True)
class Leader:
    """Where to ask about a partition: its leader's address."""

    host: str
    port: int


@dataclass(frozen=True)
class LogDirStats:
    size_bytes: int
    segments: int | None  # None: the broker does not report it


def log_dir_stats(leaders: Mapping[Partition, Leader]) -> dict[Partition, LogDirStats]:
    """Size (and segment count) of each partition as its leader reports it; partitions
    whose leader could not tell are left out."""
    if not leaders:
        return {}
    by_leader: dict[Leader, list[Partition]] = {}
    for partition, leader in leaders.items():
        by_leader.setdefault(leader, []).append(partition)
    return asyncio.run(_gather(by_leader))


async def _gather(by_leader: Mapping[Leader, list[Partition]]) -> dict[Partition, LogDirStats]:
    found: dict[Partition, LogDirStats] = {}
    answers = await asyncio.gather(
        *(_ask(leader, partitions) for leader, partitions in by_leader.items())
    )
    for answer in answers:
        found.update(answer)
    return found


async def _ask(leader: Leader, partitions: Iterable[Partition]) -> dict[Partition, LogDirStats]:
    wanted = set(partitions)
    try:
        conn = await KafkaConnection.open(
            leader.host, leader.port, client_id="grete-cli", connect_timeout_s=TIMEOUT_S
        )
    except BrokerConnectionError:
        return {}
    try:
        low, high = (await conn.api_versions(timeout_s=TIMEOUT_S)).get(
            ApiKey.DESCRIBE_LOG_DIRS, (0, -1)
        )
        version = min(high, MAX_VERSION)
        if version < max(low, 1):  # kio encodes v1 and later
            return {}
        topics: dict[str, list[int]] = {}
        for topic, index in sorted(wanted):
            topics.setdefault(topic, []).append(index)
        extended = supports_segment_count(version)
        response = await conn.request(
            ApiKey.DESCRIBE_LOG_DIRS,
            version,
            describe_request(version, topics),
            timeout_s=TIMEOUT_S,
            decode=(lambda frame: decode_response(frame, version)) if extended else None,
        )
    except BrokerConnectionError:
        return {}
    finally:
        await conn.close()
    return _stats(response, wanted)


def _stats(response: Any, wanted: set[Partition]) -> dict[Partition, LogDirStats]:
    found: dict[Partition, LogDirStats] = {}
    for result in response.results:
        if result.error_code != ErrorCode.none:
            continue
        for topic in result.topics:
            for p in topic.partitions:
                key = (topic.name, p.partition_index)
                if key not in wanted or p.is_future_key:
                    continue
                count = getattr(p, "segment_count", NO_SEGMENT_COUNT)
                found[key] = LogDirStats(
                    int(p.partition_size), int(count) if count != NO_SEGMENT_COUNT else None
                )
    return found
