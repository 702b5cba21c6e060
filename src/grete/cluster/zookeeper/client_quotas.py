"""Client quota configs in Kafka's ZooKeeper layout, kept current on every broker.

    /config/clients/<client id>                   {"version":1,"config":{"producer_byte_rate":"1024"}}
    /config/users/<user>
    /config/users/<user>/clients/<client id>
    /config/ips/<ip>
    /config/changes/config_change_<seq>           {"version":2,"entity_path":"users/alice/clients/app"}

Names are URL-sanitized (Kafka's Sanitizer); ``<default>`` is a type's default entity.
Integral quotas are stored as whole numbers ("1024"), doubles as decimals ("50.0").

Any broker may alter quotas (as in Kafka's ZooKeeper mode): it rewrites the entity's znode
with a conditional write (keeping keys that are not quotas, such as a user's SCRAM
credentials), deletes the znode once it holds nothing, and creates a change notification.
Every broker watches /config/changes, as Kafka's ZkNodeChangeNotificationListener does: it
re-reads the entity each new notification names, and deletes notifications older than
15 minutes. At start-up and after each (re)connection it reads every entity anew, since
notifications may have been missed meanwhile. Event loop only.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from urllib.parse import unquote

from grete.clock import SYSTEM_CLOCK, Clock
from grete.cluster.zookeeper import paths
from grete.cluster.zookeeper.change_follower import ChangeFollower
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
from grete.security.quota.entity import (
    CLIENT_ID,
    IP,
    USER,
    QuotaConfigs,
    QuotaEntity,
    apply_changes,
    format_value,
    parse_values,
)

log = logging.getLogger("grete.cluster")

WRITE_ATTEMPTS = 10  # conditional writes lost to concurrent alterations before giving up
_TYPE_DIRS = {USER: paths.CONFIG_USERS, CLIENT_ID: paths.CONFIG_CLIENTS, IP: paths.CONFIG_IPS}


def entity_path(entity: QuotaEntity) -> str:
    """The entity's path under /config, as a change notification names it
    ("clients/app", "users/<default>", "users/alice/clients/app", "ips/10.0.0.1")."""
    if entity.has(USER) and entity.has(CLIENT_ID):
        user = paths.quota_entity_znode_name(entity.name(USER))
        client = paths.quota_entity_znode_name(entity.name(CLIENT_ID))
        return paths.user_client_config_path(user, client)[len(paths.CONFIG) + 1 :]
    ((entity_type, name),) = entity.parts
    path = paths.config_entity_path(_TYPE_DIRS[entity_type], paths.quota_entity_znode_name(name))
    return path[len(paths.CONFIG) + 1 :]


def entity_znode(entity: QuotaEntity) -> str:
    return f"{paths.CONFIG}/{entity_path(entity)}"


def parse_entity_path(path: str) -> QuotaEntity | None:
    """The quota entity a notification's entity_path names; None for other configs (topics,
    brokers) and for paths that are not one."""
    parts = path.strip("/").split("/")
    names = [None if p == paths.DEFAULT_ENTITY else unquote(p) for p in parts[1::2]]
    if any(not p for p in parts):
        return None
    if len(parts) == 2 and parts[0] == paths.CONFIG_USERS:
        return QuotaEntity.for_user(names[0])
    if len(parts) == 2 and parts[0] == paths.CONFIG_CLIENTS:
        return QuotaEntity.for_client(names[0])
    if len(parts) == 2 and parts[0] == paths.CONFIG_IPS:
        return QuotaEntity.for_ip(names[0])
    if len(parts) == 4 and parts[0] == paths.CONFIG_USERS and parts[2] == paths.CONFIG_CLIENTS:
        return QuotaEntity.for_user_client(names[0], names[1])
    return None


def _config_of(data: bytes, what: str) -> dict[str, str] | None:
    """A config znode's overrides; {} for a parent created empty; None if unreadable."""
    if not data:
        return {}
    try:
        return dict(EntityConfig.decode(data).config)
    except ZNodeFormatError as exc:
        log.warning("ignoring the config of %s: %s", what, exc)
        return None


class ZkClientQuotaStore(ChangeFollower):
    """`ClientQuotaStore` of a cluster member; ``loaded`` is set once everything was read."""

    def __init__(self, zk: ZkClient, clock: Clock = SYSTEM_CLOCK) -> None:
        super().__init__(zk, clock, {paths.CONFIG_CHANGES: paths.CONFIG_CHANGE_PREFIX}, "client quotas")
        self._quotas: dict[QuotaEntity, dict[str, float]] = {}
        self.version = 0

    # -- ClientQuotaStore -------------------------------------------------------------------

    def quotas(self) -> QuotaConfigs:
        return self._quotas

    async def alter(self, entity: QuotaEntity, changes: Mapping[str, float | None]) -> None:
        """Write the entity's znode and notify every broker; this broker's ``quotas()``
        shows the change on return (the others' within a watch round trip)."""
        path = entity_znode(entity)
        for _ in range(WRITE_ATTEMPTS):
            if await self._write(entity, path, changes):
                break
        else:
            raise ZkError(f"{path} kept changing under a conditional write")
        if entity.has(USER) and entity.has(CLIENT_ID):
            await self._remove_empty_parents(path)
        await self._zk.ensure_path(paths.CONFIG_CHANGES)
        notification = ConfigChangeNotification(entity_path(entity))
        await self._zk.create(
            paths.config_change_create_path(), notification.encode(), sequence=True
        )
        await self._refresh(entity)

    async def _write(
        self, entity: QuotaEntity, path: str, changes: Mapping[str, float | None]
    ) -> bool:
        """One read-modify-write of the znode; False when another writer got in between."""
        found = await self._zk.get(path)
        config = {} if found is None else _config_of(found[0], path)
        if config is None:
            config = {}  # unreadable: replaced, as Kafka's writer would
        current, _ = parse_values(entity, config)
        quotas = apply_changes(current, changes)
        keys = entity.quota_keys
        updated = {k: v for k, v in config.items() if k not in keys}
        updated.update({k: format_value(keys[k], v) for k, v in quotas.items()})
        data = EntityConfig(updated).encode()
        try:
            if found is None:
                if updated:
                    await self._zk.create(path, data, make_parents=True)
            elif updated:
                await self._zk.set(path, data, found[1].version)
            else:
                await self._delete_or_empty(path, data, found[1].version)
        except (NodeExists, NoNode, BadVersion):
            return False
        return True

    async def _delete_or_empty(self, path: str, empty: bytes, version: int) -> None:
        """Delete a znode left without config; one with children (a user's clients) keeps
        an empty config instead."""
        try:
            await self._zk.delete(path, version)
        except NotEmpty:
            await self._zk.set(path, empty, version)

    async def _remove_empty_parents(self, path: str) -> None:
        """After a (user, client) change: drop /config/users/<u>/clients and /config/users/<u>
        if nothing is left in them. Best effort: a concurrent writer may refill them."""
        clients_dir = path.rsplit("/", 1)[0]
        user_path = clients_dir.rsplit("/", 1)[0]
        with contextlib.suppress(NotEmpty, NoNode):
            await self._zk.delete(clients_dir)
        found = await self._zk.get(user_path)
        if found is None or _config_of(found[0], user_path) != {}:
            return
        with contextlib.suppress(NotEmpty, NoNode, BadVersion):
            await self._zk.delete(user_path, found[1].version)

    # -- following the changes ------------------------------------------------------------

    async def reload_all(self) -> None:
        self._replace(await self._read_all())

    async def on_change(self, directory: str, data: bytes, name: str) -> None:
        """Re-read the quota entity a config change names (other configs are not ours)."""
        try:
            changed = ConfigChangeNotification.decode(data).entity_path
        except ZNodeFormatError as exc:
            log.warning("ignoring config change notification %s: %s", name, exc)
            return
        entity = parse_entity_path(changed)
        if entity is not None:
            await self._refresh(entity)

    async def _refresh(self, entity: QuotaEntity) -> None:
        """Re-read one entity. No await between the read and the update: reads complete
        in ZooKeeper's order, so the last one applied is the newest."""
        path = entity_znode(entity)
        found = await self._zk.get(path)
        config = {} if found is None else _config_of(found[0], path)
        if config is None:
            return
        self._set(entity, self._values(entity, config, path))

    async def _read_all(self) -> dict[QuotaEntity, dict[str, float]]:
        found: dict[QuotaEntity, dict[str, float]] = {}
        for entity_type, directory in _TYPE_DIRS.items():
            parent = paths.config_entity_type_path(directory)
            for child in await self._zk.get_children(parent) or []:
                entity = parse_entity_path(f"{directory}/{child}")
                if entity is None or not entity.has(entity_type):
                    continue
                await self._read_into(found, entity)
                if entity_type == USER:
                    clients = (
                        await self._zk.get_children(f"{parent}/{child}/{paths.CONFIG_CLIENTS}")
                        or []
                    )
                    for client in clients:
                        pair = parse_entity_path(
                            f"{directory}/{child}/{paths.CONFIG_CLIENTS}/{client}"
                        )
                        if pair is not None:
                            await self._read_into(found, pair)
        return found

    async def _read_into(
        self, found: dict[QuotaEntity, dict[str, float]], entity: QuotaEntity
    ) -> None:
        path = entity_znode(entity)
        read = await self._zk.get(path)
        config = None if read is None else _config_of(read[0], path)
        if config:
            values = self._values(entity, config, path)
            if values:
                found[entity] = values

    @staticmethod
    def _values(entity: QuotaEntity, config: Mapping[str, str], path: str) -> dict[str, float]:
        values, bad = parse_values(entity, config)
        if bad:
            log.warning("ignoring quotas %s of %s: not numbers", bad, path)
        return values

    def _set(self, entity: QuotaEntity, values: dict[str, float]) -> None:
        if self._quotas.get(entity, {}) == values:
            return
        quotas = dict(self._quotas)
        if values:
            quotas[entity] = values
        else:
            quotas.pop(entity, None)
        self._quotas = quotas
        self.version += 1

    def _replace(self, quotas: dict[QuotaEntity, dict[str, float]]) -> None:
        if quotas != self._quotas:
            self._quotas = quotas
            self.version += 1
