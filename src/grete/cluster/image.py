"""What the handlers know about the cluster: live brokers, the controller, each partition's
leader, replicas and ISR.

`ClusterView` is read by the Metadata, DescribeCluster and FindCoordinator handlers and by
the produce / fetch paths (is this broker the leader?). A single node is `LocalCluster`:
itself, leading every partition. Cluster mode keeps a view fed by ZooKeeper watches.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from grete.cluster.metadata import TopicMetadata

NO_LEADER = -1


@dataclass(frozen=True, slots=True)
class BrokerInfo:
    node_id: int
    endpoints: Mapping[str, tuple[str, int]]  # listener name -> advertised (host, port)
    rack: str | None = None

    def endpoint(self, listener: str) -> tuple[str, int] | None:
        return self.endpoints.get(listener)


@dataclass(frozen=True, slots=True)
class PartitionInfo:
    leader: int  # NO_LEADER while offline
    leader_epoch: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    offline: tuple[int, ...] = field(default=())


class ClusterView(Protocol):
    @property
    def controller_id(self) -> int: ...

    def live_brokers(self) -> Sequence[BrokerInfo]: ...

    def broker(self, node_id: int) -> BrokerInfo | None: ...

    def partition(self, topic: str, index: int) -> PartitionInfo | None: ...


class TopicCatalog(Protocol):
    """The topics, as the handlers look them up: MetadataStore on a single node, the
    ZooKeeper view in a cluster."""

    @property
    def version(self) -> int: ...

    def topic(self, name: str) -> TopicMetadata | None: ...

    def topic_by_id(self, topic_id: uuid.UUID) -> TopicMetadata | None: ...

    def topics(self) -> Iterator[TopicMetadata]: ...

    def __contains__(self, name: object) -> bool: ...


class LocalCluster:
    """A single node: the only broker, the controller, and the leader of every partition."""

    def __init__(self, node_id: int, rack: str | None = None) -> None:
        self._node_id = node_id
        self._rack = rack
        self._self = BrokerInfo(node_id, {}, rack)
        self._partition = PartitionInfo(node_id, 0, (node_id,), (node_id,))

    def advertise(self, endpoints: Mapping[str, tuple[str, int]]) -> None:
        """The endpoints actually bound, once the listeners are up."""
        self._self = BrokerInfo(self._node_id, dict(endpoints), self._rack)

    @property
    def controller_id(self) -> int:
        return self._node_id

    def live_brokers(self) -> Sequence[BrokerInfo]:
        return (self._self,)

    def broker(self, node_id: int) -> BrokerInfo | None:
        return self._self if node_id == self._node_id else None

    def partition(self, topic: str, index: int) -> PartitionInfo | None:
        return self._partition
