"""Every broker's picture of the cluster, kept current by ZooKeeper watches.

`ZkClusterView` reads Kafka's layout: live brokers (/brokers/ids), the controller
(/controller), topics and their replica assignments (/brokers/topics/<t>), each
partition's leader, leader epoch and ISR (.../partitions/<p>/state) and topic configs
(/config/topics/<t>). A watch only marks what to re-read; one task re-reads the marked
znodes (setting the next watch) and then tells the broker which topics changed, so
the broker reacts to a consistent batch. The Metadata handler answers from this view,
so every broker answers the same within a watch round trip after a change.

It also serves as the handlers' topic catalog (`topic`, `topic_by_id`, `topics`), as
the embedded MetadataStore does on a single node. Event loop only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from grete.cluster.image import NO_LEADER, BrokerInfo, PartitionInfo
from grete.cluster.metadata import TopicMetadata
from grete.cluster.topic_names import INTERNAL_TOPICS
from grete.cluster.zookeeper import paths
from grete.cluster.zookeeper.client import SessionState, ZkClient, ZkError
from grete.cluster.zookeeper.json_fields import ZNodeFormatError
from grete.cluster.zookeeper.znodes import (
    BrokerRegistration,
    ControllerRegistration,
    EntityConfig,
    PartitionState,
    TopicAssignment,
)
from grete.tasks import cancel_and_wait

log = logging.getLogger("grete.cluster")

Key = tuple[str, ...]
ChangeListener = Callable[[set[str], bool], None]
"""(topics whose assignment or partition states changed, whether the live brokers changed)."""


@dataclass(frozen=True, slots=True)
class StoredState:
    """A partition state as read, with its znode version (the partition epoch)."""

    state: PartitionState
    version: int


class ZkClusterView:
    def __init__(self, zk: ZkClient, on_change: ChangeListener | None = None) -> None:
        self._zk = zk
        self._on_change = on_change
        self._brokers: dict[int, BrokerInfo] = {}
        self._controller_id = NO_LEADER
        self._assignments: dict[str, TopicAssignment] = {}
        self._configs: dict[str, dict[str, str]] = {}
        self._states: dict[tuple[str, int], StoredState] = {}
        self._topics: dict[str, TopicMetadata] = {}
        self._by_id: dict[uuid.UUID, TopicMetadata] = {}
        self._dirty: set[Key] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.version = 0  # bumped on every change, as MetadataStore.version
        self.loaded = asyncio.Event()

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self._zk.add_session_listener(self._on_session)
        self._mark(("brokers",), ("controller",), ("topics",))
        self._task = asyncio.create_task(self._refresh_loop(), name="zk-view")
        await self.loaded.wait()

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    def _on_session(self, state: SessionState) -> None:
        if state is SessionState.CONNECTED:
            # After an expiry every watch is gone: read everything again.
            keys: list[Key] = [("brokers",), ("controller",), ("topics",)]
            for topic in self._assignments:
                keys += [("topic", topic), ("config", topic)]
            keys += [("state", t, str(p)) for t, p in self._states]
            self._mark(*keys)

    def _mark(self, *keys: Key) -> None:
        self._dirty.update(keys)
        self._wake.set()

    def _watch(self, *key: str) -> Callable[[], None]:
        return lambda: self._mark(key)

    async def _refresh_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            dirty, self._dirty = self._dirty, set()
            changed: set[str] = set()
            brokers_changed = False
            try:
                for key in sorted(dirty, key=_order):
                    topic, brokers = await self._refresh(key)
                    if topic is not None:
                        changed.add(topic)
                    brokers_changed |= brokers
            except ZkError as exc:
                log.warning("re-reading ZooKeeper: %s; retrying", exc)
                self._dirty |= dirty
                await asyncio.sleep(0.5)
                self._wake.set()
                continue
            if changed or brokers_changed:
                self._rebuild_topics(changed)
                self.version += 1
            if not self._dirty:
                self.loaded.set()
            if (changed or brokers_changed) and self._on_change is not None:
                try:
                    self._on_change(changed, brokers_changed)
                except Exception:
                    log.exception("reacting to a metadata change failed")

    async def _refresh(self, key: Key) -> tuple[str | None, bool]:
        kind = key[0]
        if kind == "brokers":
            ids = await self._zk.get_children(paths.BROKER_IDS, watch=self._watch("brokers")) or []
            live = {int(i) for i in ids if i.isdigit()}
            gone = set(self._brokers) - live
            for broker_id in gone:
                del self._brokers[broker_id]
            for broker_id in live - set(self._brokers):
                self._mark(("broker", str(broker_id)))
            return None, bool(gone)
        if kind == "broker":
            broker_id = int(key[1])
            found = await self._zk.get(paths.broker_id_path(broker_id))
            if found is None:
                return None, self._brokers.pop(broker_id, None) is not None
            try:
                registration = BrokerRegistration.decode(broker_id, found[0])
            except ZNodeFormatError as exc:
                log.warning("ignoring broker %d's registration: %s", broker_id, exc)
                return None, False
            self._brokers[broker_id] = BrokerInfo(
                broker_id,
                {e.listener_name: (e.host or "", e.port) for e in registration.endpoints},
                registration.rack,
            )
            return None, True
        if kind == "controller":
            found = await self._zk.get(paths.CONTROLLER, watch=self._watch("controller"))
            controller = NO_LEADER
            if found is not None:
                with contextlib.suppress(ZNodeFormatError):
                    controller = ControllerRegistration.decode(found[0]).broker_id
            changed = controller != self._controller_id
            self._controller_id = controller
            return None, changed
        if kind == "topics":
            names = set(await self._zk.get_children(paths.TOPICS, watch=self._watch("topics")) or [])
            for deleted in set(self._assignments) - names:
                self._forget_topic(deleted)
                self._rebuild_topics({deleted})
                if self._on_change is not None:
                    self._on_change({deleted}, False)
            for name in names - set(self._assignments):
                self._mark(("topic", name), ("config", name))
            return None, False
        if kind == "topic":
            return await self._refresh_topic(key[1]), False
        if kind == "config":
            topic = key[1]
            found = await self._zk.get(paths.topic_config_path(topic), watch=self._watch("config", topic))
            config: dict[str, str] = {}
            if found is not None:
                with contextlib.suppress(ZNodeFormatError):
                    config = dict(EntityConfig.decode(found[0]).config)
            if self._configs.get(topic) == config:
                return None, False
            self._configs[topic] = config
            return topic, False
        # ("state", topic, partition)
        topic, partition = key[1], int(key[2])
        if topic not in self._assignments:
            return None, False
        path = paths.topic_partition_state_path(topic, partition)
        found = await self._zk.get(path, watch=self._watch("state", topic, str(partition)))
        old = self._states.get((topic, partition))
        if found is None:
            if old is None:
                return None, False
            del self._states[(topic, partition)]
            return topic, False
        try:
            state = PartitionState.decode(found[0])
        except ZNodeFormatError as exc:
            log.warning("ignoring the state of %s-%d: %s", topic, partition, exc)
            return None, False
        stored = StoredState(state, found[1].version)
        if old == stored:
            return None, False
        self._states[(topic, partition)] = stored
        return topic, False

    async def _refresh_topic(self, topic: str) -> str | None:
        found = await self._zk.get(paths.topic_path(topic), watch=self._watch("topic", topic))
        if found is None:
            if topic in self._assignments:
                self._forget_topic(topic)
                return topic
            return None
        try:
            assignment = TopicAssignment.decode(found[0])
        except ZNodeFormatError as exc:
            log.warning("ignoring topic %s: %s", topic, exc)
            return None
        old = self._assignments.get(topic)
        self._assignments[topic] = assignment
        for partition in assignment.partitions:
            if (topic, partition) not in self._states:
                self._mark(("state", topic, str(partition)))
        return topic if old != assignment else None

    def _forget_topic(self, topic: str) -> None:
        self._assignments.pop(topic, None)
        self._configs.pop(topic, None)
        for tp in [tp for tp in self._states if tp[0] == topic]:
            del self._states[tp]

    def _rebuild_topics(self, changed: set[str]) -> None:
        for name in changed:
            old = self._topics.pop(name, None)
            if old is not None:
                self._by_id.pop(old.topic_id, None)
            assignment = self._assignments.get(name)
            if assignment is None or assignment.topic_id is None or not assignment.partitions:
                continue
            first = assignment.partitions[min(assignment.partitions)]
            topic = TopicMetadata(
                name=name,
                topic_id=assignment.topic_id,
                partitions=len(assignment.partitions),
                replication_factor=len(first.replicas),
                configs=dict(self._configs.get(name, {})),
                internal=name in INTERNAL_TOPICS,
            )
            self._topics[name] = topic
            self._by_id[topic.topic_id] = topic

    # -- ClusterView ------------------------------------------------------------------------

    @property
    def controller_id(self) -> int:
        return self._controller_id

    def live_brokers(self) -> Sequence[BrokerInfo]:
        return list(self._brokers.values())

    def broker(self, node_id: int) -> BrokerInfo | None:
        return self._brokers.get(node_id)

    def is_alive(self, node_id: int) -> bool:
        return node_id in self._brokers

    def partition(self, topic: str, index: int) -> PartitionInfo | None:
        assignment = self._assignments.get(topic)
        stored = self._states.get((topic, index))
        if assignment is None or stored is None or index not in assignment.partitions:
            return None
        replicas = assignment.partitions[index].replicas
        state = stored.state
        offline = tuple(r for r in replicas if r not in self._brokers)
        leader = state.leader if state.leader in self._brokers else NO_LEADER
        return PartitionInfo(leader, state.leader_epoch, replicas, state.isr, offline)

    def partition_state(self, topic: str, index: int) -> StoredState | None:
        return self._states.get((topic, index))

    def assignment(self, topic: str) -> TopicAssignment | None:
        return self._assignments.get(topic)

    def partition_ids(self, topic: str) -> list[int]:
        assignment = self._assignments.get(topic)
        return [] if assignment is None else sorted(assignment.partitions)

    def assigned_topics(self) -> list[str]:
        return list(self._assignments)

    # -- topic catalog (as MetadataStore) ---------------------------------------------------

    def topic(self, name: str) -> TopicMetadata | None:
        return self._topics.get(name)

    def topic_by_id(self, topic_id: uuid.UUID) -> TopicMetadata | None:
        return self._by_id.get(topic_id)

    def topics(self) -> Iterator[TopicMetadata]:
        return iter(list(self._topics.values()))

    def __contains__(self, name: object) -> bool:
        return name in self._topics


def _order(key: Key) -> tuple[int, Key]:
    """Lists before members: a topic is known before its partition states are read."""
    rank = {"brokers": 0, "broker": 1, "controller": 2, "topics": 3, "topic": 4, "config": 5}
    return rank.get(key[0], 6), key
