"""Cluster-mode tests: Grete's ZooKeeper layout against a real ZooKeeper server.

What the suites share lives here: a connected kazoo client bound to the `zookeeper`
fixture's server, and a bounded wait. Both depend on the test harness only, never on
grete.testing, so they can drive any ZooKeeper the harness starts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from harness import ZooKeeperProcess
from kazoo.client import KazooClient

CONNECT_TIMEOUT = 10.0


@contextmanager
def kazoo_client(
    zookeeper: ZooKeeperProcess, *, session_timeout: float = 10.0
) -> Iterator[KazooClient]:
    """A started kazoo client of ``zookeeper``; stopped and closed on exit.

    It reconnects forever, quickly (at most 1 s apart), so a test that restarts the server
    sees the same client, and the same session if it did not expire, come back.
    """
    client = KazooClient(
        hosts=zookeeper.connect_string,
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
