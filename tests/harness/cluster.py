"""A Grete cluster for fault tests: N brokers sharing one ZooKeeper, each behind its own proxy.

Broker n (ids 0..size-1) keeps its data in root/broker-n/data and its log in
root/broker-n/broker.log, listens on a port fixed for the cluster's lifetime, and reaches
ZooKeeper only through its own TcpProxy, so a test can cut one broker off from ZooKeeper
(isolate_from_zookeeper) while the others and the test itself still reach it.

The cluster also holds an observer: a kazoo client connected to ZooKeeper directly, which
reads Kafka's znodes (/brokers/ids, /controller, partition state) the way an operator
would, to wait for registrations and to see who leads.

With ``peer_proxies``, brokers also reach each other only through proxies, one per
ordered pair: broker j has a plaintext listener REPLICATION_FROM_i for each broker i, and
advertises it on the port of the proxy that carries i's connections to j; broker i's
inter.broker.listener.name is REPLICATION_FROM_i. So cut_peers(a, b) parts two brokers in
both directions while clients (on PLAINTEXT) and ZooKeeper still reach both, and
isolate_from_peers(b) parts b from every other broker. Kafka's own settings do all of it:
the broker under test is not told it is being tested.

Not thread-safe: drive a cluster from one thread (the proxies run their own threads).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Self, TypeVar

from kazoo.client import KazooClient
from kazoo.exceptions import ConnectionLoss, NoNodeError, SessionExpiredError

from .process import HOST, BrokerProcess
from .tcp_proxy import CutMode, TcpProxy
from .wire import free_port
from .zookeeper import ZooKeeperProcess

BROKER_IDS_PATH = "/brokers/ids"
CONTROLLER_PATH = "/controller"
CONTROLLER_EPOCH_PATH = "/controller_epoch"
_R = TypeVar("_R")


class GreteCluster:
    """``size`` Grete brokers in cluster mode against ``zookeeper``.

    ``overrides`` are given to every broker as `--override key=value`; ``racks`` (one per
    broker) set `broker.rack`; ``chroot`` (e.g. "/grete") is appended to the ZooKeeper
    connect string. Ports are chosen at construction, so command lines are known before
    start() and stay the same across restarts. ``extra_listener_names`` give every broker
    one more listener each, advertised on its own port (``listener_port``); they are
    plaintext unless ``overrides`` set `listener.security.protocol.map`.
    """

    def __init__(
        self,
        zookeeper: ZooKeeperProcess,
        root: Path,
        *,
        size: int = 3,
        overrides: Mapping[str, str] | None = None,
        racks: Sequence[str] | None = None,
        chroot: str | None = None,
        start_timeout: float = 60.0,
        stop_timeout: float = 30.0,
        registration_timeout: float = 30.0,
        peer_proxies: bool = False,
        extra_listener_names: Sequence[str] = (),
    ) -> None:
        if size < 1:
            raise ValueError(f"a cluster needs at least one broker, not {size}")
        if racks is not None and len(racks) != size:
            raise ValueError(f"{len(racks)} racks given for {size} brokers")
        if chroot is not None and not chroot.startswith("/"):
            raise ValueError(f"a ZooKeeper chroot starts with '/', not {chroot!r}")
        self.zookeeper = zookeeper
        self.root = Path(root)
        self.chroot = chroot or ""
        self.registration_timeout = registration_timeout
        self.broker_ids = list(range(size))
        ports = _distinct_free_ports(
            2 * size
            + (2 * size * size - size if peer_proxies else 0)
            + size * len(extra_listener_names)
        )
        self._proxies: dict[int, TcpProxy] = {}
        self._brokers: dict[int, BrokerProcess] = {}
        # (from, to) -> the proxy carrying broker `from`'s connections to broker `to`.
        self._links: dict[tuple[int, int], TcpProxy] = {}
        replication: dict[int, dict[str, tuple[int, int]]] = {b: {} for b in self.broker_ids}
        for to_id in self.broker_ids if peer_proxies else ():
            for from_id in self.broker_ids:
                bound = ports.pop()
                advertised = bound
                if from_id != to_id:  # a broker never connects to itself: no proxy
                    link = TcpProxy(
                        (HOST, bound), listen_port=ports.pop(), name=f"broker-{from_id}-to-{to_id}"
                    )
                    self._links[(from_id, to_id)] = link
                    advertised = link.listen_port
                replication[to_id][replication_listener(from_id)] = (bound, advertised)
        for broker_id in self.broker_ids:  # e.g. SASL_PLAINTEXT, mapped in overrides
            for name in extra_listener_names:
                port = ports.pop()
                replication[broker_id][name] = (port, port)
        for broker_id in self.broker_ids:
            proxy = TcpProxy(
                (HOST, zookeeper.port),
                listen_port=ports.pop(),
                name=f"zookeeper-for-broker-{broker_id}",
            )
            self._proxies[broker_id] = proxy
            home = self.root / f"broker-{broker_id}"
            self._brokers[broker_id] = BrokerProcess(
                home / "data",
                port=ports.pop(),
                log_path=home / "broker.log",
                start_timeout=start_timeout,
                stop_timeout=stop_timeout,
                zookeeper_connect=f"{HOST}:{proxy.listen_port}{self.chroot}",
                broker_id=broker_id,
                rack=None if racks is None else racks[broker_id],
                overrides={
                    **(overrides or {}),
                    **(
                        {"inter.broker.listener.name": replication_listener(broker_id)}
                        if peer_proxies
                        else {}
                    ),
                },
                extra_listeners=replication[broker_id],
            )
        self._observer: KazooClient | None = None

    # -- brokers -----------------------------------------------------------------
    def broker(self, broker_id: int) -> BrokerProcess:
        return self._brokers[broker_id]

    @property
    def brokers(self) -> list[BrokerProcess]:
        return [self._brokers[broker_id] for broker_id in self.broker_ids]

    @property
    def bootstrap(self) -> str:
        """Every broker's address, dead or alive: a client finds the live ones."""
        return ",".join(broker.bootstrap for broker in self.brokers)

    def listener_port(self, broker_id: int, name: str) -> int:
        """The port of the broker's extra listener ``name``."""
        return self._brokers[broker_id].extra_listeners[name][0]

    def zookeeper_proxy(self, broker_id: int) -> TcpProxy:
        """The proxy through which broker ``broker_id`` (and only it) reaches ZooKeeper."""
        return self._proxies[broker_id]

    def peer_link(self, from_id: int, to_id: int) -> TcpProxy:
        """The proxy carrying broker ``from_id``'s connections (its fetches) to ``to_id``."""
        return self._links[(from_id, to_id)]

    def open_proxies(self) -> None:
        """Start every proxy not yet started (start() does this first)."""
        for proxy in [*self._proxies.values(), *self._links.values()]:
            if not proxy.running:
                proxy.start()

    def start(self) -> Self:
        """Start the proxies and every broker; return once all are registered in ZooKeeper
        and a controller is elected. On failure everything started is stopped again."""
        try:
            self.open_proxies()
            stale = self._registration_sessions(self.broker_ids)
            for broker in self.brokers:
                broker.start()
            self._wait_new_registrations(stale)
            self.wait_until(lambda: self.controller_id() is not None, "a controller is elected")
        except BaseException:
            self.stop(check=False)
            raise
        return self

    def kill(self, broker_id: int) -> None:
        """SIGKILL: a crash. The broker's ZooKeeper session lives on until it times out."""
        self._brokers[broker_id].kill()

    def terminate(self, broker_id: int, *, check: bool = True) -> int:
        """SIGTERM and wait for the exit (a controlled shutdown). Returns the exit code;
        with check, AssertionError unless it exited 0 within the stop timeout."""
        return self._brokers[broker_id].stop(check=check)

    def restart(self, broker_id: int, *, check: bool = True) -> None:
        """SIGTERM if running, start again on the same port and data, and wait until the
        broker registered with a new session (after kill() the old registration lingers
        until its session times out)."""
        broker = self._brokers[broker_id]
        if broker.running:
            broker.stop(check=check)
        stale = self._registration_sessions([broker_id])
        broker.start()
        self._wait_new_registrations(stale)

    def pause(self, broker_id: int) -> None:
        """SIGSTOP: the broker's sockets stay open but it answers nothing, ZooKeeper included."""
        self._brokers[broker_id].pause()

    def resume(self, broker_id: int) -> None:
        self._brokers[broker_id].resume()

    def isolate_from_zookeeper(
        self, broker_id: int, mode: CutMode | str = CutMode.BLACKHOLE
    ) -> None:
        """Cut the broker's path to ZooKeeper; clients and peers still reach the broker."""
        self._proxies[broker_id].cut(mode)

    def cut_peers(self, a: int, b: int, mode: CutMode | str = CutMode.BLACKHOLE) -> None:
        """Part brokers ``a`` and ``b`` in both directions (needs peer_proxies)."""
        self._links[(a, b)].cut(mode)
        self._links[(b, a)].cut(mode)

    def isolate_from_peers(self, broker_id: int, mode: CutMode | str = CutMode.BLACKHOLE) -> None:
        """Part the broker from every other broker; clients and ZooKeeper still reach it."""
        for other in self.broker_ids:
            if other != broker_id:
                self.cut_peers(broker_id, other, mode)

    def isolate(self, broker_id: int, mode: CutMode | str = CutMode.BLACKHOLE) -> None:
        """Part the broker from ZooKeeper and every other broker; only clients reach it."""
        self.isolate_from_zookeeper(broker_id, mode)
        self.isolate_from_peers(broker_id, mode)

    def heal(self, broker_id: int) -> None:
        """Undo every cut of the broker: to ZooKeeper and, with peer_proxies, to its peers."""
        self._proxies[broker_id].restore()
        for (from_id, to_id), link in self._links.items():
            if broker_id in (from_id, to_id):
                link.restore()

    def stop(self, *, check: bool = True) -> None:
        """SIGTERM every broker at once and wait; close the proxies and the observer.

        A broker that ignores SIGTERM for the stop timeout is killed; with check, that,
        or a non-zero exit, raises AssertionError once everything is down.
        """
        running = [broker for broker in self.brokers if broker.running]
        problems: list[str] = []
        if running:
            with ThreadPoolExecutor(len(running)) as pool:
                outcomes = list(pool.map(_stop_quietly, running))
            problems = [problem for problem in outcomes if problem]
        for broker in self.brokers:
            broker.kill()  # reaps, and closes the log, of any broker left
        for proxy in [*self._proxies.values(), *self._links.values()]:
            proxy.close()
        if self._observer is not None:
            self._observer.stop()
            self._observer.close()
            self._observer = None
        if check and problems:
            raise AssertionError("\n".join(problems))

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop(check=False)

    def __repr__(self) -> str:
        states = ", ".join(
            f"{broker_id}: {self._brokers[broker_id]!r}" for broker_id in self.broker_ids
        )
        return f"<GreteCluster {self.zookeeper.connect_string}{self.chroot} {{{states}}}>"

    # -- what ZooKeeper says (read directly, not through the proxies) -------------
    def observer(self) -> KazooClient:
        """A kazoo client of ZooKeeper (chroot included) that reconnects across restarts."""
        if self._observer is None:
            client = KazooClient(
                hosts=f"{self.zookeeper.connect_string}{self.chroot}",
                timeout=10.0,
                connection_retry={"max_tries": -1, "delay": 0.1, "backoff": 1.5, "max_delay": 1.0},
                command_retry={"max_tries": 3, "delay": 0.1, "max_delay": 1.0},
            )
            client.start(timeout=10.0)
            self._observer = client
        return self._observer

    def _observe(self, read: Callable[[KazooClient], _R], timeout: float = 30.0) -> _R:
        """``read`` with the observer, again after a lost connection or session (a
        ZooKeeper restart can expire the observer's session too; kazoo then opens a new
        one), for up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return read(self.observer())
            except (SessionExpiredError, ConnectionLoss):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def registered_brokers(self) -> set[int]:
        """Ids under /brokers/ids: the brokers whose ZooKeeper session is alive."""
        try:
            return {
                int(child) for child in self._observe(lambda zk: zk.get_children(BROKER_IDS_PATH))
            }
        except NoNodeError:
            return set()

    def controller_id(self) -> int | None:
        """The broker id in /controller, or None while no broker is controller."""
        data = self._read_json(CONTROLLER_PATH)
        return None if data is None else int(data["brokerid"])

    def controller_epoch(self) -> int | None:
        """The number in /controller_epoch, or None before the first election."""
        try:
            data, _ = self._observe(lambda zk: zk.get(CONTROLLER_EPOCH_PATH))
        except NoNodeError:
            return None
        return int(data.decode("ascii"))

    def partition_state(self, topic: str, partition: int) -> dict[str, Any] | None:
        """The JSON of /brokers/topics/<t>/partitions/<p>/state (leader, leader_epoch, isr,
        controller_epoch), or None if the partition has none yet."""
        return self._read_json(f"/brokers/topics/{topic}/partitions/{partition}/state")

    def registration_session(self, broker_id: int) -> int | None:
        """The ZooKeeper session owning /brokers/ids/<id>, or None if not registered."""
        stat = self._observe(lambda zk: zk.exists(f"{BROKER_IDS_PATH}/{broker_id}"))
        return None if stat is None else int(stat.ephemeralOwner)

    def wait_registered(self, broker_ids: Iterable[int], timeout: float | None = None) -> None:
        wanted = set(broker_ids)
        self.wait_until(
            lambda: wanted <= self.registered_brokers(),
            f"brokers {sorted(wanted)} registered in {BROKER_IDS_PATH}",
            timeout,
        )

    def wait_unregistered(self, broker_ids: Iterable[int], timeout: float | None = None) -> None:
        gone = set(broker_ids)
        self.wait_until(
            lambda: not gone & self.registered_brokers(),
            f"brokers {sorted(gone)} gone from {BROKER_IDS_PATH}",
            timeout,
        )

    def wait_until(
        self, condition: Callable[[], bool], what: str, timeout: float | None = None
    ) -> None:
        """Poll every 50 ms; AssertionError naming ``what``, with each broker's log, on timeout."""
        limit = self.registration_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not true after {limit}s\n{self.tails()}")
            time.sleep(0.05)

    def _registration_sessions(self, broker_ids: Iterable[int]) -> dict[int, int | None]:
        return {broker_id: self.registration_session(broker_id) for broker_id in broker_ids}

    def _wait_new_registrations(self, stale: Mapping[int, int | None]) -> None:
        def registered_anew() -> bool:
            now = self._registration_sessions(stale)
            return all(now[i] is not None and now[i] != stale[i] for i in stale)

        self.wait_until(registered_anew, f"brokers {sorted(stale)} registered in {BROKER_IDS_PATH}")

    def tails(self, lines: int = 30) -> str:
        """The last lines of every broker's log."""
        return "\n".join(broker.tail(lines) for broker in self.brokers)

    def _read_json(self, path: str) -> dict[str, Any] | None:
        try:
            data, _ = self._observe(lambda zk: zk.get(path))
        except NoNodeError:
            return None
        decoded = json.loads(data)
        if not isinstance(decoded, dict):
            raise TypeError(f"{path} holds {decoded!r}, not a JSON object")
        return decoded


def replication_listener(from_id: int) -> str:
    """The listener name through which broker ``from_id`` reaches its peers."""
    return f"REPLICATION_FROM_{from_id}"


def _stop_quietly(broker: BrokerProcess) -> str | None:
    """stop() that reports, rather than raises, a broker that did not exit cleanly."""
    try:
        code = broker.stop()
    except AssertionError as exc:
        return str(exc)
    return None if code == 0 else f"{broker.name} {broker.bootstrap} exited {code}\n{broker.tail()}"


def _distinct_free_ports(count: int) -> list[int]:
    """``count`` different ports that were free a moment ago."""
    ports: set[int] = set()
    for _ in range(20 * count):
        ports.add(free_port())
        if len(ports) == count:
            return list(ports)
    raise RuntimeError(f"could not find {count} distinct free ports")
