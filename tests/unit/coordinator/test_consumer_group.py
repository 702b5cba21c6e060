import itertools
import random
import uuid
from collections.abc import Iterable, Sequence

import pytest

from grete.clock import ManualClock
from grete.coordinator.group.consumer_group import ConsumerGroup
from grete.coordinator.group.consumer_records import (
    ConsumerGroupCurrentMemberAssignmentKey,
    ConsumerGroupMemberMetadataKey,
    ConsumerGroupMetadataKey,
    ConsumerGroupRecordKey,
    ConsumerGroupRecordValue,
    ConsumerGroupTargetAssignmentMemberKey,
)
from grete.coordinator.group.consumer_snapshot import (
    ConsumerGroupReplay,
    delta_records,
    snapshot_records,
)
from grete.coordinator.group.consumer_types import (
    UNCHANGED,
    ConsumerGroupConfig,
    ConsumerGroupError,
    ConsumerGroupState,
    DescribedConsumerMember,
    HeartbeatRequest,
    HeartbeatResult,
    MemberState,
    TopicAssignment,
)
from grete.coordinator.group.records import decode_key, decode_value, encode_key, encode_value

REBALANCE_MS = 20_000
SESSION_MS = 45_000
Owned = dict[str, set[int]]


def new_group(clock: ManualClock, max_size: int | None = None) -> ConsumerGroup:
    ids = itertools.count(1)
    config = ConsumerGroupConfig(max_size=max_size)
    return ConsumerGroup("g", clock, config, new_member_id=lambda: f"m{next(ids)}")


def as_owned(assignment: Iterable[TopicAssignment]) -> Owned:
    return {ta.topic: set(ta.partitions) for ta in assignment}


class Client:
    """A consumer as KIP-848 wants it.

    It owns what it was last told plus what it was asked to revoke, until its next
    heartbeat that says what it owns (by then it has committed and let go).
    """

    def __init__(
        self,
        group: ConsumerGroup,
        topics: dict[str, int],
        subscription: Sequence[str],
        instance_id: str | None = None,
        assignor: str | None = None,
    ) -> None:
        self.group, self.topics = group, topics
        self.subscription = list(subscription)
        self.instance_id, self.assignor = instance_id, assignor
        self.member_id, self.epoch = "", 0
        self.owned: Owned = {}
        self.revoking: set[tuple[str, int]] = set()
        self.resubscribe = False

    def heartbeat(self, owned: Owned | None | str = "mine") -> HeartbeatResult:
        joining = self.epoch == 0
        if owned == "mine":
            self.revoking.clear()
        source = self.owned if isinstance(owned, str) else owned or {}
        sent_owned = {t: sorted(ps) for t, ps in source.items()}
        request = HeartbeatRequest(
            member_id=self.member_id,
            member_epoch=self.epoch,
            client_id="client",
            client_host="/127.0.0.1",
            instance_id=self.instance_id,
            rebalance_timeout_ms=REBALANCE_MS if joining else UNCHANGED,
            subscribed_topic_names=self.subscription if joining or self.resubscribe else None,
            server_assignor=self.assignor if joining else None,
            owned_partitions=None if owned is None else sent_owned,
        )
        result = self.group.heartbeat(request, self.topics)
        if result.error is None:
            self.member_id, self.epoch = result.member_id, result.member_epoch
            self.resubscribe = False
            if result.assignment is not None:
                new = as_owned(result.assignment)
                self.revoking |= self._flat(self.owned) - self._flat(new)
                self.owned = new
        return result

    def leave(self, epoch: int = -1) -> HeartbeatResult:
        request = HeartbeatRequest(self.member_id, epoch, instance_id=self.instance_id)
        result = self.group.heartbeat(request, self.topics)
        assert result.error is None
        self.owned, self.epoch, self.revoking = {}, 0, set()
        if epoch == -1:
            self.member_id = ""
        return result

    @staticmethod
    def _flat(owned: Owned) -> set[tuple[str, int]]:
        return {(t, p) for t, ps in owned.items() for p in ps}

    def partitions(self) -> set[tuple[str, int]]:
        """What this consumer holds right now, including what it is still revoking."""
        return self._flat(self.owned) | self.revoking


def flatten(assignment: Iterable[TopicAssignment]) -> set[tuple[str, int]]:
    return {(ta.topic, p) for ta in assignment for p in ta.partitions}


def members(group: ConsumerGroup) -> dict[str, DescribedConsumerMember]:
    return {m.member_id: m for m in group.describe().members}


def check_invariants(group: ConsumerGroup, clients: Iterable[Client]) -> None:
    """No partition is owned by two members, as the coordinator or the clients see it."""
    seen: set[tuple[str, int]] = set()
    for m in group.describe().members:
        owned = flatten(m.assignment) | flatten(m.partitions_pending_revocation)
        assert not owned & seen, f"{m.member_id} shares {owned & seen}"
        seen |= owned
    seen = set()
    described = members(group)
    for client in clients:
        if client.member_id not in described:
            continue
        mine = client.partitions()
        assert not mine & seen, f"client {client.member_id} shares {mine & seen}"
        server = described[client.member_id]
        assert mine <= flatten(server.assignment) | flatten(server.partitions_pending_revocation)
        seen |= mine


def settle(group: ConsumerGroup, clients: Sequence[Client], rounds: int = 10) -> None:
    for _ in range(rounds):
        for client in clients:
            assert client.heartbeat().error is None
            check_invariants(group, clients)
        if group.state is ConsumerGroupState.STABLE:
            return
    raise AssertionError(f"not stable after {rounds} rounds: {group.describe()}")


def counts(clients: Iterable[Client]) -> list[int]:
    return sorted(len(c.partitions()) for c in clients)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def stable_group(
    clock: ManualClock, n: int, partitions: int
) -> tuple[ConsumerGroup, list[Client], dict[str, int]]:
    group = new_group(clock)
    topics = {"t": partitions}
    clients = [Client(group, topics, ["t"]) for _ in range(n)]
    for client in clients:
        client.heartbeat()
    settle(group, clients)
    return group, clients, topics


# -- joining -----------------------------------------------------------------------------------


def test_first_member_gets_everything_at_epoch_one(clock: ManualClock) -> None:
    group = new_group(clock)
    assert group.listing().state is ConsumerGroupState.EMPTY
    client = Client(group, {"t": 3}, ["t"])
    result = client.heartbeat()
    assert (result.error, result.member_id, result.member_epoch) == (None, "m1", 1)
    assert result.heartbeat_interval_ms == 5_000
    assert result.assignment == (TopicAssignment("t", (0, 1, 2)),)
    assert group.state is ConsumerGroupState.STABLE
    assert client.heartbeat().assignment is None  # unchanged: not sent again


def test_three_members_with_uniform_are_balanced(clock: ManualClock) -> None:
    group, clients, _ = stable_group(clock, 3, 8)
    assert counts(clients) == [2, 3, 3]
    assert group.group_epoch == 3 and group.assignment_epoch == 3
    assert all(c.epoch == 3 for c in clients)
    description = group.describe()
    assert description.assignor_name == "uniform"
    assert all(m.assignment == m.target_assignment for m in description.members)
    assert group.listing().state is ConsumerGroupState.STABLE


def test_client_generated_member_id_is_kept(clock: ManualClock) -> None:
    group = new_group(clock)
    client = Client(group, {"t": 1}, ["t"])
    client.member_id = "my-own-id"
    assert client.heartbeat().member_id == "my-own-id"


def test_fourth_member_gets_partitions_only_after_they_are_revoked(clock: ManualClock) -> None:
    group, clients, topics = stable_group(clock, 3, 8)
    before = {c.member_id: c.partitions() for c in clients}
    newcomer = Client(group, topics, ["t"])
    result = newcomer.heartbeat()
    assert result.member_epoch == 4 and result.assignment == ()
    assert group.state is ConsumerGroupState.RECONCILING
    assert members(group)[newcomer.member_id].state is MemberState.UNRELEASED_PARTITIONS
    everyone = [*clients, newcomer]
    target = {m.member_id: flatten(m.target_assignment) for m in group.describe().members}
    movers = [c for c in clients if target[c.member_id] < before[c.member_id]]
    assert len(movers) == 2 and target[newcomer.member_id]
    for mover in movers:
        revoked = before[mover.member_id] - target[mover.member_id]
        result = mover.heartbeat(owned=None)  # owned not said yet: revocation requested
        assert result.member_epoch == 3  # the old epoch until it acknowledges
        assert (
            result.assignment is not None and flatten(result.assignment) == target[mover.member_id]
        )
        check_invariants(group, everyone)
        assert members(group)[mover.member_id].state is MemberState.UNREVOKED_PARTITIONS
        assert newcomer.heartbeat().assignment is None  # still held back
        assert not newcomer.partitions() & revoked
        assert mover.heartbeat(owned=None).member_epoch == 3  # unknown owned: no acknowledgement
        assert mover.heartbeat().member_epoch == 4  # acknowledged
        check_invariants(group, everyone)
        result = newcomer.heartbeat()
        assert result.assignment is not None and revoked <= flatten(result.assignment)
        check_invariants(group, everyone)
    settle(group, everyone)
    assert counts(everyone) == [2, 2, 2, 2]
    assert newcomer.partitions() == target[newcomer.member_id]


# -- leaving -----------------------------------------------------------------------------------


def test_leave_reassigns_the_partitions_at_once(clock: ManualClock) -> None:
    group, clients, _ = stable_group(clock, 3, 6)
    leaver = clients.pop()
    result = leaver.leave()
    assert (result.error, result.member_epoch) == (None, -1)
    assert group.group_epoch == 4 and len(group.member_ids()) == 2
    for client in clients:
        result = client.heartbeat()
        assert result.member_epoch == 4 and result.assignment is not None  # nothing to revoke
    assert group.state is ConsumerGroupState.STABLE
    assert counts(clients) == [3, 3]


def test_last_member_leaving_empties_the_group(clock: ManualClock) -> None:
    group, clients, _ = stable_group(clock, 1, 2)
    clients[0].leave()
    assert group.state is ConsumerGroupState.EMPTY
    assert group.listing().group_type == "consumer"


def test_session_expiry_removes_the_silent_member(clock: ManualClock) -> None:
    group, clients, _ = stable_group(clock, 3, 6)
    silent = clients.pop()
    assert group.next_deadline() == pytest.approx(SESSION_MS / 1000)
    clock.advance(30_000)
    for client in clients:
        client.heartbeat()
    assert group.poll() == []
    clock.advance(15_000)
    assert group.poll() == [silent.member_id]
    assert group.group_epoch == 4
    assert group.next_deadline() == pytest.approx(75.0)
    settle(group, clients)
    assert counts(clients) == [3, 3]


def test_rebalance_timeout_removes_a_member_that_never_revokes(clock: ManualClock) -> None:
    group, clients, topics = stable_group(clock, 1, 4)
    stubborn = clients[0]
    kept = {t: set(ps) for t, ps in stubborn.owned.items()}
    newcomer = Client(group, topics, ["t"])
    newcomer.heartbeat()
    assert stubborn.heartbeat(owned=kept).member_epoch == 1  # asked to revoke two
    deadline = group.next_deadline()
    assert deadline == pytest.approx(REBALANCE_MS / 1000)
    for _ in range(3):  # keeps heartbeating, keeps owning them
        clock.advance(REBALANCE_MS // 4)
        assert stubborn.heartbeat(owned=kept).member_epoch == 1
        assert newcomer.heartbeat().assignment is None
        assert group.poll() == []
    clock.advance(REBALANCE_MS // 4)
    assert group.poll() == [stubborn.member_id]
    result = newcomer.heartbeat()
    assert result.assignment is not None and flatten(result.assignment) == {
        ("t", p) for p in range(4)
    }
    assert stubborn.heartbeat().error is ConsumerGroupError.UNKNOWN_MEMBER_ID


# -- fencing and validation --------------------------------------------------------------------


def test_stale_and_future_epochs_are_fenced(clock: ManualClock) -> None:
    group, clients, _ = stable_group(clock, 2, 4)
    client = clients[0]
    assert client.epoch == 2
    for bad in (3, 1):
        request = HeartbeatRequest(client.member_id, bad, owned_partitions={"t": [9]})
        result = group.heartbeat(request, client.topics)
        assert result.error is ConsumerGroupError.FENCED_MEMBER_EPOCH
    unknown = HeartbeatRequest("nobody", 2)
    assert group.heartbeat(unknown, {}).error is ConsumerGroupError.UNKNOWN_MEMBER_ID


def test_previous_epoch_is_accepted_when_the_response_was_lost(clock: ManualClock) -> None:
    group, clients, _ = stable_group(clock, 2, 4)
    first = clients[0]
    assert first.epoch == 2  # it went from 1 to 2 when the second member came
    owned = {t: sorted(ps) for t, ps in first.owned.items()}
    retry = HeartbeatRequest(first.member_id, 1, owned_partitions=owned)
    result = group.heartbeat(retry, first.topics)
    assert (result.error, result.member_epoch) == (None, 2)
    not_said = HeartbeatRequest(first.member_id, 1)
    assert group.heartbeat(not_said, first.topics).error is ConsumerGroupError.FENCED_MEMBER_EPOCH


def test_fenced_member_rejoins_with_epoch_zero(clock: ManualClock) -> None:
    group, clients, _ = stable_group(clock, 2, 4)
    client = clients[0]
    client.owned, client.epoch, client.revoking = {}, 0, set()  # as a fenced consumer does
    result = client.heartbeat()
    assert result.error is None and result.member_epoch == 2
    assert result.assignment is not None and len(flatten(result.assignment)) == 2
    assert group.state is ConsumerGroupState.STABLE and group.group_epoch == 2


@pytest.mark.parametrize(
    ("request_", "error"),
    [
        (HeartbeatRequest("", 0, rebalance_timeout_ms=1), ConsumerGroupError.INVALID_REQUEST),
        (HeartbeatRequest("", 0, subscribed_topic_names=["t"]), ConsumerGroupError.INVALID_REQUEST),
        (
            HeartbeatRequest(
                "",
                0,
                rebalance_timeout_ms=1,
                subscribed_topic_names=["t"],
                owned_partitions={"t": [0]},
            ),
            ConsumerGroupError.INVALID_REQUEST,
        ),
        (HeartbeatRequest("", 3), ConsumerGroupError.INVALID_REQUEST),
        (HeartbeatRequest("m", -2), ConsumerGroupError.INVALID_REQUEST),
        (HeartbeatRequest("m", -3), ConsumerGroupError.INVALID_REQUEST),
        (
            HeartbeatRequest(
                "",
                0,
                rebalance_timeout_ms=1,
                subscribed_topic_names=["t"],
                server_assignor="sticky",
            ),
            ConsumerGroupError.UNSUPPORTED_ASSIGNOR,
        ),
        (HeartbeatRequest("m", -1), ConsumerGroupError.UNKNOWN_MEMBER_ID),
    ],
)
def test_malformed_heartbeats_are_refused(
    clock: ManualClock, request_: HeartbeatRequest, error: ConsumerGroupError
) -> None:
    group = new_group(clock)
    assert group.heartbeat(request_, {"t": 1}).error is error
    assert group.group_epoch == 0 and group.member_ids() == []


def test_group_max_size(clock: ManualClock) -> None:
    group = new_group(clock, max_size=1)
    Client(group, {"t": 1}, ["t"]).heartbeat()
    result = Client(group, {"t": 1}, ["t"]).heartbeat()
    assert result.error is ConsumerGroupError.GROUP_MAX_SIZE_REACHED


def test_validate_commit(clock: ManualClock) -> None:
    group = new_group(clock)
    assert group.validate_commit("", -1) is None  # a simple consumer, empty group
    group, clients, _ = stable_group(clock, 2, 4)
    client = clients[0]
    assert group.validate_commit(client.member_id, client.epoch) is None
    assert (
        group.validate_commit(client.member_id, client.epoch - 1)
        is ConsumerGroupError.STALE_MEMBER_EPOCH
    )
    assert group.validate_commit("ghost", 1) is ConsumerGroupError.UNKNOWN_MEMBER_ID
    assert group.validate_commit("", -1) is ConsumerGroupError.UNKNOWN_MEMBER_ID


# -- static membership -------------------------------------------------------------------------


def test_static_member_rejoins_without_a_rebalance(clock: ManualClock) -> None:
    group = new_group(clock)
    topics = {"t": 6}
    static = Client(group, topics, ["t"], instance_id="i-1")
    clients = [static, Client(group, topics, ["t"]), Client(group, topics, ["t"])]
    for client in clients:
        client.heartbeat()
    settle(group, clients)
    epoch, old_id, old_owned = group.group_epoch, static.member_id, static.owned
    assert static.leave(epoch=-2).member_epoch == -2
    assert group.group_epoch == epoch and old_id in group.member_ids()
    clock.advance(10_000)
    reborn = Client(group, topics, ["t"], instance_id="i-1")
    result = reborn.heartbeat()
    assert result.error is None and result.member_id != old_id
    assert result.member_epoch == epoch and reborn.owned == old_owned
    assert group.group_epoch == epoch and old_id not in group.member_ids()
    assert group.state is ConsumerGroupState.STABLE
    assert [c.heartbeat().member_epoch for c in clients[1:]] == [epoch, epoch]
    static.member_id, static.epoch = old_id, epoch  # the old incarnation, back from the dead
    assert static.heartbeat().error is ConsumerGroupError.FENCED_INSTANCE_ID


def test_static_instance_id_in_use_is_unreleased(clock: ManualClock) -> None:
    group = new_group(clock)
    Client(group, {"t": 2}, ["t"], instance_id="i-1").heartbeat()
    result = Client(group, {"t": 2}, ["t"], instance_id="i-1").heartbeat()
    assert result.error is ConsumerGroupError.UNRELEASED_INSTANCE_ID


def test_static_member_that_never_returns_expires(clock: ManualClock) -> None:
    group, clients, topics = stable_group(clock, 1, 2)
    static = Client(group, topics, ["t"], instance_id="i-1")
    static.heartbeat()
    settle(group, [clients[0], static])
    static.leave(epoch=-2)
    clock.advance(SESSION_MS - 1_000)
    clients[0].heartbeat()
    assert group.poll() == []
    clock.advance(1_000)
    assert group.poll() == [static.member_id]
    settle(group, clients)
    assert counts(clients) == [2]


# -- subscriptions, metadata, assignors --------------------------------------------------------


def test_partitions_added_bump_the_epoch(clock: ManualClock) -> None:
    group, clients, topics = stable_group(clock, 2, 2)
    topics["t"] = 4
    assert group.update_metadata(topics) and group.group_epoch == 3
    assert not group.update_metadata(topics)
    settle(group, clients)
    assert counts(clients) == [2, 2]


def test_subscription_change_moves_partitions(clock: ManualClock) -> None:
    group = new_group(clock)
    topics = {"a": 2, "b": 2}
    x, y = Client(group, topics, ["a"]), Client(group, topics, ["a"])
    x.heartbeat(), y.heartbeat()
    settle(group, [x, y])
    y.subscription, y.resubscribe = ["a", "b"], True
    y.heartbeat()
    settle(group, [x, y])
    assert {t for t, _ in x.partitions()} == {"a"}
    assert ("b", 0) in y.partitions() and ("b", 1) in y.partitions()
    assert members(group)[y.member_id].subscribed_topic_names == ("a", "b")


def test_range_assignor_chosen_by_the_members(clock: ManualClock) -> None:
    group = new_group(clock)
    topics = {"x": 3, "y": 3}
    clients = [Client(group, topics, ["x", "y"], assignor="range") for _ in range(2)]
    for client in clients:
        client.heartbeat()
    settle(group, clients)
    assert group.describe().assignor_name == "range"
    assert clients[0].owned == {"x": {0, 1}, "y": {0, 1}}
    assert clients[1].owned == {"x": {2}, "y": {2}}


# -- churn -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seed", "assignor"), [(1, "uniform"), (2, "uniform"), (3, "range"), (4, "range")]
)
def test_random_churn_never_shares_a_partition(
    clock: ManualClock, seed: int, assignor: str
) -> None:
    rng = random.Random(seed)
    group = new_group(clock)
    topics = {"a": 5, "b": 3}
    clients: list[Client] = []
    for step in range(400):
        roll = rng.random()
        if roll < 0.1 and len(clients) < 6:
            subscription = rng.choice([["a"], ["b"], ["a", "b"]])
            clients.append(Client(group, topics, subscription, assignor=assignor))
            assert clients[-1].heartbeat().error is None
        elif roll < 0.15 and clients:
            clients.pop(rng.randrange(len(clients))).leave()
        elif roll < 0.18 and clients:
            client = rng.choice(clients)
            client.subscription, client.resubscribe = rng.choice([["a"], ["b"], ["a", "b"]]), True
            assert client.heartbeat().error is None
        elif roll < 0.2:
            topic = rng.choice(["a", "b"])
            topics[topic] = min(topics[topic] + 1, 12)
        elif clients:
            client = rng.choice(clients)
            assert client.heartbeat(owned=rng.choice(["mine", "mine", None])).error is None
        clock.advance(rng.randrange(0, 2_000))
        if step % 5 == 0:  # live consumers heartbeat well within their timeouts
            for client in clients:
                assert client.heartbeat().error is None
                check_invariants(group, clients)
        assert group.poll() == []
        check_invariants(group, clients)
    settle(group, clients, rounds=20)
    wanted = {(t, p) for c in clients for t in c.subscription for p in range(topics[t])}
    assigned = [p for c in clients for p in c.partitions()]
    assert len(assigned) == len(set(assigned)) and set(assigned) == wanted
    assert all(c.epoch == group.group_epoch for c in clients)


# -- persistence -------------------------------------------------------------------------------


def through_bytes(
    records: Iterable[tuple[ConsumerGroupRecordKey, ConsumerGroupRecordValue | None]],
) -> ConsumerGroupReplay:
    replay = ConsumerGroupReplay("g")
    for key, value in records:
        decoded_key = decode_key(encode_key(key))
        decoded_value = decode_value(decoded_key, encode_value(value))
        assert decoded_key == key and decoded_value == value
        replay.apply(key, value)
    return replay


def test_snapshot_survives_records_and_a_reload_mid_rebalance(clock: ManualClock) -> None:
    group, clients, topics = stable_group(clock, 3, 8)
    topics["u"] = 2
    static = Client(group, topics, ["t", "u"], instance_id="i-9", assignor="range")
    static.heartbeat()
    clients[0].heartbeat(owned=None)  # asked to revoke, not yet acknowledged
    everyone = [*clients, static]
    assert any(m.state is MemberState.UNREVOKED_PARTITIONS for m in group.describe().members)
    topic_ids = {name: uuid.uuid5(uuid.NAMESPACE_DNS, name) for name in topics}
    snapshot = group.snapshot()
    replayed = through_bytes(snapshot_records(snapshot, topic_ids)).snapshot()
    assert replayed == snapshot
    reloaded = ConsumerGroup.from_snapshot(snapshot, clock)
    assert reloaded.describe() == group.describe()
    assert reloaded.next_deadline() == pytest.approx(clock.monotonic() + REBALANCE_MS / 1000)
    for client in everyone:
        client.group = reloaded
    settle(reloaded, everyone)
    assert reloaded.group_epoch == group.group_epoch
    assert reloaded.describe().assignor_name == "range"  # the only vote cast
    assert counts(everyone) == [2, 2, 2, 4]  # t in ranges of two; u all to its subscriber


def test_replay_honours_tombstones(clock: ManualClock) -> None:
    group, clients, _ = stable_group(clock, 2, 2)
    gone = clients[0].member_id
    records = snapshot_records(group.snapshot(), {"t": uuid.uuid4()})
    replay = through_bytes(records)
    for key in (
        ConsumerGroupCurrentMemberAssignmentKey("g", gone),
        ConsumerGroupTargetAssignmentMemberKey("g", gone),
        ConsumerGroupMemberMetadataKey("g", gone),
    ):
        replay.apply(key, None)
    snapshot = replay.snapshot()
    assert snapshot is not None
    assert [m.member_id for m in snapshot.members] == [clients[1].member_id]
    replay.apply(ConsumerGroupMetadataKey("g"), None)
    assert replay.snapshot() is None


def test_delta_records_keep_a_replay_equal_to_the_live_group_through_churn(clock: ManualClock) -> None:
    """What the coordinator writes after each step (only what changed) replays to the group."""
    rng = random.Random(848)
    group = new_group(clock)
    topics = {"t": 6, "u": 3}
    topic_ids = {name: uuid.uuid5(uuid.NAMESPACE_DNS, name) for name in topics}
    replay = ConsumerGroupReplay("g")
    written = None
    clients: list[Client] = []
    writes = 0

    def persist() -> int:
        nonlocal written
        snapshot = group.snapshot()
        records = delta_records(written, snapshot, topic_ids)
        for key, value in records:
            replay.apply(decode_key(encode_key(key)), decode_value(key, encode_value(value)))
        written = snapshot
        assert replay.snapshot() == snapshot
        return len(records)

    for _ in range(300):
        action = rng.random()
        if action < 0.15 or not clients:
            clients.append(Client(group, topics, rng.sample(["t", "u"], rng.randint(1, 2))))
            clients[-1].heartbeat()
        elif action < 0.25:
            clients.pop(rng.randrange(len(clients))).leave()
        elif action < 0.3:
            clock.advance(SESSION_MS + 1000)  # everyone silent: the sessions expire
            while group.poll():
                pass
            assert group.describe().members == ()
            clients = []
        else:
            rng.choice(clients).heartbeat(owned=rng.choice(["mine", None]))
        writes += persist()
    assert writes > 0
    if clients:
        assert persist() == 0, "a heartbeat that changes nothing writes nothing"
        clients[0].heartbeat()
        assert persist() == 0
    for client in clients:
        client.leave()
    persist()
    tombstones = delta_records(written, None, topic_ids)
    assert tombstones and all(value is None for _, value in tombstones)
    assert isinstance(tombstones[-1][0], ConsumerGroupMetadataKey), "the group epoch goes last"
    for key, value in tombstones:
        replay.apply(key, value)
    assert replay.snapshot() is None
