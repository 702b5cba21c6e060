"""Produce (v3+): validate each partition's batches by header and CRC, append, answer.

Appends run before the handler's first await, so pipelined produce requests on
one connection are appended in the order they arrived.
"""

from __future__ import annotations

from typing import Any

from grete.handlers.context import RequestContext
from grete.handlers.errors import error_code_for
from grete.handlers.registry import handles
from grete.protocol import ApiKey, ErrorCode, RequestHeader, parse_header
from grete.protocol.produce_request import (
    PartitionProduceData,
    ProduceRequest,
    decode_produce_request,
    encode_legacy_produce_error,
)

VALID_ACKS = (-1, 0, 1)


def _partition_response(ctx: RequestContext, index: int, error: ErrorCode, **fields: Any) -> Any:
    values: dict[str, Any] = {"base_offset": -1, "log_append_time": -1, "log_start_offset": -1}
    values.update(fields)
    return ctx.schema.make(
        "PartitionProduceResponse", index=index, error_code=error, record_errors=[], **values
    )


def _produce_partition(ctx: RequestContext, topic: str, data: PartitionProduceData) -> Any:
    replicas = ctx.services.replicas
    partition = replicas.get(topic, data.index)
    if partition is None:
        return _partition_response(ctx, data.index, ErrorCode.unknown_topic_or_partition)
    if data.records is None:
        return _partition_response(ctx, data.index, ErrorCode.invalid_record)
    try:
        info = replicas.append(partition, data.records)
    except Exception as exc:  # noqa: BLE001 - each failure maps to this partition's error code
        return _partition_response(
            ctx, data.index, error_code_for(exc), error_message=str(exc),
            log_start_offset=partition.log.log_start_offset,
        )
    return _partition_response(
        ctx,
        data.index,
        ErrorCode.none,
        base_offset=info.first_offset,
        log_append_time=info.log_append_time,
        log_start_offset=info.log_start_offset,
    )


def _legacy_version(frame: bytearray, header: RequestHeader) -> bytes:
    """Produce v0-v2 (message formats 0 and 1) are advertised, as Kafka 4 does, only so that
    librdkafka before 2.11 enables compression; they are answered UNSUPPORTED_VERSION."""
    _, body_at = parse_header(frame)
    request = decode_produce_request(frame, body_at, header.api_version)
    return encode_legacy_produce_error(
        header.correlation_id, header.api_version, request, ErrorCode.unsupported_version
    )


@handles(ApiKey.PRODUCE, 3, 11, decoder=decode_produce_request, advertised_min=0, legacy_error=_legacy_version)
async def handle_produce(ctx: RequestContext, request: ProduceRequest) -> Any:
    acks = request.acks
    responses = []
    for topic in request.topic_data:
        if acks not in VALID_ACKS:
            parts = [_partition_response(ctx, d.index, ErrorCode.invalid_required_acks) for d in topic.partition_data]
        else:
            parts = [_produce_partition(ctx, topic.name, d) for d in topic.partition_data]
        responses.append(ctx.schema.make("TopicProduceResponse", name=topic.name, partition_responses=parts))
    if acks == 0:
        return None  # acks=0: the client expects no response at all
    # Single node: the leader is the whole ISR, so acks=all is satisfied once appended.
    return ctx.schema.response(responses=responses, throttle_time=0)
