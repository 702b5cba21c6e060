"""Group administration through real admin clients, and the group protocol's error answers.

Admin: confluent-kafka AdminClient (ListGroups with a state filter, DescribeGroups,
DeleteGroups, OffsetCommit/OffsetFetch through alter/list offsets) and kafka-python's
KafkaAdminClient for OffsetDelete, which confluent-kafka's Python API does not expose.
Errors: a raw client sends what no well-behaved client would, one case per test.
"""

from __future__ import annotations

import struct
import warnings

import pytest
from confluent_kafka import (
    ConsumerGroupState,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from harness import ServerProcess
from harness.kafka import create_topic

from grete.protocol import ApiKey, ErrorCode

from ..raw_kafka import RawKafka
from .helpers import ConfluentMember, Ledger, produce_values, wait_for

PARTITIONS = 3

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka import TopicPartition as KpTopicPartition
    from kafka.admin import KafkaAdminClient


def listed(
    admin: AdminClient, states: set[ConsumerGroupState] | None = None
) -> dict[str, ConsumerGroupState]:
    kwargs = {"states": states} if states else {}
    result = admin.list_consumer_groups(request_timeout=30, **kwargs).result(30)
    assert not result.errors, result.errors
    return {g.group_id: g.state for g in result.valid}


def offsets_of(admin: AdminClient, group: str) -> dict[int, int]:
    result = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(
        30
    )
    return {
        tp.partition: tp.offset
        for tp in result.topic_partitions
        if tp.error is None and tp.offset >= 0
    }


def test_list_describe_delete_groups_and_offsets(
    group_broker: ServerProcess, topic_name: str, group_id: str
) -> None:
    bootstrap = group_broker.bootstrap
    create_topic(bootstrap, topic_name, PARTITIONS)
    produce_values(bootstrap, topic_name, PARTITIONS, 0, 30)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    active, idle = f"{group_id}-active", f"{group_id}-idle"
    ledger = Ledger()
    member = ConfluentMember("m", ledger, bootstrap, active, topic_name)
    member.start()
    try:
        wait_for(
            lambda: len(ledger.snapshot()[1].get("m", ())) == PARTITIONS, 60, "m to own the topic"
        )
        wait_for(lambda: ledger.count() >= 30, 30, "m to read the 30 records")

        # OffsetCommit from an admin (no member): the idle group exists, Empty, with those offsets.
        wanted = {0: 5, 1: 7, 2: 9}
        altered = admin.alter_consumer_group_offsets(
            [
                ConsumerGroupTopicPartitions(
                    idle, [TopicPartition(topic_name, p, o) for p, o in wanted.items()]
                )
            ]
        )[idle].result(30)
        assert all(tp.error is None for tp in altered.topic_partitions), altered.topic_partitions
        assert offsets_of(admin, idle) == wanted
        assert offsets_of(admin, active) == {p: 10 for p in range(PARTITIONS)}

        # ListGroups, all and by state.
        everything = listed(admin)
        assert everything.get(active) == ConsumerGroupState.STABLE, everything
        assert everything.get(idle) == ConsumerGroupState.EMPTY, everything
        stable = listed(admin, {ConsumerGroupState.STABLE})
        assert active in stable and idle not in stable, stable
        empty = listed(admin, {ConsumerGroupState.EMPTY})
        assert idle in empty and active not in empty, empty

        # DescribeGroups: state, protocol, the one member and its assignment.
        description = admin.describe_consumer_groups([active])[active].result(30)
        assert description.state == ConsumerGroupState.STABLE
        assert description.partition_assignor == "range"
        assert not description.is_simple_consumer_group
        (described,) = description.members
        assert sorted(tp.partition for tp in described.assignment.topic_partitions) == list(
            range(PARTITIONS)
        )
        assert {tp.topic for tp in described.assignment.topic_partitions} == {topic_name}

        # DeleteGroups refuses a group with members.
        with pytest.raises(KafkaException) as refused:
            admin.delete_consumer_groups([active])[active].result(30)
        assert refused.value.args[0].code() == KafkaError.NON_EMPTY_GROUP

        # OffsetDelete on the Empty group removes just that partition's offset.
        kp_admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            on_idle = kp_admin.delete_group_offsets(idle, [KpTopicPartition(topic_name, 1)])
            assert [e.errno for e in on_idle.values()] == [ErrorCode.none], on_idle
        finally:
            kp_admin.close()
        assert offsets_of(admin, idle) == {0: 5, 2: 9}
    finally:
        member.stop()

    # Once its member left, the group is Empty and can be deleted, offsets and all.
    wait_for(
        lambda: listed(admin).get(active) == ConsumerGroupState.EMPTY, 15, "active group to empty"
    )
    for future in admin.delete_consumer_groups([active, idle]).values():
        future.result(30)
    remaining = listed(admin)
    assert active not in remaining and idle not in remaining, remaining
    assert offsets_of(admin, idle) == {}


def test_offset_delete_of_a_subscribed_topic_is_refused_per_partition(
    group_broker: ServerProcess, topic_name: str, group_id: str
) -> None:
    # Kafka answers a Stable consumer group's OffsetDelete for a topic it subscribes to with
    # GROUP_SUBSCRIBED_TO_TOPIC per partition and no group error; NON_EMPTY_GROUP is only for
    # non-consumer protocol types (GroupCoordinator.handleDeleteOffsets in apache/kafka core).
    bootstrap = group_broker.bootstrap
    create_topic(bootstrap, topic_name, PARTITIONS)
    produce_values(bootstrap, topic_name, PARTITIONS, 0, 3)
    ledger = Ledger()
    member = ConfluentMember("m", ledger, bootstrap, group_id, topic_name)
    member.start()
    kp_admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        wait_for(lambda: ledger.count() >= 3, 60, "m to read and commit 3 records")
        wait_for(lambda: len(member.ledger.group_committed()) == PARTITIONS, 10, "commits")
        result = kp_admin.delete_group_offsets(group_id, [KpTopicPartition(topic_name, 0)])
        assert [e.errno for e in result.values()] == [ErrorCode.group_subscribed_to_topic], result
    finally:
        kp_admin.close()
        member.stop()
    admin = AdminClient({"bootstrap.servers": bootstrap})
    assert offsets_of(admin, group_id) == {p: 1 for p in range(PARTITIONS)}


# --- the protocol's error answers, from a raw client ---------------------------------------

JOIN_V, SYNC_V, HEARTBEAT_V, COMMIT_V = 5, 3, 3, 7


def _string(text: str) -> bytes:
    return struct.pack(">h", len(text)) + text.encode()


def subscription(topic: str) -> bytes:
    """ConsumerProtocolSubscription v0: version, topics, user data (null)."""
    return struct.pack(">hi", 0, 1) + _string(topic) + struct.pack(">i", -1)


def assignment_of(topic: str, partition: int) -> bytes:
    """ConsumerProtocolAssignment v0: version, one topic with one partition, user data (null)."""
    return struct.pack(">hi", 0, 1) + _string(topic) + struct.pack(">iii", 1, partition, -1)


def join(
    raw: RawKafka, group: str, member_id: str, protocol_type: str = "consumer", topic: str = "t"
) -> object:
    protocol = raw.make(ApiKey.JOIN_GROUP, JOIN_V, "JoinGroupRequestProtocol", name="range",
                        metadata=subscription(topic))  # fmt: skip
    return raw.request(
        ApiKey.JOIN_GROUP, JOIN_V, group_id=group, session_timeout=10_000, rebalance_timeout=10_000,
        member_id=member_id, group_instance_id=None, protocol_type=protocol_type, protocols=[protocol],
    )  # fmt: skip


def sync(raw: RawKafka, group: str, generation: int, member_id: str, topic: str = "t") -> object:
    assignment = raw.make(ApiKey.SYNC_GROUP, SYNC_V, "SyncGroupRequestAssignment", member_id=member_id,
                          assignment=assignment_of(topic, 0))  # fmt: skip
    return raw.request(
        ApiKey.SYNC_GROUP, SYNC_V, group_id=group, generation_id=generation, member_id=member_id,
        group_instance_id=None, assignments=[assignment],
    )  # fmt: skip


def join_and_sync(raw: RawKafka, group: str, member_id: str, topic: str = "t") -> int:
    """JoinGroup then SyncGroup as the only member; retry (at most 5 times) while the
    coordinator answers REBALANCE_IN_PROGRESS, as real clients do. Returns the generation."""
    for _ in range(5):
        joined = join(raw, group, member_id, topic=topic)
        assert joined.error_code == ErrorCode.none and joined.leader == member_id, joined
        synced = sync(raw, group, joined.generation_id, member_id, topic=topic)
        if synced.error_code != ErrorCode.rebalance_in_progress:
            assert synced.error_code == ErrorCode.none, synced
            return int(joined.generation_id)
    raise AssertionError("SyncGroup answered REBALANCE_IN_PROGRESS five times")


def commit(raw: RawKafka, group: str, generation: int, member_id: str, topic: str) -> int:
    partition = raw.make(ApiKey.OFFSET_COMMIT, COMMIT_V, "OffsetCommitRequestPartition", partition_index=0,
                         committed_offset=1, committed_leader_epoch=-1, committed_metadata="")  # fmt: skip
    topics = [
        raw.make(
            ApiKey.OFFSET_COMMIT,
            COMMIT_V,
            "OffsetCommitRequestTopic",
            name=topic,
            partitions=[partition],
        )
    ]
    response = raw.request(ApiKey.OFFSET_COMMIT, COMMIT_V, group_id=group, generation_id_or_member_epoch=generation,
                           member_id=member_id, group_instance_id=None, topics=topics)  # fmt: skip
    return int(response.topics[0].partitions[0].error_code)


def joined_member(raw: RawKafka, group: str, topic: str = "t") -> tuple[str, int]:
    """Join as the only member (v5: the first JoinGroup asks for a member id) and sync."""
    first = join(raw, group, "", topic=topic)
    assert first.error_code == ErrorCode.member_id_required and first.member_id, first
    return first.member_id, join_and_sync(raw, group, first.member_id, topic=topic)


def test_join_without_member_id_gets_member_id_required(
    group_broker: ServerProcess, group_id: str
) -> None:
    with RawKafka(group_broker.bootstrap) as raw:
        response = join(raw, group_id, "")
    assert response.error_code == ErrorCode.member_id_required
    assert response.member_id, "MEMBER_ID_REQUIRED must carry the member id to rejoin with"


def test_offset_commit_from_a_stale_generation_is_illegal_generation(
    group_broker: ServerProcess, topic_name: str, group_id: str
) -> None:
    create_topic(group_broker.bootstrap, topic_name, 1)
    with RawKafka(group_broker.bootstrap) as raw:
        member_id, stale = joined_member(raw, group_id, topic_name)
        # The leader rejoining a Stable group starts a new generation (Kafka forces a rebalance
        # when the leader sends JoinGroup, so topic changes reach the assignor).
        current = join_and_sync(raw, group_id, member_id, topic_name)
        assert current > stale
        assert commit(raw, group_id, stale, member_id, topic_name) == ErrorCode.illegal_generation
        assert commit(raw, group_id, current, member_id, topic_name) == ErrorCode.none


def test_sync_group_from_a_non_member_is_unknown_member_id(
    group_broker: ServerProcess, group_id: str
) -> None:
    with RawKafka(group_broker.bootstrap) as raw:
        _, generation = joined_member(raw, group_id)
        response = sync(raw, group_id, generation, "not-a-member")
    assert response.error_code == ErrorCode.unknown_member_id


def test_heartbeat_for_an_unknown_group_is_unknown_member_id(
    group_broker: ServerProcess, group_id: str
) -> None:
    # Kafka's classic coordinator answers UNKNOWN_MEMBER_ID, not GROUP_ID_NOT_FOUND, for a group
    # it does not know (GroupCoordinatorTest.testHeartbeatUnknownGroup in apache/kafka core).
    with RawKafka(group_broker.bootstrap) as raw:
        response = raw.request(ApiKey.HEARTBEAT, HEARTBEAT_V, group_id=group_id, generation_id=1,
                               member_id="nobody", group_instance_id=None)  # fmt: skip
    assert response.error_code == ErrorCode.unknown_member_id


def test_join_with_another_protocol_type_is_inconsistent_group_protocol(
    group_broker: ServerProcess, group_id: str
) -> None:
    # Kafka checks the protocol before it asks a new member for an id (GroupCoordinator
    # .doNewMemberJoinGroup: supportsProtocols, then MEMBER_ID_REQUIRED), so an empty id is fine.
    with RawKafka(group_broker.bootstrap) as raw:
        joined_member(raw, group_id)  # the group now has a "consumer" member
        with RawKafka(group_broker.bootstrap) as other:
            response = join(other, group_id, "", protocol_type="connect")
    assert response.error_code == ErrorCode.inconsistent_group_protocol
