"""Group takeover: how long after a member is killed its partitions are consumed again.

Two members (separate processes) share a 6-partition topic fed at a steady rate; one is
SIGKILLed and the survivor's first record from a partition the dead member owned marks
the takeover. Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Producer

MEMBER = Path(__file__).with_name("group_member.py")
PARTITIONS = 6


@dataclass(frozen=True)
class Takeover:
    seconds: float
    moved_partitions: int


class _Member:
    def __init__(self, bootstrap: str, topic: str, group: str, protocol: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(MEMBER), bootstrap, topic, group, protocol, "120"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        self.lines: queue.Queue[dict[str, object]] = queue.Queue()
        self.assigned: list[int] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            event = json.loads(line)
            if "assigned" in event:
                self.assigned = list(event["assigned"])  # type: ignore[arg-type]
            self.lines.put(event)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def _feed(bootstrap: str, topic: str, stop: threading.Event) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    while not stop.is_set():
        for partition in range(PARTITIONS):
            producer.produce(topic, b"x", partition=partition)
        producer.poll(0)
        time.sleep(0.02)
    producer.flush(10)


def takeover_time(bootstrap: str, topic: str, protocol: str, timeout: float = 90.0) -> Takeover:
    stop = threading.Event()
    feeder = threading.Thread(target=_feed, args=(bootstrap, topic, stop), daemon=True)
    feeder.start()
    group = f"bench-takeover-{protocol}-{os.getpid()}-{time.monotonic_ns()}"
    victim = _Member(bootstrap, topic, group, protocol)
    survivor = _Member(bootstrap, topic, group, protocol)
    try:
        deadline = time.monotonic() + timeout
        while not (victim.assigned and survivor.assigned
                   and sorted(victim.assigned + survivor.assigned) == list(range(PARTITIONS))):
            if time.monotonic() > deadline:
                raise TimeoutError(f"group never settled: {victim.assigned} / {survivor.assigned}")
            time.sleep(0.05)
        time.sleep(1.0)  # both consume steadily before the kill
        moved = set(victim.assigned)
        while not survivor.lines.empty():
            survivor.lines.get_nowait()
        killed_at = time.monotonic()
        os.kill(victim.proc.pid, signal.SIGKILL)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the survivor never consumed the dead member's partitions")
            event = survivor.lines.get(timeout=remaining)
            if event.get("p") in moved and float(event["t"]) > killed_at:  # type: ignore[arg-type]
                return Takeover(float(event["t"]) - killed_at, len(moved))  # type: ignore[arg-type]
    finally:
        stop.set()
        victim.stop()
        survivor.stop()
        feeder.join(15)
