"""The next-generation consumer protocol (KIP-848) with librdkafka's `group.protocol=consumer`."""

from __future__ import annotations

import threading
import time
from collections import Counter

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

PARTITIONS = 6


def test_three_members_share_the_partitions_and_read_each_record_once(broker) -> None:  # type: ignore[no-untyped-def]
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("kip848", PARTITIONS, 1)])["kip848"].result(10)
    stop = threading.Event()
    seen: list[tuple[int, int]] = []
    failed_commits: set[int] = set()
    final: dict[int, list[int]] = {}
    produced = [0]
    lock = threading.Lock()

    def produce() -> None:
        producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 1})
        deadline = time.monotonic() + 40
        while not stop.is_set() and time.monotonic() < deadline:
            producer.produce("kip848", value=b"%d" % produced[0], partition=produced[0] % PARTITIONS)
            produced[0] += 1
            producer.poll(0)
            time.sleep(0.004)
        assert producer.flush(10) == 0

    def member(n: int, seconds: float) -> None:
        consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "kip848-group",
                             "group.protocol": "consumer", "auto.offset.reset": "earliest",
                             "enable.auto.commit": False})
        consumer.subscribe(["kip848"])
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None or message.error() is not None:
                continue
            with lock:
                seen.append((message.partition(), message.offset()))
            try:
                consumer.commit(message, asynchronous=False)
            except KafkaException:
                with lock:
                    failed_commits.add(message.partition())
        final[n] = sorted(tp.partition for tp in consumer.assignment())
        consumer.close()

    feeder = threading.Thread(target=produce)
    feeder.start()
    members = [threading.Thread(target=member, args=(n, 22 - 4 * n)) for n in range(3)]
    for thread in members:
        thread.start()
        time.sleep(4)
    for thread in members:
        thread.join(60)
    stop.set()
    feeder.join(30)

    # Before the members left, the uniform assignor had spread the partitions 2/2/2.
    assert sorted(p for parts in final.values() for p in parts) == list(range(PARTITIONS))
    assert sorted(len(parts) for parts in final.values()) == [2, 2, 2]
    counts = Counter(seen)
    assert len(counts) > 0.9 * produced[0], "the group kept up with the producer"
    read_twice = {p for (p, _), c in counts.items() if c > 1}
    assert read_twice <= failed_commits, "only a record whose commit failed may be read twice"
