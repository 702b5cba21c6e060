"""One full-speed producer of the quota workload, run as its own process by quota_fairness.py.

Its own process, so that a throttled producer blocking on its full queue cannot slow the
other one down on the client side: only the broker decides their shares. Prints "ready"
once connected, starts on a "go" line on stdin, produces for `seconds` (at full speed, or
paced at `--rate-mb` MB/s: what it *tries* to send), then prints one JSON line: bytes
acknowledged within the time, per second too, and the throttle reports.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from confluent_kafka import KafkaError, Message, Producer, ThrottleEvent

PURGED = {KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT}  # our own purge at the deadline


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--rate-mb", type=float, default=0.0, help="pace sends at this MB/s (0: full speed)")
    args = parser.parse_args()

    start = time.monotonic()
    per_second = [0] * (int(args.seconds) + 1)
    throttles: list[float] = []
    errors: list[str] = []
    stats: list[str] = []

    def on_delivery(error: KafkaError | None, message: Message) -> None:
        elapsed = time.monotonic() - start
        if error is not None:
            if error.code() not in PURGED:
                errors.append(str(error))
        elif elapsed < args.seconds:  # what is acknowledged after the time does not count
            per_second[int(elapsed)] += len(message.value() or b"")

    def on_throttle(event: ThrottleEvent) -> None:
        if event.throttle_time > 0:
            throttles.append(event.throttle_time * 1000)

    producer = Producer({
        "bootstrap.servers": args.bootstrap, "client.id": args.client_id,
        "acks": "all", "linger.ms": 5, "batch.size": 1_048_576, "compression.type": "none",
        # 64 MiB of queue: a throttled producer must not hold a gigabyte at the deadline.
        "queue.buffering.max.kbytes": 65_536,
        "on_delivery": on_delivery, "throttle_cb": on_throttle,
        "statistics.interval.ms": 1000, "stats_cb": stats.append,
    })  # fmt: skip
    producer.list_topics(args.topic, timeout=10)
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return 1
    value = os.urandom(args.size)
    start = time.monotonic()
    deadline = start + args.seconds
    offered = 0
    while (now := time.monotonic()) < deadline:
        if args.rate_mb > 0 and offered > args.rate_mb * 1e6 * (now - start):
            producer.poll(0.001)  # ahead of the pace
            continue
        try:
            producer.produce(args.topic, value)
            offered += len(value)
        except BufferError:  # queue full (throttled, or the broker is the limit)
            producer.poll(0.005)
        producer.poll(0)
    producer.purge()  # unacknowledged at the deadline: not counted, not waited for
    producer.flush(10)
    producer.poll(1.1)  # one more statistics report, taken after the deadline
    report = _report(args.seconds, per_second, throttles, errors, stats)
    report["offered_mb_per_second"] = round(offered / args.seconds / 1e6, 2)
    print(json.dumps(report))
    return 0


def _report(
    seconds: float, per_second: list[int], throttles: list[float], errors: list[str],
    stats: list[str],
) -> dict[str, Any]:  # fmt: skip
    produce_requests = 0
    if stats:  # librdkafka's counters: how many Produce requests the throttles are out of
        brokers = json.loads(stats[-1]).get("brokers", {})
        produce_requests = sum(b.get("req", {}).get("Produce", 0) for b in brokers.values())
    return {
        "bytes": sum(per_second),
        "mb_per_second": round(sum(per_second) / seconds / 1e6, 2),
        "mb_per_second_each_second": [round(b / 1e6, 2) for b in per_second[: int(seconds)]],
        "throttled_responses": len(throttles),
        "max_throttle_ms": round(max(throttles, default=0.0), 1),
        "produce_requests": produce_requests,
        "errors": errors[:3],
        "process_cpu_seconds": round(time.process_time(), 2),  # librdkafka's threads too
    }


if __name__ == "__main__":
    sys.exit(main())
