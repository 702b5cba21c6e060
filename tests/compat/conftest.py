"""Shared by the per-client suites (confluent-kafka, kafka-python, aiokafka).

codec             parametrizes a test over none, gzip, snappy, lz4 and zstd (codec_id: its number;
                  a module's CODEC_MARKS = {codec: mark} marks one codec, e.g. a reported xfail)
big_workload      the 100,000 records every client sends, and the Records it must read back
edge_workload     edge_workload(null_header_values): 27 awkward records with timestamps
assert_same       assert_same(got, expected): equal lists of Records, or the first difference
stored_batches    stored_batches(topic, partition) -> headers of the batches the broker holds

Records are harness.kafka.Record tuples (partition, offset, key, value, headers) with
headers as a tuple of (name, value) pairs, so every client's output compares exactly.
"""

from __future__ import annotations

import functools
import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import pytest
from harness import ServerProcess
from harness.kafka import Record
from integration.raw_kafka import RawKafka

from grete.protocol import ApiKey, ErrorCode
from grete.records.batch import BatchHeader, read_header, split_batches

CODECS = ("none", "gzip", "snappy", "lz4", "zstd")
CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
BIG_COUNT = 100_000
BIG_PARTITIONS = 3
EDGE_PARTITIONS = 3
FETCH_V = 12


class Outgoing(NamedTuple):
    """One record as a test hands it to a producer (timestamp_ms None: the client's clock)."""

    partition: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    timestamp_ms: int | None


@dataclass(frozen=True)
class Workload:
    """Records to send, in order, to an empty topic of ``partitions`` partitions."""

    partitions: int
    outgoing: list[Outgoing]

    @functools.cached_property
    def expected(self) -> list[Record]:
        """What a consumer must read back, sorted by (partition, offset)."""
        next_offset = dict.fromkeys(range(self.partitions), 0)
        expected = []
        for out in self.outgoing:
            offset = next_offset[out.partition]
            next_offset[out.partition] = offset + 1
            expected.append(Record(out.partition, offset, out.key, out.value, out.headers))
        return sorted(expected)

    @functools.cached_property
    def timestamps(self) -> dict[tuple[int, int], int | None]:
        """(partition, offset) -> the timestamp each record was sent with."""
        next_offset = dict.fromkeys(range(self.partitions), 0)
        stamps = {}
        for out in self.outgoing:
            stamps[out.partition, next_offset[out.partition]] = out.timestamp_ms
            next_offset[out.partition] += 1
        return stamps

    def head(self, count: int) -> Workload:
        """The first ``count`` records alone."""
        return Workload(self.partitions, self.outgoing[:count])

    def rounds(self, count: int) -> list[list[Outgoing]]:
        """The records in ``count`` consecutive slices of (nearly) equal length."""
        size = -(-len(self.outgoing) // count)
        return [self.outgoing[i : i + size] for i in range(0, len(self.outgoing), size)]

    def end_offsets(self, sent: int | None = None) -> dict[int, int]:
        """Each partition's log end offset once the first ``sent`` records (all by default) are in."""
        counts = dict.fromkeys(range(self.partitions), 0)
        for out in self.outgoing[:sent]:
            counts[out.partition] += 1
        return counts

    def timestamp_query(self, partition: int) -> tuple[int, int]:
        """(a timestamp between two of the partition's records, the offset it must find)."""
        stamps = [out.timestamp_ms or 0 for out in self.outgoing if out.partition == partition]
        assert len(stamps) >= 3 and all(a < b for a, b in itertools.pairwise(stamps)), stamps
        middle = len(stamps) // 2
        return (stamps[middle - 1] + stamps[middle]) // 2 + 1, middle


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``codec``; a module's CODEC_MARKS {codec: mark} marks single codecs."""
    if "codec" in metafunc.fixturenames:
        marks = getattr(metafunc.module, "CODEC_MARKS", {})
        metafunc.parametrize("codec", [pytest.param(c, marks=marks.get(c, ())) for c in CODECS])


@pytest.fixture
def codec_id(codec: str) -> int:
    """The codec's number in a batch's attributes."""
    return CODEC_IDS[codec]


@pytest.fixture(scope="session")
def big_workload() -> Workload:
    """100,000 distinct records: key k%06d, values of 0..200 pseudo-random bytes (random, or
    a random pattern repeated), one or two headers (the second on odd records), round-robin
    over three partitions."""
    rng = random.Random(20240611)
    records = []
    for i in range(BIG_COUNT):
        headers: tuple[tuple[str, bytes | None], ...] = (("seq", b"%d" % i),)
        if i % 2:
            headers += (("blob", rng.randbytes(rng.randint(0, 16))),)
        size = rng.randint(0, 200)
        if i % 4:
            # A random pattern repeated: batches must compress, or librdkafka sends them plain.
            pattern = rng.randbytes(rng.randint(1, 16))
            value = (pattern * (size // len(pattern) + 1))[:size]
        else:
            value = rng.randbytes(size)
        records.append(Outgoing(i % BIG_PARTITIONS, b"k%06d" % i, value, headers, None))
    return Workload(BIG_PARTITIONS, records)


@pytest.fixture
def edge_workload() -> Callable[..., Workload]:
    """edge_workload(null_header_values=True): 27 records with awkward keys, values and
    headers over three partitions, timestamps 10 ms apart (kafka-python cannot send a
    null header value, hence the switch)."""

    def make(null_header_values: bool = True) -> Workload:
        base = 1_700_000_000_000
        nothing = None if null_header_values else b""
        shapes: list[tuple[bytes | None, bytes | None, tuple[tuple[str, bytes | None], ...]]] = [
            (None, b"no key", (("h", b"1"),)),
            (b"", b"", ()),
            (b"tombstone", None, (("nul", nothing),)),
            (b"\x00\xff", b"\x00" * 3, (("dup", b"a"), ("dup", b"b"), ("ключ", b"\xff"))),
            (b"k", b"v", (("empty", b""),)),
            (b"big", bytes(range(256)) * 40, (("size", b"10240"),)),
        ]
        records = []
        for i in range(27):
            key, value, headers = shapes[i % len(shapes)]
            tagged_key = None if key is None else key + b"-%d" % i
            records.append(Outgoing(i % EDGE_PARTITIONS, tagged_key, value, headers, base + 10 * i))
        return Workload(EDGE_PARTITIONS, records)

    return make


def first_difference(got: Sequence[Record], expected: Sequence[Record]) -> str | None:
    if len(got) != len(expected):
        missing = len(set(expected) - set(got))
        return f"{len(got)} records, expected {len(expected)} ({missing} expected ones missing)"
    for i, (g, e) in enumerate(zip(got, expected)):
        if g != e:
            return f"record {i} differs:\n  got      {g!r:.500}\n  expected {e!r:.500}"
    return None


@pytest.fixture
def assert_same() -> Callable[[Sequence[Record], Sequence[Record]], None]:
    """Compare without pytest's list diff, which is unusably slow for 100,000 records."""

    def check(got: Sequence[Record], expected: Sequence[Record]) -> None:
        difference = first_difference(got, expected)
        if difference is not None:
            raise AssertionError(difference)

    return check


@pytest.fixture
def stored_batches(shared_broker: ServerProcess) -> Callable[[str, int], list[BatchHeader]]:
    """stored_batches(topic, partition): the headers of every batch the broker serves for
    the partition, read with raw Fetch requests (so the codec and producer fields the
    client wrote can be checked)."""

    def read(topic: str, partition: int) -> list[BatchHeader]:
        headers: list[BatchHeader] = []
        offset = 0
        with RawKafka(shared_broker.bootstrap) as raw:
            while True:
                fetched = raw.make(
                    ApiKey.FETCH,
                    FETCH_V,
                    "FetchPartition",
                    partition=partition,
                    current_leader_epoch=-1,
                    fetch_offset=offset,
                    last_fetched_epoch=-1,
                    log_start_offset=-1,
                    partition_max_bytes=8 << 20,
                )
                topics = [
                    raw.make(ApiKey.FETCH, FETCH_V, "FetchTopic", topic=topic, partitions=[fetched])
                ]
                response = raw.request(
                    ApiKey.FETCH,
                    FETCH_V,
                    replica_id=-1,
                    max_wait=0,
                    min_bytes=1,
                    max_bytes=8 << 20,
                    isolation_level=0,
                    session_id=0,
                    session_epoch=-1,
                    topics=topics,
                    forgotten_topics_data=(),
                    rack_id="",
                )
                (part,) = response.responses[0].partitions
                assert part.error_code == ErrorCode.none, part.error_code
                records = bytes(part.records or b"")
                if not records:
                    return headers
                headers.extend(read_header(records, start) for start, _ in split_batches(records))
                offset = headers[-1].next_offset

    return read
