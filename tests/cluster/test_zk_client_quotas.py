"""Client quota configs in ZooKeeper (ZkClientQuotaStore) against a real ZooKeeper server.

Two stores stand for two brokers. What one writes must sit at Kafka's paths in Kafka's
JSON, with a version-2 change notification, and reach the other through its watch; what
Kafka's own tooling writes (a znode plus a notification) must reach both; a store reads
everything at start-up and again after its session expired.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from harness import ZooKeeperProcess
from kazoo.client import KazooClient

from grete.clock import ManualClock
from grete.cluster.zookeeper.change_follower import CHANGE_EXPIRATION_MS
from grete.cluster.zookeeper.client import SessionState, ZkClient
from grete.cluster.zookeeper.client_quotas import ZkClientQuotaStore
from grete.security.quota.entity import QuotaEntity

from . import kazoo_client, take_over_session

WAIT = 10.0
E = QuotaEntity


@asynccontextmanager
async def zk_session(zookeeper: ZooKeeperProcess) -> AsyncIterator[ZkClient]:
    zk = ZkClient(zookeeper.connect_string)
    await zk.start(timeout_s=WAIT)
    try:
        yield zk
    finally:
        await zk.close()


@asynccontextmanager
async def quota_store(
    zookeeper: ZooKeeperProcess, clock: ManualClock | None = None
) -> AsyncIterator[ZkClientQuotaStore]:
    """A started store on its own session; its clock is now, unless given."""
    async with zk_session(zookeeper) as zk:
        store = ZkClientQuotaStore(zk, clock or ManualClock(int(time.time() * 1000)))
        async with asyncio.timeout(WAIT):
            await store.start()
        try:
            yield store
        finally:
            await store.stop()


async def eventually(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"{what}: not true after {timeout}s") from None


def znode_json(kazoo: KazooClient, path: str) -> object:
    data, _ = kazoo.get(path)
    return json.loads(data)


def notifications(kazoo: KazooClient) -> list[object]:
    children = sorted(kazoo.get_children("/config/changes"))
    return [znode_json(kazoo, f"/config/changes/{child}") for child in children]


async def test_alterations_are_kafkas_znodes_and_reach_every_broker(
    zookeeper: ZooKeeperProcess,
) -> None:
    alice_app = E.for_user_client("alice@example.com", "app")
    with kazoo_client(zookeeper) as kazoo:
        # A SCRAM credential shares the user's znode: quota changes must leave it alone.
        kazoo.create(
            "/config/users/alice%40example.com",
            b'{"version":1,"config":{"SCRAM-SHA-256":"salt=c2FsdA==,iterations=4096"}}',
            makepath=True,
        )
        async with quota_store(zookeeper) as one, quota_store(zookeeper) as two:
            await one.alter(alice_app, {"producer_byte_rate": 1024.0, "request_percentage": 50.0})
            await one.alter(E.for_user("alice@example.com"), {"consumer_byte_rate": 2048.0})
            await one.alter(E.for_client(None), {"controller_mutation_rate": 0.5})
            await one.alter(E.for_ip("::1"), {"connection_creation_rate": 7.0})
            expected = {
                alice_app: {"producer_byte_rate": 1024.0, "request_percentage": 50.0},
                E.for_user("alice@example.com"): {"consumer_byte_rate": 2048.0},
                E.for_client(None): {"controller_mutation_rate": 0.5},
                E.for_ip("::1"): {"connection_creation_rate": 7.0},
            }
            assert one.quotas() == expected  # the writer sees its own change on return
            await eventually(lambda: two.quotas() == expected, "the other store sees every change")

            assert znode_json(kazoo, "/config/users/alice%40example.com/clients/app") == {
                "version": 1,
                "config": {"producer_byte_rate": "1024", "request_percentage": "50.0"},
            }
            assert znode_json(kazoo, "/config/users/alice%40example.com") == {
                "version": 1,
                "config": {
                    "SCRAM-SHA-256": "salt=c2FsdA==,iterations=4096",
                    "consumer_byte_rate": "2048",
                },
            }
            assert znode_json(kazoo, "/config/clients/<default>") == {
                "version": 1,
                "config": {"controller_mutation_rate": "0.5"},
            }
            assert znode_json(kazoo, "/config/ips/%3A%3A1") == {
                "version": 1,
                "config": {"connection_creation_rate": "7"},
            }
            assert notifications(kazoo) == [
                {"version": 2, "entity_path": "users/alice%40example.com/clients/app"},
                {"version": 2, "entity_path": "users/alice%40example.com"},
                {"version": 2, "entity_path": "clients/<default>"},
                {"version": 2, "entity_path": "ips/%3A%3A1"},
            ]

            # Removing every quota removes the znode (and the empty parents of a pair);
            # the user's znode stays for its credential.
            await two.alter(alice_app, {"producer_byte_rate": None, "request_percentage": None})
            await two.alter(E.for_user("alice@example.com"), {"consumer_byte_rate": None})
            await two.alter(E.for_client(None), {"controller_mutation_rate": None})
            remaining = {E.for_ip("::1"): {"connection_creation_rate": 7.0}}
            assert two.quotas() == remaining
            await eventually(lambda: one.quotas() == remaining, "the first store sees the removals")
            assert kazoo.exists("/config/users/alice%40example.com/clients") is None
            assert kazoo.exists("/config/clients/<default>") is None
            assert znode_json(kazoo, "/config/users/alice%40example.com") == {
                "version": 1,
                "config": {"SCRAM-SHA-256": "salt=c2FsdA==,iterations=4096"},
            }


async def test_kafka_tooling_writes_are_seen_and_old_notifications_purged(
    zookeeper: ZooKeeperProcess,
) -> None:
    with kazoo_client(zookeeper) as kazoo:
        kazoo.ensure_path("/config/changes")
        kazoo.create(
            "/config/users/<default>/clients/app",
            b'{"version":1,"config":{"producer_byte_rate":"100"}}',
            makepath=True,
        )
        kazoo.create(
            "/config/changes/config_change_",
            b'{"version":2,"entity_path":"users/<default>/clients/app"}',
            sequence=True,
        )
        clock = ManualClock(int(time.time() * 1000))
        async with quota_store(zookeeper, clock) as store:
            # Loaded at start-up, not from the notification.
            assert store.quotas() == {E.for_user_client(None, "app"): {"producer_byte_rate": 100.0}}

            # kafka-configs.sh --zookeeper, before Kafka 2.x's version-2 notifications.
            kazoo.create(
                "/config/clients/web",
                b'{"version":1,"config":{"consumer_byte_rate":"4096"}}',
                makepath=True,
            )
            kazoo.create(
                "/config/changes/config_change_",
                b'{"version":1,"entity_type":"clients","entity_name":"web"}',
                sequence=True,
            )
            await eventually(
                lambda: E.for_client("web") in store.quotas(),
                "a version-1 notification is acted on",
            )
            assert store.quotas()[E.for_client("web")] == {"consumer_byte_rate": 4096.0}

            # Topic config changes are not quotas; a notification past 15 minutes is deleted.
            clock.advance(CHANGE_EXPIRATION_MS + 60_000)
            kazoo.set("/config/users/<default>/clients/app", b'{"version":1,"config":{}}')
            kazoo.create(
                "/config/changes/config_change_",
                b'{"version":2,"entity_path":"topics/t"}',
                sequence=True,
            )
            kazoo.create(
                "/config/changes/config_change_",
                b'{"version":2,"entity_path":"users/<default>/clients/app"}',
                sequence=True,
            )
            await eventually(
                lambda: E.for_user_client(None, "app") not in store.quotas(),
                "a removal is acted on",
            )
            await eventually(
                lambda: kazoo.get_children("/config/changes") == [], "old notifications purged"
            )
            assert store.quotas() == {E.for_client("web"): {"consumer_byte_rate": 4096.0}}


async def test_a_new_session_rereads_every_quota(zookeeper: ZooKeeperProcess) -> None:
    with kazoo_client(zookeeper) as kazoo:
        async with zk_session(zookeeper) as zk:
            store = ZkClientQuotaStore(zk)
            states: list[SessionState] = []
            zk.add_session_listener(states.append)
            async with asyncio.timeout(WAIT):
                await store.start()
            # Written without a notification: only a full read finds it.
            kazoo.create(
                "/config/ips/<default>",
                b'{"version":1,"config":{"connection_creation_rate":"9"}}',
                makepath=True,
            )
            await asyncio.sleep(0.2)
            assert store.quotas() == {}
            # The takeover races the client's own reconnection; one try nearly always wins.
            for _ in range(3):
                assert zk.session_id is not None and zk.session_password is not None
                await asyncio.to_thread(
                    take_over_session, zookeeper, zk.session_id, zk.session_password
                )
                try:
                    await eventually(lambda: SessionState.EXPIRED in states, "session expired", 3.0)
                    break
                except AssertionError:
                    continue
            await eventually(
                lambda: store.quotas() == {E.for_ip(None): {"connection_creation_rate": 9.0}},
                "the quota written while unnotified is read after the new session",
            )
            await store.stop()
