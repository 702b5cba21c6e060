"""The KIP-848 groups of the group coordinator: ConsumerGroupHeartbeat and its timers.

Membership lives in memory only for now: after a broker restart, members get
UNKNOWN_MEMBER_ID and rejoin with epoch 0, as after a coordinator move in Kafka.
Committed offsets are durable either way (they go through __consumer_offsets).
Not thread-safe; event loop only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping

from grete.clock import Clock
from grete.coordinator.group.consumer_group import ConsumerGroup
from grete.coordinator.group.consumer_types import (
    ConsumerGroupConfig,
    ConsumerGroupDescription,
    ConsumerGroupError,
    ConsumerGroupListing,
    HeartbeatRequest,
    HeartbeatResult,
)

DEFAULT_CONFIG = ConsumerGroupConfig()


class ConsumerGroups:
    def __init__(self, clock: Clock, config: ConsumerGroupConfig = DEFAULT_CONFIG) -> None:
        self._clock = clock
        self._config = config
        self._groups: dict[str, ConsumerGroup] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def __contains__(self, group_id: object) -> bool:
        return group_id in self._groups

    def get(self, group_id: str) -> ConsumerGroup | None:
        return self._groups.get(group_id)

    def heartbeat(
        self, group_id: str, request: HeartbeatRequest, topic_partitions: Mapping[str, int]
    ) -> HeartbeatResult:
        group = self._groups.get(group_id)
        if group is None:
            if request.member_epoch != 0:
                return HeartbeatResult(error=ConsumerGroupError.UNKNOWN_MEMBER_ID, member_id=request.member_id)
            group = self._groups[group_id] = ConsumerGroup(group_id, self._clock, self._config)
        result = group.heartbeat(request, topic_partitions)
        self._arm(group)
        return result

    def _arm(self, group: ConsumerGroup) -> None:
        old = self._timers.pop(group.group_id, None)
        if old is not None:
            old.cancel()
        deadline = group.next_deadline()
        if deadline is not None:
            delay = max(0.0, deadline - self._clock.monotonic())
            self._timers[group.group_id] = asyncio.get_running_loop().call_later(
                delay, self._on_timer, group.group_id
            )

    def _on_timer(self, group_id: str) -> None:
        self._timers.pop(group_id, None)
        group = self._groups.get(group_id)
        if group is not None:
            group.poll()
            self._arm(group)

    def describe(self, group_id: str) -> ConsumerGroupDescription | None:
        group = self._groups.get(group_id)
        return None if group is None else group.describe()

    def listings(self) -> Iterator[ConsumerGroupListing]:
        return (group.listing() for group in list(self._groups.values()))

    def validate_commit(self, group_id: str, member_id: str, member_epoch: int) -> ConsumerGroupError | None:
        group = self._groups[group_id]
        return group.validate_commit(member_id, member_epoch)

    def shutdown(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
