"""Reading and appending ``__consumer_offsets`` records, and mapping group snapshots to them.

The coordinator's only contact with the log: it builds one v2 batch per operation
(so an operation's records are appended atomically) and decodes batches when a
partition is loaded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from grete.clock import Clock
from grete.coordinator.group.classic_types import GroupSnapshot, MemberSnapshot
from grete.coordinator.group.offsets import Record, group_metadata_record
from grete.coordinator.group.records import GroupMetadataValue, MemberMetadata
from grete.coordinator.group.wire import Reader
from grete.partition.partition import NotLeader
from grete.partition.replica_manager import ReplicaManager
from grete.records.batch import read_header, split_batches
from grete.records.builder import BatchSpec, build_batch
from grete.records.builder import Record as BatchRecord
from grete.records.record import decode_records

OFFSETS_TOPIC = "__consumer_offsets"
READ_CHUNK_BYTES = 4 * 1024 * 1024


class GroupLog:
    def __init__(self, replicas: ReplicaManager, clock: Clock) -> None:
        self._replicas = replicas
        self._clock = clock

    def read_all(self, index: int) -> Iterator[Record]:
        """Every record of partition ``index`` in log order, control batches skipped."""
        partition = self._replicas.get(OFFSETS_TOPIC, index)
        if partition is None:
            return
        offset = partition.log.log_start_offset
        while offset < partition.log.log_end_offset:
            # Up to the log end: a new leader's log has every committed record (Kafka loads so).
            data = partition.read(offset, READ_CHUNK_BYTES, min_one_batch=True, up_to_log_end=True).records
            if not data:
                return
            for start, end in split_batches(data):
                batch = memoryview(data)[start:end]
                header = read_header(batch)
                offset = header.next_offset
                if header.is_control:
                    continue
                for record in decode_records(batch):
                    if record.key is not None:
                        yield record.key, record.value

    def append(self, index: int, records: list[Record]) -> int:
        """Append one batch as leader; returns the offset after it."""
        partition = self._replicas.get(OFFSETS_TOPIC, index)
        if partition is None:
            raise RuntimeError(f"{OFFSETS_TOPIC}-{index} is not hosted here")
        batch = build_batch(
            [BatchRecord(key, value) for key, value in records],
            BatchSpec(base_timestamp=self._clock.time_ms()),
        )
        info = self._replicas.append(partition, bytearray(batch))
        return info.last_offset + 1

    async def wait_replicated(self, index: int, end: int, timeout_s: float) -> None:
        """Until the partition's high watermark reaches `end`. Raises TimeoutError, NotLeader."""
        partition = self._replicas.get(OFFSETS_TOPIC, index)
        if partition is None:
            raise NotLeader(f"{OFFSETS_TOPIC}-{index}")
        async with asyncio.timeout(timeout_s):
            await self._replicas.wait_committed(partition, end)

    @staticmethod
    def group_record(group_id: str, value: GroupMetadataValue) -> Record:
        return group_metadata_record(group_id, value)


def metadata_value(snapshot: GroupSnapshot) -> GroupMetadataValue:
    return GroupMetadataValue(
        protocol_type=snapshot.protocol_type or "",
        generation=snapshot.generation_id,
        protocol=snapshot.protocol_name,
        leader=snapshot.leader,
        members=tuple(
            MemberMetadata(
                member_id=m.member_id,
                client_id=m.client_id,
                client_host=m.client_host,
                session_timeout=m.session_timeout_ms,
                rebalance_timeout=m.rebalance_timeout_ms,
                subscription=m.subscription,
                assignment=m.assignment,
                group_instance_id=m.group_instance_id,
            )
            for m in snapshot.members
        ),
        current_state_timestamp=snapshot.current_state_timestamp_ms or -1,
    )


def snapshot_of(group_id: str, value: GroupMetadataValue) -> GroupSnapshot:
    return GroupSnapshot(
        group_id=group_id,
        protocol_type=value.protocol_type or None,
        generation_id=value.generation,
        protocol_name=value.protocol,
        leader=value.leader,
        current_state_timestamp_ms=None if value.current_state_timestamp < 0 else value.current_state_timestamp,
        members=tuple(
            MemberSnapshot(
                member_id=m.member_id,
                group_instance_id=m.group_instance_id,
                client_id=m.client_id,
                client_host=m.client_host,
                rebalance_timeout_ms=m.rebalance_timeout,
                session_timeout_ms=m.session_timeout,
                subscription=m.subscription,
                assignment=m.assignment,
            )
            for m in value.members
        ),
    )


def subscription_topics(metadata: bytes) -> set[str]:
    """The topics of a classic member's ConsumerProtocolSubscription (version int16, then
    an int32 count of int16-length strings); empty if the bytes are not one."""
    reader = Reader(metadata)
    try:
        reader.int16()
        return {reader.string() for _ in range(reader.array_length())}
    except ValueError:
        return set()
