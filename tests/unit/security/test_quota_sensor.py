"""Sampled rates, Kafka's throttle time, and the quota managers, on a manual clock."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from grete.clock import ManualClock
from grete.security.quota.entity import QuotaConfigs, QuotaEntity
from grete.security.quota.handler_time import HandlerTimer
from grete.security.quota.manager import ClientQuotaManager, metric_key, user_of
from grete.security.quota.sensor import QuotaWindow, SampledRate

WINDOW = QuotaWindow(samples=11, sample_ms=1000)


class FakeStore:
    """Just the two members a manager reads; ``set`` bumps the version as the stores do."""

    def __init__(self) -> None:
        self.version = 0
        self._quotas: dict[QuotaEntity, dict[str, float]] = {}

    def quotas(self) -> QuotaConfigs:
        return self._quotas

    def set(self, entity: QuotaEntity, values: Mapping[str, float]) -> None:
        if values:
            self._quotas[entity] = dict(values)
        else:
            self._quotas.pop(entity, None)
        self.version += 1


def test_the_throttle_is_the_shortest_silence_that_brings_the_rate_back() -> None:
    rate = SampledRate(WINDOW, now_ms=0)
    assert rate.throttle_ms(100.0, 0) == 0
    rate.record(1_000, 0)  # 1 kB over the padded 10 s: exactly the bound
    assert rate.throttle_ms(100.0, 0) == 0
    rate.record(100, 0)  # 1.1 kB: at 100 B/s it takes an 11 s span, before the sample expires
    wait = rate.throttle_ms(100.0, 0)
    assert wait == 11_000
    assert wait > 0
    assert rate.rate(wait - 100) > 100.0  # (rate() forgets expired samples: in time order)
    assert rate.rate(wait) <= 100.0


def test_a_steady_stream_of_large_requests_gets_its_quota_not_more() -> None:
    """2.4 MB requests against a 1 MB/s quota, each sent when the last throttle ends (a
    client offering far more). Kafka's (rate - quota) / quota × window formula lets this
    client through at about 1.19x (measured in make bench); the wait here counts the
    samples that expire meanwhile, so the long-run rate is the quota."""
    rate = SampledRate(WINDOW, now_ms=0)
    quota, request, now, sent = 1_000_000.0, 2_400_000, 0, 0
    while now < 300_000:  # five minutes of simulated time
        rate.record(request, now)
        sent += request
        now += max(rate.throttle_ms(quota, now), 1)
    assert sent / (now / 1000) == pytest.approx(quota, rel=0.05)


def test_a_new_rate_divides_by_the_padded_window() -> None:
    rate = SampledRate(WINDOW, now_ms=0)
    rate.record(10_000, 0)
    assert rate.window_ms(0) == 10_000  # 10 full samples' worth, not 0 ms
    assert rate.rate(0) == pytest.approx(1_000.0)


def test_rate_spans_the_samples_and_forgets_old_ones() -> None:
    rate = SampledRate(WINDOW, now_ms=0)
    for second in range(20):
        rate.record(1_000, second * 1000)
    # 11 samples live, the oldest started 10 s ago: 11 kB over ~10 s
    now = 19_000
    assert rate.window_ms(now) == 10_000
    assert rate.rate(now) == pytest.approx(1_100.0)
    # idle for longer than the window: everything is forgotten
    assert rate.rate(now + 12_000) == 0.0


def test_unrecord_takes_a_value_back() -> None:
    rate = SampledRate(WINDOW, now_ms=0)
    rate.record(5_000, 0)
    rate.unrecord(5_000, 0)
    assert rate.rate(0) == 0.0


def test_window_rejects_empty_samples() -> None:
    with pytest.raises(ValueError):
        QuotaWindow(samples=0, sample_ms=1000)


def test_manager_throttles_over_quota_and_only_then() -> None:
    clock, store = ManualClock(), FakeStore()
    store.set(QuotaEntity.for_client("slow"), {"producer_byte_rate": 1000.0})
    manager = ClientQuotaManager("producer_byte_rate", store, WINDOW, clock)
    # 10 kB in the padded 10 s window is exactly the quota: no throttle
    assert manager.record("User:ANONYMOUS", "slow", 10_000) == 0
    # 10 kB more: 2x the quota. 20 kB can only average out at 1 kB/s over 20 s, longer
    # than a window lives: the client waits until that sample expires (12 s)
    assert manager.record("User:ANONYMOUS", "slow", 10_000) == 12_000
    assert manager.record("User:ANONYMOUS", "fast", 1_000_000) == 0  # no quota applies


def test_manager_sees_quota_changes_through_the_store_version() -> None:
    clock, store = ManualClock(), FakeStore()
    manager = ClientQuotaManager("producer_byte_rate", store, WINDOW, clock)
    assert not manager.active()
    store.set(QuotaEntity.for_user(None), {"producer_byte_rate": 100.0})
    assert manager.active()
    assert manager.record("User:ANONYMOUS", "app", 5_000) > 0
    store.set(QuotaEntity.for_user(None), {})
    assert not manager.active()
    assert manager.record("User:ANONYMOUS", "app", 5_000) == 0


def test_default_entities_give_each_user_their_own_quota() -> None:
    clock, store = ManualClock(), FakeStore()
    store.set(QuotaEntity.for_user(None), {"consumer_byte_rate": 1000.0})
    store.set(QuotaEntity.for_user("shared"), {"consumer_byte_rate": 1000.0})
    manager = ClientQuotaManager("consumer_byte_rate", store, WINDOW, clock)
    assert manager.record("User:alice", "a", 10_000) == 0
    assert manager.record("User:bob", "b", 10_000) == 0  # bob's own sensor, not alice's
    assert manager.record("User:shared", "a", 10_000) == 0
    assert manager.record("User:shared", "b", 10_000) > 0  # one sensor for the named user


def test_metric_keys_and_principal_names() -> None:
    assert user_of("User:alice") == "alice"
    assert metric_key(QuotaEntity.for_user(None), "alice", "app") == ("alice", "")
    assert metric_key(QuotaEntity.for_client(None), "alice", "app") == ("", "app")
    assert metric_key(QuotaEntity.for_user_client("bob", None), "alice", "app") == ("bob", "app")


def test_request_throttle_is_capped_at_one_sample() -> None:
    clock, store = ManualClock(), FakeStore()
    store.set(QuotaEntity.for_client(None), {"request_percentage": 1.0})
    manager = ClientQuotaManager("request_percentage", store, WINDOW, clock, max_throttle_ms=1000)
    assert manager.record("User:ANONYMOUS", "app", 500.0) == 1000


def test_handler_timer_counts_running_steps_not_waits() -> None:
    async def handler() -> str:
        await asyncio.sleep(0.2)
        return "done"

    async def main() -> tuple[str, int]:
        timer = HandlerTimer(handler())
        return await timer, timer.elapsed_ns

    result, elapsed_ns = asyncio.run(main())
    assert result == "done"
    assert elapsed_ns < 100_000_000  # the 200 ms sleep is not counted


def test_handler_timer_passes_cancellation_on() -> None:
    cancelled = []

    async def handler() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def main() -> None:
        task = asyncio.ensure_future(HandlerTimer(handler()))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert cancelled == [True]
