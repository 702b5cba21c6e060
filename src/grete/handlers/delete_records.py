"""DeleteRecords (v0-v2): move partitions' log start offsets up (KIP-107).

The answer's low watermark is the leader's own new log start offset: Grete does not
wait for followers to reach it (Kafka does, up to the request's timeout); they follow
through their next fetch (docs/behaviour.md).
"""

from __future__ import annotations

from typing import Any

from grete.handlers.authorization import AclOperation, ResourceType, authorized
from grete.handlers.context import RequestContext
from grete.handlers.errors import error_code_for
from grete.handlers.registry import handles
from grete.protocol import ApiKey, ErrorCode

INVALID_LOW_WATERMARK = -1


def _missing_partition_error(ctx: RequestContext, topic: str, index: int) -> ErrorCode:
    """Kafka's answer for a partition this broker does not host: another broker leads it
    if the topic has it, else it is unknown."""
    meta = ctx.services.metadata.topic(topic)
    if meta is not None and 0 <= index < meta.partitions:
        return ErrorCode.not_leader_or_follower
    return ErrorCode.unknown_topic_or_partition


def _delete_one(ctx: RequestContext, topic: str, p: Any) -> tuple[ErrorCode, int]:
    replicas = ctx.services.replicas
    partition = replicas.get(topic, p.partition_index)
    if partition is None:
        return _missing_partition_error(ctx, topic, p.partition_index), INVALID_LOW_WATERMARK
    try:
        return ErrorCode.none, replicas.delete_records(partition, p.offset)
    except Exception as exc:  # noqa: BLE001 - mapped to this partition's error code
        return error_code_for(exc), INVALID_LOW_WATERMARK


@handles(ApiKey.DELETE_RECORDS, 0, 2)
async def handle_delete_records(ctx: RequestContext, request: Any) -> Any:
    make = ctx.schema.make
    topics = []
    deleted = False
    for topic in request.topics:
        partitions = []
        allowed = authorized(ctx, AclOperation.DELETE, ResourceType.TOPIC, topic.name)
        for p in topic.partitions:
            if allowed:
                error, low_watermark = _delete_one(ctx, topic.name, p)
            else:
                error, low_watermark = ErrorCode.topic_authorization_failed, INVALID_LOW_WATERMARK
            deleted = deleted or error == ErrorCode.none
            partitions.append(
                make(
                    "DeleteRecordsPartitionResult",
                    partition_index=p.partition_index,
                    low_watermark=low_watermark,
                    error_code=error,
                )
            )
        topics.append(make("DeleteRecordsTopicResult", name=topic.name, partitions=partitions))
    if deleted:
        ctx.services.replicas.checkpoint_log_start_offsets()
    return ctx.schema.response(throttle_time=0, topics=topics)
