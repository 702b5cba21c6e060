"""OffsetsState: operations return records, and only replaying them changes the state."""

from __future__ import annotations

import struct

import pytest

from grete.coordinator.group.offsets import (
    CommittedOffset,
    OffsetsState,
    Record,
    group_metadata_record,
    offset_commit_record,
)
from grete.coordinator.group.records import (
    ConsumerGroupMetadataKey,
    ConsumerGroupMetadataValue,
    GroupMetadataKey,
    GroupMetadataValue,
    MemberMetadata,
    OffsetCommitKey,
    decode_key,
    encode_key,
    encode_value,
)

HOUR = 3_600_000
RETENTION = 7 * 24 * HOUR
MEMBER = MemberMetadata("m-1", "client", "/127.0.0.1", 45000, 300000, b"sub", b"asg")


def at(
    offset: int, ts: int, epoch: int | None = None, expire: int | None = None
) -> CommittedOffset:
    return CommittedOffset(offset, "", ts, epoch, expire)


def applied(state: OffsetsState, records: list[Record]) -> OffsetsState:
    state.replay_all(records)
    return state


def test_commit_returns_records_and_changes_nothing_until_replayed() -> None:
    state = OffsetsState()
    records = state.commit("g", {("t", 0): at(10, 1000, epoch=2), ("t", 1): at(20, 1000)})
    assert len(records) == 2
    assert state.committed("g", "t", 0) is None
    assert list(state.groups()) == []
    applied(state, records)
    assert state.committed("g", "t", 0) == CommittedOffset(10, "", 1000, 2, None)
    assert state.committed("g", "t", 1) == CommittedOffset(20, "", 1000, None, None)
    assert state.committed("g", "t", 2) is None
    assert list(state.groups()) == ["g"]


def test_later_commit_wins() -> None:
    state = OffsetsState()
    applied(state, state.commit("g", {("t", 0): at(10, 1000)}))
    applied(state, state.commit("g", {("t", 0): at(7, 2000)}))
    assert state.committed("g", "t", 0) == at(7, 2000)
    assert state.committed_offsets("g") == {("t", 0): at(7, 2000)}


def test_tombstone_deletes_one_offset_and_an_empty_group_disappears() -> None:
    state = OffsetsState()
    applied(state, state.commit("g", {("t", 0): at(1, 1), ("t", 1): at(2, 1)}))
    applied(state, state.delete_offsets("g", [("t", 0), ("u", 9)]))
    assert state.committed("g", "t", 0) is None
    assert state.committed("g", "t", 1) == at(2, 1)
    applied(state, state.delete_offsets("g", [("t", 1)]))
    assert list(state.groups()) == []
    # A tombstone for something never written is harmless.
    state.replay(encode_key(OffsetCommitKey("nope", "t", 0)), None)
    assert list(state.groups()) == []


def test_group_metadata_and_group_deletion() -> None:
    state = OffsetsState()
    meta = GroupMetadataValue("consumer", 1, "range", "m-1", (MEMBER,), 500)
    state.replay(*group_metadata_record("g", meta))
    applied(state, state.commit("g", {("t", 0): at(5, 1000), ("u", 3): at(6, 1000)}))
    applied(state, state.commit("other", {("t", 0): at(9, 1000)}))
    assert state.group_metadata("g") == meta
    assert sorted(state.groups()) == ["g", "other"]

    records = state.delete_group("g")
    assert [decode_key(k) for k, _ in records] == [
        OffsetCommitKey("g", "t", 0),
        OffsetCommitKey("g", "u", 3),
        GroupMetadataKey("g"),
    ]
    assert all(v is None for _, v in records)
    applied(state, records)
    assert state.group_metadata("g") is None
    assert state.committed_offsets("g") == {}
    assert list(state.groups()) == ["other"]
    assert state.committed("other", "t", 0) == at(9, 1000)


def test_replay_order_decides_between_commit_and_tombstone() -> None:
    commit = offset_commit_record("g", "t", 0, at(3, 10))
    tombstone = (commit[0], None)
    assert applied(OffsetsState(), [commit, tombstone]).committed("g", "t", 0) is None
    assert applied(OffsetsState(), [tombstone, commit]).committed("g", "t", 0) == at(3, 10)


def test_unknown_record_types_are_skipped_and_kip848_records_ignored() -> None:
    state = OffsetsState()
    unknown_key = struct.pack(">h", 42) + b"\x00\x01g"
    kip848 = (
        encode_key(ConsumerGroupMetadataKey("cg")),
        encode_value(ConsumerGroupMetadataValue(3)),
    )
    state.replay_all(
        [(unknown_key, b"whatever"), kip848, offset_commit_record("g", "t", 0, at(1, 1))]
    )
    assert state.skipped == 1
    assert state.committed("g", "t", 0) == at(1, 1)
    assert list(state.groups()) == ["g"]


def test_old_value_versions_replay() -> None:
    key = encode_key(OffsetCommitKey("g", "t", 0))
    v0 = struct.pack(">hq", 0, 77) + struct.pack(">h", 2) + b"md" + struct.pack(">q", 123)
    state = applied(OffsetsState(), [(key, v0)])
    assert state.committed("g", "t", 0) == CommittedOffset(77, "md", 123, None, None)


# ---------------------------------------------------------------- expiry


def expired_keys(records: list[Record]) -> list[object]:
    assert all(v is None for _, v in records)
    return [decode_key(k) for k, _ in records]


def test_simple_consumer_offsets_expire_from_their_commit_time() -> None:
    state = OffsetsState()
    applied(state, state.commit("simple", {("t", 0): at(1, 0), ("t", 1): at(2, 10 * HOUR)}))
    assert state.expire_offsets(RETENTION - 1, RETENTION) == []
    assert expired_keys(state.expire_offsets(RETENTION, RETENTION)) == [
        OffsetCommitKey("simple", "t", 0)
    ]
    applied(state, state.expire_offsets(RETENTION + 10 * HOUR, RETENTION))
    assert list(state.groups()) == []


def test_empty_classic_group_expires_from_when_it_became_empty() -> None:
    state = OffsetsState()
    applied(state, state.commit("g", {("t", 0): at(1, 0)}))
    state.replay(
        *group_metadata_record("g", GroupMetadataValue("consumer", 2, None, None, (), 5 * HOUR))
    )
    # Counting from the commit it would have expired; the group has been empty only since 5h.
    assert state.expire_offsets(RETENTION + 1 * HOUR, RETENTION) == []
    records = state.expire_offsets(RETENTION + 5 * HOUR, RETENTION)
    assert expired_keys(records) == [OffsetCommitKey("g", "t", 0), GroupMetadataKey("g")]
    applied(state, records)
    assert list(state.groups()) == []


def test_empty_group_without_state_timestamp_expires_from_commit() -> None:
    state = OffsetsState()
    state.replay(*group_metadata_record("g", GroupMetadataValue("consumer", 2, None, None, (), -1)))
    applied(state, state.commit("g", {("t", 0): at(1, 0), ("t", 1): at(1, 2 * HOUR)}))
    assert expired_keys(state.expire_offsets(RETENTION, RETENTION)) == [
        OffsetCommitKey("g", "t", 0)
    ]


def test_live_classic_group_keeps_its_offsets_unless_told_it_is_empty() -> None:
    state = OffsetsState()
    state.replay(
        *group_metadata_record("g", GroupMetadataValue("consumer", 1, "range", "m-1", (MEMBER,), 0))
    )
    applied(state, state.commit("g", {("t", 0): at(1, 0)}))
    assert state.expire_offsets(10 * RETENTION, RETENTION) == []
    records = state.expire_offsets(10 * RETENTION, RETENTION, is_group_empty=lambda g: True)
    assert expired_keys(records) == [OffsetCommitKey("g", "t", 0), GroupMetadataKey("g")]


def test_empty_classic_group_without_offsets_is_deleted() -> None:
    state = OffsetsState()
    state.replay(*group_metadata_record("g", GroupMetadataValue("consumer", 1, None, None, (), 0)))
    assert expired_keys(state.expire_offsets(0, RETENTION)) == [GroupMetadataKey("g")]


def test_explicit_expire_timestamp_overrides_retention() -> None:
    state = OffsetsState()
    applied(state, state.commit("g", {("t", 0): at(1, 0, expire=HOUR), ("t", 1): at(1, 0)}))
    assert state.committed("g", "t", 0) == at(1, 0, expire=HOUR)
    assert expired_keys(state.expire_offsets(HOUR, RETENTION)) == [OffsetCommitKey("g", "t", 0)]


def test_subscribed_topics_of_groups_without_classic_metadata_are_kept() -> None:
    state = OffsetsState()
    applied(state, state.commit("cg", {("kept", 0): at(1, 0), ("gone", 0): at(1, 0)}))
    records = state.expire_offsets(RETENTION, RETENTION, is_subscribed=lambda g, t: t == "kept")
    assert expired_keys(records) == [OffsetCommitKey("cg", "gone", 0)]


def test_a_corrupt_known_record_fails_loudly_instead_of_being_skipped() -> None:
    state = OffsetsState()
    key = encode_key(OffsetCommitKey("g", "t", 0))
    with pytest.raises(ValueError, match="truncated"):
        state.replay(key, struct.pack(">hq", 3, 1))
    assert state.committed("g", "t", 0) is None
