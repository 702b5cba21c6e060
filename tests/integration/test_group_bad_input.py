"""Oversized group input: commit metadata over offset.metadata.max.bytes, and member metadata
too large to store in __consumer_offsets. The broker answers and keeps serving."""

from __future__ import annotations

from typing import Any

from grete.protocol import ApiKey, ErrorCode

from .raw_kafka import RawKafka


def commit(raw: RawKafka, group: str, metadata: dict[int, str]) -> dict[int, int]:
    parts = [raw.make(ApiKey.OFFSET_COMMIT, 8, "OffsetCommitRequestPartition", partition_index=p,
                      committed_offset=5, committed_leader_epoch=-1, committed_metadata=m)
             for p, m in metadata.items()]
    topic = raw.make(ApiKey.OFFSET_COMMIT, 8, "OffsetCommitRequestTopic", name="t", partitions=parts)
    response = raw.request(ApiKey.OFFSET_COMMIT, 8, group_id=group, generation_id_or_member_epoch=-1,
                           member_id="", group_instance_id=None, topics=[topic])
    return {p.partition_index: p.error_code for p in response.topics[0].partitions}


def test_commit_metadata_over_the_limit_fails_only_that_partition(broker_factory) -> None:  # type: ignore[no-untyped-def]
    broker = broker_factory("--override", "num.partitions=2")
    with RawKafka(broker.bootstrap) as raw:
        topic = raw.make(ApiKey.METADATA, 12, "MetadataRequestTopic", name="t")
        raw.request(ApiKey.METADATA, 12, topics=[topic], allow_auto_topic_creation=True,
                    include_topic_authorized_operations=False)
        errors = commit(raw, "g2", {0: "x" * 5000, 1: "fits"})
        assert errors == {0: ErrorCode.offset_metadata_too_large, 1: ErrorCode.none}
        assert commit(raw, "g2", {0: "fits"}) == {0: ErrorCode.none}


def test_member_metadata_too_large_to_store_fails_the_sync_as_kafka(broker_factory) -> None:  # type: ignore[no-untyped-def]
    """Kafka cannot write the group's record, so the SyncGroup fails with
    UNKNOWN_SERVER_ERROR and the group rebalances; a member with smaller metadata then
    gets through, and the broker keeps serving."""
    broker = broker_factory("--override", "group.initial.rebalance.delay.ms=0")
    huge = b"m" * (2 * 1024 * 1024)  # over __consumer_offsets' max.message.bytes
    with RawKafka(broker.bootstrap, timeout=30) as raw:
        def join(member_id: str, metadata: bytes) -> Any:
            protocol = raw.make(ApiKey.JOIN_GROUP, 3, "JoinGroupRequestProtocol", name="range", metadata=metadata)
            return raw.request(ApiKey.JOIN_GROUP, 3, group_id="big", session_timeout=10_000,
                               rebalance_timeout=10_000, member_id=member_id, protocol_type="consumer",
                               protocols=[protocol])

        def sync(joined: Any) -> Any:
            assignment = raw.make(ApiKey.SYNC_GROUP, 3, "SyncGroupRequestAssignment",
                                  member_id=joined.member_id, assignment=b"a")
            return raw.request(ApiKey.SYNC_GROUP, 3, group_id="big", generation_id=joined.generation_id,
                               member_id=joined.member_id, group_instance_id=None, assignments=[assignment])

        joined = join("", huge)
        assert joined.error_code == ErrorCode.none and joined.members[0].metadata == huge
        assert sync(joined).error_code == ErrorCode.unknown_server_error
        beat = raw.request(ApiKey.HEARTBEAT, 3, group_id="big", generation_id=joined.generation_id,
                           member_id=joined.member_id, group_instance_id=None)
        assert beat.error_code == ErrorCode.rebalance_in_progress
        rejoined = join(joined.member_id, b"small")
        assert rejoined.error_code == ErrorCode.none
        assert rejoined.generation_id == joined.generation_id + 1
        synced = sync(rejoined)
        assert synced.error_code == ErrorCode.none and synced.assignment == b"a"
    assert "metadata not stored" in broker.log_path.read_text()


def test_member_commit_to_an_unknown_group_by_version(broker_factory) -> None:  # type: ignore[no-untyped-def]
    """As Kafka: ILLEGAL_GENERATION before OffsetCommit v9, GROUP_ID_NOT_FOUND from v9 (what
    librdkafka's KIP-848 consumer sends); a simple consumer's commit (no member) is stored."""
    broker = broker_factory()
    with RawKafka(broker.bootstrap) as raw:
        raw.request(ApiKey.METADATA, 12, topics=[raw.make(ApiKey.METADATA, 12, "MetadataRequestTopic",
                    name="t", topic_id=None)], allow_auto_topic_creation=True,
                    include_topic_authorized_operations=False)

        def commit_as_member(version: int, group: str, epoch: int, member: str) -> int:
            part = raw.make(ApiKey.OFFSET_COMMIT, version, "OffsetCommitRequestPartition", partition_index=0,
                            committed_offset=1, committed_leader_epoch=-1, committed_metadata="")
            topic = raw.make(ApiKey.OFFSET_COMMIT, version, "OffsetCommitRequestTopic", name="t", partitions=[part])
            response = raw.request(ApiKey.OFFSET_COMMIT, version, group_id=group, generation_id_or_member_epoch=epoch,
                                   member_id=member, group_instance_id=None, topics=[topic])
            return int(response.topics[0].partitions[0].error_code)

        assert commit_as_member(8, "nobody-8", 3, "m") == ErrorCode.illegal_generation
        assert commit_as_member(9, "nobody-9", 3, "m") == ErrorCode.group_id_not_found
        assert commit_as_member(9, "simple", -1, "") == ErrorCode.none
