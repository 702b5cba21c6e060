import itertools
from collections.abc import Sequence

import pytest

from grete.clock import ManualClock
from grete.coordinator.group.classic import ClassicGroup
from grete.coordinator.group.classic_rebalance import IllegalGroupTransition
from grete.coordinator.group.classic_types import (
    ClassicGroupConfig,
    Completion,
    GroupError,
    GroupState,
    JoinCompletion,
    JoinedMember,
    JoinRequest,
    JoinResult,
    LeavingMember,
    MemberAssignment,
    Pending,
    ProtocolMetadata,
    SyncCompletion,
    SyncRequest,
    SyncResult,
)

SESSION_MS = 10_000
REBALANCE_MS = 30_000


def protocols(*names: str) -> tuple[ProtocolMetadata, ...]:
    return tuple(ProtocolMetadata(name, f"{name}:meta".encode()) for name in names)


def new_group(clock: ManualClock, delay_ms: int = 0, max_size: int | None = None) -> ClassicGroup:
    ids = itertools.count(1)
    config = ClassicGroupConfig(initial_rebalance_delay_ms=delay_ms, max_size=max_size)
    return ClassicGroup("g", clock, config, new_uuid=lambda: f"u{next(ids)}")


def request(
    client: str,
    member_id: str = "",
    names: Sequence[str] = ("range",),
    instance: str | None = None,
    v4: bool = True,
    protocol_type: str = "consumer",
    session_ms: int = SESSION_MS,
    rebalance_ms: int = REBALANCE_MS,
) -> JoinRequest:
    return JoinRequest(
        member_id=member_id,
        client_id=client,
        client_host="/127.0.0.1",
        protocol_type=protocol_type,
        protocols=protocols(*names),
        session_timeout_ms=session_ms,
        rebalance_timeout_ms=rebalance_ms,
        group_instance_id=instance,
        require_known_member_id=v4,
    )


def first_join(
    group: ClassicGroup,
    client: str,
    instance: str | None = None,
    names: Sequence[str] = ("range",),
    rebalance_ms: int = REBALANCE_MS,
) -> Pending:
    """A new member's join, through MEMBER_ID_REQUIRED for dynamic members."""
    result = group.join(request(client, names=names, instance=instance, rebalance_ms=rebalance_ms))
    if instance is None:
        assert isinstance(result, JoinResult)
        assert result.error is GroupError.MEMBER_ID_REQUIRED
        retry = request(client, result.member_id, names, rebalance_ms=rebalance_ms)
        result = group.join(retry)
    assert isinstance(result, Pending)
    return result


def rejoin(
    group: ClassicGroup,
    member_id: str,
    names: Sequence[str] = ("range",),
    instance: str | None = None,
) -> JoinResult | Pending:
    return group.join(request("c", member_id, names, instance))


def expected_join(member_id: str, generation: int, leader: str, members: list[str]) -> JoinResult:
    joined = tuple(JoinedMember(m, None, b"range:meta") for m in members)
    return JoinResult(
        None,
        member_id,
        generation,
        "consumer",
        "range",
        leader,
        joined if member_id == leader else (),
    )


def state_of(group: ClassicGroup) -> GroupState:
    """The state, read through a call so mypy does not narrow it across mutations."""
    return group.state


def joins(completions: list[Completion]) -> dict[str, JoinResult]:
    return {c.member_id: c.result for c in completions if isinstance(c, JoinCompletion)}


def syncs(completions: list[Completion]) -> dict[str, SyncResult]:
    return {c.member_id: c.result for c in completions if isinstance(c, SyncCompletion)}


def assignment_of(member_id: str) -> bytes:
    return f"assignment:{member_id}".encode()


def sync_all(group: ClassicGroup) -> None:
    """Followers sync first, then the leader assigns; the group ends Stable."""
    leader = group.leader_id
    assert leader is not None
    generation = group.generation_id
    for member_id in group.member_ids():
        if member_id != leader:
            assert isinstance(group.sync(SyncRequest(member_id, generation)), Pending)
    assignments = tuple(MemberAssignment(m, assignment_of(m)) for m in group.member_ids())
    result = group.sync(SyncRequest(leader, generation, assignments=assignments))
    assert result == SyncResult(None, assignment_of(leader), "consumer", "range")
    group.poll()
    assert state_of(group) is GroupState.STABLE


def stable_group(
    clock: ManualClock, clients: Sequence[str] = ("a", "b"), instances: Sequence[str] = ()
) -> ClassicGroup:
    group = new_group(clock)
    for client in clients:
        first_join(group, client)
    for instance in instances:
        first_join(group, instance, instance=instance)
    assert len(joins(group.poll())) == len(clients) + len(instances)
    sync_all(group)
    return group


def test_full_join_sync_cycle_with_three_members() -> None:
    clock = ManualClock()
    group = new_group(clock, delay_ms=3_000)
    tickets = [first_join(group, client) for client in ("a", "b", "c")]
    assert state_of(group) is GroupState.PREPARING_REBALANCE
    assert group.poll() == []
    clock.advance(3_000)  # b and c arrived during the delay: it is extended once
    assert group.poll() == []
    clock.advance(3_000)
    completions = group.poll()
    assert [c.ticket for c in completions] == [t.ticket for t in tickets]
    results = joins(completions)
    assert list(results) == ["a-u1", "b-u2", "c-u3"]
    leader = results["a-u1"]
    assert leader.generation_id == 1 and leader.leader == "a-u1"
    assert leader.protocol_type == "consumer" and leader.protocol_name == "range"
    assert [(m.member_id, m.metadata) for m in leader.members] == [
        ("a-u1", b"range:meta"),
        ("b-u2", b"range:meta"),
        ("c-u3", b"range:meta"),
    ]
    for follower in ("b-u2", "c-u3"):
        assert results[follower].leader == "a-u1" and results[follower].members == ()
    assert state_of(group) is GroupState.COMPLETING_REBALANCE

    follower_ticket = group.sync(SyncRequest("b-u2", 1))
    assert isinstance(follower_ticket, Pending)
    assignments = (MemberAssignment("a-u1", b"A"), MemberAssignment("b-u2", b"B"))
    leader_sync = group.sync(SyncRequest("a-u1", 1, assignments=assignments))
    assert leader_sync == SyncResult(None, b"A", "consumer", "range")
    assert state_of(group) is GroupState.STABLE and group.persist_due
    assert syncs(group.poll()) == {"b-u2": SyncResult(None, b"B", "consumer", "range")}
    # c syncs late: Stable answers at once, with the empty assignment the leader gave it.
    assert group.sync(SyncRequest("c-u3", 1)) == SyncResult(None, b"", "consumer", "range")
    assert [group.heartbeat(m, 1) for m in ("a-u1", "b-u2", "c-u3")] == [None, None, None]


def test_member_id_required_only_for_kip_394_clients() -> None:
    clock = ManualClock()
    group = new_group(clock)
    first = group.join(request("a"))
    assert first == JoinResult(GroupError.MEMBER_ID_REQUIRED, "a-u1")
    assert group.heartbeat("a-u1", 0) is GroupError.UNKNOWN_MEMBER_ID  # pending, not a member
    old_client = group.join(request("b", v4=False))
    assert isinstance(old_client, Pending)
    assert group.member_ids() == ["b-u2"]
    # The pending id expires after its session timeout and is unknown afterwards.
    clock.advance(SESSION_MS)
    assert joins(group.poll()) == {"b-u2": expected_join("b-u2", 1, "b-u2", ["b-u2"])}
    assert rejoin(group, "a-u1") == JoinResult(GroupError.UNKNOWN_MEMBER_ID, "a-u1")


def test_new_member_rebalances_a_stable_group_and_waits_for_everyone() -> None:
    clock = ManualClock()
    group = stable_group(clock)
    first_join(group, "c")
    assert state_of(group) is GroupState.PREPARING_REBALANCE
    assert group.heartbeat("a-u1", 1) is GroupError.REBALANCE_IN_PROGRESS
    assert group.sync(SyncRequest("b-u2", 1)) == SyncResult(GroupError.REBALANCE_IN_PROGRESS)
    assert isinstance(rejoin(group, "a-u1"), Pending)
    assert group.poll() == []  # b has not rejoined yet
    assert isinstance(rejoin(group, "b-u2"), Pending)
    results = joins(group.poll())
    assert results["a-u1"] == expected_join("a-u1", 2, "a-u1", ["a-u1", "b-u2", "c-u3"])
    assert results["c-u3"] == expected_join("c-u3", 2, "a-u1", [])
    assert state_of(group) is GroupState.COMPLETING_REBALANCE


def test_rebalance_timeout_removes_members_that_did_not_rejoin() -> None:
    clock = ManualClock()
    group = stable_group(clock, ("a", "b", "c"))
    assert isinstance(rejoin(group, "b-u2", names=("range", "roundrobin")), Pending)
    clock.advance(REBALANCE_MS - 1)
    assert group.heartbeat("c-u3", 1) is GroupError.REBALANCE_IN_PROGRESS
    assert group.poll() == []
    clock.advance(1)
    # a (the leader) and c never rejoined: dropped, and b leads generation 2 alone.
    assert joins(group.poll()) == {"b-u2": expected_join("b-u2", 2, "b-u2", ["b-u2"])}
    assert group.member_ids() == ["b-u2"] and group.leader_id == "b-u2"
    assert group.heartbeat("a-u1", 1) is GroupError.UNKNOWN_MEMBER_ID


def test_initial_delay_is_extended_while_members_arrive_up_to_the_rebalance_timeout() -> None:
    clock = ManualClock()
    group = new_group(clock, delay_ms=3_000)
    first_join(group, "m0", rebalance_ms=10_000)
    for step, client in enumerate(("m1", "m2", "m3")):
        clock.advance(2_500)  # a newcomer inside every delay window
        first_join(group, client, rebalance_ms=10_000)
        clock.advance(500)
        assert group.poll() == [], step
    clock.advance(999)  # t = 9_999: delays 3_000 + 3_000 + 3_000 + the last 1_000
    assert group.poll() == []
    clock.advance(1)
    assert len(joins(group.poll())) == 4
    assert group.generation_id == 1


def test_initial_delay_without_newcomers_completes_after_one_delay() -> None:
    clock = ManualClock()
    group = new_group(clock, delay_ms=3_000)
    first_join(group, "a")
    assert isinstance(rejoin(group, "a-u1"), Pending)  # even all members joined: wait the delay
    clock.advance(2_999)
    completions = group.poll()
    assert len(completions) == 1  # the superseded first join only
    assert completions[0].result == JoinResult(GroupError.REBALANCE_IN_PROGRESS, "a-u1")
    clock.advance(1)
    assert joins(group.poll()) == {"a-u1": expected_join("a-u1", 1, "a-u1", ["a-u1"])}


def test_session_expiry_removes_the_member_and_rebalances() -> None:
    clock = ManualClock()
    group = stable_group(clock)
    clock.advance(SESSION_MS // 2)
    assert group.heartbeat("a-u1", 1) is None
    assert group.next_deadline() == SESSION_MS / 1000
    clock.advance(SESSION_MS // 2)
    assert group.poll() == []
    assert group.member_ids() == ["a-u1"] and state_of(group) is GroupState.PREPARING_REBALANCE
    assert isinstance(rejoin(group, "a-u1"), Pending)
    assert joins(group.poll()) == {"a-u1": expected_join("a-u1", 2, "a-u1", ["a-u1"])}
    assert group.heartbeat("b-u2", 1) is GroupError.UNKNOWN_MEMBER_ID


def test_follower_that_never_syncs_is_removed_after_the_rebalance_timeout() -> None:
    clock = ManualClock()
    group = new_group(clock)
    first_join(group, "a")
    first_join(group, "b")
    group.poll()
    result = group.sync(SyncRequest("a-u1", 1, assignments=(MemberAssignment("a-u1", b"A"),)))
    assert result == SyncResult(None, b"A", "consumer", "range")
    clock.advance(REBALANCE_MS)
    assert group.heartbeat("a-u1", 1) is None  # within a's own session
    assert group.poll() == []
    assert group.member_ids() == ["a-u1"] and state_of(group) is GroupState.PREPARING_REBALANCE


def test_leave_and_batch_leave_trigger_a_rebalance() -> None:
    clock = ManualClock()
    group = stable_group(clock, ("a", "b", "c"), instances=("s",))
    assert group.member_ids() == ["a-u1", "b-u2", "c-u3", "s-u4"]
    leaving = (
        LeavingMember("b-u2"),
        LeavingMember(group_instance_id="s"),
        LeavingMember("nobody"),
        LeavingMember("c-u3", group_instance_id="x"),
    )
    result = group.leave(leaving)
    assert result.error is None
    assert [error for _, error in result.members] == [
        None,
        None,
        GroupError.UNKNOWN_MEMBER_ID,
        GroupError.UNKNOWN_MEMBER_ID,
    ]
    assert state_of(group) is GroupState.PREPARING_REBALANCE
    assert group.member_ids() == ["a-u1", "c-u3"]
    assert group.leave([LeavingMember("c-u3")]).members[0][1] is None
    assert isinstance(rejoin(group, "a-u1"), Pending)
    assert joins(group.poll()) == {"a-u1": expected_join("a-u1", 2, "a-u1", ["a-u1"])}


def test_last_member_leaving_empties_the_group_with_a_new_generation() -> None:
    clock = ManualClock()
    group = stable_group(clock, ("a",))
    group.persist_due = False
    group.leave([LeavingMember("a-u1")])
    assert state_of(group) is GroupState.EMPTY and group.generation_id == 2
    assert group.persist_due and group.snapshot().members == ()
    assert group.validate_commit("", -1) is None  # a simple consumer may commit now


def test_generation_fencing_for_sync_heartbeat_and_commit() -> None:
    clock = ManualClock()
    group = stable_group(clock)
    assert group.sync(SyncRequest("b-u2", 0)) == SyncResult(GroupError.ILLEGAL_GENERATION)
    assert group.heartbeat("b-u2", 0) is GroupError.ILLEGAL_GENERATION
    assert group.validate_commit("b-u2", 0) is GroupError.ILLEGAL_GENERATION
    assert group.validate_commit("b-u2", 1) is None
    assert group.validate_commit("zz", 1) is GroupError.UNKNOWN_MEMBER_ID
    assert group.validate_commit("", -1) is GroupError.UNKNOWN_MEMBER_ID  # not Empty
    assert group.sync(SyncRequest("b-u2", 1, protocol_type="connect")) == SyncResult(
        GroupError.INCONSISTENT_GROUP_PROTOCOL
    )
    assert group.sync(SyncRequest("b-u2", 1, protocol_name="sticky")) == SyncResult(
        GroupError.INCONSISTENT_GROUP_PROTOCOL
    )
    first_join(group, "c")  # PreparingRebalance: generation 1 may still commit
    assert group.validate_commit("b-u2", 1) is None
    rejoin(group, "a-u1")
    rejoin(group, "b-u2")
    group.poll()
    assert group.generation_id == 2 and state_of(group) is GroupState.COMPLETING_REBALANCE
    assert group.validate_commit("b-u2", 2) is GroupError.REBALANCE_IN_PROGRESS
    assert group.validate_commit("b-u2", 1) is GroupError.ILLEGAL_GENERATION
    assert group.heartbeat("b-u2", 2) is None
    assert group.heartbeat("b-u2", 1) is GroupError.ILLEGAL_GENERATION


def test_protocol_vote_and_mismatch() -> None:
    clock = ManualClock()
    group = new_group(clock)
    first_join(group, "a", names=("roundrobin", "range"))
    first_join(group, "b", names=("roundrobin", "range"))
    first_join(group, "c", names=("range", "roundrobin"))
    assert group.join(request("d", names=("sticky",))) == JoinResult(
        GroupError.INCONSISTENT_GROUP_PROTOCOL
    )
    assert group.join(request("d", protocol_type="connect")) == JoinResult(
        GroupError.INCONSISTENT_GROUP_PROTOCOL
    )
    assert group.join(request("d", names=())) == JoinResult(GroupError.INCONSISTENT_GROUP_PROTOCOL)
    results = joins(group.poll())
    assert {r.protocol_name for r in results.values()} == {"roundrobin"}  # two votes to one
    leader_view = results["a-u1"].members
    assert [m.metadata for m in leader_view] == [b"roundrobin:meta"] * 3
    # c drops roundrobin: range is the only protocol left that everyone supports.
    assert isinstance(rejoin(group, "c-u3", names=("range",)), Pending)
    rejoin(group, "a-u1", names=("roundrobin", "range"))
    rejoin(group, "b-u2", names=("roundrobin", "range"))
    assert {r.protocol_name for r in joins(group.poll()).values()} == {"range"}


def test_static_member_restart_keeps_generation_and_fences_the_old_id() -> None:
    clock = ManualClock()
    group = stable_group(clock, ("a",), instances=("s",))
    group.persist_due = False
    result = group.join(request("s", instance="s"))
    assert result == JoinResult(None, "s-u3", 1, "consumer", "range", "a-u1", ())
    assert state_of(group) is GroupState.STABLE and group.generation_id == 1 and group.persist_due
    assert group.heartbeat("s-u2", 1, "s") is GroupError.FENCED_INSTANCE_ID
    assert group.validate_commit("s-u2", 1, "s") is GroupError.FENCED_INSTANCE_ID
    assert group.sync(SyncRequest("s-u2", 1, "s")) == SyncResult(GroupError.FENCED_INSTANCE_ID)
    sync = group.sync(SyncRequest("s-u3", 1, "s"))
    assert sync == SyncResult(None, assignment_of("s-u2"), "consumer", "range")  # kept
    assert group.heartbeat("s-u3", 1, "s") is None
    assert [m.member_id for m in group.snapshot().members] == ["a-u1", "s-u3"]


def test_static_leader_restart_is_not_told_it_leads() -> None:
    clock = ManualClock()
    group = stable_group(clock, (), instances=("s", "t"))
    assert group.leader_id == "s-u1"
    result = group.join(request("s", instance="s"))
    assert isinstance(result, JoinResult) and result.member_id == "s-u3"
    assert result.leader == "s-u1" and result.members == ()  # the old id: no reassignment
    assert group.leader_id == "s-u3" and state_of(group) is GroupState.STABLE


def test_static_member_restart_with_a_new_protocol_choice_rebalances() -> None:
    clock = ManualClock()
    group = stable_group(clock, (), instances=("s",))
    assert isinstance(group.join(request("s", names=("sticky",), instance="s")), Pending)
    # The sole member rejoined with a protocol the group does not use: a new generation.
    assert state_of(group) is GroupState.COMPLETING_REBALANCE and group.generation_id == 2
    assert joins(group.poll())["s-u2"].protocol_name == "sticky"


def test_static_member_restart_during_completing_rebalance_fences_the_waiting_sync() -> None:
    clock = ManualClock()
    group = new_group(clock)
    first_join(group, "a")
    first_join(group, "s", instance="s")
    group.poll()
    waiting = group.sync(SyncRequest("s-u2", 1, "s"))
    assert isinstance(waiting, Pending)
    assert isinstance(group.join(request("s", instance="s")), Pending)
    assert state_of(group) is GroupState.PREPARING_REBALANCE
    completions = group.poll()
    assert syncs(completions) == {"s-u2": SyncResult(GroupError.FENCED_INSTANCE_ID)}
    assert completions[0].ticket == waiting.ticket
    assert group.sync(SyncRequest("s-u3", 1, "s")) == SyncResult(GroupError.REBALANCE_IN_PROGRESS)


def test_static_member_that_does_not_rejoin_stays_until_its_session_expires() -> None:
    clock = ManualClock()
    group = stable_group(clock, ("a",), instances=("s",))
    first_join(group, "b")
    rejoin(group, "a-u1")
    for _ in range(3):  # s keeps heartbeating but never rejoins within the rebalance timeout
        clock.advance(REBALANCE_MS // 3)
        assert group.heartbeat("s-u2", 1, "s") is GroupError.REBALANCE_IN_PROGRESS
    results = joins(group.poll())
    assert group.generation_id == 2
    assert [m.member_id for m in results["a-u1"].members] == ["a-u1", "s-u2", "b-u3"]
    assert group.heartbeat("s-u2", 1, "s") is GroupError.ILLEGAL_GENERATION  # must rejoin
    clock.advance(SESSION_MS)
    assert [group.heartbeat(m, 2) for m in ("a-u1", "b-u3")] == [None, None]
    group.poll()
    assert group.member_ids() == ["a-u1", "b-u3"]
    assert state_of(group) is GroupState.PREPARING_REBALANCE


def test_group_max_size_and_session_timeout_bounds() -> None:
    clock = ManualClock()
    group = new_group(clock, max_size=2)
    first_join(group, "a")
    first_join(group, "b")
    assert group.join(request("c", v4=False)) == JoinResult(GroupError.GROUP_MAX_SIZE_REACHED)
    assert group.join(request("c", session_ms=1)) == JoinResult(GroupError.INVALID_SESSION_TIMEOUT)
    assert isinstance(rejoin(group, "a-u1"), Pending)  # members may still rejoin


def test_describe_and_list() -> None:
    clock = ManualClock()
    group = stable_group(clock, ("a",), instances=("s",))
    described = group.describe()
    assert (described.group_id, described.state, described.protocol_type) == (
        "g",
        GroupState.STABLE,
        "consumer",
    )
    assert described.protocol == "range"
    assert [
        (m.member_id, m.group_instance_id, m.client_id, m.client_host) for m in described.members
    ] == [
        ("a-u1", None, "a", "/127.0.0.1"),
        ("s-u2", "s", "s", "/127.0.0.1"),
    ]
    assert described.members[1].metadata == b"range:meta"
    assert described.members[1].assignment == assignment_of("s-u2")
    listing = group.listing()
    assert (listing.group_id, listing.protocol_type, listing.state) == (
        "g",
        "consumer",
        GroupState.STABLE,
    )
    first_join(group, "b")
    rebalancing = group.describe()
    assert rebalancing.state is GroupState.PREPARING_REBALANCE and rebalancing.protocol == ""
    assert {m.metadata for m in rebalancing.members} == {b""}
    assert group.listing().state.value == "PreparingRebalance"


def test_snapshot_round_trip_loads_a_stable_group() -> None:
    clock = ManualClock()
    group = stable_group(clock, ("a",), instances=("s",))
    snapshot = group.snapshot()
    assert (snapshot.generation_id, snapshot.protocol_name, snapshot.leader) == (1, "range", "a-u1")
    assert snapshot.members[1].subscription == b"range:meta"
    assert snapshot.members[1].assignment == assignment_of("s-u2")
    loaded = ClassicGroup.from_snapshot(snapshot, clock)
    assert loaded.state is GroupState.STABLE and loaded.snapshot() == snapshot
    assert loaded.heartbeat("s-u2", 1, "s") is None
    synced = loaded.sync(SyncRequest("a-u1", 1))
    assert synced == SyncResult(None, assignment_of("a-u1"), "consumer", "range")


def test_delete_only_an_empty_group_and_dead_is_final() -> None:
    clock = ManualClock()
    group = stable_group(clock, ("a",))
    assert group.delete() is GroupError.NON_EMPTY_GROUP
    group.leave([LeavingMember("a-u1")])
    assert group.delete() is None and state_of(group) is GroupState.DEAD
    assert group.delete() is GroupError.GROUP_ID_NOT_FOUND
    assert group.join(request("a")) == JoinResult(GroupError.COORDINATOR_NOT_AVAILABLE)
    assert group.validate_commit("", -1) is GroupError.COORDINATOR_NOT_AVAILABLE


def test_illegal_transitions_are_refused() -> None:
    group = new_group(ManualClock())
    with pytest.raises(IllegalGroupTransition):
        group._transition(GroupState.STABLE)


def test_a_pending_member_id_holds_the_join_until_it_rejoins_or_expires() -> None:
    clock = ManualClock()
    group = stable_group(clock)
    first_join(group, "c")
    assert group.join(request("d")) == JoinResult(GroupError.MEMBER_ID_REQUIRED, "d-u4")
    rejoin(group, "a-u1")
    rejoin(group, "b-u2")
    assert group.poll() == []  # d-u4 was told its id and may still come back
    assert group.leave([LeavingMember("d-u4")]).members[0][1] is None
    assert set(joins(group.poll())) == {"a-u1", "b-u2", "c-u3"}
    assert group.generation_id == 2


def test_leader_that_never_syncs_is_removed_and_waiting_followers_are_told_to_rejoin() -> None:
    clock = ManualClock()
    group = new_group(clock)
    first_join(group, "a")
    first_join(group, "b")
    group.poll()
    waiting = group.sync(SyncRequest("b-u2", 1))
    assert isinstance(waiting, Pending)
    clock.advance(REBALANCE_MS)
    completions = group.poll()
    assert syncs(completions) == {"b-u2": SyncResult(GroupError.REBALANCE_IN_PROGRESS)}
    assert group.member_ids() == ["b-u2"] and group.leader_id == "b-u2"
    assert state_of(group) is GroupState.PREPARING_REBALANCE


def test_a_pending_member_id_cannot_take_a_claimed_instance_id() -> None:
    clock = ManualClock()
    group = stable_group(clock, ("a",), instances=("s",))
    assert group.join(request("x")) == JoinResult(GroupError.MEMBER_ID_REQUIRED, "x-u3")
    claimed = group.join(request("x", "x-u3", instance="s"))
    assert claimed == JoinResult(GroupError.FENCED_INSTANCE_ID, "x-u3")
    assert group.member_ids() == ["a-u1", "s-u2"]


def test_unload_fails_waiting_requests_and_kills_the_group() -> None:
    clock = ManualClock()
    group = stable_group(clock)
    waiting = rejoin(group, "a-u1")
    assert isinstance(waiting, Pending)
    group.unload()
    completions = group.poll()
    assert [(c.ticket, c.result.error) for c in completions] == [
        (waiting.ticket, GroupError.NOT_COORDINATOR)
    ]
    assert state_of(group) is GroupState.DEAD and group.next_deadline() is None
    assert group.heartbeat("b-u2", 1) is GroupError.COORDINATOR_NOT_AVAILABLE
