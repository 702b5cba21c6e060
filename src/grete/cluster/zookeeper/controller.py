"""The cluster controller: elected through ZooKeeper, it alone elects partition leaders.

The broker that creates the ephemeral /controller first is the controller; it then
bumps /controller_epoch with a conditional write. Every partition state it writes goes
in a ZooKeeper `multi` whose first op checks the version of /controller_epoch it set,
so a controller that was deposed (its session expired, another took over) cannot change
anything. Its duties, run on every metadata change and on a timer:

- a new topic's partitions get their first state: the first live replica leads, the live
  replicas are the ISR, leader epoch 0;
- a partition whose leader died gets a new leader from its live ISR (replica order), or
  none (offline) unless `unclean.leader.election.enable`; dead replicas leave the ISR;
  every such change bumps the leader epoch, as Kafka's ZooKeeper controller does;
- topics marked in /admin/delete_topics are deleted;
- with `auto.leader.rebalance.enable`, a preferred replica (first in the assignment) that
  is alive and in sync gets its leadership back.
Event loop only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

from grete.cluster.zookeeper import paths
from grete.cluster.zookeeper.client import (
    BadVersion,
    CheckVersion,
    CreateOp,
    DeleteOp,
    NodeExists,
    NoNode,
    SessionState,
    SetDataOp,
    TransactionFailed,
    ZkClient,
    ZkError,
    ZkOp,
)
from grete.cluster.zookeeper.json_fields import ZNodeFormatError
from grete.cluster.zookeeper.notifications import PartitionReassignment
from grete.cluster.zookeeper.view import StoredState, ZkClusterView
from grete.cluster.zookeeper.znodes import (
    NO_LEADER,
    ControllerRegistration,
    PartitionState,
    ReplicaAssignment,
    TopicAssignment,
    decode_controller_epoch,
    encode_controller_epoch,
)
from grete.tasks import cancel_and_wait, wait_set

log = logging.getLogger("grete.controller")

RECONCILE_INTERVAL_S = 2.0
VIEW_WAIT_S = 5.0


class Deposed(Exception):
    """Another controller (a newer epoch) took over."""


class ZkController:
    def __init__(
        self,
        zk: ZkClient,
        view: ZkClusterView,
        local_id: int,
        *,
        unclean_leader_election: bool = False,
        auto_leader_rebalance: bool = True,
        leader_imbalance_check_s: float = 300.0,
    ) -> None:
        self._zk = zk
        self._view = view
        self._local_id = local_id
        self._unclean = unclean_leader_election
        self._auto_rebalance = auto_leader_rebalance
        self._imbalance_check_s = leader_imbalance_check_s
        self.epoch = 0
        self._epoch_version = -1
        self.active = False
        self._wake = asyncio.Event()
        self._session_changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_rebalance = time.monotonic()

    async def start(self) -> None:
        self._zk.add_session_listener(self._on_session)
        self._task = asyncio.create_task(self._run(), name="controller")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        if self.active:
            self.active = False
            with contextlib.suppress(ZkError):
                await self._zk.delete(paths.CONTROLLER)  # let another broker take over now

    def _on_session(self, state: SessionState) -> None:
        if state is not SessionState.CONNECTED:
            if self.active:
                log.warning("controller %d: ZooKeeper session %s; resigning", self._local_id, state.value)
            self.active = False
        self._session_changed.set()
        self._wake.set()

    def on_metadata_change(self) -> None:
        self._wake.set()

    # -- election ---------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                if await self._elect():
                    await self._serve()
                else:
                    await self._await_vacancy()
            except (Deposed, ZkError) as exc:
                if self.active:
                    log.warning("controller %d stops: %s", self._local_id, exc)
                self.active = False
                await asyncio.sleep(0.2)

    async def _elect(self) -> bool:
        registration = ControllerRegistration(self._local_id, int(time.time() * 1000))
        try:
            await self._zk.create(paths.CONTROLLER, registration.encode(), ephemeral=True)
        except NodeExists:
            found = await self._zk.get(paths.CONTROLLER)
            if found is None or ControllerRegistration.decode(found[0]).broker_id != self._local_id:
                return False
            if found[1].ephemeral_owner != self._zk.session_id:
                return False  # our previous session's node: it goes when that session expires
        self.epoch, self._epoch_version = await self._bump_epoch()
        self.active = True
        log.info("broker %d is the controller (epoch %d)", self._local_id, self.epoch)
        return True

    async def _bump_epoch(self) -> tuple[int, int]:
        while True:
            found = await self._zk.get(paths.CONTROLLER_EPOCH)
            if found is None:
                try:
                    await self._zk.create(paths.CONTROLLER_EPOCH, encode_controller_epoch(1))
                    stat = await self._zk.exists(paths.CONTROLLER_EPOCH)
                    return 1, 0 if stat is None else stat.version
                except NodeExists:
                    continue
            epoch = decode_controller_epoch(found[0]) + 1
            try:
                stat = await self._zk.set(
                    paths.CONTROLLER_EPOCH, encode_controller_epoch(epoch), version=found[1].version
                )
            except BadVersion:
                continue
            return epoch, stat.version

    async def _still_elected(self) -> bool:
        """Whether /controller is still the node this session created (the view may lag
        behind our own election, so it is read directly)."""
        found = await self._zk.get(paths.CONTROLLER)
        return (
            found is not None
            and ControllerRegistration.decode(found[0]).broker_id == self._local_id
            and found[1].ephemeral_owner == self._zk.session_id
        )

    async def _await_vacancy(self) -> None:
        vacant = asyncio.Event()
        stat = await self._zk.exists(paths.CONTROLLER, watch=vacant.set)
        if stat is None:
            return
        self._session_changed.clear()
        waiters = [asyncio.ensure_future(vacant.wait()), asyncio.ensure_future(self._session_changed.wait())]
        try:
            await asyncio.wait(waiters, timeout=RECONCILE_INTERVAL_S * 5, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    # -- duties -----------------------------------------------------------------------------

    async def _serve(self) -> None:
        while self.active:
            self._wake.clear()
            if self._view.controller_id != self._local_id and not await self._still_elected():
                # A successor took over (our session expired), though our own client may
                # not have told us yet. Its epoch fences our writes; resign as well.
                log.warning("controller %d: /controller names another broker; resigning", self._local_id)
                self.active = False
                return
            await self._reconcile()
            await self._delete_marked_topics()
            await self._reassign_from_znode()
            if self._auto_rebalance and time.monotonic() - self._last_rebalance >= self._imbalance_check_s:
                self._last_rebalance = time.monotonic()
                await self.elect_preferred_leaders(None)
            await wait_set(self._wake, RECONCILE_INTERVAL_S)

    async def _reconcile(self) -> None:
        view = self._view
        for topic in view.assigned_topics():
            assignment = view.assignment(topic)
            if assignment is None:
                continue
            for partition, replicas in sorted(assignment.partitions.items()):
                stored = view.partition_state(topic, partition)
                live = [r for r in replicas.replicas if view.is_alive(r)]
                if stored is None:
                    await self._initialize(topic, partition, live)
                    continue
                new = self._after_failures(stored.state, replicas.replicas)
                if new is not None:
                    await self._write_state(topic, partition, new, stored.version)
                elif replicas.adding_replicas or replicas.removing_replicas:
                    await self._maybe_complete_reassignment(topic, partition, replicas, stored)

    def _after_failures(self, state: PartitionState, replicas: Sequence[int]) -> PartitionState | None:
        """The state a partition needs given who is alive now; None if it needs no change."""
        alive = self._view.is_alive
        isr = tuple(r for r in state.isr if alive(r))
        if state.leader != NO_LEADER and alive(state.leader):
            if isr == state.isr:
                return None
            # A dead follower leaves the ISR; the leader stays.
            return PartitionState(state.leader, state.leader_epoch + 1, isr, self.epoch)
        candidates = [r for r in replicas if r in isr]
        if candidates:
            leader = candidates[0]
        elif self._unclean and any(alive(r) for r in replicas):
            leader = next(r for r in replicas if alive(r))
            isr = (leader,)
            log.warning("unclean leader election: broker %d leads with possible data loss", leader)
        else:
            if state.leader == NO_LEADER:
                return None  # already offline; wait for an ISR member to return
            # Offline: keep the last ISR, so that its members can lead when they return.
            return PartitionState(NO_LEADER, state.leader_epoch + 1, state.isr, self.epoch)
        return PartitionState(leader, state.leader_epoch + 1, isr, self.epoch)

    async def _initialize(self, topic: str, partition: int, live: list[int]) -> None:
        state = PartitionState(live[0] if live else NO_LEADER, 0, tuple(live), self.epoch)
        ops: list[ZkOp] = [CheckVersion(paths.CONTROLLER_EPOCH, self._epoch_version)]
        # Parents created without make_parents: if the topic was deleted meanwhile (the view
        # lags), the multi fails rather than bring back an empty /brokers/topics/<t>.
        for parent in (paths.topic_partitions_path(topic), paths.topic_partition_path(topic, partition)):
            if await self._zk.exists(parent) is None:
                ops.append(CreateOp(parent, b""))
        ops.append(CreateOp(paths.topic_partition_state_path(topic, partition), state.encode()))
        try:
            await self._zk.multi(ops)
        except TransactionFailed as exc:
            self._fenced(exc)
            return  # created meanwhile, or the topic is gone: the view will show it
        log.info("%s-%d: leader %d, isr %s", topic, partition, state.leader, list(state.isr))

    async def _write_state(self, topic: str, partition: int, state: PartitionState, version: int) -> bool:
        try:
            await self._zk.multi([
                CheckVersion(paths.CONTROLLER_EPOCH, self._epoch_version),
                SetDataOp(paths.topic_partition_state_path(topic, partition), state.encode(), version),
            ])
        except TransactionFailed as exc:
            self._fenced(exc)
            return False  # changed meanwhile (a leader's ISR write): next round re-reads
        log.info(
            "%s-%d: leader %d, leader epoch %d, isr %s",
            topic, partition, state.leader, state.leader_epoch, list(state.isr),
        )
        return True

    def _fenced(self, exc: TransactionFailed) -> None:
        if exc.failed_index == 0:
            self.active = False
            raise Deposed(f"/controller_epoch moved past epoch {self.epoch}")

    async def elect_preferred_leaders(self, partitions: Sequence[tuple[str, int]] | None) -> dict[tuple[str, int], str | None]:
        """Give leadership back to each partition's preferred replica when it is alive and in
        sync. Returns per partition None (done, or already led by it) or Kafka's error name."""
        view = self._view
        wanted = partitions if partitions is not None else [
            (t, p) for t in view.assigned_topics() for p in view.partition_ids(t)
        ]
        results: dict[tuple[str, int], str | None] = {}
        for topic, partition in wanted:
            assignment = view.assignment(topic)
            stored = view.partition_state(topic, partition)
            if assignment is None or stored is None or partition not in assignment.partitions:
                results[(topic, partition)] = "unknown_topic_or_partition"
                continue
            preferred = assignment.partitions[partition].replicas[0]
            state = stored.state
            if state.leader == preferred:
                results[(topic, partition)] = "election_not_needed"
                continue
            if not view.is_alive(preferred) or preferred not in state.isr:
                results[(topic, partition)] = "preferred_leader_not_available"
                continue
            new = PartitionState(preferred, state.leader_epoch + 1, state.isr, self.epoch)
            done = await self._write_state(topic, partition, new, stored.version)
            results[(topic, partition)] = None if done else "preferred_leader_not_available"
        return results

    # -- reassignment (KIP-455) ----------------------------------------------------------------

    async def reassign(self, topic: str, partition: int, target: Sequence[int] | None) -> tuple[str, str] | None:
        """Start (or, with None, cancel) moving a partition to `target` replicas. The new
        replicas join as followers; once all are in sync the controller finishes the move
        (`_maybe_complete_reassignment`). Returns None or (Kafka error name, message)."""
        assignment = self._view.assignment(topic)
        if assignment is None or partition not in assignment.partitions:
            return "unknown_topic_or_partition", f"{topic}-{partition} does not exist"
        current = assignment.partitions[partition]
        original = tuple(r for r in current.replicas if r not in current.adding_replicas)
        moving = bool(current.adding_replicas or current.removing_replicas)
        if target is None:
            if not moving:
                return "no_reassignment_in_progress", f"{topic}-{partition} is not being reassigned"
            new = ReplicaAssignment(original)
        else:
            wanted = tuple(target)
            if not wanted or len(set(wanted)) != len(wanted):
                return "invalid_replica_assignment", f"replicas {list(wanted)} are empty or repeat a broker"
            dead = [r for r in wanted if not self._view.is_alive(r)]
            if dead:
                return "invalid_replica_assignment", f"brokers {dead} are not alive"
            if wanted == original and not moving:
                return None
            replicas = wanted + tuple(r for r in original if r not in wanted)
            new = ReplicaAssignment(
                replicas,
                adding_replicas=tuple(r for r in wanted if r not in original),
                removing_replicas=tuple(r for r in original if r not in wanted),
            )
        await self._write_assignment(topic, {partition: new})
        log.info("%s-%d: reassignment %s", topic, partition, "cancelled" if target is None else f"to {list(target)}")
        self._wake.set()
        # Answer once this broker's view shows it, so a ListPartitionReassignments that
        # follows sees it (Kafka answers both on the controller's one event thread).
        deadline = time.monotonic() + VIEW_WAIT_S
        while time.monotonic() < deadline:
            now = self._view.assignment(topic)
            if now is not None and now.partitions.get(partition) == new:
                break
            await asyncio.sleep(0.02)
        return None

    async def _maybe_complete_reassignment(
        self, topic: str, partition: int, replicas: ReplicaAssignment, stored: StoredState
    ) -> None:
        target = tuple(r for r in replicas.replicas if r not in replicas.removing_replicas)
        state = stored.state
        if not all(r in state.isr for r in target):
            return  # the new replicas are still catching up
        leader = state.leader
        if leader not in target:
            candidates = [r for r in target if r in state.isr and self._view.is_alive(r)]
            if not candidates:
                return
            leader = candidates[0]
        isr = tuple(r for r in state.isr if r in target)
        if leader != state.leader or isr != state.isr:
            new_state = PartitionState(leader, state.leader_epoch + 1, isr, self.epoch)
            if not await self._write_state(topic, partition, new_state, stored.version):
                return
        await self._write_assignment(topic, {partition: ReplicaAssignment(target)})
        log.info("%s-%d: reassignment to %s complete", topic, partition, list(target))

    async def _write_assignment(self, topic: str, changed: dict[int, ReplicaAssignment]) -> None:
        found = await self._zk.get(paths.topic_path(topic))
        if found is None:
            raise NoNode(paths.topic_path(topic))
        current = TopicAssignment.decode(found[0])
        partitions = dict(current.partitions)
        partitions.update(changed)
        try:
            await self._zk.multi([
                CheckVersion(paths.CONTROLLER_EPOCH, self._epoch_version),
                SetDataOp(paths.topic_path(topic), TopicAssignment(partitions, current.topic_id).encode(), found[1].version),
            ])
        except TransactionFailed as exc:
            self._fenced(exc)
            raise BadVersion(f"{topic} changed meanwhile") from None

    def ongoing_reassignments(self) -> dict[tuple[str, int], ReplicaAssignment]:
        found: dict[tuple[str, int], ReplicaAssignment] = {}
        for topic in self._view.assigned_topics():
            assignment = self._view.assignment(topic)
            for p, r in (assignment.partitions.items() if assignment is not None else ()):
                if r.adding_replicas or r.removing_replicas:
                    found[(topic, p)] = r
        return found

    async def elect_unclean_leaders(self, partitions: Sequence[tuple[str, int]]) -> dict[tuple[str, int], str | None]:
        """ElectLeaders with election type UNCLEAN: a leaderless partition takes any live replica."""
        results: dict[tuple[str, int], str | None] = {}
        for topic, partition in partitions:
            assignment = self._view.assignment(topic)
            stored = self._view.partition_state(topic, partition)
            if assignment is None or stored is None or partition not in assignment.partitions:
                results[(topic, partition)] = "unknown_topic_or_partition"
                continue
            state = stored.state
            if state.leader != NO_LEADER and self._view.is_alive(state.leader):
                results[(topic, partition)] = "election_not_needed"
                continue
            live = [r for r in assignment.partitions[partition].replicas if self._view.is_alive(r)]
            if not live:
                results[(topic, partition)] = "eligible_leaders_not_available"
                continue
            in_sync = [r for r in live if r in state.isr]
            leader = (in_sync or live)[0]
            isr = tuple(in_sync) if in_sync else (leader,)
            done = await self._write_state(topic, partition, PartitionState(leader, state.leader_epoch + 1, isr, self.epoch), stored.version)
            results[(topic, partition)] = None if done else "eligible_leaders_not_available"
        return results

    async def _reassign_from_znode(self) -> None:
        """The legacy request in /admin/reassign_partitions (kafka-reassign-partitions
        --zookeeper): each partition's move starts as with AlterPartitionReassignments, then
        the request znode is deleted, as Kafka's controller does once it took it over."""
        found = await self._zk.get(paths.REASSIGN_PARTITIONS, watch=self._wake.set)
        if found is None:
            return
        try:
            request = PartitionReassignment.decode(found[0])
        except ZNodeFormatError as exc:
            log.warning("ignoring %s: %s", paths.REASSIGN_PARTITIONS, exc)
        else:
            for tp, replicas in request.replicas.items():
                outcome = await self.reassign(tp.topic, tp.partition, replicas)
                if outcome is not None:
                    log.warning("%s-%d: reassignment refused: %s", tp.topic, tp.partition, outcome[1])
        try:
            await self._zk.multi([
                CheckVersion(paths.CONTROLLER_EPOCH, self._epoch_version),
                DeleteOp(paths.REASSIGN_PARTITIONS, found[1].version),
            ])
        except TransactionFailed as exc:
            self._fenced(exc)  # else rewritten meanwhile: the watch brings the new request

    async def _delete_marked_topics(self) -> None:
        """Delete each topic marked in /admin/delete_topics: its assignment subtree, its
        config and the mark, in one multi checked against our epoch (a deposed controller
        deletes nothing). A subtree that changed meanwhile fails the multi; the next round
        tries again."""
        marked = await self._zk.get_children(paths.DELETE_TOPICS, watch=self._wake.set) or []
        for topic in marked:
            ops: list[ZkOp] = [CheckVersion(paths.CONTROLLER_EPOCH, self._epoch_version)]
            ops += [DeleteOp(path) for path in reversed(await self._subtree(paths.topic_path(topic)))]
            if await self._zk.exists(paths.topic_config_path(topic)) is not None:
                ops.append(DeleteOp(paths.topic_config_path(topic)))
            ops.append(DeleteOp(paths.delete_topic_path(topic)))
            try:
                await self._zk.multi(ops)
            except TransactionFailed as exc:
                self._fenced(exc)
                continue
            log.info("deleted topic %s", topic)

    async def _subtree(self, root: str) -> list[str]:
        """``root`` and every znode under it, parents before children; [] if absent."""
        found: list[str] = []
        pending = [root]
        while pending:
            path = pending.pop()
            children = await self._zk.get_children(path)
            if children is None:
                continue
            found.append(path)
            pending += [f"{path}/{child}" for child in children]
        return found
