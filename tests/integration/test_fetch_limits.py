"""Fetch limits and fetch sessions over a raw socket, against a real broker.

Byte limits (KIP-74): a response never carries more than max_bytes in all, nor more
than partition_max_bytes for one partition, except that the first batch of the first
partition with data is returned whole even when it alone is larger. Incremental fetch
sessions (KIP-227), Fetch v13+ by topic id, and OFFSET_OUT_OF_RANGE on both sides of
the log.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from grete.protocol import ApiKey, ErrorCode
from grete.records.batch import read_header, split_batches
from grete.records.builder import Record, build_batch

from .raw_kafka import RawKafka

PRODUCE_V = 9
FETCH_V = 12  # the last version naming topics; v13+ name them by topic id
CREATE_TOPICS_V = 7
BIG = 64 * 1024 * 1024
LEADER_EPOCH_END = 16  # base_offset, batch_length, partition_leader_epoch: what the broker rewrites


# -- raw requests --------------------------------------------------------------------------


def create_topic(raw: RawKafka, name: str, partitions: int) -> uuid.UUID:
    """CreateTopics v7; returns the new topic's id."""
    topic = raw.make(
        ApiKey.CREATE_TOPICS,
        CREATE_TOPICS_V,
        "CreatableTopic",
        name=name,
        num_partitions=partitions,
        replication_factor=1,
        assignments=(),
        configs=(),
    )
    response = raw.request(
        ApiKey.CREATE_TOPICS, CREATE_TOPICS_V, topics=[topic], timeout=5000, validate_only=False
    )
    created = response.topics[0]
    assert created.error_code == ErrorCode.none, created
    assert created.topic_id != uuid.UUID(int=0)
    return created.topic_id


def produce(raw: RawKafka, topic: str, partition: int, batch: bytes) -> int:
    """Produce one batch with acks=all; returns its base offset."""
    data = raw.make(
        ApiKey.PRODUCE, PRODUCE_V, "PartitionProduceData", index=partition, records=batch
    )
    topic_data = raw.make(
        ApiKey.PRODUCE, PRODUCE_V, "TopicProduceData", name=topic, partition_data=[data]
    )
    response = raw.request(
        ApiKey.PRODUCE,
        PRODUCE_V,
        transactional_id=None,
        acks=-1,
        timeout=5000,
        topic_data=[topic_data],
    )
    result = response.responses[0].partition_responses[0]
    assert result.error_code == ErrorCode.none, result
    return int(result.base_offset)


def fetch(
    raw: RawKafka,
    topic: str | uuid.UUID,
    offsets: dict[int, int],
    *,
    version: int = FETCH_V,
    max_bytes: int = BIG,
    partition_max_bytes: int = BIG,
    max_wait_ms: int = 0,
    min_bytes: int = 1,
    session_id: int = 0,
    session_epoch: int = -1,
) -> Any:
    """One Fetch naming ``topic`` (a name, or a topic id for v13+) and its partitions at
    ``offsets`` (partition -> fetch offset), in that order."""
    partitions = [
        raw.make(
            ApiKey.FETCH,
            version,
            "FetchPartition",
            partition=p,
            current_leader_epoch=-1,
            fetch_offset=offset,
            last_fetched_epoch=-1,
            log_start_offset=-1,
            partition_max_bytes=partition_max_bytes,
        )
        for p, offset in offsets.items()
    ]
    named = {"topic_id": topic} if isinstance(topic, uuid.UUID) else {"topic": topic}
    topics = (
        [raw.make(ApiKey.FETCH, version, "FetchTopic", **named, partitions=partitions)]
        if offsets
        else []
    )
    return raw.request(
        ApiKey.FETCH,
        version,
        replica_id=-1,
        max_wait=max_wait_ms,
        min_bytes=min_bytes,
        max_bytes=max_bytes,
        isolation_level=0,
        session_id=session_id,
        session_epoch=session_epoch,
        topics=topics,
        forgotten_topics_data=(),
        rack_id="",
    )


def partitions_of(response: Any) -> dict[int, Any]:
    """partition index -> PartitionData, for a response about a single topic."""
    assert response.error_code == ErrorCode.none, response.error_code
    found: dict[int, Any] = {}
    for topic in response.responses:
        for p in topic.partitions:
            assert p.partition_index not in found, f"partition {p.partition_index} answered twice"
            found[p.partition_index] = p
    return found


def records_of(partition: Any) -> bytes:
    return bytes(partition.records or b"")


def batch_offsets(records: bytes) -> list[int]:
    return [read_header(records, start).base_offset for start, _ in split_batches(records)]


def sized_batch(index: int, value_size: int) -> bytes:
    """A batch of one record whose value is ``value_size`` bytes (distinct per ``index``)."""
    value = (b"%08d" % index) * (value_size // 8 + 1)
    return build_batch([Record(b"key-%d" % index, value[:value_size])])


@pytest.fixture
def raw(shared_broker: Any) -> Iterator[RawKafka]:
    with RawKafka(shared_broker.bootstrap) as client:
        yield client


@pytest.fixture
def filled(raw: RawKafka, topic_name: str) -> dict[int, bytes]:
    """A 3-partition topic: partition p holds 12 one-record batches of about 1 KB; returns
    each partition's whole log (the bytes a fetch from offset 0 with no limits returns)."""
    create_topic(raw, topic_name, 3)
    for p in range(3):
        for i in range(12):
            assert produce(raw, topic_name, p, sized_batch(100 * p + i, 900 + 37 * i)) == i
    whole = partitions_of(fetch(raw, topic_name, {0: 0, 1: 0, 2: 0}))
    logs = {p: records_of(whole[p]) for p in range(3)}
    for p, log in logs.items():
        assert batch_offsets(log) == list(range(12)), f"partition {p} does not hold its 12 batches"
    return logs


# -- byte limits ---------------------------------------------------------------------------


@pytest.mark.parametrize("max_bytes", [1, 2500, 7000, 20_000])
def test_max_bytes_bounds_the_whole_response(
    raw: RawKafka, topic_name: str, filled: dict[int, bytes], max_bytes: int
) -> None:
    parts = partitions_of(fetch(raw, topic_name, {0: 0, 1: 0, 2: 0}, max_bytes=max_bytes))
    got = {p: records_of(parts[p]) for p in range(3)}
    total = sum(map(len, got.values()))
    first_batch = len(filled[0]) and read_header(filled[0]).size
    # Kafka's one exception: the first batch of the first partition with data, whole.
    assert total <= max(max_bytes, first_batch), (max_bytes, {p: len(r) for p, r in got.items()})
    assert got[0], "the first partition must return at least one batch"
    for p in range(3):
        assert filled[p].startswith(got[p]), f"partition {p}: not a prefix of its log"
    # Not needlessly short either: the fill stops only where the next batch would not fit.
    largest = max(
        read_header(log, start).size for log in filled.values() for start, _ in split_batches(log)
    )
    assert total > max_bytes - largest


@pytest.mark.parametrize("partition_max_bytes", [1, 1000, 3000])
def test_partition_max_bytes_bounds_each_partition(
    raw: RawKafka, topic_name: str, filled: dict[int, bytes], partition_max_bytes: int
) -> None:
    parts = partitions_of(
        fetch(raw, topic_name, {0: 0, 1: 3, 2: 5}, partition_max_bytes=partition_max_bytes)
    )
    starts = {p: list(split_batches(filled[p]))[skip][0] for p, skip in ((0, 0), (1, 3), (2, 5))}
    first = read_header(filled[0]).size
    for p in range(3):
        got = records_of(parts[p])
        limit = max(partition_max_bytes, first) if p == 0 else partition_max_bytes
        assert len(got) <= limit, (p, len(got), partition_max_bytes)
        assert filled[p][starts[p] :].startswith(got), (
            f"partition {p}: not its log from the fetch offset"
        )
    assert records_of(parts[0]), "the first partition must return at least one batch"


def test_a_batch_larger_than_every_limit_comes_whole_only_first(
    raw: RawKafka, topic_name: str
) -> None:
    create_topic(raw, topic_name, 2)
    big = {p: sized_batch(p, 6000 + p) for p in range(2)}
    for p in range(2):
        produce(raw, topic_name, p, big[p])
    parts = partitions_of(
        fetch(raw, topic_name, {1: 0, 0: 0}, max_bytes=1000, partition_max_bytes=500)
    )
    # Partition 1 is named first, so it is the first with data: its batch comes whole.
    whole = records_of(parts[1])
    assert len(whole) == len(big[1]) and whole[LEADER_EPOCH_END:] == big[1][LEADER_EPOCH_END:]
    # Partition 0 gets at most its limit: Kafka may send a truncated prefix, Grete nothing.
    assert len(records_of(parts[0])) <= 500


# -- incremental fetch sessions (KIP-227) ------------------------------------------------------


def test_incremental_fetch_session(raw: RawKafka, topic_name: str) -> None:
    create_topic(raw, topic_name, 2)
    for p in range(2):
        produce(raw, topic_name, p, sized_batch(p, 10))
    opened = fetch(raw, topic_name, {0: 1, 1: 1}, session_id=0, session_epoch=0)
    session = opened.session_id
    assert session != 0, "a full fetch with epoch 0 must open a session"
    assert sorted(partitions_of(opened)) == [0, 1]

    unchanged = fetch(raw, topic_name, {}, session_id=session, session_epoch=1)
    assert unchanged.error_code == ErrorCode.none and unchanged.session_id == session
    assert list(unchanged.responses) == [], "nothing changed: no partition in the answer"

    added = sized_batch(7, 20)
    produce(raw, topic_name, 1, added)
    changed = fetch(raw, topic_name, {}, session_id=session, session_epoch=2)
    parts = partitions_of(changed)
    assert sorted(parts) == [1], "only the partition with new data comes back"
    assert batch_offsets(records_of(parts[1])) == [1] and parts[1].high_watermark == 2

    stale = fetch(raw, topic_name, {}, session_id=session, session_epoch=2)
    assert stale.error_code == ErrorCode.invalid_fetch_session_epoch
    assert list(stale.responses) == []

    # The session survives a bad epoch: the right one still works.
    again = fetch(raw, topic_name, {1: 2}, session_id=session, session_epoch=3)
    assert again.error_code == ErrorCode.none and list(again.responses) == []


@pytest.mark.parametrize("version", [13, 16])
def test_incremental_fetch_session_by_topic_id(
    raw: RawKafka, topic_name: str, version: int
) -> None:
    # As the Java client (3.x) runs a session: topics named by id, a full fetch at epoch 0,
    # then incremental fetches that list only the partitions whose position moved.
    topic_id = create_topic(raw, topic_name, 2)
    for p in range(2):
        produce(raw, topic_name, p, sized_batch(p, 10))
    opened = fetch(raw, topic_id, {0: 1, 1: 1}, version=version, session_id=0, session_epoch=0)
    session = opened.session_id
    assert session != 0, "a full fetch with epoch 0 must open a session"
    assert [t.topic_id for t in opened.responses] == [topic_id]
    assert sorted(partitions_of(opened)) == [0, 1]

    added = sized_batch(7, 20)
    produce(raw, topic_name, 1, added)
    changed = fetch(raw, topic_id, {}, version=version, session_id=session, session_epoch=1)
    assert changed.session_id == session
    assert [t.topic_id for t in changed.responses] == [topic_id]
    parts = partitions_of(changed)
    assert sorted(parts) == [1], "only the partition with new data comes back"
    stored = records_of(parts[1])
    assert batch_offsets(stored) == [1] and stored[LEADER_EPOCH_END:] == added[LEADER_EPOCH_END:]
    assert parts[1].high_watermark == 2

    # The client moves partition 1 past the new batch: nothing more to say.
    caught_up = fetch(raw, topic_id, {1: 2}, version=version, session_id=session, session_epoch=2)
    assert caught_up.error_code == ErrorCode.none and caught_up.session_id == session
    assert list(caught_up.responses) == []


def test_unknown_fetch_session(raw: RawKafka, topic_name: str) -> None:
    create_topic(raw, topic_name, 1)
    opened = fetch(raw, topic_name, {0: 0}, session_id=0, session_epoch=0)
    unknown = (opened.session_id % (2**31 - 2)) + 1  # any id that is not this session's
    response = fetch(raw, topic_name, {}, session_id=unknown, session_epoch=1)
    assert response.error_code == ErrorCode.fetch_session_id_not_found


def test_sessionless_fetch_opens_no_session(raw: RawKafka, topic_name: str) -> None:
    create_topic(raw, topic_name, 1)
    response = fetch(raw, topic_name, {0: 0}, session_id=0, session_epoch=-1)
    assert response.error_code == ErrorCode.none and response.session_id == 0


# -- topic ids (Fetch v13+) -------------------------------------------------------------------


@pytest.mark.parametrize("version", [13, 16])
def test_fetch_by_topic_id(raw: RawKafka, topic_name: str, version: int) -> None:
    topic_id = create_topic(raw, topic_name, 2)
    batch = sized_batch(1, 50)
    produce(raw, topic_name, 1, batch)
    response = fetch(raw, topic_id, {0: 0, 1: 0}, version=version)
    assert [t.topic_id for t in response.responses] == [topic_id]
    parts = partitions_of(response)
    stored = records_of(parts[1])
    # As produced, but for the base offset and partition leader epoch the broker stamps.
    assert batch_offsets(stored) == [0] and stored[LEADER_EPOCH_END:] == batch[LEADER_EPOCH_END:]
    assert parts[0].error_code == ErrorCode.none and records_of(parts[0]) == b""
    assert parts[1].high_watermark == 1


@pytest.mark.parametrize("version", [13, 16])
def test_fetch_unknown_topic_id(raw: RawKafka, version: int) -> None:
    unknown = uuid.uuid4()
    response = fetch(raw, unknown, {0: 0}, version=version)
    assert response.error_code == ErrorCode.none
    assert [t.topic_id for t in response.responses] == [unknown]
    assert [p.error_code for p in response.responses[0].partitions] == [ErrorCode.unknown_topic_id]


# -- out of range -----------------------------------------------------------------------------


def test_fetch_outside_the_log_is_out_of_range(raw: RawKafka, topic_name: str) -> None:
    create_topic(raw, topic_name, 1)
    for i in range(3):
        produce(raw, topic_name, 0, sized_batch(i, 10))
    at_end = partitions_of(fetch(raw, topic_name, {0: 3}))[0]
    assert at_end.error_code == ErrorCode.none and records_of(at_end) == b""
    for offset in (4, 1000, -1):
        part = partitions_of(fetch(raw, topic_name, {0: offset}))[0]
        assert part.error_code == ErrorCode.offset_out_of_range, offset
        assert part.high_watermark == 3 and part.log_start_offset == 0


def write_log_start_checkpoint(log_dir: Path, entries: dict[tuple[str, int], int]) -> None:
    """Kafka's checkpoint text format: version, count, then `topic partition offset` lines."""
    lines = ["0", str(len(entries))] + [f"{t} {p} {o}" for (t, p), o in entries.items()]
    (log_dir / "log-start-offset-checkpoint").write_text("\n".join(lines) + "\n")


def test_fetch_below_log_start_is_out_of_range(broker: Any, topic_name: str) -> None:
    """Log start moved to 4 (as DeleteRecords or retention would leave it) across a restart."""
    with RawKafka(broker.bootstrap) as raw:
        create_topic(raw, topic_name, 1)
        for i in range(8):
            produce(raw, topic_name, 0, sized_batch(i, 10))
    broker.stop(check=True)
    write_log_start_checkpoint(broker.data_dir, {(topic_name, 0): 4})
    broker.start()
    with RawKafka(broker.bootstrap) as raw:
        for offset in (0, 3):
            part = partitions_of(fetch(raw, topic_name, {0: offset}))[0]
            assert part.error_code == ErrorCode.offset_out_of_range, offset
            assert part.log_start_offset == 4 and part.high_watermark == 8
        part = partitions_of(fetch(raw, topic_name, {0: 4}))[0]
        assert part.error_code == ErrorCode.none
        assert batch_offsets(records_of(part)) == [4, 5, 6, 7]


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def test_a_consumer_not_reading_its_fetches_does_not_make_the_broker_buffer_them(broker) -> None:  # type: ignore[no-untyped-def]
    """20 pipelined fetches of 24 MB each, never read: unbounded, the broker would hold
    480 MB of responses; it runs the next fetch only once the client reads."""
    from confluent_kafka import Producer

    topic = "slow-consumer"
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 20, "batch.size": 1_000_000})
    for _ in range(1_200):
        producer.produce(topic, b"v" * 20_000, partition=0)
        producer.poll(0)
    assert producer.flush(30) == 0
    fields = dict(
        replica_id=-1, max_wait=0, min_bytes=1, max_bytes=BIG, isolation_level=0, session_id=0,
        session_epoch=-1, forgotten_topics_data=(), rack_id="",
    )
    with RawKafka(broker.bootstrap) as raw:
        raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
        partition = raw.make(ApiKey.FETCH, FETCH_V, "FetchPartition", partition=0, current_leader_epoch=-1,
                             fetch_offset=0, last_fetched_epoch=-1, log_start_offset=-1,
                             partition_max_bytes=BIG)
        topics = [raw.make(ApiKey.FETCH, FETCH_V, "FetchTopic", topic=topic, partitions=[partition])]
        before = rss_bytes(broker.pid)
        requests = [raw.encode(ApiKey.FETCH, FETCH_V, topics=topics, **fields) for _ in range(20)]
        raw.send_raw(b"".join(frame for _, frame in requests))
        time.sleep(3)  # unbounded, every fetch would have run by now
        grown = rss_bytes(broker.pid) - before
        for correlation, _ in requests:  # every answer comes, in full, once read
            response = raw.response(ApiKey.FETCH, FETCH_V, correlation)
            assert sum(len(p.records or b"") for p in partitions_of(response).values()) > 20_000_000
    assert grown < 150_000_000, f"the broker grew {grown / 1e6:.0f} MB for a client that read nothing"
