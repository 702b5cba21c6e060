"""Consumer-group members of every client, run side by side, and the ledger they write to.

A member is one consumer in a classic group: confluent-kafka, kafka-python and aiokafka
members run in threads of the test process; Java members (tests/compat/java/GreteGroupMember)
and `python helpers.py member ...` members run as subprocesses, so a test can SIGKILL them.
Every member records into a shared `Ledger` what it received and which partitions it owns,
and commits synchronously before it asks for more records. `ConsumerProtocolMember` and
`python helpers.py member ... consumer` are KIP-848 members (group.protocol=consumer).

Run as a script, this file is a confluent-kafka member that prints the same lines as the Java
program (`assigned P,P`, `record P O VALUE`, `committed`), committing after every message.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

SESSION_TIMEOUT_MS = 6_000
HEARTBEAT_MS = 1_000
POLL_S = 0.2
_PR_SET_PDEATHSIG = 1
FAST_GROUPS = ("--override", "group.initial.rebalance.delay.ms=0")


def on_tansu() -> bool:
    """True when GRETE_TEST_BROKER=tansu points the fixtures at Tansu instead of Grete."""
    return os.environ.get("GRETE_TEST_BROKER", "grete") == "tansu"


def fast_group_args() -> tuple[str, ...]:
    """Broker args that make a new group rebalance at once (Tansu takes no such flag)."""
    return () if on_tansu() else FAST_GROUPS


@dataclass(frozen=True)
class Received:
    member: str
    partition: int
    offset: int
    value: bytes


@dataclass
class Ledger:
    """What every member received and owns. Thread-safe: members write from their own threads."""

    records: list[Received] = field(default_factory=list)
    owned: dict[str, frozenset[int]] = field(default_factory=dict)
    # (partition -> next offset) each member had committed, as far as the test saw it.
    committed: dict[str, dict[int, int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def receive(self, member: str, partition: int, offset: int, value: bytes) -> None:
        with self._lock:
            self.records.append(Received(member, partition, offset, value))

    def commit(self, member: str, offsets: dict[int, int]) -> None:
        with self._lock:
            self.committed.setdefault(member, {}).update(offsets)

    def assign(self, member: str, partitions: Iterable[int]) -> None:
        with self._lock:
            self.owned[member] = frozenset(partitions)

    def group_committed(self) -> dict[int, int]:
        """partition -> the highest next offset any member committed (commits only move forward)."""
        with self._lock:
            out: dict[int, int] = {}
            for offsets in self.committed.values():
                for partition, offset in offsets.items():
                    out[partition] = max(out.get(partition, 0), offset)
            return out

    def snapshot(self) -> tuple[list[Received], dict[str, frozenset[int]]]:
        with self._lock:
            return list(self.records), dict(self.owned)

    def count(self) -> int:
        with self._lock:
            return len(self.records)

    def by_member(self) -> dict[str, list[Received]]:
        records, _ = self.snapshot()
        out: dict[str, list[Received]] = {}
        for record in records:
            out.setdefault(record.member, []).append(record)
        return out


@dataclass
class CommitLedger(Ledger):
    """A `Ledger` that also keeps the order of commits among the reads.

    `commits` holds (records read so far, member, partition -> next offset) for each
    commit in the order the test saw them. A commit is recorded after the broker
    acknowledged it, so the order errs towards allowing a re-read, never towards a
    false alarm.
    """

    commits: list[tuple[int, str, dict[int, int]]] = field(default_factory=list)

    def commit(self, member: str, offsets: dict[int, int]) -> None:
        with self._lock:
            self.committed.setdefault(member, {}).update(offsets)
            self.commits.append((len(self.records), member, dict(offsets)))

    def rereads_of_committed(self) -> list[tuple[Received, int]]:
        """Records read after some member had committed past them: (record, committed offset)."""
        with self._lock:
            records, commits = list(self.records), list(self.commits)
        committed: dict[int, int] = {}
        found: list[tuple[Received, int]] = []
        pending = iter(commits)
        upcoming = next(pending, None)
        for index, record in enumerate(records):
            while upcoming is not None and upcoming[0] <= index:
                for partition, offset in upcoming[2].items():
                    committed[partition] = max(committed.get(partition, 0), offset)
                upcoming = next(pending, None)
            if record.offset < committed.get(record.partition, 0):
                found.append((record, committed[record.partition]))
        return found


def wait_for(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    poll: float = 0.1,
    detail: Callable[[], object] | None = None,
) -> float:
    """Block until condition() holds; return the seconds it took, or raise AssertionError
    (with what `detail()` returns then, to show the state that was waited on)."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            shown = f": {detail()}" if detail is not None else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{shown}")
        time.sleep(poll)
    return time.monotonic() - start


def balanced(ledger: Ledger, members: Sequence[str], partitions: int) -> bool:
    """Each member owns a share, shares are disjoint and together cover every partition."""
    _, owned = ledger.snapshot()
    shares = [owned.get(name, frozenset()) for name in members]
    union = frozenset().union(*shares)
    per_member = partitions // len(members)
    return (
        union == frozenset(range(partitions))
        and sum(len(share) for share in shares) == partitions
        and all(len(share) >= per_member for share in shares)
    )


def produce_values(
    bootstrap: str, topic: str, partitions: int, start: int, count: int
) -> dict[bytes, int]:
    """Produce values v<start>..v<start+count-1> round-robin over the partitions (acks=all).

    Returns value -> partition for every acknowledged record; raises if any send failed.
    """
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all"})
    errors: list[str] = []
    placed: dict[bytes, int] = {}

    def on_delivery(err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(str(err))
        else:
            placed[msg.value()] = msg.partition()

    for i in range(start, start + count):
        producer.produce(topic, value=b"v%d" % i, partition=i % partitions, on_delivery=on_delivery)
        producer.poll(0)
    remaining = producer.flush(30)
    assert remaining == 0 and not errors, f"{remaining} unsent, errors: {errors[:3]}"
    return placed


# --- members in threads -------------------------------------------------------------------


class ThreadMember(threading.Thread):
    """A group member on its own thread; `stop()` closes it cleanly (LeaveGroup)."""

    def __init__(self, name: str, ledger: Ledger, bootstrap: str, group: str, topic: str) -> None:
        super().__init__(name=name, daemon=True)
        self.member = name
        self.ledger = ledger
        self.bootstrap = bootstrap
        self.group = group
        self.topic = topic
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.deadline = time.monotonic() + 240  # no member outlives a hung test

    def run(self) -> None:
        try:
            self.consume()
        except Exception as exc:  # noqa: BLE001 -- a member thread hands its failure to stop()
            self.error = exc

    def consume(self) -> None:
        raise NotImplementedError

    def running(self) -> bool:
        return not self.stopping.is_set() and time.monotonic() < self.deadline

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the member to close, wait for it, and re-raise anything it raised.

        Idempotent; a member that was never started has nothing to stop.
        """
        self.stopping.set()
        if self.ident is None:
            return
        self.join(timeout)
        if self.is_alive():
            raise AssertionError(f"member {self.member} did not close within {timeout}s")
        if self.error is not None:
            raise AssertionError(f"member {self.member} failed: {self.error!r}") from self.error


class ConfluentMember(ThreadMember):
    """librdkafka, group.protocol=classic; commits the offsets of each batch synchronously."""

    def __init__(self, *args: Any, extra: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.extra = dict(extra or {})
        self.assign_calls = 0
        self.ready = threading.Event()

    def config(self) -> dict[str, Any]:
        return {
            "bootstrap.servers": self.bootstrap,
            "group.id": self.group,
            "group.protocol": "classic",
            "partition.assignment.strategy": "range",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": SESSION_TIMEOUT_MS,
            "heartbeat.interval.ms": HEARTBEAT_MS,
            "enable.partition.eof": False,
            **self.extra,
        }

    def consume(self) -> None:
        consumer = Consumer(self.config())

        def on_assign(_: Consumer, partitions: list[TopicPartition]) -> None:
            self.assign_calls += 1
            self.ledger.assign(self.member, (tp.partition for tp in partitions))

        def on_revoke(_: Consumer, partitions: list[TopicPartition]) -> None:
            self.ledger.assign(self.member, ())

        try:
            consumer.subscribe([self.topic], on_assign=on_assign, on_revoke=on_revoke)
            self.ready.set()
            while self.running():
                messages = consumer.consume(num_messages=200, timeout=POLL_S)
                next_offsets: dict[int, int] = {}
                for message in messages:
                    if message.error() is not None:
                        raise KafkaException(message.error())
                    partition, offset = message.partition(), message.offset()
                    self.ledger.receive(self.member, partition, offset, message.value())
                    next_offsets[partition] = offset + 1
                if next_offsets:
                    offsets = [TopicPartition(self.topic, p, o) for p, o in next_offsets.items()]
                    consumer.commit(offsets=offsets, asynchronous=False)
                    self.ledger.commit(self.member, next_offsets)
        finally:
            consumer.close()


class ConsumerProtocolMember(ThreadMember):
    """librdkafka with group.protocol=consumer (KIP-848).

    The assignment arrives in increments: on_assign adds partitions, on_revoke and
    on_lost remove only the ones they name. Every callback is kept in `callbacks`, so
    a test can tell that a member saw no rebalance at all. Records of a partition
    revoked in the same consume() call are dropped unprocessed and offsets are
    committed only for partitions still owned, as a correct application must: KIP-848
    checks a commit's member epoch, not who owns the partition. A commit the broker
    refuses (a stale epoch in a rebalance, a restart) goes to `commit_errors`, and
    a non-fatal consumer error to `errors`; neither stops the member.
    """

    def __init__(
        self,
        *args: Any,
        extra: dict[str, Any] | None = None,
        batch: int = 200,
        pause_s: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.extra = dict(extra or {})
        self.batch = batch
        self.pause_s = pause_s  # a slow handler: per batch, so a restart lands mid-stream
        self.callbacks: list[tuple[str, frozenset[int]]] = []
        self.commit_errors: list[tuple[str, dict[int, int]]] = []  # (error, what it tried)
        self.member_id = ""  # the id librdkafka chose (KIP-848 ids come from the client)
        self.errors: list[str] = []
        self.dropped = 0

    def config(self) -> dict[str, Any]:
        return {
            "bootstrap.servers": self.bootstrap,
            "group.id": self.group,
            "group.protocol": "consumer",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
            **self.extra,
        }

    def consume(self) -> None:
        consumer = Consumer(self.config())
        owned: set[int] = set()

        def callback(kind: str) -> Callable[[Consumer, list[TopicPartition]], None]:
            def on_change(_: Consumer, partitions: list[TopicPartition]) -> None:
                changed = frozenset(tp.partition for tp in partitions)
                self.callbacks.append((kind, changed))
                self.member_id = consumer.memberid() or self.member_id
                if kind == "assign":
                    owned.update(changed)
                else:
                    owned.difference_update(changed)
                self.ledger.assign(self.member, owned)

            return on_change

        try:
            consumer.subscribe(
                [self.topic],
                on_assign=callback("assign"),
                on_revoke=callback("revoke"),
                on_lost=callback("lost"),
            )
            while self.running():
                messages = consumer.consume(num_messages=self.batch, timeout=POLL_S)
                next_offsets: dict[int, int] = {}
                for message in messages:
                    error = message.error()
                    if error is not None:
                        if error.fatal():
                            raise KafkaException(error)
                        self.errors.append(str(error))
                        continue
                    partition, offset = message.partition(), message.offset()
                    assert partition is not None and offset is not None, "a record has both"
                    if partition not in owned:
                        self.dropped += 1
                        continue
                    self.ledger.receive(self.member, partition, offset, message.value() or b"")
                    next_offsets[partition] = offset + 1
                if self.pause_s and messages:
                    time.sleep(self.pause_s)
                self._commit(consumer, {p: o for p, o in next_offsets.items() if p in owned})
        finally:
            consumer.close()

    def _commit(self, consumer: Consumer, next_offsets: dict[int, int]) -> None:
        if not next_offsets:
            return
        offsets = [TopicPartition(self.topic, p, o) for p, o in next_offsets.items()]
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            self.commit_errors.append((str(exc.args[0]), next_offsets))
            return
        self.ledger.commit(self.member, next_offsets)


class KafkaPythonMember(ThreadMember):
    """kafka-python: poll, then a synchronous commit of the positions."""

    def consume(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from kafka import ConsumerRebalanceListener, KafkaConsumer

        ledger, member = self.ledger, self.member

        class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
            def on_partitions_revoked(self, revoked: Any) -> None:
                ledger.assign(member, ())

            def on_partitions_assigned(self, assigned: Any) -> None:
                ledger.assign(member, (tp.partition for tp in assigned))

        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=HEARTBEAT_MS,
            request_timeout_ms=20_000,
            # The group leader assigns from its own metadata snapshot; one that predates the
            # topic (a client-side race seen once in CI: "No partition metadata for topic")
            # is only corrected at the next refresh, 5 minutes by default.
            metadata_max_age_ms=5_000,
        )
        try:
            consumer.subscribe([self.topic], listener=Listener())
            while self.running():
                batches = consumer.poll(timeout_ms=int(POLL_S * 1000), max_records=200)
                next_offsets: dict[int, int] = {}
                for tp, messages in batches.items():
                    for message in messages:
                        ledger.receive(member, tp.partition, message.offset, message.value)
                        next_offsets[tp.partition] = message.offset + 1
                if next_offsets:
                    consumer.commit()
                    ledger.commit(member, next_offsets)
        finally:
            consumer.close()


class AioKafkaMember(ThreadMember):
    """aiokafka on its own event loop: getmany, then await a synchronous commit."""

    def consume(self) -> None:
        asyncio.run(self._consume())

    async def _consume(self) -> None:
        from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener

        ledger, member = self.ledger, self.member

        class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
            async def on_partitions_revoked(self, revoked: Any) -> None:
                ledger.assign(member, ())

            async def on_partitions_assigned(self, assigned: Any) -> None:
                ledger.assign(member, (tp.partition for tp in assigned))

        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=HEARTBEAT_MS,
            request_timeout_ms=20_000,
        )
        await consumer.start()
        try:
            consumer.subscribe([self.topic], listener=Listener())
            while self.running():
                batches = await consumer.getmany(timeout_ms=int(POLL_S * 1000), max_records=200)
                next_offsets: dict[int, int] = {}
                for tp, messages in batches.items():
                    for message in messages:
                        ledger.receive(member, tp.partition, message.offset, message.value)
                        next_offsets[tp.partition] = message.offset + 1
                if next_offsets:
                    await consumer.commit()
                    ledger.commit(member, next_offsets)
        finally:
            await consumer.stop()


def stop_all(members: Iterable[ThreadMember | ProcessMember | None]) -> None:
    """Stop every member, even when stopping one fails; then raise the first failure."""
    failures: list[AssertionError] = []
    for member in members:
        if member is None:
            continue
        try:
            member.stop()
        except AssertionError as exc:
            failures.append(exc)
    if failures:
        raise failures[0]


# --- members in subprocesses --------------------------------------------------------------


class ProcessMember:
    """A member in a child process that prints `assigned`/`record`/`committed` lines.

    A reader thread copies its lines into the ledger. `committed` means every record
    printed before it is committed; `commit-failed` that the records since the last
    `committed` are not. stop() closes stdin (a clean close); kill() is SIGKILL.
    """

    def __init__(self, name: str, ledger: Ledger, command: Sequence[str]) -> None:
        self.member = name
        self.ledger = ledger
        self.popen = subprocess.Popen(
            list(command),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            # Only prctl() runs before exec: a member must not outlive the test run.
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
        )
        self._pending: dict[int, int] = {}
        self._stderr: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._err_reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._err_reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for raw in self.popen.stdout:
            words = raw.decode("utf-8", "replace").split()
            if not words:
                continue
            if words[0] == "assigned":
                parts = () if words[1] == "-" else (int(p) for p in words[1].split(","))
                self.ledger.assign(self.member, parts)
            elif words[0] == "record":
                partition, offset = int(words[1]), int(words[2])
                self.ledger.receive(self.member, partition, offset, words[3].encode())
                self._pending[partition] = offset + 1
            elif words[0] == "committed":
                self.ledger.commit(self.member, self._pending)
                self._pending = {}
            elif words[0] == "commit-failed":  # only group.protocol=consumer members say so
                self._pending = {}

    def _read_stderr(self) -> None:
        assert self.popen.stderr is not None
        for raw in self.popen.stderr:
            self._stderr = (self._stderr + [raw])[-200:]

    def stderr_tail(self) -> str:
        return b"".join(self._stderr[-60:]).decode("utf-8", "replace")

    def stop(self, timeout: float = 30.0) -> int:
        """Close stdin (the member closes cleanly, sending LeaveGroup); return its exit code."""
        if self.popen.stdin is not None and not self.popen.stdin.closed:
            self.popen.stdin.close()
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"member {self.member} did not exit within {timeout}s\n{self.stderr_tail()}"
            ) from None
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(10)
        self._reader.join(5)


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGKILL it when the test process dies."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def python_member_command(
    bootstrap: str,
    group: str,
    topic: str,
    delay_ms: int = 0,
    idle_ms: int = 60_000,
    protocol: str = "classic",
) -> list[str]:
    """The command line of a confluent-kafka member in a child process (this file as a script).

    protocol="consumer" makes it a KIP-848 member (see `_consumer_protocol_member`).
    """
    return [
        sys.executable, str(Path(__file__).resolve()), "member",
        bootstrap, group, topic, str(delay_ms), str(idle_ms),
        *(() if protocol == "classic" else (protocol,)),
    ]  # fmt: skip


def _member_main(
    bootstrap: str, group: str, topic: str, delay_ms: int, idle_ms: int, protocol: str = "classic"
) -> int:
    """Consume until stdin closes or idle_ms pass without a record; commit after each message."""
    if protocol == "consumer":
        return _consumer_protocol_member(bootstrap, group, topic, delay_ms, idle_ms)
    closed = threading.Event()

    def watch_stdin() -> None:
        while sys.stdin.buffer.read(256):
            pass
        closed.set()

    threading.Thread(target=watch_stdin, daemon=True).start()

    def say(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def on_assign(_: Consumer, partitions: list[TopicPartition]) -> None:
        say(
            "assigned "
            + (
                ",".join(
                    str(tp.partition) for tp in sorted(partitions, key=lambda tp: tp.partition)
                )
                or "-"
            )
        )

    def on_revoke(_: Consumer, partitions: list[TopicPartition]) -> None:
        say("assigned -")

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "group.protocol": "classic",
            "partition.assignment.strategy": "range",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": SESSION_TIMEOUT_MS,
            "heartbeat.interval.ms": HEARTBEAT_MS,
        }
    )
    consumer.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
    last = time.monotonic()
    try:
        while not closed.is_set() and time.monotonic() - last < idle_ms / 1000:
            message = consumer.poll(POLL_S)
            if message is None:
                continue
            if message.error() is not None:
                raise KafkaException(message.error())
            last = time.monotonic()
            say(f"record {message.partition()} {message.offset()} {message.value().decode()}")
            if delay_ms:
                time.sleep(delay_ms / 1000)  # a slow handler: the window a SIGKILL lands in
            consumer.commit(message=message, asynchronous=False)
            say("committed")
    finally:
        consumer.close()
    return 0


def _consumer_protocol_member(
    bootstrap: str, group: str, topic: str, delay_ms: int, idle_ms: int
) -> int:
    """`_member_main` with group.protocol=consumer: incremental callbacks, failed commits said.

    `assigned` lines carry the whole current assignment, as for a classic member. A
    commit the broker refuses prints `commit-failed` and the member goes on; so does a
    consumer error that is not fatal. Only partitions still owned are committed.
    """
    closed = threading.Event()

    def watch_stdin() -> None:
        while sys.stdin.buffer.read(256):
            pass
        closed.set()

    threading.Thread(target=watch_stdin, daemon=True).start()

    def say(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    owned: set[int] = set()

    def on_change(assigned: bool) -> Callable[[Consumer, list[TopicPartition]], None]:
        def callback(_: Consumer, partitions: list[TopicPartition]) -> None:
            changed = {tp.partition for tp in partitions}
            if assigned:
                owned.update(changed)
            else:
                owned.difference_update(changed)
            say("assigned " + (",".join(str(p) for p in sorted(owned)) or "-"))

        return callback

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "group.protocol": "consumer",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe(
        [topic], on_assign=on_change(True), on_revoke=on_change(False), on_lost=on_change(False)
    )
    last = time.monotonic()
    try:
        while not closed.is_set() and time.monotonic() - last < idle_ms / 1000:
            message = consumer.poll(POLL_S)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.fatal():
                    raise KafkaException(error)
                sys.stderr.write(f"consumer error: {error}\n")
                continue
            if message.partition() not in owned:
                continue
            last = time.monotonic()
            value = (message.value() or b"").decode()
            say(f"record {message.partition()} {message.offset()} {value}")
            if delay_ms:
                time.sleep(delay_ms / 1000)  # a slow handler: the window a SIGKILL lands in
            try:
                consumer.commit(message=message, asynchronous=False)
            except KafkaException as exc:
                sys.stderr.write(f"commit failed: {exc.args[0]}\n")
                say("commit-failed")
            else:
                say("committed")
    finally:
        consumer.close()
    return 0


if __name__ == "__main__":
    if len(sys.argv) not in (7, 8) or sys.argv[1] != "member":
        sys.stderr.write(
            "usage: helpers.py member BOOTSTRAP GROUP TOPIC DELAY_MS IDLE_MS [PROTOCOL]\n"
        )
        sys.exit(2)
    bootstrap_, group_, topic_, delay_, idle_ = sys.argv[2:7]
    protocol_ = sys.argv[7] if len(sys.argv) == 8 else "classic"
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(_member_main(bootstrap_, group_, topic_, int(delay_), int(idle_), protocol_))
