"""InitProducerId (v0-v5) for idempotent producers (KIP-98, KIP-360 epoch bumps)."""

from __future__ import annotations

from typing import Any

from grete.handlers.context import RequestContext
from grete.handlers.registry import handles
from grete.protocol import ApiKey, ErrorCode

MAX_EPOCH = 2**15 - 2  # Kafka bumps to a new producer id before the epoch overflows


@handles(ApiKey.INIT_PRODUCER_ID, 0, 5)
async def handle_init_producer_id(ctx: RequestContext, request: Any) -> Any:
    s = ctx.schema
    if request.transactional_id is not None:
        # Transactions need the transaction coordinator, which a later issue adds.
        return s.response(throttle_time=0, error_code=ErrorCode.coordinator_not_available,
                          producer_id=-1, producer_epoch=-1)
    ids = ctx.services.producer_ids
    producer_id = getattr(request, "producer_id", -1)
    epoch = getattr(request, "producer_epoch", -1)
    if producer_id >= 0 and 0 <= epoch < MAX_EPOCH:
        # KIP-360: an idempotent producer bumping its own epoch after an error.
        return s.response(throttle_time=0, error_code=ErrorCode.none, producer_id=producer_id,
                          producer_epoch=epoch + 1)
    return s.response(throttle_time=0, error_code=ErrorCode.none, producer_id=ids.next_id(), producer_epoch=0)
