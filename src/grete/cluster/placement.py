"""Replica placement for new topics and partitions, as Kafka's AdminUtils assigns them.

Without racks: round robin from a random start broker; a partition's followers follow its
leader at a shift that grows every full round, so leaders and followers spread evenly.
With racks (every broker has one): brokers are interleaved rack by rack, and a partition
takes at most one replica per rack until every rack has one. Sans-IO: the caller passes
the live brokers and a random generator.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence


class PlacementError(ValueError):
    """Replicas cannot be placed (Kafka answers INVALID_REPLICATION_FACTOR)."""


def assign_replicas(
    brokers: Mapping[int, str | None],
    partitions: int,
    replication_factor: int,
    *,
    first_partition: int = 0,
    rng: random.Random | None = None,
) -> dict[int, tuple[int, ...]]:
    """Replicas of partitions first_partition .. first_partition + partitions - 1, preferred
    leader first. `brokers` maps each live broker id to its rack (None: no rack)."""
    if replication_factor <= 0:
        raise PlacementError("replication factor must be larger than 0")
    if replication_factor > len(brokers):
        raise PlacementError(
            f"replication factor: {replication_factor} larger than available brokers: {len(brokers)}"
        )
    rng = rng or random.Random()
    racks = set(brokers.values())
    if None in racks:
        if len(racks) > 1:
            raise PlacementError("either all brokers or none must have a rack")
        return _without_racks(sorted(brokers), partitions, replication_factor, first_partition, rng)
    return _with_racks(brokers, partitions, replication_factor, first_partition, rng)  # type: ignore[arg-type]


def _shifted(first: int, shift: int, j: int, n: int) -> int:
    """Index of replica j+1 when the leader is at `first` (Kafka's replicaIndex)."""
    return (first + 1 + (shift + j) % (n - 1)) % n


def _leader_positions(
    n: int, partitions: int, first_partition: int, rng: random.Random
) -> Iterator[tuple[int, int, int]]:
    """(partition, index of its leader in the broker order, follower shift): a random start,
    one broker further per partition, and the shift grows after each full round."""
    start = rng.randrange(n)
    shift = rng.randrange(n)
    for current in range(first_partition, first_partition + partitions):
        if current > 0 and current % n == 0:
            shift += 1
        yield current, (current + start) % n, shift


def _without_racks(
    ids: Sequence[int], partitions: int, rf: int, first_partition: int, rng: random.Random
) -> dict[int, tuple[int, ...]]:
    n = len(ids)
    result: dict[int, tuple[int, ...]] = {}
    for current, first, shift in _leader_positions(n, partitions, first_partition, rng):
        replicas = [ids[first]]
        replicas += [ids[_shifted(first, shift, j, n)] for j in range(rf - 1)] if n > 1 else []
        result[current] = tuple(replicas)
    return result


def _rack_alternated(brokers: Mapping[int, str]) -> list[int]:
    """Brokers ordered rack by rack: the first of each rack, then the second of each, ..."""
    by_rack: dict[str, list[int]] = {}
    for broker, rack in sorted(brokers.items()):
        by_rack.setdefault(rack, []).append(broker)
    ordered: list[int] = []
    queues = [by_rack[r] for r in sorted(by_rack)]
    depth = max(len(q) for q in queues)
    for i in range(depth):
        ordered += [q[i] for q in queues if i < len(q)]
    return ordered


def _with_racks(
    brokers: Mapping[int, str], partitions: int, rf: int, first_partition: int, rng: random.Random
) -> dict[int, tuple[int, ...]]:
    ordered = _rack_alternated(brokers)
    n = len(ordered)
    num_racks = len(set(brokers.values()))
    result: dict[int, tuple[int, ...]] = {}
    for current, first, shift in _leader_positions(n, partitions, first_partition, rng):
        leader = ordered[first]
        replicas = [leader]
        racks_used = {brokers[leader]}
        k = 0
        while len(replicas) < rf:
            broker = ordered[_shifted(first, shift, k, n)] if n > 1 else leader
            k += 1
            rack = brokers[broker]
            if broker in replicas:
                continue
            # One replica per rack until every rack has one; then any broker not yet used.
            if rack in racks_used and len(racks_used) < num_racks:
                continue
            replicas.append(broker)
            racks_used.add(rack)
            if k > 2 * n * n:  # cannot happen with rf <= n; a guard against a bad input loop
                raise PlacementError("could not place replicas")
        result[current] = tuple(replicas)
    return result
