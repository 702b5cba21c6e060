"""Cluster-mode tests: Grete's ZooKeeper layout against a real ZooKeeper server.

What the suites share lives here: a connected kazoo client bound to the `zookeeper`
fixture's server, a bounded wait, and ways to break a session (a server paused for sure,
a session taken over). They depend on the test harness only, never on grete.testing, so
they can drive any ZooKeeper the harness starts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from harness import ZooKeeperProcess
from kazoo.client import KazooClient

CONNECT_TIMEOUT = 10.0
# How many connect handshakes fit in one session timeout (see kazoo_client).
HANDSHAKES_PER_SESSION = 3


@contextmanager
def kazoo_client(
    zookeeper: ZooKeeperProcess, *, session_timeout: float = 10.0
) -> Iterator[KazooClient]:
    """A started kazoo client of ``zookeeper``; stopped and closed on exit.

    It reconnects forever, quickly (at most 1 s apart), so a test that restarts the server
    sees the same client, and the same session if it did not expire, come back.

    The one server is named three times in the connect string. kazoo waits
    ``session_timeout / len(hosts)`` for the answer to a connect, and ZooKeeper 3.8 never
    answers nor closes a connection that arrives after it binds its port but before it
    loads its database (it logs "ZooKeeperServer not running", then a NullPointerException
    from the close). With one name, a client that hits that window waits a whole session
    timeout, and its session expires before it tries again; with three it waits a third.
    """
    client = KazooClient(
        hosts=",".join([zookeeper.connect_string] * HANDSHAKES_PER_SESSION),
        timeout=session_timeout,
        connection_retry={"max_tries": -1, "delay": 0.1, "backoff": 1.5, "max_delay": 1.0},
    )
    client.start(timeout=CONNECT_TIMEOUT)
    try:
        yield client
    finally:
        client.stop()
        client.close()


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll ``condition`` every 20 ms until true; AssertionError naming ``what`` after timeout."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not true after {timeout}s")
        time.sleep(0.02)


def take_over_session(zookeeper: ZooKeeperProcess, session_id: int, password: bytes) -> None:
    """Connect a second client to an existing session, then close it: ZooKeeper's own
    recipe to expire a session in a test, without waiting out its timeout.

    The server moves the session to the new connection (dropping the first client's) and
    the close ends it; when the first client reconnects, it is told its session expired.
    Blocking: call it off the event loop.
    """
    client = KazooClient(
        hosts=zookeeper.connect_string, timeout=10.0, client_id=(session_id, password)
    )
    client.start(timeout=CONNECT_TIMEOUT)
    try:
        client.stop()
    finally:
        client.close()


def pause_until_stopped(zookeeper: ZooKeeperProcess, timeout: float = 5.0) -> None:
    """pause() the server, then wait until every JVM thread is stopped.

    SIGSTOP is delivered asynchronously: for a few milliseconds after kill() returns, a
    JVM thread may still run and answer a request sent meanwhile.
    """
    zookeeper.pause()
    tasks = Path(f"/proc/{zookeeper.pid}/task")
    deadline = time.monotonic() + timeout
    while not all(_thread_state(task) in "TtZX" for task in tasks.iterdir()):
        if time.monotonic() > deadline:
            raise AssertionError(f"zookeeper pid {zookeeper.pid} not stopped after {timeout}s")
        time.sleep(0.005)


def _thread_state(task: Path) -> str:
    """The one-letter state of a thread from /proc/<pid>/task/<tid>/stat ("X" if gone)."""
    try:
        stat = (task / "stat").read_text()
    except FileNotFoundError:
        return "X"
    return stat.rpartition(")")[2].split()[0]
