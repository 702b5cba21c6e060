"""Fencing a leader whose process stood still (SIGSTOP, a frozen VM, a swap storm).

While the process is stopped, its ZooKeeper session can expire and the controller can
elect another leader. On waking, the event loop first handles what waited in the
sockets (produce requests, parked follower fetches) and only later sees the session's
fate from kazoo. Without a fence, the deposed leader could ack writes in that window.

A timer ticks on the event loop. A gap between two ticks (or between the last tick and
a check on the produce path, which can run before the timers do) longer than half the
session timeout means the session may be gone: the fence goes up, leader appends and
acks=all completions answer NOT_LEADER_OR_FOLLOWER, and ``on_stall`` starts the
confirmation. The owner lifts the fence once ZooKeeper confirms that the session holds
this broker's registration and the partition states say who leads (ZkBroker).

Half the session timeout: kazoo pings every third of it, so a session can expire
after a stall of two thirds; the margin covers the last ping's age. A loop merely busy
that long is fenced too, for the time of one ZooKeeper round trip; clients retry.
Event loop only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

log = logging.getLogger("grete.cluster")


class StallFence:
    def __init__(self, session_timeout_ms: int, on_stall: Callable[[], None]) -> None:
        self.threshold_s = session_timeout_ms / 2000
        self.interval_s = min(1.0, self.threshold_s / 5)
        self._on_stall = on_stall
        self._last_tick = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None
        self.up = False

    def start(self) -> None:
        self._last_tick = time.monotonic()
        self._timer = asyncio.get_running_loop().call_later(self.interval_s, self._tick)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self) -> None:
        self._check(time.monotonic())
        self._timer = asyncio.get_running_loop().call_later(self.interval_s, self._tick)

    def _check(self, now: float) -> None:
        stalled = now - self._last_tick
        self._last_tick = now
        if stalled > self.threshold_s and not self.up:
            self.up = True
            log.warning(
                "the process stood still for %.1f s (over half the ZooKeeper session "
                "timeout): leadership fenced until ZooKeeper confirms it", stalled,
            )
            self._on_stall()

    def __call__(self) -> bool:
        """True while this broker must not append or ack as leader (the hot-path check)."""
        if not self.up and self._timer is not None:
            self._check(time.monotonic())
        return self.up

    def lift(self) -> None:
        self.up = False
