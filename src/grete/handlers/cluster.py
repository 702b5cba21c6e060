"""DescribeCluster (v0-v1) and DescribeLogDirs (v1-v4).

DescribeLogDirs reports each hosted partition's size: the bytes of its segments'
log files, as Kafka counts them (segments already deleted are not counted, even
before their files are removed). Asked with Grete's tag (protocol/log_dirs.py), it
also gives each partition's number of segments.
"""

from __future__ import annotations

import shutil
from typing import Any

from grete.handlers.authorization import (
    CLUSTER_NAME,
    AclOperation,
    ResourceType,
    authorized_operations,
    cluster_authorized,
)
from grete.handlers.context import RequestContext
from grete.handlers.registry import handles
from grete.protocol import ApiKey, ErrorCode
from grete.protocol.log_dirs import SegmentCountSchema, decode_request


@handles(ApiKey.DESCRIBE_CLUSTER, 0, 1)
async def handle_describe_cluster(ctx: RequestContext, request: Any) -> Any:
    services = ctx.services
    brokers = [
        ctx.schema.make(
            "DescribeClusterBroker", broker_id=e.node_id, host=e.host, port=e.port, rack=e.rack,
        )
        for e in services.live_endpoints(ctx.connection.listener)
    ]
    return ctx.schema.response(
        throttle_time=0,
        error_code=ErrorCode.none,
        error_message=None,
        endpoint_type=getattr(request, "endpoint_type", 1),
        cluster_id=services.cluster_id,
        controller_id=services.cluster.controller_id,
        brokers=brokers,
        cluster_authorized_operations=authorized_operations(
            ctx, ResourceType.CLUSTER, CLUSTER_NAME,
            requested=bool(request.include_cluster_authorized_operations),
        ),
    )


def _wanted(request: Any) -> dict[str, set[int]] | None:
    if request.topics is None:
        return None
    return {t.topic: set(t.partitions) for t in request.topics}


@handles(ApiKey.DESCRIBE_LOG_DIRS, 1, 4, decoder=decode_request)
async def handle_describe_log_dirs(ctx: RequestContext, request: Any) -> Any:
    with_segments = bool(getattr(request, "include_segment_count", False))
    if not cluster_authorized(ctx, AclOperation.DESCRIBE):
        return ctx.schema.response(throttle_time=0, error_code=ErrorCode.cluster_authorization_failed, results=[])
    s: Any = SegmentCountSchema(ctx.version) if with_segments else ctx.schema
    wanted = _wanted(request)
    by_topic: dict[str, list[Any]] = {}
    for partition in ctx.services.replicas:
        tp = partition.tp
        if wanted is not None and tp.partition not in wanted.get(tp.topic, ()):
            continue
        counts = {"segment_count": partition.log.num_segments} if with_segments else {}
        by_topic.setdefault(tp.topic, []).append(
            s.make("DescribeLogDirsPartition", partition_index=tp.partition,
                   partition_size=partition.log.size_bytes, offset_lag=0, is_future_key=False,
                   **counts)
        )
    topics = [s.make("DescribeLogDirsTopic", name=name, partitions=parts) for name, parts in sorted(by_topic.items())]
    usage = shutil.disk_usage(ctx.services.log_dir)
    result = s.make("DescribeLogDirsResult", error_code=ErrorCode.none, log_dir=ctx.services.log_dir,
                    topics=topics, total_bytes=usage.total, usable_bytes=usage.free)
    return s.response(throttle_time=0, error_code=ErrorCode.none, results=[result])
