"""ListGroups (v0-v5), DescribeGroups (v0-v5) and DeleteGroups (v0-v2)."""

from __future__ import annotations

from typing import Any

from grete.handlers.authorization import (
    AclOperation,
    ResourceType,
    authorized,
    authorized_operations,
    cluster_authorized,
)
from grete.handlers.context import RequestContext
from grete.handlers.groups import error_code
from grete.handlers.registry import handles
from grete.protocol import AUTHORIZED_OPERATIONS_OMITTED, ApiKey, ErrorCode


@handles(ApiKey.LIST_GROUPS, 0, 5)
async def handle_list_groups(ctx: RequestContext, request: Any) -> Any:
    states = {s.lower() for s in getattr(request, "states_filter", ())}
    types = {t.lower() for t in getattr(request, "types_filter", ())}
    every = cluster_authorized(ctx, AclOperation.DESCRIBE)  # else only the describable groups
    groups = [
        ctx.schema.make("ListedGroup", group_id=g.group_id, protocol_type=g.protocol_type,
                        group_state=g.state.value, group_type=getattr(g, "group_type", "classic"))
        for g in ctx.services.groups.list_groups()
        if (every or authorized(ctx, AclOperation.DESCRIBE, ResourceType.GROUP, g.group_id))
        and (not states or g.state.value.lower() in states)
        and (not types or getattr(g, "group_type", "classic") in types)
    ]
    return ctx.schema.response(throttle_time=0, error_code=ErrorCode.none, groups=groups)


@handles(ApiKey.DESCRIBE_GROUPS, 0, 5)
async def handle_describe_groups(ctx: RequestContext, request: Any) -> Any:
    with_operations = bool(getattr(request, "include_authorized_operations", False))
    described = []
    for group_id in request.groups:
        not_here = ctx.services.groups.not_here(group_id)
        if not authorized(ctx, AclOperation.DESCRIBE, ResourceType.GROUP, group_id):
            described.append(ctx.schema.make(
                "DescribedGroup", error_code=ErrorCode.group_authorization_failed, group_id=group_id,
                group_state="", protocol_type="", protocol_data="", members=[],
                authorized_operations=AUTHORIZED_OPERATIONS_OMITTED,
            ))
            continue
        if not_here is not None:
            described.append(ctx.schema.make(
                "DescribedGroup", error_code=error_code(not_here), group_id=group_id, group_state="",
                protocol_type="", protocol_data="", members=[],
                authorized_operations=AUTHORIZED_OPERATIONS_OMITTED,
            ))
            continue
        d = ctx.services.groups.describe(group_id)
        members = [
            ctx.schema.make("DescribedGroupMember", member_id=m.member_id, group_instance_id=m.group_instance_id,
                            client_id=m.client_id, client_host=m.client_host, member_metadata=m.metadata,
                            member_assignment=m.assignment)
            for m in d.members
        ]
        described.append(ctx.schema.make(
            "DescribedGroup", error_code=ErrorCode.none, group_id=group_id, group_state=d.state.value,
            protocol_type=d.protocol_type, protocol_data=d.protocol, members=members,
            authorized_operations=authorized_operations(
                ctx, ResourceType.GROUP, group_id, requested=with_operations),
        ))
    return ctx.schema.response(throttle_time=0, groups=described)


@handles(ApiKey.DELETE_GROUPS, 0, 2)
async def handle_delete_groups(ctx: RequestContext, request: Any) -> Any:
    results = [
        ctx.schema.make("DeletableGroupResult", group_id=g,
                        error_code=error_code(ctx.services.groups.delete_group(g))
                        if authorized(ctx, AclOperation.DELETE, ResourceType.GROUP, g)
                        else ErrorCode.group_authorization_failed)
        for g in request.groups_names
    ]
    return ctx.schema.response(throttle_time=0, results=results)
