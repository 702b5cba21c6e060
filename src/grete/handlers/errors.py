"""Exceptions and states from the layers below → Kafka error codes. The lower layers know no codes."""

from __future__ import annotations

import logging

from grete.cluster.controller import AdminError
from grete.partition.partition import NotLeader, Partition, PolicyViolation
from grete.protocol import ErrorCode
from grete.records.validation import RecordsError, RecordsErrorKind
from grete.storage.errors import (
    InvalidProducerEpoch,
    LogDirFailure,
    OffsetOutOfRange,
    OutOfOrderSequence,
)

log = logging.getLogger("grete.handlers")

_RECORDS = {
    RecordsErrorKind.CORRUPT: ErrorCode.corrupt_message,
    RecordsErrorKind.INVALID: ErrorCode.invalid_record,
    RecordsErrorKind.TOO_LARGE: ErrorCode.message_too_large,
    RecordsErrorKind.UNSUPPORTED_FORMAT: ErrorCode.unsupported_for_message_format,
}


def error_code_for(exc: BaseException) -> ErrorCode:
    """The Kafka error code for a failure; unknown failures are logged and become
    UNKNOWN_SERVER_ERROR."""
    if isinstance(exc, RecordsError):
        return _RECORDS[exc.kind]
    if isinstance(exc, AdminError):
        return ErrorCode[exc.kind]
    if isinstance(exc, OffsetOutOfRange):
        return ErrorCode.offset_out_of_range
    if isinstance(exc, NotLeader):
        return ErrorCode.not_leader_or_follower
    if isinstance(exc, PolicyViolation):
        return ErrorCode.policy_violation
    if isinstance(exc, OutOfOrderSequence):
        return ErrorCode.out_of_order_sequence_number
    if isinstance(exc, InvalidProducerEpoch):
        return ErrorCode.invalid_producer_epoch
    if isinstance(exc, (LogDirFailure, OSError)):
        log.error("storage error: %s", exc)
        return ErrorCode.kafka_storage_error
    log.error("unexpected error", exc_info=exc)
    return ErrorCode.unknown_server_error


def leader_epoch_error(partition: Partition, current_leader_epoch: int) -> ErrorCode | None:
    """Kafka's checks of a request's leader epoch against the partition's (KIP-320)."""
    if not partition.is_leader:
        return ErrorCode.not_leader_or_follower
    if current_leader_epoch < 0:
        return None
    if current_leader_epoch < partition.leader_epoch:
        return ErrorCode.fenced_leader_epoch
    if current_leader_epoch > partition.leader_epoch:
        return ErrorCode.unknown_leader_epoch
    return None
