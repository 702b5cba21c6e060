"""CreateAcls, DescribeAcls and DeleteAcls (v1-v3), as Kafka's AclApis answers them.

Without an authorizer each answers SECURITY_DISABLED. Creating and deleting need Alter on
the Cluster, describing needs Describe on it (CLUSTER_AUTHORIZATION_FAILED otherwise).
A binding or filter with an UNKNOWN (or, to create, ANY) field is INVALID_REQUEST. Any broker
answers: in a cluster the change goes through ZooKeeper to every broker.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from grete.handlers.authorization import AclOperation, cluster_authorized
from grete.handlers.context import RequestContext
from grete.handlers.errors import error_code_for
from grete.handlers.registry import handles
from grete.protocol import ApiKey, ErrorCode
from grete.security.acl.types import (
    AclBinding,
    AclBindingFilter,
    InvalidAcl,
    ResourcePattern,
    validate_new_binding,
)

NO_AUTHORIZER = "No Authorizer is configured."


def _refusal(ctx: RequestContext, operation: AclOperation) -> tuple[ErrorCode, str] | None:
    if ctx.services.acls is None:
        return ErrorCode.security_disabled, NO_AUTHORIZER
    if not cluster_authorized(ctx, operation):
        return ErrorCode.cluster_authorization_failed, "Cluster authorization failed."
    return None


def _filter(f: Any, name_field: str) -> AclBindingFilter:
    return AclBindingFilter.from_wire(
        f.resource_type_filter, getattr(f, name_field), f.pattern_type_filter,
        f.principal_filter, f.host_filter, f.operation, f.permission_type,
    )  # fmt: skip


@handles(ApiKey.CREATE_ACLS, 1, 3)
async def handle_create_acls(ctx: RequestContext, request: Any) -> Any:
    make = ctx.schema.make
    refused = _refusal(ctx, AclOperation.ALTER)
    if refused is not None:
        error, message = refused
        results = [make("AclCreationResult", error_code=error, error_message=message) for _ in request.creations]
        return ctx.schema.response(throttle_time=0, results=results)
    outcomes: list[tuple[ErrorCode, str | None]] = []
    valid: list[AclBinding] = []
    for c in request.creations:
        binding = AclBinding.from_wire(
            c.resource_type, c.resource_name, c.resource_pattern_type,
            c.principal, c.host, c.operation, c.permission_type,
        )  # fmt: skip
        try:
            validate_new_binding(binding)
        except InvalidAcl as exc:
            outcomes.append((ErrorCode.invalid_request, str(exc)))
            continue
        valid.append(binding)
        outcomes.append((ErrorCode.none, None))
    if valid:
        assert ctx.services.acls is not None
        try:
            await ctx.services.acls.create(valid)
        except InvalidAcl as exc:
            outcomes = [(ErrorCode.invalid_request, str(exc)) if e == ErrorCode.none else (e, m) for e, m in outcomes]
        except Exception as exc:  # noqa: BLE001 - a ZooKeeper or disk failure fails the creations
            code = error_code_for(exc)
            outcomes = [(code, str(exc)) if e == ErrorCode.none else (e, m) for e, m in outcomes]
    results = [make("AclCreationResult", error_code=e, error_message=m) for e, m in outcomes]
    return ctx.schema.response(throttle_time=0, results=results)


@handles(ApiKey.DESCRIBE_ACLS, 1, 3)
async def handle_describe_acls(ctx: RequestContext, request: Any) -> Any:
    s = ctx.schema
    refused = _refusal(ctx, AclOperation.DESCRIBE)
    if refused is not None:
        return s.response(throttle_time=0, error_code=refused[0], error_message=refused[1], resources=[])
    selector = _filter(request, "resource_name_filter")
    try:
        selector.validate()
    except InvalidAcl as exc:
        return s.response(throttle_time=0, error_code=ErrorCode.invalid_request, error_message=str(exc), resources=[])
    assert ctx.services.authorizer is not None
    by_pattern: dict[ResourcePattern, list[Any]] = defaultdict(list)
    for b in ctx.services.authorizer.acls(selector):
        by_pattern[b.pattern].append(s.make(
            "AclDescription", principal=b.entry.principal, host=b.entry.host,
            operation=int(b.entry.operation), permission_type=int(b.entry.permission_type),
        ))  # fmt: skip
    resources = [
        s.make("DescribeAclsResource", resource_type=int(p.resource_type), resource_name=p.name,
               pattern_type=int(p.pattern_type), acls=acls)
        for p, acls in by_pattern.items()
    ]  # fmt: skip
    return s.response(throttle_time=0, error_code=ErrorCode.none, error_message=None, resources=resources)


@handles(ApiKey.DELETE_ACLS, 1, 3)
async def handle_delete_acls(ctx: RequestContext, request: Any) -> Any:
    make = ctx.schema.make
    refused = _refusal(ctx, AclOperation.ALTER)
    if refused is not None:
        results = [make("DeleteAclsFilterResult", error_code=refused[0], error_message=refused[1], matching_acls=[])
                   for _ in request.filters]  # fmt: skip
        return ctx.schema.response(throttle_time=0, filter_results=results)
    filters = [_filter(f, "resource_name_filter") for f in request.filters]
    errors: list[tuple[ErrorCode, str | None]] = []
    for f in filters:
        try:
            f.validate()
            errors.append((ErrorCode.none, None))
        except InvalidAcl as exc:
            errors.append((ErrorCode.invalid_request, str(exc)))
    valid = [f for f, (e, _) in zip(filters, errors, strict=True) if e == ErrorCode.none]
    assert ctx.services.acls is not None
    try:
        deleted = iter(await ctx.services.acls.delete(valid))
    except Exception as exc:  # noqa: BLE001 - a ZooKeeper or disk failure fails every filter
        code = error_code_for(exc)
        errors = [(code, str(exc)) if e == ErrorCode.none else (e, m) for e, m in errors]
        deleted = iter([])
    results = []
    for error, message in errors:
        matched = next(deleted, []) if error == ErrorCode.none else []
        results.append(make(
            "DeleteAclsFilterResult", error_code=error, error_message=message,
            matching_acls=[_matching(ctx, b) for b in matched],
        ))  # fmt: skip
    return ctx.schema.response(throttle_time=0, filter_results=results)


def _matching(ctx: RequestContext, b: AclBinding) -> Any:
    return ctx.schema.make(
        "DeleteAclsMatchingAcl", error_code=ErrorCode.none, error_message=None,
        resource_type=int(b.pattern.resource_type), resource_name=b.pattern.name,
        pattern_type=int(b.pattern.pattern_type), principal=b.entry.principal, host=b.entry.host,
        operation=int(b.entry.operation), permission_type=int(b.entry.permission_type),
    )  # fmt: skip
