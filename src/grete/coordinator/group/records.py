"""The records of ``__consumer_offsets``, byte for byte as Kafka 3.9 writes and reads them.

Every record is a key and a value, each starting with an int16 version. The key's version
names the record type (0/1 offset commit, 2 classic group, 3..8 KIP-848 consumer group);
a value's version is its schema version. A null value is a tombstone: it deletes the key.
Classic records are non-flexible (int16-length strings, int32-length bytes) up to the
version Kafka writes; v4 values and all KIP-848 values are flexible (compact lengths as
unsigned varints plus tagged fields). Unknown tagged fields are skipped on read.
kio has no schemas for these internal records, hence the hand-written codecs: the byte
forms live in ``wire``, the KIP-848 records in ``consumer_records``, and this module
holds the classic records and the dispatch on record type.
"""

from __future__ import annotations

from dataclasses import dataclass

from grete.coordinator.group.consumer_records import (
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
    ConsumerGroupRecordKey,
    ConsumerGroupRecordValue,
    ConsumerGroupTargetAssignmentMemberKey,
    ConsumerGroupTargetAssignmentMemberValue,
    ConsumerGroupTargetAssignmentMetadataKey,
    ConsumerGroupTargetAssignmentMetadataValue,
    PartitionMetadata,
    TopicMetadata,
    TopicPartitions,
    decode_consumer_group_value,
    encode_consumer_group_value,
)
from grete.coordinator.group.wire import Reader, Writer

__all__ = [
    "GROUP_METADATA_KEY_VERSION",
    "GROUP_METADATA_VALUE_VERSION",
    "OFFSET_COMMIT_KEY_VERSION",
    "OFFSET_COMMIT_VALUE_VERSION",
    "ClassicMemberMetadata",
    "ClassicProtocol",
    "ConsumerGroupCurrentMemberAssignmentKey",
    "ConsumerGroupCurrentMemberAssignmentValue",
    "ConsumerGroupMemberMetadataKey",
    "ConsumerGroupMemberMetadataValue",
    "ConsumerGroupMetadataKey",
    "ConsumerGroupMetadataValue",
    "ConsumerGroupPartitionMetadataKey",
    "ConsumerGroupPartitionMetadataValue",
    "ConsumerGroupTargetAssignmentMemberKey",
    "ConsumerGroupTargetAssignmentMemberValue",
    "ConsumerGroupTargetAssignmentMetadataKey",
    "ConsumerGroupTargetAssignmentMetadataValue",
    "GroupMetadataKey",
    "GroupMetadataValue",
    "MemberMetadata",
    "OffsetCommitKey",
    "OffsetCommitValue",
    "PartitionMetadata",
    "RecordKey",
    "RecordValue",
    "TopicMetadata",
    "TopicPartitions",
    "UnknownRecordType",
    "decode_key",
    "decode_value",
    "encode_key",
    "encode_value",
]


class UnknownRecordType(ValueError):
    """A key version this codec does not know; loaders skip such records."""


# ---------------------------------------------------------------- keys

OFFSET_COMMIT_KEY_VERSION = 1  # 0 is the pre-0.9 layout; same fields, still readable
GROUP_METADATA_KEY_VERSION = 2


@dataclass(frozen=True, slots=True)
class OffsetCommitKey:
    group: str
    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class GroupMetadataKey:
    group: str


RecordKey = OffsetCommitKey | GroupMetadataKey | ConsumerGroupRecordKey

_GroupKey = (
    GroupMetadataKey
    | ConsumerGroupMetadataKey
    | ConsumerGroupPartitionMetadataKey
    | ConsumerGroupTargetAssignmentMetadataKey
)
_MemberKey = (
    ConsumerGroupMemberMetadataKey
    | ConsumerGroupTargetAssignmentMemberKey
    | ConsumerGroupCurrentMemberAssignmentKey
)
_GROUP_ONLY_KEYS: dict[int, type[_GroupKey]] = {
    2: GroupMetadataKey,
    3: ConsumerGroupMetadataKey,
    4: ConsumerGroupPartitionMetadataKey,
    6: ConsumerGroupTargetAssignmentMetadataKey,
}
_MEMBER_KEYS: dict[int, type[_MemberKey]] = {
    5: ConsumerGroupMemberMetadataKey,
    7: ConsumerGroupTargetAssignmentMemberKey,
    8: ConsumerGroupCurrentMemberAssignmentKey,
}
_KEY_VERSION = {cls: v for v, cls in (*_GROUP_ONLY_KEYS.items(), *_MEMBER_KEYS.items())}


def encode_key(key: RecordKey) -> bytes:
    """Key bytes: int16 record type, then int16-length strings (and an int32 partition)."""
    w = Writer(flexible=False)
    if isinstance(key, OffsetCommitKey):
        w.int16(OFFSET_COMMIT_KEY_VERSION)
        w.string(key.group)
        w.string(key.topic)
        w.int32(key.partition)
    elif isinstance(key, GroupMetadataKey):
        w.int16(GROUP_METADATA_KEY_VERSION)
        w.string(key.group)
    else:
        w.int16(_KEY_VERSION[type(key)])
        w.string(key.group_id)
        if isinstance(key, _MemberKey):
            w.string(key.member_id)
    return w.getvalue()


def decode_key(data: bytes) -> RecordKey:
    """Parses key bytes; raises UnknownRecordType for a type this codec does not know."""
    r = Reader(data)
    version = r.int16()
    key: RecordKey
    if version in (0, 1):
        key = OffsetCommitKey(r.string(), r.string(), r.int32())
    elif version in _GROUP_ONLY_KEYS:
        key = _GROUP_ONLY_KEYS[version](r.string())
    elif version in _MEMBER_KEYS:
        key = _MEMBER_KEYS[version](r.string(), r.string())
    else:
        raise UnknownRecordType(f"unknown __consumer_offsets key version {version}")
    r.done()
    return key


# ---------------------------------------------------------------- classic values

OFFSET_COMMIT_VALUE_VERSION = 3  # Kafka 3.9 writes v3, or v1 when an expire timestamp is set
GROUP_METADATA_VALUE_VERSION = 3  # highest non-flexible version, what Kafka 3.9 writes
_FLEXIBLE_CLASSIC_VERSION = 4  # OffsetCommitValue and GroupMetadataValue are flexible from v4


@dataclass(frozen=True, slots=True)
class OffsetCommitValue:
    """A committed offset. -1 means "none" for leader_epoch and expire_timestamp."""

    offset: int
    metadata: str
    commit_timestamp: int
    leader_epoch: int = -1
    expire_timestamp: int = -1  # only v1 stores it (explicit retention from OffsetCommit v2-v4)

    def writer_version(self) -> int:
        return 1 if self.expire_timestamp != -1 else OFFSET_COMMIT_VALUE_VERSION


@dataclass(frozen=True, slots=True)
class MemberMetadata:
    """A classic-group member; subscription and assignment are opaque consumer-protocol bytes."""

    member_id: str
    client_id: str
    client_host: str
    session_timeout: int
    rebalance_timeout: int
    subscription: bytes
    assignment: bytes
    group_instance_id: str | None = None


@dataclass(frozen=True, slots=True)
class GroupMetadataValue:
    """A classic group after a rebalance. No members means the group is Empty."""

    protocol_type: str
    generation: int
    protocol: str | None
    leader: str | None
    members: tuple[MemberMetadata, ...] = ()
    current_state_timestamp: int = -1  # when the group entered its current state (v2+)


def _encode_offset_commit(v: OffsetCommitValue, version: int) -> bytes:
    w = Writer(flexible=version >= _FLEXIBLE_CLASSIC_VERSION)
    w.int16(version)
    w.int64(v.offset)
    if version >= 3:
        w.int32(v.leader_epoch)
    w.string(v.metadata)
    w.int64(v.commit_timestamp)
    if version == 1:
        w.int64(v.expire_timestamp)
    w.no_tagged_fields()
    return w.getvalue()


def _decode_offset_commit(r: Reader, version: int) -> OffsetCommitValue:
    offset = r.int64()
    leader_epoch = r.int32() if version >= 3 else -1
    metadata = r.string()
    commit_timestamp = r.int64()
    expire_timestamp = r.int64() if version == 1 else -1
    r.tagged_fields()
    return OffsetCommitValue(offset, metadata, commit_timestamp, leader_epoch, expire_timestamp)


def _encode_group_metadata(v: GroupMetadataValue, version: int) -> bytes:
    w = Writer(flexible=version >= _FLEXIBLE_CLASSIC_VERSION)
    w.int16(version)
    w.string(v.protocol_type)
    w.int32(v.generation)
    w.string(v.protocol)
    w.string(v.leader)
    if version >= 2:
        w.int64(v.current_state_timestamp)
    w.array_length(len(v.members))
    for m in v.members:
        w.string(m.member_id)
        if version >= 3:
            w.string(m.group_instance_id)
        w.string(m.client_id)
        w.string(m.client_host)
        if version >= 1:
            w.int32(m.rebalance_timeout)
        w.int32(m.session_timeout)
        w.bytes_(m.subscription)
        w.bytes_(m.assignment)
        w.no_tagged_fields()
    w.no_tagged_fields()
    return w.getvalue()


def _decode_member(r: Reader, version: int) -> MemberMetadata:
    member_id = r.string()
    group_instance_id = r.nullable_string() if version >= 3 else None
    client_id = r.string()
    client_host = r.string()
    rebalance_timeout = r.int32() if version >= 1 else None
    session_timeout = r.int32()
    subscription = r.bytes_()
    assignment = r.bytes_()
    r.tagged_fields()
    # v0 predates the rebalance timeout; the session timeout played both roles then.
    rebalance = session_timeout if rebalance_timeout is None else rebalance_timeout
    return MemberMetadata(
        member_id,
        client_id,
        client_host,
        session_timeout,
        rebalance,
        subscription,
        assignment,
        group_instance_id,
    )


def _decode_group_metadata(r: Reader, version: int) -> GroupMetadataValue:
    protocol_type = r.string()
    generation = r.int32()
    protocol = r.nullable_string()
    leader = r.nullable_string()
    current_state_timestamp = r.int64() if version >= 2 else -1
    members = tuple(_decode_member(r, version) for _ in range(r.array_length()))
    r.tagged_fields()
    return GroupMetadataValue(
        protocol_type, generation, protocol, leader, members, current_state_timestamp
    )


RecordValue = OffsetCommitValue | GroupMetadataValue | ConsumerGroupRecordValue


def encode_value(value: RecordValue | None, version: int | None = None) -> bytes | None:
    """Value bytes in the version Kafka 3.9 writes (or `version`); None stays a tombstone."""
    if value is None:
        return None
    if isinstance(value, OffsetCommitValue):
        v = value.writer_version() if version is None else version
        if not 0 <= v <= 4:
            raise ValueError(f"OffsetCommitValue has no version {v}")
        return _encode_offset_commit(value, v)
    if isinstance(value, GroupMetadataValue):
        v = GROUP_METADATA_VALUE_VERSION if version is None else version
        if not 0 <= v <= 4:
            raise ValueError(f"GroupMetadataValue has no version {v}")
        return _encode_group_metadata(value, v)
    if version not in (None, 0):
        raise ValueError(f"{type(value).__name__} has only version 0")
    return encode_consumer_group_value(value)


def decode_value(key: RecordKey, data: bytes | None) -> RecordValue | None:
    """Parses the value of `key`'s record type; None (a tombstone) stays None."""
    if data is None:
        return None
    version = Reader(data).int16() if len(data) >= 2 else -1
    is_classic = isinstance(key, (OffsetCommitKey, GroupMetadataKey))
    if not (0 <= version <= (4 if is_classic else 0)):
        raise ValueError(f"unknown {type(key).__name__} value version {version}")
    r = Reader(data, flexible=version >= _FLEXIBLE_CLASSIC_VERSION or not is_classic)
    r.at = 2
    value: RecordValue
    if isinstance(key, OffsetCommitKey):
        value = _decode_offset_commit(r, version)
    elif isinstance(key, GroupMetadataKey):
        value = _decode_group_metadata(r, version)
    else:
        value = decode_consumer_group_value(key, r)
    r.done()
    return value
