"""The history check of the cluster tests: what producers were told, against what the log holds.

A workload sends unique values (``<producer>-<n>``, also the key) with an idempotent
acks=all producer at a bounded rate, for a bounded count and time, and records what the
client reported for each: acked at (partition, offset), or failed. After the faults, every
partition is read back from offset 0 to its high watermark with assign() (no group), and
check_history() compares the two:

- lost: an acked value not read back at the offset it was acked at (missing, or elsewhere);
- duplicates: a value read back more than once;
- offsets with two values: one (partition, offset) acked for two different values;
- reordered: within one partition, a producer's value read back after a value that
  producer sent later (its send order must be its offset order).

A failed or unreported send may or may not be in the log: either is fine, but if it is, it
still counts for duplicates and ordering. A value read back that no producer sent is
reported as unknown: not one of the four, but just as much a bug.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from harness import JavaProgram

NO_REPORT = "no delivery report before the deadline"
EXAMPLES = 5  # of each anomaly, in the report


@dataclass(frozen=True)
class Send:
    """One value a producer handed to its client, and what the client reported for it.

    ``sequence`` is the send order within ``producer``; partition and offset are set only
    when the send was acked, error only when it was not.
    """

    producer: str
    sequence: int
    value: bytes
    partition: int | None = None
    offset: int | None = None
    error: str | None = None

    @property
    def acked(self) -> bool:
        return self.offset is not None


@dataclass(frozen=True)
class Stored:
    """One record read back from the log."""

    partition: int
    offset: int
    value: bytes


@dataclass(frozen=True)
class HistoryReport:
    """The four counts (all must be zero), the unknown values, and a few examples of each."""

    sent: int
    acked: int
    read: int
    lost: int
    duplicates: int
    offsets_with_two_values: int
    reordered: int
    unknown: int
    examples: tuple[str, ...] = ()

    @property
    def anomalies(self) -> dict[str, int]:
        return {
            "lost": self.lost,
            "duplicates": self.duplicates,
            "offsets_with_two_values": self.offsets_with_two_values,
            "reordered": self.reordered,
            "unknown": self.unknown,
        }

    @property
    def clean(self) -> bool:
        return not any(self.anomalies.values())

    def assert_clean(self) -> None:
        if not self.clean:
            raise AssertionError(str(self))

    def __str__(self) -> str:
        counts = ", ".join(f"{name} {count}" for name, count in self.anomalies.items())
        head = f"{self.sent} sent, {self.acked} acked, {self.read} read back: {counts}"
        return "\n  ".join([head, *self.examples])


def value_of(producer: str, sequence: int) -> bytes:
    return f"{producer}-{sequence}".encode()


def check_history(history: Iterable[Send], read_back: Iterable[Stored]) -> HistoryReport:
    """Compare every producer's sends with the records read back (see the module docstring).

    ``history`` holds the sends of any number of producers, values unique across all;
    ``read_back`` every record of the topic, in any order.
    """
    sends: dict[bytes, Send] = {}
    for send in history:
        if send.value in sends:
            raise ValueError(f"value {send.value!r} was sent twice: the workload must not do that")
        sends[send.value] = send
    stored = sorted(read_back, key=lambda record: (record.partition, record.offset))
    positions: dict[bytes, list[tuple[int, int]]] = defaultdict(list)
    for record in stored:
        positions[record.value].append((record.partition, record.offset))

    examples: list[str] = []
    acked = [send for send in sends.values() if send.acked]
    lost = _lost(acked, positions, examples)
    duplicates = _duplicates(positions, examples)
    two_values = _offsets_with_two_values(acked, examples)
    reordered = _reordered(stored, sends, examples)
    unknown = [value for value in positions if value not in sends]
    examples += [f"unknown: {value!r} read back, never sent" for value in unknown[:EXAMPLES]]
    return HistoryReport(
        sent=len(sends),
        acked=len(acked),
        read=len(stored),
        lost=lost,
        duplicates=duplicates,
        offsets_with_two_values=two_values,
        reordered=reordered,
        unknown=len(unknown),
        examples=tuple(examples),
    )


def _lost(
    acked: list[Send], positions: Mapping[bytes, list[tuple[int, int]]], examples: list[str]
) -> int:
    lost = [
        send for send in acked if (send.partition, send.offset) not in positions.get(send.value, ())
    ]
    for send in lost[:EXAMPLES]:
        where = positions.get(send.value) or "nowhere"
        examples.append(
            f"lost: {send.value!r} acked at {send.partition}@{send.offset}, read back at {where}"
        )
    return len(lost)


def _duplicates(positions: Mapping[bytes, list[tuple[int, int]]], examples: list[str]) -> int:
    duplicated = [(value, where) for value, where in positions.items() if len(where) > 1]
    for value, where in duplicated[:EXAMPLES]:
        examples.append(f"duplicate: {value!r} read back at {where}")
    return len(duplicated)


def _offsets_with_two_values(acked: list[Send], examples: list[str]) -> int:
    by_position: dict[tuple[int | None, int | None], set[bytes]] = defaultdict(set)
    for send in acked:
        by_position[send.partition, send.offset].add(send.value)
    shared = [(where, values) for where, values in by_position.items() if len(values) > 1]
    for (partition, offset), values in shared[:EXAMPLES]:
        examples.append(f"two values: {sorted(values)} all acked at {partition}@{offset}")
    return len(shared)


def _reordered(stored: list[Stored], sends: Mapping[bytes, Send], examples: list[str]) -> int:
    """Records read after a record its producer sent later, in the same partition (the
    first copy of each value only: later copies are duplicates, counted as such)."""
    latest: dict[tuple[str, int], Send] = {}  # (producer, partition) -> latest-sent so far
    seen: set[bytes] = set()
    reordered = 0
    for record in stored:
        send = sends.get(record.value)
        if send is None or record.value in seen:
            continue
        seen.add(record.value)
        key = (send.producer, record.partition)
        before = latest.get(key)
        if before is not None and send.sequence < before.sequence:
            reordered += 1
            if reordered <= EXAMPLES:
                examples.append(
                    f"reordered: {record.value!r} (sent #{send.sequence}) at "
                    f"{record.partition}@{record.offset}, after {before.value!r} "
                    f"(sent #{before.sequence})"
                )
        else:
            latest[key] = send
    return reordered


# -- the workloads --------------------------------------------------------------------


def produce_history(
    bootstrap: str,
    topic: str,
    *,
    count: int,
    rate: float,
    max_seconds: float,
    producer: str = "py",
    delivery_timeout_ms: int = 30_000,
    config: Mapping[str, Any] | None = None,
) -> list[Send]:
    """Send value_of(producer, n) for n = 0, 1, ... with confluent-kafka (idempotent,
    acks=all), at most ``rate`` per second, until ``count`` are sent or ``max_seconds``
    pass; then wait for every delivery report (at most the delivery timeout more).

    Returns one Send per value handed to the client, in send order. Blocks: run it in a
    thread to inject faults meanwhile.
    """
    reports: dict[int, tuple[int, int] | str] = {}

    def on_delivery(n: int) -> Any:
        def report(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                reports[n] = f"{error.name()}: {error.str()}"
            else:
                reports[n] = (message.partition() or 0, message.offset() or 0)

        return report

    client = Producer(
        {
            "bootstrap.servers": bootstrap,
            "client.id": f"history-{producer}",
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "delivery.timeout.ms": delivery_timeout_ms,
            "request.timeout.ms": min(10_000, delivery_timeout_ms),
            **(config or {}),
        }
    )
    sent = 0
    due = time.monotonic()
    deadline = due + max_seconds
    while sent < count and time.monotonic() < deadline:
        # Each send waits 1/rate after the previous one: a stall is never made up by a burst.
        while (wait := due - time.monotonic()) > 0:
            client.poll(min(wait, 0.05))
        value = value_of(producer, sent)
        try:
            client.produce(topic, value=value, key=value, on_delivery=on_delivery(sent))
        except BufferError:
            client.poll(0.05)  # the local queue is full: let reports drain, then retry
            continue
        except KafkaException as exc:
            reports[sent] = f"produce() raised {exc}"  # a fatal error: the client is done
            sent += 1
            break
        sent += 1
        due = max(due, time.monotonic()) + 1 / rate
        client.poll(0)
    client.flush(delivery_timeout_ms / 1000 + 5)
    return [_send(producer, n, reports.get(n, NO_REPORT)) for n in range(sent)]


def _send(producer: str, n: int, report: tuple[int, int] | str) -> Send:
    if isinstance(report, str):
        return Send(producer, n, value_of(producer, n), error=report)
    partition, offset = report
    return Send(producer, n, value_of(producer, n), partition, offset)


def java_produce_history(
    program: JavaProgram,
    bootstrap: str,
    topic: str,
    *,
    count: int,
    rate: float,
    max_seconds: float,
    producer: str = "java",
    delivery_timeout_ms: int = 30_000,
) -> list[Send]:
    """produce_history() with the Java client (tests/compat/java/GreteHistoryProducer)."""
    stdout = program(
        bootstrap, topic, str(count), str(rate), str(max_seconds), producer,
        str(delivery_timeout_ms),
        timeout=max_seconds + delivery_timeout_ms / 1000 + 60,
    )  # fmt: skip
    return parse_java_history(stdout, producer)


def parse_java_history(stdout: str, producer: str) -> list[Send]:
    """Sends from GreteHistoryProducer's lines: `ack VALUE PARTITION OFFSET`,
    `fail VALUE ERROR...`, and last `sent N`."""
    reports: dict[bytes, tuple[int, int] | str] = {}
    sent: int | None = None
    for line in stdout.splitlines():
        word, _, rest = line.partition(" ")
        if word == "ack":
            value, partition, offset = rest.split(" ")
            reports[value.encode()] = (int(partition), int(offset))
        elif word == "fail":
            value, _, error = rest.partition(" ")
            reports[value.encode()] = error
        elif word == "sent":
            sent = int(rest)
        else:
            raise ValueError(f"unexpected line from GreteHistoryProducer: {line!r}")
    if sent is None:
        raise ValueError(f"GreteHistoryProducer did not say how many it sent:\n{stdout[-2000:]}")
    strays = set(reports) - {value_of(producer, n) for n in range(sent)}
    if strays:
        raise ValueError(f"reports for values never sent: {sorted(strays)[:EXAMPLES]}")
    return [_send(producer, n, reports.get(value_of(producer, n), NO_REPORT)) for n in range(sent)]


def read_back(
    bootstrap: str, topic: str, *, isolation: str = "read_committed", timeout: float = 60.0
) -> list[Stored]:
    """Every record of every partition of ``topic``, from offset 0 to the high watermark
    each partition had when the read began, sorted by (partition, offset).

    assign(), not subscribe(): no group, no committed offsets. Raises AssertionError if a
    partition is not read to its high watermark within ``timeout``.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"history-reader-{uuid.uuid4().hex}",  # never joined: assign() only
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
            "isolation.level": isolation,
        }
    )
    stored: list[Stored] = []
    try:
        deadline = time.monotonic() + timeout
        partitions = _partitions(consumer, topic, timeout)
        ends = {
            p: consumer.get_watermark_offsets(
                TopicPartition(topic, p), timeout=timeout, cached=False
            )[1]
            for p in partitions
        }
        position = dict.fromkeys(partitions, 0)
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        last_error: KafkaError | None = None
        while any(position[p] < ends[p] for p in partitions):
            if time.monotonic() > deadline:
                behind = {p: (position[p], ends[p]) for p in partitions if position[p] < ends[p]}
                raise AssertionError(
                    f"{topic}: partitions not read to their high watermark within {timeout}s, "
                    f"(position, high watermark): {behind}; last error {last_error}"
                )
            for message in consumer.consume(num_messages=1000, timeout=0.5):
                error = message.error()
                partition, offset = message.partition() or 0, message.offset() or 0
                if error is None:
                    stored.append(Stored(partition, offset, message.value() or b""))
                    position[partition] = max(position[partition], offset + 1)
                elif error.code() == KafkaError._PARTITION_EOF:
                    position[partition] = max(position[partition], offset)
                elif error.fatal():
                    raise KafkaException(error)
                else:
                    last_error = error  # transient (a leader moving): the client retries
    finally:
        consumer.close()
    return sorted(stored, key=lambda record: (record.partition, record.offset))


def _partitions(consumer: Consumer, topic: str, timeout: float) -> list[int]:
    metadata = consumer.list_topics(topic, timeout=timeout).topics[topic]
    if metadata.error is not None:
        raise KafkaException(metadata.error)
    return sorted(metadata.partitions)
