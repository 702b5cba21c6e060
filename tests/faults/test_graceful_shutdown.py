"""SIGTERM and SIGINT: drain in-flight requests, refuse new connections, exit 0, leave the
clean-shutdown marker and checkpoints behind, and restart without recovery."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest
from integration.raw_kafka import RawKafka

from grete.protocol import ApiKey, ErrorCode

from . import (
    FETCH_V,
    PRODUCE_V,
    check_indexes,
    create_topic,
    fetch_request_fields,
    list_offset,
    numbered_batch,
    produce_ok,
    read_checkpoint,
    read_partitions,
    receive_response,
    segment_logs,
    send_request,
    signal_and_wait,
    value_for,
)

TOPIC = "drain"
MAX_WAIT_MS = 3000
CLEAN_SHUTDOWN = ".kafka_cleanshutdown"


def _refuses_connections(port: int, within: float) -> bool:
    """True once a connect to the listener is refused (polled, bounded by ``within``)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                pass
        except ConnectionRefusedError:
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_shutdown_drains_in_flight_requests_and_exits_0(broker_factory, sig) -> None:  # type: ignore[no-untyped-def]
    broker = broker_factory()
    with RawKafka(broker.bootstrap) as raw:
        create_topic(raw, TOPIC, 2)
        assert produce_ok(raw, TOPIC, 0, numbered_batch(TOPIC, 0, 0, 5)) == 0

    with RawKafka(broker.bootstrap, timeout=15) as raw, RawKafka(broker.bootstrap) as idle:
        # A long poll at the log end of partition 0, then a produce to partition 1 queued
        # behind it on the same connection: both are in flight when the signal arrives.
        sent = time.monotonic()
        send_request(raw, ApiKey.FETCH, FETCH_V, 1,
                     **fetch_request_fields(raw, TOPIC, 0, 5, max_wait_ms=MAX_WAIT_MS))
        partition_data = raw.make(ApiKey.PRODUCE, PRODUCE_V, "PartitionProduceData", index=1,
                                  records=numbered_batch(TOPIC, 1, 0, 3))
        topic_data = raw.make(ApiKey.PRODUCE, PRODUCE_V, "TopicProduceData", name=TOPIC,
                              partition_data=[partition_data])
        send_request(raw, ApiKey.PRODUCE, PRODUCE_V, 2, transactional_id=None, acks=-1,
                     timeout=5000, topic_data=[topic_data])
        time.sleep(0.3)
        os.kill(broker.pid, sig)
        assert _refuses_connections(broker.port, within=MAX_WAIT_MS / 1000 - 0.8), \
            "still accepting connections while draining"
        assert broker.running, "exited before the in-flight fetch was answered"

        fetched = receive_response(raw, ApiKey.FETCH, FETCH_V, 1)
        elapsed = time.monotonic() - sent
        assert fetched.error_code == ErrorCode.none
        part = fetched.responses[0].partitions[0]
        assert (part.error_code, part.high_watermark, part.records or b"") == (ErrorCode.none, 5, b"")
        assert elapsed < MAX_WAIT_MS / 1000 + 2, f"long poll answered after {elapsed:.1f}s"
        produced = receive_response(raw, ApiKey.PRODUCE, PRODUCE_V, 2)
        p1 = produced.responses[0].partition_responses[0]
        assert (p1.error_code, p1.base_offset) == (ErrorCode.none, 0)
        # Then the connections are closed cleanly (EOF), the idle one too.
        assert raw.is_closed_by_peer(timeout=5)
        assert idle.is_closed_by_peer(timeout=5)

    deadline = time.monotonic() + 15
    while broker.returncode is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert broker.returncode == 0, broker.tail()
    broker.stop()

    data = broker.data_dir
    assert (data / CLEAN_SHUTDOWN).exists()
    assert read_checkpoint(data / "recovery-point-offset-checkpoint") == {(TOPIC, 0): 5, (TOPIC, 1): 3}
    assert read_checkpoint(data / "log-start-offset-checkpoint") == {(TOPIC, 0): 0, (TOPIC, 1): 0}
    for p in (0, 1):
        check_indexes(data / f"{TOPIC}-{p}")

    broker.start()
    assert not (data / CLEAN_SHUTDOWN).exists(), "marker must go while the broker runs"
    with RawKafka(broker.bootstrap) as raw:
        assert [list_offset(raw, TOPIC, p) for p in (0, 1)] == [5, 3]
    got = read_partitions(broker.bootstrap, TOPIC, {0: 5, 1: 3})
    assert got == {p: [(o, value_for(TOPIC, p, o)) for o in range(n)] for p, n in ((0, 5), (1, 3))}


def _segment_files(data: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of every segment and index file under ``data``."""
    return {
        str(path.relative_to(data)): (path.stat().st_size, path.stat().st_mtime_ns)
        for pattern in ("*/*.log", "*/*.index", "*/*.timeindex")
        for path in data.glob(pattern)
    }


def test_restart_after_clean_shutdown_recovers_nothing(broker_factory) -> None:  # type: ignore[no-untyped-def]
    broker = broker_factory("--override", "log.segment.bytes=20000",
                            "--override", "log.index.interval.bytes=500")
    end = 0
    with RawKafka(broker.bootstrap) as raw:
        create_topic(raw, TOPIC, 1)
        for _ in range(60):
            assert produce_ok(raw, TOPIC, 0, numbered_batch(TOPIC, 0, end, 20)) == end
            end += 20
    assert signal_and_wait(broker, signal.SIGTERM) == 0
    data = broker.data_dir
    assert len(segment_logs(data / f"{TOPIC}-0")) >= 3
    assert read_checkpoint(data / "recovery-point-offset-checkpoint") == {(TOPIC, 0): end}
    before = _segment_files(data)
    time.sleep(0.05)  # let a rewrite show in mtime_ns

    broker.start()
    with RawKafka(broker.bootstrap) as raw:
        assert list_offset(raw, TOPIC, 0) == end
    # No segment was scanned and rewritten: a clean shutdown is trusted, as in Kafka.
    assert _segment_files(data) == before
    assert read_partitions(broker.bootstrap, TOPIC, {0: end})[0] == [
        (o, value_for(TOPIC, 0, o)) for o in range(end)
    ]


LONG_POLL_MS = 25_000  # a legal fetch.max.wait.ms; the broker must not let it stall shutdown
PROMPT_EXIT_S = 5.0


def test_shutdown_does_not_wait_out_a_long_poll(broker) -> None:  # type: ignore[no-untyped-def]
    with RawKafka(broker.bootstrap) as raw:
        create_topic(raw, TOPIC, 1)
    with RawKafka(broker.bootstrap, timeout=LONG_POLL_MS / 1000 + 10) as raw:
        send_request(raw, ApiKey.FETCH, FETCH_V, 1,
                     **fetch_request_fields(raw, TOPIC, 0, 0, max_wait_ms=LONG_POLL_MS))
        time.sleep(0.3)
        os.kill(broker.pid, signal.SIGTERM)
        deadline = time.monotonic() + PROMPT_EXIT_S
        try:
            while broker.returncode is None and time.monotonic() < deadline:
                time.sleep(0.02)
            exited_promptly = broker.returncode == 0
        finally:
            broker.kill()  # bounded either way: do not wait the long poll out
    assert exited_promptly, f"still draining {PROMPT_EXIT_S}s after SIGTERM"
