"""The idempotent producer's state (epoch, last sequences, their offsets) across restarts.

Batches are crafted by hand with producer id, epoch and base sequence, as a Kafka client
would send them, so every retry and gap is deliberate.
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Producer
from integration.raw_kafka import RawKafka

from grete.protocol import ErrorCode
from grete.records.builder import BatchSpec, Record, build_batch

from . import create_topic, init_producer_id, list_offset, now_ms, produce, read_partitions

TOPIC = "idem"


def _batch(producer_id: int, epoch: int, sequence: int, count: int = 1) -> bytes:
    records = [Record(b"k", b"seq-%d-epoch-%d" % (sequence + i, epoch)) for i in range(count)]
    spec = BatchSpec(base_timestamp=now_ms(), producer_id=producer_id, producer_epoch=epoch,
                     base_sequence=sequence)
    return build_batch(records, spec)


def _send(raw: RawKafka, producer_id: int, epoch: int, sequence: int, count: int = 1) -> tuple[int, int]:
    """(error code, base offset) of one idempotent batch to partition 0."""
    result = produce(raw, TOPIC, 0, _batch(producer_id, epoch, sequence, count))
    return int(result.error_code), int(result.base_offset)


OK = int(ErrorCode.none)
OUT_OF_ORDER = int(ErrorCode.out_of_order_sequence_number)
FENCED_EPOCH = int(ErrorCode.invalid_producer_epoch)


@pytest.mark.parametrize("restart", ["sigterm", "sigkill"])
def test_sequence_state_survives_a_restart(broker, restart) -> None:  # type: ignore[no-untyped-def]
    with RawKafka(broker.bootstrap) as raw:
        create_topic(raw, TOPIC, 1)
        pid, epoch = init_producer_id(raw)
        assert pid >= 0 and epoch == 0
        assert [_send(raw, pid, epoch, seq) for seq in range(5)] == [(OK, seq) for seq in range(5)]

        assert _send(raw, pid, epoch, 4) == (OK, 4), "a retried batch gets its original offset"
        assert list_offset(raw, TOPIC, 0) == 5, "a retried batch is not written twice"
        assert _send(raw, pid, epoch, 6)[0] == OUT_OF_ORDER
        assert _send(raw, pid, epoch + 1, 3)[0] == OUT_OF_ORDER, "a new epoch starts at 0"
        assert list_offset(raw, TOPIC, 0) == 5

    if restart == "sigterm":
        broker.stop(check=True)
    else:
        broker.kill()
    broker.start()

    with RawKafka(broker.bootstrap) as raw:
        assert list_offset(raw, TOPIC, 0) == 5
        assert _send(raw, pid, epoch, 4) == (OK, 4), "the retry is still recognised"
        assert list_offset(raw, TOPIC, 0) == 5
        assert _send(raw, pid, epoch, 6)[0] == OUT_OF_ORDER, "the gap is still a gap"
        assert _send(raw, pid, epoch, 5, count=3) == (OK, 5)
        assert _send(raw, pid, epoch, 5, count=3) == (OK, 5)
        assert _send(raw, pid, epoch, 8) == (OK, 8)
        assert list_offset(raw, TOPIC, 0) == 9
        other, _ = init_producer_id(raw)
        assert other != pid, "a producer id is never handed out twice"


def test_epoch_bump_fences_the_old_epoch_across_restarts(broker) -> None:  # type: ignore[no-untyped-def]
    with RawKafka(broker.bootstrap) as raw:
        create_topic(raw, TOPIC, 1)
        pid, epoch = init_producer_id(raw)
        assert _send(raw, pid, epoch, 0) == (OK, 0)
        assert _send(raw, pid, epoch, 1) == (OK, 1)
        # An idempotent producer asking again gets a new producer id, as from Kafka;
        # KIP-360's epoch bump for idempotent producers happens in the client.
        new_pid, new_epoch = init_producer_id(raw, pid, epoch)
        assert new_pid != pid and new_epoch == 0
        bumped = epoch + 1
        assert _send(raw, pid, bumped, 0) == (OK, 2), "a bumped epoch restarts at sequence 0"
        assert _send(raw, pid, epoch, 2)[0] == FENCED_EPOCH
        assert _send(raw, pid, bumped, 2)[0] == OUT_OF_ORDER
        assert list_offset(raw, TOPIC, 0) == 3

    for restart in ("sigterm", "sigkill"):
        if restart == "sigterm":
            broker.stop(check=True)
        else:
            broker.kill()
        broker.start()
        with RawKafka(broker.bootstrap) as raw:
            end = list_offset(raw, TOPIC, 0)
            next_seq = end - 2  # the bumped epoch's sequence 0 sits at offset 2
            assert _send(raw, pid, epoch, 2)[0] == FENCED_EPOCH, f"old epoch after {restart}"
            assert _send(raw, pid, bumped, next_seq - 1) == (OK, end - 1), f"retry after {restart}"
            assert _send(raw, pid, bumped, next_seq + 1)[0] == OUT_OF_ORDER
            assert _send(raw, pid, bumped, next_seq) == (OK, end)
    with RawKafka(broker.bootstrap) as raw:
        assert list_offset(raw, TOPIC, 0) == 5


def test_idempotent_client_rides_out_a_kill_9_without_duplicates(broker_factory) -> None:  # type: ignore[no-untyped-def]
    """librdkafka retries what was in flight when the broker died; what had been written
    before the kill must be recognised as duplicates after the restart."""
    broker = broker_factory("--override", "log.segment.bytes=65536")
    with RawKafka(broker.bootstrap) as raw:
        create_topic(raw, TOPIC, 2)
    total, kill_after = 20_000, 4_000
    acked: list[tuple[int, int, bytes]] = []
    failed: list[str] = []

    def on_delivery(err, msg) -> None:  # type: ignore[no-untyped-def]
        if err is None:
            acked.append((msg.partition(), msg.offset(), msg.value()))
        else:
            failed.append(str(err))

    producer = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True,
                         "linger.ms": 2, "batch.num.messages": 100, "message.timeout.ms": 60000,
                         "retry.backoff.ms": 50})
    sent = 0
    deadline = time.monotonic() + 60
    killed = False
    while (sent < total or len(acked) + len(failed) < total) and time.monotonic() < deadline:
        if not killed and len(acked) >= kill_after:
            broker.kill()
            broker.start()
            killed = True
        if sent < total:
            try:
                producer.produce(TOPIC, value=b"%08d" % sent, partition=sent % 2,
                                 on_delivery=on_delivery)
                sent += 1
            except BufferError:
                producer.poll(0.01)
        producer.poll(0 if sent < total else 0.05)
    producer.flush(10)
    assert killed and not failed, failed[:5]
    assert len(acked) == total
    with RawKafka(broker.bootstrap) as raw:
        ends = {p: list_offset(raw, TOPIC, p) for p in (0, 1)}
    log = read_partitions(broker.bootstrap, TOPIC, ends)
    for p in (0, 1):
        assert [v for _, v in log[p]] == [b"%08d" % s for s in range(p, total, 2)], f"partition {p}"
    assert sorted((p, o) for p, o, _ in acked) == [(p, o) for p in (0, 1) for o, _ in log[p]]
