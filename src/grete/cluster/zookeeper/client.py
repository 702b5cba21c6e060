"""ZooKeeper for the event loop: an asyncio adapter over kazoo, the only module importing it.

kazoo runs a connection thread plus two worker threads (watch events, request
completions). Nothing here blocks on them: each request is one of kazoo's *_async calls
whose completion is handed to the loop with call_soon_threadsafe, and so are watch events
and session state changes. Because kazoo's connection thread reads the socket in server
order and each kind of callback has one worker thread, completions reach the loop in the
order ZooKeeper answered, and session states in the order they happened.

Watches are one-shot, as in ZooKeeper, and take no arguments: the caller re-reads. kazoo
does not re-register watches after a reconnection; it fires them all when the connection
drops instead. Those fires are held back until the client is connected again, so that the
caller's re-read succeeds and re-arms its watch. A watch may therefore fire although
nothing changed (never the reverse).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeAlias

from kazoo import exceptions as kazoo_errors  # type: ignore[import-untyped]
from kazoo.client import KazooClient  # type: ignore[import-untyped]
from kazoo.protocol.states import EventType, KazooState  # type: ignore[import-untyped]

from grete.cluster.errors import CoordinationUnavailable

logger = logging.getLogger("grete.zookeeper")

# kazoo reconnects forever (as Kafka's client does), at most 1 s apart.
_RECONNECT_POLICY = {"max_tries": -1, "delay": 0.1, "backoff": 2, "max_delay": 1.0}
# Pause before re-sending a request that lost its connection, doubled up to the max.
_RETRY_PAUSE_S = 0.05
_RETRY_PAUSE_MAX_S = 1.0
# A recursive delete starts over when a child appears meanwhile, this many times at most.
_DELETE_TREE_ATTEMPTS = 5


class SessionState(Enum):
    """The session as listeners see it.

    CONNECTED: requests are served. SUSPENDED: the connection is lost; the session and its
    ephemeral znodes live on until the session timeout. EXPIRED: the session is gone with
    its ephemerals; kazoo goes on reconnecting with a new session (CONNECTED again).
    """

    CONNECTED = "connected"
    SUSPENDED = "suspended"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class ZnodeStat:
    """The part of ZooKeeper's Stat that the broker uses (version fences conditional writes)."""

    version: int
    ephemeral_owner: int  # the owning session id, 0 for a persistent znode
    ctime_ms: int
    mtime_ms: int
    czxid: int
    mzxid: int


class ZkError(Exception):
    """A ZooKeeper request failed."""


class NoNode(ZkError):
    pass


class NodeExists(ZkError):
    pass


class BadVersion(ZkError):
    """A conditional write named a version the znode no longer has: someone wrote first."""


class NotEmpty(ZkError):
    pass


class ConnectionLoss(ZkError, CoordinationUnavailable):
    """No answer within the request timeout: a write may or may not have been applied."""


class SessionExpired(ZkError, CoordinationUnavailable):
    """The session ended (its ephemeral znodes are gone) while the request was pending."""


@dataclass(frozen=True, slots=True)
class CheckVersion:
    path: str
    version: int


@dataclass(frozen=True, slots=True)
class CreateOp:
    path: str
    data: bytes
    ephemeral: bool = False
    sequence: bool = False


@dataclass(frozen=True, slots=True)
class SetDataOp:
    path: str
    data: bytes
    version: int = -1


@dataclass(frozen=True, slots=True)
class DeleteOp:
    path: str
    version: int = -1


ZkOp: TypeAlias = CheckVersion | CreateOp | SetDataOp | DeleteOp
Watch: TypeAlias = Callable[[], None]
SessionListener: TypeAlias = Callable[[SessionState], None]


class TransactionFailed(ZkError):
    """A multi changed nothing because ops[failed_index] failed with ``cause``."""

    def __init__(self, failed_index: int, cause: ZkError) -> None:
        super().__init__(f"multi op {failed_index} failed: {cause!r}")
        self.failed_index = failed_index
        self.cause = cause


class ZkClient:
    """One ZooKeeper session, reconnected and renewed by kazoo, used from one event loop.

    Not thread-safe: call it only from the loop that ran start(). Watches and session
    listeners are called on that loop; an exception they raise is logged and dropped.
    A request that loses its connection is sent again once connected, until
    ``request_timeout_ms`` (default: the session timeout) has passed since it was made;
    then it raises ConnectionLoss. So, as with Kafka's ZooKeeper client, a write retried
    after its first try was applied may see its own effect: NodeExists for a create,
    BadVersion for a conditional write. A request pending when the session expires raises
    SessionExpired and is not retried.
    """

    def __init__(
        self,
        connect: str,
        *,
        session_timeout_ms: int = 18000,
        connection_timeout_ms: int = 10000,
        request_timeout_ms: int | None = None,
    ) -> None:
        hosts, slash, chroot = connect.partition("/")
        if not hosts:
            raise ValueError(f"zookeeper.connect names no host: {connect!r}")
        self._connect = connect
        # The chroot is ours, not kazoo's, so that start() can create it on the same session.
        self._chroot = ("/" + chroot).rstrip("/") if slash else ""
        self._connection_timeout_s = connection_timeout_ms / 1000
        self._request_timeout_s = (request_timeout_ms or session_timeout_ms) / 1000
        try:
            self._kazoo: Any = KazooClient(
                hosts=hosts,
                timeout=session_timeout_ms / 1000,
                connection_retry=dict(_RECONNECT_POLICY),
                logger=logger,
            )
        except kazoo_errors.KazooException as exc:
            raise ValueError(f"bad zookeeper.connect {connect!r}: {exc}") from None
        self._kazoo.add_listener(self._on_kazoo_state)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listeners: list[SessionListener] = []
        self._state: SessionState | None = None
        self._session: tuple[int, bytes] | None = None
        self._connected = asyncio.Event()
        self._pending: set[asyncio.Future[Any]] = set()
        self._deferred_watches: list[Watch] = []
        self._closing = False
        self._close_task: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self, timeout_s: float | None = None) -> None:
        """Connect, then create the chroot if absent (as Kafka does).

        Raises ConnectionLoss, and closes the client, when there is no session within
        ``timeout_s`` (default: connection_timeout_ms).
        """
        if self._loop is not None or self._closing:
            raise RuntimeError("a ZkClient starts once, before close()")
        self._loop = asyncio.get_running_loop()
        timeout = self._connection_timeout_s if timeout_s is None else timeout_s
        logger.info("connecting to ZooKeeper at %s", self._connect)
        self._kazoo.start_async()
        try:
            try:
                async with asyncio.timeout(timeout):
                    await self._connected.wait()
            except TimeoutError:
                raise ConnectionLoss(
                    f"no ZooKeeper session with {self._connect} within {timeout}s"
                ) from None
            if self._chroot:
                await self._call(self._chroot, lambda: self._kazoo.ensure_path_async(self._chroot))
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """End the session (its ephemeral znodes go with it) and stop every kazoo thread.

        Idempotent; concurrent callers all wait for the one shutdown. Listeners and
        watches are not called from here on; pending requests raise ConnectionLoss.
        """
        if self._close_task is None:
            self._closing = True
            self._connected.clear()
            self._close_task = asyncio.get_running_loop().create_task(self._shutdown())
        await asyncio.shield(self._close_task)

    async def _shutdown(self) -> None:
        # kazoo's stop() sends closeSession and joins its threads: blocking, so not here.
        await asyncio.to_thread(self._stop_kazoo)
        for future in self._pending:
            if not future.done():
                future.set_exception(ConnectionLoss("the ZooKeeper client is closed"))
        self._deferred_watches.clear()
        self._session = None
        logger.info("ZooKeeper client for %s closed", self._connect)

    def _stop_kazoo(self) -> None:
        self._kazoo.stop()
        self._kazoo.close()

    # -- session -----------------------------------------------------------------------
    def add_session_listener(self, callback: SessionListener) -> None:
        """Call ``callback`` on the loop with each session state change, in order."""
        self._listeners.append(callback)

    @property
    def state(self) -> SessionState | None:
        """The last state delivered on the loop; None before the first session."""
        return self._state

    @property
    def session_id(self) -> int | None:
        """The current (or, while SUSPENDED, last) session; None when there is none."""
        return self._session[0] if self._session is not None else None

    @property
    def session_password(self) -> bytes | None:
        """With session_id, lets another client take the session over. Tests use that to
        force an expiry, ZooKeeper's own recipe: open and close a second client with both."""
        return self._session[1] if self._session is not None else None

    # -- reads -------------------------------------------------------------------------
    async def get(self, path: str, watch: Watch | None = None) -> tuple[bytes, ZnodeStat] | None:
        """The znode's data and stat, None if absent. A watch fires on its next change,
        deletion, or creation when it was absent."""
        full, bridge = self._full(path), self._bridge(watch)
        while True:
            try:
                data, stat = await self._call(path, lambda: self._kazoo.get_async(full, bridge))
                return (b"" if data is None else bytes(data)), _znode_stat(stat)  # null data
            except NoNode:
                if bridge is None:
                    return None
            # Absent: an exists-watch fires when it is created. Created meanwhile: read it.
            if await self._call(path, lambda: self._kazoo.exists_async(full, bridge)) is None:
                return None

    async def get_children(self, path: str, watch: Watch | None = None) -> list[str] | None:
        """The children's names, None if the znode is absent. A watch fires when a child is
        created or deleted, when the znode is deleted, or created if it was absent."""
        full, bridge = self._full(path), self._bridge(watch)
        while True:
            try:
                children = await self._call(
                    path, lambda: self._kazoo.get_children_async(full, bridge)
                )
                return list(children)
            except NoNode:
                if bridge is None:
                    return None
            if await self._call(path, lambda: self._kazoo.exists_async(full, bridge)) is None:
                return None

    async def exists(self, path: str, watch: Watch | None = None) -> ZnodeStat | None:
        """The stat, None if absent. A watch fires on creation, change or deletion."""
        full, bridge = self._full(path), self._bridge(watch)
        stat = await self._call(path, lambda: self._kazoo.exists_async(full, bridge))
        return None if stat is None else _znode_stat(stat)

    # -- writes ------------------------------------------------------------------------
    async def create(
        self,
        path: str,
        data: bytes = b"",
        *,
        ephemeral: bool = False,
        sequence: bool = False,
        make_parents: bool = False,
    ) -> str:
        """Create the znode; returns its path (with the sequence number if ``sequence``)."""
        full = self._full(path)
        created = await self._call(
            path,
            lambda: self._kazoo.create_async(
                full, data, ephemeral=ephemeral, sequence=sequence, makepath=make_parents
            ),
        )
        return self._relative(created)

    async def set(self, path: str, data: bytes, version: int = -1) -> ZnodeStat:
        """Replace the data; with ``version`` >= 0 only if the znode still has that version."""
        full = self._full(path)
        stat = await self._call(path, lambda: self._kazoo.set_async(full, data, version))
        return _znode_stat(stat)

    async def delete(self, path: str, version: int = -1, *, recursive: bool = False) -> None:
        """Delete the znode (NoNode if absent), or with ``recursive`` its whole subtree
        (nothing if absent; no version then)."""
        if recursive:
            if version != -1:
                raise ValueError("a recursive delete takes no version")
            await self._delete_tree(path)
            return
        full = self._full(path)
        await self._call(path, lambda: self._kazoo.delete_async(full, version))

    async def _delete_tree(self, path: str) -> None:
        for _ in range(_DELETE_TREE_ATTEMPTS):
            children = await self.get_children(path)
            if children is None:
                return
            for child in children:
                await self._delete_tree(f"{path.rstrip('/')}/{child}")
            try:
                await self.delete(path)
                return
            except NoNode:
                return
            except NotEmpty:
                continue  # a child was created meanwhile
        raise NotEmpty(f"{path} kept getting new children while deleted recursively")

    async def ensure_path(self, path: str) -> None:
        """Create the znode and its missing parents, empty; nothing if it exists."""
        full = self._full(path)
        await self._call(path, lambda: self._kazoo.ensure_path_async(full))

    async def multi(self, ops: Sequence[ZkOp]) -> list[str | ZnodeStat | None]:
        """Apply every op or none. Returns, per op: the created path for CreateOp, the new
        stat for SetDataOp, None for CheckVersion and DeleteOp. Raises TransactionFailed
        naming the first op that failed."""
        if not ops:
            return []
        where = f"a multi of {len(ops)} ops from {ops[0].path}"
        results = await self._call(where, lambda: self._transaction(ops).commit_async())
        errors = [i for i, r in enumerate(results) if isinstance(r, kazoo_errors.KazooException)]
        if errors:
            # The failed op carries its own error; the others say "rolled back" or "not run".
            skipped = (kazoo_errors.RolledBackError, kazoo_errors.RuntimeInconsistency)
            failed = next((i for i in errors if not isinstance(results[i], skipped)), errors[0])
            cause = self._translate(results[failed], ops[failed].path)
            raise TransactionFailed(failed, cause)
        return [self._multi_result(op, result) for op, result in zip(ops, results, strict=True)]

    def _transaction(self, ops: Sequence[ZkOp]) -> Any:
        transaction = self._kazoo.transaction()
        for op in ops:
            full = self._full(op.path)
            if isinstance(op, CheckVersion):
                transaction.check(full, op.version)
            elif isinstance(op, CreateOp):
                transaction.create(full, op.data, ephemeral=op.ephemeral, sequence=op.sequence)
            elif isinstance(op, SetDataOp):
                transaction.set_data(full, op.data, op.version)
            elif isinstance(op, DeleteOp):
                transaction.delete(full, op.version)
            else:
                raise TypeError(f"not a ZooKeeper multi op: {op!r}")
        return transaction

    def _multi_result(self, op: ZkOp, result: Any) -> str | ZnodeStat | None:
        if isinstance(op, CreateOp):
            return self._relative(result)
        if isinstance(op, SetDataOp):
            return _znode_stat(result)
        return None

    # -- requests: kazoo threads -> loop -------------------------------------------------
    async def _call(self, path: str, request: Callable[[], Any]) -> Any:
        """Issue a kazoo *_async request and await its answer, re-sending it after a lost
        connection until the request deadline. Raises ZkError, never a kazoo error."""
        loop = self._running_loop()
        deadline = loop.time() + self._request_timeout_s
        pause = _RETRY_PAUSE_S
        while True:
            if self._closing:
                raise ConnectionLoss("the ZooKeeper client is closed")
            try:
                return await self._attempt(path, request, deadline)
            except ConnectionLoss:
                if self._closing or loop.time() >= deadline:
                    raise
            logger.debug("ZooKeeper request on %s lost its connection; retrying", path)
            # The pause also spares a busy loop when the loss is seen before SUSPENDED is.
            await asyncio.sleep(min(pause, max(0.0, deadline - loop.time())))
            pause = min(pause * 2, _RETRY_PAUSE_MAX_S)
            try:
                async with asyncio.timeout_at(deadline):
                    await self._connected.wait()
            except TimeoutError:
                raise ConnectionLoss(
                    f"no ZooKeeper connection for {path} within {self._request_timeout_s}s"
                ) from None

    async def _attempt(self, path: str, request: Callable[[], Any], deadline: float) -> Any:
        future: asyncio.Future[Any] = self._running_loop().create_future()
        self._pending.add(future)
        try:
            request().rawlink(functools.partial(self._on_kazoo_result, future))
            async with asyncio.timeout_at(deadline):
                return await future
        except TimeoutError:
            raise ConnectionLoss(
                f"no answer from ZooKeeper for {path} within {self._request_timeout_s}s"
            ) from None
        except kazoo_errors.KazooException as exc:
            raise self._translate(exc, path) from None
        finally:
            self._pending.discard(future)

    def _on_kazoo_result(self, future: asyncio.Future[Any], result: Any) -> None:
        """kazoo's completion thread: hand the answer, or the error, to the loop."""
        if result.successful():
            self._post(functools.partial(_set_result, future, result.value))
        else:
            self._post(functools.partial(_set_exception, future, result.exception))

    def _translate(self, error: BaseException, path: str) -> ZkError:
        if isinstance(error, kazoo_errors.NoNodeError):
            return NoNode(f"no znode {path}")
        if isinstance(error, kazoo_errors.NodeExistsError):
            return NodeExists(f"znode {path} exists")
        if isinstance(error, kazoo_errors.BadVersionError):
            return BadVersion(f"znode {path} does not have the expected version")
        if isinstance(error, kazoo_errors.NotEmptyError):
            return NotEmpty(f"znode {path} has children")
        if isinstance(error, kazoo_errors.SessionExpiredError):
            # kazoo's "connection closed" is a SessionExpiredError too: ours is closing.
            if self._closing:
                return ConnectionLoss("the ZooKeeper client is closed")
            return SessionExpired(f"ZooKeeper session expired during a request on {path}")
        lost = (
            kazoo_errors.ConnectionLoss,
            kazoo_errors.ConnectionDropped,
            kazoo_errors.OperationTimeoutError,
        )
        if isinstance(error, lost):
            return ConnectionLoss(f"ZooKeeper connection lost during a request on {path}")
        return ZkError(f"{type(error).__name__} on {path}: {error}")

    def _post(self, callback: Callable[[], None]) -> None:
        """From a kazoo thread: run ``callback`` on the loop."""
        assert self._loop is not None  # kazoo threads run only after start()
        try:
            self._loop.call_soon_threadsafe(callback)
        except RuntimeError:  # the loop closed before close() was awaited
            logger.debug("event loop closed: dropped a ZooKeeper event")

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("ZkClient.start() was not called")
        return self._loop

    # -- session states and watches: kazoo threads -> loop ------------------------------
    def _on_kazoo_state(self, state: Any) -> None:
        """kazoo's connection thread, in order of occurrence."""
        if state == KazooState.CONNECTED:
            session = self._kazoo.client_id  # read now: it may change before the loop runs
            self._post(functools.partial(self._session_changed, SessionState.CONNECTED, session))
        elif state == KazooState.SUSPENDED:
            self._post(functools.partial(self._session_changed, SessionState.SUSPENDED, None))
        else:  # LOST: the session expired (or closed, which is not reported)
            self._post(functools.partial(self._session_changed, SessionState.EXPIRED, None))

    def _session_changed(self, state: SessionState, session: tuple[int, bytes] | None) -> None:
        if self._closing:
            return
        if state is SessionState.CONNECTED:
            if session is not None:
                self._session = (int(session[0]), bytes(session[1]))
            self._connected.set()
        else:
            self._connected.clear()
            if state is SessionState.EXPIRED:
                self._session = None
        self._state = state
        logger.info("ZooKeeper session %s: %s", _hex(self.session_id), state.value)
        for listener in tuple(self._listeners):
            try:
                listener(state)
            except Exception:
                logger.exception("ZooKeeper session listener failed on %s", state.value)
        if state is SessionState.CONNECTED:
            deferred, self._deferred_watches = self._deferred_watches, []
            for watch in deferred:
                self._run_watch(watch)

    def _bridge(self, watch: Watch | None) -> _WatchBridge | None:
        return None if watch is None else _WatchBridge(self, watch)

    def _watch_triggered(self, watch: Watch, connection_lost: bool) -> None:
        if self._closing:
            return
        if connection_lost and self._state is not SessionState.CONNECTED:
            # Re-reading now would fail: fire once connected again (the watch is gone).
            if watch not in self._deferred_watches:
                self._deferred_watches.append(watch)
            return
        self._run_watch(watch)

    def _run_watch(self, watch: Watch) -> None:
        try:
            watch()
        except Exception:
            logger.exception("ZooKeeper watch callback failed")

    # -- chroot ------------------------------------------------------------------------
    def _full(self, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError(f"a znode path starts with '/': {path!r}")
        if not self._chroot:
            return path
        return self._chroot if path == "/" else self._chroot + path

    def _relative(self, full: str) -> str:
        if not self._chroot:
            return full
        if full == self._chroot:
            return "/"
        return full[len(self._chroot) :] if full.startswith(self._chroot + "/") else full


class _WatchBridge:
    """What kazoo holds for one watch callback; called on kazoo's watch thread.

    Equal for equal callbacks, so kazoo's per-path watcher set keeps a callback once: as in
    ZooKeeper, a watcher set twice on a znode fires once per event.
    """

    __slots__ = ("_client", "_hash", "watch")

    def __init__(self, client: ZkClient, watch: Watch) -> None:
        self._client = client
        self.watch = watch
        try:
            self._hash = hash(watch)
        except TypeError:
            self._hash = id(watch)

    def __call__(self, event: Any) -> None:
        # EventType.NONE: kazoo dropped the watch with its connection, nothing changed yet.
        lost = event.type == EventType.NONE
        self._client._post(functools.partial(self._client._watch_triggered, self.watch, lost))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _WatchBridge) and (
            other.watch is self.watch or other.watch == self.watch
        )

    def __hash__(self) -> int:
        return self._hash


def _znode_stat(stat: Any) -> ZnodeStat:
    return ZnodeStat(
        version=int(stat.version),
        ephemeral_owner=int(stat.ephemeralOwner),
        ctime_ms=int(stat.ctime),
        mtime_ms=int(stat.mtime),
        czxid=int(stat.czxid),
        mzxid=int(stat.mzxid),
    )


def _set_result(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


def _hex(session_id: int | None) -> str:
    return "none" if session_id is None else f"0x{session_id:x}"
