"""Benchmark Grete against Tansu with the same load, in the same run: `make bench`.

For each broker: start it fresh, run the workloads in order, sample the broker's CPU and
peak RSS from /proc, stop it. Prints a markdown table (Grete, Tansu, Grete / Tansu) and
writes everything to bench/results/bench-<time>.json.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent / "tests"))

from cleaner_latency import CleanerLatencyConfig, cleaner_latency
from connections import ConnectionsConfig, connections
from harness import BrokerProcess, ServerProcess, TansuProcess, read_machine_cpu
from large_topic import LargeTopicConfig, large_topic
from many_partitions import ManyPartitionsConfig, many_partitions
from paced_producers import raise_fd_limit
from quota_fairness import QuotaConfig, quota_fairness
from raw_consume import raw_consume
from replicated_produce import ReplicatedConfig, replicated_produce
from report import render_table, write_json
from takeover import takeover_time
from workloads import (
    DEFAULT_LINGER_MS,
    PARTITIONS,
    Throughput,
    consume,
    create_topic,
    drop_page_cache,
    end_to_end_latency,
    high_watermark_total,
    produce,
)

BROKERS: dict[str, type[ServerProcess]] = {"grete": BrokerProcess, "tansu": TansuProcess}
WORKLOADS = (
    "produce_small", "produce_large", "consume_small", "consume_large", "consume_large_raw",
    "latency",
    "takeover_classic", "takeover_consumer", "quota_fairness", "cleaner_latency",
    "many_partitions", "connections", "replicated_produce", "large_topic",
)  # fmt: skip
# Workloads that start brokers of their own (static settings, restarts): the shared one idles.
OWN_BROKERS = {"cleaner_latency", "many_partitions", "replicated_produce", "large_topic"}


@dataclass(frozen=True)
class BenchConfig:
    records: int
    small_size: int
    large_size: int
    latency_rate: int
    latency_seconds: float
    phase_timeout: float
    cleaner_seconds: float
    cleaner_fill_mb: float
    cleaner_io_cap_mb: float
    quota_mb: float
    quota_seconds: float
    many_topics: int
    many_partitions_per_topic: int
    connections_idle: int
    connections_producers: int
    connections_workers: int
    connections_rate: int
    connections_seconds: float
    replicated_records: int
    replicated_seconds: float
    replicated_latency_rate: int
    large_records: int
    only: tuple[str, ...]


def run_workloads(
    broker: ServerProcess, config: BenchConfig, work_dir: Path, log_dir: Path
) -> dict[str, dict[str, Any]]:
    """Run the selected workloads against one started broker (the consume workloads read
    what the produce ones wrote); a failed workload records its error."""
    bootstrap = broker.bootstrap
    n = config.records
    sizes = {"small": config.small_size, "large": config.large_size}

    def produce_phase(kind: str) -> dict[str, Any]:
        topic = f"bench-{kind}"
        create_topic(bootstrap, topic)
        result = produce(bootstrap, topic, n, sizes[kind], config.phase_timeout)
        # Informational: Tansu 0.6 reports the last batch's base offset here, not the end.
        return {
            **throughput(result),
            "high_watermark_total": high_watermark_total(bootstrap, topic),
        }

    def consume_phase(kind: str) -> dict[str, Any]:
        return throughput(consume(bootstrap, f"bench-{kind}", n, config.phase_timeout))

    def latency_phase() -> dict[str, Any]:
        """The producer at librdkafka's default linger.ms (5), then at 0 as Kafka's
        EndToEndLatency tool sets it: the second leaves the broker's and consumer's share."""
        results: dict[str, Any] = {}
        for prefix, linger_ms in (("", DEFAULT_LINGER_MS), ("linger0_", 0)):
            topic = f"bench-latency-{prefix.rstrip('_') or 'default'}"
            create_topic(bootstrap, topic)
            latency = end_to_end_latency(
                bootstrap, topic, config.latency_rate, config.latency_seconds,
                linger_ms=linger_ms,
            )  # fmt: skip
            results.update({prefix + key: value for key, value in asdict(latency).items()})
        return results

    def takeover_phase(protocol: str) -> dict[str, Any]:
        topic = f"bench-takeover-{protocol}"
        create_topic(bootstrap, topic)
        return asdict(takeover_time(bootstrap, topic, protocol))

    phases: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("produce_small", lambda: produce_phase("small")),
        ("produce_large", lambda: produce_phase("large")),
        ("consume_small", lambda: consume_phase("small")),
        ("consume_large", lambda: consume_phase("large")),
        ("consume_large_raw", lambda: throughput(raw_consume(
            bootstrap, "bench-large", PARTITIONS, n, config.large_size, config.phase_timeout))),
        ("latency", latency_phase),
        ("takeover_classic", lambda: takeover_phase("classic")),
        ("takeover_consumer", lambda: takeover_phase("consumer")),
        ("quota_fairness", lambda: quota_fairness(broker, quota_config(config))),
        ("cleaner_latency", lambda: cleaner_latency(
            broker.name, cleaner_config(config), work_dir / "cleaner", log_dir)),
        ("many_partitions", lambda: many_partitions(
            broker.name, ManyPartitionsConfig(config.many_topics, config.many_partitions_per_topic),
            work_dir / "many", log_dir)),
        ("connections", lambda: connections(broker, connections_config(config))),
        ("replicated_produce", lambda: replicated_produce(
            broker.name, ReplicatedConfig(config.replicated_records, config.replicated_seconds,
                                          config.replicated_latency_rate),
            work_dir / "replicated", log_dir)),
        ("large_topic", lambda: large_topic(
            broker.name, LargeTopicConfig(config.large_records), work_dir / "large", log_dir)),
    ]  # fmt: skip
    phases = [(name, phase) for name, phase in phases if name in config.only]
    results: dict[str, dict[str, Any]] = {}
    for name, phase in phases:
        cpu_before = broker.usage().cpu_seconds if broker.running else 0.0
        print(f"  {broker.name}: {name} ...", file=sys.stderr, flush=True)
        # Each workload starts with no dirty pages: the kernel's writeback of an earlier
        # workload's gigabytes would otherwise slow this one's writes (docs/benchmarks.md).
        sync_started = time.monotonic()
        os.sync()
        sync_seconds = time.monotonic() - sync_started
        # A workload with brokers of its own also starts with the page cache emptied
        # (when this process may: root), because on this VM a write's cost depended on
        # how much cache earlier workloads left (docs/benchmarks.md, 2026-11-28).
        dropped = name in OWN_BROKERS and drop_page_cache()
        started, client_cpu_before = time.monotonic(), time.process_time()
        machine_before = read_machine_cpu()
        try:
            results[name] = phase()
        except Exception as exc:  # noqa: BLE001 -- recorded in the results; later phases still run
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            traceback.print_exc(file=sys.stderr)
        results[name]["wall_seconds"] = round(time.monotonic() - started, 3)
        results[name]["sync_before_seconds"] = round(sync_seconds, 3)
        results[name]["page_cache_dropped_before"] = dropped
        # This VM shares its host: CPU the hypervisor gave elsewhere (up to 40 % seen) is
        # the first suspect when a latency row moves between runs of the same commit.
        steal = read_machine_cpu().steal_percent_since(machine_before)
        results[name]["cpu_steal_percent"] = None if steal is None else round(steal, 1)
        # The load generator's own CPU (librdkafka threads included): is the client the limit?
        results[name]["client_cpu_seconds"] = round(time.process_time() - client_cpu_before, 3)
        if broker.running and name in OWN_BROKERS:
            pass  # the shared broker idled; the workload reports on its own brokers
        elif broker.running:
            results[name]["broker_cpu_seconds"] = round(broker.usage().cpu_seconds - cpu_before, 3)
        else:
            results[name]["broker_exit_code"] = broker.returncode
            print(broker.tail(), file=sys.stderr)
            break
    return results


def cleaner_config(config: BenchConfig) -> CleanerLatencyConfig:
    return CleanerLatencyConfig(
        rate=config.latency_rate, seconds=config.cleaner_seconds, size=1024,
        fill_bytes=int(config.cleaner_fill_mb * 1e6), fill_value_size=100,
        io_cap_bytes=config.cleaner_io_cap_mb * 1e6,
    )  # fmt: skip


def connections_config(config: BenchConfig) -> ConnectionsConfig:
    return ConnectionsConfig(
        idle=config.connections_idle, producers=config.connections_producers,
        workers=config.connections_workers, rate=config.connections_rate,
        seconds=config.connections_seconds,
    )  # fmt: skip


def quota_config(config: BenchConfig) -> QuotaConfig:
    return QuotaConfig(quota_bytes=config.quota_mb * 1e6, seconds=config.quota_seconds, size=10_240)


def throughput(result: Throughput) -> dict[str, Any]:
    first = result.first_record_seconds
    return {
        **({} if first is None else {"first_record_seconds": round(first, 3)}),
        "records": result.records,
        "bytes": result.bytes,
        "seconds": round(result.seconds, 3),
        "records_per_second": round(result.records_per_second, 1),
        "mb_per_second": round(result.megabytes_per_second, 2),
        # The rate once records flow: a consumer's first half second is librdkafka's own
        # start (its offset-query timer), the same against every broker.
        **({} if first is None or result.seconds <= first else {
            "streaming_mb_per_second": round(result.bytes / 1e6 / (result.seconds - first), 2)
        }),
    }


def bench_one(kind: str, config: BenchConfig, log_dir: Path) -> dict[str, Any]:
    work_dir = Path(tempfile.mkdtemp(prefix=f"{kind}-bench-"))
    broker = BROKERS[kind](work_dir / "data", log_path=log_dir / f"{kind}.log")
    try:
        broker.start()
    except Exception as exc:  # noqa: BLE001 -- one broker failing to start must not stop the other
        shutil.rmtree(work_dir, ignore_errors=True)
        return {"error": f"{type(exc).__name__}: {exc}"}
    try:
        workloads = run_workloads(broker, config, work_dir, log_dir)
        results: dict[str, Any] = {"workloads": workloads}
        if broker.running:
            usage = broker.usage()
            results["broker"] = {
                "cpu_seconds": round(usage.cpu_seconds, 2),
                "peak_rss_mb": round(usage.peak_rss_bytes / 2**20, 1),
            }
        return results
    finally:
        try:
            broker.stop()
        except AssertionError as exc:  # ignored SIGTERM: it was killed; say so, go on
            print(exc, file=sys.stderr)
        shutil.rmtree(work_dir, ignore_errors=True)


def main(
    brokers: Annotated[str, typer.Option(help="Comma-separated: grete, tansu.")] = "grete,tansu",
    records: Annotated[int, typer.Option(help="Records per produce/consume workload.")] = 2_000_000,
    quick: Annotated[
        bool, typer.Option(help="Smoke run: at most 20,000 records and 3 s of latency load.")
    ] = False,
    latency_rate: Annotated[int, typer.Option(help="Records/s in the latency workload.")] = 2_000,
    latency_seconds: Annotated[
        float, typer.Option(help="Duration of the latency workload, s.")
    ] = 10.0,
    phase_timeout: Annotated[
        float, typer.Option(help="Deadline of each produce/consume workload, s.")
    ] = 600.0,
    only: Annotated[
        str | None,
        typer.Option(
            help=f"Comma-separated workloads to run (default all): {', '.join(WORKLOADS)}."
        ),
    ] = None,
    cleaner_seconds: Annotated[
        float, typer.Option(help="Cleaner workload: each latency run (acks=1, acks=all), s.")
    ] = 15.0,
    cleaner_fill_mb: Annotated[
        float, typer.Option(help="Cleaner workload: MB of 100-byte updates to compact.")
    ] = 200.0,
    cleaner_io_cap_mb: Annotated[
        float, typer.Option(help="Cleaner workload: also run busy with this I/O cap, MB/s (0: no).")
    ] = 0.0,
    quota_mb: Annotated[
        float, typer.Option(help="Quota workload: producer_byte_rate of the capped client, MB/s.")
    ] = 1.0,
    quota_seconds: Annotated[float, typer.Option(help="Quota workload: duration, s.")] = 40.0,
    many_topics: Annotated[int, typer.Option(help="many_partitions: topics.")] = 100,
    many_partitions_per_topic: Annotated[
        int, typer.Option(help="many_partitions: partitions per topic.")
    ] = 100,
    connections_idle: Annotated[
        int, typer.Option(help="connections: idle client connections (ApiVersions, then idle).")
    ] = 1_000,
    connections_producers: Annotated[
        int, typer.Option(help="connections: active producers (acks=all, linger.ms 5).")
    ] = 50,
    connections_workers: Annotated[
        int, typer.Option(help="connections: processes the producers are spread over.")
    ] = 2,
    connections_rate: Annotated[
        int, typer.Option(help="connections: records/s of 1 KiB, all producers together "
                                "(5,000/s overloads this 2-core machine for both brokers).")
    ] = 2_000,
    connections_seconds: Annotated[
        float, typer.Option(help="connections: how long the producers produce, s.")
    ] = 10.0,
    replicated_records: Annotated[
        int, typer.Option(help="replicated_produce: at most this many 1 KiB records.")
    ] = 500_000,
    replicated_seconds: Annotated[
        float, typer.Option(help="replicated_produce: at most this long, s.")
    ] = 60.0,
    replicated_latency_rate: Annotated[
        int, typer.Option(help="replicated_produce: records/s of the latency producer alongside.")
    ] = 200,
    large_records: Annotated[
        int, typer.Option(help="large_topic: 100 B records in the one large topic (Grete only).")
    ] = 100_000_000,
    results_dir: Annotated[
        Path | None, typer.Option(help="Where the JSON and logs go (default: bench/results).")
    ] = None,
) -> None:
    kinds = [kind.strip() for kind in brokers.split(",") if kind.strip()]
    unknown = [kind for kind in kinds if kind not in BROKERS]
    if unknown or not kinds:
        raise typer.BadParameter(f"unknown broker(s) {unknown}; choose from {sorted(BROKERS)}")
    selected = tuple(w.strip() for w in only.split(",") if w.strip()) if only else WORKLOADS
    if not selected or set(selected) - set(WORKLOADS):
        raise typer.BadParameter(f"--only {only!r}: choose from {', '.join(WORKLOADS)}")
    if quick:
        records, latency_seconds = min(records, 20_000), min(latency_seconds, 3.0)
        cleaner_seconds, cleaner_fill_mb = min(cleaner_seconds, 3.0), min(cleaner_fill_mb, 20.0)
        quota_seconds = min(quota_seconds, 3.0)
        many_topics = min(many_topics, 10)
        connections_seconds = min(connections_seconds, 3.0)
        replicated_records = min(replicated_records, 20_000)
        replicated_seconds = min(replicated_seconds, 10.0)
        large_records = min(large_records, 2_000_000)
    config = BenchConfig(
        records=records, small_size=100, large_size=1024,
        latency_rate=latency_rate, latency_seconds=latency_seconds, phase_timeout=phase_timeout,
        cleaner_seconds=cleaner_seconds, cleaner_fill_mb=cleaner_fill_mb,
        cleaner_io_cap_mb=cleaner_io_cap_mb, quota_mb=quota_mb, quota_seconds=quota_seconds,
        many_topics=many_topics, many_partitions_per_topic=many_partitions_per_topic,
        connections_idle=connections_idle, connections_producers=connections_producers,
        connections_workers=connections_workers, connections_rate=connections_rate,
        connections_seconds=connections_seconds, replicated_records=replicated_records,
        replicated_seconds=replicated_seconds, replicated_latency_rate=replicated_latency_rate,
        large_records=large_records, only=selected,
    )  # fmt: skip
    results_dir = results_dir or BENCH_DIR / "results"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_dir = results_dir / f"bench-{stamp}-logs"
    log_dir.mkdir(parents=True, exist_ok=True)

    # The brokers inherit it too: 1,000 idle connections must not meet a soft limit of 1,024.
    raise_fd_limit()
    results = {}
    for kind in kinds:
        print(f"benchmarking {kind} ...", file=sys.stderr, flush=True)
        results[kind] = bench_one(kind, config, log_dir)

    print(render_table(config, results))
    path = write_json(results_dir / f"bench-{stamp}.json", asdict(config), results)
    print(f"\nresults: {path}\nbroker logs: {log_dir}", file=sys.stderr)
    # Grete must run every workload; the peer may lack a feature (Tansu has no KIP-848).
    if "grete" in results and _failed(results["grete"]):
        raise typer.Exit(code=1)


def _failed(result: dict[str, Any]) -> bool:
    return "error" in result or any("error" in w for w in result.get("workloads", {}).values())


if __name__ == "__main__":
    typer.run(main)
