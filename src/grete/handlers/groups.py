"""JoinGroup (v0-v9), SyncGroup (v0-v5), Heartbeat (v0-v4), LeaveGroup (v0-v5): classic groups."""

from __future__ import annotations

from enum import Enum
from typing import Any

from grete.coordinator.group.classic_types import (
    JoinRequest,
    LeavingMember,
    MemberAssignment,
    ProtocolMetadata,
    SyncRequest,
)
from grete.handlers.authorization import AclOperation, ResourceType, authorized
from grete.handlers.context import RequestContext
from grete.handlers.registry import handles
from grete.protocol import ApiKey, ErrorCode, to_millis

KIP_394_FROM = 4  # JoinGroup v4+: a new member must first get its member id


def error_code(error: Enum | None) -> ErrorCode:
    """The Kafka error code of a coordinator error (its value is Kafka's name for it)."""
    return ErrorCode.none if error is None else ErrorCode[str(error.value)]


def _may_read(ctx: RequestContext, group_id: str) -> bool:
    return authorized(ctx, AclOperation.READ, ResourceType.GROUP, group_id)


@handles(ApiKey.JOIN_GROUP, 0, 9)
async def handle_join_group(ctx: RequestContext, request: Any) -> Any:
    if not _may_read(ctx, request.group_id):
        return ctx.schema.response(throttle_time=0, error_code=ErrorCode.group_authorization_failed,
                                   generation_id=-1, protocol_name=None if ctx.version >= 7 else "",
                                   leader="", member_id=request.member_id, members=[])
    session_ms = to_millis(request.session_timeout)
    rebalance = getattr(request, "rebalance_timeout", None)
    join = JoinRequest(
        member_id=request.member_id,
        client_id=ctx.header.client_id or "",
        client_host=ctx.client_host,
        protocol_type=request.protocol_type,
        protocols=tuple(ProtocolMetadata(p.name, bytes(p.metadata)) for p in request.protocols),
        session_timeout_ms=session_ms,
        rebalance_timeout_ms=session_ms if rebalance is None else to_millis(rebalance),
        group_instance_id=getattr(request, "group_instance_id", None),
        require_known_member_id=ctx.version >= KIP_394_FROM,
    )
    result = await ctx.services.groups.join(request.group_id, join)
    members = [
        ctx.schema.make("JoinGroupResponseMember", member_id=m.member_id,
                        group_instance_id=m.group_instance_id, metadata=m.metadata)
        for m in result.members
    ]
    return ctx.schema.response(
        throttle_time=0,
        error_code=error_code(result.error),
        generation_id=result.generation_id,
        protocol_type=result.protocol_type,
        protocol_name=result.protocol_name if result.protocol_name is not None else ("" if ctx.version < 7 else None),
        leader=result.leader,
        skip_assignment=False,
        member_id=result.member_id,
        members=members,
    )


@handles(ApiKey.SYNC_GROUP, 0, 5)
async def handle_sync_group(ctx: RequestContext, request: Any) -> Any:
    if not _may_read(ctx, request.group_id):
        return ctx.schema.response(throttle_time=0, error_code=ErrorCode.group_authorization_failed,
                                   assignment=b"")
    sync = SyncRequest(
        member_id=request.member_id,
        generation_id=request.generation_id,
        group_instance_id=getattr(request, "group_instance_id", None),
        protocol_type=getattr(request, "protocol_type", None),
        protocol_name=getattr(request, "protocol_name", None),
        assignments=tuple(MemberAssignment(a.member_id, bytes(a.assignment)) for a in request.assignments),
    )
    result = await ctx.services.groups.sync(request.group_id, sync)
    return ctx.schema.response(
        throttle_time=0,
        error_code=error_code(result.error),
        protocol_type=result.protocol_type,
        protocol_name=result.protocol_name,
        assignment=result.assignment,
    )


@handles(ApiKey.HEARTBEAT, 0, 4)
async def handle_heartbeat(ctx: RequestContext, request: Any) -> Any:
    if not _may_read(ctx, request.group_id):
        return ctx.schema.response(throttle_time=0, error_code=ErrorCode.group_authorization_failed)
    error = ctx.services.groups.heartbeat(
        request.group_id, request.member_id, request.generation_id,
        getattr(request, "group_instance_id", None),
    )
    return ctx.schema.response(throttle_time=0, error_code=error_code(error))


@handles(ApiKey.LEAVE_GROUP, 0, 5)
async def handle_leave_group(ctx: RequestContext, request: Any) -> Any:
    if not _may_read(ctx, request.group_id):
        return ctx.schema.response(throttle_time=0, error_code=ErrorCode.group_authorization_failed, members=[])
    if ctx.version < 3:
        leaving = [LeavingMember(member_id=request.member_id)]
    else:
        leaving = [LeavingMember(m.member_id, m.group_instance_id) for m in request.members]
    result = ctx.services.groups.leave(request.group_id, leaving)
    if ctx.version < 3:
        error = result.error or (result.members[0][1] if result.members else None)
        return ctx.schema.response(throttle_time=0, error_code=error_code(error))
    members = [
        ctx.schema.make("MemberResponse", member_id=m.member_id, group_instance_id=m.group_instance_id,
                        error_code=error_code(err))
        for m, err in result.members
    ]
    return ctx.schema.response(throttle_time=0, error_code=error_code(result.error), members=members)
