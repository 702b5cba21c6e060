"""The group coordinator inside a real broker, driven directly with an injected clock."""

from __future__ import annotations

from pathlib import Path

import grete
from grete.clock import ManualClock
from grete.coordinator.group.classic_types import (
    GroupError,
    GroupState,
    JoinRequest,
    MemberAssignment,
    ProtocolMetadata,
    SyncRequest,
)
from grete.coordinator.group.coordinator import OffsetCommitEntry


def broker(tmp_path: Path, clock: ManualClock) -> grete.Broker:
    return grete.Broker(log_dirs=str(tmp_path), listeners="PLAINTEXT://127.0.0.1:0", clock=clock,
                        group_initial_rebalance_delay_ms="0", offsets_topic_num_partitions="5",
                        offsets_retention_minutes="1")


async def test_offsets_survive_a_restart_and_expire_after_retention(tmp_path: Path) -> None:
    clock = ManualClock()
    async with broker(tmp_path, clock) as b:
        b.services.controller.auto_create_topic("t")
        groups = b.services.groups
        assert await groups.commit_offsets("simple", "", -1, None, {("t", 0): OffsetCommitEntry(42, 3, "m")}) is None
        assert groups.fetch_offsets("simple", [("t", 0)])[("t", 0)].offset == 42
    clock.advance(30_000)
    async with broker(tmp_path, clock) as b:
        groups = b.services.groups
        committed = groups.fetch_offsets("simple", [("t", 0)])[("t", 0)]
        assert committed is not None and (committed.offset, committed.leader_epoch, committed.metadata) == (42, 3, "m")
        assert groups.expire_offsets() == 0  # 30 s old, retention 1 minute
        clock.advance(31_000)
        assert groups.expire_offsets() == 1
        assert groups.fetch_offsets("simple", [("t", 0)])[("t", 0)] is None
    async with broker(tmp_path, clock) as b:
        assert b.services.groups.fetch_offsets("simple", [("t", 0)])[("t", 0)] is None


async def test_a_joined_group_is_reloaded_stable_and_fences_stale_commits(tmp_path: Path) -> None:
    clock = ManualClock()
    join = JoinRequest(member_id="", client_id="c", client_host="/h", protocol_type="consumer",
                       protocols=(ProtocolMetadata("range", b"sub"),), session_timeout_ms=30_000,
                       rebalance_timeout_ms=30_000, require_known_member_id=False)
    async with broker(tmp_path, clock) as b:
        b.services.controller.auto_create_topic("t")
        groups = b.services.groups
        joined = await groups.join("g", join)
        assert joined.error is None and joined.leader == joined.member_id and joined.generation_id == 1
        synced = await groups.sync("g", SyncRequest(joined.member_id, 1, assignments=(
            MemberAssignment(joined.member_id, b"assignment"),)))
        assert synced.error is None and synced.assignment == b"assignment"
        entry = {("t", 0): OffsetCommitEntry(7, None, None)}
        assert await groups.commit_offsets("g", joined.member_id, 0, None, entry) is GroupError.ILLEGAL_GENERATION
        assert await groups.commit_offsets("g", joined.member_id, 1, None, entry) is None
        assert groups.delete_group("g") is GroupError.NON_EMPTY_GROUP
    async with broker(tmp_path, clock) as b:
        groups = b.services.groups
        described = groups.describe("g")
        assert described.state is GroupState.STABLE and described.protocol == "range"
        assert [m.member_id for m in described.members] == [joined.member_id]
        assert groups.heartbeat("g", joined.member_id, 1, None) is None
        assert groups.fetch_offsets("g", [("t", 0)])[("t", 0)].offset == 7
        assert groups.leave("g", []).error is None
