"""Followers copy their leaders: one fetcher task per leader broker, as Kafka's
ReplicaFetcherThread.

A partition that starts following first asks the leader, with OffsetForLeaderEpoch,
where its latest leader epoch ended, and truncates what it has beyond that (KIP-101/279:
by leader epoch, never by the high watermark alone). It then fetches from its log end
with the Fetch API as replica `local_id`, appends the leader's batches verbatim, and
takes the leader's high watermark and log start offset (so DeleteRecords and retention
reach every replica). A follower whose next offset fell below the leader's log start
starts over, empty, at that offset. A response is applied only if the partition still
follows the same leader in the same leader epoch as when the request went out.
Event loop only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from grete.network.client import (
    AuthenticationFailed,
    BrokerConnectionError,
    ConnectSecurity,
    KafkaConnection,
)
from grete.partition.partition import Partition
from grete.partition.topic_partition import TopicPartition
from grete.protocol import ApiKey, ErrorCode
from grete.storage.errors import StorageError
from grete.tasks import cancel_and_wait, wait_set

log = logging.getLogger("grete.replication")

FETCH_VERSION = 12  # topic names, replica id in the body, leader epochs
EPOCH_VERSION = 4
CONNECT_TIMEOUT_S = 5.0

ResolveEndpoint = Callable[[int], tuple[str, int] | None]


@dataclass(frozen=True, slots=True)
class FetcherConfig:
    local_id: int
    max_wait_ms: int = 500  # replica.fetch.wait.max.ms
    max_bytes: int = 10 * 1024 * 1024  # replica.fetch.response.max.bytes
    partition_max_bytes: int = 1024 * 1024  # replica.fetch.max.bytes
    backoff_ms: int = 1000  # replica.fetch.backoff.ms
    security: ConnectSecurity | None = None  # TLS / SASL of the inter-broker listener


@dataclass(slots=True)
class _Following:
    partition: Partition
    leader_epoch: int
    needs_truncation: bool = True
    paused_until: float = 0.0


class ReplicaFetcher:
    """Fetches every partition this broker follows from one leader."""

    def __init__(self, leader: int, config: FetcherConfig, resolve: ResolveEndpoint) -> None:
        self.leader = leader
        self._config = config
        self._resolve = resolve
        self._following: dict[TopicPartition, _Following] = {}
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name=f"replica-fetcher-{leader}")
        self._conn: KafkaConnection | None = None

    def add(self, partition: Partition) -> None:
        self._following[partition.tp] = _Following(partition, partition.leader_epoch)
        self._changed.set()

    def remove(self, tp: TopicPartition) -> None:
        self._following.pop(tp, None)

    def __len__(self) -> int:
        return len(self._following)

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        if self._conn is not None:
            await self._conn.close()

    # -- loop ---------------------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = self._config.backoff_ms / 1000
        while True:
            if not self._following:
                self._changed.clear()
                await self._changed.wait()
                continue
            try:
                conn = await self._connection()
                await self._truncate(conn)
                await self._fetch(conn)
            except (BrokerConnectionError, OSError) as exc:
                # A refused login is a configuration error an operator must see.
                level = logging.WARNING if isinstance(exc, AuthenticationFailed) else logging.INFO
                log.log(level, "fetching from broker %d: %s; retrying", self.leader, exc)
                await self._reset_connection()
                await asyncio.sleep(backoff)
            except Exception:  # a bug must not end replication silently (logged with its trace)
                log.exception("fetching from broker %d failed; retrying", self.leader)
                await self._reset_connection()
                await asyncio.sleep(backoff)

    async def _reset_connection(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def _connection(self) -> KafkaConnection:
        if self._conn is not None:
            if not self._conn.closed() and not self._conn.needs_renewal():
                return self._conn
            await self._conn.close()  # closed, or its SASL session is about to end
            self._conn = None
        endpoint = self._resolve(self.leader)
        if endpoint is None:
            raise BrokerConnectionError(f"broker {self.leader} is not alive")
        self._conn = await KafkaConnection.open(
            endpoint[0], endpoint[1], client_id=f"grete-replica-{self._config.local_id}",
            connect_timeout_s=CONNECT_TIMEOUT_S, security=self._config.security,
        )
        return self._conn

    def _current(self, tp: TopicPartition, following: _Following) -> bool:
        """The partition still follows this leader in the epoch the request was made for."""
        p = following.partition
        return (
            self._following.get(tp) is following
            and p.leader_id == self.leader
            and p.leader_epoch == following.leader_epoch
        )

    # -- truncation ------------------------------------------------------------------------------

    async def _truncate(self, conn: KafkaConnection) -> None:
        pending = {tp: f for tp, f in self._following.items() if f.needs_truncation}
        if not pending:
            return
        by_topic: dict[str, list[object]] = {}
        asked: dict[TopicPartition, int] = {}
        for tp, f in pending.items():
            latest = f.partition.log.leader_epoch_cache.latest_epoch
            if latest is None:  # nothing written under any epoch: nothing to truncate
                f.needs_truncation = False
                continue
            asked[tp] = latest
            by_topic.setdefault(tp.topic, []).append(conn.make(
                ApiKey.OFFSET_FOR_LEADER_EPOCH, EPOCH_VERSION, "OffsetForLeaderPartition",
                partition=tp.partition, current_leader_epoch=f.leader_epoch, leader_epoch=latest,
            ))
        if not by_topic:
            return
        request = conn.build(
            ApiKey.OFFSET_FOR_LEADER_EPOCH, EPOCH_VERSION, replica_id=self._config.local_id,
            topics=[conn.make(ApiKey.OFFSET_FOR_LEADER_EPOCH, EPOCH_VERSION, "OffsetForLeaderTopic",
                              topic=t, partitions=ps) for t, ps in by_topic.items()],
        )
        response = await conn.request(ApiKey.OFFSET_FOR_LEADER_EPOCH, EPOCH_VERSION, request, timeout_s=30)
        for topic in response.topics:
            for r in topic.partitions:
                tp = TopicPartition(topic.topic, r.partition)
                following = pending.get(tp)
                if following is None or not self._current(tp, following):
                    continue
                if r.error_code != ErrorCode.none:
                    self._pause(following, f"OffsetForLeaderEpoch: {ErrorCode(r.error_code).name}")
                    continue
                self._apply_truncation(following, r.leader_epoch, r.end_offset)

    def _apply_truncation(self, following: _Following, leader_epoch: int, end_offset: int) -> None:
        partition = following.partition
        log_end = partition.log.log_end_offset
        if end_offset < 0:
            target = min(partition.high_watermark, log_end)  # the leader knows no such epoch
        else:
            ours = partition.log.end_offset_for_epoch(leader_epoch)
            target = min(end_offset, log_end)
            if ours.leader_epoch == leader_epoch and ours.end_offset >= 0:
                target = min(target, ours.end_offset)
        if target < log_end:
            log.info(
                "%s: truncating from %d to %d (leader %d, epoch %d ends at %d)",
                partition.tp, log_end, target, self.leader, leader_epoch, end_offset,
            )
            partition.truncate_to(target)
        following.needs_truncation = False

    # -- fetching ---------------------------------------------------------------------------------

    async def _fetch(self, conn: KafkaConnection) -> None:
        now = asyncio.get_running_loop().time()
        ready = {
            tp: f for tp, f in self._following.items()
            if not f.needs_truncation and f.paused_until <= now
        }
        if not ready:
            pause = min((f.paused_until for f in self._following.values() if not f.needs_truncation), default=now)
            self._changed.clear()
            await wait_set(self._changed, max(0.05, pause - now))
            return
        by_topic: dict[str, list[object]] = {}
        for tp, f in ready.items():
            log_ = f.partition.log
            latest = log_.leader_epoch_cache.latest_epoch
            by_topic.setdefault(tp.topic, []).append(conn.make(
                ApiKey.FETCH, FETCH_VERSION, "FetchPartition",
                partition=tp.partition, current_leader_epoch=f.leader_epoch,
                fetch_offset=log_.log_end_offset, last_fetched_epoch=-1 if latest is None else latest,
                log_start_offset=log_.log_start_offset, partition_max_bytes=self._config.partition_max_bytes,
            ))
        request = conn.build(
            ApiKey.FETCH, FETCH_VERSION, cluster_id=None, replica_id=self._config.local_id,
            max_wait=self._config.max_wait_ms, min_bytes=1, max_bytes=self._config.max_bytes,
            isolation_level=0, session_id=0, session_epoch=-1,
            topics=[conn.make(ApiKey.FETCH, FETCH_VERSION, "FetchTopic", topic=t, partitions=ps)
                    for t, ps in by_topic.items()],
            forgotten_topics_data=[], rack_id="",
        )
        timeout = self._config.max_wait_ms / 1000 + 30
        response = await conn.request(ApiKey.FETCH, FETCH_VERSION, request, timeout_s=timeout)
        if response.error_code != ErrorCode.none:
            raise BrokerConnectionError(f"fetch failed: {ErrorCode(response.error_code).name}")
        for topic in response.responses:
            for data in topic.partitions:
                tp = TopicPartition(topic.topic, data.partition_index)
                following = ready.get(tp)
                if following is not None and self._current(tp, following):
                    self._apply(following, data)

    def _apply(self, following: _Following, data: Any) -> None:
        partition = following.partition
        error = ErrorCode(data.error_code)
        if error == ErrorCode.offset_out_of_range:
            if data.log_start_offset > partition.log.log_end_offset:
                # The leader's retention or DeleteRecords removed what we would fetch next.
                log.info(
                    "%s: leader %d starts at %d, past our log end %d: starting over there",
                    partition.tp, self.leader, data.log_start_offset, partition.log.log_end_offset,
                )
                partition.truncate_fully_and_start_at(data.log_start_offset)
                return
            following.needs_truncation = True
            self._pause(following, "offset out of range")
            return
        if error != ErrorCode.none:
            self._pause(following, error.name)
            return
        records = data.records
        if records:
            try:
                partition.append_as_follower(records)
            except StorageError as exc:
                log.warning("%s: follower append refused: %s; truncating again", partition.tp, exc)
                following.needs_truncation = True
                return
        partition.update_high_watermark_from_leader(data.high_watermark)
        partition.update_log_start_offset_from_leader(data.log_start_offset)

    def _pause(self, following: _Following, why: str) -> None:
        log.info("%s: fetch from broker %d paused: %s", following.partition.tp, self.leader, why)
        following.paused_until = asyncio.get_running_loop().time() + self._config.backoff_ms / 1000


class ReplicaFetcherManager:
    """The fetchers of this broker, one per leader it follows something from."""

    def __init__(self, config: FetcherConfig, resolve: ResolveEndpoint) -> None:
        self._config = config
        self._resolve = resolve
        self._fetchers: dict[int, ReplicaFetcher] = {}
        self._leader_of: dict[TopicPartition, int] = {}

    def follow(self, partition: Partition) -> None:
        """Fetch `partition` from its (new) leader, truncating first."""
        self.unfollow(partition.tp)
        leader = partition.leader_id
        fetcher = self._fetchers.get(leader)
        if fetcher is None:
            fetcher = self._fetchers[leader] = ReplicaFetcher(leader, self._config, self._resolve)
        fetcher.add(partition)
        self._leader_of[partition.tp] = leader

    def unfollow(self, tp: TopicPartition) -> None:
        leader = self._leader_of.pop(tp, None)
        if leader is not None and leader in self._fetchers:
            self._fetchers[leader].remove(tp)

    def following(self, tp: TopicPartition) -> int | None:
        return self._leader_of.get(tp)

    async def shutdown(self) -> None:
        for fetcher in list(self._fetchers.values()):
            await fetcher.close()
        self._fetchers.clear()
        self._leader_of.clear()
