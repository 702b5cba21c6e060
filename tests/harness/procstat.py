"""Resource usage of a running process, read from /proc (Linux only, no psutil)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcessUsage:
    """CPU seconds used so far (user + system, own + reaped children) and peak RSS."""

    cpu_seconds: float
    peak_rss_bytes: int
    rss_bytes: int


def read_usage(pid: int) -> ProcessUsage:
    """Sample /proc/PID/stat and /proc/PID/status; raises OSError once the process is gone."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may contain spaces: split after its closing parenthesis.
    fields = stat[stat.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state); utime, stime, cutime, cstime are fields 14..17.
    ticks = sum(int(value) for value in fields[11:15])
    status = _status_kib(pid)
    return ProcessUsage(
        cpu_seconds=ticks / _CLOCK_TICKS,
        peak_rss_bytes=status.get("VmHWM", 0) * 1024,
        rss_bytes=status.get("VmRSS", 0) * 1024,
    )


@dataclass(frozen=True)
class MachineCpu:
    """The machine's CPU time so far, in clock ticks over all CPUs (/proc/stat). `steal`
    is time the hypervisor ran something else while this guest wanted to run."""

    total: int
    steal: int

    def steal_percent_since(self, earlier: MachineCpu) -> float | None:
        """Share of the CPU time between the two samples that the host took away."""
        elapsed = self.total - earlier.total
        return None if elapsed <= 0 else 100.0 * (self.steal - earlier.steal) / elapsed


def read_machine_cpu() -> MachineCpu:
    """Sample the aggregate "cpu" line of /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(value) for value in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal [guest guest_nice]: guest time is
    # already counted in user and nice.
    ticks = fields[:8]
    return MachineCpu(total=sum(ticks), steal=ticks[7] if len(ticks) > 7 else 0)


def _status_kib(pid: int) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        parts = value.split()
        if len(parts) == 2 and parts[1] == "kB":
            sizes[name] = int(parts[0])
    return sizes


def wait_stopped(pid: int, timeout: float = 5.0) -> None:
    """Block until every thread of ``pid`` is stopped (state T) after a SIGSTOP, which the
    kernel delivers asynchronously: a JVM or a busy Python process may answer one more
    request right after os.kill returns. Raises TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        states = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                stat = (task / "stat").read_text()
            except FileNotFoundError:  # a thread that just ended
                continue
            states.append(stat[stat.rindex(")") + 2])
        if states and all(state in "Tt" for state in states):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"pid {pid} not stopped after {timeout}s: thread states {states}")
        time.sleep(0.005)
