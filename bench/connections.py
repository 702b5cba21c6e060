"""Issue 7: 1,000 idle client connections plus 50 active producers, on the shared broker.

Opens `idle` raw TCP connections to the broker, each a real Kafka connection (one
ApiVersions request answered), and leaves them idle. Then `producers` confluent-kafka
producers (acks=all, linger.ms 5), spread over `workers` processes (paced_producers.py) so
the load generator is not the limit, produce `size`-byte records at `rate` records/s in
total for `seconds` to a 6-partition topic. At the end each idle connection must still
answer an ApiVersions request. Reported: records acked, throughput, ack latency (produce()
to delivery callback) p50/p99/max, idle connections that survived, and the broker's RSS
before, with the connections open, and at the end.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass
from typing import Any

from harness import ServerProcess
from harness.wire import recv_exactly
from paced_producers import Workers, latency_summary, raise_fd_limit, worker_command
from workloads import WorkloadTimeout, create_topic

TOPIC = "bench-connections"
API_VERSIONS_KEY = 18
# size:int32 | api_key:int16 | api_version:int16 | correlation_id:int32 | client_id:string
_REQUEST_HEAD = struct.Struct(">ihhih")
_CLIENT_ID = b"bench-idle"
_SIZE = struct.Struct(">i")
_CORRELATION = struct.Struct(">i")


@dataclass(frozen=True)
class ConnectionsConfig:
    idle: int
    producers: int
    workers: int
    rate: int  # records/s, all producers together
    seconds: float
    size: int = 1024
    timeout: float = 120.0  # opening the idle connections; starting the producers


def connections(broker: ServerProcess, config: ConnectionsConfig) -> dict[str, Any]:
    fd_limit = raise_fd_limit()
    if config.idle + 100 > fd_limit:
        raise ValueError(f"{config.idle} idle connections need more than {fd_limit} descriptors")
    create_topic(broker.bootstrap, TOPIC)
    results: dict[str, Any] = {"rss_mb_before": _rss_mb(broker)}
    idle: list[socket.socket] = []
    try:
        started = time.monotonic()
        _open_idle(broker, config, idle, started + config.timeout)
        results["idle_opened"] = len(idle)
        results["idle_open_seconds"] = round(time.monotonic() - started, 2)
        results["rss_mb_connected"] = _rss_mb(broker)
        results.update(_produce(broker.bootstrap, config))
        results["idle_survived"] = sum(_still_answers(sock, i) for i, sock in enumerate(idle, 1))
        results["rss_mb_end"] = _rss_mb(broker)
    finally:
        for sock in idle:
            sock.close()
    return results


def _produce(bootstrap: str, config: ConnectionsConfig) -> dict[str, Any]:
    """The producers, spread evenly over the worker processes, each worker's rate in
    proportion to its producers."""
    workers = min(config.workers, config.producers)
    shares = [
        config.producers // workers + (i < config.producers % workers) for i in range(workers)
    ]
    commands = [
        worker_command(bootstrap, TOPIC, share, config.rate * share / config.producers,
                       config.seconds, size=config.size, client_id=f"bench-conn-w{i}")
        for i, share in enumerate(shares)
    ]  # fmt: skip
    pool = Workers(commands)
    try:
        pool.start(config.timeout)
        reports = pool.reports(config.seconds + 60)
    finally:
        pool.close()
    latencies = [ms for report in reports for ms in report["latencies_ms"]]
    acked = sum(report["acked"] for report in reports)
    seconds = max(report["seconds"] for report in reports)
    return {
        "producers": config.producers,
        "workers": workers,
        "records_produced": sum(report["produced"] for report in reports),
        "records_acked": acked,
        "records_per_second": round(acked / seconds, 1),
        "mb_per_second": round(acked * config.size / seconds / 1e6, 2),
        **latency_summary(latencies),
        **{
            f"librdkafka_{name}": value
            for name, value in latency_summary(
                [ms for report in reports for ms in report["librdkafka_latencies_ms"]]
            ).items()
        },
        "errors": sum(report["error_count"] for report in reports),
        "first_errors": [error for report in reports for error in report["errors"]][:5],
        "workers_cpu_seconds": round(sum(r["process_cpu_seconds"] for r in reports), 2),
    }


def _open_idle(
    broker: ServerProcess, config: ConnectionsConfig, into: list[socket.socket], deadline: float
) -> None:
    """One connection at a time, each answered before the next: the listener's accept
    backlog never overflows (a dropped SYN would cost a 1 s retransmission)."""
    for i in range(config.idle):
        if time.monotonic() > deadline:
            raise WorkloadTimeout(f"opened {i} of {config.idle} idle connections")
        sock = socket.create_connection((broker.host, broker.port), timeout=10)
        into.append(sock)
        if not _still_answers(sock, 0):
            raise ConnectionError(f"idle connection {i}: no ApiVersions answer")


def _still_answers(sock: socket.socket, correlation_id: int) -> bool:
    """Send ApiVersions v0 and read the whole answer: the connection is open and served."""
    frame = _REQUEST_HEAD.pack(
        _REQUEST_HEAD.size - 4 + len(_CLIENT_ID), API_VERSIONS_KEY, 0, correlation_id,
        len(_CLIENT_ID),
    ) + _CLIENT_ID  # fmt: skip
    try:
        sock.settimeout(10)
        sock.sendall(frame)
        (size,) = _SIZE.unpack(recv_exactly(sock, _SIZE.size))
        answer = recv_exactly(sock, size)
    except OSError:
        return False
    (answered,) = _CORRELATION.unpack_from(answer)
    return bool(answered == correlation_id)


def _rss_mb(broker: ServerProcess) -> float:
    return round(broker.usage().rss_bytes / 2**20, 1)
