"""The name of one partition: (topic, partition index)."""

from __future__ import annotations

from typing import NamedTuple


class TopicPartition(NamedTuple):
    """A tuple, not a frozen dataclass: one is built for every partition of every request,
    and a frozen dataclass's constructor costs several times a tuple's (docs/performance.md)."""

    topic: str
    partition: int

    def __str__(self) -> str:
        return f"{self.topic}-{self.partition}"
