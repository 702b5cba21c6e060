import random
from collections import Counter

import pytest

from grete.cluster.placement import PlacementError, assign_replicas


@pytest.mark.parametrize("seed", range(20))
def test_without_racks_every_partition_has_distinct_replicas_and_leaders_spread(seed: int) -> None:
    brokers = {1: None, 2: None, 3: None, 4: None, 5: None}
    placed = assign_replicas(brokers, 10, 3, rng=random.Random(seed))
    assert sorted(placed) == list(range(10))
    for replicas in placed.values():
        assert len(replicas) == 3 and len(set(replicas)) == 3 and set(replicas) <= set(brokers)
    leaders = Counter(r[0] for r in placed.values())
    assert set(leaders.values()) == {2}  # 10 partitions over 5 brokers: 2 leaderships each
    replicas = Counter(b for r in placed.values() for b in r)
    assert set(replicas.values()) == {6}


@pytest.mark.parametrize("seed", range(20))
def test_with_racks_each_partition_spans_every_rack(seed: int) -> None:
    brokers = {1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: "c"}
    placed = assign_replicas(brokers, 12, 3, rng=random.Random(seed))
    for replicas in placed.values():
        assert len(set(replicas)) == 3
        assert {brokers[b] for b in replicas} == {"a", "b", "c"}
    assert set(Counter(r[0] for r in placed.values()).values()) == {2}


def test_more_replicas_than_racks_fills_the_racks_then_any_broker() -> None:
    brokers = {1: "a", 2: "a", 3: "b", 4: "b"}
    for replicas in assign_replicas(brokers, 8, 3, rng=random.Random(7)).values():
        assert len(set(replicas)) == 3 and {brokers[b] for b in replicas} == {"a", "b"}


def test_new_partitions_continue_the_layout() -> None:
    placed = assign_replicas({1: None, 2: None, 3: None}, 2, 2, first_partition=4, rng=random.Random(1))
    assert sorted(placed) == [4, 5]


def test_refusals() -> None:
    with pytest.raises(PlacementError, match="larger than available brokers: 2"):
        assign_replicas({1: None, 2: None}, 1, 3)
    with pytest.raises(PlacementError):
        assign_replicas({1: None}, 1, 0)
    with pytest.raises(PlacementError, match="all brokers or none"):
        assign_replicas({1: "a", 2: None}, 1, 1)


def test_single_broker() -> None:
    assert assign_replicas({7: None}, 3, 1, rng=random.Random(0)) == {0: (7,), 1: (7,), 2: (7,)}
