"""The KIP-848 groups of the group coordinator: ConsumerGroupHeartbeat, its timers, persistence.

After each heartbeat or deadline the group's snapshot is compared with the one last
written; what changed goes to `write` (the coordinator turns it into
``__consumer_offsets`` records), so a broker restart rebuilds every group with its
members, epochs and assignments (`load`). A member's session restarts at load, as
after a coordinator move in Kafka. Not thread-safe; event loop only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping

from grete.clock import Clock
from grete.coordinator.group.consumer_group import ConsumerGroup
from grete.coordinator.group.consumer_types import (
    ConsumerGroupConfig,
    ConsumerGroupDescription,
    ConsumerGroupError,
    ConsumerGroupListing,
    ConsumerGroupSnapshot,
    ConsumerGroupState,
    HeartbeatRequest,
    HeartbeatResult,
)

DEFAULT_CONFIG = ConsumerGroupConfig()

WriteGroup = Callable[[str, ConsumerGroupSnapshot | None, ConsumerGroupSnapshot | None], bool]
"""(group id, last written snapshot, new snapshot or None for deleted) -> whether it was stored."""


def _discard(group_id: str, before: ConsumerGroupSnapshot | None, after: ConsumerGroupSnapshot | None) -> bool:
    return True


class ConsumerGroups:
    def __init__(
        self, clock: Clock, config: ConsumerGroupConfig = DEFAULT_CONFIG, write: WriteGroup = _discard
    ) -> None:
        self._clock = clock
        self._config = config
        self._write = write
        self._groups: dict[str, ConsumerGroup] = {}
        self._written: dict[str, ConsumerGroupSnapshot] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def __contains__(self, group_id: object) -> bool:
        return group_id in self._groups

    def get(self, group_id: str) -> ConsumerGroup | None:
        return self._groups.get(group_id)

    def load(self, snapshot: ConsumerGroupSnapshot) -> None:
        """A group replayed from the log; its members' sessions start now."""
        group = ConsumerGroup.from_snapshot(snapshot, self._clock, self._config)
        self._groups[group.group_id] = group
        self._written[group.group_id] = snapshot
        self._after(group)  # from_snapshot may have computed a target never written

    def heartbeat(
        self, group_id: str, request: HeartbeatRequest, topic_partitions: Mapping[str, int]
    ) -> HeartbeatResult:
        group = self._groups.get(group_id)
        if group is None:
            if request.member_epoch != 0:
                return HeartbeatResult(error=ConsumerGroupError.UNKNOWN_MEMBER_ID, member_id=request.member_id)
            group = self._groups[group_id] = ConsumerGroup(group_id, self._clock, self._config)
        result = group.heartbeat(request, topic_partitions)
        self._after(group)
        return result

    def delete(self, group_id: str) -> bool:
        """DeleteGroups / expiry: an empty group's records become tombstones; False if
        the group still has members (NON_EMPTY_GROUP)."""
        group = self._groups.get(group_id)
        if group is None:
            return True
        if group.state is not ConsumerGroupState.EMPTY:
            return False
        del self._groups[group_id]
        timer = self._timers.pop(group_id, None)
        if timer is not None:
            timer.cancel()
        before = self._written.pop(group_id, None)
        if before is not None:
            self._write(group_id, before, None)
        return True

    def unload(self, group_id: str) -> None:
        """Forget a group another broker now coordinates (its records stay in the log)."""
        self._groups.pop(group_id, None)
        self._written.pop(group_id, None)
        timer = self._timers.pop(group_id, None)
        if timer is not None:
            timer.cancel()

    def _after(self, group: ConsumerGroup) -> None:
        snapshot = group.snapshot()
        before = self._written.get(group.group_id)
        if snapshot != before and self._write(group.group_id, before, snapshot):
            self._written[group.group_id] = snapshot
        self._arm(group)

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
            self._after(group)

    def describe(self, group_id: str) -> ConsumerGroupDescription | None:
        group = self._groups.get(group_id)
        return None if group is None else group.describe()

    def listings(self) -> Iterator[ConsumerGroupListing]:
        return (group.listing() for group in list(self._groups.values()))

    def is_empty(self, group_id: str) -> bool:
        group = self._groups.get(group_id)
        return group is None or group.state is ConsumerGroupState.EMPTY

    def is_subscribed(self, group_id: str, topic: str) -> bool:
        """Does a member subscribe to `topic`? (Such offsets never expire, as in Kafka.)"""
        description = self.describe(group_id)
        return description is not None and any(
            topic in m.subscribed_topic_names for m in description.members
        )

    def validate_commit(self, group_id: str, member_id: str, member_epoch: int) -> ConsumerGroupError | None:
        group = self._groups[group_id]
        return group.validate_commit(member_id, member_epoch)

    def shutdown(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
