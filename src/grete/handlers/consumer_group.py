"""ConsumerGroupHeartbeat (v0-v1) and ConsumerGroupDescribe (v0-v1): the KIP-848 protocol.

Topics travel as ids on the wire and as names inside the coordinator.
"""

from __future__ import annotations

import uuid
from typing import Any

from grete.coordinator.group.classic_types import GroupError
from grete.coordinator.group.consumer_types import HeartbeatRequest, TopicAssignment
from grete.handlers.authorization import (
    AclOperation,
    ResourceType,
    authorized,
    authorized_operations,
)
from grete.handlers.context import RequestContext
from grete.handlers.groups import error_code
from grete.handlers.registry import handles
from grete.protocol import AUTHORIZED_OPERATIONS_OMITTED, ApiKey, ErrorCode, to_millis


def _owned(ctx: RequestContext, request: Any) -> dict[str, list[int]] | None:
    if request.topic_partitions is None:
        return None
    owned: dict[str, list[int]] = {}
    for tp in request.topic_partitions:
        topic = ctx.services.metadata.topic_by_id(tp.topic_id)
        if topic is not None:  # a deleted topic's partitions are no longer owned
            owned[topic.name] = list(tp.partitions)
    return owned


def _topic_id(ctx: RequestContext, name: str) -> uuid.UUID | None:
    topic = ctx.services.metadata.topic(name)
    return None if topic is None else topic.topic_id


@handles(ApiKey.CONSUMER_GROUP_HEARTBEAT, 0, 1)
async def handle_consumer_group_heartbeat(ctx: RequestContext, request: Any) -> Any:
    if not authorized(ctx, AclOperation.READ, ResourceType.GROUP, request.group_id):
        return ctx.schema.response(throttle_time=0, error_code=ErrorCode.group_authorization_failed,
                                   error_message=None, member_id=None, member_epoch=-1,
                                   heartbeat_interval=0, assignment=None)
    rebalance = to_millis(request.rebalance_timeout)
    heartbeat = HeartbeatRequest(
        member_id=request.member_id,
        member_epoch=request.member_epoch,
        client_id=ctx.header.client_id or "",
        client_host=ctx.client_host,
        instance_id=request.instance_id,
        rebalance_timeout_ms=rebalance,
        subscribed_topic_names=None if request.subscribed_topic_names is None else list(request.subscribed_topic_names),
        server_assignor=request.server_assignor,
        owned_partitions=_owned(ctx, request),
    )
    result = ctx.services.groups.consumer_heartbeat(request.group_id, heartbeat)
    s = ctx.schema
    if isinstance(result, GroupError):  # a classic group with members keeps its protocol
        return s.response(throttle_time=0, error_code=error_code(result), error_message=None,
                          member_id=None, member_epoch=-1, heartbeat_interval=0, assignment=None)
    assignment = None
    if result.assignment is not None and result.error is None:
        ids = {a.topic: _topic_id(ctx, a.topic) for a in result.assignment}
        assignment = s.make("Assignment", topic_partitions=[
            s.make("TopicPartitions", topic_id=ids[a.topic], partitions=list(a.partitions))
            for a in result.assignment if ids[a.topic] is not None
        ])
    return s.response(
        throttle_time=0,
        error_code=error_code(result.error),
        error_message=None,
        member_id=result.member_id or None,
        member_epoch=result.member_epoch,
        heartbeat_interval=result.heartbeat_interval_ms,
        assignment=assignment,
    )


def _assignment(ctx: RequestContext, assigned: tuple[TopicAssignment, ...]) -> Any:
    return ctx.schema.make("Assignment", topic_partitions=[
        ctx.schema.make("TopicPartitions", topic_id=_topic_id(ctx, a.topic), topic_name=a.topic,
                        partitions=list(a.partitions))
        for a in assigned
    ])


@handles(ApiKey.CONSUMER_GROUP_DESCRIBE, 0, 1)
async def handle_consumer_group_describe(ctx: RequestContext, request: Any) -> Any:
    s = ctx.schema
    described = []
    for group_id in request.group_ids:
        if not authorized(ctx, AclOperation.DESCRIBE, ResourceType.GROUP, group_id):
            described.append(s.make("DescribedGroup", error_code=ErrorCode.group_authorization_failed,
                                    error_message=None, group_id=group_id, group_state="", group_epoch=-1,
                                    assignment_epoch=-1, assignor_name="", members=[],
                                    authorized_operations=AUTHORIZED_OPERATIONS_OMITTED))
            continue
        not_here = ctx.services.groups.not_here(group_id)
        d = None if not_here is not None else ctx.services.groups.consumer_groups.describe(group_id)
        if not_here is not None:
            described.append(s.make("DescribedGroup", error_code=ErrorCode.not_coordinator,
                                    error_message="another broker coordinates this group",
                                    group_id=group_id, group_state="", group_epoch=-1,
                                    assignment_epoch=-1, assignor_name="", members=[],
                                    authorized_operations=AUTHORIZED_OPERATIONS_OMITTED))
            continue
        if d is None:
            described.append(s.make("DescribedGroup", error_code=ErrorCode.group_id_not_found,
                                    error_message=f"group {group_id!r} is not a consumer group",
                                    group_id=group_id, group_state="Dead", group_epoch=-1,
                                    assignment_epoch=-1, assignor_name="", members=[],
                                    authorized_operations=AUTHORIZED_OPERATIONS_OMITTED))
            continue
        members = [
            s.make("Member", member_id=m.member_id, instance_id=m.instance_id, rack_id=None,
                   member_epoch=m.member_epoch, client_id=m.client_id, client_host=m.client_host,
                   subscribed_topic_names=list(m.subscribed_topic_names), subscribed_topic_regex=None,
                   assignment=_assignment(ctx, m.assignment),
                   target_assignment=_assignment(ctx, m.target_assignment))
            for m in d.members
        ]
        described.append(s.make("DescribedGroup", error_code=ErrorCode.none, error_message=None,
                                group_id=group_id, group_state=d.state.value, group_epoch=d.group_epoch,
                                assignment_epoch=d.assignment_epoch, assignor_name=d.assignor_name,
                                members=members, authorized_operations=authorized_operations(
                                    ctx, ResourceType.GROUP, group_id,
                                    requested=bool(request.include_authorized_operations))))
    return s.response(throttle_time=0, groups=described)
