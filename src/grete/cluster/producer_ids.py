"""Producer ids for idempotent producers, reserved durably in blocks (as Kafka's ProducerIdManager)."""

from __future__ import annotations

from typing import Protocol

from grete.cluster.metadata import MetadataStore


class ProducerIds(Protocol):
    """Unique producer ids: the embedded store's blocks, or ZooKeeper's in a cluster."""

    async def next_id(self) -> int: ...

BLOCK_SIZE = 1000


class ProducerIdManager:
    """Hands out unique producer ids; a restart skips the rest of the reserved block,
    so an id is never handed out twice. Event loop only."""

    def __init__(self, store: MetadataStore, block_size: int = BLOCK_SIZE) -> None:
        self._store = store
        self._block_size = block_size
        self._next = 0
        self._end = 0

    async def next_id(self) -> int:
        if self._next >= self._end:
            self._next = self._store.allocate_producer_ids(self._block_size)
            self._end = self._next + self._block_size
        producer_id = self._next
        self._next += 1
        return producer_id
