"""A KIP-848 group's snapshot <-> its ``__consumer_offsets`` records (key types 3..8).

The records name topics by id, the group by name: `snapshot_records` takes the
broker's name -> id map; replay learns the names back from the group's own
partition metadata record, so loading needs no metadata image. Assignments naming a
topic the group no longer knows are dropped on replay.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from grete.coordinator.group.consumer_records import (
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
    TopicMetadata,
    TopicPartitions,
)
from grete.coordinator.group.consumer_types import (
    ConsumerGroupSnapshot,
    ConsumerMemberSnapshot,
    MemberState,
    TopicAssignment,
    to_wire,
)

ConsumerRecord = tuple[ConsumerGroupRecordKey, ConsumerGroupRecordValue | None]
_V = TypeVar("_V")


def _by_id(
    assignment: Iterable[TopicAssignment], topic_ids: Mapping[str, uuid.UUID]
) -> tuple[TopicPartitions, ...]:
    return tuple(
        TopicPartitions(topic_ids[ta.topic], ta.partitions)
        for ta in assignment
        if ta.topic in topic_ids
    )


def snapshot_records(
    snapshot: ConsumerGroupSnapshot, topic_ids: Mapping[str, uuid.UUID]
) -> list[ConsumerRecord]:
    """Every record that rebuilds the group, in the order Kafka writes them."""
    gid = snapshot.group_id
    records: list[ConsumerRecord] = []
    for m in snapshot.members:
        value = ConsumerGroupMemberMetadataValue(
            instance_id=m.instance_id,
            rack_id=None,
            client_id=m.client_id,
            client_host=m.client_host,
            subscribed_topic_names=m.subscribed_topic_names,
            rebalance_timeout_ms=m.rebalance_timeout_ms,
            server_assignor=m.server_assignor,
        )
        records.append((ConsumerGroupMemberMetadataKey(gid, m.member_id), value))
    topics = tuple(
        TopicMetadata(topic_ids[name], name, count)
        for name, count in snapshot.topic_partitions
        if name in topic_ids
    )
    records.append(
        (ConsumerGroupPartitionMetadataKey(gid), ConsumerGroupPartitionMetadataValue(topics))
    )
    records.append(
        (ConsumerGroupMetadataKey(gid), ConsumerGroupMetadataValue(snapshot.group_epoch))
    )
    for m in snapshot.members:
        target = ConsumerGroupTargetAssignmentMemberValue(_by_id(m.target, topic_ids))
        records.append((ConsumerGroupTargetAssignmentMemberKey(gid, m.member_id), target))
    epoch = ConsumerGroupTargetAssignmentMetadataValue(snapshot.assignment_epoch)
    records.append((ConsumerGroupTargetAssignmentMetadataKey(gid), epoch))
    for m in snapshot.members:
        current = ConsumerGroupCurrentMemberAssignmentValue(
            member_epoch=m.member_epoch,
            previous_member_epoch=m.previous_member_epoch,
            state=int(m.state),
            assigned_partitions=_by_id(m.assigned, topic_ids),
            partitions_pending_revocation=_by_id(m.pending_revocation, topic_ids),
        )
        records.append((ConsumerGroupCurrentMemberAssignmentKey(gid, m.member_id), current))
    return records


def _as(value: ConsumerGroupRecordValue | None, kind: type[_V]) -> _V | None:
    return value if isinstance(value, kind) else None


def _put(into: dict[str, _V], member_id: str, value: _V | None) -> None:
    if value is None:
        into.pop(member_id, None)  # a tombstone
    else:
        into[member_id] = value


def _by_name(
    partitions: Iterable[TopicPartitions], names: Mapping[uuid.UUID, str]
) -> tuple[TopicAssignment, ...]:
    known = {names[tp.topic_id]: tp.partitions for tp in partitions if tp.topic_id in names}
    return to_wire({topic: frozenset(ps) for topic, ps in known.items()})


@dataclass(slots=True)
class ConsumerGroupReplay:
    """Folds one group's records, in log order, back into a snapshot.

    A None value is a tombstone. The group exists while its epoch record does.
    """

    group_id: str
    group_epoch: int | None = None
    assignment_epoch: int = 0
    topics: tuple[TopicMetadata, ...] = ()
    members: dict[str, ConsumerGroupMemberMetadataValue] = field(default_factory=dict)
    targets: dict[str, ConsumerGroupTargetAssignmentMemberValue] = field(default_factory=dict)
    current: dict[str, ConsumerGroupCurrentMemberAssignmentValue] = field(default_factory=dict)

    def apply(self, key: ConsumerGroupRecordKey, value: ConsumerGroupRecordValue | None) -> None:
        if isinstance(key, ConsumerGroupMetadataKey):
            epoch = _as(value, ConsumerGroupMetadataValue)
            self.group_epoch = None if epoch is None else epoch.epoch
        elif isinstance(key, ConsumerGroupPartitionMetadataKey):
            metadata = _as(value, ConsumerGroupPartitionMetadataValue)
            self.topics = () if metadata is None else metadata.topics
        elif isinstance(key, ConsumerGroupTargetAssignmentMetadataKey):
            target = _as(value, ConsumerGroupTargetAssignmentMetadataValue)
            self.assignment_epoch = 0 if target is None else target.assignment_epoch
        elif isinstance(key, ConsumerGroupMemberMetadataKey):
            _put(self.members, key.member_id, _as(value, ConsumerGroupMemberMetadataValue))
        elif isinstance(key, ConsumerGroupTargetAssignmentMemberKey):
            member_target = _as(value, ConsumerGroupTargetAssignmentMemberValue)
            _put(self.targets, key.member_id, member_target)
        else:
            current = _as(value, ConsumerGroupCurrentMemberAssignmentValue)
            _put(self.current, key.member_id, current)

    def snapshot(self) -> ConsumerGroupSnapshot | None:
        """The group as the records left it; None if it was deleted or never written."""
        if self.group_epoch is None:
            return None
        names = {t.topic_id: t.topic_name for t in self.topics}
        members = tuple(self._member(member_id, names) for member_id in self.members)
        topics = tuple(sorted((t.topic_name, t.num_partitions) for t in self.topics))
        return ConsumerGroupSnapshot(
            self.group_id, self.group_epoch, self.assignment_epoch, topics, members
        )

    def _member(self, member_id: str, names: Mapping[uuid.UUID, str]) -> ConsumerMemberSnapshot:
        meta = self.members[member_id]
        target = self.targets.get(member_id)
        current = self.current.get(member_id)
        known_state = current is not None and current.state in set(MemberState)
        return ConsumerMemberSnapshot(
            member_id=member_id,
            instance_id=meta.instance_id,
            client_id=meta.client_id,
            client_host=meta.client_host,
            rebalance_timeout_ms=meta.rebalance_timeout_ms,
            subscribed_topic_names=meta.subscribed_topic_names,
            server_assignor=meta.server_assignor,
            member_epoch=0 if current is None else current.member_epoch,
            previous_member_epoch=-1 if current is None else current.previous_member_epoch,
            # A state from a newer version: start over (Kafka fences such a member).
            state=MemberState(current.state) if current and known_state else MemberState.STABLE,
            assigned=() if current is None else _by_name(current.assigned_partitions, names),
            pending_revocation=(
                () if current is None else _by_name(current.partitions_pending_revocation, names)
            ),
            target=() if target is None else _by_name(target.topic_partitions, names),
        )


def delta_records(
    before: ConsumerGroupSnapshot | None,
    after: ConsumerGroupSnapshot | None,
    topic_ids: Mapping[str, uuid.UUID],
) -> list[ConsumerRecord]:
    """The records that take the log from `before` to `after` (None: no group).

    Only what changed is written, as Kafka does: a heartbeat that changes nothing
    writes nothing. A removed member, or a deleted group, gets tombstones, member
    records first and the group epoch last, so a replay cut anywhere never sees
    members of a group without an epoch record.
    """
    old = dict(snapshot_records(before, topic_ids)) if before is not None else {}
    new = dict(snapshot_records(after, topic_ids)) if after is not None else {}
    records: list[ConsumerRecord] = [
        (key, value) for key, value in new.items() if old.get(key, _ABSENT) != value
    ]
    gone = [key for key in old if key not in new]
    gone.sort(key=lambda k: isinstance(k, ConsumerGroupMetadataKey))  # the epoch last
    records += [(key, None) for key in gone]
    return records


_ABSENT = object()
