"""FindCoordinator (v0-v4, batched keys from v4).

On a single node this broker coordinates every group. Transactions need the
transaction coordinator, which a later issue adds: until then a transactional id
gets COORDINATOR_NOT_AVAILABLE.
"""

from __future__ import annotations

from typing import Any

from grete.handlers.context import RequestContext
from grete.handlers.registry import handles
from grete.protocol import ApiKey, ErrorCode

GROUP = 0
TRANSACTION = 1
BATCHED_KEYS_FROM = 4


def _lookup(ctx: RequestContext, key_type: int) -> tuple[ErrorCode, str | None, int, str, int]:
    """(error, message, node id, host, port) of the coordinator for a key of ``key_type``."""
    if key_type == GROUP and not ctx.services.groups_available:
        return ErrorCode.coordinator_not_available, "no group coordinator in cluster mode yet", -1, "", -1
    if key_type == GROUP:
        endpoint = ctx.services.endpoint_for(ctx.connection.listener)
        return ErrorCode.none, None, endpoint.node_id, endpoint.host, endpoint.port
    if key_type == TRANSACTION:
        return ErrorCode.coordinator_not_available, "transactions are not supported yet", -1, "", -1
    return ErrorCode.invalid_request, f"unknown coordinator key type {key_type}", -1, "", -1


@handles(ApiKey.FIND_COORDINATOR, 0, 4)
async def handle_find_coordinator(ctx: RequestContext, request: Any) -> Any:
    key_type = getattr(request, "key_type", GROUP)
    error, message, node_id, host, port = _lookup(ctx, key_type)
    if ctx.version < BATCHED_KEYS_FROM:
        return ctx.schema.response(throttle_time=0, error_code=error, error_message=message,
                                   node_id=node_id, host=host, port=port)
    coordinators = [
        ctx.schema.make("Coordinator", key=key, node_id=node_id, host=host, port=port,
                        error_code=error, error_message=message)
        for key in request.coordinator_keys
    ]
    return ctx.schema.response(throttle_time=0, coordinators=coordinators)
