"""What a handler receives besides its request: the header, the connection, the broker's parts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from grete.network.connection import ConnectionInfo
from grete.protocol import RequestHeader, Schema

if TYPE_CHECKING:
    from grete.clock import Clock
    from grete.cluster.acls import AclStore
    from grete.cluster.client_quotas import ClientQuotaStore
    from grete.cluster.controller import Controller, TopicAdmin
    from grete.cluster.image import ClusterView, TopicCatalog
    from grete.cluster.producer_ids import ProducerIds
    from grete.cluster.zookeeper.controller import ZkController
    from grete.config import BrokerConfig
    from grete.coordinator.group.coordinator import GroupCoordinator
    from grete.partition.fetch_session import FetchSessionCache
    from grete.partition.replica_manager import ReplicaManager
    from grete.security.acl.authorizer import AclAuthorizer
    from grete.security.quota.manager import ClientQuotas
    from grete.security.sasl.authenticator import Authenticator
    from grete.security.sasl.store import ScramCredentialStore


@dataclass(frozen=True, slots=True)
class BrokerEndpoint:
    node_id: int
    host: str
    port: int
    rack: str | None = None


@dataclass(slots=True)
class BrokerServices:
    """The broker's parts, as the handlers see them. Built once by the composition root."""

    config: BrokerConfig
    node_id: int
    cluster_id: str
    endpoints: dict[str, BrokerEndpoint]  # advertised endpoint per listener name
    metadata: TopicCatalog
    cluster: ClusterView
    controller: Controller | None  # the embedded one; None in cluster mode
    admin: TopicAdmin
    replicas: ReplicaManager
    fetch_sessions: FetchSessionCache
    producer_ids: ProducerIds
    groups: GroupCoordinator
    clock: Clock
    log_dir: str
    quotas: ClientQuotaStore  # client quota configs (enforced from issue 6)
    cluster_controller: ZkController | None = None  # cluster mode: this broker's controller role
    # authorizer.class.name set: the ACLs and the decisions they give; None: all allowed
    acls: AclStore | None = None
    authorizer: AclAuthorizer | None = None
    # SASL sessions of the SASL listeners (None: no SASL listener) and the SCRAM users.
    authenticator: Authenticator | None = None
    scram_credentials: ScramCredentialStore | None = None
    # Quota enforcement (docs/security.md "Quotas"); None: nothing is measured or throttled.
    client_quotas: ClientQuotas | None = None
    # Set once the broker knows the cluster (cluster mode: its view is loaded); requests
    # that arrive earlier wait, rather than see an empty cluster.
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    # Metadata for every topic, encoded (frame, throttle field's position), by (listener,
    # version, topic operations asked, cluster operations asked, catalog version).
    metadata_responses: dict[tuple[str, int, bool, bool, int], tuple[bytes, int]] = field(default_factory=dict)

    def endpoint_for(self, listener: str) -> BrokerEndpoint:
        return self.endpoints.get(listener) or next(iter(self.endpoints.values()))

    def live_endpoints(self, listener: str) -> list[BrokerEndpoint]:
        """Every live broker's endpoint on the listener a request came in on, by node id."""
        found = []
        for broker in self.cluster.live_brokers():
            endpoint = broker.endpoint(listener)
            if endpoint is not None:
                found.append(BrokerEndpoint(broker.node_id, endpoint[0], endpoint[1], broker.rack))
        return sorted(found, key=lambda e: e.node_id)


@dataclass(frozen=True, slots=True)
class RequestContext:
    header: RequestHeader
    connection: ConnectionInfo
    services: BrokerServices
    schema: Schema  # kio classes of this API at the request's version

    @property
    def version(self) -> int:
        return self.header.api_version

    @property
    def client_host(self) -> str:
        """The peer's address as Kafka reports a member's host ("/127.0.0.1")."""
        return "/" + self.connection.peer.rsplit(":", 1)[0]

    def throttle(self, throttle_time_ms: int) -> None:
        """KIP-219: the response goes out now, carrying ``throttle_time_ms``; then the
        connection reads no further request for that long."""
        if throttle_time_ms <= 0:
            return
        until = self.services.clock.monotonic() + throttle_time_ms / 1000.0
        self.connection.muted_until = max(self.connection.muted_until, until)
