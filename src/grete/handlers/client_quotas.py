"""DescribeClientQuotas (v0-v1) and AlterClientQuotas (v0-v1), KIP-546.

Quotas are configuration here; enforcement (throttling) comes with issue 6. Any broker
answers both: a describe reads this broker's store, an alteration writes through it (in a
cluster, ZooKeeper, which tells the other brokers).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from grete.handlers.authorization import AclOperation, cluster_authorized
from grete.handlers.context import RequestContext
from grete.handlers.errors import error_code_for
from grete.handlers.registry import handles
from grete.protocol import ApiKey, ErrorCode
from grete.security.quota.entity import (
    QuotaEntity,
    QuotaOp,
    QuotaRequestError,
    check_ops,
    parse_entity,
)
from grete.security.quota.filter import QuotaFilter


@handles(ApiKey.DESCRIBE_CLIENT_QUOTAS, 0, 1)
async def handle_describe_client_quotas(ctx: RequestContext, request: Any) -> Any:
    make = ctx.schema.make
    if not cluster_authorized(ctx, AclOperation.DESCRIBE_CONFIGS):
        return ctx.schema.response(throttle_time=0, error_code=ErrorCode.cluster_authorization_failed,
                                   error_message="Cluster authorization failed.", entries=None)
    components = [(c.entity_type, c.match_type, c.match) for c in request.components]
    try:
        quota_filter = QuotaFilter.parse(components, request.strict)
    except QuotaRequestError as exc:
        # Kafka answers a bad filter with the error alone and null entries.
        return ctx.schema.response(
            throttle_time=0, error_code=ErrorCode[exc.kind], error_message=str(exc), entries=None
        )
    entries = [
        make(
            "EntryData",
            entity=[make("EntityData", entity_type=t, entity_name=n) for t, n in entity.parts],
            values=[make("ValueData", key=k, value=v) for k, v in sorted(values.items())],
        )
        for entity, values in quota_filter.select(ctx.services.quotas.quotas())
    ]
    return ctx.schema.response(
        throttle_time=0, error_code=ErrorCode.none, error_message=None, entries=entries
    )


@handles(ApiKey.ALTER_CLIENT_QUOTAS, 0, 1)
async def handle_alter_client_quotas(ctx: RequestContext, request: Any) -> Any:
    if not cluster_authorized(ctx, AclOperation.ALTER_CONFIGS):
        return ctx.schema.response(throttle_time=0, entries=[
            _alter_result(ctx, e, ErrorCode.cluster_authorization_failed, "Cluster authorization failed.")
            for e in request.entries
        ])
    checked: list[tuple[QuotaEntity, dict[str, float | None]] | QuotaRequestError] = []
    for entry in request.entries:
        try:
            entity = parse_entity((e.entity_type, e.entity_name) for e in entry.entity)
            ops = [QuotaOp(op.key, float(op.value), op.remove) for op in entry.ops]
            checked.append((entity, check_ops(entity, ops)))
        except QuotaRequestError as exc:
            checked.append(exc)
    # An entity named twice is refused in every entry naming it: which should win is unclear.
    seen = Counter(c[0] for c in checked if not isinstance(c, QuotaRequestError))
    results = []
    for entry, outcome in zip(request.entries, checked, strict=True):
        error, message = ErrorCode.none, None
        if isinstance(outcome, QuotaRequestError):
            error, message = ErrorCode[outcome.kind], str(outcome)
        elif seen[outcome[0]] > 1:
            error, message = ErrorCode.invalid_request, f"Ignoring duplicate entity {outcome[0]}"
        elif not request.validate_only:
            try:
                await ctx.services.quotas.alter(*outcome)
            except Exception as exc:  # noqa: BLE001 - a ZooKeeper or disk failure fails this entry only
                error, message = error_code_for(exc), str(exc)
        results.append(_alter_result(ctx, entry, error, message))
    return ctx.schema.response(throttle_time=0, entries=results)


def _alter_result(ctx: RequestContext, entry: Any, error: ErrorCode, message: str | None) -> Any:
    make = ctx.schema.make
    entity = [
        make("EntityData", entity_type=e.entity_type, entity_name=e.entity_name)
        for e in entry.entity
    ]
    return make("EntryData", error_code=error, error_message=message, entity=entity)
