"""Client quotas enforced on a real broker against confluent-kafka (librdkafka).

Quotas are set with AlterClientQuotas on a running broker (no restart). A throttled
client sees ``throttle_time_ms`` (librdkafka's throttle_cb) and its achieved rate stays
near the quota: the bounds are generous (at most 2x over ~6 s), as the box is shared.
The broker runs with quota.window.num=3 so that a new client's allowed burst (the padded
window) is 2 s of quota rather than 10 s, which 6 s of measuring could not average out.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import pytest
from confluent_kafka import Consumer, Producer
from harness import ServerProcess

from grete.protocol import ApiKey, ErrorCode

from .client_quotas import Entity, alter, client, user
from .raw_kafka import RawKafka

pytestmark = pytest.mark.timeout(60)

QUOTA = 200_000  # bytes per second
VALUE = b"x" * 10_000
WINDOW_ARGS = ("--override", "quota.window.num=3", "--override", "quota.window.size.seconds=1")


@pytest.fixture
def quota_broker(broker_factory) -> ServerProcess:  # type: ignore[no-untyped-def]
    return broker_factory(*WINDOW_ARGS, name="grete")


def set_quotas(broker: ServerProcess, entity: Entity, values: Mapping[str, float | None]) -> None:
    with RawKafka(broker.bootstrap) as raw:
        assert alter(raw, [(entity, values)]) == [(0, None, entity)]


def produce_for(
    broker: ServerProcess, topic: str, client_id: str, seconds: float
) -> tuple[float, list[float]]:
    """Produce as fast as the client can for ``seconds``; (bytes/s acknowledged, throttle
    times reported)."""
    throttles: list[float] = []
    delivered = [0]

    def on_delivery(err: object, msg: object) -> None:
        if err is None:
            delivered[0] += len(VALUE)

    producer = Producer({
        "bootstrap.servers": broker.bootstrap,
        "client.id": client_id,
        "linger.ms": 5,
        "throttle_cb": lambda event: throttles.append(event.throttle_time),
    })
    started = time.monotonic()
    deadline = started + seconds
    while time.monotonic() < deadline:
        try:
            producer.produce(topic, VALUE, on_delivery=on_delivery)
        except BufferError:
            producer.poll(0.05)
        producer.poll(0)
    elapsed = time.monotonic() - started
    achieved = delivered[0] / elapsed
    producer.purge()  # what was not acknowledged by the deadline is not counted
    producer.flush(10)
    return achieved, [t for t in throttles if t > 0]


def test_producer_byte_rate_throttles_its_client_only(quota_broker: ServerProcess, topic_name: str) -> None:
    set_quotas(quota_broker, client("slow"), {"producer_byte_rate": QUOTA})
    rate, throttles = produce_for(quota_broker, topic_name, "slow", 6.0)
    assert throttles, "the throttled producer never saw throttle_time_ms"
    assert rate <= 2 * QUOTA, f"slow producer achieved {rate:.0f} B/s against a {QUOTA} B/s quota"
    assert rate >= QUOTA / 4, f"slow producer starved: {rate:.0f} B/s"
    fast_rate, fast_throttles = produce_for(quota_broker, topic_name, "fast", 2.0)
    assert fast_throttles == []
    assert fast_rate > 2 * QUOTA  # no quota applies to it; far above the slow one's


def test_a_removed_quota_stops_throttling(quota_broker: ServerProcess, topic_name: str) -> None:
    set_quotas(quota_broker, client("slow"), {"producer_byte_rate": QUOTA})
    _, throttles = produce_for(quota_broker, topic_name, "slow", 3.0)
    assert throttles
    set_quotas(quota_broker, client("slow"), {"producer_byte_rate": None})
    rate, throttles = produce_for(quota_broker, topic_name, "slow", 2.0)
    assert throttles == []
    assert rate > 2 * QUOTA


def test_request_percentage_throttles_a_busy_client_by_at_most_one_sample(
    quota_broker: ServerProcess, topic_name: str
) -> None:
    """KIP-124: request_percentage counts the time the broker's handlers run for a client.
    At 0.01 % (0.1 ms of handler time a second) a producer sending a request per record is
    soon over it; its throttle is capped at one sample (quota.window.size.seconds: 1 s
    here), as Kafka caps it, and another client is not throttled."""
    set_quotas(quota_broker, client("busy"), {"request_percentage": 0.01})
    throttles: list[float] = []
    producer = Producer({
        "bootstrap.servers": quota_broker.bootstrap,
        "client.id": "busy",
        "linger.ms": 0,
        "max.in.flight": 1,
        "throttle_cb": lambda event: throttles.append(event.throttle_time),
    })
    deadline = time.monotonic() + 10
    sent = 0
    while not [t for t in throttles if t > 0] and time.monotonic() < deadline and sent < 5000:
        producer.produce(topic_name, b"r")
        sent += 1
        producer.poll(0.005)
    producer.flush(10)
    positive = [t for t in throttles if t > 0]
    assert positive, f"no throttle_time_ms after {sent} requests"
    assert max(positive) <= 1.0  # seconds: at most one sample
    _, other = produce_for(quota_broker, topic_name, "calm", 1.0)
    assert other == []


def test_default_user_quota_applies_to_anonymous(quota_broker: ServerProcess, topic_name: str) -> None:
    set_quotas(quota_broker, user(None), {"producer_byte_rate": QUOTA})
    rate, throttles = produce_for(quota_broker, topic_name, "any-client", 5.0)
    assert throttles
    assert rate <= 2 * QUOTA


def test_consumer_byte_rate_throttles_a_fetching_consumer(
    quota_broker: ServerProcess, topic_name: str
) -> None:
    producer = Producer({"bootstrap.servers": quota_broker.bootstrap, "linger.ms": 5})
    for _ in range(400):  # 4 MB: more than the consumer may fetch at 2x its quota in 6 s
        producer.produce(topic_name, VALUE)
        producer.poll(0)
    assert producer.flush(15) == 0
    set_quotas(quota_broker, client("slow-consumer"), {"consumer_byte_rate": QUOTA})
    throttles: list[float] = []
    consumer = Consumer({
        "bootstrap.servers": quota_broker.bootstrap,
        "client.id": "slow-consumer",
        "group.id": f"{topic_name}-g",
        "auto.offset.reset": "earliest",
        "max.partition.fetch.bytes": 65536,  # one fetch overshoots the quota by little
        "fetch.max.bytes": 1048576,
        "throttle_cb": lambda event: throttles.append(event.throttle_time),
    })
    try:
        consumer.subscribe([topic_name])
        consumed = 0
        first = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            msg = consumer.poll(0.1)
            if msg is None or msg.error():
                continue
            if first is None:  # measure from the first record: the group join is not quota
                first = time.monotonic()
                deadline = first + 6.0
            consumed += len(msg.value() or b"")
        assert first is not None, "nothing consumed"
        rate = consumed / (time.monotonic() - first)
    finally:
        consumer.close()
    assert [t for t in throttles if t > 0], "the throttled consumer never saw throttle_time_ms"
    assert rate <= 2 * QUOTA, f"consumer achieved {rate:.0f} B/s against a {QUOTA} B/s quota"
    assert consumed < 400 * len(VALUE)  # it did not get everything at once


def _raw_fetch(raw: RawKafka, topic: str, offset: int) -> tuple[int, int]:
    """One Fetch v11 of partition 0 at ``offset`` asking for up to 8 MiB: (records bytes, throttle_time_ms)."""
    partition = raw.make(ApiKey.FETCH, 11, "FetchPartition", partition=0, fetch_offset=offset,
                         partition_max_bytes=8 << 20, current_leader_epoch=-1, log_start_offset=-1,
                         last_fetched_epoch=-1)
    response = raw.request(
        ApiKey.FETCH, 11, replica_id=-1, max_wait=0, min_bytes=1, max_bytes=8 << 20, isolation_level=0,
        session_id=0, session_epoch=-1, rack_id="", forgotten_topics_data=[],
        topics=[raw.make(ApiKey.FETCH, 11, "FetchTopic", topic=topic, partitions=[partition])],
    )
    parts = [p for t in response.responses for p in t.partitions]
    assert all(p.error_code == ErrorCode.none for p in parts)
    return sum(len(p.records or b"") for p in parts), int(response.throttle_time.total_seconds() * 1000)


def test_a_throttled_fetch_is_answered_empty_and_capped_to_the_quota_window(
    quota_broker: ServerProcess, topic_name: str
) -> None:
    """KIP-219, as Kafka: a consumer already over its consumer_byte_rate gets
    throttle_time_ms and no records (not counted against it), and one fetch asks for at
    most what the quota window holds (quota x (quota.window.num - 1) x 1 s = 400 kB).
    Two connections share the client id, so one is over the quota while the other's
    channel is muted."""
    producer = Producer({"bootstrap.servers": quota_broker.bootstrap, "batch.num.messages": 1})
    for _ in range(200):  # 2 MB into partition 0, a batch per record
        producer.produce(topic_name, VALUE, partition=0)
        producer.poll(0)
    assert producer.flush(15) == 0
    set_quotas(quota_broker, client("raw-test"), {"consumer_byte_rate": QUOTA})  # RawKafka's client id
    window_bytes = QUOTA * 2
    with RawKafka(quota_broker.bootstrap) as a, RawKafka(quota_broker.bootstrap) as b:
        first, _ = _raw_fetch(a, topic_name, 0)
        assert window_bytes - 2 * len(VALUE) < first <= window_bytes  # capped to the window
        second, throttle = _raw_fetch(b, topic_name, 0)  # within the quota until now: served
        assert second > 0 and throttle > 0
        empty, throttle = _raw_fetch(a, topic_name, 0)  # over it: nothing, and a throttle
        assert (empty, throttle > 0) == (0, True)
        time.sleep(throttle / 1000 + 0.1)
        again, _ = _raw_fetch(a, topic_name, 0)
        assert again > 0  # the empty answer was not counted: data flows again after the wait
