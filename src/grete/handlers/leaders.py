"""ElectLeaders (v0-v2), AlterPartitionReassignments and ListPartitionReassignments (v0).

Admin clients send them to the controller; another broker answers NOT_CONTROLLER, as
Kafka does. On a single node the only broker is every partition's preferred leader:
elections are not needed and the only valid reassignment keeps the replicas as they are.
"""

from __future__ import annotations

from typing import Any

from grete.cluster.zookeeper.controller import Deposed
from grete.handlers.authorization import AclOperation, cluster_authorized
from grete.handlers.context import RequestContext
from grete.handlers.registry import handles
from grete.protocol import ApiKey, ErrorCode

PREFERRED = 0
UNCLEAN = 1


def _all_partitions(ctx: RequestContext) -> list[tuple[str, int]]:
    return [(t.name, p) for t in ctx.services.metadata.topics() for p in range(t.partitions)]


@handles(ApiKey.ELECT_LEADERS, 0, 2)
async def handle_elect_leaders(ctx: RequestContext, request: Any) -> Any:
    s = ctx.schema
    election_type = getattr(request, "election_type", PREFERRED)
    wanted = (
        _all_partitions(ctx) if request.topic_partitions is None
        else [(t.topic, p) for t in request.topic_partitions for p in t.partitions]
    )
    controller = ctx.services.cluster_controller
    results: dict[tuple[str, int], str | None]
    if not cluster_authorized(ctx, AclOperation.ALTER):
        return s.response(throttle_time=0, error_code=ErrorCode.cluster_authorization_failed,
                          replica_election_results=[])
    if controller is None:  # a single node
        known = set(_all_partitions(ctx))
        results = {tp: "election_not_needed" if tp in known else "unknown_topic_or_partition" for tp in wanted}
    elif not controller.active:
        return s.response(throttle_time=0, error_code=ErrorCode.not_controller, replica_election_results=[])
    elif election_type not in (UNCLEAN, PREFERRED):
        return s.response(throttle_time=0, error_code=ErrorCode.invalid_request, replica_election_results=[])
    else:
        elect = controller.elect_unclean_leaders if election_type == UNCLEAN else controller.elect_preferred_leaders
        try:
            results = await elect(wanted)
        except Deposed:  # a successor took over while we wrote: the client asks it
            return s.response(throttle_time=0, error_code=ErrorCode.not_controller, replica_election_results=[])
    by_topic: dict[str, list[Any]] = {}
    for (topic, partition), error in results.items():
        by_topic.setdefault(topic, []).append(s.make(
            "PartitionResult", partition_id=partition,
            error_code=ErrorCode.none if error is None else ErrorCode[error],
            error_message=None if error is None else error.replace("_", " "),
        ))
    elections = [s.make("ReplicaElectionResult", topic=t, partition_result=ps) for t, ps in by_topic.items()]
    return s.response(throttle_time=0, error_code=ErrorCode.none, replica_election_results=elections)


@handles(ApiKey.ALTER_PARTITION_REASSIGNMENTS, 0, 0)
async def handle_alter_partition_reassignments(ctx: RequestContext, request: Any) -> Any:
    s = ctx.schema
    controller = ctx.services.cluster_controller
    if not cluster_authorized(ctx, AclOperation.ALTER):
        return s.response(throttle_time=0, error_code=ErrorCode.cluster_authorization_failed,
                          error_message=None, responses=[])
    if controller is not None and not controller.active:
        return s.response(throttle_time=0, error_code=ErrorCode.not_controller, error_message=None, responses=[])
    responses = []
    for topic in request.topics:
        parts = []
        for p in topic.partitions:
            target = None if p.replicas is None else list(p.replicas)
            if controller is not None:
                try:
                    outcome = await controller.reassign(topic.name, p.partition_index, target)
                except Deposed:
                    return s.response(throttle_time=0, error_code=ErrorCode.not_controller,
                                      error_message="the controller changed", responses=[])
            else:
                outcome = _single_node_reassignment(ctx, topic.name, p.partition_index, target)
            error, message = (ErrorCode.none, None) if outcome is None else (ErrorCode[outcome[0]], outcome[1])
            parts.append(s.make("ReassignablePartitionResponse", partition_index=p.partition_index,
                                error_code=error, error_message=message))
        responses.append(s.make("ReassignableTopicResponse", name=topic.name, partitions=parts))
    return s.response(throttle_time=0, error_code=ErrorCode.none, error_message=None, responses=responses)


def _single_node_reassignment(ctx: RequestContext, topic: str, partition: int, target: list[int] | None) -> tuple[str, str] | None:
    meta = ctx.services.metadata.topic(topic)
    if meta is None or not 0 <= partition < meta.partitions:
        return "unknown_topic_or_partition", f"{topic}-{partition} does not exist"
    if target is None:
        return "no_reassignment_in_progress", f"{topic}-{partition} is not being reassigned"
    if target != [ctx.services.node_id]:
        return "invalid_replica_assignment", f"replicas {target} are not live brokers"
    return None


@handles(ApiKey.LIST_PARTITION_REASSIGNMENTS, 0, 0)
async def handle_list_partition_reassignments(ctx: RequestContext, request: Any) -> Any:
    s = ctx.schema
    controller = ctx.services.cluster_controller
    if not cluster_authorized(ctx, AclOperation.DESCRIBE):
        return s.response(throttle_time=0, error_code=ErrorCode.cluster_authorization_failed,
                          error_message=None, topics=[])
    if controller is not None and not controller.active:
        return s.response(throttle_time=0, error_code=ErrorCode.not_controller, error_message=None, topics=[])
    ongoing = {} if controller is None else controller.ongoing_reassignments()
    if request.topics is not None:
        wanted = {(t.name, p) for t in request.topics for p in t.partition_indexes}
        ongoing = {tp: r for tp, r in ongoing.items() if tp in wanted}
    by_topic: dict[str, list[Any]] = {}
    for (topic, partition), r in sorted(ongoing.items()):
        by_topic.setdefault(topic, []).append(s.make(
            "OngoingPartitionReassignment", partition_index=partition, replicas=list(r.replicas),
            adding_replicas=list(r.adding_replicas), removing_replicas=list(r.removing_replicas),
        ))
    topics = [s.make("OngoingTopicReassignment", name=t, partitions=ps) for t, ps in by_topic.items()]
    return s.response(throttle_time=0, error_code=ErrorCode.none, error_message=None, topics=topics)
