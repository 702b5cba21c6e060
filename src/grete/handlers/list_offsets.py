"""ListOffsets (v1-v9): earliest, latest, max timestamp, and by timestamp."""

from __future__ import annotations

from typing import Any

from grete.handlers.authorization import AclOperation, ResourceType, authorized
from grete.handlers.context import RequestContext
from grete.handlers.errors import error_code_for, leader_epoch_error
from grete.handlers.registry import handles
from grete.partition.partition import Partition
from grete.protocol import ApiKey, ErrorCode

LATEST = -1
EARLIEST = -2
MAX_TIMESTAMP = -3
EARLIEST_LOCAL = -4
LATEST_TIERED = -5


def _lookup(partition: Partition, timestamp: int) -> tuple[int, int]:
    """(timestamp, offset) for one ListOffsets query, in Kafka's terms."""
    offsets = partition.offsets()
    if timestamp == LATEST:
        return -1, offsets.high_watermark
    if timestamp in (EARLIEST, EARLIEST_LOCAL):
        return -1, offsets.log_start_offset
    if timestamp == LATEST_TIERED:
        return -1, offsets.log_start_offset - 1
    if timestamp == MAX_TIMESTAMP:
        found = partition.max_timestamp_offset()
        return (found.timestamp, found.offset) if found else (-1, -1)
    found = partition.offset_for_timestamp(timestamp)
    if found is None or found.offset >= offsets.high_watermark:
        return -1, -1
    return found.timestamp, found.offset


def _partition_result(ctx: RequestContext, topic: str, p: Any, allowed: bool = True) -> Any:
    make = ctx.schema.make
    if not allowed:
        return make("ListOffsetsPartitionResponse", partition_index=p.partition_index,
                    error_code=ErrorCode.topic_authorization_failed, timestamp=-1, offset=-1, leader_epoch=-1)
    partition = ctx.services.replicas.get(topic, p.partition_index)
    if partition is None:
        return make("ListOffsetsPartitionResponse", partition_index=p.partition_index,
                    error_code=ErrorCode.unknown_topic_or_partition, timestamp=-1, offset=-1, leader_epoch=-1)
    refused = leader_epoch_error(partition, getattr(p, "current_leader_epoch", -1))
    if refused is not None:
        error = refused
    else:
        try:
            timestamp, offset = _lookup(partition, p.timestamp)
        except Exception as exc:  # noqa: BLE001 - mapped to this partition's error code
            error = error_code_for(exc)
        else:
            return make("ListOffsetsPartitionResponse", partition_index=p.partition_index,
                        error_code=ErrorCode.none, timestamp=timestamp, offset=offset,
                        leader_epoch=partition.leader_epoch)
    return make("ListOffsetsPartitionResponse", partition_index=p.partition_index,
                error_code=error, timestamp=-1, offset=-1, leader_epoch=-1)


@handles(ApiKey.LIST_OFFSETS, 1, 9)
async def handle_list_offsets(ctx: RequestContext, request: Any) -> Any:
    topics = [
        ctx.schema.make(
            "ListOffsetsTopicResponse",
            name=topic.name,
            partitions=[
                _partition_result(ctx, topic.name, p, allowed)
                for allowed in [authorized(ctx, AclOperation.DESCRIBE, ResourceType.TOPIC, topic.name)]
                for p in topic.partitions
            ],
        )
        for topic in request.topics
    ]
    return ctx.schema.response(throttle_time=0, topics=topics)
