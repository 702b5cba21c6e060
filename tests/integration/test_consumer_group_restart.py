"""KIP-848 group state is kept in __consumer_offsets: after a broker restart the group
has the same epoch, members and assignments, and a member goes on with its epoch."""

from __future__ import annotations

from typing import Any

from grete.protocol import ApiKey, ErrorCode

from .raw_kafka import RawKafka

TOPIC = "kept"
PARTITIONS = 4


class Member:
    """A member as the protocol wants it: it owns what it was last sent, and says so."""

    def __init__(self, raw: RawKafka, group_id: str = "kept-group") -> None:
        self.raw, self.group_id, self.member_id, self.epoch = raw, group_id, "", 0
        self.owned: list[Any] = []

    def heartbeat(self, epoch: int | None = None) -> Any:
        joining = self.epoch == 0
        response = self.raw.request(
            ApiKey.CONSUMER_GROUP_HEARTBEAT, 0, group_id=self.group_id, member_id=self.member_id,
            member_epoch=self.epoch if epoch is None else epoch, instance_id=None, rack_id=None,
            rebalance_timeout=30_000 if joining else -1,
            subscribed_topic_names=[TOPIC] if joining else None, server_assignor=None,
            topic_partitions=self.owned,
        )
        if response.error_code == ErrorCode.none:
            self.member_id, self.epoch = response.member_id, response.member_epoch
            if response.assignment is not None:
                self.owned = [
                    self.raw.make(ApiKey.CONSUMER_GROUP_HEARTBEAT, 0, "TopicPartitions",
                                  topic_id=t.topic_id, partitions=t.partitions)
                    for t in response.assignment.topic_partitions
                ]
        return response

    def leave(self) -> Any:
        return self.heartbeat(epoch=-1)


def describe(raw: RawKafka) -> Any:
    response = raw.request(ApiKey.CONSUMER_GROUP_DESCRIBE, 0, group_ids=["kept-group"],
                           include_authorized_operations=False)
    return response.groups[0]


def members_view(group: Any) -> dict[str, tuple[int, list[tuple[str, tuple[int, ...]]]]]:
    return {
        m.member_id: (m.member_epoch, sorted((str(t.topic_id), tuple(t.partitions))
                                             for t in m.assignment.topic_partitions))
        for m in group.members
    }


def test_consumer_group_survives_a_broker_restart(broker_factory) -> None:  # type: ignore[no-untyped-def]
    broker = broker_factory("--override", "group.consumer.session.timeout.ms=30000")
    with RawKafka(broker.bootstrap) as raw:
        raw.request(ApiKey.CREATE_TOPICS, 5, topics=[raw.make(
            ApiKey.CREATE_TOPICS, 5, "CreatableTopic", name=TOPIC, num_partitions=PARTITIONS,
            replication_factor=1, assignments=(), configs=())], timeout=10_000, validate_only=False)
        a, b, leaver = Member(raw), Member(raw), Member(raw)
        assert a.heartbeat().error_code == b.heartbeat().error_code == ErrorCode.none
        for _ in range(3):  # a revokes what b is to get, then b receives it
            a.heartbeat(), b.heartbeat()
        leaver.heartbeat()
        assert leaver.leave().error_code == ErrorCode.none
        for _ in range(3):
            a.heartbeat(), b.heartbeat()
        before = describe(raw)
        assert before.error_code == ErrorCode.none and len(before.members) == 2
        assert {m.member_epoch for m in before.members} == {before.group_epoch}
        assert leaver.member_id not in members_view(before)

    broker.restart()
    with RawKafka(broker.bootstrap) as raw:
        after = describe(raw)
        assert after.error_code == ErrorCode.none
        assert (after.group_epoch, after.assignment_epoch) == (before.group_epoch, before.assignment_epoch)
        assert members_view(after) == members_view(before)
        # The members go on with their epochs: no UNKNOWN_MEMBER_ID, no rebalance.
        for member in (a, b):
            member.raw = raw
            epoch = member.epoch
            beat = member.heartbeat()
            assert (beat.error_code, beat.member_epoch, beat.assignment) == (ErrorCode.none, epoch, None)
        assert describe(raw).group_epoch == before.group_epoch
        assert a.leave().error_code == b.leave().error_code == ErrorCode.none
        deleted = raw.request(ApiKey.DELETE_GROUPS, 2, groups_names=["kept-group"])
        assert deleted.results[0].error_code == ErrorCode.none

    broker.restart()
    with RawKafka(broker.bootstrap) as raw:
        assert describe(raw).error_code == ErrorCode.group_id_not_found


def test_an_empty_group_switches_protocol_and_a_live_one_does_not(broker_factory) -> None:  # type: ignore[no-untyped-def]
    broker = broker_factory("--override", "group.initial.rebalance.delay.ms=0")
    group = "switching"
    with RawKafka(broker.bootstrap) as raw:
        raw.request(ApiKey.METADATA, 12, topics=[raw.make(ApiKey.METADATA, 12, "MetadataRequestTopic",
                    name=TOPIC, topic_id=None)], allow_auto_topic_creation=True,
                    include_topic_authorized_operations=False)

        def join(member_id: str = "") -> Any:
            protocol = raw.make(ApiKey.JOIN_GROUP, 5, "JoinGroupRequestProtocol", name="range", metadata=b"")
            return raw.request(ApiKey.JOIN_GROUP, 5, group_id=group, session_timeout=10_000,
                               rebalance_timeout=10_000, member_id=member_id, group_instance_id=None,
                               protocol_type="consumer", protocols=[protocol])

        required = join()
        assert required.error_code == ErrorCode.member_id_required
        classic = join(required.member_id)
        assert classic.error_code == ErrorCode.none
        member = Member(raw, group)
        assert member.heartbeat().error_code == ErrorCode.inconsistent_group_protocol
        leave = raw.make(ApiKey.LEAVE_GROUP, 3, "MemberIdentity", member_id=classic.member_id,
                         group_instance_id=None)
        assert raw.request(ApiKey.LEAVE_GROUP, 3, group_id=group, members=[leave]).error_code == ErrorCode.none
        assert member.heartbeat().error_code == ErrorCode.none  # empty: becomes a consumer group
        assert join().error_code == ErrorCode.inconsistent_group_protocol
    broker.restart()
    with RawKafka(broker.bootstrap) as raw:
        described = raw.request(ApiKey.CONSUMER_GROUP_DESCRIBE, 0, group_ids=[group],
                                include_authorized_operations=False).groups[0]
        assert [m.member_id for m in described.members] == [member.member_id]
        member.raw = raw
        assert member.leave().error_code == ErrorCode.none
        protocol = raw.make(ApiKey.JOIN_GROUP, 5, "JoinGroupRequestProtocol", name="range", metadata=b"")
        rejoined = raw.request(ApiKey.JOIN_GROUP, 5, group_id=group, session_timeout=10_000,
                               rebalance_timeout=10_000, member_id="x", group_instance_id=None,
                               protocol_type="consumer", protocols=[protocol])
        # Empty again: a classic member may take it (its unknown member id is refused as usual).
        assert rejoined.error_code == ErrorCode.unknown_member_id
        described = raw.request(ApiKey.CONSUMER_GROUP_DESCRIBE, 0, group_ids=[group],
                                include_authorized_operations=False).groups[0]
        assert described.error_code == ErrorCode.group_id_not_found
