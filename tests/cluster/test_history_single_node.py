"""The history workload and checker end to end on one Grete broker, with no faults.

This is the baseline the cluster scenarios build on: with nothing failing, each producer
(confluent-kafka, the Java client, and both at once into one topic) gets every value
acked, and reading the topic back, read_committed or read_uncommitted, finds each value
once, at the offset it was acked at, in send order.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from confluent_kafka import Producer
from harness import JavaProgram, ServerProcess
from harness.kafka import create_topic

from .history import Send, Stored, check_history, java_produce_history, produce_history, read_back

PARTITIONS = 3
COUNT = 1500
RATE = 1000.0  # values per second
MAX_SECONDS = 10.0


def read_both_ways(bootstrap: str, topic: str) -> list[Stored]:
    committed = read_back(bootstrap, topic, isolation="read_committed", timeout=30)
    uncommitted = read_back(bootstrap, topic, isolation="read_uncommitted", timeout=30)
    assert committed == uncommitted, "no transactions: both isolation levels read the same"
    return committed


def assert_all_acked(history: list[Send], count: int) -> None:
    assert len(history) == count
    failures = [send for send in history if not send.acked]
    assert failures == [], f"{len(failures)} sends failed with no fault injected"
    assert {send.partition for send in history} == set(range(PARTITIONS)), "keys spread"


def test_confluent_kafka_history_is_clean(broker: ServerProcess, topic_name: str) -> None:
    create_topic(broker.bootstrap, topic_name, PARTITIONS)
    history = produce_history(
        broker.bootstrap, topic_name, count=COUNT, rate=RATE, max_seconds=MAX_SECONDS
    )
    assert_all_acked(history, COUNT)

    report = check_history(history, read_both_ways(broker.bootstrap, topic_name))
    report.assert_clean()
    assert (report.sent, report.acked, report.read) == (COUNT, COUNT, COUNT)


def test_java_history_is_clean(
    broker: ServerProcess, topic_name: str, java_history_producer: JavaProgram
) -> None:
    create_topic(broker.bootstrap, topic_name, PARTITIONS)
    history = java_produce_history(
        java_history_producer,
        broker.bootstrap,
        topic_name,
        count=COUNT,
        rate=RATE,
        max_seconds=MAX_SECONDS,
    )
    assert_all_acked(history, COUNT)

    report = check_history(history, read_both_ways(broker.bootstrap, topic_name))
    report.assert_clean()
    assert (report.sent, report.acked, report.read) == (COUNT, COUNT, COUNT)


def test_two_clients_into_one_topic_make_one_clean_history(
    broker: ServerProcess, topic_name: str, java_history_producer: JavaProgram
) -> None:
    create_topic(broker.bootstrap, topic_name, PARTITIONS)
    count = COUNT // 2
    with ThreadPoolExecutor(2) as pool:
        python = pool.submit(
            produce_history, broker.bootstrap, topic_name,
            count=count, rate=RATE / 2, max_seconds=MAX_SECONDS, producer="py",
        )  # fmt: skip
        java = pool.submit(
            java_produce_history, java_history_producer, broker.bootstrap, topic_name,
            count=count, rate=RATE / 2, max_seconds=MAX_SECONDS, producer="java",
        )  # fmt: skip
        history = python.result(timeout=120) + java.result(timeout=120)
    assert_all_acked(history, 2 * count)

    report = check_history(history, read_back(broker.bootstrap, topic_name, timeout=30))
    report.assert_clean()
    assert report.read == 2 * count


def test_a_value_written_twice_and_a_stranger_are_found_end_to_end(
    broker: ServerProcess, topic_name: str
) -> None:
    """The read-back sees what a plain (non-idempotent) producer adds behind the workload's
    back: a second copy of an acked value, and a value nobody in the history sent."""
    create_topic(broker.bootstrap, topic_name, PARTITIONS)
    history = produce_history(broker.bootstrap, topic_name, count=100, rate=RATE, max_seconds=5)
    assert_all_acked(history, 100)
    copied = history[42]
    assert copied.partition is not None
    plain = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": False})
    plain.produce(topic_name, value=copied.value, key=copied.value, partition=copied.partition)
    plain.produce(topic_name, value=b"stranger", partition=0)
    assert plain.flush(10) == 0

    report = check_history(history, read_back(broker.bootstrap, topic_name, timeout=30))
    assert report.anomalies == {
        "lost": 0,
        "duplicates": 1,
        "offsets_with_two_values": 0,
        "reordered": 0,
        "unknown": 1,
    }
    assert report.read == 102
