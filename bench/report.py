"""Turn benchmark results into the markdown table and the JSON record."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import confluent_kafka


@dataclass(frozen=True)
class Row:
    workload: str
    metric: str
    value: Callable[[dict[str, Any]], float | None]
    higher_is_better: bool
    digits: int
    source: str  # the workload the value comes from, or "broker"
    compare: bool = True  # False: a fact of the machine, no Grete / Tansu ratio


def _workload(name: str, field: str) -> Callable[[dict[str, Any]], float | None]:
    def pick(result: dict[str, Any]) -> float | None:
        value = result.get("workloads", {}).get(name, {}).get(field)
        return None if value is None else float(value)

    return pick


def _per_gb(name: str) -> Callable[[dict[str, Any]], float | None]:
    """The broker's CPU seconds per GB of the workload's values: on this VM it doubles or
    more when the writes land on memory the host took back (docs/performance.md)."""

    def pick(result: dict[str, Any]) -> float | None:
        workload = result.get("workloads", {}).get(name, {})
        cpu, size = workload.get("broker_cpu_seconds"), workload.get("bytes")
        return None if cpu is None or not size else float(cpu) / (size / 1e9)

    return pick


def _broker(field: str) -> Callable[[dict[str, Any]], float | None]:
    def pick(result: dict[str, Any]) -> float | None:
        value = result.get("broker", {}).get(field)
        return None if value is None else float(value)

    return pick


def _count(n: int) -> str:
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def rows(config: Any) -> list[Row]:
    n = _count(config.records)
    small, large = f"{config.small_size} B", f"{config.large_size // 1024} KiB"
    steady = f"{config.latency_rate:,}/s for {config.latency_seconds:g} s, other process"
    return [
        Row(f"Produce {n} × {small}", "records/s", _workload("produce_small", "records_per_second"), True, 0, "produce_small"),
        Row(f"Produce {n} × {small}", "MB/s", _workload("produce_small", "mb_per_second"), True, 1, "produce_small"),
        Row(f"Produce {n} × {large}", "records/s", _workload("produce_large", "records_per_second"), True, 0, "produce_large"),
        Row(f"Produce {n} × {large}", "MB/s", _workload("produce_large", "mb_per_second"), True, 1, "produce_large"),
        Row(f"Produce {n} × {large}", "broker CPU s per GB", _per_gb("produce_large"), False, 2, "produce_large"),
        Row(f"Consume {n} × {small}", "records/s", _workload("consume_small", "records_per_second"), True, 0, "consume_small"),
        Row(f"Consume {n} × {small}", "MB/s", _workload("consume_small", "mb_per_second"), True, 1, "consume_small"),
        Row(f"Consume {n} × {large}", "records/s", _workload("consume_large", "records_per_second"), True, 0, "consume_large"),
        Row(f"Consume {n} × {large}", "MB/s", _workload("consume_large", "mb_per_second"), True, 1, "consume_large"),
        Row(f"Consume {n} × {large}", "MB/s after the first record", _workload("consume_large", "streaming_mb_per_second"), True, 1, "consume_large"),
        Row(f"Consume {n} × {large}, batch-level fetch client (records not decoded)", "MB/s", _workload("consume_large_raw", "mb_per_second"), True, 1, "consume_large_raw"),
        Row(f"Consume {n} × {large}, batch-level fetch client (records not decoded)", "MB/s after the first record", _workload("consume_large_raw", "streaming_mb_per_second"), True, 1, "consume_large_raw"),
        Row(f"End-to-end, {steady}, linger.ms 5", "p50 ms", _workload("latency", "p50_ms"), False, 1, "latency"),
        Row(f"End-to-end, {steady}, linger.ms 5", "p99 ms", _workload("latency", "p99_ms"), False, 1, "latency"),
        Row(f"End-to-end, {steady}, linger.ms 0", "p50 ms", _workload("latency", "linger0_p50_ms"), False, 1, "latency"),
        Row(f"End-to-end, {steady}, linger.ms 0", "p99 ms", _workload("latency", "linger0_p99_ms"), False, 1, "latency"),
        Row("Group takeover after a member is killed (classic, session 6 s)", "seconds", _workload("takeover_classic", "seconds"), False, 2, "takeover_classic"),
        Row("Group takeover after a member is killed (KIP-848, broker default session 45 s)", "seconds", _workload("takeover_consumer", "seconds"), False, 2, "takeover_consumer"),
        *cleaner_rows(config),
        *quota_rows(config),
        *many_partitions_rows(config),
        *connections_rows(config),
        *replicated_rows(config),
        *large_topic_rows(config),
        *steal_rows(),
        Row("The broker, whole run", "CPU seconds", _broker("cpu_seconds"), False, 1, "broker"),
        Row("The broker, whole run", "peak RSS MiB", _broker("peak_rss_mb"), False, 0, "broker"),
    ]  # fmt: skip


def cleaner_rows(config: Any) -> list[Row]:
    """Issue 5: latency with the cleaner idle, busy, busy under the I/O cap; busy / idle."""
    load = f"{config.latency_rate:,}/s × 1 KiB for {config.cleaner_seconds:g} s"
    phases = [("idle", "cleaner idle"), ("busy", "cleaner busy")]
    if config.cleaner_io_cap_mb:
        phases.append(("capped", f"cleaner busy, I/O cap {config.cleaner_io_cap_mb:g} MB/s"))
    out = []
    for kind, what in (("produce", "Produce latency"), ("e2e", "End-to-end latency")):
        for acks in ("1", "all"):
            label = f"{what}, acks={acks}, {load}"
            for phase, state in phases:
                for p in ("p50", "p99"):
                    field = f"{phase}_acks{acks}_{kind}_{p}_ms"
                    pick = _workload("cleaner_latency", field)
                    out.append(
                        Row(f"{label}, {state}", f"{p} ms", pick, False, 2, "cleaner_latency")
                    )
            for phase, _ in phases[1:]:
                field = f"ratio_{phase}_acks{acks}_{kind}_p99"
                pick = _workload("cleaner_latency", field)
                out.append(
                    Row(f"{label}, {phase} / idle", "p99 ratio", pick, False, 2, "cleaner_latency")
                )
    return out


def many_partitions_rows(config: Any) -> list[Row]:
    """Issue 7: one broker of its own with topics x partitions, one record in each."""
    total = config.many_topics * config.many_partitions_per_topic
    label = f"{total:,} partitions ({config.many_topics} topics), one record each"
    fields = [
        ("create, s", "create_seconds", 1),
        ("Metadata (all topics) p50 ms", "metadata_p50_ms", 1),
        ("Metadata (all topics) max ms", "metadata_max_ms", 1),
        ("idle CPU %", "idle_cpu_percent", 2),
        ("open file descriptors, after the writes", "open_fds_busy", 0),
        ("open file descriptors, after idling", "open_fds", 0),
        ("RSS MiB", "rss_mb", 0),
        ("stop (SIGTERM), s", "stop_seconds", 1),
        ("start until Metadata complete, s", "start_until_metadata_complete_seconds", 1),
        ("RSS MiB after restart", "rss_mb_after_restart", 0),
    ]
    return [
        Row(label, metric, _workload("many_partitions", field), False, digits, "many_partitions")
        for metric, field, digits in fields
    ]


def connections_rows(config: Any) -> list[Row]:
    """Issue 7: idle connections held open while producers run at a bounded rate."""
    label = (
        f"{config.connections_idle:,} idle connections + {config.connections_producers} "
        f"producers, {config.connections_rate:,}/s × 1 KiB for {config.connections_seconds:g} s, "
        "acks=all"
    )
    fields = [
        ("records acked", "records_acked", True, 0),
        ("records/s", "records_per_second", True, 0),
        ("ack p50 ms", "p50_ms", False, 1),
        ("ack p99 ms", "p99_ms", False, 1),
        ("ack max ms", "max_ms", False, 1),
        ("idle connections still answering at the end", "idle_survived", True, 0),
        ("broker RSS MiB, before", "rss_mb_before", False, 0),
        ("broker RSS MiB, idle connections open", "rss_mb_connected", False, 0),
        ("broker RSS MiB, at the end", "rss_mb_end", False, 0),
    ]
    return [
        Row(label, metric, _workload("connections", field), higher, digits, "connections")
        for metric, field, higher, digits in fields
    ]


def replicated_rows(config: Any) -> list[Row]:
    """Issue 7: 3 Grete brokers, RF 3, acks=all; latency from a paced producer alongside.
    One group of rows per producer of replicated_produce.VARIANTS (its field prefix)."""

    def label(producer: str) -> str:
        return (
            f"Replicated produce, 3 brokers, RF 3, min ISR 2, acks=all, {producer}, "
            f"up to {_count(config.replicated_records)} × 1 KiB or {config.replicated_seconds:g} s"
        )

    paced = f"ack latency at {config.replicated_latency_rate:,}/s alongside"
    rate, p50, p99, cpu = (
        ("MB/s", "mb_per_second", True, 1),
        (f"{paced}, p50 ms", "paced_p50_ms", False, 1),
        (f"{paced}, p99 ms", "paced_p99_ms", False, 1),
        ("CPU seconds, 3 brokers", "brokers_cpu_seconds", False, 1),
    )
    first = [
        rate, ("records/s", "records_per_second", True, 0), p50, p99, cpu,
        *((f"peak RSS MiB, broker {i}", f"broker{i}_peak_rss_mb", False, 0) for i in range(3)),
    ]
    producers = [
        ("", "idempotent (5 in flight)", first),
        ("plain_", "without idempotence, 5 in flight", [rate, p50, p99, cpu]),
        ("one_in_flight_", "without idempotence, 1 in flight", [rate, p50, p99, cpu]),
    ]
    return [
        Row(label(producer), metric, _workload("replicated_produce", prefix + field), higher,
            digits, "replicated_produce")
        for prefix, producer, fields in producers
        for metric, field, higher, digits in fields
    ]  # fmt: skip


def steal_rows() -> list[Row]:
    """The share of the machine's CPU its host took away during the workloads whose
    results move most with it (docs/benchmarks.md): read before comparing two runs."""
    names = ("produce_large", "consume_large", "consume_large_raw", "latency",
             "replicated_produce")  # fmt: skip
    return [
        Row(f"Host CPU steal during {name}", "% of CPU time",
            _workload(name, "cpu_steal_percent"), False, 1, name, compare=False)
        for name in names
    ]  # fmt: skip


def large_topic_rows(config: Any) -> list[Row]:
    """Issue 7: one topic of 100 million records, read at its start, middle and end."""
    label = f"One topic of {_count(config.large_records)} × 100 B, 6 partitions (Grete only)"
    fields = [
        ("produce, records/s", "produce_records_per_second", True, 0),
        ("disk GB", "disk_gb", False, 2),
        ("partition 0: records", "partition0_records", True, 0),
        ("partition 0: segments", "partition0_segments", False, 0),
        *(
            (f"read at the {where}: first record ms", f"read_{where}_first_record_ms", False, 1)
            for where in ("start", "middle", "end")
        ),
        *(
            (f"read at the {where}: records/s", f"read_{where}_records_per_second", True, 0)
            for where in ("start", "middle", "end")
        ),
        ("RSS MiB after producing", "rss_mb_after_produce", False, 0),
        ("RSS MiB after the reads", "rss_mb_after_reads", False, 0),
        ("peak RSS MiB", "peak_rss_mb", False, 0),
        ("stop (SIGTERM), s", "stop_seconds", False, 2),
        ("start until the middle record, s", "start_until_middle_record_seconds", False, 2),
    ]
    return [
        Row(label, metric, _workload("large_topic", field), higher, digits, "large_topic")
        for metric, field, higher, digits in fields
    ]  # fmt: skip


def quota_rows(config: Any) -> list[Row]:
    """Issue 6: a capped producer trying 20 MB/s and an uncapped one at full speed."""
    label = (
        f"Quota {config.quota_mb:g} MB/s on client-id capped (offering 20 MB/s), with an "
        f"uncapped producer, {config.quota_seconds:g} s × 10 KiB"
    )
    fields = [
        ("capped MB/s, whole run", "capped_mb_per_second", 2),
        ("capped / quota, whole run", "capped_quota_ratio", 2),
        ("capped MB/s, steady (from 12 s)", "capped_steady_mb_per_second", 3),
        ("capped / quota, steady", "capped_steady_quota_ratio", 3),
        ("uncapped MB/s, alone", "uncapped_alone_mb_per_second", 1),
        ("uncapped MB/s, together", "uncapped_together_mb_per_second", 1),
        ("uncapped together / alone", "uncapped_together_over_alone", 2),
        ("capped: throttled responses", "capped_throttled_responses", 0),
    ]
    return [
        Row(label, metric, _workload("quota_fairness", field), True, digits, "quota_fairness")
        for metric, field, digits in fields
    ]


def render_table(config: Any, results: dict[str, dict[str, Any]]) -> str:
    """Markdown: one column per broker, plus Grete / Tansu when both ran."""
    kinds = list(results)
    with_ratio = "grete" in results and "tansu" in results
    header = ["Workload", "Metric", *(kind.capitalize() for kind in kinds)]
    if with_ratio:
        header.append("Grete / Tansu")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows(config):
        if not any(_ran(row.source, results[kind]) for kind in kinds):
            continue  # not selected (--only)
        values = {kind: row.value(results[kind]) for kind in kinds}
        cells = [row.workload, row.metric]
        cells += [_cell(values[kind], row, results[kind]) for kind in kinds]
        if with_ratio:
            grete, tansu = values["grete"], values["tansu"]
            better = "higher is better" if row.higher_is_better else "lower is better"
            cells.append(
                f"{grete / tansu:.2f}× ({better})"
                if row.compare and grete is not None and tansu
                else "—"
            )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ran(source: str, result: dict[str, Any]) -> bool:
    return source == "broker" or source in result.get("workloads", {})


def _cell(value: float | None, row: Row, result: dict[str, Any]) -> str:
    if value is not None:
        return f"{value:,.{row.digits}f}"
    workload = result.get("workloads", {}).get(row.source, {})
    if "error" in result or "error" in workload:
        return "error"
    if workload.get("applicable") is False:
        return "n/a"
    return "not supported" if workload.get("supported") is False else "—"


def write_json(path: Path, config: dict[str, Any], results: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "config": config,
        "machine": _machine(),
        "results": results,
    }
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def _machine() -> dict[str, Any]:
    try:
        commit = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"],
                check=False,
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
            or None
        )
    except OSError:
        commit = None
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "librdkafka": confluent_kafka.libversion()[0],
        "git_commit": commit,
    }
