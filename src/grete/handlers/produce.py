"""Produce (v3+): validate each partition's batches by header and CRC, append, answer.

Appends run before the handler's first await, so pipelined produce requests on
one connection are appended in the order they arrived.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace

from grete.handlers.authorization import AclOperation, ResourceType, authorized
from grete.handlers.context import RequestContext
from grete.handlers.errors import error_code_for
from grete.handlers.registry import handles
from grete.partition.partition import NotLeader, Partition
from grete.partition.replica_manager import ReplicaManager
from grete.protocol import ApiKey, EncodedResponse, ErrorCode, RequestHeader, parse_header
from grete.protocol.produce_request import (
    PartitionProduceData,
    ProduceRequest,
    decode_produce_request,
)
from grete.protocol.produce_response import ProducedPartition, encode_produce_response

VALID_ACKS = (-1, 0, 1)


@dataclass(slots=True)
class _Pending:
    """An acks=all append waiting for the ISR to have it (a delayed produce)."""

    partition: Partition
    required_offset: int
    answer: ProducedPartition  # once the ISR has the batch


def _produce_partition(ctx: RequestContext, topic: str, data: PartitionProduceData, acks: int) -> ProducedPartition | _Pending:
    replicas = ctx.services.replicas
    partition = replicas.get(topic, data.index)
    if partition is None:
        return ProducedPartition(data.index, ErrorCode.unknown_topic_or_partition)
    if not partition.is_leader or replicas.fence is not None and replicas.fence():
        return ProducedPartition(data.index, ErrorCode.not_leader_or_follower)
    if data.records is None:
        return ProducedPartition(data.index, ErrorCode.invalid_record)
    min_isr = partition.settings.min_insync_replicas
    if acks == -1 and len(partition.isr) < min_isr:
        return ProducedPartition(data.index, ErrorCode.not_enough_replicas,
            error_message=f"{len(partition.isr)} in-sync replicas, min.insync.replicas is {min_isr}",
        )
    try:
        info = replicas.append(partition, data.records)
    except Exception as exc:  # noqa: BLE001 - each failure maps to this partition's error code
        return ProducedPartition(data.index, error_code_for(exc), error_message=str(exc),
            log_start_offset=partition.log.log_start_offset,
        )
    answer = ProducedPartition(
        data.index, ErrorCode.none, info.first_offset, info.log_append_time, info.log_start_offset
    )
    if acks == -1 and partition.high_watermark <= info.last_offset:
        return _Pending(partition, info.last_offset + 1, answer)
    return answer


async def _complete(replicas: ReplicaManager, index: int, pending: _Pending, deadline: float) -> ProducedPartition:
    """acks=all: answer once the high watermark passes the batch, as Kafka's DelayedProduce."""
    partition = pending.partition
    try:
        async with asyncio.timeout_at(deadline):
            await replicas.wait_committed(partition, pending.required_offset)
    except TimeoutError:
        return replace(pending.answer, error_code=ErrorCode.request_timed_out)
    except NotLeader:
        return ProducedPartition(index, ErrorCode.not_leader_or_follower)
    if len(partition.isr) < partition.settings.min_insync_replicas:
        # Replicated, but the ISR shrank below the minimum meanwhile: Kafka's answer.
        return ProducedPartition(index, ErrorCode.not_enough_replicas_after_append)
    return pending.answer


def _legacy_version(frame: bytearray, header: RequestHeader) -> bytes:
    """Produce v0-v2 (message formats 0 and 1) are advertised, as Kafka 4 does, only so that
    librdkafka before 2.11 enables compression; they are answered UNSUPPORTED_VERSION."""
    _, body_at = parse_header(frame)
    request = decode_produce_request(frame, body_at, header.api_version)
    refused = [
        (t.name, [ProducedPartition(d.index, ErrorCode.unsupported_version) for d in t.partition_data])
        for t in request.topic_data
    ]
    return encode_produce_response(header.correlation_id, header.api_version, refused).to_bytes()


@handles(ApiKey.PRODUCE, 3, 11, decoder=decode_produce_request, advertised_min=0, legacy_error=_legacy_version)
async def handle_produce(ctx: RequestContext, request: ProduceRequest) -> EncodedResponse | None:
    acks = request.acks
    produced: list[tuple[str, list[ProducedPartition | _Pending]]] = []
    waiting = False
    checked = ctx.services.authorizer is not None  # None: nothing to check on the hot path
    quotas = ctx.services.client_quotas
    measured = quotas is not None and quotas.produce.active()  # else: no quota to measure
    appended = 0
    refused_txn = checked and request.transactional_id is not None and not authorized(
        ctx, AclOperation.WRITE, ResourceType.TRANSACTIONAL_ID, request.transactional_id)
    for topic in request.topic_data:
        parts: list[ProducedPartition | _Pending]
        if acks not in VALID_ACKS:
            parts = [ProducedPartition(d.index, ErrorCode.invalid_required_acks) for d in topic.partition_data]
        elif refused_txn:
            parts = [ProducedPartition(d.index, ErrorCode.transactional_id_authorization_failed)
                     for d in topic.partition_data]
        elif checked and not authorized(ctx, AclOperation.WRITE, ResourceType.TOPIC, topic.name):
            parts = [ProducedPartition(d.index, ErrorCode.topic_authorization_failed)
                     for d in topic.partition_data]
        else:
            parts = [_produce_partition(ctx, topic.name, d, acks) for d in topic.partition_data]
            waiting = waiting or any(isinstance(p, _Pending) for p in parts)
            if measured:
                appended += _bytes_appended(topic.partition_data, parts)
        produced.append((topic.name, parts))
    throttle_ms = 0
    if measured:
        assert quotas is not None
        throttle_ms = quotas.produce.record(ctx.connection.principal, ctx.header.client_id, appended)
        ctx.throttle(throttle_ms)  # acks=0 too: the muted channel is its only throttle
    if acks == 0:
        return None  # acks=0: the client expects no response at all
    if waiting:  # every append is done: now wait, so pipelined requests keep their order
        deadline = asyncio.get_running_loop().time() + max(request.timeout_ms, 0) / 1000
        for _, parts in produced:
            for i, part in enumerate(parts):
                if isinstance(part, _Pending):
                    parts[i] = await _complete(ctx.services.replicas, part.partition.tp.partition, part, deadline)
    answered = [
        (name, [part for part in parts if not isinstance(part, _Pending)])
        for name, parts in produced
    ]  # every _Pending has been replaced by its answer
    return encode_produce_response(ctx.header.correlation_id, ctx.version, answered, throttle_ms)


def _bytes_appended(data: list[PartitionProduceData], parts: list[ProducedPartition | _Pending]) -> int:
    """The record bytes of the partitions that were appended, which producer_byte_rate
    counts (as Kafka's numBytesAppended)."""
    total = 0
    for d, part in zip(data, parts, strict=True):
        if d.records is not None and (isinstance(part, _Pending) or part.error_code == ErrorCode.none):
            total += len(d.records)
    return total
