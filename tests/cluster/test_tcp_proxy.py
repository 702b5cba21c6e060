"""The fault harness: TcpProxy cuts against a plain echo server and a real ZooKeeper, and the
wiring of GreteCluster (each broker reaching ZooKeeper through its own proxy).

A blackhole cut must look like a network partition to a ZooKeeper client: the client
suspends, the server expires its session after the session timeout (so its ephemeral
znodes vanish), and after restore() the client learns of the expiry and starts a new
session. A short reset cut must not cost the session.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import BrokerProcess, CutMode, GreteCluster, TcpProxy, ZooKeeperProcess, api_versions
from harness.wire import free_port
from kazoo.client import KazooClient
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.protocol.states import KazooState

from grete.cluster.zookeeper.znodes import (
    BrokerRegistration,
    ControllerRegistration,
    EndPoint,
    PartitionState,
    encode_controller_epoch,
)

from . import kazoo_client, wait_until

HOST = "127.0.0.1"
QUIET = 0.7  # how long "nothing arrives" is watched for


class EchoServer(socketserver.ThreadingTCPServer):
    """Echoes every byte back; counts the connections it accepted and the bytes it read."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__((HOST, 0), _EchoHandler)
        self.accepted = 0
        self.received = 0
        self.open = 0
        self.lock = threading.Lock()

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _EchoHandler(socketserver.BaseRequestHandler):
    server: EchoServer

    def handle(self) -> None:
        with self.server.lock:
            self.server.accepted += 1
            self.server.open += 1
        try:
            while chunk := self.request.recv(65536):
                with self.server.lock:
                    self.server.received += len(chunk)
                self.request.sendall(chunk)
        except OSError:
            pass
        finally:
            with self.server.lock:
                self.server.open -= 1


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    thread = threading.Thread(target=server.serve_forever, name="echo", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def proxy(echo: EchoServer) -> Iterator[TcpProxy]:
    with TcpProxy((HOST, echo.port), name="echo") as started:
        yield started


def registration(broker_id: int, port: int) -> bytes:
    return BrokerRegistration(broker_id, (EndPoint("PLAINTEXT", HOST, port),)).encode()


def connect(proxy: TcpProxy) -> socket.socket:
    sock = socket.create_connection((HOST, proxy.listen_port), timeout=5)
    sock.settimeout(5)
    return sock


def round_trip(sock: socket.socket, payload: bytes) -> bytes:
    """Send payload while reading the echo (so neither side's buffers must hold it all)."""
    sender = threading.Thread(target=sock.sendall, args=(payload,))
    sender.start()
    got = bytearray()
    while len(got) < len(payload):
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    sender.join(timeout=10)
    return bytes(got)


def hears_nothing(sock: socket.socket) -> bool:
    """True if nothing, not even a close, arrives on sock for QUIET seconds."""
    sock.settimeout(QUIET)
    try:
        sock.recv(1)
    except TimeoutError:
        return True
    finally:
        sock.settimeout(5)
    return False


def is_reset(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""  # an orderly close would also do, but is not expected
    except ConnectionResetError:
        return True


def new_connection_is_reset(proxy: TcpProxy) -> bool:
    """On loopback the proxy's RST can beat connect() itself back to the caller."""
    try:
        sock = connect(proxy)
    except ConnectionResetError:
        return True
    with sock:
        return is_reset(sock)


def test_forwards_bytes_both_ways_on_concurrent_connections(
    proxy: TcpProxy, echo: EchoServer
) -> None:
    payloads = [bytes([i]) * (2 << 20) + bytes(range(256)) for i in range(3)]
    socks = [connect(proxy) for _ in payloads]
    echoed: dict[int, bytes] = {}

    def exchange(i: int) -> None:
        echoed[i] = round_trip(socks[i], payloads[i])

    threads = [threading.Thread(target=exchange, args=(i,)) for i in range(len(socks))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [echoed.get(i) == payloads[i] for i in range(3)] == [True, True, True]
    assert (proxy.accepted, proxy.connections, echo.accepted) == (3, 3, 3)
    for sock in socks:
        sock.close()
    wait_until(lambda: proxy.connections == 0, "closed connections leave the proxy")
    wait_until(lambda: echo.open == 0, "the closes reach the server")


def test_reset_cut_resets_open_connections_and_new_ones_until_restored(
    proxy: TcpProxy, echo: EchoServer
) -> None:
    before = connect(proxy)
    assert round_trip(before, b"ping") == b"ping"

    proxy.cut(CutMode.RESET)
    assert proxy.mode is CutMode.RESET
    assert is_reset(before), "the client side is reset"
    wait_until(lambda: echo.open == 0, "the server side is reset too")
    # Accepted, then reset: the target is never contacted.
    assert new_connection_is_reset(proxy)
    assert echo.accepted == 1

    proxy.restore()
    assert proxy.mode is None
    after = connect(proxy)
    assert round_trip(after, b"pong") == b"pong"
    assert echo.accepted == 2
    for sock in (before, after):
        sock.close()


def test_blackhole_cut_passes_nothing_either_way_until_restored(
    proxy: TcpProxy, echo: EchoServer
) -> None:
    before = connect(proxy)
    assert round_trip(before, b"ping") == b"ping"
    received = echo.received

    proxy.cut("blackhole")
    before.sendall(b"held")
    assert hears_nothing(before), "no echo, and no close either"
    during = connect(proxy)  # the handshake succeeds; nothing behind it answers
    during.sendall(b"late")
    assert hears_nothing(during)
    assert (echo.received, echo.accepted, echo.open) == (received, 1, 1)
    assert proxy.connections == 2

    proxy.restore()  # like TCP after a healed partition: what was sent arrives
    assert before.recv(16) == b"held"
    assert during.recv(16) == b"late"
    assert echo.accepted == 2
    for sock in (before, during):
        sock.close()


def test_a_reset_cut_during_a_blackhole_resets_the_held_connections(
    proxy: TcpProxy, echo: EchoServer
) -> None:
    held = connect(proxy)
    assert round_trip(held, b"ping") == b"ping"
    proxy.cut(CutMode.BLACKHOLE)
    waiting = connect(proxy)
    proxy.cut(CutMode.RESET)
    assert is_reset(held)
    assert is_reset(waiting)
    assert proxy.connections == 0
    wait_until(lambda: echo.open == 0, "the server side is reset")
    assert echo.accepted == 1, "the connection opened during the blackhole never reached it"
    held.close()
    waiting.close()


def test_close_stops_listening_and_resets_connections(proxy: TcpProxy, echo: EchoServer) -> None:
    sock = connect(proxy)
    assert round_trip(sock, b"ping") == b"ping"
    proxy.close()
    assert not proxy.running
    assert is_reset(sock)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((HOST, proxy.listen_port), timeout=5).close()
    wait_until(lambda: echo.open == 0, "the server side is closed")
    proxy.close()  # idempotent
    sock.close()


def test_an_unreachable_target_resets_the_client() -> None:
    with TcpProxy((HOST, free_port()), name="nowhere") as proxy:
        assert new_connection_is_reset(proxy)
        assert proxy.accepted == 1


def test_the_proxy_forwards_to_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback"):
        TcpProxy(("192.0.2.1", 2181))


# -- a real ZooKeeper behind the proxy --------------------------------------------------

SESSION_TIMEOUT = 3.0


@contextlib.contextmanager
def client_through(proxy: TcpProxy) -> Iterator[tuple[KazooClient, list[str]]]:
    """A started kazoo client of proxy.address and the list of states it went through."""
    client = KazooClient(
        hosts=proxy.address,
        timeout=SESSION_TIMEOUT,
        connection_retry={"max_tries": -1, "delay": 0.1, "backoff": 1.5, "max_delay": 0.5},
    )
    states: list[str] = []
    client.add_listener(lambda state: states.append(str(state)))
    client.start(timeout=10)
    try:
        yield client, states
    finally:
        client.stop()
        client.close()


def test_zookeeper_session_expires_behind_a_blackhole_and_a_new_one_starts_after_restore(
    zookeeper: ZooKeeperProcess,
) -> None:
    path = "/brokers/ids/7"
    with (
        TcpProxy((HOST, zookeeper.port), name="zookeeper") as proxy,
        client_through(proxy) as (client, states),
        kazoo_client(zookeeper) as observer,
    ):
        client.create(path, b"broker 7", ephemeral=True, makepath=True)
        session = client.client_id[0]
        assert observer.get(path)[1].ephemeralOwner == session

        proxy.cut(CutMode.BLACKHOLE)
        wait_until(lambda: KazooState.SUSPENDED in states, "the client suspends", SESSION_TIMEOUT)
        # The server hears nothing from the session, expires it and deletes its ephemerals.
        wait_until(lambda: observer.exists(path) is None, "the ephemeral znode is deleted", 15)
        # Behind the blackhole the client cannot learn that yet.
        assert client.state == KazooState.SUSPENDED
        assert KazooState.LOST not in states

        proxy.restore()
        wait_until(
            lambda: client.state == KazooState.CONNECTED and client.client_id[0] != session,
            "the client connects with a new session",
        )
        assert states == [KazooState.CONNECTED, KazooState.SUSPENDED, KazooState.LOST,
                          KazooState.CONNECTED]  # fmt: skip
        client.create(path, b"broker 7 again", ephemeral=True)
        assert observer.get(path)[1].ephemeralOwner == client.client_id[0]


def test_zookeeper_session_survives_a_short_reset_cut(zookeeper: ZooKeeperProcess) -> None:
    path = "/brokers/ids/8"
    with (
        TcpProxy((HOST, zookeeper.port), name="zookeeper") as proxy,
        client_through(proxy) as (client, states),
        kazoo_client(zookeeper) as observer,
    ):
        client.create(path, b"broker 8", ephemeral=True, makepath=True)
        session = client.client_id[0]

        proxy.cut(CutMode.RESET)
        wait_until(lambda: client.state == KazooState.SUSPENDED, "the client suspends at once", 2)
        assert observer.exists(path) is not None, "the session outlives its connection"
        proxy.restore()

        wait_until(lambda: client.state == KazooState.CONNECTED, "the client reconnects")
        assert client.client_id[0] == session
        assert KazooState.LOST not in states
        assert observer.get(path)[1].ephemeralOwner == session


# -- GreteCluster wiring (the cluster itself needs cluster mode in the broker) -----------


def test_broker_command_line_gains_cluster_args_only_when_asked(tmp_path: Path) -> None:
    single = BrokerProcess(tmp_path / "single", "--override", "num.partitions=2", port=9999)
    assert single.command() == [
        sys.executable, "-m", "grete", "serve",
        "--listeners", "PLAINTEXT://127.0.0.1:9999",
        "--log-dirs", str(tmp_path / "single"),
        "--override", "num.partitions=2",
    ]  # fmt: skip
    member = BrokerProcess(
        tmp_path / "member",
        "--override", "num.partitions=2",
        port=9998,
        zookeeper_connect="127.0.0.1:2181/grete",
        broker_id=2,
        rack="r1",
        overrides={"min.insync.replicas": "2"},
    )  # fmt: skip
    assert member.command()[4:] == [
        "--listeners", "PLAINTEXT://127.0.0.1:9998",
        "--log-dirs", str(tmp_path / "member"),
        "--zookeeper", "127.0.0.1:2181/grete",
        "--broker-id", "2",
        "--override", "min.insync.replicas=2",
        "--override", "broker.rack=r1",
        "--override", "num.partitions=2",
    ]  # fmt: skip


def test_cluster_brokers_reach_zookeeper_each_through_their_own_proxy(
    zookeeper: ZooKeeperProcess, tmp_path: Path
) -> None:
    cluster = GreteCluster(
        zookeeper,
        tmp_path / "cluster",
        size=3,
        overrides={"min.insync.replicas": "2"},
        racks=["a", "b", "a"],
        chroot="/grete",
    )
    try:
        ports = set()
        for broker_id in (0, 1, 2):
            broker, proxy = cluster.broker(broker_id), cluster.zookeeper_proxy(broker_id)
            assert proxy.target == (HOST, zookeeper.port)
            assert broker.data_dir == tmp_path / "cluster" / f"broker-{broker_id}" / "data"
            assert broker.cluster_args() == [
                "--zookeeper", f"{HOST}:{proxy.listen_port}/grete",
                "--broker-id", str(broker_id),
                "--override", "min.insync.replicas=2",
                "--override", f"broker.rack={'aba'[broker_id]}",
            ]  # fmt: skip
            ports |= {broker.port, proxy.listen_port}
        assert len(ports) == 6
        assert cluster.bootstrap == ",".join(f"{HOST}:{b.port}" for b in cluster.brokers)

        cluster.open_proxies()
        cluster.isolate_from_zookeeper(1)
        for broker_id in (0, 2):
            with client_through(cluster.zookeeper_proxy(broker_id)) as (client, _):
                assert client.ensure_path("/grete/brokers/ids")
        isolated = KazooClient(hosts=cluster.zookeeper_proxy(1).address, timeout=SESSION_TIMEOUT)
        try:
            with pytest.raises(KazooTimeoutError):
                isolated.start(timeout=1.5)
        finally:
            isolated.stop()
            isolated.close()
        cluster.heal(1)
        assert cluster.registered_brokers() == set()
        assert (cluster.controller_id(), cluster.controller_epoch()) == (None, None)
        with client_through(cluster.zookeeper_proxy(1)) as (client, _):
            # What broker 1 would write, in the project's own znode formats.
            client.create(
                "/grete/brokers/ids/1", registration(1, cluster.broker(1).port), ephemeral=True
            )
            client.create("/grete/controller", ControllerRegistration(1).encode(), ephemeral=True)
            client.create("/grete/controller_epoch", encode_controller_epoch(4))
            state = PartitionState(leader=1, leader_epoch=2, isr=(1, 0), controller_epoch=4)
            client.create(
                "/grete/brokers/topics/t/partitions/0/state", state.encode(), makepath=True
            )
            # The observer reads inside the chroot, directly (not through any proxy).
            assert cluster.registered_brokers() == {1}
            assert cluster.registration_session(1) == client.client_id[0]
            assert (cluster.controller_id(), cluster.controller_epoch()) == (1, 4)
            assert cluster.partition_state("t", 0) == {
                "version": 1, "leader": 1, "leader_epoch": 2, "isr": [1, 0],
                "controller_epoch": 4,
            }  # fmt: skip
            assert cluster.partition_state("t", 1) is None
        cluster.wait_unregistered([1], timeout=10)
    finally:
        cluster.stop()
    assert not any(cluster.zookeeper_proxy(broker_id).running for broker_id in (0, 1, 2))


def test_a_paused_broker_answers_nothing_until_resumed_and_still_stops(tmp_path: Path) -> None:
    with BrokerProcess(tmp_path / "data", log_path=tmp_path / "broker.log") as broker:
        assert api_versions(HOST, broker.port)
        broker.pause()
        assert broker.paused and broker.running
        with pytest.raises(OSError):
            api_versions(HOST, broker.port, timeout=QUIET)
        broker.resume()
        assert api_versions(HOST, broker.port)
        broker.pause()
        assert broker.stop(check=True) == 0, "SIGTERM reaches a paused broker"
        assert not broker.paused and not broker.running
