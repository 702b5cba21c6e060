"""Cluster administration on Grete brokers coordinated through a real ZooKeeper.

What an operator relies on apart from failover (test_failover.py): Kafka's znode layout,
Metadata that every broker answers alike, topic creation and deletion rules, replication
to every replica, the ISR, controlled shutdown, preferred leaders and reassignment.

Real clients drive the cluster: confluent-kafka for admin, produce and assign()-consume,
kafka-python's admin for partition reassignments (confluent-kafka has no such call).
Raw requests ask one broker in particular (its own Metadata, a non-controller's answer),
and the cluster's kazoo observer reads ZooKeeper as an operator would. Consumer groups
are not served in cluster mode yet, so no test here joins one.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import (
    Consumer,
    ElectionType,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic, OffsetSpec
from faults import init_producer_id, list_offset, metadata, scan_batches
from harness import BrokerProcess, GreteCluster, ZooKeeperProcess
from integration.raw_kafka import RawKafka
from kafka import KafkaAdminClient
from kafka import TopicPartition as KafkaTopicPartition
from kafka.errors import NoReassignmentInProgressError
from kazoo.exceptions import NoNodeError

from grete.protocol import ApiKey, ErrorCode

from .conftest import CLUSTER_OVERRIDES, CLUSTER_SIZE
from .history import check_history, produce_history, read_back

METADATA_DELAY = 10.0  # every broker's Metadata agrees within this after a change
CATCH_UP = 30.0  # a follower back from a pause or restart rejoins the ISR within this
LAG_S = int(CLUSTER_OVERRIDES["replica.lag.time.max.ms"]) / 1000
SESSION_S = int(CLUSTER_OVERRIDES["zookeeper.session.timeout.ms"]) / 1000
ELECT_LEADERS_V = 2
REASSIGNMENTS_V = 0
DESCRIBE_CLUSTER_V = 0
UNKNOWN_TOPIC = int(ErrorCode.unknown_topic_or_partition)


# -- the cluster under test ----------------------------------------------------------------


@dataclass(frozen=True)
class ClusterSpec:
    """A cluster shaped for one test: given to the `cluster` fixture by indirect parametrize."""

    size: int = CLUSTER_SIZE
    overrides: Mapping[str, str] = field(default_factory=dict)  # on top of CLUSTER_OVERRIDES
    racks: tuple[str, ...] | None = None


@pytest.fixture
def cluster(
    request: pytest.FixtureRequest, zookeeper: ZooKeeperProcess, tmp_path: Path
) -> Iterator[GreteCluster]:
    """conftest's cluster (3 brokers, RF 3, min ISR 2), or the one a ClusterSpec asks for.

    Same name as conftest's fixture, so its report hook adds the brokers' logs to a failure.
    """
    spec: ClusterSpec = getattr(request, "param", ClusterSpec())
    started = GreteCluster(
        zookeeper,
        tmp_path / "cluster",
        size=spec.size,
        overrides={**CLUSTER_OVERRIDES, **spec.overrides},
        racks=spec.racks,
    )
    started.start()
    try:
        wait_serving(started)
        yield started
    finally:
        started.stop()


@contextmanager
def paused(cluster: GreteCluster, broker_ids: Sequence[int]) -> Iterator[float]:
    """SIGSTOP the brokers for the block (SIGCONT even if it fails); yields the time when
    every thread of each had stopped (SIGSTOP lands asynchronously)."""
    try:
        for broker_id in broker_ids:
            cluster.pause(broker_id)
        for broker_id in broker_ids:
            tasks = Path(f"/proc/{cluster.broker(broker_id).pid}/task")
            cluster.wait_until(
                lambda t=tasks: all(_thread_state(task) in "TtZX" for task in t.iterdir()),
                f"broker {broker_id} stopped",
                5.0,
            )
        yield time.monotonic()
    finally:
        for broker_id in broker_ids:
            cluster.resume(broker_id)


def _thread_state(task: Path) -> str:
    """The one-letter state of a thread from /proc/<pid>/task/<tid>/stat ("X" if gone)."""
    try:
        return (task / "stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return "X"


def other_than(cluster: GreteCluster, *excluded: int) -> list[int]:
    return [broker_id for broker_id in cluster.broker_ids if broker_id not in excluded]


# -- what ZooKeeper says -------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionView:
    """A partition as Metadata reports it, or as ZooKeeper's znodes describe it."""

    leader: int
    leader_epoch: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


def zk_json(cluster: GreteCluster, path: str) -> tuple[Any, Any]:
    """The znode's JSON and its stat; NoNodeError if it does not exist."""
    data, stat = cluster.observer().get(path)
    return json.loads(data), stat


def zk_topic(cluster: GreteCluster, topic: str) -> dict[str, Any] | None:
    """/brokers/topics/<t> as stored (partitions, adding_replicas, removing_replicas), or None."""
    try:
        return dict(zk_json(cluster, f"/brokers/topics/{topic}")[0])
    except NoNodeError:
        return None


def zk_assignment(cluster: GreteCluster, topic: str) -> dict[int, tuple[int, ...]]:
    """/brokers/topics/<t>: partition -> replicas (preferred leader first)."""
    found = zk_topic(cluster, topic)
    assert found is not None, f"/brokers/topics/{topic} does not exist"
    return {int(p): tuple(replicas) for p, replicas in found["partitions"].items()}


def zk_partitions(cluster: GreteCluster, topic: str) -> dict[tuple[str, int], PartitionView]:
    """The assignment and every partition state of ``topic``, as Metadata should show them."""
    views = {}
    for partition, replicas in zk_assignment(cluster, topic).items():
        state = cluster.partition_state(topic, partition)
        assert state is not None, f"{topic}-{partition} has no state znode"
        views[topic, partition] = PartitionView(
            state["leader"], state["leader_epoch"], replicas, tuple(state["isr"])
        )
    return views


def wait_states(cluster: GreteCluster, topic: str, partitions: int) -> None:
    """Until the controller gave every partition of ``topic`` its first state."""
    cluster.wait_until(
        lambda: all(cluster.partition_state(topic, p) is not None for p in range(partitions)),
        f"{topic}: {partitions} partition states",
        METADATA_DELAY,
    )


def wait_full_isr(cluster: GreteCluster, topic: str, timeout: float = CATCH_UP) -> None:
    """Until every partition of ``topic`` has all its replicas in sync."""

    def full() -> bool:
        views = zk_partitions(cluster, topic)
        return all(set(view.isr) == set(view.replicas) for view in views.values())

    cluster.wait_until(full, f"{topic}: every replica in the ISR", timeout)


# -- what each broker answers --------------------------------------------------------------


@dataclass(frozen=True)
class BrokerAnswer:
    """One broker's Metadata: the cluster, and the partitions of the topics asked for."""

    cluster_id: str
    controller_id: int
    brokers: dict[int, tuple[str, int, str | None]]
    partitions: dict[tuple[str, int], PartitionView]
    topic_errors: dict[str, int]


def metadata_of(broker: BrokerProcess, topics: Sequence[str]) -> BrokerAnswer:
    """Metadata v12 asked of this broker alone (a client library would pick any)."""
    with RawKafka(broker.bootstrap) as raw:
        response = metadata(raw, topics)
    partitions = {
        (t.name, p.partition_index): PartitionView(
            p.leader_id, p.leader_epoch, tuple(p.replica_nodes), tuple(p.isr_nodes)
        )
        for t in response.topics
        for p in t.partitions
    }
    return BrokerAnswer(
        cluster_id=response.cluster_id,
        controller_id=response.controller_id,
        brokers={b.node_id: (b.host, b.port, b.rack) for b in response.brokers},
        partitions=partitions,
        topic_errors={t.name: int(t.error_code) for t in response.topics},
    )


def registered_brokers(cluster: GreteCluster) -> dict[int, tuple[str, int, str | None]]:
    """The brokers registered in ZooKeeper, as Metadata should list them: id -> host, port, rack."""
    return {
        broker_id: (cluster.broker(broker_id).host, cluster.broker(broker_id).port,
                    cluster.broker(broker_id).rack)
        for broker_id in cluster.registered_brokers()
    }  # fmt: skip


def wait_metadata_agrees(
    cluster: GreteCluster, topics: Sequence[str], ask: Sequence[int] | None = None
) -> BrokerAnswer:
    """Until every broker in ``ask`` (default: all) answers Metadata exactly as ZooKeeper
    says: the cluster id, the registered brokers, the controller, and each partition's
    leader, leader epoch, replicas and ISR. Returns the first broker's answer."""
    ask = list(cluster.broker_ids if ask is None else ask)
    answers: dict[int, BrokerAnswer] = {}

    def agree() -> bool:
        cluster_id = zk_json(cluster, "/cluster/id")[0]["id"]
        controller = cluster.controller_id()
        brokers = registered_brokers(cluster)
        truth: dict[tuple[str, int], PartitionView] = {}
        for topic in topics:
            truth.update(zk_partitions(cluster, topic))
        for broker_id in ask:
            answers[broker_id] = metadata_of(cluster.broker(broker_id), topics)
        return all(
            answer.partitions == truth
            and answer.cluster_id == cluster_id
            and answer.controller_id == controller
            and answer.brokers == brokers
            and not any(answer.topic_errors.values())
            for answer in answers.values()
        )

    try:
        cluster.wait_until(agree, f"every broker's Metadata of {list(topics)}", METADATA_DELAY)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nlast answers: {answers}") from None
    return answers[ask[0]]


def wait_serving(cluster: GreteCluster, ask: Sequence[int] | None = None) -> None:
    """Until the brokers answer Metadata with every registered broker and the controller.

    A broker answers requests some 200 ms before it has read the cluster from ZooKeeper,
    past the point where GreteCluster.start() sees it registered: until then its Metadata
    has no brokers, no cluster id and controller -1, and librdkafka, told there is no
    controller, waits out its whole request timeout before a CreateTopics.
    """
    wait_metadata_agrees(cluster, [], ask)


def describe_cluster(broker: BrokerProcess) -> Any:
    with RawKafka(broker.bootstrap) as raw:
        return raw.request(
            ApiKey.DESCRIBE_CLUSTER, DESCRIBE_CLUSTER_V, include_cluster_authorized_operations=False
        )


def wait_described(cluster: GreteCluster) -> dict[int, Any]:
    """Every broker's DescribeCluster, once each lists every registered broker (a broker
    learns of the others through a watch: right after start it may not know them all)."""
    answers: dict[int, Any] = {}

    def complete() -> bool:
        for broker_id in cluster.broker_ids:
            answers[broker_id] = describe_cluster(cluster.broker(broker_id))
        registered = cluster.registered_brokers()
        return all({b.broker_id for b in a.brokers} == registered for a in answers.values())

    try:
        cluster.wait_until(complete, "every broker describes every broker", METADATA_DELAY)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nlast answers: {answers}") from None
    return answers


# -- clients ---------------------------------------------------------------------------------


def admin_of(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def create_error(admin: AdminClient, new: NewTopic) -> int | None:
    """CreateTopics of one topic: None if created, else the Kafka error code."""
    try:
        admin.create_topics([new], request_timeout=20)[new.topic].result(timeout=30)
    except KafkaException as exc:
        return int(exc.args[0].code())
    return None


def create_partitions_error(admin: AdminClient, new: NewPartitions) -> int | None:
    try:
        admin.create_partitions([new], request_timeout=20)[new.topic].result(timeout=30)
    except KafkaException as exc:
        return int(exc.args[0].code())
    return None


def produce(
    bootstrap: str,
    topic: str,
    values: Sequence[bytes],
    *,
    partition: int = 0,
    acks: str = "all",
    idempotent: bool = True,
) -> list[int]:
    """Send ``values`` in order to one partition; return the offsets each was acked at.

    Idempotent only with acks=all; pass idempotent=False while a broker is paused, or the
    client may ask the paused broker for its producer id.
    """
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "acks": acks,
        "enable.idempotence": idempotent and acks == "all",
        "linger.ms": 5,
        "delivery.timeout.ms": 30_000,
    })  # fmt: skip
    offsets: dict[int, int] = {}
    errors: list[str] = []

    def report(n: int) -> Callable[[KafkaError | None, Any], None]:
        def on_delivery(error: KafkaError | None, message: Any) -> None:
            if error is not None:
                errors.append(f"{values[n]!r}: {error}")
            else:
                offsets[n] = message.offset()

        return on_delivery

    for n, value in enumerate(values):
        producer.produce(topic, value=value, partition=partition, on_delivery=report(n))
        producer.poll(0)
    remaining = producer.flush(40)
    assert remaining == 0 and not errors, f"{remaining} undelivered, errors: {errors[:5]}"
    return [offsets[n] for n in range(len(values))]


def consumer_at(bootstrap: str, topic: str, partition: int, offset: int) -> Consumer:
    """A consumer assigned to one partition from ``offset``: no group is joined."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"admin-tests-{topic}",
        "enable.auto.commit": False,
        "fetch.wait.max.ms": 100,
    })  # fmt: skip
    consumer.assign([TopicPartition(topic, partition, offset)])
    return consumer


def consume_for(consumer: Consumer, seconds: float, wanted: int | None = None) -> list[Any]:
    """Every message received within ``seconds`` (sooner once ``wanted`` arrived)."""
    got: list[Any] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and (wanted is None or len(got) < wanted):
        for message in consumer.consume(num_messages=1000, timeout=0.1):
            if message.error() is None:
                got.append(message)
    return got


def latest_offset(admin: AdminClient, topic: str, partition: int) -> int:
    """ListOffsets LATEST through confluent-kafka (it asks the leader)."""
    tp = TopicPartition(topic, partition)
    futures = admin.list_offsets({tp: OffsetSpec.latest()}, request_timeout=10)
    return int(futures[tp].result(timeout=15).offset)


# -- what each broker holds on disk --------------------------------------------------------


def partition_dirs(broker: BrokerProcess, topic: str) -> list[str]:
    """The broker's directories of ``topic``, live or renamed for deletion."""
    return sorted(
        path.name for path in broker.data_dir.glob(f"{topic}-*")
        if path.is_dir() and path.name.split(".")[0].rpartition("-")[0] == topic
    )  # fmt: skip


def segments(broker: BrokerProcess, topic: str, partition: int) -> dict[str, bytes]:
    """Each segment file (.log) of the partition on this broker: name -> bytes."""
    directory = broker.data_dir / f"{topic}-{partition}"
    return {path.name: path.read_bytes() for path in sorted(directory.glob("*.log"))}


def wait_identical_segments(
    cluster: GreteCluster, topic: str, partition: int, broker_ids: Sequence[int], records: int
) -> dict[str, bytes]:
    """Until the brokers' segment files of the partition are byte-identical and hold
    ``records`` records; returns them."""
    seen: dict[int, dict[str, bytes]] = {}

    def identical() -> bool:
        for broker_id in broker_ids:
            seen[broker_id] = segments(cluster.broker(broker_id), topic, partition)
        first = seen[broker_ids[0]]
        batches = scan_batches(b"".join(first.values()))
        count = batches[-1].last_offset + 1 if batches else 0
        return count == records and all(files == first for files in seen.values())

    try:
        cluster.wait_until(
            identical, f"{topic}-{partition} identical on {list(broker_ids)}", CATCH_UP
        )
    except AssertionError:
        sizes = {b: {name: len(data) for name, data in files.items()} for b, files in seen.items()}
        raise AssertionError(f"{topic}-{partition} segments differ: {sizes}") from None
    return seen[broker_ids[0]]


# == 1. ZooKeeper layout ======================================================================


def test_zookeeper_holds_kafkas_layout_and_unique_producer_id_blocks(cluster: GreteCluster) -> None:
    zk = cluster.observer()
    assert cluster.registered_brokers() == {0, 1, 2}
    sessions: dict[int, int] = {}
    for broker_id in cluster.broker_ids:
        registration, stat = zk_json(cluster, f"/brokers/ids/{broker_id}")
        port = cluster.broker(broker_id).port
        assert stat.ephemeralOwner != 0, "a registration must be ephemeral"
        assert registration["endpoints"] == [f"PLAINTEXT://127.0.0.1:{port}"]
        assert (registration["host"], registration["port"]) == ("127.0.0.1", port)
        assert registration.get("rack") is None, "no broker.rack was set"
        sessions[broker_id] = stat.ephemeralOwner
    assert len(set(sessions.values())) == 3, "each broker registers with its own session"

    controller, stat = zk_json(cluster, "/controller")
    assert stat.ephemeralOwner == sessions[controller["brokerid"]], (
        "/controller is held by the controller's own session"
    )
    epoch, epoch_stat = zk.get("/controller_epoch")
    assert epoch_stat.ephemeralOwner == 0 and int(epoch) >= 1

    cluster_id = zk_json(cluster, "/cluster/id")[0]["id"]
    for described in wait_described(cluster).values():
        assert described.error_code == ErrorCode.none
        assert described.cluster_id == cluster_id
        assert described.controller_id == controller["brokerid"]
        assert {b.broker_id: b.port for b in described.brokers} == {
            broker_id: cluster.broker(broker_id).port for broker_id in cluster.broker_ids
        }
    assert (
        admin_of(cluster.bootstrap).describe_cluster().result(timeout=15).cluster_id == cluster_id
    )

    # Each broker reserves its own block of producer ids in /latest_producer_id_block.
    blocks: list[tuple[int, int, int]] = []  # (broker, block_start, block_end)
    producer_ids: list[int] = []
    for broker_id in [0, 1, 2, 0]:
        with RawKafka(cluster.broker(broker_id).bootstrap) as raw:
            producer_id, producer_epoch = init_producer_id(raw)
        assert producer_epoch == 0
        block, _ = zk_json(cluster, "/latest_producer_id_block")
        latest = (block["broker"], int(block["block_start"]), int(block["block_end"]))
        if not blocks or latest != blocks[-1]:
            assert latest[0] == broker_id, f"block {block} was reserved for another broker"
            if blocks:
                assert latest[1] > blocks[-1][2], f"block {block} overlaps {blocks[-1]}"
            blocks.append(latest)
        owned = [b for b in blocks if b[0] == broker_id]
        assert len(owned) == 1 and owned[0][1] <= producer_id <= owned[0][2], (
            f"producer id {producer_id} from broker {broker_id} is outside its block {owned}"
        )
        producer_ids.append(producer_id)
    assert len(blocks) == 3, (
        f"one block per broker, the second call on broker 0 reuses its own: {blocks}"
    )
    assert len(set(producer_ids)) == 4, f"producer ids handed out twice: {producer_ids}"


# == 2. Topic administration ================================================================


def test_topic_creation_deletion_and_metadata_on_every_broker(cluster: GreteCluster) -> None:
    admin = admin_of(cluster.broker(0).bootstrap)

    # Placement: replicas over distinct brokers, preferred leaders and replicas spread evenly.
    for topic, rf in [("spread-rf3", 3), ("spread-rf2", 2)]:
        assert create_error(admin, NewTopic(topic, num_partitions=6, replication_factor=rf)) is None
        assignment = zk_assignment(cluster, topic)
        assert sorted(assignment) == list(range(6))
        assert all(len(set(r)) == rf and set(r) <= {0, 1, 2} for r in assignment.values()), (
            assignment
        )
        assert Counter(r[0] for r in assignment.values()) == {0: 2, 1: 2, 2: 2}, assignment
        hosted = Counter(b for r in assignment.values() for b in r)
        assert hosted == {0: 2 * rf, 1: 2 * rf, 2: 2 * rf}, assignment
        # The controller's first state: the preferred replica leads, every replica in sync.
        for partition, replicas in assignment.items():
            state = cluster.partition_state(topic, partition)
            assert state is not None
            assert (state["leader"], state["leader_epoch"], tuple(state["isr"])) == (
                replicas[0],
                0,
                replicas,
            )
            assert state["controller_epoch"] == cluster.controller_epoch()
        # The topic was created through broker 0; the others answer alike within a bound.
        wait_metadata_agrees(cluster, [topic])

    # Explicit replica assignments are stored as given; invalid ones are refused.
    explicit = [[2, 0], [1, 2], [0, 1], [2, 1]]
    assert (
        create_error(admin, NewTopic("explicit", len(explicit), replica_assignment=explicit))
        is None
    )
    assert zk_assignment(cluster, "explicit") == {p: tuple(r) for p, r in enumerate(explicit)}
    wait_metadata_agrees(cluster, ["explicit"])
    assert {p: v.leader for (_, p), v in zk_partitions(cluster, "explicit").items()} == {
        p: r[0] for p, r in enumerate(explicit)
    }
    refused = {
        "duplicate-replicas": (NewTopic("duplicate-replicas", 1, replica_assignment=[[0, 0]]),
                               KafkaError.INVALID_REPLICA_ASSIGNMENT),
        "unknown-broker": (NewTopic("unknown-broker", 1, replica_assignment=[[0, 7]]),
                           KafkaError.INVALID_REPLICA_ASSIGNMENT),
        "rf-above-brokers": (NewTopic("rf-above-brokers", num_partitions=1, replication_factor=4),
                             KafkaError.INVALID_REPLICATION_FACTOR),
    }  # fmt: skip
    for name, (new, code) in refused.items():
        assert create_error(admin, new) == code, name
        assert cluster.observer().exists(f"/brokers/topics/{name}") is None, name

    # CreatePartitions: placed like a new topic, or as given.
    assert create_partitions_error(admin, NewPartitions("spread-rf2", 9)) is None
    grown = zk_assignment(cluster, "spread-rf2")
    assert sorted(grown) == list(range(9))
    assert all(len(set(grown[p])) == 2 for p in range(6, 9)), grown
    assert create_partitions_error(admin, NewPartitions("explicit", 6, [[0, 2], [1, 0]])) is None
    assert {p: r for p, r in zk_assignment(cluster, "explicit").items() if p >= 4} == {
        4: (0, 2),
        5: (1, 0),
    }
    assert create_partitions_error(admin, NewPartitions("explicit", 7, [[1, 1]])) == (
        KafkaError.INVALID_REPLICA_ASSIGNMENT
    )
    wait_states(cluster, "spread-rf2", 9)
    wait_metadata_agrees(cluster, ["spread-rf2", "explicit"])
    for broker_id in cluster.broker_ids:
        hosts = {p for p, r in zk_assignment(cluster, "spread-rf2").items() if broker_id in r}
        cluster.wait_until(
            lambda b=broker_id, h=hosts: (
                partition_dirs(cluster.broker(b), "spread-rf2")
                == sorted(f"spread-rf2-{p}" for p in h)
            ),
            f"broker {broker_id} hosts exactly its replicas of spread-rf2",
            METADATA_DELAY,
        )

    # DeleteTopics: gone from ZooKeeper, from every broker's Metadata and from every disk.
    produce(cluster.bootstrap, "spread-rf3", [b"doomed-%d" % n for n in range(20)], partition=1)
    assert all(partition_dirs(b, "spread-rf3") for b in cluster.brokers)
    admin.delete_topics(["spread-rf3"], request_timeout=20)["spread-rf3"].result(timeout=30)

    def deleted_everywhere() -> bool:
        return cluster.observer().exists("/brokers/topics/spread-rf3") is None and all(
            metadata_of(b, ["spread-rf3"]).topic_errors == {"spread-rf3": UNKNOWN_TOPIC}
            and not partition_dirs(b, "spread-rf3")
            for b in cluster.brokers
        )

    cluster.wait_until(deleted_everywhere, "spread-rf3 deleted on every broker", METADATA_DELAY)
    assert cluster.observer().exists("/admin/delete_topics/spread-rf3") is None
    wait_metadata_agrees(cluster, ["spread-rf2", "explicit"])  # the others are untouched

    # With broker 2 gone, replication factor 3 no longer fits, nor an assignment naming it.
    assert cluster.terminate(2) == 0
    cluster.wait_unregistered([2])
    assert create_error(admin, NewTopic("rf3-on-two", num_partitions=1, replication_factor=3)) == (
        KafkaError.INVALID_REPLICATION_FACTOR
    )
    assert create_error(admin, NewTopic("names-dead", 1, replica_assignment=[[0, 2]])) == (
        KafkaError.INVALID_REPLICA_ASSIGNMENT
    )
    assert (
        create_error(admin, NewTopic("rf2-on-two", num_partitions=4, replication_factor=2)) is None
    )
    assert set(zk_assignment(cluster, "rf2-on-two").values()) <= {(0, 1), (1, 0)}
    wait_metadata_agrees(cluster, ["rf2-on-two"], ask=[0, 1])


@pytest.mark.parametrize(
    "cluster", [ClusterSpec(racks=("rack-a", "rack-a", "rack-b"))], indirect=True, ids=["racks"]
)
def test_topic_creation_is_rack_aware(cluster: GreteCluster) -> None:
    racks = {0: "rack-a", 1: "rack-a", 2: "rack-b"}
    for broker_id, rack in racks.items():
        assert zk_json(cluster, f"/brokers/ids/{broker_id}")[0]["rack"] == rack
    for described in wait_described(cluster).values():
        assert {b.broker_id: b.rack for b in described.brokers} == racks

    admin = admin_of(cluster.bootstrap)
    assert create_error(admin, NewTopic("racked", num_partitions=12, replication_factor=2)) is None
    assignment = zk_assignment(cluster, "racked")
    # rack-b has one broker: every partition must place one of its two replicas there.
    assert all(
        {racks[b] for b in replicas} == {"rack-a", "rack-b"} for replicas in assignment.values()
    ), assignment
    assert Counter(r[0] for r in assignment.values()) == {0: 4, 1: 4, 2: 4}, assignment
    wait_states(cluster, "racked", 12)
    answer = wait_metadata_agrees(cluster, ["racked"])
    assert {b: rack for b, (_, _, rack) in answer.brokers.items()} == racks


# == 3. Replication, the high watermark and the ISR ===========================================

# A paused follower must leave the ISR through its leader (replica.lag.time.max.ms), not
# through the controller after its ZooKeeper session expired: the session outlives the pause.
LONG_SESSION = {"zookeeper.session.timeout.ms": "20000"}


@pytest.mark.parametrize(
    "cluster", [ClusterSpec(overrides=LONG_SESSION)], indirect=True, ids=["long-session"]
)
def test_replicas_high_watermark_and_isr(cluster: GreteCluster) -> None:
    topic = "replicated"
    admin = admin_of(cluster.bootstrap)
    assert create_error(admin, NewTopic(topic, num_partitions=1, replication_factor=3)) is None
    wait_states(cluster, topic, 1)
    state = cluster.partition_state(topic, 0)
    assert state is not None
    leader = state["leader"]
    followers = other_than(cluster, leader)
    leader_broker = cluster.broker(leader)

    # acks=all: every replica holds the same bytes.
    count = 300
    offsets = produce(cluster.bootstrap, topic, [b"all-%03d" % n for n in range(count)])
    assert offsets == list(range(count))
    wait_identical_segments(cluster, topic, 0, cluster.broker_ids, count)
    assert latest_offset(admin, topic, 0) == count

    # Both followers frozen: a record acked by the leader alone stays above the high
    # watermark, invisible to consumers and to ListOffsets, until the followers have it.
    consumer = consumer_at(leader_broker.bootstrap, topic, 0, count)
    try:
        assert consume_for(consumer, 1.0) == []
        with paused(cluster, followers) as since:
            [offset] = produce(leader_broker.bootstrap, topic, [b"above-hw"], acks="1")
            assert offset == count
            with RawKafka(leader_broker.bootstrap) as raw:
                assert list_offset(raw, topic, 0) == count, (
                    "ListOffsets LATEST is the high watermark"
                )
            assert consume_for(consumer, 1.5) == [], "a consumer read above the high watermark"
            with RawKafka(leader_broker.bootstrap) as raw:
                assert list_offset(raw, topic, 0) == count
            assert time.monotonic() - since < LAG_S, "the followers must still be in the ISR here"
            assert cluster.partition_state(topic, 0) == state
        [message] = consume_for(consumer, CATCH_UP, wanted=1)
        assert (message.offset(), message.value()) == (count, b"above-hw")
    finally:
        consumer.close()
    assert latest_offset(admin, topic, 0) == count + 1
    wait_identical_segments(cluster, topic, 0, cluster.broker_ids, count + 1)

    # One follower frozen past replica.lag.time.max.ms: its leader drops it from the ISR
    # (a conditional write: same leader epoch) while it stays registered; it rejoins after.
    laggard, keeper = followers
    with paused(cluster, [laggard]) as since:
        produced = produce(leader_broker.bootstrap, topic, [b"while-lagging-1"], acks="1")
        cluster.wait_until(
            lambda: laggard not in (cluster.partition_state(topic, 0) or {"isr": [laggard]})["isr"],
            f"broker {laggard} dropped from the ISR",
            LAG_S + 10,
        )
        assert time.monotonic() - since >= LAG_S - 1.0, "dropped before replica.lag.time.max.ms"
        shrunk = cluster.partition_state(topic, 0)
        assert shrunk is not None
        assert (shrunk["leader"], shrunk["leader_epoch"]) == (leader, state["leader_epoch"])
        assert set(shrunk["isr"]) == {leader, keeper}
        assert laggard in cluster.registered_brokers(), (
            "the laggard's session must outlive the pause"
        )
        wait_metadata_agrees(cluster, [topic], ask=[leader, keeper])
        # acks=all still works with min.insync.replicas 2 out of the remaining ISR.
        produced += produce(leader_broker.bootstrap, topic, [b"while-lagging-2"], idempotent=False)
        assert produced == [count + 1, count + 2]
    cluster.wait_until(
        lambda: set((cluster.partition_state(topic, 0) or {"isr": []})["isr"]) == {0, 1, 2},
        f"broker {laggard} back in the ISR",
        CATCH_UP,
    )
    wait_metadata_agrees(cluster, [topic])
    wait_identical_segments(cluster, topic, 0, cluster.broker_ids, count + 3)
    assert latest_offset(admin, topic, 0) == count + 3


# == 4. Controlled shutdown and preferred leaders ============================================


def test_controlled_shutdown_hands_leadership_over_and_elect_leaders_restores_it(
    cluster: GreteCluster,
) -> None:
    topic = "handover"
    admin = admin_of(cluster.bootstrap)
    assert create_error(admin, NewTopic(topic, num_partitions=6, replication_factor=3)) is None
    wait_states(cluster, topic, 6)
    controller = cluster.controller_id()
    assert controller is not None
    victim = next(b for b in cluster.broker_ids if b != controller)
    before = zk_partitions(cluster, topic)
    led = sorted(p for (_, p), view in before.items() if view.leader == victim)
    assert len(led) == 2, f"broker {victim} should lead 2 of 6 partitions: {before}"

    # Sample every partition's state while the broker shuts down: no leader may be -1, and
    # the first state naming another leader (with the zxid of the write that made it) shows
    # who moved the leadership, and when: the controller may write again after the broker
    # left, to take it out of the ISR.
    leaderless: list[tuple[int, dict[str, Any]]] = []
    first_moved: dict[int, tuple[dict[str, Any], int]] = {}
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.is_set():
            for partition in range(6):
                path = f"/brokers/topics/{topic}/partitions/{partition}/state"
                data, stat = cluster.observer().get(path)
                state = json.loads(data)
                if state["leader"] == -1:
                    leaderless.append((partition, state))
                elif partition in led and state["leader"] != victim:
                    first_moved.setdefault(partition, (state, stat.mzxid))
            time.sleep(0.01)

    with ThreadPoolExecutor(2) as pool:
        history = pool.submit(
            produce_history, cluster.bootstrap, topic, count=600, rate=100.0, max_seconds=15.0
        )
        sampler = pool.submit(sample)
        time.sleep(1.5)  # the producer is under way
        exit_code = cluster.terminate(victim, check=False)
        cluster.wait_unregistered([victim])
        gone_at = cluster.observer().exists("/brokers/ids").pzxid  # the victim's znode deletion
        time.sleep(1.0)
        sampling.set()
        sampler.result(timeout=10)
        sends = history.result(timeout=60)
    assert exit_code == 0
    assert leaderless == [], f"partitions without a leader during the shutdown: {leaderless[:3]}"

    after = zk_partitions(cluster, topic)
    for partition in led:
        old, new = before[topic, partition], after[topic, partition]
        assert new.leader != victim and new.leader in old.isr, (partition, old, new)
        # One hand-over; the controller may also have taken the stopped broker out of the
        # ISR of a partition meanwhile (one more epoch). No offline state: `leaderless` above.
        assert old.leader_epoch + 1 <= new.leader_epoch <= old.leader_epoch + 2, (
            partition,
            old,
            new,
        )
        assert victim not in new.isr
        moved, moved_at = first_moved[partition]
        assert moved["leader_epoch"] == old.leader_epoch + 1, (partition, old, moved)
        assert moved_at < gone_at, f"{topic}-{partition} changed leader only after the broker left"

    failed = [send for send in sends if not send.acked]
    assert len(sends) == 600 and failed == [], f"acks=all failed across the hand-over: {failed[:3]}"

    # Back, in sync, but not leading: the automatic rebalance runs only every 300 s.
    cluster.restart(victim)
    wait_serving(cluster)
    wait_full_isr(cluster, topic)
    assert all(zk_partitions(cluster, topic)[topic, p].leader != victim for p in led)

    # ElectLeaders goes to the controller; another broker refuses it.
    rejoined = zk_partitions(cluster, topic)
    non_controller = other_than(cluster, controller)[0]
    with RawKafka(cluster.broker(non_controller).bootstrap) as raw:
        response = raw.request(
            ApiKey.ELECT_LEADERS, ELECT_LEADERS_V, election_type=0, timeout=10_000,
            topic_partitions=[raw.make(ApiKey.ELECT_LEADERS, ELECT_LEADERS_V, "TopicPartitions",
                                       topic=topic, partitions=led)],
        )  # fmt: skip
    assert response.error_code == ErrorCode.not_controller
    # No timeout keywords: confluent-kafka 2.16's elect_leaders raises SystemError on them.
    results = admin.elect_leaders(
        ElectionType.PREFERRED, [TopicPartition(topic, p) for p in range(6)]
    ).result(timeout=30)
    outcome = {tp.partition: None if e is None else e.code() for tp, e in results.items()}
    assert outcome == {p: None if p in led else KafkaError.ELECTION_NOT_NEEDED for p in range(6)}
    elected = zk_partitions(cluster, topic)
    for (_, partition), view in elected.items():
        assert view.leader == view.replicas[0], (partition, view)
        bump = 1 if partition in led else 0  # ELECTION_NOT_NEEDED changes nothing
        assert view.leader_epoch == rejoined[topic, partition].leader_epoch + bump, (
            partition,
            view,
        )
    wait_metadata_agrees(cluster, [topic])

    report = check_history(sends, read_back(cluster.bootstrap, topic, timeout=30))
    report.assert_clean()


@pytest.mark.parametrize(
    "cluster",
    [ClusterSpec(overrides={"leader.imbalance.check.interval.seconds": "5"})],
    indirect=True,
    ids=["rebalance-every-5s"],
)
def test_preferred_leaders_return_on_their_own(cluster: GreteCluster) -> None:
    topic = "rebalanced"
    admin = admin_of(cluster.bootstrap)
    assert create_error(admin, NewTopic(topic, num_partitions=3, replication_factor=3)) is None
    wait_states(cluster, topic, 3)
    controller = cluster.controller_id()
    victim = next(b for b in cluster.broker_ids if b != controller)
    before = zk_partitions(cluster, topic)
    [preferred_here] = [p for (_, p), view in before.items() if view.replicas[0] == victim]

    assert cluster.terminate(victim) == 0
    moved = cluster.partition_state(topic, preferred_here)
    assert moved is not None and moved["leader"] not in (victim, -1), moved
    cluster.restart(victim)

    def preferred_everywhere() -> bool:
        return all(v.leader == v.replicas[0] for v in zk_partitions(cluster, topic).values())

    cluster.wait_until(preferred_everywhere, "every preferred replica leads again", CATCH_UP)
    back = zk_partitions(cluster, topic)[topic, preferred_here]
    assert back.leader_epoch == before[topic, preferred_here].leader_epoch + 2
    wait_metadata_agrees(cluster, [topic])


# == 5. Partition reassignment ================================================================


def reassignments_request(broker: BrokerProcess, api_key: int, topic: str, partition: int) -> int:
    """AlterPartitionReassignments (cancel) or ListPartitionReassignments of one partition,
    sent to this broker; returns the top-level error code."""
    with RawKafka(broker.bootstrap) as raw:
        if api_key == ApiKey.ALTER_PARTITION_REASSIGNMENTS:
            part = raw.make(
                api_key,
                REASSIGNMENTS_V,
                "ReassignablePartition",
                partition_index=partition,
                replicas=None,
            )
            topics = [
                raw.make(
                    api_key, REASSIGNMENTS_V, "ReassignableTopic", name=topic, partitions=[part]
                )
            ]
        else:
            topics = [
                raw.make(
                    api_key,
                    REASSIGNMENTS_V,
                    "ListPartitionReassignmentsTopics",
                    name=topic,
                    partition_indexes=[partition],
                )
            ]
        return int(raw.request(api_key, REASSIGNMENTS_V, timeout=10_000, topics=topics).error_code)


@pytest.mark.parametrize("cluster", [ClusterSpec(size=4)], indirect=True, ids=["4-brokers"])
def test_partition_reassignment_moves_replicas(cluster: GreteCluster) -> None:
    topic = "moving"
    controller = cluster.controller_id()
    assert controller is not None
    added = max(other_than(cluster, controller))  # paused below: never the controller
    original = other_than(cluster, added)  # e.g. [0, 1, 2]
    target = original[1:] + [added]  # e.g. [1, 2, 3]
    removed = original[0]
    admin = admin_of(cluster.bootstrap)
    assert create_error(admin, NewTopic(topic, 2, replica_assignment=[original, original])) is None
    wait_states(cluster, topic, 2)
    count = 300
    produce(cluster.bootstrap, topic, [b"move-%03d" % n for n in range(count)], partition=0)
    produce(cluster.bootstrap, topic, [b"stay-%03d" % n for n in range(50)], partition=1)
    before = wait_identical_segments(cluster, topic, 0, original, count)

    mover = KafkaAdminClient(
        bootstrap_servers=cluster.broker(controller).bootstrap, request_timeout_ms=15_000
    )
    moving, staying = KafkaTopicPartition(topic, 0), KafkaTopicPartition(topic, 1)
    try:
        # Also lets the client find the controller now: asked while a broker is paused, it
        # might ask the paused one.
        assert mover.list_partition_reassignments() == {}
        # The new replica is frozen, so the move stays under way while it is inspected.
        with paused(cluster, [added]) as since:
            assert mover.alter_partition_reassignments({moving: target, staying: target}) == {
                moving: None, staying: None,
            }  # fmt: skip
            ongoing = mover.list_partition_reassignments()
            expected = {"replicas": target + [removed], "adding_replicas": [added],
                        "removing_replicas": [removed]}  # fmt: skip
            assert ongoing == {moving: expected, staying: expected}
            stored, _ = zk_json(cluster, f"/brokers/topics/{topic}")
            assert stored["partitions"]["0"] == target + [removed]
            assert (stored["adding_replicas"]["0"], stored["removing_replicas"]["0"]) == (
                [added],
                [removed],
            )
            # Only the controller answers reassignment requests.
            bystander = cluster.broker(next(b for b in original if b != controller))
            for api_key in (
                ApiKey.ALTER_PARTITION_REASSIGNMENTS,
                ApiKey.LIST_PARTITION_REASSIGNMENTS,
            ):
                assert (
                    reassignments_request(bystander, api_key, topic, 0) == ErrorCode.not_controller
                )
            # Cancelling an ongoing move restores the original replicas (as a set: like
            # Kafka, the order is the move's full replica list less the added ones).
            assert mover.alter_partition_reassignments({staying: None}) == {staying: None}
            assert mover.list_partition_reassignments() == {moving: expected}
            stored, _ = zk_json(cluster, f"/brokers/topics/{topic}")
            assert sorted(stored["partitions"]["1"]) == original
            assert "1" not in stored["adding_replicas"] and "1" not in stored["removing_replicas"]
            assert time.monotonic() - since < SESSION_S - 1, (
                "the paused broker must stay registered"
            )

        def moved() -> bool:
            found = zk_topic(cluster, topic) or {}
            return (
                found.get("partitions", {}).get("0") == target
                and not found.get("adding_replicas") and not found.get("removing_replicas")
                and mover.list_partition_reassignments() == {}
            )  # fmt: skip

        cluster.wait_until(moved, f"{topic}-0 moved to {target}", CATCH_UP)
        wait_full_isr(cluster, topic)
        state = zk_partitions(cluster, topic)[topic, 0]
        assert state.leader in target and set(state.isr) == set(target), state
        assert wait_identical_segments(cluster, topic, 0, target, count) == before
        cluster.wait_until(
            lambda: (
                partition_dirs(cluster.broker(removed), topic) == [f"{topic}-1"]
                and partition_dirs(cluster.broker(added), topic) == [f"{topic}-0"]
            ),
            f"broker {removed} dropped {topic}-0, broker {added} holds only {topic}-0",
            METADATA_DELAY,
        )
        wait_metadata_agrees(cluster, [topic])

        # Nothing is moving now: a cancel has nothing to cancel.
        assert mover.alter_partition_reassignments({moving: None}) == {
            moving: NoReassignmentInProgressError
        }
    finally:
        mover.close()
    stored_values = [
        r.value for r in read_back(cluster.bootstrap, topic, timeout=30) if r.partition == 0
    ]
    assert stored_values == [b"move-%03d" % n for n in range(count)]


def test_requests_that_need_zookeeper_fail_retriably_while_it_is_down(
    cluster: GreteCluster, zookeeper: ZooKeeperProcess
) -> None:
    """A ZooKeeper outage fails what needs ZooKeeper with a retriable error code, on a
    connection that stays open and keeps serving everything else; once ZooKeeper is back
    the same requests succeed. (FindCoordinator used to close the connection: librdkafka's
    fetches on it failed too, and a consumer stalled.)"""
    with RawKafka(cluster.broker(0).bootstrap, timeout=30.0) as raw:
        metadata(raw, [])  # the view is loaded
        zookeeper.stop()
        try:
            # __consumer_offsets does not exist yet: finding a coordinator needs ZooKeeper.
            found = raw.request(ApiKey.FIND_COORDINATOR, 3, key="outage-group", key_type=0)
            assert found.error_code == ErrorCode.coordinator_not_available, found
            topic = raw.make(
                ApiKey.CREATE_TOPICS, 7, "CreatableTopic", name="created-during-outage",
                num_partitions=1, replication_factor=3, assignments=(), configs=(),
            )  # fmt: skip
            created = raw.request(
                ApiKey.CREATE_TOPICS, 7, topics=[topic], timeout=5000, validate_only=False
            )
            assert [t.error_code for t in created.topics] == [ErrorCode.request_timed_out]
            answer = metadata(raw, [])  # the same connection still serves
            assert {int(b.node_id) for b in answer.brokers} == set(cluster.broker_ids)
        finally:
            zookeeper.start()

        def created_now() -> bool:
            again = raw.request(
                ApiKey.CREATE_TOPICS, 7, topics=[topic], timeout=5000, validate_only=False
            )
            code = again.topics[0].error_code
            assert code in (
                ErrorCode.none,
                ErrorCode.request_timed_out,
                ErrorCode.topic_already_exists,
            )
            return code in (ErrorCode.none, ErrorCode.topic_already_exists)

        cluster.wait_until(created_now, "CreateTopics succeeds once ZooKeeper is back", 60.0)

        def coordinator_found() -> bool:
            found = raw.request(ApiKey.FIND_COORDINATOR, 3, key="outage-group", key_type=0)
            return found.error_code == ErrorCode.none

        cluster.wait_until(
            coordinator_found, "FindCoordinator succeeds once ZooKeeper is back", 60.0
        )
