"""fsync off the event loop: one background thread that makes files durable.

A segment roll (and a flush.ms flush) writes the index bytes on the loop, which costs
a copy into the page cache, and hands the fsyncs to this thread, which can take
seconds for a 1 GiB segment. The log advances its recovery point only once the job
has finished (Kafka also flushes a rolled segment on a background thread).

A job opens each file by path, so it does not depend on the segment's descriptor,
which idle closing may close and reuse. A file gone by then (deleted by retention, or
its log deleted) makes the job report failure: the recovery point stays where it was.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from grete.storage.fsutil import fsync_dir, fsync_path

log = logging.getLogger("grete.storage")


def fsync_paths(paths: Sequence[Path], dir: Path | None, optional: Sequence[Path] = ()) -> bool:
    """fsync each file, then ``dir``; False if one of ``paths`` (or ``dir``) no longer
    exists. A file of ``optional`` may be gone (a producer snapshot already replaced)."""
    try:
        for path in paths:
            fsync_path(path)
        if dir is not None:
            fsync_dir(dir)
    except FileNotFoundError:
        return False
    for path in optional:
        try:
            fsync_path(path)
        except FileNotFoundError:
            pass
    return True


def _unlink_all(paths: Sequence[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


class BackgroundFlusher:
    """One thread, so jobs finish in the order they were submitted."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="log-flusher")

    def submit(self, paths: Sequence[Path], dir: Path | None, optional: Sequence[Path] = ()) -> Future[bool]:
        return self._pool.submit(fsync_paths, list(paths), dir, list(optional))

    def remove(self, paths: Sequence[Path]) -> Future[None]:
        """Delete files nobody reads any more (stale producer snapshots), in order with
        the other jobs."""
        return self._pool.submit(_unlink_all, list(paths))

    def drain(self) -> None:
        """Wait until every job submitted so far has finished."""
        self._pool.submit(int).result()

    def close(self) -> None:
        """Wait for the submitted jobs (a stop flushes everything anyway, after them)."""
        self._pool.shutdown(wait=True)
