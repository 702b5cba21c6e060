"""One consumer-group member for the takeover benchmark, as its own process (so it can be
SIGKILLed). Prints JSON lines: {"assigned": [partitions]} after each rebalance, and
{"p": partition, "t": CLOCK_MONOTONIC seconds} for every record received."""

from __future__ import annotations

import json
import sys
import time

from confluent_kafka import Consumer


def main() -> int:
    bootstrap, topic, group, protocol, seconds = sys.argv[1:6]
    settings = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "latest",
        "enable.auto.commit": True,
        "fetch.wait.max.ms": 50,
    }
    if protocol == "consumer":
        settings["group.protocol"] = "consumer"
    else:
        settings.update({"session.timeout.ms": 6000, "heartbeat.interval.ms": 500})
    consumer = Consumer(settings)

    owned: set[int] = set()

    # Eager rebalancing revokes everything and assigns the new set; KIP-848 (like
    # cooperative) adds and removes increments. Tracking a set serves both.
    def on_assign(c: Consumer, partitions: list) -> None:  # type: ignore[type-arg]
        owned.update(tp.partition for tp in partitions)
        print(json.dumps({"assigned": sorted(owned)}), flush=True)

    def on_revoke(c: Consumer, partitions: list) -> None:  # type: ignore[type-arg]
        owned.difference_update(tp.partition for tp in partitions)
        print(json.dumps({"assigned": sorted(owned)}), flush=True)

    consumer.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
    deadline = time.monotonic() + float(seconds)
    while time.monotonic() < deadline:
        message = consumer.poll(0.05)
        if message is not None and message.error() is None:
            print(json.dumps({"p": message.partition(), "t": time.monotonic()}), flush=True)
    consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
