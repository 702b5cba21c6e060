"""The graceful stop's safety nets: a bounded step, and the slow-shutdown report."""

from __future__ import annotations

import asyncio
import logging

import pytest

from grete.app import _awaiting, _bounded, _report_slow_shutdown


async def _inner(event: asyncio.Event) -> None:
    await event.wait()


async def _outer(event: asyncio.Event) -> None:
    await _inner(event)


async def test_the_report_names_where_each_task_waits_innermost_last(caplog: pytest.LogCaptureFixture) -> None:
    event = asyncio.Event()
    task = asyncio.create_task(_outer(event), name="stuck")
    await asyncio.sleep(0)
    chain = _awaiting(task)
    assert chain.startswith("_outer:") and "_inner:" in chain and "Event.wait:" in chain
    with caplog.at_level(logging.WARNING, logger="grete"):
        await _report_slow_shutdown(0.0)
    assert any("stuck: _outer:" in r.getMessage() for r in caplog.records)
    event.set()
    await task


async def test_a_hanging_step_is_cut_off_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    cancelled = asyncio.Event()

    async def hangs() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    with caplog.at_level(logging.WARNING, logger="grete"):
        await _bounded("the step", hangs(), 0.05)
    assert cancelled.is_set()
    assert any("the step did not finish" in r.getMessage() for r in caplog.records)
    await _bounded("a quick step", asyncio.sleep(0), 1.0)  # no error, no log
    assert not any("a quick step" in r.getMessage() for r in caplog.records)
