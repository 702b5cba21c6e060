"""`grete consume TOPIC`: print records as they arrive, like kcat -C or kafka-console-consumer."""

import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Annotated, Any, BinaryIO

import typer
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    OFFSET_STORED,
    Consumer,
    KafkaError,
    Message,
    TopicPartition,
)

from grete.cli.client import (
    ASSIGN_ONLY_GROUP,
    DEFAULT_BOOTSTRAP,
    REQUEST_TIMEOUT_S,
    BootstrapOption,
    CommandConfigOption,
    Connection,
    PropertyOption,
    parse_key_values,
)
from grete.cli.errors import CliError
from grete.cli.output import records, status
from grete.cli.record_format import RecordFormatter, formatter_for

_POLL_S = 0.5
_BATCH = 500
_EXIT_SIGNAL_BASE = 128
# Errors after which waiting longer cannot help.
_TERMINAL = {
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
}

FORMAT_HELP = (
    "How to print each record. 'json': one JSON object per line (topic, partition, offset,"
    " timestamp, key, value, headers). 'table': aligned columns. Anything else is a kcat-style"
    " template: %t topic, %p partition, %o offset, %k key, %s value, %K/%S key/value length,"
    " %T timestamp (ms), %h headers (k=v,...), %% percent; escapes \\n \\t \\r \\\\."
    " Templates end with \\n when you want one line per record."
)


def parse_offset(text: str | None) -> int | None:
    """'beginning', 'end' or a non-negative offset; None when not given."""
    if text is None:
        return None
    named = {"beginning": OFFSET_BEGINNING, "end": OFFSET_END}
    if text in named:
        return named[text]
    if text.isdigit():
        return int(text)
    raise typer.BadParameter("expected 'beginning', 'end' or an offset >= 0", param_hint="--offset")


@dataclass(frozen=True)
class StopRules:
    """When to stop: after `max_messages` records, after `idle_timeout_s` without a
    record, or (with `exit_at_end`) once every assigned partition is at its end."""

    max_messages: int | None = None
    idle_timeout_s: float | None = None
    exit_at_end: bool = False


@dataclass
class ConsumeLoop:
    """Polls `consumer`, writes formatted records to `out` and applies StopRules.
    Not thread-safe; librdkafka calls on_assign/on_revoke from inside poll."""

    consumer: Consumer
    formatter: RecordFormatter
    out: BinaryIO
    rules: StopRules
    clock: Callable[[], float] = time.monotonic
    consumed: int = 0
    assigned: set[int] = field(default_factory=set)
    at_end: set[int] = field(default_factory=set)
    stop_signal: int | None = None

    def request_stop(self, signum: int, _frame: FrameType | None) -> None:
        """Signal handler: finish the current batch, then stop (the consumer is closed cleanly)."""
        self.stop_signal = signum

    def on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assigned.update(tp.partition for tp in partitions)

    def on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assigned.difference_update(tp.partition for tp in partitions)
        self.at_end.difference_update(tp.partition for tp in partitions)

    def run(self) -> None:
        self.out.write(self.formatter.header())
        last_record_at = self.clock()
        while not self._finished(last_record_at):
            messages = self.consumer.consume(self._batch_size(), timeout=self._wait(last_record_at))
            if self._handle(messages):
                last_record_at = self.clock()
            self.out.flush()

    def _handle(self, messages: list[Message]) -> bool:
        """Process one batch; True if it held at least one record."""
        count = 0
        for message in messages:
            error = message.error()
            if error is not None:
                self._on_error(error, message)
                continue
            if self.rules.max_messages is not None and self.consumed >= self.rules.max_messages:
                break
            self.out.write(self.formatter.render(message))
            self.consumed += 1
            count += 1
            self.at_end.discard(message.partition() or 0)
        return count > 0

    def _on_error(self, error: KafkaError, message: Message) -> None:
        if error.code() == KafkaError._PARTITION_EOF:
            self.at_end.add(message.partition() or 0)
        elif error.fatal() or error.code() in _TERMINAL:
            raise CliError(f"consume: {error.str()} ({error.name()})")
        else:
            print(f"warning: {error.str()}", file=sys.stderr, flush=True)

    def _finished(self, last_record_at: float) -> bool:
        if self.stop_signal is not None:
            return True
        rules = self.rules
        if rules.max_messages is not None and self.consumed >= rules.max_messages:
            return True
        idle_s = self.clock() - last_record_at
        if rules.idle_timeout_s is not None and idle_s >= rules.idle_timeout_s:
            return True
        return rules.exit_at_end and bool(self.assigned) and self.assigned <= self.at_end

    def _batch_size(self) -> int:
        if self.rules.max_messages is None:
            return _BATCH
        return max(1, min(_BATCH, self.rules.max_messages - self.consumed))

    def _wait(self, last_record_at: float) -> float:
        if self.rules.idle_timeout_s is None:
            return _POLL_S
        remaining = self.rules.idle_timeout_s - (self.clock() - last_record_at)
        return max(0.0, min(_POLL_S, remaining))


def consume(
    topic: Annotated[str, typer.Argument(help="Topic to read.")],
    group: Annotated[
        str | None,
        typer.Option(
            "--group",
            "-g",
            help="Consumer group: join it (or, with --partition, use it for commits) and commit"
            " offsets. Without it, partitions are assigned directly and nothing is committed.",
        ),
    ] = None,
    from_beginning: Annotated[
        bool,
        typer.Option("--from-beginning", help="Start at the log start when there is no offset."),
    ] = False,
    offset: Annotated[
        str | None,
        typer.Option(
            "--offset",
            "-o",
            metavar="N|beginning|end",
            help="Start offset for the consumed partitions (default: end). Not with --group"
            " unless --partition is given.",
        ),
    ] = None,
    partitions: Annotated[
        list[int] | None,
        typer.Option("--partition", "-p", min=0, help="Read only this partition (repeatable)."),
    ] = None,
    max_messages: Annotated[
        int | None, typer.Option("--max-messages", "-c", min=1, help="Exit after N records.")
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", min=0.0, help="Exit after SECONDS without a new record."),
    ] = None,
    exit_at_end: Annotated[
        bool, typer.Option("--exit", "-e", help="Exit once every partition is at its end.")
    ] = False,
    record_format: Annotated[str, typer.Option("--format", "-f", help=FORMAT_HELP)] = "%s\\n",
    properties: PropertyOption = None,
    bootstrap_server: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
) -> None:
    """Print the records of a topic.

    Stops after --max-messages, --timeout or --exit, or on SIGINT/SIGTERM (exit status
    128 + signal number, after closing the consumer cleanly).
    The number of records consumed goes to stderr.
    """
    start = parse_offset(offset)
    if from_beginning and start is not None:
        raise typer.BadParameter("use either --from-beginning or --offset", param_hint="--offset")
    if group is not None and start is not None and not partitions:
        raise typer.BadParameter("with --group, --offset needs --partition", param_hint="--offset")
    try:
        formatter = formatter_for(record_format)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--format") from exc
    config: dict[str, Any] = {
        "group.id": group or ASSIGN_ONLY_GROUP,
        "enable.auto.commit": group is not None,
        "auto.offset.reset": "earliest" if from_beginning else "latest",
        "enable.partition.eof": exit_at_end,
    }
    config.update(parse_key_values(properties, "--property"))
    connection = Connection(bootstrap_server, command_config)
    consumer = connection.consumer(config)
    rules = StopRules(max_messages, timeout, exit_at_end)
    loop = ConsumeLoop(consumer, formatter, sys.stdout.buffer, rules)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, loop.request_stop)
    try:
        start_offset = _initial_offset(start, from_beginning, group)
        _start(connection, consumer, loop, topic, group, partitions, start_offset)
        loop.run()
    except BrokenPipeError:  # the reader went away (e.g. `| head`): a normal way to stop
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        consumer.close()
    status(f"consumed {records(loop.consumed)}")
    if loop.stop_signal is not None:
        raise typer.Exit(_EXIT_SIGNAL_BASE + loop.stop_signal)


def _initial_offset(start: int | None, from_beginning: bool, group: str | None) -> int:
    """--offset if given; else the group's committed offset; else the log start or end."""
    if start is not None:
        return start
    if group is not None:
        return OFFSET_STORED  # falls back to auto.offset.reset when nothing is committed
    return OFFSET_BEGINNING if from_beginning else OFFSET_END


def _start(
    connection: Connection,
    consumer: Consumer,
    loop: ConsumeLoop,
    topic: str,
    group: str | None,
    partitions: list[int] | None,
    offset: int,
) -> None:
    """Subscribe (group, no --partition) or assign the wanted partitions at `offset`."""
    available = _partitions_of(connection, consumer, topic)
    if group is not None and not partitions:
        consumer.subscribe([topic], on_assign=loop.on_assign, on_revoke=loop.on_revoke)
        return
    wanted = sorted(set(partitions or available))
    missing = [p for p in wanted if p not in available]
    if missing:
        raise CliError(f"topic {topic} has no partition {missing[0]} (it has {len(available)})")
    consumer.assign([TopicPartition(topic, p, offset) for p in wanted])
    loop.assigned.update(wanted)


def _partitions_of(connection: Connection, consumer: Consumer, topic: str) -> list[int]:
    try:
        metadata = consumer.list_topics(timeout=REQUEST_TIMEOUT_S)
    except Exception as exc:
        raise connection.failure(exc, f"consume from topic {topic}") from exc
    if topic not in metadata.topics:
        raise CliError(f"consume: topic {topic} does not exist")
    topic_metadata = metadata.topics[topic]
    if topic_metadata.error is not None:
        raise CliError(connection.describe(topic_metadata.error, f"consume from topic {topic}"))
    return sorted(topic_metadata.partitions)
