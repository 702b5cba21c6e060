"""FindCoordinator (v0-v4, batched keys from v4).

On a single node this broker coordinates every group; in a cluster the coordinator of a
group is the leader of its ``__consumer_offsets`` partition. Transactions need the
transaction coordinator, which a later issue adds: until then a transactional id
gets COORDINATOR_NOT_AVAILABLE.
"""

from __future__ import annotations

from typing import Any

from grete.cluster.controller import AdminError
from grete.cluster.image import NO_LEADER
from grete.coordinator.group.group_log import OFFSETS_TOPIC
from grete.handlers.authorization import AclOperation, ResourceType, authorized
from grete.handlers.context import RequestContext
from grete.handlers.registry import handles
from grete.protocol import ApiKey, ErrorCode

GROUP = 0
TRANSACTION = 1
BATCHED_KEYS_FROM = 4


async def _lookup(ctx: RequestContext, key_type: int, key: str) -> tuple[ErrorCode, str | None, int, str, int]:
    """(error, message, node id, host, port) of the coordinator for a key of ``key_type``."""
    if key_type == GROUP and not authorized(ctx, AclOperation.DESCRIBE, ResourceType.GROUP, key):
        return ErrorCode.group_authorization_failed, None, -1, "", -1
    if key_type == TRANSACTION and not authorized(ctx, AclOperation.DESCRIBE, ResourceType.TRANSACTIONAL_ID, key):
        return ErrorCode.transactional_id_authorization_failed, None, -1, "", -1
    if key_type == TRANSACTION:
        return ErrorCode.coordinator_not_available, "transactions are not supported yet", -1, "", -1
    if key_type != GROUP:
        return ErrorCode.invalid_request, f"unknown coordinator key type {key_type}", -1, "", -1
    services = ctx.services
    if services.cluster_controller is None:  # a single node coordinates every group
        endpoint = services.endpoint_for(ctx.connection.listener)
        return ErrorCode.none, None, endpoint.node_id, endpoint.host, endpoint.port
    groups = services.groups
    if services.metadata.topic(OFFSETS_TOPIC) is None:
        # Created on first use, as Kafka does; the client asks again.
        try:
            await services.admin.create_topic(groups.offsets_topic(), internal=True)
        except AdminError as exc:
            if exc.kind != "topic_already_exists":
                return ErrorCode.coordinator_not_available, f"{OFFSETS_TOPIC}: {exc}", -1, "", -1
        return ErrorCode.coordinator_not_available, f"{OFFSETS_TOPIC} is being created", -1, "", -1
    info = services.cluster.partition(OFFSETS_TOPIC, groups.partition_of(key))
    if info is None or info.leader == NO_LEADER:
        return ErrorCode.coordinator_not_available, "the group's partition has no leader", -1, "", -1
    for endpoint in services.live_endpoints(ctx.connection.listener):
        if endpoint.node_id == info.leader:
            return ErrorCode.none, None, endpoint.node_id, endpoint.host, endpoint.port
    return ErrorCode.coordinator_not_available, "the coordinator is not reachable", -1, "", -1


@handles(ApiKey.FIND_COORDINATOR, 0, 4)
async def handle_find_coordinator(ctx: RequestContext, request: Any) -> Any:
    key_type = getattr(request, "key_type", GROUP)
    if ctx.version < BATCHED_KEYS_FROM:
        error, message, node_id, host, port = await _lookup(ctx, key_type, request.key)
        return ctx.schema.response(throttle_time=0, error_code=error, error_message=message,
                                   node_id=node_id, host=host, port=port)
    coordinators = []
    for key in request.coordinator_keys:
        error, message, node_id, host, port = await _lookup(ctx, key_type, key)
        coordinators.append(ctx.schema.make("Coordinator", key=key, node_id=node_id, host=host, port=port,
                                            error_code=error, error_message=message))
    return ctx.schema.response(throttle_time=0, coordinators=coordinators)
