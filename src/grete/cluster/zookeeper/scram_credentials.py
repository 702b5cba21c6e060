"""SCRAM credentials in Kafka's ZooKeeper layout, shared by every broker of the cluster.

    /config/users/<user>   {"version":1,"config":{"SCRAM-SHA-256":"salt=...,stored_key=...,
                            server_key=...,iterations=4096","producer_byte_rate":"1024"}}

The user's config znode also holds its client quotas: writes are conditional
read-modify-writes that keep every other key (as the quota store keeps these), then a
change notification "users/<user>" tells Kafka-compatible listeners. Logins read the znode
afresh, so a credential altered through any broker takes effect everywhere at once.
"""

from __future__ import annotations

import logging
from urllib.parse import unquote

from grete.cluster.zookeeper import paths
from grete.cluster.zookeeper.client import (
    BadVersion,
    NodeExists,
    NoNode,
    NotEmpty,
    ZkClient,
    ZkError,
)
from grete.cluster.zookeeper.json_fields import ZNodeFormatError
from grete.cluster.zookeeper.notifications import ConfigChangeNotification
from grete.cluster.zookeeper.znodes import EntityConfig
from grete.security.sasl.credentials import SCRAM_MECHANISMS, ScramCredential, ScramMechanism
from grete.security.sasl.store import UserCredentials

log = logging.getLogger("grete.cluster")
WRITE_ATTEMPTS = 10


def _user_path(user: str) -> str:
    return paths.config_entity_path(paths.CONFIG_USERS, paths.quota_entity_znode_name(user))


def _credentials(config: dict[str, str], path: str) -> dict[ScramMechanism, ScramCredential]:
    found = {}
    for mechanism in SCRAM_MECHANISMS:
        text = config.get(mechanism.mechanism_name)
        if text is None:
            continue
        try:
            found[mechanism] = ScramCredential.decode(text)
        except ValueError as exc:
            log.warning("ignoring the %s credential in %s: %s", mechanism.mechanism_name, path, exc)
    return found


class ZkScramStore:
    """`ScramCredentialStore` of a cluster member."""

    def __init__(self, zk: ZkClient) -> None:
        self._zk = zk

    async def _config(self, user: str) -> tuple[dict[str, str], int] | None:
        path = _user_path(user)
        found = await self._zk.get(path)
        if found is None:
            return None
        try:
            config = dict(EntityConfig.decode(found[0]).config) if found[0] else {}
        except ZNodeFormatError as exc:
            log.warning("unreadable user config %s: %s", path, exc)
            config = {}
        return config, found[1].version

    async def get(self, user: str, mechanism: ScramMechanism) -> ScramCredential | None:
        found = await self._config(user)
        return None if found is None else _credentials(found[0], _user_path(user)).get(mechanism)

    async def describe(self, users: list[str] | None) -> UserCredentials:
        if users is None:
            parent = paths.config_entity_type_path(paths.CONFIG_USERS)
            children = await self._zk.get_children(parent) or []
            users = sorted(unquote(c) for c in children if c != paths.DEFAULT_ENTITY)
        result: UserCredentials = {}
        for user in users:
            found = await self._config(user)
            creds = {} if found is None else _credentials(found[0], _user_path(user))
            if creds:
                result[user] = creds
        return result

    async def alter(
        self, user: str, upsert: dict[ScramMechanism, ScramCredential], delete: set[ScramMechanism]
    ) -> None:
        path = _user_path(user)
        for _ in range(WRITE_ATTEMPTS):
            if await self._write(user, path, upsert, delete):
                break
        else:
            raise ZkError(f"{path} kept changing under a conditional write")
        await self._zk.ensure_path(paths.CONFIG_CHANGES)
        notification = ConfigChangeNotification(f"{paths.CONFIG_USERS}/{path.rsplit('/', 1)[1]}")
        await self._zk.create(
            paths.config_change_create_path(), notification.encode(), sequence=True
        )

    async def _write(
        self,
        user: str,
        path: str,
        upsert: dict[ScramMechanism, ScramCredential],
        delete: set[ScramMechanism],
    ) -> bool:
        """One read-modify-write; False when another writer got in between."""
        found = await self._config(user)
        config = {} if found is None else dict(found[0])
        for mechanism in delete:
            config.pop(mechanism.mechanism_name, None)
        config.update({m.mechanism_name: c.encode() for m, c in upsert.items()})
        data = EntityConfig(config).encode()
        try:
            if found is None:
                if config:
                    await self._zk.create(path, data, make_parents=True)
            elif config:
                await self._zk.set(path, data, found[1])
            else:
                try:
                    await self._zk.delete(path, found[1])
                except NotEmpty:  # the user's per-client quotas live below
                    await self._zk.set(path, data, found[1])
        except (NodeExists, NoNode, BadVersion):
            return False
        return True
