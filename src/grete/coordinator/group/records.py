"""The records of ``__consumer_offsets``, byte for byte as Kafka 3.9 writes and reads them.

Every record is a key and a value, each starting with an int16 version. The key's version
names the record type (0/1 offset commit, 2 classic group, 3..8 KIP-848 consumer group);
a value's version is its schema version. A null value is a tombstone: it deletes the key.
Classic records are non-flexible (int16-length strings, int32-length bytes) up to the
version Kafka writes; v4 values and all KIP-848 values are flexible (compact lengths as
unsigned varints plus tagged fields). Unknown tagged fields are skipped on read.
kio has no schemas for these internal records, hence the hand-written codecs.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

_I8 = struct.Struct(">b")
_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")


class UnknownRecordType(ValueError):
    """A key version this codec does not know; loaders skip such records."""


class _Writer:
    def __init__(self, flexible: bool) -> None:
        self.flexible = flexible
        self._parts: list[bytes] = []

    def int8(self, v: int) -> None:
        self._parts.append(_I8.pack(v))

    def int16(self, v: int) -> None:
        self._parts.append(_I16.pack(v))

    def int32(self, v: int) -> None:
        self._parts.append(_I32.pack(v))

    def int64(self, v: int) -> None:
        self._parts.append(_I64.pack(v))

    def uvarint(self, v: int) -> None:
        out = bytearray()
        while v >= 0x80:
            out.append((v & 0x7F) | 0x80)
            v >>= 7
        out.append(v)
        self._parts.append(bytes(out))

    def _length(self, n: int | None) -> None:
        # Flexible versions store length + 1 (0 = null); classic ones int16/int32 with -1 = null.
        if self.flexible:
            self.uvarint(0 if n is None else n + 1)
        else:
            self.int16(-1 if n is None else n)

    def string(self, v: str | None) -> None:
        data = None if v is None else v.encode()
        self._length(None if data is None else len(data))
        if data is not None:
            self._parts.append(data)

    def bytes_(self, v: bytes) -> None:
        if self.flexible:
            self.uvarint(len(v) + 1)
        else:
            self.int32(len(v))
        self._parts.append(bytes(v))

    def array_length(self, n: int) -> None:
        if self.flexible:
            self.uvarint(n + 1)
        else:
            self.int32(n)

    def uuid(self, v: uuid.UUID) -> None:
        self._parts.append(v.bytes)

    def raw(self, data: bytes) -> None:
        self._parts.append(data)

    def no_tagged_fields(self) -> None:
        if self.flexible:
            self.uvarint(0)

    def getvalue(self) -> bytes:
        return b"".join(self._parts)


class _Reader:
    def __init__(self, data: bytes, flexible: bool = False) -> None:
        self.data = memoryview(data)
        self.at = 0
        self.flexible = flexible

    def _take(self, n: int) -> memoryview:
        if n < 0 or self.at + n > len(self.data):
            raise ValueError(f"record truncated: need {n} bytes at {self.at} of {len(self.data)}")
        view = self.data[self.at : self.at + n]
        self.at += n
        return view

    def int8(self) -> int:
        return int(_I8.unpack(self._take(1))[0])

    def int16(self) -> int:
        return int(_I16.unpack(self._take(2))[0])

    def int32(self) -> int:
        return int(_I32.unpack(self._take(4))[0])

    def int64(self) -> int:
        return int(_I64.unpack(self._take(8))[0])

    def uvarint(self) -> int:
        value = shift = 0
        while True:
            b = self._take(1)[0]
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7
            if shift > 28:
                raise ValueError("unsigned varint longer than 5 bytes")

    def _length(self) -> int | None:
        n = self.uvarint() - 1 if self.flexible else self.int16()
        return None if n < 0 else n

    def nullable_string(self) -> str | None:
        n = self._length()
        return None if n is None else bytes(self._take(n)).decode()

    def string(self) -> str:
        s = self.nullable_string()
        if s is None:
            raise ValueError("null where a string is required")
        return s

    def bytes_(self) -> bytes:
        n = self.uvarint() - 1 if self.flexible else self.int32()
        if n < 0:
            raise ValueError("null where bytes are required")
        return bytes(self._take(n))

    def array_length(self) -> int:
        n = self.uvarint() - 1 if self.flexible else self.int32()
        if n < 0:
            raise ValueError("null where an array is required")
        return n

    def uuid(self) -> uuid.UUID:
        return uuid.UUID(bytes=bytes(self._take(16)))

    def tagged_fields(self) -> dict[int, memoryview]:
        """Reads a flexible struct's tagged fields; returns them by tag (callers pick theirs)."""
        if not self.flexible:
            return {}
        fields: dict[int, memoryview] = {}
        for _ in range(self.uvarint()):
            tag = self.uvarint()
            fields[tag] = self._take(self.uvarint())
        return fields

    def done(self) -> None:
        if self.at != len(self.data):
            raise ValueError(f"{len(self.data) - self.at} trailing bytes in record")


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


@dataclass(frozen=True, slots=True)
class ConsumerGroupMetadataKey:
    group_id: str


@dataclass(frozen=True, slots=True)
class ConsumerGroupPartitionMetadataKey:
    group_id: str


@dataclass(frozen=True, slots=True)
class ConsumerGroupMemberMetadataKey:
    group_id: str
    member_id: str


@dataclass(frozen=True, slots=True)
class ConsumerGroupTargetAssignmentMetadataKey:
    group_id: str


@dataclass(frozen=True, slots=True)
class ConsumerGroupTargetAssignmentMemberKey:
    group_id: str
    member_id: str


@dataclass(frozen=True, slots=True)
class ConsumerGroupCurrentMemberAssignmentKey:
    group_id: str
    member_id: str


RecordKey = (
    OffsetCommitKey
    | GroupMetadataKey
    | ConsumerGroupMetadataKey
    | ConsumerGroupPartitionMetadataKey
    | ConsumerGroupMemberMetadataKey
    | ConsumerGroupTargetAssignmentMetadataKey
    | ConsumerGroupTargetAssignmentMemberKey
    | ConsumerGroupCurrentMemberAssignmentKey
)

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
    w = _Writer(flexible=False)
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
    r = _Reader(data)
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
    w = _Writer(flexible=version >= _FLEXIBLE_CLASSIC_VERSION)
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


def _decode_offset_commit(r: _Reader, version: int) -> OffsetCommitValue:
    offset = r.int64()
    leader_epoch = r.int32() if version >= 3 else -1
    metadata = r.string()
    commit_timestamp = r.int64()
    expire_timestamp = r.int64() if version == 1 else -1
    r.tagged_fields()
    return OffsetCommitValue(offset, metadata, commit_timestamp, leader_epoch, expire_timestamp)


def _encode_group_metadata(v: GroupMetadataValue, version: int) -> bytes:
    w = _Writer(flexible=version >= _FLEXIBLE_CLASSIC_VERSION)
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


def _decode_member(r: _Reader, version: int) -> MemberMetadata:
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


def _decode_group_metadata(r: _Reader, version: int) -> GroupMetadataValue:
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


# ---------------------------------------------------------------- KIP-848 values (all flexible, v0)


@dataclass(frozen=True, slots=True)
class ConsumerGroupMetadataValue:
    epoch: int


@dataclass(frozen=True, slots=True)
class PartitionMetadata:
    partition: int
    racks: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TopicMetadata:
    topic_id: uuid.UUID
    topic_name: str
    num_partitions: int
    partition_metadata: tuple[PartitionMetadata, ...] = ()


@dataclass(frozen=True, slots=True)
class ConsumerGroupPartitionMetadataValue:
    topics: tuple[TopicMetadata, ...]


@dataclass(frozen=True, slots=True)
class ClassicProtocol:
    name: str
    metadata: bytes


@dataclass(frozen=True, slots=True)
class ClassicMemberMetadata:
    """Present (tagged field 0) only for a classic-protocol member of a consumer group."""

    session_timeout_ms: int
    supported_protocols: tuple[ClassicProtocol, ...]


@dataclass(frozen=True, slots=True)
class ConsumerGroupMemberMetadataValue:
    instance_id: str | None
    rack_id: str | None
    client_id: str
    client_host: str
    subscribed_topic_names: tuple[str, ...]
    subscribed_topic_regex: str | None = None
    rebalance_timeout_ms: int = -1
    server_assignor: str | None = None
    classic_member_metadata: ClassicMemberMetadata | None = None


@dataclass(frozen=True, slots=True)
class ConsumerGroupTargetAssignmentMetadataValue:
    assignment_epoch: int


@dataclass(frozen=True, slots=True)
class TopicPartitions:
    topic_id: uuid.UUID
    partitions: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ConsumerGroupTargetAssignmentMemberValue:
    topic_partitions: tuple[TopicPartitions, ...]


@dataclass(frozen=True, slots=True)
class ConsumerGroupCurrentMemberAssignmentValue:
    member_epoch: int
    previous_member_epoch: int
    state: int  # ConsumerGroupMember.MemberState: 0 stable, 1 unrevoked, 2 unreleased, ...
    assigned_partitions: tuple[TopicPartitions, ...]
    partitions_pending_revocation: tuple[TopicPartitions, ...]


def _write_topic_partitions(w: _Writer, items: tuple[TopicPartitions, ...]) -> None:
    w.array_length(len(items))
    for tp in items:
        w.uuid(tp.topic_id)
        w.array_length(len(tp.partitions))
        for p in tp.partitions:
            w.int32(p)
        w.no_tagged_fields()


def _read_topic_partitions(r: _Reader) -> tuple[TopicPartitions, ...]:
    out = []
    for _ in range(r.array_length()):
        topic_id = r.uuid()
        partitions = tuple(r.int32() for _ in range(r.array_length()))
        r.tagged_fields()
        out.append(TopicPartitions(topic_id, partitions))
    return tuple(out)


def _write_classic_member(w: _Writer, c: ClassicMemberMetadata) -> None:
    w.int32(c.session_timeout_ms)
    w.array_length(len(c.supported_protocols))
    for p in c.supported_protocols:
        w.string(p.name)
        w.bytes_(p.metadata)
        w.no_tagged_fields()
    w.no_tagged_fields()


def _read_classic_member(r: _Reader) -> ClassicMemberMetadata:
    session_timeout_ms = r.int32()
    protocols = []
    for _ in range(r.array_length()):
        protocols.append(ClassicProtocol(r.string(), r.bytes_()))
        r.tagged_fields()
    r.tagged_fields()
    return ClassicMemberMetadata(session_timeout_ms, tuple(protocols))


def _encode_kip848(v: RecordValue) -> bytes:
    w = _Writer(flexible=True)
    w.int16(0)
    if isinstance(v, ConsumerGroupMetadataValue):
        w.int32(v.epoch)
    elif isinstance(v, ConsumerGroupTargetAssignmentMetadataValue):
        w.int32(v.assignment_epoch)
    elif isinstance(v, ConsumerGroupTargetAssignmentMemberValue):
        _write_topic_partitions(w, v.topic_partitions)
    elif isinstance(v, ConsumerGroupCurrentMemberAssignmentValue):
        w.int32(v.member_epoch)
        w.int32(v.previous_member_epoch)
        w.int8(v.state)
        _write_topic_partitions(w, v.assigned_partitions)
        _write_topic_partitions(w, v.partitions_pending_revocation)
    elif isinstance(v, ConsumerGroupPartitionMetadataValue):
        w.array_length(len(v.topics))
        for t in v.topics:
            w.uuid(t.topic_id)
            w.string(t.topic_name)
            w.int32(t.num_partitions)
            w.array_length(len(t.partition_metadata))
            for pm in t.partition_metadata:
                w.int32(pm.partition)
                w.array_length(len(pm.racks))
                for rack in pm.racks:
                    w.string(rack)
                w.no_tagged_fields()
            w.no_tagged_fields()
    elif isinstance(v, ConsumerGroupMemberMetadataValue):
        _write_member_metadata(w, v)
        return w.getvalue()  # writes its own tagged fields
    else:
        raise TypeError(f"not a KIP-848 value: {v!r}")
    w.no_tagged_fields()
    return w.getvalue()


def _write_member_metadata(w: _Writer, v: ConsumerGroupMemberMetadataValue) -> None:
    w.string(v.instance_id)
    w.string(v.rack_id)
    w.string(v.client_id)
    w.string(v.client_host)
    w.array_length(len(v.subscribed_topic_names))
    for name in v.subscribed_topic_names:
        w.string(name)
    w.string(v.subscribed_topic_regex)
    w.int32(v.rebalance_timeout_ms)
    w.string(v.server_assignor)
    if v.classic_member_metadata is None:
        w.no_tagged_fields()  # the tagged field's default is null: omitted
        return
    inner = _Writer(flexible=True)
    inner.int8(1)  # a nullable struct starts with a presence byte
    _write_classic_member(inner, v.classic_member_metadata)
    body = inner.getvalue()
    w.uvarint(1)  # one tagged field
    w.uvarint(0)  # tag 0
    w.uvarint(len(body))
    w.raw(body)


def _read_member_metadata(r: _Reader) -> ConsumerGroupMemberMetadataValue:
    instance_id = r.nullable_string()
    rack_id = r.nullable_string()
    client_id = r.string()
    client_host = r.string()
    topics = tuple(r.string() for _ in range(r.array_length()))
    regex = r.nullable_string()
    rebalance_timeout_ms = r.int32()
    server_assignor = r.nullable_string()
    classic = None
    tagged = r.tagged_fields()
    if 0 in tagged:
        inner = _Reader(bytes(tagged[0]), flexible=True)
        if inner.int8() >= 0:
            classic = _read_classic_member(inner)
        inner.done()
    return ConsumerGroupMemberMetadataValue(
        instance_id,
        rack_id,
        client_id,
        client_host,
        topics,
        regex,
        rebalance_timeout_ms,
        server_assignor,
        classic,
    )


def _read_partition_metadata(r: _Reader) -> ConsumerGroupPartitionMetadataValue:
    topics = []
    for _ in range(r.array_length()):
        topic_id, name, num_partitions = r.uuid(), r.string(), r.int32()
        pms = []
        for _ in range(r.array_length()):
            partition = r.int32()
            racks = tuple(r.string() for _ in range(r.array_length()))
            r.tagged_fields()
            pms.append(PartitionMetadata(partition, racks))
        r.tagged_fields()
        topics.append(TopicMetadata(topic_id, name, num_partitions, tuple(pms)))
    r.tagged_fields()
    return ConsumerGroupPartitionMetadataValue(tuple(topics))


def _decode_kip848(key: RecordKey, r: _Reader) -> RecordValue:
    if isinstance(key, ConsumerGroupMemberMetadataKey):
        return _read_member_metadata(r)
    if isinstance(key, ConsumerGroupPartitionMetadataKey):
        return _read_partition_metadata(r)
    value: RecordValue
    if isinstance(key, ConsumerGroupMetadataKey):
        value = ConsumerGroupMetadataValue(r.int32())
    elif isinstance(key, ConsumerGroupTargetAssignmentMetadataKey):
        value = ConsumerGroupTargetAssignmentMetadataValue(r.int32())
    elif isinstance(key, ConsumerGroupTargetAssignmentMemberKey):
        value = ConsumerGroupTargetAssignmentMemberValue(_read_topic_partitions(r))
    else:
        epoch, previous, state = r.int32(), r.int32(), r.int8()
        assigned = _read_topic_partitions(r)
        value = ConsumerGroupCurrentMemberAssignmentValue(
            epoch, previous, state, assigned, _read_topic_partitions(r)
        )
    r.tagged_fields()
    return value


RecordValue = (
    OffsetCommitValue
    | GroupMetadataValue
    | ConsumerGroupMetadataValue
    | ConsumerGroupPartitionMetadataValue
    | ConsumerGroupMemberMetadataValue
    | ConsumerGroupTargetAssignmentMetadataValue
    | ConsumerGroupTargetAssignmentMemberValue
    | ConsumerGroupCurrentMemberAssignmentValue
)


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
    return _encode_kip848(value)


def decode_value(key: RecordKey, data: bytes | None) -> RecordValue | None:
    """Parses the value of `key`'s record type; None (a tombstone) stays None."""
    if data is None:
        return None
    version = _I16.unpack_from(data)[0] if len(data) >= 2 else -1
    is_classic = isinstance(key, (OffsetCommitKey, GroupMetadataKey))
    if not (0 <= version <= (4 if is_classic else 0)):
        raise ValueError(f"unknown {type(key).__name__} value version {version}")
    r = _Reader(data, flexible=version >= _FLEXIBLE_CLASSIC_VERSION or not is_classic)
    r.at = 2
    value: RecordValue
    if isinstance(key, OffsetCommitKey):
        value = _decode_offset_commit(r, version)
    elif isinstance(key, GroupMetadataKey):
        value = _decode_group_metadata(r, version)
    else:
        value = _decode_kip848(key, r)
    r.done()
    return value
