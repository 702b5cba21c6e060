"""Metadata (v0-v12), with auto topic creation (auto.create.topics.enable)."""

from __future__ import annotations

import logging
from typing import Any

from grete.cluster.controller import AdminError
from grete.cluster.image import NO_LEADER
from grete.cluster.metadata import TopicMetadata
from grete.cluster.topic_names import topic_name_error
from grete.handlers.authorization import (
    CLUSTER_NAME,
    AclOperation,
    ResourceType,
    authorized,
    authorized_operations,
    cluster_authorized,
)
from grete.handlers.context import RequestContext
from grete.handlers.registry import handles
from grete.protocol import AUTHORIZED_OPERATIONS_OMITTED, ApiKey, EncodedResponse, ErrorCode
from grete.protocol.metadata_response import (
    MetadataBroker,
    MetadataPartition,
    MetadataTopic,
    encode_metadata_response,
)

log = logging.getLogger("grete.handlers")

def _partition_response(ctx: RequestContext, topic: TopicMetadata, index: int) -> MetadataPartition:
    info = ctx.services.cluster.partition(topic.name, index)
    if info is None:  # created, its state not yet known here
        return MetadataPartition(ErrorCode.leader_not_available, index, NO_LEADER, -1, (), (), ())
    error = ErrorCode.none if info.leader != NO_LEADER else ErrorCode.leader_not_available
    return MetadataPartition(
        error, index, info.leader, info.leader_epoch, info.replicas, info.isr, info.offline
    )


def _topic_response(ctx: RequestContext, topic: TopicMetadata, with_operations: bool) -> MetadataTopic:
    partitions = [_partition_response(ctx, topic, index) for index in range(topic.partitions)]
    operations = authorized_operations(ctx, ResourceType.TOPIC, topic.name, requested=with_operations)
    return MetadataTopic(
        ErrorCode.none, topic.name, topic.topic_id, topic.internal, partitions, operations
    )


def _error_topic(ctx: RequestContext, name: str | None, error: ErrorCode, topic_id: Any = None) -> MetadataTopic:
    return MetadataTopic(error, name, topic_id, False, (), AUTHORIZED_OPERATIONS_OMITTED)


async def _lookup(
    ctx: RequestContext, requested: Any, auto_create: bool, with_operations: bool
) -> MetadataTopic:
    services = ctx.services
    name = getattr(requested, "name", None)
    topic_id = getattr(requested, "topic_id", None)
    if name is None and topic_id is not None and topic_id.int != 0:
        topic = services.metadata.topic_by_id(topic_id)
        if topic is None:
            return _error_topic(ctx, None, ErrorCode.unknown_topic_id, topic_id)
        if not _describable(ctx, topic.name):  # ids are not secret; names are
            return _error_topic(ctx, None, ErrorCode.topic_authorization_failed, topic_id)
        return _topic_response(ctx, topic, with_operations)
    if name is None:
        return _error_topic(ctx, None, ErrorCode.invalid_request)
    if not _describable(ctx, name):  # refused before looking, so as not to tell it exists
        return _error_topic(ctx, name, ErrorCode.topic_authorization_failed)
    topic = services.metadata.topic(name)
    if topic is not None:
        return _topic_response(ctx, topic, with_operations)
    if topic_name_error(name) is not None:
        return _error_topic(ctx, name, ErrorCode.invalid_topic_exception)
    if not (auto_create and services.config.auto_create_topics_enable):
        return _error_topic(ctx, name, ErrorCode.unknown_topic_or_partition)
    if not (cluster_authorized(ctx, AclOperation.CREATE)
            or authorized(ctx, AclOperation.CREATE, ResourceType.TOPIC, name)):
        return _error_topic(ctx, name, ErrorCode.topic_authorization_failed)
    try:
        topic = await services.admin.auto_create_topic(name)
        await services.admin.wait_for_topic(name)
    except AdminError as exc:
        log.info("auto-creation of %r refused: %s", name, exc)
        return _error_topic(ctx, name, ErrorCode[exc.kind])
    return _topic_response(ctx, topic, with_operations)


def _describable(ctx: RequestContext, name: str) -> bool:
    return authorized(ctx, AclOperation.DESCRIBE, ResourceType.TOPIC, name)


@handles(ApiKey.METADATA, 0, 12)
async def handle_metadata(ctx: RequestContext, request: Any) -> EncodedResponse:
    services = ctx.services
    brokers = [
        MetadataBroker(endpoint.node_id, endpoint.host, endpoint.port, endpoint.rack)
        for endpoint in services.live_endpoints(ctx.connection.listener)
    ]
    # v0: an empty list means every topic; v1+: null means every topic.
    with_operations = bool(getattr(request, "include_topic_authorized_operations", False))
    all_topics = request.topics is None or (ctx.version == 0 and not request.topics)
    # Every topic, and no ACLs to filter by principal: the same bytes for every client
    # until the catalog's version moves (in a cluster, any change of the watched view).
    cache_key = None
    if all_topics and services.authorizer is None:
        cache_key = (
            ctx.connection.listener, ctx.version, with_operations,
            bool(getattr(request, "include_cluster_authorized_operations", False)),
            services.metadata.version,
        )  # fmt: skip
        cached = services.metadata_responses.get(cache_key)
        if cached is not None:
            return EncodedResponse.reissue(*cached, ctx.header.correlation_id)
    if all_topics:
        # Every topic the principal may describe; the others are left out silently.
        topics = [_topic_response(ctx, t, with_operations)
                  for t in services.metadata.topics() if _describable(ctx, t.name)]  # fmt: skip
    else:
        auto_create = getattr(request, "allow_auto_topic_creation", True)
        topics = [await _lookup(ctx, t, auto_create, with_operations) for t in request.topics]
    # KIP-430: the cluster's bits exist in v8-10 only (v11 moved them to DescribeCluster).
    cluster_operations = AUTHORIZED_OPERATIONS_OMITTED
    if 8 <= ctx.version <= 10:
        cluster_operations = authorized_operations(
            ctx, ResourceType.CLUSTER, CLUSTER_NAME,
            requested=bool(request.include_cluster_authorized_operations),
        )  # fmt: skip
    response = encode_metadata_response(
        ctx.header.correlation_id, ctx.version, brokers=brokers, cluster_id=services.cluster_id,
        controller_id=services.cluster.controller_id, topics=topics,
        cluster_authorized_operations=cluster_operations,
    )  # fmt: skip
    if cache_key is not None:
        if any(key[-1] != cache_key[-1] for key in services.metadata_responses):
            services.metadata_responses.clear()  # an older catalog's responses
        services.metadata_responses[cache_key] = (response.to_bytes(), response.throttle_at)
    return response
