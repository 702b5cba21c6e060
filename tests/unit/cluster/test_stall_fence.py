"""The stall fence: a gap in the event loop's ticks longer than half the ZooKeeper
session timeout fences leadership, noticed on the produce path before any timer runs."""

from __future__ import annotations

import asyncio
import time

from grete.cluster.zookeeper.stall_fence import StallFence


async def test_a_stall_is_seen_by_the_first_check_after_it() -> None:
    stalls: list[float] = []
    fence = StallFence(400, lambda: stalls.append(time.monotonic()))  # threshold 0.2 s
    fence.start()
    try:
        await asyncio.sleep(0.3)  # the loop runs: ticks keep the fence down
        assert not fence() and not stalls
        time.sleep(0.3)  # noqa: ASYNC251 - the whole loop stands still, as under SIGSTOP
        assert fence(), "the check right after the stall, before any timer, must fence"
        assert len(stalls) == 1
        await asyncio.sleep(0.1)
        assert fence() and len(stalls) == 1, "up until lifted; on_stall called once"
        fence.lift()
        assert not fence()
    finally:
        fence.stop()


async def test_the_timer_fences_a_stall_without_any_check() -> None:
    stalls: list[float] = []
    fence = StallFence(400, lambda: stalls.append(time.monotonic()))
    fence.start()
    try:
        await asyncio.sleep(0.1)
        time.sleep(0.3)  # noqa: ASYNC251 - the stall under test
        await asyncio.sleep(0.1)  # a tick runs
        assert fence.up and len(stalls) == 1
    finally:
        fence.stop()


async def test_a_busy_loop_shorter_than_the_threshold_is_not_fenced() -> None:
    fence = StallFence(2000, lambda: None)  # threshold 1 s
    fence.start()
    try:
        for _ in range(3):
            time.sleep(0.3)  # noqa: ASYNC251 - a busy loop
            await asyncio.sleep(0)
            assert not fence()
    finally:
        fence.stop()


def test_a_fence_never_started_does_not_fence() -> None:
    fence = StallFence(400, lambda: None)
    time.sleep(0.25)
    assert not fence()
