"""Producer ids unique across the cluster: blocks reserved in /latest_producer_id_block.

As Kafka's ZkProducerIdManager: a broker reads the last reserved block and writes the
next one with a conditional set on the znode's version; a lost race re-reads and tries
again. Ids of a block not used before a restart are never handed out.
"""

from __future__ import annotations

from grete.cluster.producer_ids import BLOCK_SIZE
from grete.cluster.zookeeper import paths
from grete.cluster.zookeeper.client import BadVersion, NodeExists, ZkClient
from grete.cluster.zookeeper.znodes import ProducerIdBlock

MAX_ATTEMPTS = 100


class ZkProducerIdManager:
    def __init__(self, zk: ZkClient, broker_id: int, block_size: int = BLOCK_SIZE) -> None:
        self._zk = zk
        self._broker_id = broker_id
        self._block_size = block_size
        self._next = 0
        self._end = 0

    async def next_id(self) -> int:
        if self._next >= self._end:
            block = await self._reserve()
            self._next, self._end = block.first_producer_id, block.last_producer_id + 1
        producer_id = self._next
        self._next += 1
        return producer_id

    async def _reserve(self) -> ProducerIdBlock:
        for _ in range(MAX_ATTEMPTS):
            found = await self._zk.get(paths.LATEST_PRODUCER_ID_BLOCK)
            if found is None:
                block = ProducerIdBlock(self._broker_id, 0, self._block_size)
                try:
                    await self._zk.create(paths.LATEST_PRODUCER_ID_BLOCK, block.encode(), make_parents=True)
                except NodeExists:
                    continue
                return block
            data, stat = found
            start = 0 if not data else ProducerIdBlock.decode(data).last_producer_id + 1
            block = ProducerIdBlock(self._broker_id, start, self._block_size)
            try:
                await self._zk.set(paths.LATEST_PRODUCER_ID_BLOCK, block.encode(), version=stat.version)
            except BadVersion:
                continue  # another broker reserved a block first
            return block
        raise RuntimeError("could not reserve a producer id block: too much contention")
