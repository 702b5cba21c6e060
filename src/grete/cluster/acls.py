"""Where ACLs are kept: `AclStore`, and the embedded store of a single node.

Each store feeds an `AclAuthorizer` (security.acl), which decides requests from what the
store knows now. In a cluster the store is ZooKeeper's (cluster.zookeeper.acls); on a
single node it is one JSON file in the log dir, written atomically and read at start.
Not thread-safe; event loop only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from grete.cluster.metadata import write_atomically
from grete.security.acl.authorizer import AclAuthorizer
from grete.security.acl.codec import decode_entry
from grete.security.acl.types import (
    AccessControlEntry,
    AclBinding,
    AclBindingFilter,
    PatternType,
    ResourcePattern,
    ResourceType,
    from_name,
    pascal_name,
)

ACLS_FILE = "grete-acls.json"
FORMAT_VERSION = 1


class AclStore(Protocol):
    authorizer: AclAuthorizer

    async def create(self, bindings: Sequence[AclBinding]) -> None:
        """Store valid bindings; the authorizer uses them on return."""
        ...

    async def delete(self, filters: Sequence[AclBindingFilter]) -> list[list[AclBinding]]:
        """Delete what each filter selects; returns, per filter, the bindings deleted."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def group_by_pattern(
    bindings: Sequence[AclBinding],
) -> dict[ResourcePattern, set[AccessControlEntry]]:
    grouped: dict[ResourcePattern, set[AccessControlEntry]] = {}
    for b in bindings:
        grouped.setdefault(b.pattern, set()).add(b.entry)
    return grouped


class LocalAclStore:
    """A single node's ACLs, persisted as one JSON document in the log dir."""

    def __init__(self, path: Path, authorizer: AclAuthorizer) -> None:
        self._path = path
        self.authorizer = authorizer

    @classmethod
    def open(cls, log_dir: Path, authorizer: AclAuthorizer) -> LocalAclStore:
        path = log_dir / ACLS_FILE
        if path.exists():
            doc = json.loads(path.read_text("utf-8"))
            if doc.get("version") != FORMAT_VERSION:
                raise ValueError(f"{path}: unsupported ACL format {doc.get('version')!r}")
            acls: dict[ResourcePattern, set[AccessControlEntry]] = {}
            for item in doc["acls"]:
                pattern = ResourcePattern(
                    from_name(ResourceType, item["resourceType"]),
                    item["name"],
                    from_name(PatternType, item["patternType"]),
                )
                acls.setdefault(pattern, set()).add(decode_entry(item))
            authorizer.replace_all(acls)
        return cls(path, authorizer)

    async def create(self, bindings: Sequence[AclBinding]) -> None:
        changed = False
        for pattern, entries in group_by_pattern(bindings).items():
            current = self.authorizer.entries(pattern)
            if not entries <= current:
                self.authorizer.set_acls(pattern, current | entries)
                changed = True
        if changed:
            self._persist()

    async def delete(self, filters: Sequence[AclBindingFilter]) -> list[list[AclBinding]]:
        deleted = [self.authorizer.acls(f) for f in filters]
        gone = group_by_pattern([b for found in deleted for b in found])
        for pattern, entries in gone.items():
            self.authorizer.set_acls(pattern, self.authorizer.entries(pattern) - entries)
        if gone:
            self._persist()
        return deleted

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def _persist(self) -> None:
        acls = [
            {
                "resourceType": pascal_name(b.pattern.resource_type),
                "name": b.pattern.name,
                "patternType": b.pattern.pattern_type.name,
                "principal": b.entry.principal,
                "host": b.entry.host,
                "operation": pascal_name(b.entry.operation),
                "permissionType": pascal_name(b.entry.permission_type),
            }
            for b in self.authorizer.acls()
        ]
        doc = {"version": FORMAT_VERSION, "acls": acls}
        write_atomically(self._path, json.dumps(doc, indent=1).encode())
