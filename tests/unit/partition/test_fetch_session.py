from grete.clock import ManualClock
from grete.partition.fetch_session import (
    FetchSessionCache,
    PartitionFetchState,
    SessionError,
    should_include,
)
from grete.partition.topic_partition import TopicPartition

A = TopicPartition("a", 0)
B = TopicPartition("b", 1)


def state(offset: int) -> PartitionFetchState:
    return PartitionFetchState(fetch_offset=offset, max_bytes=1000)


def test_full_fetch_with_epoch_zero_opens_a_session() -> None:
    cache = FetchSessionCache(10, ManualClock(), seed=1)
    plan = cache.plan(0, 0, [(A, state(0)), (B, state(5))], [])
    assert plan.response_session_id != 0
    assert not plan.incremental
    assert [tp for tp, _ in plan.partitions] == [A, B]
    assert len(cache) == 1


def test_incremental_fetch_keeps_unmentioned_partitions_and_drops_forgotten() -> None:
    cache = FetchSessionCache(10, ManualClock(), seed=1)
    sid = cache.plan(0, 0, [(A, state(0)), (B, state(5))], []).response_session_id
    plan = cache.plan(sid, 1, [(A, state(7))], [B])
    assert plan.incremental and plan.error is None
    assert [(tp, st.fetch_offset) for tp, st in plan.partitions] == [(A, 7)]
    plan = cache.plan(sid, 2, [(B, state(9))], [])
    assert [(tp, st.fetch_offset) for tp, st in plan.partitions] == [(A, 7), (B, 9)]


def test_wrong_epoch_and_unknown_session_are_errors() -> None:
    cache = FetchSessionCache(10, ManualClock(), seed=1)
    sid = cache.plan(0, 0, [(A, state(0))], []).response_session_id
    assert cache.plan(sid, 5, [], []).error is SessionError.INVALID_EPOCH
    assert cache.plan(sid + 1, 1, [], []).error is SessionError.NOT_FOUND


def test_final_epoch_closes_the_session() -> None:
    cache = FetchSessionCache(10, ManualClock(), seed=1)
    sid = cache.plan(0, 0, [(A, state(0))], []).response_session_id
    plan = cache.plan(sid, -1, [(A, state(3))], [])
    assert plan.response_session_id == 0 and len(cache) == 0


def test_full_cache_evicts_only_idle_sessions() -> None:
    clock = ManualClock()
    cache = FetchSessionCache(1, clock, evict_after_s=10, seed=1)
    first = cache.plan(0, 0, [(A, state(0))], []).response_session_id
    assert cache.plan(0, 0, [(B, state(0))], []).response_session_id == 0  # no room yet
    clock.advance(11_000)
    second = cache.plan(0, 0, [(B, state(0))], []).response_session_id
    assert second not in (0, first)
    assert cache.plan(first, 1, [], []).error is SessionError.NOT_FOUND


def test_incremental_response_carries_only_changed_partitions() -> None:
    st = state(0)
    common = dict(error=False, log_start_offset=0, last_stable_offset=10, incremental=True)
    assert should_include(st, has_records=False, high_watermark=10, **common)  # first sight: changed
    assert not should_include(st, has_records=False, high_watermark=10, **common)
    assert should_include(st, has_records=True, high_watermark=10, **common)
    assert should_include(st, has_records=False, high_watermark=11, **common)
