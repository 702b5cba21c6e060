"""ACLs as Kafka stores them: a resource's entries as ZooKeeper JSON, and change events.

    {"version":1,"acls":[{"principal":"User:alice","permissionType":"Allow","operation":"Read","host":"*"}]}

Names are Kafka's: operations and permission types in PascalCase ("IdempotentWrite",
"Allow"). Decoders raise ValueError on anything else. Pure.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from grete.security.acl.types import (
    AccessControlEntry,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourcePattern,
    ResourceType,
    from_name,
    pascal_name,
)

FORMAT_VERSION = 1


def encode_entries(entries: Iterable[AccessControlEntry]) -> bytes:
    acls = [
        {
            "principal": e.principal,
            "permissionType": pascal_name(e.permission_type),
            "operation": pascal_name(e.operation),
            "host": e.host,
        }
        for e in sorted(entries)
    ]
    return json.dumps({"version": FORMAT_VERSION, "acls": acls}, separators=(",", ":")).encode()


def decode_entries(data: bytes) -> frozenset[AccessControlEntry]:
    """A resource znode's entries; empty data (a znode created bare) holds none."""
    if not data:
        return frozenset()
    doc = json.loads(data)
    if not isinstance(doc, dict) or doc.get("version") != FORMAT_VERSION:
        raise ValueError(f"unsupported ACL document {doc!r:.200}")
    return frozenset(decode_entry(item) for item in doc.get("acls", []))


def decode_entry(item: Any) -> AccessControlEntry:
    if not isinstance(item, dict):
        raise ValueError(f"{item!r} is not an ACL entry")  # noqa: TRY004 - a format error
    fields = {k: item.get(k) for k in ("principal", "permissionType", "operation", "host")}
    if not all(isinstance(v, str) for v in fields.values()):
        raise ValueError(f"{item!r} is not an ACL entry")
    entry = AccessControlEntry(
        str(fields["principal"]),
        str(fields["host"]),
        from_name(AclOperation, str(fields["operation"])),
        from_name(AclPermissionType, str(fields["permissionType"])),
    )
    if entry.operation in (AclOperation.ANY, AclOperation.UNKNOWN) or entry.permission_type not in (
        AclPermissionType.ALLOW, AclPermissionType.DENY,
    ):  # fmt: skip
        raise ValueError(f"{item!r} is not an ACL entry")
    return entry


def encode_literal_change(pattern: ResourcePattern) -> bytes:
    """/kafka-acl-changes: "<RESOURCE_TYPE>:<name>", as Kafka writes it."""
    return f"{pattern.resource_type.name}:{pattern.name}".encode()


def decode_literal_change(data: bytes) -> ResourcePattern:
    kind, sep, name = data.decode().partition(":")
    if not sep:
        raise ValueError(f"{data!r} is not <ResourceType>:<name>")
    return ResourcePattern(from_name(ResourceType, kind), name, PatternType.LITERAL)


def encode_extended_change(pattern: ResourcePattern) -> bytes:
    """/kafka-acl-extended-changes: Kafka's ExtendedAclChangeEvent JSON."""
    event = {
        "version": FORMAT_VERSION,
        "resourceType": pattern.resource_type.name,
        "name": pattern.name,
        "patternType": pattern.pattern_type.name,
    }
    return json.dumps(event, separators=(",", ":")).encode()


def decode_extended_change(data: bytes) -> ResourcePattern:
    doc = json.loads(data)
    if not isinstance(doc, dict) or not isinstance(doc.get("name"), str):
        raise ValueError(f"{data!r} is not an ACL change event")  # noqa: TRY004 - a format error
    return ResourcePattern(
        from_name(ResourceType, str(doc.get("resourceType"))),
        doc["name"],
        from_name(PatternType, str(doc.get("patternType"))),
    )
