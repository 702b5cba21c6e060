"""queued.max.request.bytes: the bytes of request frames read and not yet answered, across
every connection (Kafka's request memory pool).

As Kafka's pool, the bound is soft: a connection may start a request while any memory
is left, even one larger than what is left, so a frame is never refused for its size
(socket.request.max.bytes does that). Once the bytes in use reach the limit, no
connection starts another request, or reads, until an answered request gives its bytes
back. Kafka's default, -1, sets no limit.

Event loop only.
"""

from __future__ import annotations

from collections.abc import Callable


class RequestMemory:
    __slots__ = ("_waiters", "limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit  # <= 0: unbounded
        self.used = 0
        self._waiters: dict[object, Callable[[], None]] = {}

    def exhausted(self) -> bool:
        return 0 < self.limit <= self.used

    def reserve(self, nbytes: int) -> None:
        self.used += nbytes

    def release(self, nbytes: int) -> None:
        self.used -= nbytes
        if self._waiters and not self.exhausted():
            waiters, self._waiters = self._waiters, {}
            for resume in waiters.values():  # in the order they began waiting
                resume()

    def wait(self, owner: object, resume: Callable[[], None]) -> None:
        """Call ``resume`` once memory is free again (once per owner)."""
        self._waiters.setdefault(owner, resume)

    def forget(self, owner: object) -> None:
        self._waiters.pop(owner, None)
