"""CreateTopics (v2-v7), DeleteTopics (v1-v6) and CreatePartitions (v0-v3)."""

from __future__ import annotations

from typing import Any

from grete.cluster.controller import AdminError, NewTopic
from grete.cluster.metadata import TopicMetadata
from grete.cluster.topic_config import describe_topic_configs
from grete.handlers.authorization import AclOperation, ResourceType, authorized, cluster_authorized
from grete.handlers.context import RequestContext
from grete.handlers.registry import handles
from grete.protocol import ApiKey, ErrorCode


def _created_configs(ctx: RequestContext, topic: TopicMetadata) -> list[Any]:
    if ctx.version < 5:  # v5 added the created topic's configs to the response
        return []
    entries = describe_topic_configs(
        topic.configs, ctx.services.config, include_synonyms=False, include_documentation=False
    )
    return [
        ctx.schema.make(
            "CreatableTopicConfigs",
            name=e.name,
            value=e.value,
            read_only=e.read_only,
            config_source=e.source,
            is_sensitive=e.is_sensitive,
        )
        for e in entries
    ]


async def _create_one(ctx: RequestContext, t: Any, validate_only: bool) -> Any:
    make = ctx.schema.make
    assignments = {a.partition_index: list(a.broker_ids) for a in t.assignments} or None
    configs = {c.name: c.value for c in t.configs}
    new = NewTopic(t.name, t.num_partitions, t.replication_factor, configs, assignments)
    try:
        topic = await ctx.services.admin.create_topic(new, validate_only=validate_only)
        if not validate_only:
            await ctx.services.admin.wait_for_topic(topic.name)
    except AdminError as exc:
        return make("CreatableTopicResult", name=t.name, error_code=ErrorCode[exc.kind],
                    error_message=str(exc), num_partitions=-1, replication_factor=-1, configs=[])
    return make(
        "CreatableTopicResult",
        name=t.name,
        topic_id=topic.topic_id,
        error_code=ErrorCode.none,
        error_message=None,
        num_partitions=topic.partitions,
        replication_factor=topic.replication_factor,
        configs=_created_configs(ctx, topic),
    )


@handles(ApiKey.CREATE_TOPICS, 2, 7)
async def handle_create_topics(ctx: RequestContext, request: Any) -> Any:
    names = [t.name for t in request.topics]
    results = []
    any_topic = cluster_authorized(ctx, AclOperation.CREATE)  # else Create on each topic
    for t in request.topics:
        if not (any_topic or authorized(ctx, AclOperation.CREATE, ResourceType.TOPIC, t.name)):
            results.append(ctx.schema.make("CreatableTopicResult", name=t.name,
                                           error_code=ErrorCode.topic_authorization_failed,
                                           error_message="Authorization failed.",
                                           num_partitions=-1, replication_factor=-1, configs=[]))
            continue
        if names.count(t.name) > 1:
            results.append(ctx.schema.make("CreatableTopicResult", name=t.name, error_code=ErrorCode.invalid_request,
                                           error_message="topic named more than once in the request",
                                           num_partitions=-1, replication_factor=-1, configs=[]))
            continue
        results.append(await _create_one(ctx, t, request.validate_only))
    return ctx.schema.response(throttle_time=0, topics=results)


async def _delete_one(ctx: RequestContext, name: str | None, topic_id: Any) -> Any:
    make = ctx.schema.make
    metadata = ctx.services.metadata
    if name is None and topic_id is not None:
        found = metadata.topic_by_id(topic_id)
        if found is None:
            return make("DeletableTopicResult", name=None, topic_id=topic_id,
                        error_code=ErrorCode.unknown_topic_id, error_message="unknown topic id")
        name = found.name
    if not authorized(ctx, AclOperation.DELETE, ResourceType.TOPIC, name or ""):
        return make("DeletableTopicResult", name=name, topic_id=topic_id,
                    error_code=ErrorCode.topic_authorization_failed, error_message="Authorization failed.")
    try:
        topic = await ctx.services.admin.delete_topic(name or "")
        await ctx.services.admin.wait_for_topic(topic.name, present=False)
    except AdminError as exc:
        return make("DeletableTopicResult", name=name, topic_id=topic_id, error_code=ErrorCode[exc.kind],
                    error_message=str(exc))
    return make("DeletableTopicResult", name=topic.name, topic_id=topic.topic_id,
                error_code=ErrorCode.none, error_message=None)


@handles(ApiKey.DELETE_TOPICS, 1, 6)
async def handle_delete_topics(ctx: RequestContext, request: Any) -> Any:
    if ctx.version >= 6:
        targets = [(t.name, t.topic_id) for t in request.topics]
    else:
        targets = [(name, None) for name in request.topic_names]
    results = [await _delete_one(ctx, name, topic_id) for name, topic_id in targets]
    return ctx.schema.response(throttle_time=0, responses=results)


@handles(ApiKey.CREATE_PARTITIONS, 0, 3)
async def handle_create_partitions(ctx: RequestContext, request: Any) -> Any:
    results = []
    for t in request.topics:
        assignments = None if t.assignments is None else [list(a.broker_ids) for a in t.assignments]
        if not authorized(ctx, AclOperation.ALTER, ResourceType.TOPIC, t.name):
            results.append(ctx.schema.make("CreatePartitionsTopicResult", name=t.name,
                                           error_code=ErrorCode.topic_authorization_failed,
                                           error_message="Authorization failed."))
            continue
        try:
            await ctx.services.admin.create_partitions(
                t.name, t.count, assignments, validate_only=request.validate_only
            )
            error, message = ErrorCode.none, None
        except AdminError as exc:
            error, message = ErrorCode[exc.kind], str(exc)
        results.append(ctx.schema.make("CreatePartitionsTopicResult", name=t.name, error_code=error,
                                       error_message=message))
    return ctx.schema.response(throttle_time=0, results=results)
