"""Issue 6: a producer_byte_rate quota holds its client to the quota and starves no one.

Sets producer_byte_rate on client-id "capped" with AlterClientQuotas (confluent-kafka has
no API for it: the raw request helpers of tests/integration do it), then runs, each in its
own process (quota_producer.py): the uncapped producer alone at full speed; the capped one
trying to send `offered` MB/s (the issue: 20 MB/s against a 1 MB/s quota) together with
the uncapped one; the uncapped alone again. Reported: each one's MB/s, the capped one's
ratio to its quota over the whole run and in the steady state, the uncapped one's MB/s
together over alone, and the throttled responses.

The broker keeps its quota window settings (Kafka's: 11 samples of 1 s), so a new client
may send up to ~10 s of quota at once before it is throttled: that burst is part of the
whole-run average, as a real client's would be. The steady state is the seconds after
the first window (from second 12 on), where the quota alone decides.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient
from harness import ServerProcess
from integration.client_quotas import alter, client
from integration.raw_kafka import RawKafka
from workloads import create_topic

ALTER_CLIENT_QUOTAS = 49
TOPIC = "bench-quota"
PRODUCER = Path(__file__).with_name("quota_producer.py")
STEADY_FROM_S = 12  # the first quota window (11 x 1 s) and a second of margin


@dataclass(frozen=True)
class QuotaConfig:
    quota_bytes: float  # producer_byte_rate of client-id "capped"
    seconds: float
    size: int  # bytes per record
    offered_mb: float = 20.0  # what the capped client tries to send, MB/s


def quota_fairness(broker: ServerProcess, config: QuotaConfig) -> dict[str, Any]:
    if ALTER_CLIENT_QUOTAS not in broker.api_ranges:
        return {"supported": False, "note": "AlterClientQuotas is not in its ApiVersions"}
    before = _run(broker.bootstrap, ["uncapped"], config)["uncapped"]
    entity = client("capped")
    with RawKafka(broker.bootstrap) as raw:
        answer = alter(raw, [(entity, {"producer_byte_rate": config.quota_bytes})])
    if answer != [(0, None, entity)]:
        raise RuntimeError(f"AlterClientQuotas failed: {answer}")
    together = _run(broker.bootstrap, ["capped", "uncapped"], config)
    per_second = together["capped"]["mb_per_second_each_second"]
    steady = per_second[STEADY_FROM_S:]
    # Alone again after: the disk's writeback slows later runs, so compare with the mean.
    after = _run(broker.bootstrap, ["uncapped"], config)["uncapped"]
    alone_bytes = (before["bytes"] + after["bytes"]) / 2
    capped, uncapped = together["capped"], together["uncapped"]
    return {
        "supported": True,
        "quota_mb_per_second": config.quota_bytes / 1e6,
        "capped_mb_per_second": capped["mb_per_second"],
        "capped_quota_ratio": round(capped["bytes"] / config.seconds / config.quota_bytes, 2),
        "capped_offered_mb_per_second": capped.get("offered_mb_per_second"),
        "capped_steady_seconds": len(steady),
        "capped_steady_mb_per_second": round(sum(steady) / len(steady), 3) if steady else None,
        "capped_steady_quota_ratio": (
            round(sum(steady) / len(steady) * 1e6 / config.quota_bytes, 3) if steady else None
        ),
        "uncapped_alone_mb_per_second": round(alone_bytes / config.seconds / 1e6, 2),
        "uncapped_together_mb_per_second": uncapped["mb_per_second"],
        "uncapped_together_over_alone": round(uncapped["bytes"] / max(alone_bytes, 1), 2),
        "capped_throttled_responses": capped["throttled_responses"],
        "uncapped_throttled_responses": uncapped["throttled_responses"],
        "details": {"alone_before": before, "together": together, "alone_after": after},
    }


def _run(bootstrap: str, client_ids: list[str], config: QuotaConfig) -> dict[str, Any]:
    """One run on a fresh topic, deleted afterwards: a full-speed producer writes about
    10 GB a minute, which three runs must not leave on the disk."""
    create_topic(bootstrap, TOPIC)
    try:
        return _run_producers(bootstrap, client_ids, config)
    finally:
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.delete_topics([TOPIC], operation_timeout=30)[TOPIC].result(timeout=60)
        time.sleep(2)  # until the name is free again (the files go in the background)


def _run_producers(bootstrap: str, client_ids: list[str], config: QuotaConfig) -> dict[str, Any]:
    """Start one producer process per client id, let them go at once, collect reports."""
    processes = {client_id: _start(bootstrap, client_id, config) for client_id in client_ids}
    try:
        for client_id, process in processes.items():
            assert process.stdout is not None and process.stdin is not None
            if process.stdout.readline().strip() != "ready":
                raise RuntimeError(f"producer {client_id} failed to start")
        for process in processes.values():
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        reports = {}
        for client_id, process in processes.items():
            out, _ = process.communicate(timeout=config.seconds + 60)
            if process.returncode != 0:
                raise RuntimeError(f"producer {client_id} exited {process.returncode}: {out}")
            reports[client_id] = json.loads(out)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    return reports


def _start(bootstrap: str, client_id: str, config: QuotaConfig) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(PRODUCER), "--bootstrap", bootstrap, "--topic", TOPIC,
         "--client-id", client_id, "--seconds", str(config.seconds), "--size", str(config.size),
         "--rate-mb", str(config.offered_mb if client_id == "capped" else 0.0)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
