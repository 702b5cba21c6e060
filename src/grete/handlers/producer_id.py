"""InitProducerId (v0-v5) for idempotent producers (KIP-98)."""

from __future__ import annotations

from typing import Any

from grete.cluster.errors import CoordinationUnavailable
from grete.handlers.authorization import (
    AclOperation,
    ResourceType,
    authorized,
    authorized_for_any,
    cluster_authorized,
)
from grete.handlers.context import RequestContext
from grete.handlers.registry import handles
from grete.protocol import ApiKey, ErrorCode


def _refusal(ctx: RequestContext, transactional_id: str | None) -> ErrorCode | None:
    if ctx.services.authorizer is None:
        return None
    if transactional_id is not None:
        if authorized(ctx, AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, transactional_id):
            return None
        return ErrorCode.transactional_id_authorization_failed
    if cluster_authorized(ctx, AclOperation.IDEMPOTENT_WRITE) or authorized_for_any(
        ctx, AclOperation.WRITE, ResourceType.TOPIC
    ):
        return None
    return ErrorCode.cluster_authorization_failed


@handles(ApiKey.INIT_PRODUCER_ID, 0, 5)
async def handle_init_producer_id(ctx: RequestContext, request: Any) -> Any:
    s = ctx.schema
    refused = _refusal(ctx, request.transactional_id)
    if refused is not None:
        return s.response(throttle_time=0, error_code=refused, producer_id=-1, producer_epoch=-1)
    if request.transactional_id is not None:
        # Transactions need the transaction coordinator, which a later issue adds.
        return s.response(throttle_time=0, error_code=ErrorCode.coordinator_not_available,
                          producer_id=-1, producer_epoch=-1)
    # As in Kafka, an idempotent producer always gets a fresh id, even when it names its
    # current id and epoch (KIP-360): it bumps its epoch itself, without the broker.
    try:
        producer_id = await ctx.services.producer_ids.next_id()
    except CoordinationUnavailable:
        # No producer id block from ZooKeeper: retriable, as Kafka answers while it
        # cannot allocate one.
        return s.response(throttle_time=0, error_code=ErrorCode.coordinator_load_in_progress,
                          producer_id=-1, producer_epoch=-1)
    return s.response(throttle_time=0, error_code=ErrorCode.none, producer_id=producer_id, producer_epoch=0)
