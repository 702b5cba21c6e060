"""Server-side assignors of KIP-848 groups: ``uniform`` (sticky, balanced) and ``range``.

An assignor sees each member's subscribed topics and its current *target* assignment
(Kafka's TargetAssignmentBuilder hands it the previous target), plus the partition
count of every topic the group subscribes to, and returns the new target for every
member. Both are pure and deterministic: the same input gives the same output.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from grete.coordinator.group.consumer_types import Assignment, TopicPartition


@dataclass(frozen=True, slots=True)
class MemberSpec:
    subscribed_topics: frozenset[str]
    current: Mapping[str, frozenset[int]] = field(default_factory=dict)


class Assignor(Protocol):
    @property
    def name(self) -> str: ...

    def assign(
        self, members: Mapping[str, MemberSpec], topic_partitions: Mapping[str, int]
    ) -> dict[str, Assignment]:
        """The target assignment of every member (an empty one for members with nothing)."""
        ...


def _build(
    owned: Mapping[str, list[TopicPartition]], member_ids: list[str]
) -> dict[str, Assignment]:
    result: dict[str, Assignment] = {}
    for member_id in member_ids:
        topics: dict[str, set[int]] = {}
        for topic, partition in owned.get(member_id, []):
            topics.setdefault(topic, set()).add(partition)
        result[member_id] = {t: frozenset(ps) for t, ps in topics.items()}
    return result


class RangeAssignor:
    """Kafka's range strategy, per topic: members subscribed to it, sorted by member id,
    get contiguous ranges; the first ``partitions % members`` of them get one extra.

    Members with the same subscriptions thus get the same ranges of co-partitioned
    topics (equal partition counts), which is what joins across topics rely on.
    """

    name = "range"

    def assign(
        self, members: Mapping[str, MemberSpec], topic_partitions: Mapping[str, int]
    ) -> dict[str, Assignment]:
        owned: dict[str, list[TopicPartition]] = {}
        for topic in sorted(topic_partitions):
            subscribers = sorted(
                m for m, spec in members.items() if topic in spec.subscribed_topics
            )
            if not subscribers:
                continue
            quota, extra = divmod(topic_partitions[topic], len(subscribers))
            start = 0
            for index, member_id in enumerate(subscribers):
                count = quota + (1 if index < extra else 0)
                owned.setdefault(member_id, []).extend(
                    (topic, p) for p in range(start, start + count)
                )
                start += count
        return _build(owned, sorted(members))


class UniformAssignor:
    """Balances partition counts across members while moving as few partitions as it can.

    1. Each member keeps the partitions of its current target that still exist, that it
       still subscribes to and that no member earlier in id order kept.
    2. Every other partition goes to the eligible (subscribed) member with the fewest
       partitions, ties to the smallest member id.
    3. While a member has at least two more partitions than an eligible member, one
       moves from the fullest to the emptiest (bounded by the number of partitions).

    With equal subscriptions this ends with counts differing by at most one; with
    different subscriptions it is a best effort (no single move improves balance).
    """

    name = "uniform"

    def assign(
        self, members: Mapping[str, MemberSpec], topic_partitions: Mapping[str, int]
    ) -> dict[str, Assignment]:
        member_ids = sorted(members)
        owned: dict[str, list[TopicPartition]] = {m: [] for m in member_ids}
        taken: set[TopicPartition] = set()
        for member_id in member_ids:  # 1. stickiness
            spec = members[member_id]
            for topic in sorted(spec.current):
                if topic not in spec.subscribed_topics:
                    continue
                for partition in sorted(spec.current[topic]):
                    tp = (topic, partition)
                    if partition < topic_partitions.get(topic, 0) and tp not in taken:
                        owned[member_id].append(tp)
                        taken.add(tp)
        subscribers = {
            topic: [m for m in member_ids if topic in members[m].subscribed_topics]
            for topic in sorted(topic_partitions)
        }
        for topic, eligible in subscribers.items():  # 2. the unassigned
            if not eligible:
                continue
            for partition in range(topic_partitions[topic]):
                if (topic, partition) not in taken:
                    receiver = min(eligible, key=lambda m: (len(owned[m]), m))
                    owned[receiver].append((topic, partition))
                    taken.add((topic, partition))
        self._balance(owned, subscribers, len(taken))
        return _build(owned, member_ids)

    @staticmethod
    def _balance(
        owned: dict[str, list[TopicPartition]], subscribers: Mapping[str, list[str]], bound: int
    ) -> None:
        for _ in range(bound):  # every move lowers the sum of squared counts: it ends
            move = UniformAssignor._best_move(owned, subscribers)
            if move is None:
                return
            giver, receiver, tp = move
            owned[giver].remove(tp)
            owned[receiver].append(tp)

    @staticmethod
    def _best_move(
        owned: dict[str, list[TopicPartition]], subscribers: Mapping[str, list[str]]
    ) -> tuple[str, str, TopicPartition] | None:
        by_load = sorted(owned, key=lambda m: (-len(owned[m]), m))
        for giver in by_load:
            # The most recently added partitions move first: older ones are stickier.
            for tp in reversed(owned[giver]):
                eligible = subscribers.get(tp[0], [])
                receiver = min(eligible, key=lambda m: (len(owned[m]), m), default=None)
                if receiver is not None and len(owned[receiver]) + 2 <= len(owned[giver]):
                    return giver, receiver, tp
        return None


ASSIGNORS: dict[str, Assignor] = {a.name: a for a in (UniformAssignor(), RangeAssignor())}
