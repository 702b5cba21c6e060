"""ACLs in Kafka's ZooKeeper layout, kept current on every broker.

    /kafka-acl/<ResourceType>/<name>                      LITERAL patterns ("Topic", "Group",
    /kafka-acl-extended/prefixed/<ResourceType>/<name>    "Cluster", "TransactionalId")
        {"version":1,"acls":[{"principal":"User:alice","permissionType":"Allow",
                              "operation":"Read","host":"*"}]}
    /kafka-acl-changes/acl_changes_<seq>                  "TOPIC:<name>" (a LITERAL change)
    /kafka-acl-extended-changes/acl_changes_<seq>         {"version":1,"resourceType":"TOPIC",
                                                           "name":..,"patternType":"PREFIXED"}

Any broker may change ACLs, as Kafka's AclAuthorizer does: it rewrites the resource's znode
with a conditional write (deleting it once empty) and creates a change notification. Every
broker watches both change paths, re-reads each resource a new notification names, and
deletes notifications older than 15 minutes (Kafka's ZkNodeChangeNotificationListener).
At start-up and after each (re)connection it reads every ACL anew, since notifications may
have been missed meanwhile. Event loop only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from grete.clock import SYSTEM_CLOCK, Clock
from grete.cluster.acls import group_by_pattern
from grete.cluster.zookeeper.change_follower import ChangeFollower
from grete.cluster.zookeeper.client import (
    BadVersion,
    NodeExists,
    NoNode,
    ZkClient,
    ZkError,
)
from grete.security.acl.authorizer import AclAuthorizer
from grete.security.acl.codec import (
    decode_entries,
    decode_extended_change,
    decode_literal_change,
    encode_entries,
    encode_extended_change,
    encode_literal_change,
)
from grete.security.acl.types import (
    AccessControlEntry,
    AclBinding,
    AclBindingFilter,
    InvalidAcl,
    PatternType,
    ResourcePattern,
    ResourceType,
    pascal_name,
)

log = logging.getLogger("grete.cluster")

LITERAL_ACLS = "/kafka-acl"
PREFIXED_ACLS = "/kafka-acl-extended/prefixed"
LITERAL_CHANGES = "/kafka-acl-changes"
EXTENDED_CHANGES = "/kafka-acl-extended-changes"
CHANGE_PREFIX = "acl_changes_"
WRITE_ATTEMPTS = 10
STORED_TYPES = (
    ResourceType.TOPIC, ResourceType.GROUP, ResourceType.CLUSTER,
    ResourceType.TRANSACTIONAL_ID, ResourceType.DELEGATION_TOKEN, ResourceType.USER,
)  # fmt: skip
_DECODERS: dict[str, Callable[[bytes], ResourcePattern]] = {
    LITERAL_CHANGES: decode_literal_change,
    EXTENDED_CHANGES: decode_extended_change,
}


def resource_path(pattern: ResourcePattern) -> str:
    """The znode of a pattern's ACLs; names that would address another znode are refused."""
    if "/" in pattern.name or pattern.name in (".", ".."):
        raise InvalidAcl(f"resource name {pattern.name!r} cannot be stored in ZooKeeper")
    root = LITERAL_ACLS if pattern.pattern_type is PatternType.LITERAL else PREFIXED_ACLS
    return f"{root}/{pascal_name(pattern.resource_type)}/{pattern.name}"


def change_path(pattern: ResourcePattern) -> str:
    return LITERAL_CHANGES if pattern.pattern_type is PatternType.LITERAL else EXTENDED_CHANGES


class ZkAclStore(ChangeFollower):
    """`AclStore` of a cluster member; ``loaded`` is set once every ACL was read."""

    def __init__(self, zk: ZkClient, authorizer: AclAuthorizer, clock: Clock = SYSTEM_CLOCK) -> None:
        super().__init__(
            zk, clock, {LITERAL_CHANGES: CHANGE_PREFIX, EXTENDED_CHANGES: CHANGE_PREFIX}, "ACLs"
        )
        self.authorizer = authorizer

    # -- AclStore ---------------------------------------------------------------------------

    async def create(self, bindings: Sequence[AclBinding]) -> None:
        for pattern, entries in group_by_pattern(bindings).items():
            await self._update(pattern, frozenset(entries), frozenset())

    async def delete(self, filters: Sequence[AclBindingFilter]) -> list[list[AclBinding]]:
        deleted = [self.authorizer.acls(f) for f in filters]
        for pattern, entries in group_by_pattern([b for d in deleted for b in d]).items():
            await self._update(pattern, frozenset(), frozenset(entries))
        return deleted

    async def _update(
        self,
        pattern: ResourcePattern,
        added: frozenset[AccessControlEntry],
        removed: frozenset[AccessControlEntry],
    ) -> None:
        """Read-modify-write one resource's znode, notify every broker, update this one."""
        path = resource_path(pattern)
        for _ in range(WRITE_ATTEMPTS):
            found = await self._zk.get(path)
            current = frozenset() if found is None else self._entries(found[0], path)
            updated = (current | added) - removed
            if updated == current:
                self.authorizer.set_acls(pattern, updated)
                return
            try:
                if found is None:
                    await self._zk.create(path, encode_entries(updated), make_parents=True)
                elif updated:
                    await self._zk.set(path, encode_entries(updated), found[1].version)
                else:
                    await self._zk.delete(path, found[1].version)
            except (NodeExists, NoNode, BadVersion):
                continue  # another broker wrote meanwhile: read again
            break
        else:
            raise ZkError(f"{path} kept changing under a conditional write")
        changes = change_path(pattern)
        encode = encode_literal_change if changes == LITERAL_CHANGES else encode_extended_change
        await self._zk.ensure_path(changes)
        await self._zk.create(f"{changes}/{CHANGE_PREFIX}", encode(pattern), sequence=True)
        self.authorizer.set_acls(pattern, updated)

    @staticmethod
    def _entries(data: bytes, path: str) -> frozenset[AccessControlEntry]:
        try:
            return decode_entries(data)
        except ValueError as exc:
            log.warning("ignoring the ACLs of %s: %s", path, exc)
            return frozenset()

    # -- following the changes ------------------------------------------------------------

    async def reload_all(self) -> None:
        self.authorizer.replace_all(await self._read_all())

    async def on_change(self, directory: str, data: bytes, name: str) -> None:
        """Re-read the resource a notification names."""
        try:
            pattern = _DECODERS[directory](data)
        except ValueError as exc:
            log.warning("ignoring ACL change notification %s/%s: %s", directory, name, exc)
            return
        await self._refresh(pattern)

    async def _refresh(self, pattern: ResourcePattern) -> None:
        try:
            path = resource_path(pattern)
        except InvalidAcl:
            return
        found = await self._zk.get(path)
        self.authorizer.set_acls(pattern, frozenset() if found is None else self._entries(found[0], path))

    async def _read_all(self) -> dict[ResourcePattern, frozenset[AccessControlEntry]]:
        acls: dict[ResourcePattern, frozenset[AccessControlEntry]] = {}
        for root, pattern_type in ((LITERAL_ACLS, PatternType.LITERAL), (PREFIXED_ACLS, PatternType.PREFIXED)):
            for resource_type in STORED_TYPES:
                parent = f"{root}/{pascal_name(resource_type)}"
                for name in await self._zk.get_children(parent) or []:
                    path = f"{parent}/{name}"
                    found = await self._zk.get(path)
                    if found is not None:
                        entries = self._entries(found[0], path)
                        if entries:
                            acls[ResourcePattern(resource_type, name, pattern_type)] = entries
        return acls
