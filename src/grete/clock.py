"""An injectable clock, so that timeouts, rolls and retention are testable without sleeping."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def time_ms(self) -> int:
        """Wall-clock milliseconds since the epoch (record timestamps, segment.ms)."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin, never going backwards (deadlines)."""
        ...


class SystemClock:
    def time_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that moves only when told to; for tests."""

    def __init__(self, time_ms: int = 1_700_000_000_000) -> None:
        self._ms = time_ms
        self._mono = 0.0

    def time_ms(self) -> int:
        return self._ms

    def monotonic(self) -> float:
        return self._mono

    def advance(self, ms: int) -> None:
        self._ms += ms
        self._mono += ms / 1000.0


SYSTEM_CLOCK = SystemClock()
