"""A round trip with kafka-python 2.x, run by test_kafka_python_2.py in a subprocess whose
PYTHONPATH puts one kafka-python 2.x release before the venv's 3.x.

    python kafka_python_2_app.py BOOTSTRAP TOPIC PARTITIONS GROUP

Produces FIRST records with keys and headers (acks=all), consumes them in GROUP and
commits, produces SECOND more, then a new member of GROUP resumes from the commit. Prints
one JSON object: the kafka-python version, the acked (partition, offset) pairs, the
records each consumer read, and the committed offsets.

Written for kafka-python 2.0 to 2.3 (their common API); no compression.
"""

import json
import sys
import time
from typing import Any

import kafka
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

FIRST = 30
SECOND = 7
TIMEOUT_S = 60


def produce(bootstrap: str, topic: str, partitions: int, start: int, count: int) -> list[list[int]]:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    futures = [
        producer.send(
            topic,
            key=b"key-%d" % (i % 5),
            value=b"value-%d" % i,
            headers=[("seq", b"%d" % i), ("client", b"kafka-python")],
            partition=i % partitions,
        )
        for i in range(start, start + count)
    ]
    producer.flush(timeout=TIMEOUT_S)
    acked = [[m.partition, m.offset] for m in (f.get(timeout=TIMEOUT_S) for f in futures)]
    producer.close(timeout=TIMEOUT_S)
    return acked


def consume(
    bootstrap: str, topic: str, partitions: int, group: str, count: int
) -> tuple[list[Any], dict[int, Any]]:
    """Join GROUP, read COUNT records, commit them; (records, committed offsets)."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    records: list[Any] = []
    deadline = time.monotonic() + TIMEOUT_S
    while len(records) < count and time.monotonic() < deadline:
        for messages in consumer.poll(timeout_ms=500).values():
            records += [
                [m.partition, m.offset, m.key.decode(), m.value.decode(),
                 [[name, value.decode()] for name, value in m.headers]]
                for m in messages
            ]
    consumer.commit()
    committed = {p: consumer.committed(TopicPartition(topic, p)) for p in range(partitions)}
    consumer.close()
    return sorted(records), committed


def main() -> None:
    bootstrap, topic, partitions, group = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    acked = produce(bootstrap, topic, partitions, 0, FIRST)
    first, committed = consume(bootstrap, topic, partitions, group, FIRST)
    acked += produce(bootstrap, topic, partitions, FIRST, SECOND)
    resumed, committed_after = consume(bootstrap, topic, partitions, group, SECOND)
    print(json.dumps({
        "version": kafka.__version__,
        "module": kafka.__file__,
        "acked": acked,
        "first": first,
        "committed": committed,
        "resumed": resumed,
        "committed_after": committed_after,
    }))


if __name__ == "__main__":
    main()
