"""The log cleaner's worker process.

Cleaning is CPU work in Python (decoding records, hashing keys, re-encoding batches).
On a thread it holds the GIL for most of a switch interval at a time, and every time the
event loop comes back from a syscall it waits for it: produce and fetch latency rose
12-22x at p99 while the cleaner worked (docs/benchmarks.md). In a process of its own
it competes for a CPU, not for the broker's interpreter, and at the lowest priority
(nice 19) it gets only the CPU that the broker and its clients leave idle.

One process, started on the first cleaning (``spawn``: the broker has threads, which
``fork`` would copy half-way), serves every later one. It gets a ``CleaningJob`` (paths
and offsets, no file descriptors) and answers a ``CleaningResult`` naming the
``.cleaned`` files it wrote; the broker opens them for the swap. ``request_stop`` sets
a flag in shared memory that the worker's throttler checks between batches (and while
it sleeps), so a stopping broker waits at most one batch for it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import time
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from grete.storage.cleaner import (
    CleaningAborted,
    CleaningJob,
    CleaningResult,
    StopFlag,
    Throttler,
    run_cleaning,
)
from grete.storage.segment import CLEANED_SUFFIX

log = logging.getLogger(__name__)

_CONTEXT = multiprocessing.get_context("spawn")

_POLL_S = 0.05


class SharedStopFlag:
    """A stop flag in shared memory. Not a ``multiprocessing.Event``: its condition
    variable waits for every sleeper to wake, so setting it hangs for good once a
    worker was killed while waiting."""

    def __init__(self, shared: Any = None) -> None:
        self._shared = shared if shared is not None else _CONTEXT.RawValue("b", 0)

    def set(self) -> None:
        self._shared.value = 1

    def is_set(self) -> bool:
        return bool(self._shared.value)

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            left = _POLL_S if deadline is None else min(_POLL_S, deadline - time.monotonic())
            if left <= 0:
                return False
            time.sleep(left)
        return True

    def __reduce__(self) -> tuple[Any, ...]:
        return (SharedStopFlag, (self._shared,))


_worker_stop: StopFlag | None = None  # in the worker process: the broker's stop flag


# The worker runs at the lowest CPU priority: cleaning can wait, produce and fetch cannot.
# On a busy machine (2 cores shared with clients) a worker at the broker's own priority
# still raised p99 latency 1.6-2.4x while it cleaned; niced, it takes the idle CPU only.
WORKER_NICENESS = 19


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _init_worker(stop: SharedStopFlag, broker_pid: int) -> None:
    global _worker_stop
    _worker_stop = stop
    _die_with(broker_pid)
    with contextlib.suppress(OSError, AttributeError):  # not on every platform
        os.nice(WORKER_NICENESS)


def _die_with(broker_pid: int) -> None:
    """Be killed when the broker dies. A worker outliving a broker killed with SIGKILL
    would go on writing ``.cleaned`` files into a log directory that the restarted
    broker has already cleaned up (CI saw them appear after the restart)."""
    with contextlib.suppress(OSError, AttributeError):  # Linux only: elsewhere, outlive it
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != broker_pid:  # it died before the prctl took effect
        os._exit(1)


def _clean(job: CleaningJob, bytes_per_second: float) -> CleaningResult:
    assert _worker_stop is not None
    return run_cleaning(job, Throttler(bytes_per_second, _worker_stop))


class CleanerProcess:
    """Runs ``run_cleaning`` in a worker process, one job at a time."""

    def __init__(self, io_max_bytes_per_second: float) -> None:
        self._rate = io_max_bytes_per_second
        self._stop = SharedStopFlag()
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    async def clean(self, job: CleaningJob) -> CleaningResult:
        """Raises CleaningAborted when stopping, or when the worker died (the next call
        starts a new one)."""
        if self._stop.is_set():
            raise CleaningAborted("the cleaner is stopping")
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=1, mp_context=_CONTEXT, initializer=_init_worker,
                initargs=(self._stop, os.getpid()),
            )
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, _clean, job, self._rate)
        except BrokenProcessPool:
            log.warning("the log cleaner's worker process died; starting a new one for the next cleaning")
            pool, self._pool = self._pool, None
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
            for stray in job.dir.glob(f"*{CLEANED_SUFFIX}"):  # what it was writing
                stray.unlink(missing_ok=True)
            raise CleaningAborted("the worker process died") from None

    @property
    def pids(self) -> list[int]:
        """The worker's process id, once started (for tests and operators)."""
        processes = getattr(self._pool, "_processes", None) or {}
        return list(processes)

    def request_stop(self) -> None:
        """Make a cleaning in progress abort at its next batch."""
        self._stop.set()

    async def close(self) -> None:
        """Stop and wait for the worker process to exit."""
        self.request_stop()
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
