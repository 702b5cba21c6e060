"""Committed offsets and classic group metadata of one ``__consumer_offsets`` partition.

`OffsetsState` is sans-IO and changes only through `replay`: operations such as `commit`
return the records to append, and the caller appends them and replays them (as Kafka's
``CoordinatorShard.replay`` and ``CoordinatorResult``), so the log is the single source of
truth and loading a partition is replaying it from the start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from grete.coordinator.group.consumer_records import (
    ConsumerGroupRecordKey,
    ConsumerGroupRecordValue,
)
from grete.coordinator.group.consumer_snapshot import ConsumerGroupReplay
from grete.coordinator.group.consumer_types import ConsumerGroupSnapshot
from grete.coordinator.group.records import (
    GroupMetadataKey,
    GroupMetadataValue,
    OffsetCommitKey,
    OffsetCommitValue,
    UnknownRecordType,
    decode_key,
    decode_value,
    encode_key,
    encode_value,
)

Record = tuple[bytes, bytes | None]
"""A ``__consumer_offsets`` record to append: key bytes, value bytes or None (tombstone)."""

TopicPartition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class CommittedOffset:
    """An offset as OffsetFetch returns it; None for an absent leader epoch or expire timestamp."""

    offset: int
    metadata: str
    commit_timestamp: int
    leader_epoch: int | None = None
    # An explicit retention (OffsetCommit v2-v4) replaces the broker's offsets.retention.minutes.
    expire_timestamp: int | None = None


def offset_commit_record(
    group: str, topic: str, partition: int, committed: CommittedOffset
) -> Record:
    value = OffsetCommitValue(
        offset=committed.offset,
        metadata=committed.metadata,
        commit_timestamp=committed.commit_timestamp,
        leader_epoch=-1 if committed.leader_epoch is None else committed.leader_epoch,
        expire_timestamp=-1 if committed.expire_timestamp is None else committed.expire_timestamp,
    )
    return encode_key(OffsetCommitKey(group, topic, partition)), encode_value(value)


def offset_tombstone(group: str, topic: str, partition: int) -> Record:
    return encode_key(OffsetCommitKey(group, topic, partition)), None


def group_metadata_record(group: str, metadata: GroupMetadataValue) -> Record:
    return encode_key(GroupMetadataKey(group)), encode_value(metadata)


def group_metadata_tombstone(group: str) -> Record:
    return encode_key(GroupMetadataKey(group)), None


class OffsetsState:
    """What replaying one ``__consumer_offsets`` partition in log order has established.

    Invariants: a group is listed while it has a committed offset or classic metadata; a
    tombstone removes exactly its key; a later record for a key replaces the earlier one.
    KIP-848 consumer-group records fold into one `ConsumerGroupReplay` per group, from
    which the loader rebuilds the live groups; unknown record types are counted in
    `skipped` and otherwise ignored, as Kafka's loader does.
    Not thread-safe; called only from the event loop.
    """

    def __init__(self) -> None:
        self._offsets: dict[str, dict[TopicPartition, CommittedOffset]] = {}
        self._metadata: dict[str, GroupMetadataValue] = {}
        self._consumer: dict[str, ConsumerGroupReplay] = {}
        self.skipped = 0

    # ------------------------------------------------------------ replay (the only mutator)

    def replay(self, key: bytes, value: bytes | None) -> None:
        """Applies one record read from (or just appended to) the log."""
        try:
            record_key = decode_key(key)
        except UnknownRecordType:
            self.skipped += 1
            return
        record_value = decode_value(record_key, value)
        if isinstance(record_key, OffsetCommitKey):
            assert record_value is None or isinstance(record_value, OffsetCommitValue)
            self._replay_offset(record_key, record_value)
        elif isinstance(record_key, GroupMetadataKey):
            assert record_value is None or isinstance(record_value, GroupMetadataValue)
            if record_value is None:
                self._metadata.pop(record_key.group, None)
            else:
                self._metadata[record_key.group] = record_value
        else:
            assert not isinstance(record_value, (OffsetCommitValue, GroupMetadataValue))
            self._replay_consumer_group(record_key, record_value)

    def replay_all(self, records: Iterable[Record]) -> None:
        for key, value in records:
            self.replay(key, value)

    def _replay_offset(self, key: OffsetCommitKey, value: OffsetCommitValue | None) -> None:
        tp = (key.topic, key.partition)
        if value is None:
            group_offsets = self._offsets.get(key.group)
            if group_offsets is not None:
                group_offsets.pop(tp, None)
                if not group_offsets:
                    del self._offsets[key.group]
            return
        self._offsets.setdefault(key.group, {})[tp] = CommittedOffset(
            offset=value.offset,
            metadata=value.metadata,
            commit_timestamp=value.commit_timestamp,
            leader_epoch=None if value.leader_epoch < 0 else value.leader_epoch,
            expire_timestamp=None if value.expire_timestamp < 0 else value.expire_timestamp,
        )

    def _replay_consumer_group(
        self, key: ConsumerGroupRecordKey, value: ConsumerGroupRecordValue | None
    ) -> None:
        replay = self._consumer.get(key.group_id)
        if replay is None:
            if value is None:
                return  # a tombstone for a group already gone
            replay = self._consumer[key.group_id] = ConsumerGroupReplay(key.group_id)
        replay.apply(key, value)
        if replay.group_epoch is None and not (replay.members or replay.targets or replay.current):
            del self._consumer[key.group_id]  # fully tombstoned

    # ------------------------------------------------------------ queries

    def consumer_groups(self) -> Iterator[ConsumerGroupSnapshot]:
        """The KIP-848 groups the records describe (a group without its epoch record is not one)."""
        for replay in self._consumer.values():
            snapshot = replay.snapshot()
            if snapshot is not None:
                yield snapshot

    def committed(self, group: str, topic: str, partition: int) -> CommittedOffset | None:
        return self._offsets.get(group, {}).get((topic, partition))

    def committed_offsets(self, group: str) -> dict[TopicPartition, CommittedOffset]:
        """A copy of every offset the group has committed (OffsetFetch with no topics)."""
        return dict(self._offsets.get(group, {}))

    def groups(self) -> Iterator[str]:
        yield from self._metadata
        yield from (g for g in self._offsets if g not in self._metadata)

    def group_metadata(self, group: str) -> GroupMetadataValue | None:
        return self._metadata.get(group)

    # ------------------------------------------------------------ operations (return records)

    def commit(self, group: str, offsets: Mapping[TopicPartition, CommittedOffset]) -> list[Record]:
        """Records committing `offsets`; validation (generation, member, size) is the caller's."""
        return [offset_commit_record(group, topic, p, c) for (topic, p), c in offsets.items()]

    def delete_offsets(self, group: str, partitions: Iterable[TopicPartition]) -> list[Record]:
        """Tombstones for those of `partitions` the group has committed (OffsetDelete)."""
        known = self._offsets.get(group, {})
        return [offset_tombstone(group, topic, p) for topic, p in partitions if (topic, p) in known]

    def delete_group(self, group: str) -> list[Record]:
        """Tombstones for all the group's offsets, then for its metadata (DeleteGroups)."""
        records = [offset_tombstone(group, topic, p) for topic, p in self._offsets.get(group, {})]
        if group in self._metadata:
            records.append(group_metadata_tombstone(group))
        return records

    def expire_offsets(
        self,
        now_ms: int,
        retention_ms: int,
        is_group_empty: Callable[[str], bool] | None = None,
        is_subscribed: Callable[[str, str], bool] | None = None,
    ) -> list[Record]:
        """Tombstones for offsets past ``offsets.retention.minutes`` (Kafka's expiration rules).

        A group with classic metadata expires offsets only while empty (by default: no
        members in its last metadata), counting from when it became empty
        (``current_state_timestamp``) or, for old metadata without it, from each commit. A
        group without classic metadata (a simple consumer, or a KIP-848 group, whose state
        lives elsewhere) expires each offset from its commit, skipping topics for which
        `is_subscribed(group, topic)` holds. An offset with an explicit expire timestamp
        expires then instead. When every offset of an empty classic group has expired (or it
        has none), its metadata is deleted too.
        """
        empty = is_group_empty or (lambda g: not self._metadata[g].members)
        subscribed = is_subscribed or (lambda g, t: False)
        records: list[Record] = []
        for group in list(self.groups()):
            offsets = self._offsets.get(group, {})
            metadata = self._metadata.get(group)
            if metadata is not None and not empty(group):
                continue  # a live classic group keeps its offsets
            empty_since = -1 if metadata is None else metadata.current_state_timestamp
            all_expired = True
            for (topic, partition), c in offsets.items():
                base = c.commit_timestamp if empty_since < 0 else empty_since
                if c.expire_timestamp is not None:
                    expired = now_ms >= c.expire_timestamp
                else:
                    expired = now_ms - base >= retention_ms
                if expired and not subscribed(group, topic):
                    records.append(offset_tombstone(group, topic, partition))
                else:
                    all_expired = False
            if all_expired and metadata is not None:
                records.append(group_metadata_tombstone(group))
        return records
