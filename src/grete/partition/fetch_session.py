"""Incremental fetch sessions (KIP-227).

A consumer that fetches the same partitions again and again opens a session with
a full fetch (epoch 0); later fetches (epoch 1, 2, ...) name only partitions that
changed, and the broker answers only for partitions with something new: records,
a moved high watermark or log start offset, or an error.

Sans-IO: the cache takes request values and returns which partitions to fetch and
how to filter the response; it never touches logs or sockets.
"""

from __future__ import annotations

import itertools
import random
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from enum import Enum

from grete.clock import Clock
from grete.partition.topic_partition import TopicPartition

INITIAL_EPOCH = 0
FINAL_EPOCH = -1
INVALID_SESSION_ID = 0


class SessionError(Enum):
    NOT_FOUND = "fetch_session_id_not_found"
    INVALID_EPOCH = "invalid_fetch_session_epoch"


@dataclass(slots=True)
class PartitionFetchState:
    """What a session remembers of one partition between fetches."""

    fetch_offset: int
    max_bytes: int
    topic_id: uuid.UUID | None = None  # set for v13+ (topic-id) sessions
    high_watermark: int = -1
    log_start_offset: int = -1
    last_stable_offset: int = -1
    current_leader_epoch: int = -1  # the fetcher's view of the leader epoch; -1: not checked


@dataclass(slots=True)
class FetchSession:
    session_id: int
    epoch: int
    partitions: OrderedDict[TopicPartition, PartitionFetchState] = field(default_factory=OrderedDict)
    last_used: float = 0.0


@dataclass(frozen=True, slots=True)
class FetchPlan:
    """What to fetch for one request and how to answer it."""

    session: FetchSession | None  # None: a sessionless full fetch
    response_session_id: int
    partitions: list[tuple[TopicPartition, PartitionFetchState]]
    incremental: bool
    error: SessionError | None = None


class FetchSessionCache:
    """Open fetch sessions, at most ``max_slots`` (max.incremental.fetch.session.cache.slots).

    When full, the least recently used session idle for longer than ``evict_after_s``
    makes room. Event loop only.
    """

    def __init__(self, max_slots: int, clock: Clock, evict_after_s: float = 120.0, seed: int | None = None) -> None:
        self._max_slots = max_slots
        self._clock = clock
        self._evict_after_s = evict_after_s
        self._sessions: OrderedDict[int, FetchSession] = OrderedDict()
        self._random = random.Random(seed)

    def __len__(self) -> int:
        return len(self._sessions)

    def plan(
        self,
        session_id: int,
        epoch: int,
        requested: list[tuple[TopicPartition, PartitionFetchState]],
        forgotten: list[TopicPartition],
        *,
        sessions_allowed: bool = True,
    ) -> FetchPlan:
        if epoch == FINAL_EPOCH:
            if session_id != INVALID_SESSION_ID:
                self._sessions.pop(session_id, None)
            return FetchPlan(None, INVALID_SESSION_ID, requested, incremental=False)
        if epoch == INITIAL_EPOCH:
            if session_id != INVALID_SESSION_ID:
                self._sessions.pop(session_id, None)
            session = self._create(requested) if sessions_allowed else None
            new_id = session.session_id if session else INVALID_SESSION_ID
            return FetchPlan(session, new_id, requested, incremental=False)
        session = self._sessions.get(session_id)
        if session is None:
            return FetchPlan(None, INVALID_SESSION_ID, [], False, SessionError.NOT_FOUND)
        if session.epoch != epoch:
            return FetchPlan(None, INVALID_SESSION_ID, [], False, SessionError.INVALID_EPOCH)
        for tp in forgotten:
            session.partitions.pop(tp, None)
        for tp, state in requested:
            existing = session.partitions.get(tp)
            if existing is None:
                session.partitions[tp] = state
            else:
                existing.fetch_offset = state.fetch_offset
                existing.max_bytes = state.max_bytes
                existing.current_leader_epoch = state.current_leader_epoch
                existing.topic_id = state.topic_id
        session.epoch = _next_epoch(epoch)
        self._touch(session)
        return FetchPlan(session, session.session_id, list(session.partitions.items()), incremental=True)

    def _create(self, requested: list[tuple[TopicPartition, PartitionFetchState]]) -> FetchSession | None:
        if self._max_slots <= 0:
            return None
        if len(self._sessions) >= self._max_slots and not self._evict_one():
            return None
        session_id = self._new_id()
        session = FetchSession(session_id, _next_epoch(INITIAL_EPOCH), OrderedDict(requested))
        self._sessions[session_id] = session
        self._touch(session)
        return session

    def _new_id(self) -> int:
        for _ in itertools.count():
            candidate = self._random.randint(1, 2**31 - 1)
            if candidate not in self._sessions:
                return candidate
        raise AssertionError("unreachable")

    def _evict_one(self) -> bool:
        oldest_id, oldest = next(iter(self._sessions.items()))
        if self._clock.monotonic() - oldest.last_used < self._evict_after_s:
            return False
        del self._sessions[oldest_id]
        return True

    def _touch(self, session: FetchSession) -> None:
        session.last_used = self._clock.monotonic()
        self._sessions.move_to_end(session.session_id)

    def remove(self, session_id: int) -> None:
        self._sessions.pop(session_id, None)


def _next_epoch(epoch: int) -> int:
    return 1 if epoch >= 2**31 - 1 else epoch + 1


def should_include(
    state: PartitionFetchState,
    *,
    has_records: bool,
    error: bool,
    high_watermark: int,
    log_start_offset: int,
    last_stable_offset: int,
    incremental: bool,
) -> bool:
    """Whether an incremental response must carry this partition; updates the
    remembered offsets when it does (as Kafka's CachedPartition does)."""
    changed = (
        state.high_watermark != high_watermark
        or state.log_start_offset != log_start_offset
        or state.last_stable_offset != last_stable_offset
    )
    state.high_watermark = high_watermark
    state.log_start_offset = log_start_offset
    state.last_stable_offset = last_stable_offset
    return not incremental or has_records or error or changed
