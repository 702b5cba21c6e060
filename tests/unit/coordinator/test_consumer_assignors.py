from collections.abc import Mapping

from grete.coordinator.group.consumer_assignors import (
    ASSIGNORS,
    MemberSpec,
    RangeAssignor,
    UniformAssignor,
)
from grete.coordinator.group.consumer_types import Assignment


def spec(*topics: str, current: Mapping[str, set[int]] | None = None) -> MemberSpec:
    return MemberSpec(frozenset(topics), {t: frozenset(ps) for t, ps in (current or {}).items()})


def counts(result: Mapping[str, Assignment]) -> dict[str, int]:
    return {m: sum(len(ps) for ps in a.values()) for m, a in result.items()}


def assert_partitioned(result: Mapping[str, Assignment], topics: Mapping[str, int]) -> None:
    """Every partition of every topic is assigned to exactly one member."""
    seen: list[tuple[str, int]] = [
        (t, p) for a in result.values() for t, ps in a.items() for p in ps
    ]
    assert len(seen) == len(set(seen))
    assert set(seen) == {(t, p) for t, n in topics.items() for p in range(n)}


def test_registry_names() -> None:
    assert sorted(ASSIGNORS) == ["range", "uniform"]


# -- range -------------------------------------------------------------------------------------


def test_range_splits_contiguous_ranges_first_members_get_the_extra() -> None:
    members = {"c": spec("t"), "a": spec("t"), "b": spec("t")}
    result = RangeAssignor().assign(members, {"t": 7})
    assert result == {
        "a": {"t": frozenset({0, 1, 2})},
        "b": {"t": frozenset({3, 4})},
        "c": {"t": frozenset({5, 6})},
    }


def test_range_co_partitions_topics_with_equal_counts() -> None:
    members = {"m1": spec("x", "y"), "m2": spec("x", "y")}
    result = RangeAssignor().assign(members, {"x": 3, "y": 3})
    assert result == {
        "m1": {"x": frozenset({0, 1}), "y": frozenset({0, 1})},
        "m2": {"x": frozenset({2}), "y": frozenset({2})},
    }


def test_range_gives_a_topic_only_to_its_subscribers() -> None:
    members = {"a": spec("x"), "b": spec("x", "y")}
    result = RangeAssignor().assign(members, {"x": 2, "y": 3, "z": 4})
    assert result == {
        "a": {"x": frozenset({0})},
        "b": {"x": frozenset({1}), "y": frozenset({0, 1, 2})},
    }


def test_range_more_members_than_partitions_leaves_the_last_empty() -> None:
    members = {m: spec("t") for m in ("a", "b", "c")}
    result = RangeAssignor().assign(members, {"t": 2})
    assert result == {"a": {"t": frozenset({0})}, "b": {"t": frozenset({1})}, "c": {}}


# -- uniform -----------------------------------------------------------------------------------


def test_uniform_balances_fresh_members() -> None:
    topics = {"x": 4, "y": 6}
    members = {m: spec("x", "y") for m in ("a", "b", "c")}
    result = UniformAssignor().assign(members, topics)
    assert_partitioned(result, topics)
    assert sorted(counts(result).values()) == [3, 3, 4]


def test_uniform_is_deterministic_whatever_the_member_order() -> None:
    topics = {"x": 5, "y": 3}
    forward = {m: spec("x", "y") for m in ("a", "b", "c")}
    backward = {m: spec("x", "y") for m in ("c", "b", "a")}
    assert UniformAssignor().assign(forward, topics) == UniformAssignor().assign(backward, topics)


def test_uniform_keeps_a_balanced_assignment_as_it_is() -> None:
    current = {"a": {0, 5}, "b": {1, 3}, "c": {2, 4}}
    members = {m: spec("t", current={"t": ps}) for m, ps in current.items()}
    result = UniformAssignor().assign(members, {"t": 6})
    assert result == {m: {"t": frozenset(ps)} for m, ps in current.items()}


def test_uniform_moves_only_what_a_new_member_needs() -> None:
    current = {"a": set(range(4)), "b": set(range(4, 8)), "c": set(range(8, 12))}
    members = {m: spec("t", current={"t": ps}) for m, ps in current.items()}
    members["d"] = spec("t")
    result = UniformAssignor().assign(members, {"t": 12})
    assert_partitioned(result, {"t": 12})
    assert counts(result) == {"a": 3, "b": 3, "c": 3, "d": 3}
    for member, partitions in current.items():
        assert result[member]["t"] <= partitions  # nobody gains, each loses exactly one


def test_uniform_spreads_a_leavers_partitions_and_keeps_the_rest() -> None:
    current = {"a": {0, 1}, "b": {2, 3}, "c": {4, 5}}
    members = {m: spec("t", current={"t": ps}) for m, ps in current.items() if m != "c"}
    result = UniformAssignor().assign(members, {"t": 6})
    assert counts(result) == {"a": 3, "b": 3}
    assert result["a"]["t"] >= {0, 1} and result["b"]["t"] >= {2, 3}


def test_uniform_respects_subscriptions_and_balances_the_rest() -> None:
    members = {"a": spec("x"), "b": spec("x", "y")}
    result = UniformAssignor().assign(members, {"x": 4, "y": 4})
    assert_partitioned(result, {"x": 4, "y": 4})
    assert "y" not in result["a"]
    assert counts(result) == {"a": 4, "b": 4}


def test_uniform_drops_unsubscribed_and_vanished_partitions() -> None:
    members = {
        "a": spec("x", current={"x": {0, 1, 2, 3}, "y": {0}}),
        "b": spec("x"),
    }
    result = UniformAssignor().assign(members, {"x": 2, "y": 1})
    assert_partitioned(result, {"x": 2})
    assert counts(result) == {"a": 1, "b": 1}
    assert result["a"] == {"x": frozenset({0})}  # kept the oldest


def test_uniform_with_no_topics_or_no_members() -> None:
    assert UniformAssignor().assign({"a": spec("x")}, {}) == {"a": {}}
    assert UniformAssignor().assign({}, {"x": 3}) == {}
