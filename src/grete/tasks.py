"""Stopping background tasks."""

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
