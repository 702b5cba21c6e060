"""A broker as a member of a ZooKeeper-coordinated cluster.

It registers itself (ephemeral /brokers/ids/<id>, again after a session expiry), keeps
the cluster view, runs for controller, and turns partition states into roles: a state
naming this broker as leader makes it lead from that leader epoch; any other leader
makes it a follower that fetches from it. A leader maintains its ISR with conditional
writes on the partition state's version (Kafka's ZooKeeper mode): a follower that has
not caught up for `replica.lag.time.max.ms` leaves, one that reached the high watermark
joins. A write that fails on the version means someone (the controller) changed the
state: the next view refresh says what this broker's role is now.

Controlled shutdown: each partition this broker leads hands leadership to the next live
ISR member with the same kind of conditional write (leader epoch + 1, itself out of the
ISR), before the session is closed. Kafka asks the controller with a ControlledShutdown
request; that API left Kafka 4 and kio, and the conditional write gives the same safety.
Event loop only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping

from grete.cluster.controller import partition_settings
from grete.cluster.image import NO_LEADER
from grete.cluster.metadata import new_cluster_id
from grete.cluster.zookeeper import paths
from grete.cluster.zookeeper.client import (
    BadVersion,
    NodeExists,
    NoNode,
    SessionState,
    ZkClient,
    ZkError,
)
from grete.cluster.zookeeper.controller import ZkController
from grete.cluster.zookeeper.stall_fence import StallFence
from grete.cluster.zookeeper.view import ZkClusterView
from grete.cluster.zookeeper.znodes import (
    BrokerRegistration,
    ClusterId,
    EndPoint,
    PartitionState,
    ZNodeFormatError,
)
from grete.config import BrokerConfig
from grete.network.client import ConnectSecurity
from grete.partition.partition import Partition
from grete.partition.replica_fetcher import FetcherConfig, ReplicaFetcherManager
from grete.partition.replica_manager import ReplicaManager
from grete.partition.topic_partition import TopicPartition

log = logging.getLogger("grete.cluster")

HANDOVER_ATTEMPTS = 20


class ZkBroker:
    def __init__(
        self,
        config: BrokerConfig,
        zk: ZkClient,
        replicas: ReplicaManager,
        *,
        local_cluster_id: str | None = None,
        inter_broker_security: ConnectSecurity | None = None,
    ) -> None:
        self.config = config
        self.zk = zk
        self.replicas = replicas
        self.local_id = config.broker_id
        self.view = ZkClusterView(zk, self._on_change)
        self.controller = ZkController(
            zk, self.view, self.local_id,
            unclean_leader_election=config.unclean_leader_election_enable,
            auto_leader_rebalance=config.auto_leader_rebalance_enable,
            leader_imbalance_check_s=float(config.leader_imbalance_check_interval_seconds),
        )
        self.fetchers = ReplicaFetcherManager(
            FetcherConfig(
                local_id=self.local_id,
                max_wait_ms=config.replica_fetch_wait_max_ms,
                max_bytes=config.replica_fetch_response_max_bytes,
                partition_max_bytes=config.replica_fetch_max_bytes,
                backoff_ms=config.replica_fetch_backoff_ms,
                security=inter_broker_security,
            ),
            self._endpoint_of,
        )
        self._local_cluster_id = local_cluster_id
        self.cluster_id = ""
        self._registration = b""
        self._inter_broker_listener = ""
        self._pending_topics: set[str] = set()
        self._apply_wake = asyncio.Event()
        self._isr_writes: set[TopicPartition] = set()
        self._leaders: set[TopicPartition] = set()  # partitions this runtime made leader
        # Told when this broker starts (True) or stops (False) leading a partition.
        self.on_leadership: Callable[[TopicPartition, bool], None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        replicas.on_isr_candidate = self._on_isr_candidate
        self.fence = StallFence(config.zookeeper_session_timeout_ms, self._on_stall)
        self._confirming: asyncio.Task[None] | None = None

    # -- start-up ----------------------------------------------------------------------------

    async def start(self, endpoints: Mapping[str, tuple[str, int]], inter_broker_listener: str) -> None:
        """Connect, agree on the cluster id, register, and take up this broker's roles."""
        timeout_ms = self.config.zookeeper_connection_timeout_ms or self.config.zookeeper_session_timeout_ms
        await self.zk.start(timeout_ms / 1000)
        for path in paths.PERSISTENT_PATHS:
            await self.zk.ensure_path(path)
        self.cluster_id = await self._agree_cluster_id()
        self._inter_broker_listener = inter_broker_listener
        protocols = self.config.security_protocol_map()
        self._registration = BrokerRegistration(
            self.local_id,
            tuple(
                EndPoint(name, host, port, protocols.get(name, "PLAINTEXT"))
                for name, (host, port) in endpoints.items()
            ),
            rack=self.config.broker_rack,
            timestamp_ms=int(time.time() * 1000),
        ).encode()
        self.zk.add_session_listener(self._on_session)
        await self._register()
        await self.view.start()
        self._remove_stray_logs()
        self._tasks.append(asyncio.create_task(self._apply_loop(), name="zk-roles"))
        await self.controller.start()
        self._tasks.append(asyncio.create_task(self._isr_loop(), name="isr"))
        self.fence.start()
        self.replicas.fence = self.fence
        log.info("broker %d joined cluster %s", self.local_id, self.cluster_id)

    async def _agree_cluster_id(self) -> str:
        found = await self.zk.get(paths.CLUSTER_ID)
        if found is None:
            proposed = self._local_cluster_id or new_cluster_id()
            try:
                await self.zk.create(paths.CLUSTER_ID, ClusterId(proposed).encode(), make_parents=True)
                return proposed
            except NodeExists:
                found = await self.zk.get(paths.CLUSTER_ID)
                assert found is not None
        cluster_id = ClusterId.decode(found[0]).id
        if self._local_cluster_id is not None and self._local_cluster_id != cluster_id:
            raise RuntimeError(
                f"this log dir belongs to cluster {self._local_cluster_id}, ZooKeeper holds {cluster_id}"
            )
        return cluster_id

    async def _register(self) -> None:
        """Create /brokers/ids/<id>; a previous session's node goes when that session expires."""
        path = paths.broker_id_path(self.local_id)
        deadline = time.monotonic() + 2 * self.config.zookeeper_session_timeout_ms / 1000 + 5
        while True:
            try:
                await self.zk.create(path, self._registration, ephemeral=True)
                return
            except NodeExists:
                stat = await self.zk.exists(path)
                if stat is not None and stat.ephemeral_owner == self.zk.session_id:
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"broker id {self.local_id} is registered by another broker") from None
                await asyncio.sleep(0.5)

    def _on_session(self, state: SessionState) -> None:
        if state is SessionState.CONNECTED and not self._stopping:
            self._tasks.append(asyncio.create_task(self._reregister(), name="zk-register"))

    async def _reregister(self) -> None:
        with contextlib.suppress(ZkError, RuntimeError):
            await self._register()

    # -- after a stall ------------------------------------------------------------------------

    def _on_stall(self) -> None:
        if self._confirming is None or self._confirming.done():
            self._confirming = asyncio.create_task(self._confirm_leadership(), name="zk-confirm")

    async def _confirm_leadership(self) -> None:
        """Lift the stall fence once ZooKeeper says who leads: the registration belongs to
        the current session (re-registered if the old one expired), then the state of
        every partition this broker led is read on that session and acted on. A state
        naming another leader makes this broker a follower before the fence goes."""
        path = paths.broker_id_path(self.local_id)
        while not self._stopping:
            try:
                stat = await self.zk.exists(path)
                if stat is not None and stat.ephemeral_owner == self.zk.session_id:
                    await self._reread_led_states()
                    self.fence.lift()
                    log.info("ZooKeeper confirmed this broker's roles after the stall: fence lifted")
                    return
            except (ZkError, ZNodeFormatError) as exc:
                log.info("confirming leadership after a stall: %s; retrying", exc)
            await asyncio.sleep(0.2)

    async def _reread_led_states(self) -> None:
        led = [p for p in self.replicas if p.tp in self._leaders]
        found = await asyncio.gather(*(
            self.zk.get(paths.topic_partition_state_path(p.tp.topic, p.tp.partition)) for p in led
        ))
        for partition, stored in zip(led, found, strict=True):
            assignment = self.view.assignment(partition.tp.topic)
            replicas = assignment.partitions.get(partition.tp.partition) if assignment else None
            if stored is None or replicas is None:
                continue  # deleted or reassigned: the view's refresh removes it
            self._take_role(partition, PartitionState.decode(stored[0]), replicas.replicas, stored[1].version)

    def _remove_stray_logs(self) -> None:
        """Logs of partitions no longer assigned here (deleted or moved while this broker
        was down) go before any role is taken, as Kafka's log manager does at start-up."""
        expected: dict[TopicPartition, uuid.UUID] = {}
        for name in self.view.assigned_topics():
            assignment = self.view.assignment(name)
            if assignment is None or assignment.topic_id is None:
                continue
            for index, replicas in assignment.partitions.items():
                if self.local_id in replicas.replicas or self.local_id in replicas.adding_replicas:
                    expected[TopicPartition(name, index)] = assignment.topic_id
        self.replicas.remove_stray_logs(expected)

    def _endpoint_of(self, broker_id: int) -> tuple[str, int] | None:
        broker = self.view.broker(broker_id)
        if broker is None:
            return None
        return broker.endpoint(self._inter_broker_listener) or next(iter(broker.endpoints.values()), None)

    # -- roles -------------------------------------------------------------------------------

    def _on_change(self, topics: set[str], brokers_changed: bool) -> None:
        self._pending_topics |= topics
        if brokers_changed:
            self._pending_topics |= set(self.view.assigned_topics())
        self._apply_wake.set()
        self.controller.on_metadata_change()

    async def _apply_loop(self) -> None:
        while True:
            await self._apply_wake.wait()
            self._apply_wake.clear()
            topics, self._pending_topics = self._pending_topics, set()
            for topic in sorted(topics):
                try:
                    self._apply_topic(topic)
                except Exception:
                    log.exception("taking up the roles for topic %s failed", topic)

    def _apply_topic(self, name: str) -> None:
        topic = self.view.topic(name)
        assignment = self.view.assignment(name)
        hosted = self.replicas.topic_partitions(name)
        if topic is None or assignment is None:
            if hosted and self.view.assignment(name) is None:
                for tp in [TopicPartition(name, p) for p in hosted]:
                    self.fetchers.unfollow(tp)
                self.replicas.remove_topic(name)
                log.info("topic %s deleted: removed its local replicas", name)
            return
        settings = partition_settings(topic, self.config)
        for index, replicas in sorted(assignment.partitions.items()):
            tp = TopicPartition(name, index)
            if self.local_id not in replicas.replicas and self.local_id not in replicas.adding_replicas:
                if index in hosted:  # reassigned away
                    self.fetchers.unfollow(tp)
                    if tp in self._leaders:
                        self._leaders.discard(tp)
                        self._tell(tp, False)
                    self.replicas.remove_partition(tp)
                    log.info("%s: no longer a replica here; log deleted", tp)
                continue
            stored = self.view.partition_state(name, index)
            if stored is None:
                continue
            partition = self.replicas.ensure_partition(tp, topic.topic_id, settings)
            if partition.settings != settings:
                partition.update_settings(settings)
            self._take_role(partition, stored.state, replicas.replicas, stored.version)

    def _take_role(
        self, partition: Partition, state: PartitionState, replicas: tuple[int, ...], version: int
    ) -> None:
        if state.leader_epoch < partition.leader_epoch:
            return  # an older state than the one this broker already acted on
        if state.leader_epoch == partition.leader_epoch and version < partition.partition_epoch:
            return  # older than this leader's own ISR write: the view has not caught up yet
        if state.leader == self.local_id:
            if not partition.is_leader or partition.leader_epoch != state.leader_epoch or \
                    partition.tp not in self._leaders:
                self.fetchers.unfollow(partition.tp)
                partition.log.maybe_assign_epoch_start_offset(state.leader_epoch, partition.log.log_end_offset)
                partition.become_leader(state.leader_epoch, replicas, state.isr, version)
                self._leaders.add(partition.tp)
                self._tell(partition.tp, True)
                log.info("%s: leader at epoch %d, isr %s", partition.tp, state.leader_epoch, list(state.isr))
            else:
                if partition.replicas != replicas:
                    partition.update_replicas(replicas)
                partition.update_isr(state.isr, version)
            return
        if partition.tp in self._leaders:
            self._leaders.discard(partition.tp)
            self._tell(partition.tp, False)
        changed = (
            partition.leader_id != state.leader
            or partition.leader_epoch != state.leader_epoch
            or self.fetchers.following(partition.tp) is None and state.leader != NO_LEADER
        )
        partition.become_follower(state.leader, state.leader_epoch, replicas, state.isr, version)
        if not changed:
            return
        if state.leader == NO_LEADER:
            self.fetchers.unfollow(partition.tp)
        else:
            self.fetchers.follow(partition)
            log.info("%s: following broker %d at epoch %d", partition.tp, state.leader, state.leader_epoch)

    def _tell(self, tp: TopicPartition, leads: bool) -> None:
        if self.on_leadership is not None:
            try:
                self.on_leadership(tp, leads)
            except Exception:
                log.exception("%s: reacting to %s leadership failed", tp, "taking" if leads else "losing")

    # -- ISR ---------------------------------------------------------------------------------

    def _on_isr_candidate(self, partition: Partition, replica: int) -> None:
        if self._stopping or partition.tp in self._isr_writes or replica in partition.isr:
            return
        new_isr = tuple(r for r in partition.replicas if r in partition.isr or r == replica)
        self._isr_writes.add(partition.tp)
        task = asyncio.create_task(self._write_isr(partition, new_isr), name="isr-expand")
        self._tasks.append(task)
        task.add_done_callback(lambda t: self._tasks.remove(t) if t in self._tasks else None)

    async def _isr_loop(self) -> None:
        lag_ms = self.config.replica_lag_time_max_ms
        interval = max(0.1, min(lag_ms / 2000, 2.0))
        while not self._stopping:
            await asyncio.sleep(interval)
            for partition in list(self.replicas):
                if self._stopping:
                    break
                if not partition.is_leader or partition.tp not in self._leaders:
                    continue
                if partition.tp in self._isr_writes:
                    continue
                lagging = partition.lagging_followers(lag_ms)
                if lagging:
                    new_isr = tuple(r for r in partition.isr if r not in lagging)
                    log.info("%s: followers %s fell behind; isr becomes %s", partition.tp, sorted(lagging), list(new_isr))
                    self._isr_writes.add(partition.tp)
                    await self._write_isr(partition, new_isr)

    async def _write_isr(self, partition: Partition, isr: tuple[int, ...]) -> None:
        """The leader's conditional write of its ISR (the partition epoch is the znode version)."""
        tp = partition.tp
        try:
            stored = self.view.partition_state(tp.topic, tp.partition)
            if stored is None or stored.version != partition.partition_epoch or not partition.is_leader:
                return
            state = PartitionState(self.local_id, partition.leader_epoch, isr, stored.state.controller_epoch)
            stat = await self.zk.set(
                paths.topic_partition_state_path(tp.topic, tp.partition), state.encode(), partition.partition_epoch
            )
            if partition.is_leader and partition.leader_epoch == state.leader_epoch:
                partition.update_isr(isr, stat.version)
                log.info("%s: isr now %s", tp, list(isr))
        except (BadVersion, NoNode):
            log.info("%s: the partition state changed meanwhile; the ISR write is dropped", tp)
        except ZkError as exc:
            log.warning("%s: ISR write failed: %s", tp, exc)
        finally:
            self._isr_writes.discard(tp)

    # -- shutdown ----------------------------------------------------------------------------

    async def controlled_shutdown(self, timeout_s: float) -> None:
        """Hand over every leadership this broker holds to a live in-sync follower.

        Each hand-over is a conditional write on the state's version; a write that lost a
        race (an ISR change) re-reads the state from ZooKeeper and tries again, as Kafka's
        controlled.shutdown.max.retries does."""
        deadline = time.monotonic() + timeout_s
        for partition in list(self.replicas):
            if not partition.is_leader or partition.tp not in self._leaders:
                continue
            for _ in range(HANDOVER_ATTEMPTS):
                if time.monotonic() > deadline or await self._hand_over(partition):
                    break
                await asyncio.sleep(0.1)

    async def _hand_over(self, partition: Partition) -> bool:
        """One attempt; True when done or when there is nothing (more) to do."""
        tp = partition.tp
        path = paths.topic_partition_state_path(tp.topic, tp.partition)
        found = await self.zk.get(path)
        if found is None:
            return True
        current = PartitionState.decode(found[0])
        if current.leader != self.local_id:
            return True  # the controller moved it already
        successors = [r for r in current.isr if r != self.local_id and self.view.is_alive(r)]
        if not successors:
            log.info("%s: no live in-sync follower to take over", tp)
            return True
        new_isr = tuple(r for r in current.isr if r != self.local_id)
        state = PartitionState(successors[0], current.leader_epoch + 1, new_isr, current.controller_epoch)
        try:
            stat = await self.zk.set(path, state.encode(), found[1].version)
        except BadVersion:
            return False
        except ZkError as exc:
            log.info("%s: leadership not handed over: %s", tp, exc)
            return True
        self._leaders.discard(tp)
        self._tell(tp, False)
        partition.become_follower(state.leader, state.leader_epoch, partition.replicas, new_isr, stat.version)
        log.info("%s: leadership handed to broker %d (controlled shutdown)", tp, state.leader)
        return True

    async def controlled_shutdown_if_enabled(self) -> None:
        """First step of a graceful stop, while the listeners still serve (controlled.shutdown.enable)."""
        self._stopping = True
        if self.config.controlled_shutdown_enable:
            with contextlib.suppress(ZkError):
                await self.controlled_shutdown(timeout_s=10.0)

    async def stop(self) -> None:
        self._stopping = True
        self.fence.stop()
        if self._confirming is not None:
            self._tasks.append(self._confirming)
        for task in self._tasks:
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.fetchers.shutdown()
        await self.controller.stop()
        await self.view.stop()
        await self.zk.close()


