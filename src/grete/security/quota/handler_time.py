"""Time a handler spends running, excluding its waits: what request_percentage counts.

Kafka measures the time a request holds a request-handler thread. A Grete handler is a
coroutine that shares one event loop, so its wall time would count its waits (a long-poll
fetch, an acks=all produce) and other connections' work. ``HandlerTimer`` instead drives
the coroutine itself and adds up only the steps it runs between two suspensions.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Generator
from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")


class HandlerTimer(Generic[T]):
    """Awaiting it awaits ``awaitable``; ``elapsed_ns`` is then the time its steps ran."""

    __slots__ = ("_coro", "elapsed_ns")

    def __init__(self, awaitable: Awaitable[T]) -> None:
        self._coro = awaitable
        self.elapsed_ns = 0

    def __await__(self) -> Generator[Any, Any, T]:
        coro = self._coro.__await__()
        send_value: Any = None
        thrown: BaseException | None = None
        while True:
            started = time.perf_counter_ns()
            try:
                if thrown is None:
                    yielded = coro.send(send_value)
                else:
                    yielded = coro.throw(thrown)
            except StopIteration as done:
                return cast(T, done.value)
            finally:
                self.elapsed_ns += time.perf_counter_ns() - started
            try:
                send_value, thrown = (yield yielded), None
            except BaseException as exc:  # noqa: BLE001 - cancellation is passed on to the handler
                send_value, thrown = None, exc
