"""Paced producers in one process, run by connections.py and replicated_produce.py.

Several confluent-kafka Producer instances (each its own client: its own connections and
librdkafka threads) share a total rate, taking turns record by record. Each record's first
8 bytes are CLOCK_MONOTONIC nanoseconds at produce(); the ack latency is the time from
there to the delivery callback, served by poll() between sends (so it may include up to
POLL_SLEEP_S of this process's own waiting).

librdkafka's own latency (Message.latency(): produce() to the ack's arrival) is reported
alongside, to tell a slow broker from a busy load generator.

Prints "ready" once every producer has fetched the topic's metadata and had one warm-up
record acknowledged (not counted), starts on a "go" line
on stdin, produces for `--seconds` (or until a "stop" line arrives on stdin), waits for the
acks (up to FLUSH_SECONDS), then prints one JSON line: counts, latencies in ms, errors.
"""

from __future__ import annotations

import argparse
import json
import resource
import select
import struct
import subprocess
import sys
import time
from typing import Any

import workloads
from confluent_kafka import KafkaError, Message, Producer

STAMP = struct.Struct(">q")
PURGED = {KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT}  # our own purge at the deadline
POLL_SLEEP_S = 0.0005
STOP_CHECK_S = 0.1
FLUSH_SECONDS = 30.0
# A paced producer never needs workloads' 1 GiB queue; 50 of them must not be allowed it.
PRODUCER_CONFIG = {**workloads.PRODUCER_CONFIG, "queue.buffering.max.kbytes": 65_536}


def raise_fd_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit (each producer holds sockets and wake-up
    fds); returns the new soft limit."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


class PacedProducers:
    """`args.producers` producers of `args.topic` sharing `args.rate` records/s.

    Not thread-safe: driven from one thread, which also serves the delivery callbacks."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.latencies_ns: list[int] = []
        # librdkafka's own figure: produce() to the ack's arrival, before any callback wait.
        self.librdkafka_latencies_s: list[float] = []
        self.errors: list[str] = []
        self.error_count = 0
        config: dict[str, Any] = {
            "bootstrap.servers": args.bootstrap,
            **PRODUCER_CONFIG,
            "enable.idempotence": args.idempotence,
            "on_delivery": self._on_delivery,
        }
        self.producers = [
            Producer({**config, "client.id": f"{args.client_id}-{i}"})
            for i in range(args.producers)
        ]

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        now = time.monotonic_ns()
        if error is not None:
            if error.code() in PURGED:
                return
            self.error_count += 1
            if len(self.errors) < 5:
                self.errors.append(str(error))
            return
        (sent,) = STAMP.unpack_from(message.value() or b"")
        self.latencies_ns.append(now - sent)
        self.librdkafka_latencies_s.append(message.latency() or 0.0)

    def connect(self) -> None:
        """Metadata, then one record each: the connection to the partition leaders (not the
        bootstrap one) is open before the clock starts. Those records are not counted."""
        padding = b"\0" * (self.args.size - STAMP.size)
        for producer in self.producers:
            producer.list_topics(self.args.topic, timeout=30)
            producer.produce(self.args.topic, STAMP.pack(time.monotonic_ns()) + padding)
        deadline = time.monotonic() + FLUSH_SECONDS
        for producer in self.producers:
            if producer.flush(max(0.0, deadline - time.monotonic())):
                raise RuntimeError("warm-up records not acknowledged")
        self.latencies_ns.clear()
        self.librdkafka_latencies_s.clear()
        self.error_count = 0

    def run(self) -> dict[str, Any]:
        args = self.args
        padding = b"\0" * (args.size - STAMP.size)
        count = int(args.rate * args.seconds)
        start = time.monotonic()
        stop_at = start + args.seconds
        next_check = start + STOP_CHECK_S
        polled_all = start
        produced = 0
        while produced < count:
            now = time.monotonic()
            if now >= next_check:
                next_check = now + STOP_CHECK_S
                if now > stop_at or _stop_requested():
                    break
            # Serve delivery callbacks even while behind the pace, else they wait for a lull.
            ahead = now < start + produced / args.rate
            if ahead or now - polled_all >= POLL_SLEEP_S:
                polled_all = now
                for producer in self.producers:
                    producer.poll(0)
            if ahead:
                time.sleep(POLL_SLEEP_S)
                continue
            producer = self.producers[produced % len(self.producers)]
            try:
                producer.produce(args.topic, STAMP.pack(time.monotonic_ns()) + padding)
                produced += 1
            except BufferError:  # the local queue is full: the broker is the limit
                producer.poll(0.001)
        produce_seconds = time.monotonic() - start
        flush_deadline = time.monotonic() + FLUSH_SECONDS
        unacked = sum(
            producer.flush(max(0.0, flush_deadline - time.monotonic()))
            for producer in self.producers
        )
        for producer in self.producers:
            producer.purge()
            producer.flush(1.0)  # serves the purge reports
        return {
            "produced": produced,
            "acked": len(self.latencies_ns),
            "unacked_at_deadline": unacked,
            "error_count": self.error_count,
            "errors": self.errors,
            "produce_seconds": round(produce_seconds, 3),
            "seconds": round(time.monotonic() - start, 3),
            "latencies_ms": [round(ns / 1e6, 3) for ns in self.latencies_ns],
            "librdkafka_latencies_ms": [round(s * 1e3, 3) for s in self.librdkafka_latencies_s],
            "process_cpu_seconds": round(time.process_time(), 2),  # librdkafka's threads too
        }


class Workers:
    """The parent's side: paced_producers.py processes, started together, stopped together.

    Every wait is bounded; close() kills whatever is still running."""

    def __init__(self, commands: list[list[str]]) -> None:
        self.processes = [
            subprocess.Popen(
                [sys.executable, __file__, *command],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for command in commands
        ]

    def start(self, timeout: float) -> None:
        """Wait until every worker is connected, then let them all go at once."""
        deadline = time.monotonic() + timeout
        for process in self.processes:
            line = _readline(process, deadline)
            if line != "ready":
                raise RuntimeError(f"producer worker failed to start (said {line!r})")
        for process in self.processes:
            self._say(process, "go")

    def stop(self) -> None:
        """Ask every worker to stop producing now (they still wait for their acks)."""
        for process in self.processes:
            self._say(process, "stop")

    def reports(self, timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        reports = []
        for process in self.processes:
            line = _readline(process, deadline)
            if not line.startswith("{"):
                raise RuntimeError(f"producer worker exited {process.poll()} with {line!r}")
            reports.append(json.loads(line))
        return reports

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()

    @staticmethod
    def _say(process: subprocess.Popen[str], line: str) -> None:
        if process.stdin is not None and process.poll() is None:
            process.stdin.write(line + "\n")
            process.stdin.flush()


def worker_command(
    bootstrap: str, topic: str, producers: int, rate: float, seconds: float, *,
    size: int = 1024, client_id: str = "bench-paced", idempotence: bool = False,
) -> list[str]:  # fmt: skip
    return [
        "--bootstrap", bootstrap, "--topic", topic, "--producers", str(producers),
        "--rate", str(rate), "--seconds", str(seconds), "--size", str(size),
        "--client-id", client_id, *(["--idempotence"] if idempotence else []),
    ]  # fmt: skip


def latency_summary(latencies_ms: list[float]) -> dict[str, float | None]:
    """p50, p99 and max of ack latencies in ms (None when nothing was acked)."""
    ordered = sorted(latencies_ms)
    if not ordered:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}

    def at(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]

    return {
        "p50_ms": round(at(0.5), 2),
        "p99_ms": round(at(0.99), 2),
        "max_ms": round(ordered[-1], 2),
    }


def _readline(process: subprocess.Popen[str], deadline: float) -> str:
    """One line of the worker's stdout, or "" if it does not come before the deadline."""
    assert process.stdout is not None
    readable, _, _ = select.select([process.stdout], [], [], max(0.0, deadline - time.monotonic()))
    return process.stdout.readline().strip() if readable else ""


def _stop_requested() -> bool:
    readable, _, _ = select.select([sys.stdin], [], [], 0)
    return bool(readable) and sys.stdin.readline().strip() in ("stop", "")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--producers", type=int, required=True)
    parser.add_argument(
        "--rate", type=float, required=True, help="records/s, all producers together"
    )
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--client-id", default="bench-paced")
    parser.add_argument("--idempotence", action="store_true")
    args = parser.parse_args()
    if args.size < STAMP.size or args.producers < 1 or args.rate <= 0:
        parser.error("need --size >= 8, --producers >= 1 and --rate > 0")
    raise_fd_limit()
    paced = PacedProducers(args)
    paced.connect()
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return 1
    print(json.dumps(paced.run()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
