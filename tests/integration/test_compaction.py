"""Log compaction on a real broker, written and read back with confluent-kafka.

The cleaner wakes every 200 ms (log.cleaner.backoff.ms), topics use small segments,
a dirty ratio of 0.01 and delete.retention.ms of 2 s, so every wait is short and bounded.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from harness import ServerProcess

from grete.records.batch import split_batches, validate_batch

FAST_CLEANER = ("--override", "log.cleaner.backoff.ms=200")
TOPIC_CONFIGS = {
    "cleanup.policy": "compact",
    "segment.bytes": str(128 * 1024),
    "min.cleanable.dirty.ratio": "0.01",
    "delete.retention.ms": "2000",
}


def create_topic(bootstrap: str, name: str, configs: dict[str, str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, 1, 1, config=configs)], request_timeout=15)[name].result(15)


def produce(bootstrap: str, topic: str, items: list[tuple[bytes, bytes | None]],
            compression: str) -> dict[bytes, tuple[int, bytes | None]]:
    """Produce in order; returns each key's last (offset, value) as delivery reports said."""
    latest: dict[bytes, tuple[int, bytes | None]] = {}
    errors: list[object] = []

    def report(err: object, msg: object) -> None:
        if err is not None:
            errors.append(err)
            return
        latest[msg.key()] = (msg.offset(), msg.value())  # type: ignore[attr-defined]

    producer = Producer({"bootstrap.servers": bootstrap, "compression.type": compression,
                         "linger.ms": 5, "enable.idempotence": True})
    for key, value in items:
        while True:
            try:
                producer.produce(topic, key=key, value=value, on_delivery=report)
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(30) == 0
    assert errors == []
    return latest


def consume_all(bootstrap: str, topic: str) -> list[tuple[int, bytes, bytes | None]]:
    """Every record from the beginning to the current end, CRCs checked by librdkafka."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader",
                         "enable.auto.commit": False, "check.crcs": True,
                         "enable.partition.eof": True})
    consumer.assign([TopicPartition(topic, 0, 0)])
    out: list[tuple[int, bytes, bytes | None]] = []
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == -191:  # _PARTITION_EOF
                    return out
                raise AssertionError(msg.error())
            out.append((msg.offset(), msg.key(), msg.value()))
    finally:
        consumer.close()
    raise AssertionError("did not reach the end of the partition in 20 s")


def cleaner_checkpoint(data_dir: Path, topic: str) -> int:
    path = data_dir / "cleaner-offset-checkpoint"
    if not path.exists():
        return -1
    for line in path.read_text().splitlines()[2:]:
        name, partition, offset = line.split(" ")
        if name == topic and partition == "0":
            return int(offset)
    return -1


def wait_for(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def updates(count: int, keys: int) -> list[tuple[bytes, bytes | None]]:
    return [(f"key-{i % keys:04d}".encode(), f"value-{i:06d}".encode()) for i in range(count)]


@pytest.mark.parametrize("compression", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_compaction_keeps_the_latest_value_of_every_key(
    broker_factory, topic_name: str, compression: str  # type: ignore[no-untyped-def]
) -> None:
    broker: ServerProcess = broker_factory(*FAST_CLEANER)
    bootstrap = broker.bootstrap
    create_topic(bootstrap, topic_name, TOPIC_CONFIGS)
    latest = produce(bootstrap, topic_name, updates(100_000, 1000), compression)
    tombstoned = [f"key-{k:04d}".encode() for k in range(0, 1000, 20)]
    latest.update(produce(bootstrap, topic_name, [(k, None) for k in tombstoned], compression))
    # Unique keys after the tombstones push them out of the active segment (never cleaned).
    fillers = [(f"filler-{i:05d}".encode(), os.urandom(100)) for i in range(3000)]
    latest.update(produce(bootstrap, topic_name, fillers, compression))
    end = max(offset for offset, _ in latest.values()) + 1

    wait_for(lambda: cleaner_checkpoint(broker.data_dir, topic_name) >= 100_050, 30, "a compaction pass")
    records = consume_all(bootstrap, topic_name)
    offsets = [offset for offset, _, _ in records]
    assert offsets == sorted(set(offsets))  # increasing, no duplicates
    seen: dict[bytes, tuple[int, bytes | None]] = {}
    for offset, key, value in records:
        seen[key] = (offset, value)
    # Every key's latest value, at the offset its delivery report gave.
    assert seen == latest
    # Compacted: at most the active segment's records besides one per key.
    cleaned = [r for r in records if r[0] < cleaner_checkpoint(broker.data_dir, topic_name)]
    assert len({key for _, key, _ in cleaned}) == len(cleaned)
    assert len(records) < 10_000

    def tombstones_gone() -> bool:
        keys = {key for _, key, _ in consume_all(bootstrap, topic_name)}
        return not keys & set(tombstoned)

    wait_for(tombstones_gone, 20, "tombstones to go after delete.retention.ms")
    final = {key: (o, v) for o, key, v in consume_all(bootstrap, topic_name)}
    assert final == {k: v for k, v in latest.items() if v[1] is not None}
    assert max(o for o, _ in final.values()) == end - 1


def test_kill_during_compaction_recovers_a_consistent_log(
    broker_factory, topic_name: str  # type: ignore[no-untyped-def]
) -> None:
    broker: ServerProcess = broker_factory(
        *FAST_CLEANER, "--override", "log.cleaner.io.max.bytes.per.second=400000")
    bootstrap = broker.bootstrap
    create_topic(bootstrap, topic_name, TOPIC_CONFIGS)
    latest = produce(bootstrap, topic_name, updates(30_000, 1000), "none")
    latest.update(produce(bootstrap, topic_name, updates(2000, 2000)[1000:], "none"))
    part = broker.data_dir / f"{topic_name}-0"

    wait_for(lambda: any(p.name.endswith(".cleaned") for p in part.iterdir()), 25,
             "the cleaner to write .cleaned files")
    workers = _children(broker.pid)  # the cleaner's worker process
    assert workers
    broker.kill()  # kill -9 in the middle of the pass
    assert any(p.name.endswith(".cleaned") for p in part.iterdir())
    # The worker dies with the broker: else it would go on writing .cleaned files into
    # the directory the restarted broker cleans up (CI saw them after the restart).
    wait_for(lambda: not any(os.path.exists(f"/proc/{pid}") for pid in workers), 5,
             "the cleaner's worker process to die with the broker")
    broker.start()
    records = consume_all(broker.bootstrap, topic_name)
    offsets = [offset for offset, _, _ in records]
    assert offsets == sorted(set(offsets))
    assert {key: (o, v) for o, key, v in records} == latest
    broker.stop()
    for log_file in sorted(part.glob("*.log")):
        data = log_file.read_bytes()
        for start, stop in split_batches(data):
            validate_batch(data[start:stop])  # framing and CRC-32C of every batch on disk
    assert not [p.name for p in part.iterdir() if p.name.endswith((".cleaned", ".swap"))]


def test_a_record_without_key_is_refused_by_a_compacted_topic(
    broker: ServerProcess, topic_name: str
) -> None:
    create_topic(broker.bootstrap, topic_name, TOPIC_CONFIGS)
    errors: list[object] = []
    producer = Producer({"bootstrap.servers": broker.bootstrap, "retries": 0})
    producer.produce(topic_name, value=b"no key", on_delivery=lambda err, _msg: errors.append(err))
    assert producer.flush(15) == 0  # its own batch: Kafka refuses a whole batch
    producer.produce(topic_name, key=b"k", value=b"keyed", on_delivery=lambda err, _msg: errors.append(err))
    assert producer.flush(15) == 0
    codes = sorted(e.code() if e is not None else 0 for e in errors)  # type: ignore[attr-defined]
    assert codes == [0, KafkaError.INVALID_RECORD]  # as Kafka: INVALID_RECORD, not CORRUPT_MESSAGE


def _children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (from /proc/*/stat)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
            found.append(int(entry))
    return found
