"""grete.cluster.zookeeper.client.ZkClient against a real ZooKeeper server.

The broker awaits ZooKeeper from its event loop: every answer, watch and session state
must arrive on the loop thread, kazoo's threads must not outlive close(), and a stalled or
absent server must turn into a bounded ConnectionLoss, never a blocked loop.
"""

from __future__ import annotations

import asyncio
import re
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from harness import CutMode, TcpProxy, ZooKeeperProcess, free_port

from grete.cluster.zookeeper.client import (
    BadVersion,
    CheckVersion,
    ConnectionLoss,
    CreateOp,
    DeleteOp,
    NodeExists,
    NoNode,
    NotEmpty,
    SessionState,
    SetDataOp,
    TransactionFailed,
    ZkClient,
    ZnodeStat,
)

from . import kazoo_client, pause_until_stopped, take_over_session

WAIT = 10.0  # bound on every wait for a watch or a session state


@asynccontextmanager
async def zk_client(
    zookeeper: ZooKeeperProcess, chroot: str = "", **options: int
) -> AsyncIterator[ZkClient]:
    client = ZkClient(zookeeper.connect_string + chroot, **options)
    await client.start(timeout_s=WAIT)
    try:
        yield client
    finally:
        await client.close()


async def eventually(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    """Poll ``condition`` every 20 ms; AssertionError naming ``what`` after ``timeout``."""
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"{what}: not true after {timeout}s") from None


async def read(zk: ZkClient, path: str) -> tuple[bytes, ZnodeStat]:
    """get() of a znode the test knows exists."""
    found = await zk.get(path)
    assert found is not None, f"{path} is absent"
    return found


def kazoo_threads() -> set[threading.Thread]:
    """kazoo's connection thread and its two callback workers, named after their targets."""
    return {
        thread
        for thread in threading.enumerate()
        if thread.name.endswith(("(zk_loop)", "(_thread_worker)"))
    }


class WatchLog:
    """Records which watch fired, on which thread, in the order the loop ran them."""

    def __init__(self) -> None:
        self.fired: asyncio.Queue[tuple[str, int]] = asyncio.Queue()

    def watch(self, name: str) -> Callable[[], None]:
        return lambda: self.fired.put_nowait((name, threading.get_ident()))

    async def next(self) -> tuple[str, int]:
        return await asyncio.wait_for(self.fired.get(), WAIT)


async def test_create_get_set_delete_under_a_chroot_created_at_start(
    zookeeper: ZooKeeperProcess,
) -> None:
    chroot = f"/grete-{uuid.uuid4().hex[:8]}/cluster"
    async with zk_client(zookeeper, chroot) as zk, zk_client(zookeeper) as root:
        assert await root.exists(chroot) is not None  # start() made both levels

        assert await zk.create("/a", b"one") == "/a"
        data, stat = await read(zk, "/a")
        assert (data, stat.version, stat.ephemeral_owner) == (b"one", 0, 0)
        assert stat.ctime_ms == stat.mtime_ms > 0
        changed = await zk.set("/a", b"two")
        assert (changed.version, changed.czxid) == (1, stat.czxid)
        assert changed.mzxid > stat.mzxid
        # The chroot is a prefix on the server: the same znode seen from the root.
        assert await root.get(f"{chroot}/a") == (b"two", changed)
        with pytest.raises(NodeExists):
            await zk.create("/a")

        assert await zk.create("/deep/er/node", b"x", make_parents=True) == "/deep/er/node"
        sequential = await zk.create("/deep/er/n-", sequence=True)
        assert re.fullmatch(r"/deep/er/n-\d{10}", sequential)
        assert sorted(await zk.get_children("/deep/er") or []) == [sequential[9:], "node"]
        assert sorted(await zk.get_children("/") or []) == ["a", "deep"]
        assert await zk.get_children("/absent") is None
        await zk.ensure_path("/x/y")
        await zk.ensure_path("/x/y")  # already there: nothing to do
        assert await zk.get("/x/y") is not None

        # Kafka creates some znodes with null data (not empty data): read as b"".
        def create_with_null_data() -> None:
            with kazoo_client(zookeeper) as raw:
                raw.create(f"{chroot}/null", None)

        await asyncio.to_thread(create_with_null_data)
        assert (await read(zk, "/null"))[0] == b""

        with pytest.raises(NoNode):
            await zk.set("/absent", b"")
        with pytest.raises(NotEmpty):
            await zk.delete("/deep")
        await zk.delete("/a")
        assert await zk.get("/a") is None
        assert await zk.exists("/a") is None
        with pytest.raises(NoNode):
            await zk.delete("/a")
        await zk.delete("/deep", recursive=True)
        assert await zk.exists("/deep") is None
        await zk.delete("/deep", recursive=True)  # absent: nothing to do
        assert sorted(await root.get_children(chroot) or []) == ["null", "x"]


async def test_conditional_writes_with_a_stale_version_fail_with_bad_version(
    zookeeper: ZooKeeperProcess,
) -> None:
    async with zk_client(zookeeper, "/fenced") as first, zk_client(zookeeper, "/fenced") as second:
        await first.create("/state", b"isr=1,2")
        _, seen_by_first = await read(first, "/state")
        _, seen_by_second = await read(second, "/state")

        shrunk = await first.set("/state", b"isr=1", version=seen_by_first.version)
        assert shrunk.version == seen_by_first.version + 1
        with pytest.raises(BadVersion):
            await second.set("/state", b"isr=2", version=seen_by_second.version)
        with pytest.raises(BadVersion):
            await second.delete("/state", version=seen_by_second.version)
        assert await second.get("/state") == (b"isr=1", shrunk)


async def test_multi_applies_all_or_nothing_and_names_the_failed_op(
    zookeeper: ZooKeeperProcess,
) -> None:
    async with zk_client(zookeeper, "/multi") as zk:
        await zk.create("/controller_epoch", b"1")
        epoch = await zk.set("/controller_epoch", b"2")  # version 1: version 0 is stale
        await zk.create("/state", b"old")
        await zk.create("/doomed")
        stale = CheckVersion("/controller_epoch", epoch.version - 1)

        with pytest.raises(TransactionFailed) as failed:
            await zk.multi(
                [
                    CreateOp("/new", b"n"),
                    SetDataOp("/state", b"new"),
                    stale,
                    DeleteOp("/doomed"),
                ]
            )
        assert failed.value.failed_index == 2
        assert isinstance(failed.value.cause, BadVersion)
        # Nothing of it happened, not even the ops before the failing check.
        assert await zk.exists("/new") is None
        assert (await read(zk, "/state"))[0] == b"old"
        assert await zk.exists("/doomed") is not None

        with pytest.raises(TransactionFailed) as failed:
            await zk.multi([CheckVersion("/controller_epoch", epoch.version), DeleteOp("/nope")])
        assert failed.value.failed_index == 1
        assert isinstance(failed.value.cause, NoNode)

        results = await zk.multi(
            [
                CheckVersion("/controller_epoch", epoch.version),
                CreateOp("/controller", b"0", ephemeral=True),
                SetDataOp("/state", b"new", version=0),
                DeleteOp("/doomed"),
            ]
        )
        assert results[0] is None and results[3] is None
        assert results[1] == "/controller"
        assert isinstance(results[2], ZnodeStat) and results[2].version == 1
        controller = await zk.exists("/controller")
        assert controller is not None and controller.ephemeral_owner == zk.session_id
        assert (await read(zk, "/state"))[0] == b"new"
        assert await zk.exists("/doomed") is None


async def test_watches_fire_once_on_the_event_loop_thread(zookeeper: ZooKeeperProcess) -> None:
    loop_thread = threading.get_ident()
    log = WatchLog()
    async with zk_client(zookeeper, "/w") as zk, zk_client(zookeeper, "/w") as writer:
        await writer.create("/node", b"v0")
        await writer.create("/parent")

        on_data = log.watch("data")
        assert await zk.get("/node", on_data) == await read(writer, "/node")
        await zk.get("/node", on_data)  # the same watcher twice fires once, as in ZooKeeper
        await writer.set("/node", b"v1")
        assert await log.next() == ("data", loop_thread)
        await writer.set("/node", b"v2")  # the watch was one-shot: this must not fire it

        # Each next watch also shows that nothing else fired before it (one callback
        # thread, delivered in server order).
        assert await zk.get_children("/parent", log.watch("children")) == []
        await writer.create("/parent/c")
        assert await log.next() == ("children", loop_thread)

        assert await zk.get("/later", log.watch("created")) is None
        await writer.create("/later", b"now")
        assert await log.next() == ("created", loop_thread)

        assert await zk.get_children("/later-parent", log.watch("parent created")) is None
        await writer.create("/later-parent")
        assert await log.next() == ("parent created", loop_thread)

        assert await zk.exists("/flag", log.watch("exists")) is None
        await writer.create("/flag")
        assert await log.next() == ("exists", loop_thread)

        await zk.get("/node", log.watch("deleted"))
        await writer.delete("/node")
        assert await log.next() == ("deleted", loop_thread)
        assert log.fired.empty()


async def test_close_removes_ephemerals_and_stops_every_kazoo_thread(
    zookeeper: ZooKeeperProcess,
) -> None:
    log = WatchLog()
    async with zk_client(zookeeper) as observer:
        before = kazoo_threads()
        owner = ZkClient(zookeeper.connect_string)
        await owner.start(timeout_s=WAIT)
        assert len(kazoo_threads() - before) == 3  # connection, watch and completion threads
        path = await owner.create("/brokers/ids/0", b"{}", ephemeral=True, make_parents=True)
        stat = await observer.exists(path, log.watch("unregistered"))
        assert stat is not None and stat.ephemeral_owner == owner.session_id

        await asyncio.gather(owner.close(), owner.close())
        await owner.close()  # idempotent
        assert kazoo_threads() == before
        assert owner.session_id is None
        with pytest.raises(ConnectionLoss):
            await owner.get("/")

        assert (await log.next())[0] == "unregistered"
        assert await observer.exists(path) is None
        assert await observer.get_children("/brokers/ids") == []


async def test_start_without_a_server_raises_connection_loss_and_leaves_no_thread() -> None:
    before = kazoo_threads()
    client = ZkClient(f"127.0.0.1:{free_port()}")
    with pytest.raises(ConnectionLoss):
        await client.start(timeout_s=1.0)
    assert kazoo_threads() == before
    await client.close()  # already closed by the failed start: still fine


async def test_stalled_or_stopped_server_gives_connection_loss_then_the_session_resumes(
    zookeeper: ZooKeeperProcess,
) -> None:
    """SUSPENDED then CONNECTED across a ZooKeeper restart, with the same session and its
    ephemerals; requests meanwhile fail with ConnectionLoss within the request timeout."""
    loop_thread = threading.get_ident()
    events: list[tuple[str, SessionState | None, int]] = []

    def record(kind: str) -> Callable[..., None]:
        return lambda state=None: events.append((kind, state, threading.get_ident()))

    def states() -> list[SessionState | None]:
        return [state for kind, state, _ in events if kind == "session"]

    # The client reaches ZooKeeper through a proxy, cut while the server restarts: ZooKeeper
    # 3.8.0 listens before it serves, and a connection accepted in that window is neither
    # answered nor closed (an NPE in its close path), so the client would hang for its
    # connect timeout (the session timeout) and lose its session.
    with TcpProxy(("127.0.0.1", zookeeper.port), name="zookeeper") as proxy:
        zk = ZkClient(proxy.address, request_timeout_ms=1000)
        await zk.start(timeout_s=WAIT)
        try:
            zk.add_session_listener(record("session"))
            session_id = zk.session_id
            await zk.create("/controller", b"0", ephemeral=True)
            await zk.get("/controller", record("watch"))

            # A stalled server: the request is sent and never answered.
            pause_until_stopped(zookeeper)
            try:
                with pytest.raises(ConnectionLoss):
                    await zk.get("/controller")
            finally:
                zookeeper.resume()
            assert (await read(zk, "/controller"))[0] == b"0"

            await asyncio.to_thread(zookeeper.stop)
            proxy.cut(CutMode.RESET)
            await eventually(lambda: SessionState.SUSPENDED in states(), "SUSPENDED after stop")
            with pytest.raises(ConnectionLoss):
                await zk.exists("/controller")
            await asyncio.to_thread(zookeeper.start)
            proxy.restore()
            await eventually(lambda: states()[-1:] == [SessionState.CONNECTED], "reconnected")

            assert states() == [SessionState.SUSPENDED, SessionState.CONNECTED]
            assert zk.session_id == session_id
            stat = await zk.exists("/controller")
            assert stat is not None and stat.ephemeral_owner == session_id
            # The watch kazoo dropped with the connection fires once connected again.
            await eventually(lambda: len(events) == 3, "the watch fired after reconnecting")
            assert events == [
                ("session", SessionState.SUSPENDED, loop_thread),
                ("session", SessionState.CONNECTED, loop_thread),
                ("watch", None, loop_thread),
            ]
        finally:
            await zk.close()


async def test_expired_session_is_reported_and_replaced_by_a_new_one(
    zookeeper: ZooKeeperProcess,
) -> None:
    loop_thread = threading.get_ident()
    states: list[SessionState] = []
    log = WatchLog()

    def on_state(state: SessionState) -> None:
        assert threading.get_ident() == loop_thread
        states.append(state)

    async with zk_client(zookeeper, "/x") as zk:
        zk.add_session_listener(on_state)
        old_session = zk.session_id
        path = await zk.create("/brokers/ids/1", b"{}", ephemeral=True, make_parents=True)
        await zk.get(path, log.watch("registration"))

        # The takeover races the client's own reconnection (which re-takes the session);
        # the client's first retry is 0.1 s away, so one attempt nearly always wins.
        for _ in range(3):
            assert zk.session_id is not None and zk.session_password is not None
            await asyncio.to_thread(
                take_over_session, zookeeper, zk.session_id, zk.session_password
            )
            try:
                await eventually(lambda: SessionState.EXPIRED in states, "EXPIRED", 3.0)
                break
            except AssertionError:
                continue
        await eventually(lambda: states[-1:] == [SessionState.CONNECTED], "new session")

        assert states[-2:] == [SessionState.EXPIRED, SessionState.CONNECTED]
        assert set(states[:-2]) <= {SessionState.SUSPENDED}
        assert zk.session_id not in (None, old_session)
        assert await zk.exists(path) is None  # the old session's ephemeral went with it
        assert await log.next() == ("registration", loop_thread)
        # The broker re-registers under its new session.
        await zk.create(path, b"{}", ephemeral=True)
        stat = await zk.exists(path)
        assert stat is not None and stat.ephemeral_owner == zk.session_id
