"""DescribeConfigs (v1-v4), AlterConfigs (v0-v2) and IncrementalAlterConfigs (v0-v1).

Topic configs are dynamic and persisted; broker configs are static (from the
command line, the properties file or the environment) and read-only here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from grete.cluster.controller import AdminError
from grete.cluster.topic_config import (
    ConfigEntry,
    InvalidConfig,
    apply_incremental,
    describe_topic_configs,
)
from grete.config import describe_broker_configs
from grete.handlers.authorization import AclOperation, ResourceType, authorized, cluster_authorized
from grete.handlers.context import RequestContext
from grete.handlers.registry import handles
from grete.protocol import ApiKey, ErrorCode

TOPIC = 2
BROKER = 4
BROKER_LOGGER = 8


def _entries_to_kio(ctx: RequestContext, entries: Sequence[ConfigEntry], keys: Any, synonyms: bool) -> list[Any]:
    make = ctx.schema.make
    wanted = None if keys is None else set(keys)
    out = []
    for e in entries:
        if wanted is not None and e.name not in wanted:
            continue
        syns = [make("DescribeConfigsSynonym", name=n, value=v, source=src) for n, v, src in e.synonyms] if synonyms else []
        out.append(make("DescribeConfigsResourceResult", name=e.name, value=e.value, read_only=e.read_only,
                        config_source=e.source, is_default=e.source == 5, is_sensitive=e.is_sensitive,
                        synonyms=syns, config_type=e.config_type, documentation=e.documentation))
    return out


def _describe_one(ctx: RequestContext, resource: Any, synonyms: bool, docs: bool) -> Any:
    make = ctx.schema.make
    services = ctx.services
    rtype, name = resource.resource_type, resource.resource_name
    error, message, entries = ErrorCode.none, None, []
    refused = _refusal(ctx, AclOperation.DESCRIBE_CONFIGS, rtype, name)
    if refused is not None:
        error, message = refused, "Authorization failed."
    elif rtype == TOPIC:
        topic = services.metadata.topic(name)
        if topic is None:
            error, message = ErrorCode.unknown_topic_or_partition, f"topic {name!r} does not exist"
        else:
            entries = describe_topic_configs(topic.configs, services.config, include_synonyms=synonyms,
                                             include_documentation=docs)
    elif rtype == BROKER:
        if name not in ("", str(services.node_id)):
            error, message = ErrorCode.invalid_request, f"unknown broker {name!r}"
        else:
            entries = describe_broker_configs(services.config)
    elif rtype == BROKER_LOGGER:
        entries = []
    else:
        error, message = ErrorCode.invalid_request, f"unsupported resource type {rtype}"
    return make("DescribeConfigsResult", error_code=error, error_message=message, resource_type=rtype,
                resource_name=name, configs=_entries_to_kio(ctx, entries, resource.configuration_keys, synonyms))


@handles(ApiKey.DESCRIBE_CONFIGS, 1, 4)
async def handle_describe_configs(ctx: RequestContext, request: Any) -> Any:
    synonyms = getattr(request, "include_synonyms", False)
    docs = getattr(request, "include_documentation", False)
    results = [_describe_one(ctx, r, synonyms, docs) for r in request.resources]
    return ctx.schema.response(throttle_time=0, results=results)


def _alter_result(ctx: RequestContext, resource: Any, error: ErrorCode, message: str | None) -> Any:
    return ctx.schema.make("AlterConfigsResourceResponse", error_code=error, error_message=message,
                           resource_type=resource.resource_type, resource_name=resource.resource_name)


def _refusal(ctx: RequestContext, operation: AclOperation, rtype: int, name: str) -> ErrorCode | None:
    """A topic's configs need the operation on the topic, a broker's on the cluster."""
    if rtype == TOPIC:
        if not authorized(ctx, operation, ResourceType.TOPIC, name):
            return ErrorCode.topic_authorization_failed
    elif rtype in (BROKER, BROKER_LOGGER) and not cluster_authorized(ctx, operation):
        return ErrorCode.cluster_authorization_failed
    return None


async def _alter_one(ctx: RequestContext, resource: Any, validate_only: bool, incremental: bool) -> Any:
    services = ctx.services
    refused = _refusal(ctx, AclOperation.ALTER_CONFIGS, resource.resource_type, resource.resource_name)
    if refused is not None:
        return _alter_result(ctx, resource, refused, "Authorization failed.")
    if resource.resource_type == BROKER:
        return _alter_result(ctx, resource, ErrorCode.invalid_request,
                             "broker settings are static in Grete; restart with --override to change them")
    if resource.resource_type != TOPIC:
        return _alter_result(ctx, resource, ErrorCode.invalid_request, f"unsupported resource type {resource.resource_type}")
    topic = services.metadata.topic(resource.resource_name)
    if topic is None:
        return _alter_result(ctx, resource, ErrorCode.unknown_topic_or_partition, "topic does not exist")
    try:
        if incremental:
            ops = [(c.name, c.config_operation, c.value) for c in resource.configs]
            new_configs: dict[str, str | None] = dict(apply_incremental(topic.configs, ops))
        else:
            # AlterConfigs replaces the whole set: what is not named returns to its default.
            new_configs = {c.name: c.value for c in resource.configs if c.value is not None}
        await services.admin.alter_topic_configs(topic.name, new_configs, validate_only=validate_only)
    except InvalidConfig as exc:
        return _alter_result(ctx, resource, ErrorCode.invalid_config, str(exc))
    except AdminError as exc:
        return _alter_result(ctx, resource, ErrorCode[exc.kind], str(exc))
    return _alter_result(ctx, resource, ErrorCode.none, None)


@handles(ApiKey.ALTER_CONFIGS, 0, 2)
async def handle_alter_configs(ctx: RequestContext, request: Any) -> Any:
    responses = [await _alter_one(ctx, r, request.validate_only, incremental=False) for r in request.resources]
    return ctx.schema.response(throttle_time=0, responses=responses)


@handles(ApiKey.INCREMENTAL_ALTER_CONFIGS, 0, 1)
async def handle_incremental_alter_configs(ctx: RequestContext, request: Any) -> Any:
    responses = [await _alter_one(ctx, r, request.validate_only, incremental=True) for r in request.resources]
    return ctx.schema.response(throttle_time=0, responses=responses)
