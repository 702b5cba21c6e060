"""The bench's machine-wide CPU sample (tests/harness/procstat.py)."""

from __future__ import annotations

import time

from harness import MachineCpu, read_machine_cpu


def test_steal_share_of_the_time_between_two_samples() -> None:
    earlier = MachineCpu(total=1_000, steal=100)
    later = MachineCpu(total=1_400, steal=200)
    assert later.steal_percent_since(earlier) == 25.0
    assert later.steal_percent_since(later) is None


def test_machine_cpu_counts_up_while_busy() -> None:
    before = read_machine_cpu()
    deadline = time.monotonic() + 0.2
    while time.monotonic() < deadline:  # bounded: 0.2 s of one core
        pass
    after = read_machine_cpu()
    assert after.total > before.total
    assert 0 <= after.steal - before.steal <= after.total - before.total
    steal = after.steal_percent_since(before)
    assert steal is not None and 0.0 <= steal <= 100.0
