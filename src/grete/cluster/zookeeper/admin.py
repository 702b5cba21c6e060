"""Topic administration in cluster mode, as Kafka's ZooKeeper-mode AdminZkClient does it.

The broker that receives CreateTopics places the replicas (rack-aware, over the live
brokers) and writes /brokers/topics/<t> (plus /config/topics/<t>); the controller sees
the new topic through its watch and gives each partition its first leader. DeleteTopics
writes /admin/delete_topics/<t>, which the controller carries out. Config changes go to
/config/topics/<t> with a /config/changes notification. Each method returns once
ZooKeeper has the change; `wait_for_*` let the handler wait until this broker's view
shows it, so a client's next Metadata request finds the topic.
Event loop only.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Iterator, Mapping

from grete.cluster.controller import MAX_PARTITIONS, AdminError, NewTopic, checked_topic_configs
from grete.cluster.errors import CoordinationUnavailable
from grete.cluster.metadata import TopicMetadata, new_topic_id
from grete.cluster.placement import PlacementError, assign_replicas
from grete.cluster.topic_names import INTERNAL_TOPICS, collides, topic_name_error
from grete.cluster.zookeeper import paths
from grete.cluster.zookeeper.client import CreateOp, NodeExists, TransactionFailed, ZkClient
from grete.cluster.zookeeper.notifications import ConfigChangeNotification
from grete.cluster.zookeeper.view import ZkClusterView
from grete.cluster.zookeeper.znodes import EntityConfig, ReplicaAssignment, TopicAssignment
from grete.config import BrokerConfig

VIEW_WAIT_S = 10.0


@contextlib.contextmanager
def _zookeeper_answers(what: str) -> Iterator[None]:
    """A ZooKeeper outage fails the admin request with REQUEST_TIMED_OUT (retriable),
    rather than the connection."""
    try:
        yield
    except CoordinationUnavailable as exc:
        raise AdminError("request_timed_out", f"{what}: ZooKeeper did not answer ({exc})") from None


class ZkAdmin:
    def __init__(self, zk: ZkClient, view: ZkClusterView, config: BrokerConfig) -> None:
        self._zk = zk
        self._view = view
        self._config = config
        self._rng = random.Random()

    def _live_racks(self) -> dict[int, str | None]:
        return {b.node_id: b.rack for b in self._view.live_brokers()}

    def _check_new_topic(self, new: NewTopic) -> tuple[dict[int, tuple[int, ...]], dict[str, str]]:
        reason = topic_name_error(new.name)
        if reason is not None:
            raise AdminError("invalid_topic_exception", reason)
        if new.name in self._view or new.name in self._view.assigned_topics():
            raise AdminError("topic_already_exists", f"topic {new.name!r} already exists")
        for existing in self._view.assigned_topics():
            if collides(existing, new.name):
                raise AdminError(
                    "invalid_topic_exception",
                    f"topic {new.name!r} collides with existing topic {existing!r}",
                )
        live = self._live_racks()
        if new.assignments:
            if new.num_partitions != -1 or new.replication_factor != -1:
                raise AdminError(
                    "invalid_request", "both replica assignments and partitions/replication factor were given"
                )
            assignment = {p: tuple(r) for p, r in new.assignments.items()}
            self._check_assignment(assignment, first=0)
        else:
            count = self._config.num_partitions if new.num_partitions == -1 else new.num_partitions
            rf = self._config.default_replication_factor if new.replication_factor == -1 else new.replication_factor
            if count < 1 or count > MAX_PARTITIONS:
                raise AdminError("invalid_partitions", f"number of partitions must be in [1, {MAX_PARTITIONS}]")
            try:
                assignment = assign_replicas(live, count, rf, rng=self._rng)
            except PlacementError as exc:
                raise AdminError("invalid_replication_factor", str(exc)) from None
        return assignment, checked_topic_configs(new.configs)

    def _check_assignment(self, assignment: Mapping[int, tuple[int, ...]], first: int) -> None:
        if sorted(assignment) != list(range(first, first + len(assignment))):
            raise AdminError("invalid_replica_assignment", f"partitions must be numbered from {first}")
        sizes = {len(r) for r in assignment.values()}
        if len(sizes) != 1 or 0 in sizes:
            raise AdminError("invalid_replica_assignment", "every partition needs the same, non-zero number of replicas")
        for replicas in assignment.values():
            if len(set(replicas)) != len(replicas):
                raise AdminError("invalid_replica_assignment", f"duplicate replicas in {list(replicas)}")
            dead = [r for r in replicas if not self._view.is_alive(r)]
            if dead:
                raise AdminError("invalid_replica_assignment", f"replicas {dead} are not live brokers")

    async def create_topic(self, new: NewTopic, *, validate_only: bool = False, internal: bool = False) -> TopicMetadata:
        assignment, configs = self._check_new_topic(new)
        topic_id = new_topic_id()
        first = assignment[min(assignment)]
        topic = TopicMetadata(
            name=new.name, topic_id=topic_id, partitions=len(assignment),
            replication_factor=len(first), configs=configs,
            internal=internal or new.name in INTERNAL_TOPICS,
        )
        if validate_only:
            return topic
        znode = TopicAssignment({p: ReplicaAssignment(r) for p, r in assignment.items()}, topic_id)
        with _zookeeper_answers(f"create topic {new.name!r}"):
            await self._zk.ensure_path(paths.TOPICS)
            await self._zk.ensure_path(paths.config_entity_type_path(paths.CONFIG_TOPICS))
            try:
                # The config first, so that the controller and the brokers see both at once.
                await self._zk.multi([
                    CreateOp(paths.topic_config_path(new.name), EntityConfig(configs).encode()),
                    CreateOp(paths.topic_path(new.name), znode.encode()),
                ])
            except TransactionFailed as exc:
                if isinstance(exc.cause, NodeExists):
                    raise AdminError("topic_already_exists", f"topic {new.name!r} already exists") from None
                raise
        return topic

    async def auto_create_topic(self, name: str) -> TopicMetadata:
        return await self.create_topic(NewTopic(name, -1, -1, {}))

    async def delete_topic(self, name: str) -> TopicMetadata:
        if not self._config.delete_topic_enable:
            raise AdminError("topic_deletion_disabled", "delete.topic.enable is false")
        topic = self._view.topic(name)
        if topic is None:
            raise AdminError("unknown_topic_or_partition", f"topic {name!r} does not exist")
        with _zookeeper_answers(f"delete topic {name!r}"):
            await self._zk.ensure_path(paths.DELETE_TOPICS)
            try:
                await self._zk.create(paths.delete_topic_path(name))
            except NodeExists:
                pass  # already marked
        return topic

    async def create_partitions(
        self, name: str, count: int, assignments: list[list[int]] | None, *, validate_only: bool
    ) -> TopicMetadata:
        topic = self._view.topic(name)
        current = self._view.assignment(name)
        if topic is None or current is None:
            raise AdminError("unknown_topic_or_partition", f"topic {name!r} does not exist")
        if count < topic.partitions:
            raise AdminError(
                "invalid_partitions", f"topic {name!r} has {topic.partitions} partitions; it cannot shrink to {count}"
            )
        if count == topic.partitions:
            raise AdminError("invalid_partitions", f"topic {name!r} already has {count} partitions")
        if count > MAX_PARTITIONS:
            raise AdminError("invalid_partitions", f"number of partitions must be at most {MAX_PARTITIONS}")
        first = topic.partitions
        if assignments is not None:
            if len(assignments) != count - first:
                raise AdminError(
                    "invalid_replica_assignment",
                    f"{len(assignments)} assignments given for {count - first} new partitions",
                )
            added = {first + i: tuple(r) for i, r in enumerate(assignments)}
            self._check_assignment(added, first)
        else:
            try:
                added = assign_replicas(
                    self._live_racks(), count - first, topic.replication_factor,
                    first_partition=first, rng=self._rng,
                )
            except PlacementError as exc:
                raise AdminError("invalid_replication_factor", str(exc)) from None
        if validate_only:
            return topic
        partitions = dict(current.partitions)
        partitions.update({p: ReplicaAssignment(r) for p, r in added.items()})
        with _zookeeper_answers(f"create partitions of {name!r}"):
            stat = await self._zk.get(paths.topic_path(name))
            version = -1 if stat is None else stat[1].version
            await self._zk.set(paths.topic_path(name), TopicAssignment(partitions, current.topic_id).encode(), version)
        return TopicMetadata(topic.name, topic.topic_id, count, topic.replication_factor, topic.configs, topic.internal)

    async def alter_topic_configs(self, name: str, configs: Mapping[str, str | None], *, validate_only: bool) -> None:
        if self._view.topic(name) is None:
            raise AdminError("unknown_topic_or_partition", f"topic {name!r} does not exist")
        new_configs = checked_topic_configs(configs)
        if validate_only:
            return
        path = paths.topic_config_path(name)
        data = EntityConfig(new_configs).encode()
        with _zookeeper_answers(f"alter the configs of {name!r}"):
            if await self._zk.exists(path) is None:
                await self._zk.create(path, data, make_parents=True)
            else:
                await self._zk.set(path, data)
            await self._zk.ensure_path(paths.CONFIG_CHANGES)
            notification = ConfigChangeNotification(f"{paths.CONFIG_TOPICS}/{name}")
            await self._zk.create(paths.config_change_create_path(), notification.encode(), sequence=True)

    async def wait_for_topic(self, name: str, *, present: bool = True, timeout_s: float = VIEW_WAIT_S) -> None:
        """Until this broker's view has (or no longer has) the topic, with partition states."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            topic = self._view.topic(name)
            if not present and topic is None:
                return
            if present and topic is not None and all(
                self._view.partition(name, p) is not None for p in range(topic.partitions)
            ):
                return
            await asyncio.sleep(0.02)
