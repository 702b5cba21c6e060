"""`grete topic trim`: delete a topic's records before an offset or a time (DeleteRecords).

A time is resolved per partition with ListOffsets by timestamp: the first record at or
after it (the partition's end if there is none) becomes the new log start offset. An
offset past a partition's end trims all of that partition, as "everything before" says.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import typer
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from grete.cli.client import REQUEST_TIMEOUT_S, Connection, wait_all
from grete.cli.errors import print_error
from grete.cli.group_view import Partition, list_offsets, offset_spec


@dataclass(frozen=True)
class TrimPoint:
    """What --before names: an offset, or a time in ms since the epoch."""

    offset: int | None = None
    timestamp_ms: int | None = None

    @classmethod
    def parse(cls, text: str) -> "TrimPoint":
        """An offset (digits) or an ISO 8601 time; without a UTC offset, the time is local."""
        if text.strip().isdigit():
            return cls(offset=int(text))
        try:
            moment = datetime.fromisoformat(text)
        except ValueError as exc:
            raise typer.BadParameter(
                f"expected an offset or an ISO 8601 time such as 2024-05-01T12:00:00Z, got {text!r}",
                param_hint="--before",
            ) from exc
        return cls(timestamp_ms=int(moment.astimezone().timestamp() * 1000))


@dataclass(frozen=True)
class TrimStep:
    """One partition: its log start offset before and after the trim."""

    COLUMNS: ClassVar[list[str]] = ["TOPIC", "PARTITION", "OLD LOG START", "NEW LOG START"]

    topic: str
    partition: int
    old_log_start_offset: int
    log_start_offset: int

    def table_row(self) -> list[str | int | None]:
        return [self.topic, self.partition, self.old_log_start_offset, self.log_start_offset]

    def to_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "old_log_start_offset": self.old_log_start_offset,
            "log_start_offset": self.log_start_offset,
        }


def targets(
    connection: Connection, admin: AdminClient, point: TrimPoint, wanted: list[Partition]
) -> tuple[dict[Partition, int], dict[Partition, int]]:
    """(current log start, new log start) of each partition."""
    earliest = list_offsets(connection, admin, {tp: offset_spec("earliest") for tp in wanted})
    latest = list_offsets(connection, admin, {tp: offset_spec("latest") for tp in wanted})
    if point.timestamp_ms is not None:
        spec = OffsetSpec.for_timestamp(point.timestamp_ms)
        at_time = list_offsets(connection, admin, {tp: spec for tp in wanted})
        wanted_offsets = {tp: latest[tp] if at_time[tp] < 0 else at_time[tp] for tp in wanted}
    else:
        assert point.offset is not None
        wanted_offsets = {tp: point.offset for tp in wanted}
    return earliest, {tp: max(min(wanted_offsets[tp], latest[tp]), earliest[tp]) for tp in wanted}


def trim(
    connection: Connection, admin: AdminClient, point: TrimPoint, wanted: list[Partition]
) -> list[TrimStep]:
    """Apply DeleteRecords; one step per partition (those with nothing to trim included).
    Prints one line per failed partition and exits 1 if any failed."""
    earliest, new = targets(connection, admin, point, wanted)
    doomed = [
        TopicPartition(t, p, new[(t, p)]) for t, p in wanted if new[(t, p)] > earliest[(t, p)]
    ]
    low_watermarks: dict[Partition, int] = {}
    failed = False
    if doomed:
        futures = admin.delete_records(doomed, request_timeout=REQUEST_TIMEOUT_S)
        results, failures = wait_all(futures)
        for tp, exc in sorted(failures.items(), key=lambda item: item[0].partition):
            print_error(connection.failure(exc, f"trim {tp.topic}[{tp.partition}]").message)
            failed = True
        low_watermarks = {(tp.topic, tp.partition): r.low_watermark for tp, r in results.items()}
    if failed:
        raise typer.Exit(1)
    return [
        TrimStep(t, p, earliest[(t, p)], low_watermarks.get((t, p), earliest[(t, p)]))
        for t, p in wanted
    ]
