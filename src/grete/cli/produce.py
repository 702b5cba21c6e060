"""`grete produce TOPIC`: one record per stdin line, like kafka-console-producer or kcat -P."""

import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, BinaryIO

import typer
from confluent_kafka import KafkaError, Message, Producer

from grete.cli.client import (
    DEFAULT_BOOTSTRAP,
    BootstrapOption,
    CommandConfigOption,
    Connection,
    PropertyOption,
    error_of,
    parse_key_value_pairs,
    parse_key_values,
)
from grete.cli.errors import print_error
from grete.cli.output import FormatOption, OutputFormat, print_json, records, status

# librdkafka's own default is 5 minutes; a console tool should give up sooner.
DEFAULT_DELIVERY_TIMEOUT_MS = 30_000
_FLUSH_SLACK_S = 5.0
_BUFFER_FULL_WAIT_S = 0.1

Headers = list[tuple[str, str | bytes | None]]


class Acks(StrEnum):
    none = "0"
    leader = "1"
    all = "all"


class Compression(StrEnum):
    none = "none"
    gzip = "gzip"
    snappy = "snappy"
    lz4 = "lz4"
    zstd = "zstd"


@dataclass(frozen=True)
class Record:
    """One record to produce, parsed from input line `line_number`."""

    line_number: int
    key: bytes | None
    value: bytes


@dataclass
class PartitionTally:
    """Records delivered to one partition, and the lowest and highest offset acknowledged
    (None with acks=0: the broker reports no offsets)."""

    records: int = 0
    first_offset: int | None = None
    last_offset: int | None = None

    def add(self, offset: int) -> None:
        self.records += 1
        if offset < 0:
            return
        if self.first_offset is None or offset < self.first_offset:
            self.first_offset = offset
        if self.last_offset is None or offset > self.last_offset:
            self.last_offset = offset


@dataclass
class DeliveryTally:
    """Counts delivery reports, per partition; failures are grouped by message so each is
    printed once."""

    delivered: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    partitions: dict[int, PartitionTally] = field(default_factory=dict)

    def on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is None:
            self.delivered += 1
            partition = message.partition()
            offset = message.offset()
            if partition is not None:
                tally = self.partitions.setdefault(partition, PartitionTally())
                tally.add(offset if offset is not None else -1)
        else:
            self.failures[f"{error.str()} ({error.name()})"] += 1

    def fail(self, reason: str, count: int = 1) -> None:
        self.failures[reason] += count

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    def to_json(self, topic: str) -> dict[str, Any]:
        return {
            "topic": topic,
            "produced": self.delivered,
            "failed": self.failed,
            "partitions": [
                {"partition": p, "records": t.records,
                 "first_offset": t.first_offset, "last_offset": t.last_offset}
                for p, t in sorted(self.partitions.items())
            ],
            "errors": [{"error": e, "records": n} for e, n in self.failures.most_common()],
        }  # fmt: skip


def read_lines(
    stream: BinaryIO, key_separator: bytes | None, tally: DeliveryTally
) -> Iterator[Record]:
    """Yield a record per line (without its newline); lines lacking the key separator fail."""
    for line_number, line in enumerate(stream, start=1):
        line = line.removesuffix(b"\n")
        if key_separator is None:
            yield Record(line_number, None, line)
            continue
        key, sep, value = line.partition(key_separator)
        if not sep:
            tally.fail(f"line {line_number}: no key separator")
            continue
        yield Record(line_number, key, value)


def produce(
    topic: Annotated[str, typer.Argument(help="Topic to write to.")],
    key_separator: Annotated[
        str | None,
        typer.Option(
            "--key-separator", "-K", help="Split each line into key and value at the first SEP."
        ),
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option(
            "--header", "-H", metavar="KEY=VALUE", help="Header added to every record (repeatable)."
        ),
    ] = None,
    partition: Annotated[
        int | None, typer.Option("--partition", "-p", min=0, help="Write to this partition only.")
    ] = None,
    acks: Annotated[Acks, typer.Option("--acks", help="Acknowledgements to wait for.")] = Acks.all,
    compression: Annotated[
        Compression, typer.Option("--compression", "-z", help="Batch compression codec.")
    ] = Compression.none,
    properties: PropertyOption = None,
    output_format: FormatOption = OutputFormat.table,
    bootstrap_server: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
) -> None:
    """Produce each line of stdin as one record, then flush.

    A summary goes to stderr; with --format json, also one to stdout: records produced
    per partition with their first and last offset, and the failures. The exit status
    is 1 if any record was not delivered (within 30 s by default: set
    -X message.timeout.ms=... to change it).
    """
    if key_separator == "":
        raise typer.BadParameter("must not be empty", param_hint="--key-separator")
    headers: Headers = [(k, v.encode()) for k, v in parse_key_value_pairs(header, "--header")]
    config: dict[str, Any] = {
        "message.timeout.ms": DEFAULT_DELIVERY_TIMEOUT_MS,
        "acks": acks.value,
        "compression.type": compression.value,
    }
    config.update(parse_key_values(properties, "--property"))
    connection = Connection(bootstrap_server, command_config)
    producer = connection.producer(config)
    tally = DeliveryTally()
    separator = key_separator.encode() if key_separator is not None else None
    for record in read_lines(sys.stdin.buffer, separator, tally):
        _send(producer, topic, record, headers, partition, tally)
    _flush(producer, tally, float(config["message.timeout.ms"]) / 1000)
    if output_format is OutputFormat.json:
        print_json(tally.to_json(topic))
    _summarize(topic, tally)


def _send(
    producer: Producer,
    topic: str,
    record: Record,
    headers: Headers,
    partition: int | None,
    tally: DeliveryTally,
) -> None:
    optional: dict[str, Any] = {"partition": partition} if partition is not None else {}
    while True:
        try:
            producer.produce(
                topic,
                record.value,
                record.key,
                headers=headers,
                on_delivery=tally.on_delivery,
                **optional,
            )
            break
        except BufferError:  # queue full: serve delivery reports until there is room
            producer.poll(_BUFFER_FULL_WAIT_S)
        except Exception as exc:  # noqa: BLE001 - the record fails, the others go on
            error = error_of(exc)
            tally.fail(f"{error.str()} ({error.name()})" if error is not None else str(exc))
            break
    producer.poll(0)


def _flush(producer: Producer, tally: DeliveryTally, delivery_timeout_s: float) -> None:
    undelivered = producer.flush(delivery_timeout_s + _FLUSH_SLACK_S)
    if undelivered:
        tally.fail("no delivery report before the timeout", undelivered)


def _summarize(topic: str, tally: DeliveryTally) -> None:
    if not tally.failures:
        status(f"produced {records(tally.delivered)} to topic {topic}")
        return
    for reason, count in tally.failures.most_common():
        print_error(f"{records(count)} not produced: {reason}")
    status(f"produced {records(tally.delivered)} to topic {topic}, {tally.failed} failed")
    raise typer.Exit(1)
