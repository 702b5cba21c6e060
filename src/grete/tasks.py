"""Waiting on and stopping background tasks.

Not ``asyncio.wait_for``: in Python 3.11 it returns normally when a cancellation meets
the completion of what it waits for in the same loop iteration, and the cancelled task
goes on (a stopped controller kept serving, and its ``stop()`` waited forever)."""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` (unless that was asked already) and wait until it has ended.

    The task's own CancelledError is expected and dropped; a cancellation of the caller
    still propagates. ``contextlib.suppress(CancelledError)`` around the await would drop
    both: a stop bounded by ``asyncio.timeout`` would then return as if it had finished
    when the timeout fired, and the task it gave up on would keep running.
    """
    if not task.cancelling():  # once: a second request could cut short its clean-up
        task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise


async def wait_set(event: asyncio.Event, timeout_s: float | None) -> bool:
    """Wait until ``event`` is set or ``timeout_s`` has passed (None: no limit); True if
    it was set. A cancellation always propagates."""
    try:
        async with asyncio.timeout(timeout_s):
            await event.wait()
    except TimeoutError:
        return False
    return True
