"""``__consumer_offsets`` record codecs against byte layouts built by hand from Kafka's schemas."""

from __future__ import annotations

import struct
import uuid

import pytest

from grete.coordinator.group.partitioner import java_string_hash, partition_for
from grete.coordinator.group.records import (
    ClassicMemberMetadata,
    ClassicProtocol,
    ConsumerGroupCurrentMemberAssignmentKey,
    ConsumerGroupCurrentMemberAssignmentValue,
    ConsumerGroupMemberMetadataKey,
    ConsumerGroupMemberMetadataValue,
    ConsumerGroupMetadataKey,
    ConsumerGroupMetadataValue,
    ConsumerGroupPartitionMetadataKey,
    ConsumerGroupPartitionMetadataValue,
    ConsumerGroupTargetAssignmentMemberKey,
    ConsumerGroupTargetAssignmentMemberValue,
    ConsumerGroupTargetAssignmentMetadataKey,
    ConsumerGroupTargetAssignmentMetadataValue,
    GroupMetadataKey,
    GroupMetadataValue,
    MemberMetadata,
    OffsetCommitKey,
    OffsetCommitValue,
    PartitionMetadata,
    RecordKey,
    RecordValue,
    TopicMetadata,
    TopicPartitions,
    UnknownRecordType,
    decode_key,
    decode_value,
    encode_key,
    encode_value,
)

TOPIC_A = uuid.UUID("00112233-4455-6677-8899-aabbccddeeff")
TOPIC_B = uuid.UUID(int=7)


def s16(text: str | None) -> bytes:
    """A classic (int16-length) string; -1 for null."""
    if text is None:
        return struct.pack(">h", -1)
    data = text.encode()
    return struct.pack(">h", len(data)) + data


def b32(data: bytes) -> bytes:
    return struct.pack(">i", len(data)) + data


def cstr(text: str | None) -> bytes:
    """A compact string whose length + 1 fits one varint byte; 0 for null."""
    if text is None:
        return b"\x00"
    data = text.encode()
    assert len(data) < 127
    return bytes([len(data) + 1]) + data


# ---------------------------------------------------------------- exact bytes


def test_offset_commit_key_bytes() -> None:
    key = OffsetCommitKey("grp", "topic-é", 7)
    expected = struct.pack(">h", 1) + s16("grp") + s16("topic-é") + struct.pack(">i", 7)
    assert encode_key(key) == expected
    assert decode_key(expected) == key


def test_offset_commit_value_v3_bytes_are_the_default() -> None:
    value = OffsetCommitValue(
        offset=42, metadata="meta", commit_timestamp=1_700_000_000_123, leader_epoch=5
    )
    expected = (
        struct.pack(">h", 3)
        + struct.pack(">q", 42)
        + struct.pack(">i", 5)
        + s16("meta")
        + struct.pack(">q", 1_700_000_000_123)
    )
    assert encode_value(value) == expected
    assert decode_value(OffsetCommitKey("g", "t", 0), expected) == value


def test_offset_commit_value_with_expire_timestamp_is_written_as_v1() -> None:
    value = OffsetCommitValue(offset=9, metadata="", commit_timestamp=1000, expire_timestamp=5000)
    expected = struct.pack(">hq", 1, 9) + s16("") + struct.pack(">qq", 1000, 5000)
    assert encode_value(value) == expected
    assert decode_value(OffsetCommitKey("g", "t", 0), expected) == value


def test_offset_commit_value_v4_is_flexible() -> None:
    value = OffsetCommitValue(offset=1, metadata="m", commit_timestamp=2, leader_epoch=3)
    expected = struct.pack(">hqi", 4, 1, 3) + cstr("m") + struct.pack(">q", 2) + b"\x00"
    assert encode_value(value, version=4) == expected
    assert decode_value(OffsetCommitKey("g", "t", 0), expected) == value


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            struct.pack(">hq", 0, 11) + s16("x") + struct.pack(">q", 22),
            OffsetCommitValue(11, "x", 22),
        ),
        (
            struct.pack(">hq", 2, 11) + s16("x") + struct.pack(">q", 22),
            OffsetCommitValue(11, "x", 22),
        ),
    ],
)
def test_offset_commit_value_old_versions_decode(raw: bytes, expected: OffsetCommitValue) -> None:
    assert decode_value(OffsetCommitKey("g", "t", 0), raw) == expected


def test_offset_commit_key_v0_decodes_to_the_same_key() -> None:
    raw = struct.pack(">h", 0) + s16("g") + s16("t") + struct.pack(">i", 3)
    assert decode_key(raw) == OffsetCommitKey("g", "t", 3)
    assert encode_key(decode_key(raw))[:2] == b"\x00\x01"


def test_group_metadata_key_bytes() -> None:
    expected = struct.pack(">h", 2) + s16("my-group")
    assert encode_key(GroupMetadataKey("my-group")) == expected
    assert decode_key(expected) == GroupMetadataKey("my-group")


MEMBER = MemberMetadata(
    member_id="consumer-1-abc",
    client_id="consumer-1",
    client_host="/127.0.0.1",
    session_timeout=45000,
    rebalance_timeout=300000,
    subscription=b"\x00\x01sub",
    assignment=b"\x00\x01asg",
    group_instance_id="static-1",
)
GROUP = GroupMetadataValue(
    protocol_type="consumer",
    generation=3,
    protocol="range",
    leader="consumer-1-abc",
    members=(MEMBER,),
    current_state_timestamp=1_700_000_000_000,
)


def test_group_metadata_value_v3_bytes_are_the_default() -> None:
    expected = (
        struct.pack(">h", 3)
        + s16("consumer")
        + struct.pack(">i", 3)
        + s16("range")
        + s16("consumer-1-abc")
        + struct.pack(">q", 1_700_000_000_000)
        + struct.pack(">i", 1)  # members
        + s16("consumer-1-abc")
        + s16("static-1")
        + s16("consumer-1")
        + s16("/127.0.0.1")
        + struct.pack(">i", 300000)
        + struct.pack(">i", 45000)
        + b32(b"\x00\x01sub")
        + b32(b"\x00\x01asg")
    )
    assert encode_value(GROUP) == expected
    assert decode_value(GroupMetadataKey("g"), expected) == GROUP


def test_empty_group_metadata_value_with_null_protocol_and_leader() -> None:
    value = GroupMetadataValue("consumer", 4, None, None, (), 123)
    expected = struct.pack(">h", 3) + s16("consumer") + struct.pack(">i", 4)
    expected += s16(None) + s16(None) + struct.pack(">qi", 123, 0)
    assert encode_value(value) == expected
    assert decode_value(GroupMetadataKey("g"), expected) == value


def test_group_metadata_value_v0_uses_session_timeout_for_rebalance() -> None:
    raw = (
        struct.pack(">h", 0)
        + s16("consumer")
        + struct.pack(">i", 1)
        + s16("range")
        + s16("m")
        + struct.pack(">i", 1)
        + s16("m")
        + s16("c")
        + s16("h")
        + struct.pack(">i", 10000)
        + b32(b"s")
        + b32(b"a")
    )
    decoded = decode_value(GroupMetadataKey("g"), raw)
    assert decoded == GroupMetadataValue(
        "consumer", 1, "range", "m", (MemberMetadata("m", "c", "h", 10000, 10000, b"s", b"a"),), -1
    )
    assert encode_value(decoded, version=0) == raw


def test_group_metadata_value_v4_is_flexible() -> None:
    expected = (
        struct.pack(">h", 4)
        + cstr("consumer")
        + struct.pack(">i", 3)
        + cstr("range")
        + cstr("consumer-1-abc")
        + struct.pack(">q", 1_700_000_000_000)
        + b"\x02"  # compact array of one member
        + cstr("consumer-1-abc")
        + cstr("static-1")
        + cstr("consumer-1")
        + cstr("/127.0.0.1")
        + struct.pack(">ii", 300000, 45000)
        + bytes([len(b"\x00\x01sub") + 1])
        + b"\x00\x01sub"
        + bytes([len(b"\x00\x01asg") + 1])
        + b"\x00\x01asg"
        + b"\x00"  # member tagged fields
        + b"\x00"  # value tagged fields
    )
    assert encode_value(GROUP, version=4) == expected
    assert decode_value(GroupMetadataKey("g"), expected) == GROUP


def test_unknown_tagged_fields_are_skipped() -> None:
    raw = struct.pack(">hqi", 4, 1, 3) + cstr("m") + struct.pack(">q", 2)
    raw += b"\x01" + b"\x05" + b"\x03" + b"abc"  # one tagged field, tag 5, 3 bytes
    assert decode_value(OffsetCommitKey("g", "t", 0), raw) == OffsetCommitValue(1, "m", 2, 3)


def test_consumer_group_member_metadata_value_bytes_with_classic_tag() -> None:
    classic = ClassicMemberMetadata(45000, (ClassicProtocol("range", b"\x01\x02"),))
    value = ConsumerGroupMemberMetadataValue(
        instance_id=None,
        rack_id="r1",
        client_id="cli",
        client_host="/h",
        subscribed_topic_names=("a", "b"),
        subscribed_topic_regex=None,
        rebalance_timeout_ms=30000,
        server_assignor="uniform",
        classic_member_metadata=classic,
    )
    classic_bytes = (
        b"\x01" + struct.pack(">i", 45000) + b"\x02" + cstr("range") + b"\x03\x01\x02" + b"\x00\x00"
    )
    expected = (
        struct.pack(">h", 0)
        + cstr(None)
        + cstr("r1")
        + cstr("cli")
        + cstr("/h")
        + b"\x03"
        + cstr("a")
        + cstr("b")
        + cstr(None)
        + struct.pack(">i", 30000)
        + cstr("uniform")
        + b"\x01\x00"  # one tagged field: tag 0
        + bytes([len(classic_bytes)])
        + classic_bytes
    )
    key = ConsumerGroupMemberMetadataKey("g", "m")
    assert encode_value(value) == expected
    assert decode_value(key, expected) == value


def test_consumer_group_current_assignment_bytes() -> None:
    value = ConsumerGroupCurrentMemberAssignmentValue(
        10, 9, 1, (TopicPartitions(TOPIC_A, (0, 2)),), ()
    )
    expected = (
        struct.pack(">hiib", 0, 10, 9, 1)
        + b"\x02"
        + TOPIC_A.bytes
        + b"\x03"
        + struct.pack(">ii", 0, 2)
        + b"\x00"  # topic-partitions tagged fields
        + b"\x01"  # empty compact array
        + b"\x00"
    )
    assert encode_value(value) == expected
    assert decode_value(ConsumerGroupCurrentMemberAssignmentKey("g", "m"), expected) == value


def test_kip848_key_bytes() -> None:
    assert encode_key(ConsumerGroupMetadataKey("g")) == struct.pack(">h", 3) + s16("g")
    assert encode_key(ConsumerGroupMemberMetadataKey("g", "m")) == struct.pack(">h", 5) + s16(
        "g"
    ) + s16("m")
    assert encode_key(ConsumerGroupCurrentMemberAssignmentKey("g", "m"))[:2] == struct.pack(">h", 8)


# ---------------------------------------------------------------- round trips

ROUND_TRIPS: list[tuple[RecordKey, RecordValue, int | None]] = [
    (OffsetCommitKey("g", "t", 0), OffsetCommitValue(5, "meta", 100, 7), None),
    (GroupMetadataKey("g"), GROUP, None),
    (ConsumerGroupMetadataKey("g"), ConsumerGroupMetadataValue(12), None),
    (
        ConsumerGroupPartitionMetadataKey("g"),
        ConsumerGroupPartitionMetadataValue(
            (
                TopicMetadata(
                    TOPIC_A, "orders", 3, (PartitionMetadata(0, ("r1", "r2")), PartitionMetadata(1))
                ),
                TopicMetadata(TOPIC_B, "x" * 200, 1),
            )
        ),
        None,
    ),
    (
        ConsumerGroupMemberMetadataKey("g", "m"),
        ConsumerGroupMemberMetadataValue("inst", None, "c", "h", (), "^t.*", -1, None, None),
        None,
    ),
    (
        ConsumerGroupTargetAssignmentMetadataKey("g"),
        ConsumerGroupTargetAssignmentMetadataValue(4),
        None,
    ),
    (
        ConsumerGroupTargetAssignmentMemberKey("g", "m"),
        ConsumerGroupTargetAssignmentMemberValue((TopicPartitions(TOPIC_A, tuple(range(300))),)),
        None,
    ),
    (
        ConsumerGroupCurrentMemberAssignmentKey("g", "m"),
        ConsumerGroupCurrentMemberAssignmentValue(
            3, 2, 0, (TopicPartitions(TOPIC_B, (1,)),), (TopicPartitions(TOPIC_A, (0, 5)),)
        ),
        None,
    ),
]
ROUND_TRIPS += [
    (OffsetCommitKey("g", "t", 1), OffsetCommitValue(5, "m", 100, 7), v) for v in (3, 4)
]
ROUND_TRIPS += [(OffsetCommitKey("g", "t", 1), OffsetCommitValue(5, "m", 100), v) for v in (0, 2)]
ROUND_TRIPS += [(OffsetCommitKey("g", "t", 1), OffsetCommitValue(5, "m", 100, -1, 900), 1)]
ROUND_TRIPS += [(GroupMetadataKey("g"), GROUP, v) for v in (3, 4)]
ROUND_TRIPS += [
    (GroupMetadataKey("g"), GroupMetadataValue("consumer", 2, "range", "m", (MEMBER,), 55), 2),
    (GroupMetadataKey("g"), GroupMetadataValue("", 2, None, None, ()), 1),
]


@pytest.mark.parametrize(("key", "value", "version"), ROUND_TRIPS)
def test_round_trip(key: RecordKey, value: RecordValue, version: int | None) -> None:
    key_bytes = encode_key(key)
    value_bytes = encode_value(value, version)
    decoded_key = decode_key(key_bytes)
    assert decoded_key == key
    decoded = decode_value(decoded_key, value_bytes)
    if isinstance(value, GroupMetadataValue) and version is not None and version < 3:
        # Fields newer than the version written come back as their defaults.
        members = tuple(
            MemberMetadata(
                m.member_id,
                m.client_id,
                m.client_host,
                m.session_timeout,
                m.rebalance_timeout,
                m.subscription,
                m.assignment,
                None,
            )
            for m in value.members
        )
        value = GroupMetadataValue(
            value.protocol_type,
            value.generation,
            value.protocol,
            value.leader,
            members,
            value.current_state_timestamp if version >= 2 else -1,
        )
    assert decoded == value
    assert value_bytes is not None
    assert value_bytes[:2] == struct.pack(
        ">h", default_version(value) if version is None else version
    )


def default_version(value: RecordValue) -> int:
    """What Kafka 3.9 writes: v3 values (v1 with an expire timestamp), KIP-848 values v0."""
    if isinstance(value, OffsetCommitValue):
        return 1 if value.expire_timestamp != -1 else 3
    if isinstance(value, GroupMetadataValue):
        return 3
    return 0


# ---------------------------------------------------------------- tombstones and errors


def test_tombstone_encodes_and_decodes_as_none() -> None:
    assert encode_value(None) is None
    assert decode_value(OffsetCommitKey("g", "t", 0), None) is None
    assert decode_value(GroupMetadataKey("g"), None) is None


@pytest.mark.parametrize("version", [9, 12, 100, -1])
def test_unknown_key_version_raises_unknown_record_type(version: int) -> None:
    with pytest.raises(UnknownRecordType):
        decode_key(struct.pack(">h", version) + s16("g"))


def test_unknown_value_version_is_rejected() -> None:
    with pytest.raises(ValueError, match="value version 5"):
        decode_value(OffsetCommitKey("g", "t", 0), struct.pack(">hq", 5, 1))
    with pytest.raises(ValueError, match="value version 1"):
        decode_value(ConsumerGroupMetadataKey("g"), struct.pack(">hi", 1, 1))


def test_truncated_and_trailing_bytes_are_rejected() -> None:
    good = encode_value(OffsetCommitValue(1, "m", 2))
    assert good is not None
    with pytest.raises(ValueError, match="truncated"):
        decode_value(OffsetCommitKey("g", "t", 0), good[:-1])
    with pytest.raises(ValueError, match="trailing"):
        decode_value(OffsetCommitKey("g", "t", 0), good + b"\x00")


# ---------------------------------------------------------------- partitioner


@pytest.mark.parametrize(
    ("text", "hash_code"),
    [
        ("", 0),
        ("a", 97),
        ("ab", 97 * 31 + 98),
        ("Aa", 2112),  # Java's classic collision with "BB"
        ("BB", 2112),
        ("hello", 99162322),
        ("polygenelubricants", -(2**31)),  # hashes to Integer.MIN_VALUE
        ("é", 0xE9),  # one UTF-16 unit, not its two UTF-8 bytes
        ("\U0001f600", 0xD83D * 31 + 0xDE00),  # a surrogate pair
    ],
)
def test_java_string_hash(text: str, hash_code: int) -> None:
    assert java_string_hash(text) == hash_code


def test_partition_for() -> None:
    assert partition_for("", 50) == 0
    assert partition_for("a", 50) == 97 % 50
    assert partition_for("ab", 50) == 3105 % 50
    # Utils.abs(MIN_VALUE) is 0 under Kafka's mask, where Math.abs would stay negative.
    assert partition_for("polygenelubricants", 50) == 0
    # A negative hash is masked (Kafka's Utils.abs), not negated.
    polynomial = sum(ord(c) * 31 ** (7 - i) for i, c in enumerate("my-group")) % 2**32
    assert polynomial >= 2**31  # negative as a Java int
    assert java_string_hash("my-group") == polynomial - 2**32
    assert partition_for("my-group", 50) == (polynomial - 2**31) % 50
    assert partition_for("my-group", 50) != abs(polynomial - 2**32) % 50
    assert partition_for("my-group", 1) == 0
    with pytest.raises(ValueError):
        partition_for("g", 0)
