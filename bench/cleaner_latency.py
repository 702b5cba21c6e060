"""Issue 5: produce and end-to-end latency while the log cleaner compacts a large topic.

One Grete broker of its own (the cleaner settings are static broker settings) holds a
compacted topic pre-filled with many updates of few keys, in small segments. A topic
setting gates the cleaner: with min.compaction.lag.ms at an hour nothing is cleanable,
so phase (a) runs with the cleaner idle; IncrementalAlterConfigs then sets it to 0 and
phase (b) runs while the cleaner works, on the same broker and the same files.

Each phase produces `rate` records/s of `size` bytes for `seconds`, first with acks=1 then
with acks=all, each to a fresh topic read by a consumer in another process
(latency_consumer.py): produce latency is librdkafka's own (produce() to acknowledgement),
end-to-end is the consumer's receive time minus the send time stamped in the value.

The cleaner runs in a worker process of the broker, so the CPU the broker spends outside
its main thread, its worker processes included (sampled from /proc), says how busy it was; the broker log's "cleaned up
to offset" lines say how many passes finished and how many bytes they read.
"""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from confluent_kafka import KafkaError, Message, Producer
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)
from harness import BrokerProcess, ServerProcess, TansuProcess
from workloads import LATENCY_CONSUMER, PARTITIONS, WorkloadTimeout, create_topic

COMPACTED_TOPIC = "bench-compacted"
COMPACTED_PARTITIONS = 4
KEYS = 1_000
SEGMENT_BYTES = 1024 * 1024
GATE_LAG_MS = 3_600_000  # min.compaction.lag.ms while filling: nothing is cleanable yet
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_CLEANED = re.compile(rb"cleaned up to offset \d+: \d+ segment group\(s\), read (\d+) bytes")


@dataclass(frozen=True)
class CleanerLatencyConfig:
    rate: int  # records/s in each latency run
    seconds: float  # length of each latency run (one per acks setting)
    size: int  # bytes per latency record
    fill_bytes: int  # bytes of updates pre-filled into the compacted topic
    fill_value_size: int
    io_cap_bytes: float  # log.cleaner.io.max.bytes.per.second of a second run; 0: none


def cleaner_latency(
    kind: str, config: CleanerLatencyConfig, work_dir: Path, log_dir: Path
) -> dict[str, Any]:
    """Phases (a) and (b) on a fresh Grete broker (then (b) again with the I/O cap, if
    asked), as one flat dict: `<phase>_<acks>_<metric>`. Tansu has no log cleaner, so it
    runs phase (a) only, for reference."""
    results: dict[str, dict[str, Any]] = {}
    if kind == "tansu":
        tansu = TansuProcess(work_dir / "tansu-cleaner", log_path=log_dir / "tansu-cleaner.log")
        with tansu:
            results["idle"] = _phase(tansu, "idle", config)
        return _flat(results) | {"busy": "not applicable: Tansu has no log cleaner"}
    with _grete(work_dir / "uncapped", log_dir, None) as broker:
        results["fill"] = _fill(broker.bootstrap, config)
        results["idle"] = _phase(broker, "idle", config)
        results["busy"] = _busy_phase(broker, "busy", config)
    if config.io_cap_bytes:
        with _grete(work_dir / "capped", log_dir, config.io_cap_bytes) as broker:
            _fill(broker.bootstrap, config)
            results["capped"] = _busy_phase(broker, "capped", config)
            results["capped"]["io_cap_mb_per_second"] = config.io_cap_bytes / 1e6
    return _flat(results) | _ratios(results)


@contextmanager
def _grete(work_dir: Path, log_dir: Path, io_cap: float | None) -> Iterator[BrokerProcess]:
    overrides = {"log.cleaner.backoff.ms": "200"}
    if io_cap is not None:
        overrides["log.cleaner.io.max.bytes.per.second"] = str(io_cap)
    broker = BrokerProcess(
        work_dir / "data", log_path=log_dir / f"grete-cleaner-{work_dir.name}.log",
        overrides=overrides, stop_timeout=60.0,
    )  # fmt: skip
    with broker:
        yield broker


def _flat(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        f"{phase}_{key}": value
        for phase, fields in results.items()
        for key, value in fields.items()
    }


def _ratios(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Busy / idle of each latency percentile: `ratio_<phase>_<acks>_<metric>`."""
    idle = results["idle"]
    ratios = {}
    for phase in ("busy", "capped"):
        for key, value in results.get(phase, {}).items():
            base = idle.get(key)
            if key.endswith(("p50_ms", "p99_ms")) and base:
                ratios[f"ratio_{phase}_{key.removesuffix('_ms')}"] = round(value / base, 2)
    return ratios


# -- filling the compacted topic -----------------------------------------------------


def _fill(bootstrap: str, config: CleanerLatencyConfig) -> dict[str, Any]:
    """Write `fill_bytes` of updates over KEYS keys, gated so the cleaner leaves them."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topic_configs = {
        "cleanup.policy": "compact",
        "segment.bytes": str(SEGMENT_BYTES),
        "min.cleanable.dirty.ratio": "0.01",
        "min.compaction.lag.ms": str(GATE_LAG_MS),
    }
    new = NewTopic(COMPACTED_TOPIC, COMPACTED_PARTITIONS, 1, config=topic_configs)
    admin.create_topics([new])[COMPACTED_TOPIC].result(timeout=30)
    errors: list[KafkaError] = []

    def on_error(error: KafkaError | None, _message: Message) -> None:
        if error is not None and len(errors) < 10:
            errors.append(error)

    producer = Producer({
        "bootstrap.servers": bootstrap, "acks": "1", "linger.ms": 5, "batch.size": 1_048_576,
        "delivery.report.only.error": True, "on_delivery": on_error,
    })  # fmt: skip
    value = os.urandom(config.fill_value_size)
    count = config.fill_bytes // config.fill_value_size
    start = time.monotonic()
    deadline = start + 300
    for i in range(count):
        while True:
            try:
                producer.produce(COMPACTED_TOPIC, value, key=b"key-%05d" % (i % KEYS))
                break
            except BufferError:
                producer.poll(0.01)
                _check(deadline, f"fill stalled at {i} of {count}")
    if producer.flush(max(0.0, deadline - time.monotonic())) or errors:
        raise WorkloadTimeout(f"fill not acknowledged: {errors[:1]}")
    return {"records": count, "bytes": count * config.fill_value_size,
            "seconds": round(time.monotonic() - start, 2)}  # fmt: skip


def _ungate(bootstrap: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    entry = ConfigEntry("min.compaction.lag.ms", "0", incremental_operation=AlterConfigOpType.SET)
    resource = ConfigResource(
        ConfigResource.Type.TOPIC, COMPACTED_TOPIC, incremental_configs=[entry]
    )
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)


# -- the phases ----------------------------------------------------------------------


def _busy_phase(broker: BrokerProcess, label: str, config: CleanerLatencyConfig) -> dict[str, Any]:
    """Ungate the compacted topic, wait until the cleaner worker uses CPU, then measure."""
    _ungate(broker.bootstrap)
    deadline = time.monotonic() + 30
    before = _worker_cpu(broker.pid)
    while _worker_cpu(broker.pid) - before < 0.1:
        time.sleep(0.05)
        _check(deadline, "the cleaner did not start within 30 s of the ungating")
    return _phase(broker, label, config)


def _phase(broker: ServerProcess, label: str, config: CleanerLatencyConfig) -> dict[str, Any]:
    """acks=1 then acks=all; with each, the cleaner's activity over that run."""
    out: dict[str, Any] = {}
    for acks in ("1", "all"):
        name = f"acks{acks}"
        log_offset = _log_size(broker)
        with _WorkerSampler(broker.pid if isinstance(broker, BrokerProcess) else None) as sampler:
            run = _latency_run(broker.bootstrap, f"bench-cleaner-{label}-{name}", acks, config)
        out |= {f"{name}_{key}": value for key, value in run.items()}
        out[f"{name}_worker_cpu_seconds"] = round(sampler.cpu_seconds, 2)
        out[f"{name}_cleaner_cpu_busy_fraction"] = sampler.busy_fraction
        passes, read = _cleaned_since(broker, log_offset)
        out[f"{name}_cleaner_passes"], out[f"{name}_cleaner_bytes_read"] = passes, read
        if isinstance(broker, BrokerProcess):
            out[f"{name}_partitions_left_to_clean"] = _left_to_clean(broker.data_dir)
    return out


def _latency_run(
    bootstrap: str, topic: str, acks: str, config: CleanerLatencyConfig
) -> dict[str, Any]:
    create_topic(bootstrap, topic)
    count = int(config.rate * config.seconds)
    consumer = subprocess.Popen(
        [sys.executable, str(LATENCY_CONSUMER), "--bootstrap", bootstrap, "--topic", topic,
         "--partitions", str(PARTITIONS), "--count", str(count),
         "--timeout", str(config.seconds + 60)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        if consumer.stdout is None or consumer.stdout.readline().strip() != "ready":
            raise RuntimeError("latency consumer failed to start")
        produce_ms = _paced_produce(bootstrap, topic, acks, count, config)
        out, _ = consumer.communicate(timeout=90)
    finally:
        if consumer.poll() is None:
            consumer.kill()
            consumer.wait(timeout=10)
    if consumer.returncode != 0:
        raise RuntimeError(f"latency consumer exited {consumer.returncode}: {out[-2000:]}")
    e2e = json.loads(out)
    return {
        "produce_p50_ms": _pct(produce_ms, 0.50), "produce_p99_ms": _pct(produce_ms, 0.99),
        "produce_max_ms": round(produce_ms[-1], 2),
        "e2e_p50_ms": e2e["p50_ms"], "e2e_p99_ms": e2e["p99_ms"], "e2e_max_ms": e2e["max_ms"],
        "records": count,
    }  # fmt: skip


def _paced_produce(
    bootstrap: str, topic: str, acks: str, count: int, config: CleanerLatencyConfig
) -> list[float]:
    """Send `count` records at `rate`/s; returns each one's produce latency in ms, sorted.
    linger.ms is librdkafka's default (5 ms, as in the latency workload), so the figure
    includes up to 5 ms of client-side batching."""
    stamp = struct.Struct(">q")  # CLOCK_MONOTONIC ns, read by latency_consumer.py
    padding = b"\0" * (config.size - stamp.size)
    latencies: list[float] = []
    errors: list[KafkaError] = []

    def on_delivery(error: KafkaError | None, message: Message) -> None:
        if error is not None:
            errors.append(error)
        else:
            latencies.append((message.latency() or 0.0) * 1000)

    producer = Producer({"bootstrap.servers": bootstrap, "acks": acks, "linger.ms": 5,
                         "on_delivery": on_delivery})  # fmt: skip
    start = time.monotonic()
    deadline = start + config.seconds + 30
    for i in range(count):
        due = start + i / config.rate
        while (delay := due - time.monotonic()) > 0:
            producer.poll(delay)
        producer.produce(topic, stamp.pack(time.monotonic_ns()) + padding)
        if i % 1000 == 0:
            _check(deadline, f"paced produce reached {i} of {count} records")
    if producer.flush(max(0.0, deadline - time.monotonic())) or errors:
        raise WorkloadTimeout(f"paced records not acknowledged: {errors[:1]}")
    return sorted(latencies)


# -- watching the cleaner --------------------------------------------------------------


class _WorkerSampler:
    """Samples, every 0.5 s on its own thread, the CPU the broker spends outside its main
    thread (the cleaner's worker); a sample above 0.1 CPU-s/s counts as busy."""

    INTERVAL = 0.5

    def __init__(self, pid: int | None) -> None:
        self._pid = pid
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._busy = self._samples = 0
        self._first = self._last = 0.0

    def __enter__(self) -> Self:
        if self._pid is not None:
            self._first = self._last = _worker_cpu(self._pid)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        assert self._pid is not None
        while not self._stop.wait(self.INTERVAL):
            now = _worker_cpu(self._pid)
            self._samples += 1
            self._busy += now - self._last > 0.1 * self.INTERVAL
            self._last = now

    @property
    def cpu_seconds(self) -> float:
        return self._last - self._first

    @property
    def busy_fraction(self) -> float | None:
        return round(self._busy / self._samples, 2) if self._samples else None


def _worker_cpu(pid: int) -> float:
    """CPU seconds of every thread of `pid` but the main one (its event loop), plus those
    of its child processes (the cleaner's worker)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        if task.name != str(pid):
            total += _cpu_ticks(task / "stat")[0]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            ticks, parent = _cpu_ticks(proc / "stat")
            if parent == pid:
                total += ticks
    return total / _CLOCK_TICKS


def _cpu_ticks(stat_path: Path) -> tuple[int, int]:
    """(utime + stime, parent pid) from a /proc stat file; zeros if it is gone."""
    try:
        stat = stat_path.read_text()
    except OSError:  # ended meanwhile
        return 0, 0
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12]), int(fields[1])


def _log_size(broker: ServerProcess) -> int:
    try:
        return broker.log_path.stat().st_size
    except OSError:
        return 0


def _cleaned_since(broker: ServerProcess, offset: int) -> tuple[int, int]:
    """Cleaner passes logged since `offset` of the broker log, and the bytes they read."""
    try:
        with open(broker.log_path, "rb") as log:
            log.seek(offset)
            found = [int(m.group(1)) for m in _CLEANED.finditer(log.read())]
    except OSError:
        return 0, 0
    return len(found), sum(found)


def _left_to_clean(data_dir: Path) -> int:
    """Compacted partitions whose cleaner checkpoint is still below the active segment:
    above 0 at the end of a run, the cleaner had work all through it."""
    checkpoints: dict[str, int] = {}
    path = data_dir / "cleaner-offset-checkpoint"
    if path.exists():
        for line in path.read_text().splitlines()[2:]:
            topic, partition, offset = line.split(" ")
            checkpoints[f"{topic}-{partition}"] = int(offset)
    left = 0
    for partition in range(COMPACTED_PARTITIONS):
        name = f"{COMPACTED_TOPIC}-{partition}"
        bases = [int(f.name.split(".")[0]) for f in (data_dir / name).glob("*.log")]
        left += bool(bases) and checkpoints.get(name, -1) < max(bases)
    return left


def _pct(sorted_ms: list[float], fraction: float) -> float:
    if not sorted_ms:
        return float("nan")
    index = min(len(sorted_ms) - 1, max(0, round(fraction * (len(sorted_ms) - 1))))
    return round(sorted_ms[index], 2)


def _check(deadline: float, progress: str) -> None:
    if time.monotonic() > deadline:
        raise WorkloadTimeout(f"deadline passed: {progress}")
