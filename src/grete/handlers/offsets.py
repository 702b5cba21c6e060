"""OffsetCommit (v2-v9), OffsetFetch (v1-v9, many groups from v8) and OffsetDelete (v0)."""

from __future__ import annotations

from enum import Enum
from typing import Any

from grete.coordinator.group.classic_types import GroupError
from grete.coordinator.group.coordinator import OffsetCommitEntry
from grete.handlers.authorization import AclOperation, ResourceType, authorized
from grete.handlers.context import RequestContext
from grete.handlers.groups import error_code
from grete.handlers.registry import handles
from grete.protocol import ApiKey, ErrorCode

MANY_GROUPS_FROM = 8
OFFSET_METADATA_MAX_BYTES = 4096  # Kafka's offset.metadata.max.bytes default


@handles(ApiKey.OFFSET_COMMIT, 2, 9)
async def handle_offset_commit(ctx: RequestContext, request: Any) -> Any:
    known = ctx.services.metadata
    entries: dict[tuple[str, int], OffsetCommitEntry] = {}
    unknown: set[tuple[str, int]] = set()
    too_large: set[tuple[str, int]] = set()
    refused: dict[tuple[str, int], ErrorCode] = {}
    group_allowed = _allowed(ctx, AclOperation.READ, ResourceType.GROUP, request.group_id)
    for topic in request.topics:
        meta = known.topic(topic.name)
        topic_allowed = _allowed(ctx, AclOperation.READ, ResourceType.TOPIC, topic.name)
        for p in topic.partitions:
            tp = (topic.name, p.partition_index)
            if not group_allowed:
                refused[tp] = ErrorCode.group_authorization_failed
                continue
            if not topic_allowed:
                refused[tp] = ErrorCode.topic_authorization_failed
                continue
            if meta is None or not 0 <= p.partition_index < meta.partitions:
                unknown.add(tp)
                continue
            if p.committed_metadata is not None and len(p.committed_metadata.encode()) > OFFSET_METADATA_MAX_BYTES:
                too_large.add(tp)
                continue
            epoch = getattr(p, "committed_leader_epoch", -1)
            entries[tp] = OffsetCommitEntry(p.committed_offset, None if epoch < 0 else epoch, p.committed_metadata)
    error = await ctx.services.groups.commit_offsets(
        request.group_id, request.member_id, request.generation_id_or_member_epoch,
        getattr(request, "group_instance_id", None), entries,
        unknown_group=GroupError.GROUP_ID_NOT_FOUND if ctx.version >= 9 else GroupError.ILLEGAL_GENERATION,
    ) if entries else None
    topics = [
        ctx.schema.make("OffsetCommitResponseTopic", name=topic.name, partitions=[
            ctx.schema.make("OffsetCommitResponsePartition", partition_index=p.partition_index,
                            error_code=refused.get((topic.name, p.partition_index))
                            or _partition_error((topic.name, p.partition_index), unknown, too_large, error))
            for p in topic.partitions
        ])
        for topic in request.topics
    ]
    return ctx.schema.response(throttle_time=0, topics=topics)


def _allowed(ctx: RequestContext, operation: AclOperation, resource_type: ResourceType, name: str) -> bool:
    return authorized(ctx, operation, resource_type, name)


def _partition_error(tp: tuple[str, int], unknown: set[tuple[str, int]],
                     too_large: set[tuple[str, int]], error: Enum | None) -> ErrorCode:
    if tp in unknown:
        return ErrorCode.unknown_topic_or_partition
    if tp in too_large:
        return ErrorCode.offset_metadata_too_large
    return error_code(error)


def _fetch_group(ctx: RequestContext, group_id: str, topics: Any, names: tuple[str, str, str]) -> list[Any]:
    """Per-topic results for one group; ``names`` are the kio class names of this version."""
    topic_cls, partition_cls, _ = names
    wanted = None if topics is None else [(t.name, p) for t in topics for p in t.partition_indexes]
    found = ctx.services.groups.fetch_offsets(group_id, wanted)
    by_topic: dict[str, list[Any]] = {}
    for (topic, index), committed in sorted(found.items()):
        if not _allowed(ctx, AclOperation.DESCRIBE, ResourceType.TOPIC, topic):
            if wanted is not None:  # named: refused; all offsets: left out
                by_topic.setdefault(topic, []).append(ctx.schema.make(
                    partition_cls, partition_index=index, committed_offset=-1, committed_leader_epoch=-1,
                    metadata="", error_code=ErrorCode.topic_authorization_failed,
                ))
            continue
        by_topic.setdefault(topic, []).append(ctx.schema.make(
            partition_cls, partition_index=index,
            committed_offset=-1 if committed is None else committed.offset,
            committed_leader_epoch=-1 if committed is None or committed.leader_epoch is None else committed.leader_epoch,
            metadata="" if committed is None else committed.metadata,
            error_code=ErrorCode.none,
        ))
    return [ctx.schema.make(topic_cls, name=name, partitions=parts) for name, parts in by_topic.items()]


@handles(ApiKey.OFFSET_FETCH, 1, 9)
async def handle_offset_fetch(ctx: RequestContext, request: Any) -> Any:
    groups_ = ctx.services.groups
    if ctx.version < MANY_GROUPS_FROM:
        if not _allowed(ctx, AclOperation.DESCRIBE, ResourceType.GROUP, request.group_id):
            return ctx.schema.response(throttle_time=0, topics=[], error_code=ErrorCode.group_authorization_failed)
        not_here = groups_.not_here(request.group_id)
        if not_here is not None:
            return ctx.schema.response(throttle_time=0, topics=[], error_code=error_code(not_here))
        topics = _fetch_group(ctx, request.group_id, request.topics,
                              ("OffsetFetchResponseTopic", "OffsetFetchResponsePartition", ""))
        return ctx.schema.response(throttle_time=0, topics=topics, error_code=ErrorCode.none)
    groups = []
    for g in request.groups:
        if not _allowed(ctx, AclOperation.DESCRIBE, ResourceType.GROUP, g.group_id):
            groups.append(ctx.schema.make("OffsetFetchResponseGroup", group_id=g.group_id,
                                          error_code=ErrorCode.group_authorization_failed, topics=[]))
            continue
        not_here = groups_.not_here(g.group_id)
        topics = [] if not_here is not None else _fetch_group(
            ctx, g.group_id, g.topics, ("OffsetFetchResponseTopics", "OffsetFetchResponsePartitions", "")
        )
        groups.append(ctx.schema.make("OffsetFetchResponseGroup", group_id=g.group_id,
                                      error_code=error_code(not_here), topics=topics))
    return ctx.schema.response(throttle_time=0, groups=groups)


@handles(ApiKey.OFFSET_DELETE, 0, 0)
async def handle_offset_delete(ctx: RequestContext, request: Any) -> Any:
    if not _allowed(ctx, AclOperation.DELETE, ResourceType.GROUP, request.group_id):
        return ctx.schema.response(error_code=ErrorCode.group_authorization_failed, throttle_time=0, topics=[])
    readable = {t.name for t in request.topics if _allowed(ctx, AclOperation.READ, ResourceType.TOPIC, t.name)}
    partitions = [(t.name, p.partition_index) for t in request.topics for p in t.partitions if t.name in readable]
    error, per_partition = ctx.services.groups.delete_offsets(request.group_id, partitions)
    topics = [
        ctx.schema.make("OffsetDeleteResponseTopic", name=t.name, partitions=[
            ctx.schema.make("OffsetDeleteResponsePartition", partition_index=p.partition_index,
                            error_code=error_code(per_partition.get((t.name, p.partition_index)))
                            if t.name in readable else ErrorCode.topic_authorization_failed)
            for p in t.partitions
        ])
        for t in request.topics
    ]
    return ctx.schema.response(error_code=error_code(error), throttle_time=0, topics=topics if error is None else [])
