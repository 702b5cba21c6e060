"""The composition root: builds the broker's parts, runs them, shuts them down by draining.

``Broker`` runs in-process (``async with grete.Broker(...) as broker``); ``run``
is what ``grete serve`` calls: it runs a broker until SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import signal
import sys
import uuid
from collections.abc import Awaitable
from pathlib import Path
from types import TracebackType
from typing import Any

from grete.clock import SYSTEM_CLOCK, Clock
from grete.cluster.acls import LocalAclStore
from grete.cluster.client_quotas import LocalClientQuotaStore
from grete.cluster.controller import Controller, LocalAdmin
from grete.cluster.image import LocalCluster
from grete.cluster.metadata import MetadataStore
from grete.cluster.producer_ids import ProducerIdManager
from grete.cluster.zookeeper.acls import ZkAclStore
from grete.cluster.zookeeper.admin import ZkAdmin
from grete.cluster.zookeeper.broker import ZkBroker
from grete.cluster.zookeeper.client import ZkClient, ZkError
from grete.cluster.zookeeper.client_quotas import ZkClientQuotaStore
from grete.cluster.zookeeper.producer_ids import ZkProducerIdManager
from grete.cluster.zookeeper.scram_credentials import ZkScramStore
from grete.config import BrokerConfig, load_config
from grete.coordinator.group.coordinator import GroupCoordinator
from grete.coordinator.group.group_log import OFFSETS_TOPIC
from grete.handlers.context import BrokerEndpoint, BrokerServices
from grete.handlers.dispatcher import Dispatcher
from grete.network.listener import NetworkLimits, SocketServer
from grete.partition.fetch_session import FetchSessionCache
from grete.partition.replica_manager import ReplicaManager
from grete.partition.topic_partition import TopicPartition
from grete.security.acl.authorizer import AclAuthorizer, parse_super_users
from grete.security.inter_broker import inter_broker_security
from grete.security.listeners import listener_specs
from grete.security.quota.manager import ClientQuotas
from grete.security.quota.sensor import QuotaWindow
from grete.security.sasl.authenticator import SASL_PROTOCOLS, Authenticator
from grete.security.sasl.store import LocalScramStore
from grete.storage.cleaner_manager import CleanerConfig, LogCleaner
from grete.storage.log_manager import LogManager
from grete.storage.retention import remove_segment_files
from grete.tasks import cancel_and_wait, wait_set

log = logging.getLogger("grete")

LONG_MAX = 2**63 - 1


class Broker:
    """One Grete broker. Use as an async context manager, or ``start()`` / ``stop()``.

    >>> async with Broker(log_dirs="/tmp/x", listeners="PLAINTEXT://127.0.0.1:0") as broker:
    ...     print(broker.bootstrap_servers)
    """

    def __init__(self, config: BrokerConfig | None = None, *, clock: Clock = SYSTEM_CLOCK, **settings: Any) -> None:
        if config is None:
            overrides = {key.replace("_", "."): str(value) for key, value in settings.items()}
            config = load_config(overrides=overrides, environ={})
        elif settings:
            raise TypeError("pass either a BrokerConfig or settings, not both")
        self.config = config
        self.clock = clock
        self._server: SocketServer | None = None
        self._services: BrokerServices | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = asyncio.Event()
        self._zk_broker: ZkBroker | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        cfg = self.config
        log_dir = Path(cfg.log_dirs.split(",")[0]).resolve()
        log_dir.mkdir(parents=True, exist_ok=True)
        node_id = cfg.broker_id
        logs = LogManager.open(
            log_dir, cfg.log_config(), self.clock,
            recovery_threads=cfg.num_recovery_threads_per_data_dir,
        )  # fmt: skip
        replicas = ReplicaManager(logs, self.clock, node_id, restore_high_watermarks=bool(cfg.zookeeper_connect))
        if cfg.zookeeper_connect:
            services = self._cluster_services(log_dir, replicas)
        else:
            services = self._local_services(log_dir, replicas)
        if any(e.security_protocol in SASL_PROTOCOLS for e in cfg.listener_endpoints()):
            assert services.scram_credentials is not None
            services.authenticator = Authenticator.from_config(cfg, services.scram_credentials, self.clock)
        services.client_quotas = ClientQuotas(
            services.quotas,
            QuotaWindow(cfg.quota_window_num, cfg.quota_window_size_seconds * 1000),
            self.clock,
        )
        listeners = listener_specs(cfg, services.authenticator)
        limits = NetworkLimits(
            max_frame_bytes=cfg.socket_request_max_bytes,
            max_pending_per_connection=cfg.queued_max_requests,
            idle_timeout_ms=cfg.connections_max_idle_ms,
            max_request_bytes=cfg.queued_max_request_bytes,
        )
        server = SocketServer(listeners, Dispatcher(services), limits, self.clock)
        await server.start()
        services.endpoints = _advertised(cfg, server, node_id)
        advertised = {name: (e.host, e.port) for name, e in services.endpoints.items()}
        if self._zk_broker is not None:
            try:
                await self._zk_broker.start(advertised, cfg.inter_broker_listener())
                await services.quotas.start()
                if services.acls is not None:
                    await services.acls.start()
            except BaseException:
                await server.shutdown()
                with contextlib.suppress(Exception):
                    await self._zk_broker.stop()
                replicas.shutdown()
                raise
            services.cluster_id = self._zk_broker.cluster_id
            _write_meta_properties(log_dir, node_id, services.cluster_id)
        elif isinstance(services.cluster, LocalCluster):
            services.cluster.advertise(advertised)
        self._server, self._services = server, services
        services.ready.set()
        self._tasks.append(asyncio.create_task(self._checkpoint_loop(), name="checkpoint"))
        self._tasks.append(asyncio.create_task(self._offsets_expiry_loop(), name="offsets-expiry"))
        self._tasks.append(asyncio.create_task(self._retention_loop(), name="log-retention"))
        self._tasks.append(asyncio.create_task(self._segment_deletion_loop(), name="segment-deletion"))
        if cfg.log_cleaner_enable:
            cleaner = LogCleaner(replicas.logs, _cleaner_config(cfg), self.clock, replicas.compacted_logs)
            self._tasks.append(asyncio.create_task(cleaner.run(), name="log-cleaner"))
        if cfg.grete_log_file_idle_close_ms > 0:
            self._tasks.append(asyncio.create_task(self._idle_files_loop(), name="idle-files"))
        if cfg.log_flush_scheduler_interval_ms < LONG_MAX:
            self._tasks.append(asyncio.create_task(self._flush_loop(), name="flush"))
        log.info(
            "Grete broker %d started (cluster %s%s), log dir %s, listening on %s",
            node_id, services.cluster_id, ", ZooKeeper " + cfg.zookeeper_connect if cfg.zookeeper_connect else "",
            log_dir, self.bootstrap_servers,
        )

    def _local_services(self, log_dir: Path, replicas: ReplicaManager) -> BrokerServices:
        """A single node: metadata embedded in the log dir, this broker leads everything."""
        cfg = self.config
        node_id = cfg.broker_id
        metadata = MetadataStore.open(log_dir, cfg.cluster_id)
        _write_meta_properties(log_dir, node_id, metadata.cluster_id)
        controller = Controller(cfg, metadata, replicas, node_id)
        controller.load()
        groups = GroupCoordinator(cfg, metadata, replicas, self.clock, embedded=controller)
        groups.load_if_present()
        authorizer = _authorizer(cfg)
        return BrokerServices(
            config=cfg,
            node_id=node_id,
            cluster_id=metadata.cluster_id,
            endpoints={},
            metadata=metadata,
            cluster=LocalCluster(node_id, cfg.broker_rack),
            controller=controller,
            admin=LocalAdmin(controller),
            replicas=replicas,
            fetch_sessions=FetchSessionCache(cfg.max_incremental_fetch_session_cache_slots, self.clock),
            producer_ids=ProducerIdManager(metadata),
            groups=groups,
            clock=self.clock,
            log_dir=str(log_dir),
            quotas=LocalClientQuotaStore.open(log_dir),
            scram_credentials=LocalScramStore.open(log_dir),
            authorizer=authorizer,
            acls=None if authorizer is None else LocalAclStore.open(log_dir, authorizer),
        )

    def _cluster_services(self, log_dir: Path, replicas: ReplicaManager) -> BrokerServices:
        """A cluster member: ZooKeeper holds the metadata; roles follow partition states."""
        cfg = self.config
        assert cfg.zookeeper_connect is not None
        zk = ZkClient(
            cfg.zookeeper_connect,
            session_timeout_ms=cfg.zookeeper_session_timeout_ms,
            connection_timeout_ms=cfg.zookeeper_connection_timeout_ms or cfg.zookeeper_session_timeout_ms,
        )
        node = self._zk_broker = ZkBroker(
            cfg, zk, replicas, local_cluster_id=_read_cluster_id(log_dir),
            inter_broker_security=inter_broker_security(cfg),
        )
        groups = GroupCoordinator(cfg, node.view, replicas, self.clock)

        def coordinate(tp: TopicPartition, leads: bool) -> None:
            if tp.topic == OFFSETS_TOPIC:
                (groups.load_partition if leads else groups.unload_partition)(tp.partition)

        node.on_leadership = coordinate
        authorizer = _authorizer(cfg)
        return BrokerServices(
            config=cfg,
            node_id=cfg.broker_id,
            cluster_id="",
            endpoints={},
            metadata=node.view,
            cluster=node.view,
            controller=None,
            admin=ZkAdmin(zk, node.view, cfg),
            replicas=replicas,
            fetch_sessions=FetchSessionCache(cfg.max_incremental_fetch_session_cache_slots, self.clock),
            producer_ids=ZkProducerIdManager(zk, cfg.broker_id),
            groups=groups,
            clock=self.clock,
            log_dir=str(log_dir),
            quotas=ZkClientQuotaStore(zk, self.clock),
            scram_credentials=ZkScramStore(zk),
            authorizer=authorizer,
            acls=None if authorizer is None else ZkAclStore(zk, authorizer, self.clock),
            cluster_controller=node.controller,
        )

    async def stop(self) -> None:
        """Stop accepting, finish in-flight requests, flush and checkpoint."""
        if self._server is None or self._services is None:
            return
        server, services = self._server, self._services
        self._server = None
        zk_broker = self._zk_broker
        if zk_broker is not None:
            await _bounded("controlled shutdown", zk_broker.controlled_shutdown_if_enabled(), 20.0)
        services.replicas.purgatory.shutdown()
        services.replicas.release_waiters()
        services.groups.shutdown()
        await server.shutdown(timeout_s=SHUTDOWN_DRAIN_S)
        await _bounded("client quota store", services.quotas.stop(), 5.0)
        if services.acls is not None:
            await _bounded("ACL store", services.acls.stop(), 5.0)
        if zk_broker is not None:
            await _bounded("cluster membership", zk_broker.stop(), 10.0)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            await cancel_and_wait(task)
        self._tasks.clear()
        services.replicas.shutdown()
        log.info("Grete broker %d stopped cleanly", services.node_id)
        self._stopped.set()

    async def __aenter__(self) -> Broker:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- what callers may read ------------------------------------------------------------

    @property
    def services(self) -> BrokerServices:
        if self._services is None:
            raise RuntimeError("the broker is not running")
        return self._services

    @property
    def bootstrap_servers(self) -> str:
        """host:port of every advertised listener, comma-separated (a client's bootstrap.servers)."""
        return ",".join(f"{e.host}:{e.port}" for e in self.services.endpoints.values())

    # -- background work ------------------------------------------------------------------

    async def _checkpoint_loop(self) -> None:
        interval = self.config.log_flush_offset_checkpoint_interval_ms / 1000.0
        while True:
            await asyncio.sleep(interval)
            self.services.replicas.checkpoint()

    async def _offsets_expiry_loop(self) -> None:
        interval = self.config.offsets_retention_check_interval_ms / 1000.0
        while True:
            await asyncio.sleep(interval)
            self.services.groups.expire_offsets()

    async def _retention_loop(self) -> None:
        interval = self.config.log_retention_check_interval_ms / 1000.0
        while True:
            await asyncio.sleep(interval)
            try:
                self.services.replicas.enforce_retention()
            except Exception:  # a dead loop would stop retention for good
                log.exception("log retention failed; retrying at the next check")

    async def _segment_deletion_loop(self) -> None:
        """Removes the files of segments deleted by retention or DeleteRecords once their
        file.delete.delay.ms has passed; unlinking large files runs off the event loop."""
        deletions = self.services.replicas.logs.deletions
        while True:
            wait_ms = deletions.ms_until_next(self.clock.time_ms())
            if wait_ms != 0:
                await wait_set(
                    deletions.scheduled, None if wait_ms is None else wait_ms / 1000.0
                )
                deletions.scheduled.clear()
            due = deletions.pop_due(self.clock.time_ms())
            if due:
                await asyncio.to_thread(remove_segment_files, due)

    async def _idle_files_loop(self) -> None:
        idle = self.config.grete_log_file_idle_close_ms / 1000.0
        while True:
            await asyncio.sleep(max(idle / 2, 1.0))
            closed = self.services.replicas.logs.close_idle_files(idle)
            if closed:
                log.debug("closed %d idle segment files", closed)

    async def _flush_loop(self) -> None:
        interval = self.config.log_flush_scheduler_interval_ms / 1000.0
        while True:
            await asyncio.sleep(interval)
            self.services.replicas.flush_dirty()


def _cleaner_config(cfg: BrokerConfig) -> CleanerConfig:
    return CleanerConfig(
        enable=cfg.log_cleaner_enable,
        threads=cfg.log_cleaner_threads,
        backoff_ms=cfg.log_cleaner_backoff_ms,
        io_max_bytes_per_second=cfg.log_cleaner_io_max_bytes_per_second,
        dedupe_buffer_size=cfg.log_cleaner_dedupe_buffer_size,
    )


def _authorizer(cfg: BrokerConfig) -> AclAuthorizer | None:
    """Kafka's switch: any authorizer.class.name turns ACLs on (Grete has one authorizer)."""
    if not cfg.authorizer_class_name.strip():
        return None
    return AclAuthorizer(
        parse_super_users(cfg.super_users),
        allow_everyone_if_no_acl_found=cfg.allow_everyone_if_no_acl_found,
    )


def _advertised(cfg: BrokerConfig, server: SocketServer, node_id: int) -> dict[str, BrokerEndpoint]:
    """Advertised endpoints; a port of 0 (pick a free one) becomes the port actually bound."""
    endpoints: dict[str, BrokerEndpoint] = {}
    for e in cfg.advertised_endpoints():
        host, port = e.host, e.port
        bound = server.bound.get(e.name)
        if port == 0 and bound is not None:
            port = bound[1]
        if not host and bound is not None:
            host = bound[0] if bound[0] not in ("0.0.0.0", "::") else "127.0.0.1"
        endpoints[e.name] = BrokerEndpoint(node_id, host, port, cfg.broker_rack)
    return endpoints


def _read_cluster_id(log_dir: Path) -> str | None:
    """The cluster id in meta.properties, if this log dir already belongs to a cluster."""
    try:
        text = (log_dir / "meta.properties").read_text("utf-8")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "cluster.id" and value.strip():
            return value.strip()
    return None


def _write_meta_properties(log_dir: Path, node_id: int, cluster_id: str) -> None:
    """Kafka's meta.properties, so that Kafka tooling recognises the directory."""
    path = log_dir / "meta.properties"
    if path.exists():
        return
    path.write_text(
        "#\n#Written by Grete\n"
        f"node.id={node_id}\nversion=1\ncluster.id={cluster_id}\n"
        f"directory.id={uuid.uuid4()}\n",
        encoding="utf-8",
    )


# glibc mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def _tune_allocator(mmap_threshold: int = 32 << 20, trim_threshold: int = 64 << 20) -> bool:
    """Serve request-sized buffers (up to 32 MiB) from the heap, not fresh mmaps.

    By default glibc maps every large allocation (a 1 MiB produce frame) with mmap
    and unmaps it on free, so each request pays ~256 page faults and a TLB
    shootdown: it halved produce throughput for 1 KiB records (docs/performance.md).
    Freed memory above ``trim_threshold`` is still returned to the OS.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(
        mallopt(_M_TRIM_THRESHOLD, trim_threshold)
    )


def _install_uvloop() -> str:
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


async def _serve(config: BrokerConfig) -> int:
    broker = Broker(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # A signal during start-up (e.g. while ZooKeeper is unreachable) stops it too.
    starting = asyncio.create_task(broker.start())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait((starting, stopping), return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await starting
        await broker.stop()
        log.info("stopped during start-up")
        return 0
    stopping.cancel()
    try:
        starting.result()
    except ZkError as exc:
        log.error("cannot start: ZooKeeper: %s", exc)
        return 1
    try:
        await stop.wait()
        log.info("shutting down")
    finally:
        watchdog = asyncio.create_task(_report_slow_shutdown(SLOW_SHUTDOWN_S))
        try:
            await broker.stop()
        finally:
            watchdog.cancel()
    return 0


SLOW_SHUTDOWN_S = 10.0
# In-flight requests get this long to finish once parked fetches and acks=all produces
# were answered (what remains: admin requests waiting for ZooKeeper, a group rebalance).
SHUTDOWN_DRAIN_S = 10.0


async def _bounded(step: str, work: Awaitable[None], timeout_s: float) -> None:
    """One step of a graceful stop, given at most ``timeout_s``: a step that hangs (a peer
    or ZooKeeper that stopped answering) is logged and left behind, so the broker still
    flushes, checkpoints and exits rather than being killed with its files unsynced."""
    try:
        async with asyncio.timeout(timeout_s):
            await work
    except TimeoutError:
        log.warning("shutdown: %s did not finish within %.0f s; going on without it", step, timeout_s)


async def _report_slow_shutdown(after_s: float) -> None:
    """Log what the broker still waits for when a graceful stop takes long, so that an
    operator (or a test that killed it) can tell why."""
    await asyncio.sleep(after_s)
    current = asyncio.current_task()
    pending = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    log.warning("still shutting down after %.0f s; %d tasks pending:", after_s, len(pending))
    for task in pending:
        log.warning("  %s: %s", task.get_name(), _awaiting(task) or "(not started)")


def _awaiting(task: asyncio.Task[Any]) -> str:
    """Where a task waits, innermost last: its coroutine's chain of awaits (a task's own
    stack shows only the outermost frame of a suspended coroutine)."""
    frames: list[str] = []
    awaited: Any = task.get_coro()
    while awaited is not None and len(frames) < 16:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is None:
            frames.append(type(awaited).__name__)
            break
        frames.append(f"{frame.f_code.co_qualname}:{frame.f_lineno}")
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    return " -> ".join(frames)


def run(config: BrokerConfig) -> int:
    """Run a broker until SIGTERM or SIGINT; returns the process exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    loop_kind = _install_uvloop()
    tuned = _tune_allocator()
    log.info("event loop: %s; allocator tuned for request buffers: %s", loop_kind, tuned)
    return asyncio.run(_serve(config))
