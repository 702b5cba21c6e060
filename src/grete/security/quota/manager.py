"""Enforcing client quotas: one manager per quota key, as Kafka's ClientQuotaManager.

A manager finds the quota of a (user, client id) with KIP-55's precedence, keeps a
``SampledRate`` per *metric key*, records what a request used and answers how long the
client must be throttled. The metric key is the quota's entity with each default part
replaced by the connection's own name, so ``/users/<default>`` gives every user a quota of
their own while ``/users/alice`` is shared by all of alice's clients, as in Kafka.

The quota lookups are cached per (user, client id) and dropped when the store's
``version`` moves, so a quota altered at runtime applies from the next request. When no
entity sets the manager's key, ``enabled`` is False and callers skip measuring at all.

Not thread-safe; event loop only. Time comes from the injected clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from grete.clock import Clock
from grete.cluster.client_quotas import ClientQuotaStore
from grete.security.quota.entity import (
    CLIENT_ID,
    CONSUMER_BYTE_RATE,
    PRODUCER_BYTE_RATE,
    REQUEST_PERCENTAGE,
    USER,
    QuotaEntity,
)
from grete.security.quota.precedence import find_quota
from grete.security.quota.sensor import QuotaWindow, SampledRate

MetricKey = tuple[str, str]  # (user, client id); "" where the quota's entity has no part
SENSORS_BEFORE_PRUNE = 4096  # idle sensors are dropped once this many exist


@dataclass(frozen=True, slots=True)
class _Quota:
    key: MetricKey
    bound: float


def user_of(principal: str) -> str:
    """The quota user of a principal ("User:alice" → "alice"), as Kafka's principal name."""
    return principal.partition(":")[2] or principal


def metric_key(entity: QuotaEntity, user: str, client_id: str) -> MetricKey:
    """Whose usage a quota counts: the entity's names, a default part standing for the
    connection's own user or client id."""
    key_user = key_client = ""
    if entity.has(USER):
        key_user = entity.name(USER) or user
    if entity.has(CLIENT_ID):
        key_client = entity.name(CLIENT_ID) or client_id
    return key_user, key_client


class ClientQuotaManager:
    """The quota of one key (producer_byte_rate, consumer_byte_rate, request_percentage)."""

    def __init__(
        self,
        quota_key: str,
        store: ClientQuotaStore,
        window: QuotaWindow,
        clock: Clock,
        max_throttle_ms: int | None = None,
    ) -> None:
        self.quota_key = quota_key
        self._store = store
        self._window = window
        self._clock = clock
        self._max_throttle_ms = max_throttle_ms
        self._version = -1
        self.enabled = False
        self._lookups: dict[tuple[str, str], _Quota | None] = {}
        self._sensors: dict[MetricKey, SampledRate] = {}
        self.refresh()

    def refresh(self) -> None:
        """Re-read the store if its quotas changed since the last look (cheap otherwise)."""
        version = self._store.version
        if version == self._version:
            return
        self._version = version
        self._lookups.clear()
        key = self.quota_key
        self.enabled = any(key in values for values in self._store.quotas().values())

    def active(self) -> bool:
        """Whether any entity sets this key: when not, callers need not measure at all."""
        self.refresh()
        return self.enabled

    def quota(self, user: str, client_id: str) -> _Quota | None:
        self.refresh()
        if not self.enabled:
            return None
        found = self._lookups.get((user, client_id), _MISSING)
        if found is _MISSING:
            hit = find_quota(self._store.quotas(), self.quota_key, user, client_id)
            found = None if hit is None else _Quota(metric_key(hit[0], user, client_id), hit[1])
            self._lookups[(user, client_id)] = found
        return found if isinstance(found, _Quota) else None

    def record(self, principal: str, client_id: str | None, value: float) -> int:
        """Record ``value`` for the connection's quota; the throttle time in milliseconds
        (0: within quota, or no quota applies)."""
        quota = self.quota(user_of(principal), client_id or "")
        if quota is None:
            return 0
        now_ms = self._clock.time_ms()
        sensor = self._sensors.get(quota.key)
        if sensor is None:
            if len(self._sensors) >= SENSORS_BEFORE_PRUNE:
                self._prune(now_ms)
            sensor = self._sensors[quota.key] = SampledRate(self._window, now_ms)
        sensor.record(value, now_ms)
        throttle = sensor.throttle_ms(quota.bound, now_ms)
        if self._max_throttle_ms is not None:
            throttle = min(throttle, self._max_throttle_ms)
        return throttle

    def unrecord(self, principal: str, client_id: str | None, value: float) -> None:
        """Take back what ``record`` counted (a fetch answered empty because throttled)."""
        _, sensor = self._measured(principal, client_id)
        if sensor is not None:
            sensor.unrecord(value, self._clock.time_ms())

    def over_quota(self, principal: str, client_id: str | None) -> bool:
        """Whether the connection's rate is above its quota already, without recording."""
        quota, sensor = self._measured(principal, client_id)
        return quota is not None and sensor is not None and sensor.rate(self._clock.time_ms()) > quota.bound

    def _measured(self, principal: str, client_id: str | None) -> tuple[_Quota | None, SampledRate | None]:
        """The connection's quota and its sensor (None until something was recorded)."""
        quota = self.quota(user_of(principal), client_id or "")
        return quota, None if quota is None else self._sensors.get(quota.key)

    def max_value_in_window(self, principal: str, client_id: str | None) -> float | None:
        """The most one request may use and still be answered: the quota over all but the
        current sample (Kafka's getMaxValueInQuotaWindow). A fetch larger than this would
        be throttled every time, so the fetch handler caps its max_bytes to it."""
        quota = self.quota(user_of(principal), client_id or "")
        if quota is None:
            return None
        return quota.bound * (self._window.samples - 1) * self._window.sample_ms / 1000.0

    def _prune(self, now_ms: int) -> None:
        idle_before = now_ms - self._window.samples * self._window.sample_ms
        for key in [k for k, s in self._sensors.items() if s.last_record_ms < idle_before]:
            del self._sensors[key]


_MISSING = _Quota(("", ""), 0.0)  # a lookup not cached yet (None caches "no quota")


class ClientQuotas:
    """The broker's quota managers, built once by the composition root."""

    def __init__(self, store: ClientQuotaStore, window: QuotaWindow, clock: Clock) -> None:
        self.produce = ClientQuotaManager(PRODUCER_BYTE_RATE, store, window, clock)
        self.fetch = ClientQuotaManager(CONSUMER_BYTE_RATE, store, window, clock)
        # Kafka caps a request-time throttle at one sample, so a burst cannot stall a client long.
        self.request = ClientQuotaManager(
            REQUEST_PERCENTAGE, store, window, clock, max_throttle_ms=window.sample_ms
        )
