"""The KIP-848 consumer-group records of ``__consumer_offsets`` (key types 3..8).

Keys are non-flexible (an int16-length group id, then a member id for per-member records);
``records.encode_key`` writes them. Every value is flexible and version 0. This module
depends only on ``wire``; ``records`` dispatches to it, never the reverse.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from grete.coordinator.group.wire import Reader, Writer

# ---------------------------------------------------------------- keys


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


ConsumerGroupRecordKey = (
    ConsumerGroupMetadataKey
    | ConsumerGroupPartitionMetadataKey
    | ConsumerGroupMemberMetadataKey
    | ConsumerGroupTargetAssignmentMetadataKey
    | ConsumerGroupTargetAssignmentMemberKey
    | ConsumerGroupCurrentMemberAssignmentKey
)


# ---------------------------------------------------------------- values (all flexible, v0)


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


ConsumerGroupRecordValue = (
    ConsumerGroupMetadataValue
    | ConsumerGroupPartitionMetadataValue
    | ConsumerGroupMemberMetadataValue
    | ConsumerGroupTargetAssignmentMetadataValue
    | ConsumerGroupTargetAssignmentMemberValue
    | ConsumerGroupCurrentMemberAssignmentValue
)


def _write_topic_partitions(w: Writer, items: tuple[TopicPartitions, ...]) -> None:
    w.array_length(len(items))
    for tp in items:
        w.uuid(tp.topic_id)
        w.array_length(len(tp.partitions))
        for p in tp.partitions:
            w.int32(p)
        w.no_tagged_fields()


def _read_topic_partitions(r: Reader) -> tuple[TopicPartitions, ...]:
    out = []
    for _ in range(r.array_length()):
        topic_id = r.uuid()
        partitions = tuple(r.int32() for _ in range(r.array_length()))
        r.tagged_fields()
        out.append(TopicPartitions(topic_id, partitions))
    return tuple(out)


def _write_classic_member(w: Writer, c: ClassicMemberMetadata) -> None:
    w.int32(c.session_timeout_ms)
    w.array_length(len(c.supported_protocols))
    for p in c.supported_protocols:
        w.string(p.name)
        w.bytes_(p.metadata)
        w.no_tagged_fields()
    w.no_tagged_fields()


def _read_classic_member(r: Reader) -> ClassicMemberMetadata:
    session_timeout_ms = r.int32()
    protocols = []
    for _ in range(r.array_length()):
        protocols.append(ClassicProtocol(r.string(), r.bytes_()))
        r.tagged_fields()
    r.tagged_fields()
    return ClassicMemberMetadata(session_timeout_ms, tuple(protocols))


def encode_consumer_group_value(v: ConsumerGroupRecordValue) -> bytes:
    """Value bytes: int16 version 0, the fields, then tagged fields."""
    w = Writer(flexible=True)
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
        _write_partition_metadata(w, v)
    elif isinstance(v, ConsumerGroupMemberMetadataValue):
        _write_member_metadata(w, v)
        return w.getvalue()  # writes its own tagged fields
    else:
        raise TypeError(f"not a KIP-848 value: {v!r}")
    w.no_tagged_fields()
    return w.getvalue()


def _write_member_metadata(w: Writer, v: ConsumerGroupMemberMetadataValue) -> None:
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
    inner = Writer(flexible=True)
    inner.int8(1)  # a nullable struct starts with a presence byte
    _write_classic_member(inner, v.classic_member_metadata)
    body = inner.getvalue()
    w.uvarint(1)  # one tagged field
    w.uvarint(0)  # tag 0
    w.uvarint(len(body))
    w.raw(body)


def _read_member_metadata(r: Reader) -> ConsumerGroupMemberMetadataValue:
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
        inner = Reader(bytes(tagged[0]), flexible=True)
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


def _write_partition_metadata(w: Writer, v: ConsumerGroupPartitionMetadataValue) -> None:
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


def _read_partition_metadata(r: Reader) -> ConsumerGroupPartitionMetadataValue:
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


def decode_consumer_group_value(key: ConsumerGroupRecordKey, r: Reader) -> ConsumerGroupRecordValue:
    """Reads the value of `key`'s record type from `r`, positioned just after the version."""
    if isinstance(key, ConsumerGroupMemberMetadataKey):
        return _read_member_metadata(r)
    if isinstance(key, ConsumerGroupPartitionMetadataKey):
        return _read_partition_metadata(r)
    value: ConsumerGroupRecordValue
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
