"""Fetch (v4-v16): long polling, byte limits, incremental fetch sessions (KIP-227)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from grete.handlers.authorization import AclOperation, ResourceType, authorized, cluster_authorized
from grete.handlers.context import RequestContext
from grete.handlers.errors import error_code_for, leader_epoch_error
from grete.handlers.registry import handles
from grete.partition.delayed_fetch import DelayedFetch
from grete.partition.fetch_session import (
    FetchPlan,
    PartitionFetchState,
    should_include,
)
from grete.partition.topic_partition import TopicPartition
from grete.protocol import ApiKey, EncodedResponse, ErrorCode, to_millis
from grete.protocol.fetch_response import FetchedPartition, FetchedTopic, encode_fetch_response
from grete.security.quota.manager import ClientQuotaManager

TOPIC_IDS_FROM = 13  # Fetch v13+ names topics by id


@dataclass(slots=True)
class PartitionResult:
    tp: TopicPartition
    topic_id: uuid.UUID | None
    error: ErrorCode
    high_watermark: int = -1
    log_start_offset: int = -1
    last_stable_offset: int = -1
    records: bytes | memoryview = b""
    state: PartitionFetchState | None = None


def _requested(ctx: RequestContext, request: Any) -> tuple[list[tuple[TopicPartition, PartitionFetchState]], list[PartitionResult]]:
    """The request's partitions, resolving topic ids; unknown ids become immediate errors."""
    by_id = ctx.version >= TOPIC_IDS_FROM
    metadata = ctx.services.metadata
    requested: list[tuple[TopicPartition, PartitionFetchState]] = []
    unknown: list[PartitionResult] = []
    for topic in request.topics:
        if by_id:
            meta = metadata.topic_by_id(topic.topic_id)
            if meta is None:
                for p in topic.partitions:
                    tp = TopicPartition("", p.partition)
                    unknown.append(PartitionResult(tp, topic.topic_id, ErrorCode.unknown_topic_id))
                continue
            name, topic_id = meta.name, topic.topic_id
        else:
            name, topic_id = topic.topic, None
        for p in topic.partitions:
            state = PartitionFetchState(
                p.fetch_offset, p.partition_max_bytes, topic_id,
                current_leader_epoch=getattr(p, "current_leader_epoch", -1),
            )
            requested.append((TopicPartition(name, p.partition), state))
    return requested, unknown


def _forgotten(ctx: RequestContext, request: Any) -> list[TopicPartition]:
    forgotten: list[TopicPartition] = []
    for topic in getattr(request, "forgotten_topics_data", ()):
        if ctx.version >= TOPIC_IDS_FROM:
            meta = ctx.services.metadata.topic_by_id(topic.topic_id)
            if meta is None:
                continue
            name = meta.name
        else:
            name = topic.topic
        forgotten.extend(TopicPartition(name, p) for p in topic.partitions)
    return forgotten


def replica_id_of(request: Any) -> int:
    """The fetching follower's broker id (v15+ in replica_state), or -1 for a consumer."""
    state = getattr(request, "replica_state", None)
    if state is not None:
        return int(state.replica_id)
    return int(getattr(request, "replica_id", -1))


def _denied(ctx: RequestContext, plan: FetchPlan, replica: int) -> set[str]:
    """Topics this fetch may not read: Read on each for a consumer; ClusterAction on the
    cluster for a follower (every topic refused without it, as Kafka does)."""
    if ctx.services.authorizer is None:
        return set()
    topics = {tp.topic for tp, _ in plan.partitions}
    if replica >= 0:
        return set() if cluster_authorized(ctx, AclOperation.CLUSTER_ACTION) else topics
    return {t for t in topics if not authorized(ctx, AclOperation.READ, ResourceType.TOPIC, t)}


def _read_all(
    ctx: RequestContext, plan: FetchPlan, max_bytes: int, replica: int = -1,
    denied: set[str] | frozenset[str] = frozenset(),
) -> tuple[list[PartitionResult], int]:
    """Read every planned partition within the byte limits; returns results and bytes read.
    A follower (`replica` >= 0) reads up to the log end and reports its position."""
    results: list[PartitionResult] = []
    remaining = max_bytes
    total = 0
    first_with_data = True
    replicas = ctx.services.replicas
    for tp, state in plan.partitions:
        if denied and tp.topic in denied:
            results.append(PartitionResult(tp, state.topic_id, ErrorCode.topic_authorization_failed, state=state))
            continue
        partition = replicas.get(tp.topic, tp.partition)
        if partition is None:
            code = ErrorCode.unknown_topic_id if state.topic_id is not None else ErrorCode.unknown_topic_or_partition
            results.append(PartitionResult(tp, state.topic_id, code, state=state))
            continue
        refused = leader_epoch_error(partition, state.current_leader_epoch)
        if refused is not None:
            results.append(PartitionResult(tp, state.topic_id, refused, state=state))
            continue
        if replica >= 0 and partition.update_follower(replica, state.fetch_offset):
            ctx.services.replicas.isr_candidate(partition, replica)
        offsets = partition.offsets()
        result = PartitionResult(
            tp, state.topic_id, ErrorCode.none,
            offsets.high_watermark, offsets.log_start_offset, offsets.last_stable_offset,
            state=state,
        )
        limit = min(state.max_bytes, remaining)
        try:
            if limit > 0 or first_with_data:
                read = partition.read(
                    state.fetch_offset, max(limit, 0), min_one_batch=first_with_data,
                    up_to_log_end=replica >= 0,
                )
                result.records = read.records
        except Exception as exc:  # noqa: BLE001 - mapped to a per-partition error code
            result.error = error_code_for(exc)
        if result.records:
            first_with_data = False
            total += len(result.records)
            remaining -= len(result.records)
        results.append(result)
    return results, total


def _response(
    ctx: RequestContext, plan: FetchPlan, results: list[PartitionResult], throttle_ms: int = 0
) -> EncodedResponse:
    """The response frame, hand-encoded around the record bytes (no copy of them)."""
    topics: dict[tuple[str, uuid.UUID | None], FetchedTopic] = {}
    for r in results:
        if r.state is not None and not should_include(
            r.state,
            has_records=bool(r.records),
            error=r.error != ErrorCode.none,
            high_watermark=r.high_watermark,
            log_start_offset=r.log_start_offset,
            last_stable_offset=r.last_stable_offset,
            incremental=plan.incremental,
        ):
            continue
        key = (r.tp.topic, r.topic_id)
        topic = topics.get(key)
        if topic is None:
            topic = topics[key] = FetchedTopic(r.tp.topic, r.topic_id, [])
        topic.partitions.append(
            FetchedPartition(
                r.tp.partition, r.error, r.high_watermark, r.last_stable_offset,
                r.log_start_offset, r.records,
            )
        )  # fmt: skip
    return encode_fetch_response(
        ctx.header.correlation_id, ctx.version, throttle_ms=throttle_ms,
        error_code=ErrorCode.none, session_id=plan.response_session_id,
        topics=list(topics.values()),
    )  # fmt: skip


@handles(ApiKey.FETCH, 4, 16)
async def handle_fetch(ctx: RequestContext, request: Any) -> EncodedResponse:
    requested, unknown = _requested(ctx, request)
    session_id = getattr(request, "session_id", 0)
    epoch = getattr(request, "session_epoch", -1)
    plan = ctx.services.fetch_sessions.plan(
        session_id, epoch, requested, _forgotten(ctx, request), sessions_allowed=ctx.version >= 7
    )
    if plan.error is not None:
        return encode_fetch_response(
            ctx.header.correlation_id, ctx.version, throttle_ms=0,
            error_code=ErrorCode[plan.error.value], session_id=0, topics=[],
        )  # fmt: skip
    max_bytes = getattr(request, "max_bytes", 2**31 - 1)
    fetch_max = ctx.services.config.fetch_max_bytes
    max_bytes = min(max_bytes, fetch_max) if max_bytes > 0 else fetch_max
    replica = replica_id_of(request)
    quota = _consumer_quota(ctx, replica)
    if quota is not None:  # at most what the quota window allows, else every fetch is throttled
        bound = quota.max_value_in_window(ctx.connection.principal, ctx.header.client_id)
        max_bytes = max_bytes if bound is None else min(max_bytes, max(int(bound), 1))
    denied = _denied(ctx, plan, replica)
    results, total = _read_all(ctx, plan, max_bytes, replica, denied)
    max_wait_ms = to_millis(request.max_wait)
    has_error = any(r.error != ErrorCode.none for r in results) or bool(unknown)
    min_bytes = min(request.min_bytes, max_bytes)
    if total < min_bytes and max_wait_ms > 0 and not has_error and plan.partitions:
        delayed = DelayedFetch(
            (tp for tp, _ in plan.partitions), min_bytes, total, replica=replica >= 0
        )
        purgatory = ctx.services.replicas.purgatory
        purgatory.watch(delayed)
        try:
            await delayed.wait(max_wait_ms / 1000.0)
        finally:
            purgatory.unwatch(delayed)
        results, total = _read_all(ctx, plan, max_bytes, replica, denied)
    throttle_ms, deliver = (0, True) if quota is None else _fetch_throttle(ctx, quota, total)
    if not deliver:  # KIP-219: no records now, the channel muted, then a retry
        return _response(ctx, plan, [], throttle_ms)
    return _response(ctx, plan, results + unknown, throttle_ms)


def _consumer_quota(ctx: RequestContext, replica: int) -> ClientQuotaManager | None:
    """The consumer_byte_rate manager when some quota sets it (followers are not client-quota'd)."""
    quotas = ctx.services.client_quotas
    if quotas is None or replica >= 0 or not quotas.fetch.active():
        return None
    return quotas.fetch


def _fetch_throttle(ctx: RequestContext, quota: ClientQuotaManager, total: int) -> tuple[int, bool]:
    """A consumer's consumer_byte_rate throttle for the bytes it would get, and whether to
    send them: (throttle_time_ms, deliver).

    As Kafka, a client already over its quota gets an empty response, and the bytes are
    not counted. Unlike Kafka, a client within its quota gets its data even when this one
    response takes it over (then is throttled): otherwise a record batch larger than the
    quota window would be refused forever and the consumer starve."""
    principal, client_id = ctx.connection.principal, ctx.header.client_id
    deliver = not quota.over_quota(principal, client_id)
    throttle_ms = quota.record(principal, client_id, total)
    if throttle_ms > 0 and not deliver:
        quota.unrecord(principal, client_id, total)
    ctx.throttle(throttle_ms)
    return throttle_ms, deliver or throttle_ms == 0
