"""The receiving side of the latency workload, run as its own process by workloads.py.

Assigns every partition of the topic from the beginning, prints "ready" once it has
fetched, then reads `count` records whose first 8 bytes are the producer's
CLOCK_MONOTONIC nanoseconds and prints one JSON line of latency percentiles.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition

STAMP = struct.Struct(">q")
WARM_UP_SECONDS = 1.0


def percentile(sorted_values: list[int], fraction: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index] / 1e6


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--partitions", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--timeout", type=float, required=True)
    args = parser.parse_args()

    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": f"grete-bench-latency-{args.topic}",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
    )
    latencies_ns: list[int] = []
    deadline = time.monotonic() + args.timeout
    try:
        consumer.assign([TopicPartition(args.topic, p, -2) for p in range(args.partitions)])
        warm_until = time.monotonic() + WARM_UP_SECONDS
        while time.monotonic() < warm_until:  # connect and resolve offsets before timing
            if consumer.poll(0.1) is not None:
                raise RuntimeError("latency topic was not empty")
        print("ready", flush=True)
        while len(latencies_ns) < args.count and time.monotonic() < deadline:
            # poll(), not consume(n): a batch call waits for n records or its timeout.
            message = consumer.poll(0.2)
            if message is None:
                continue
            received = time.monotonic_ns()
            if message.error() is not None:
                raise KafkaException(message.error())
            (sent,) = STAMP.unpack_from(message.value() or b"")
            latencies_ns.append(received - sent)
    finally:
        consumer.close()
    if not latencies_ns:
        print(json.dumps({"error": "no records received"}))
        return 1
    latencies_ns.sort()
    print(
        json.dumps(
            {
                "records": len(latencies_ns),
                "p50_ms": percentile(latencies_ns, 0.50),
                "p99_ms": percentile(latencies_ns, 0.99),
                "max_ms": latencies_ns[-1] / 1e6,
            }
        )
    )
    return 0 if len(latencies_ns) >= args.count else 2


if __name__ == "__main__":
    sys.exit(main())
