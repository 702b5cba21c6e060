"""Crash recovery: SIGKILL mid-produce, segment files cut at a byte, CRC damage.

Each test runs a real broker, damages it the way a crash (or a disk) would, restarts it
on the same data dir and port, and checks the log against what was acknowledged.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer
from integration.raw_kafka import RawKafka

from . import (
    BATCH_HEADER_BYTES,
    MAX_TIMESTAMP,
    FileBatch,
    check_indexes,
    create_topic,
    fetch,
    list_offset,
    list_offset_and_timestamp,
    now_ms,
    numbered_batch,
    produce_ok,
    read_partitions,
    scan_batches,
    segment_logs,
    signal_and_wait,
    value_for,
)

pytestmark = pytest.mark.slow

TOPIC = "crash"

# -- 1. kill -9 while a real client produces with acks=1 --------------------------------

PARTITIONS = 3
PRODUCE_SECONDS = 20.0


def _value(partition: int, seq: int) -> bytes:
    return b"%d:%09d:" % (partition, seq) + b"v" * (seq % 50)


def _seq_of(value: bytes) -> int:
    return int(value.split(b":")[1])


def _produce_until_killed(broker, kill_after: int) -> tuple[dict[tuple[int, int], bytes], int]:  # type: ignore[no-untyped-def]
    """Produce continuously (acks=1) and SIGKILL the broker once ``kill_after`` records are
    acked. Returns the acked {(partition, offset): value} and how many were sent."""
    acked: dict[tuple[int, int], bytes] = {}

    def on_delivery(err, msg) -> None:  # type: ignore[no-untyped-def]
        if err is None:
            acked[(msg.partition(), msg.offset())] = msg.value()

    producer = Producer({
        "bootstrap.servers": broker.bootstrap,
        "acks": 1,
        "linger.ms": 1,
        "batch.num.messages": 200,
        "enable.idempotence": False,
        "message.timeout.ms": 30000,
    })
    sent = 0
    deadline = time.monotonic() + PRODUCE_SECONDS
    try:
        # Stay ahead of the acks, so that the kill finds produce requests in flight.
        cap = 4 * kill_after + 5_000
        while len(acked) < kill_after and time.monotonic() < deadline:
            if sent >= cap:
                producer.poll(0.005)
                continue
            partition = sent % PARTITIONS
            try:
                producer.produce(TOPIC, value=_value(partition, sent), partition=partition,
                                 on_delivery=on_delivery)
                sent += 1
            except BufferError:
                producer.poll(0.005)
            producer.poll(0)
        assert len(acked) >= kill_after, f"only {len(acked)} acks in {PRODUCE_SECONDS}s"
        broker.kill()  # SIGKILL with produce requests still in flight
    finally:
        producer.purge()  # nothing more reaches a broker: retries would blur the picture
        # Successes still reported now were answered before the kill: they count as acked.
        producer.flush(10)
    return acked, sent


@pytest.mark.parametrize(
    ("kill_after", "segment_bytes"),
    [(30, 1 << 30), (2_000, 16 * 1024), (15_000, 256 * 1024)],
    ids=["early", "mid-small-segments", "late"],
)
def test_kill_9_while_producing_keeps_every_acked_record(broker_factory, kill_after, segment_bytes) -> None:  # type: ignore[no-untyped-def]
    broker = broker_factory("--override", f"log.segment.bytes={segment_bytes}",
                            "--override", "log.index.interval.bytes=512")
    with RawKafka(broker.bootstrap) as raw:
        create_topic(raw, TOPIC, PARTITIONS)
    acked, sent = _produce_until_killed(broker, kill_after)
    assert not broker.running

    broker.start()
    with RawKafka(broker.bootstrap) as raw:
        ends = {p: list_offset(raw, TOPIC, p) for p in range(PARTITIONS)}
    assert sum(ends.values()) >= len(acked), (ends, len(acked))
    log = read_partitions(broker.bootstrap, TOPIC, ends)

    for p in range(PARTITIONS):
        offsets = [offset for offset, _ in log[p]]
        assert offsets == list(range(ends[p])), f"partition {p}: offsets not contiguous from 0"
        values = dict(log[p])
        for (q, offset), value in acked.items():
            if q == p:
                assert offset < ends[p], f"acked {p}@{offset} lost (log end {ends[p]})"
                assert values[offset] == value, f"acked {p}@{offset} holds another value"
        # Acked or not, what survived is ours, in the order it was sent, each record once.
        seqs = [_seq_of(v) for _, v in log[p]]
        assert all(v == _value(p, s) for (_, v), s in zip(log[p], seqs)), f"partition {p}: garbage"
        assert seqs == sorted(set(seqs)), f"partition {p}: reordered or duplicated"
        assert all(s % PARTITIONS == p and s < sent for s in seqs)

    # The recovered log takes new appends right at its end, and they read back.
    with RawKafka(broker.bootstrap) as raw:
        assert produce_ok(raw, TOPIC, 0, numbered_batch(TOPIC, 0, ends[0], 3)) == ends[0]
        assert list_offset(raw, TOPIC, 0) == ends[0] + 3
    broker.stop(check=True)
    for p in range(PARTITIONS):
        check_indexes(broker.data_dir / f"{TOPIC}-{p}")


# -- 2. a segment file cut at a byte, or with a flipped byte ------------------------------


class NumberedLog:
    """What the test wrote to partition 0: record o holds value_for(o); the batch starting
    at offset b has timestamp t0 + b, so every batch has its own, increasing timestamp."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.t0 = now_ms() - 3_600_000
        self.bases: list[int] = []
        self.end = 0

    def fill(self, raw: RawKafka, batches: int) -> None:
        """Append ``batches`` batches of 1-6 records at the log end."""
        for _ in range(batches):
            count = self.rng.randint(1, 6)
            batch = numbered_batch(TOPIC, 0, self.end, count, timestamp=self.t0 + self.end)
            assert produce_ok(raw, TOPIC, 0, batch) == self.end
            self.bases.append(self.end)
            self.end += count

    def truncated(self, end: int) -> None:
        self.bases = [b for b in self.bases if b < end]
        self.end = end

    def assert_reads_back(self, broker, raw: RawKafka) -> None:  # type: ignore[no-untyped-def]
        end, rng = self.end, self.rng
        assert list_offset(raw, TOPIC, 0) == end
        # Offset index lookups: the first batch a fetch returns must hold the fetch offset.
        for offset in {0, end // 3, end // 2, end - 1, rng.randrange(end)}:
            first = scan_batches(bytes(fetch(raw, TOPIC, 0, offset, max_bytes=1).records or b""))
            assert first and first[0].base_offset <= offset <= first[0].last_offset, (offset, first)
        # Time index lookups: a batch's timestamp finds that batch; none finds what was cut.
        for base in rng.sample(self.bases, min(6, len(self.bases))) + [self.bases[-1]]:
            assert list_offset_and_timestamp(raw, TOPIC, 0, self.t0 + base) == (base, self.t0 + base)
        assert list_offset(raw, TOPIC, 0, self.t0 + end) == -1
        assert list_offset_and_timestamp(raw, TOPIC, 0, MAX_TIMESTAMP)[1] == self.t0 + self.bases[-1]
        records = read_partitions(broker.bootstrap, TOPIC, {0: end})[0]
        assert records == [(o, value_for(TOPIC, 0, o)) for o in range(end)]


def _active_segment(partition_dir: Path) -> tuple[Path, list[FileBatch]]:
    path = segment_logs(partition_dir)[-1]
    batches = scan_batches(path.read_bytes())
    assert sum(b.size for b in batches) == path.stat().st_size
    return path, batches


def _cut_position(kind: str, batches: list[FileBatch], rng: random.Random) -> int:
    """A byte position to cut the segment at: inside a batch's 61-byte header, inside its
    records, or anywhere (possibly on a batch boundary)."""
    if kind == "anywhere":
        return rng.randrange(0, batches[-1].end)
    victim = rng.choice(batches)
    if kind == "header":
        return victim.position + rng.randint(1, BATCH_HEADER_BYTES - 1)
    return victim.position + rng.randint(BATCH_HEADER_BYTES, victim.size - 1)


def _expected_end(segment: Path, batches: list[FileBatch], cut: int) -> int:
    """Log end after trimming: the end of the last batch lying wholly before the cut."""
    whole = [b for b in batches if b.end <= cut]
    return whole[-1].last_offset + 1 if whole else int(segment.stem)


@pytest.mark.parametrize("stop", ["sigterm", "sigkill"])
@pytest.mark.parametrize("segment_bytes", [1 << 30, 3000], ids=["one-segment", "many-segments"])
def test_cut_segment_is_trimmed_to_the_last_whole_batch(broker_factory, stop, segment_bytes) -> None:  # type: ignore[no-untyped-def]
    log = NumberedLog(random.Random(f"cut-{stop}-{segment_bytes}"))
    broker = broker_factory("--override", f"log.segment.bytes={segment_bytes}",
                            "--override", "log.index.interval.bytes=200")
    partition_dir = broker.data_dir / f"{TOPIC}-0"
    with RawKafka(broker.bootstrap) as raw:
        create_topic(raw, TOPIC, 1)
        log.fill(raw, 40)
    for kind in ("header", "body", "anywhere"):
        if stop == "sigterm":
            broker.stop(check=True)
            check_indexes(partition_dir)
        else:
            broker.kill()
        if segment_bytes < 1 << 30:
            assert len(segment_logs(partition_dir)) > 2
        segment, batches = _active_segment(partition_dir)
        cut = _cut_position(kind, batches, log.rng)
        with open(segment, "r+b") as f:
            f.truncate(cut)
        before = log.end
        log.truncated(_expected_end(segment, batches, cut))
        assert log.end < before or kind == "anywhere"

        broker.start()
        with RawKafka(broker.bootstrap) as raw:
            log.assert_reads_back(broker, raw)
            # Appends continue exactly at the trimmed end, and the log grows on from there.
            log.fill(raw, 12)
            assert list_offset(raw, TOPIC, 0) == log.end
    broker.stop(check=True)
    check_indexes(partition_dir)


@pytest.mark.parametrize("segment_bytes", [1 << 30, 3000], ids=["one-segment", "many-segments"])
def test_flipped_byte_after_sigkill_truncates_at_that_batch(broker_factory, segment_bytes) -> None:  # type: ignore[no-untyped-def]
    log = NumberedLog(random.Random(f"crc-{segment_bytes}"))
    broker = broker_factory("--override", f"log.segment.bytes={segment_bytes}",
                            "--override", "log.index.interval.bytes=200")
    partition_dir = broker.data_dir / f"{TOPIC}-0"
    with RawKafka(broker.bootstrap) as raw:
        create_topic(raw, TOPIC, 1)
        log.fill(raw, 40)
        for _ in range(40):  # bounded: until the active segment holds a few batches
            if len(_active_segment(partition_dir)[1]) >= 4:
                break
            log.fill(raw, 1)
    broker.kill()
    segment, batches = _active_segment(partition_dir)
    victim = log.rng.choice(batches[1:-1])  # whole batches both before and after it
    at = victim.position + log.rng.randint(BATCH_HEADER_BYTES, victim.size - 1)
    with open(segment, "r+b") as f:
        f.seek(at)
        byte = f.read(1)
        f.seek(at)
        f.write(bytes([byte[0] ^ 0x5A]))

    broker.start()
    log.truncated(victim.base_offset)
    with RawKafka(broker.bootstrap) as raw:
        log.assert_reads_back(broker, raw)
        log.fill(raw, 5)
    assert signal_and_wait(broker, signal.SIGTERM) == 0
    check_indexes(partition_dir)
    assert segment.stat().st_size == sum(b.size for b in scan_batches(segment.read_bytes()))
