"""Fetches parked until enough data arrives (fetch.min.bytes) or their max wait passes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from grete.partition.topic_partition import TopicPartition


class DelayedFetch:
    """A fetch waiting for ``min_bytes`` of new data across its partitions.

    Completion condition: the bytes appended to the watched partitions since the
    fetch was parked, plus what it already had, reach ``min_bytes``; or the
    partitions' set changes (a deletion), which also wakes it. The deadline is
    applied by ``wait``. Event loop only.
    """

    __slots__ = ("_future", "accumulated", "min_bytes", "partitions", "replica")

    def __init__(
        self, partitions: Iterable[TopicPartition], min_bytes: int, accumulated: int, *, replica: bool = False
    ) -> None:
        self.partitions = frozenset(partitions)
        self.replica = replica  # a follower's fetch: it reads up to the log end, not the HW
        self.min_bytes = min_bytes
        self.accumulated = accumulated
        self._future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_append(self, nbytes: int) -> None:
        self.accumulated += nbytes
        if self.accumulated >= self.min_bytes:
            self.complete()

    def complete(self) -> None:
        if not self._future.done():
            self._future.set_result(None)

    @property
    def completed(self) -> bool:
        return self._future.done()

    async def wait(self, timeout_s: float) -> bool:
        """True if completed by data, False if the deadline passed first."""
        if timeout_s <= 0:
            return self._future.done()
        try:
            # Not wait_for, which can lose the connection's cancellation (grete/tasks.py).
            async with asyncio.timeout(timeout_s):
                await asyncio.shield(self._future)
        except TimeoutError:
            return False
        return True


class FetchPurgatory:
    """Parked fetches, indexed by the partitions they watch."""

    def __init__(self) -> None:
        self._watchers: dict[TopicPartition, set[DelayedFetch]] = {}
        self._closed = False

    def watch(self, delayed: DelayedFetch) -> None:
        if self._closed:  # shutting down: answer at once with what there is
            delayed.complete()
            return
        for tp in delayed.partitions:
            self._watchers.setdefault(tp, set()).add(delayed)

    def unwatch(self, delayed: DelayedFetch) -> None:
        for tp in delayed.partitions:
            watchers = self._watchers.get(tp)
            if watchers is not None:
                watchers.discard(delayed)
                if not watchers:
                    del self._watchers[tp]

    def on_append(self, tp: TopicPartition, nbytes: int) -> None:
        """Bytes appended to the leader's log: followers' fetches may complete."""
        watchers = self._watchers.get(tp)
        if watchers:
            for delayed in list(watchers):
                if delayed.replica:
                    delayed.on_append(nbytes)

    def on_commit(self, tp: TopicPartition, nbytes: int) -> None:
        """Bytes the high watermark just exposed: consumers' fetches may complete."""
        watchers = self._watchers.get(tp)
        if watchers:
            for delayed in list(watchers):
                if not delayed.replica:
                    delayed.on_append(nbytes)

    def wake_all(self, tp: TopicPartition) -> None:
        for delayed in list(self._watchers.get(tp, ())):
            delayed.complete()

    def shutdown(self) -> None:
        """Complete every parked fetch now, and every fetch parked from now on, so that a
        draining shutdown never waits out a long poll."""
        self._closed = True
        for watchers in list(self._watchers.values()):
            for delayed in list(watchers):
                delayed.complete()

    def __len__(self) -> int:
        return len({d for ws in self._watchers.values() for d in ws})
