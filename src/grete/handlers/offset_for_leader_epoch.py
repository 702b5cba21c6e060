"""OffsetForLeaderEpoch (v2-v4): where a leader epoch ended in the leader's log (KIP-101/279).

Followers ask it before fetching, to truncate what a former leader wrote past the end of
that epoch; consumers ask it (KIP-320) to check their position after a leader change.
"""

from __future__ import annotations

from typing import Any

from grete.handlers.authorization import AclOperation, ResourceType, authorized, cluster_authorized
from grete.handlers.context import RequestContext
from grete.handlers.errors import leader_epoch_error
from grete.handlers.registry import handles
from grete.protocol import ApiKey, ErrorCode


def _epoch_end(ctx: RequestContext, topic: str, p: Any, allowed: bool = True) -> Any:
    make = ctx.schema.make
    if not allowed:
        return make("EpochEndOffset", error_code=ErrorCode.topic_authorization_failed,
                    partition=p.partition, leader_epoch=-1, end_offset=-1)
    partition = ctx.services.replicas.get(topic, p.partition)
    if partition is None:
        return make("EpochEndOffset", error_code=ErrorCode.unknown_topic_or_partition,
                    partition=p.partition, leader_epoch=-1, end_offset=-1)
    error = leader_epoch_error(partition, p.current_leader_epoch)
    if error is not None:
        return make("EpochEndOffset", error_code=error, partition=p.partition, leader_epoch=-1, end_offset=-1)
    found = partition.log.end_offset_for_epoch(p.leader_epoch)
    return make("EpochEndOffset", error_code=ErrorCode.none, partition=p.partition,
                leader_epoch=found.leader_epoch, end_offset=found.end_offset)


@handles(ApiKey.OFFSET_FOR_LEADER_EPOCH, 2, 4)
async def handle_offset_for_leader_epoch(ctx: RequestContext, request: Any) -> Any:
    replica = ctx.services.authorizer is None or cluster_authorized(ctx, AclOperation.CLUSTER_ACTION)
    topics = []
    for t in request.topics:
        allowed = replica or authorized(ctx, AclOperation.DESCRIBE, ResourceType.TOPIC, t.topic)
        topics.append(ctx.schema.make("OffsetForLeaderTopicResult", topic=t.topic,
                                      partitions=[_epoch_end(ctx, t.topic, p, allowed) for p in t.partitions]))
    return ctx.schema.response(throttle_time=0, topics=topics)
