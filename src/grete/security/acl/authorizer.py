"""`AclAuthorizer`: Kafka's AclAuthorizer decisions over a set of ACL bindings.

A request (principal, host, operation, resource) is allowed when:
1. the principal is a super user (``super.users``); else
2. no ACL at all applies to the resource: ``allow.everyone.if.no.acl.found`` decides; else
3. no DENY applies to the principal (or ``User:*``), the host (or ``*``) and the operation
   (or All): DENY wins over ALLOW; and
4. an ALLOW applies to them for the operation, All, or an operation implying it:
   Read, Write, Delete or Alter imply Describe; AlterConfigs implies DescribeConfigs.
An ACL applies to a resource when its pattern is the LITERAL name, the LITERAL wildcard
``*``, or a PREFIXED pattern the name starts with (KIP-290).

Decisions are cached per (principal, host, operation, resource), and the cache is dropped
on every change, so produce and fetch pay a dict lookup. Pure; not thread-safe, event loop
only. The stores (grete.cluster.acls, grete.cluster.zookeeper.acls) feed it changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from grete.security.acl.types import (
    MATCH_ALL,
    WILDCARD,
    WILDCARD_PRINCIPAL,
    AccessControlEntry,
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourcePattern,
    ResourceType,
)

_IMPLIED: dict[AclOperation, frozenset[AclOperation]] = {
    AclOperation.DESCRIBE: frozenset(
        {AclOperation.DESCRIBE, AclOperation.READ, AclOperation.WRITE,
         AclOperation.DELETE, AclOperation.ALTER}
    ),
    AclOperation.DESCRIBE_CONFIGS: frozenset(
        {AclOperation.DESCRIBE_CONFIGS, AclOperation.ALTER_CONFIGS}
    ),
}  # fmt: skip
CACHE_LIMIT = 100_000  # decisions kept before the cache starts over
_Key = tuple[str, str, AclOperation, ResourceType, str]


def parse_super_users(value: str | None) -> frozenset[str]:
    """``super.users``: principals separated by semicolons ("User:admin;User:broker")."""
    return frozenset(p.strip() for p in (value or "").split(";") if p.strip())


class AclAuthorizer:
    """The ACLs a broker knows now, and the decisions they give."""

    def __init__(
        self, super_users: Iterable[str] = (), *, allow_everyone_if_no_acl_found: bool = False
    ) -> None:
        self.super_users = frozenset(super_users)
        self.allow_everyone_if_no_acl_found = allow_everyone_if_no_acl_found
        self._acls: dict[ResourcePattern, frozenset[AccessControlEntry]] = {}
        self._prefixed: dict[ResourceType, tuple[ResourcePattern, ...]] = {}
        self._cache: dict[_Key, bool] = {}
        self.version = 0  # bumped on every change

    # -- what the stores call -------------------------------------------------------------

    def replace_all(self, acls: Mapping[ResourcePattern, Iterable[AccessControlEntry]]) -> None:
        self._acls = {p: frozenset(e) for p, e in acls.items() if e}
        self._changed()

    def set_acls(self, pattern: ResourcePattern, entries: Iterable[AccessControlEntry]) -> None:
        """Replace the ACLs of one resource pattern; no entries removes it."""
        new = frozenset(entries)
        if self._acls.get(pattern, frozenset()) == new:
            return
        if new:
            self._acls[pattern] = new
        else:
            self._acls.pop(pattern, None)
        self._changed()

    def _changed(self) -> None:
        prefixed: dict[ResourceType, list[ResourcePattern]] = {}
        for pattern in self._acls:
            if pattern.pattern_type is PatternType.PREFIXED:
                prefixed.setdefault(pattern.resource_type, []).append(pattern)
        self._prefixed = {t: tuple(ps) for t, ps in prefixed.items()}
        self._cache = {}
        self.version += 1

    # -- reading --------------------------------------------------------------------------

    def entries(self, pattern: ResourcePattern) -> frozenset[AccessControlEntry]:
        return self._acls.get(pattern, frozenset())

    def patterns(self) -> Mapping[ResourcePattern, frozenset[AccessControlEntry]]:
        return self._acls

    def acls(self, selector: AclBindingFilter = MATCH_ALL) -> list[AclBinding]:
        """Every binding the filter selects, in a stable order."""
        found = [
            AclBinding(pattern, entry)
            for pattern, entries in self._acls.items()
            for entry in entries
        ]
        return sorted(b for b in found if selector.matches(b))

    # -- deciding -------------------------------------------------------------------------

    def authorize(
        self, principal: str, host: str, operation: AclOperation,
        resource_type: ResourceType, name: str,
    ) -> bool:  # fmt: skip
        key = (principal, host, operation, resource_type, name)
        decision = self._cache.get(key)
        if decision is None:
            decision = self._decide(principal, host, operation, resource_type, name)
            if len(self._cache) >= CACHE_LIMIT:
                self._cache = {}
            self._cache[key] = decision
        return decision

    def _decide(
        self, principal: str, host: str, operation: AclOperation,
        resource_type: ResourceType, name: str,
    ) -> bool:  # fmt: skip
        if principal in self.super_users:
            return True
        entries = self._applying(resource_type, name)
        if not entries:
            return self.allow_everyone_if_no_acl_found
        principals = (principal, WILDCARD_PRINCIPAL)
        hosts = (host, WILDCARD)
        mine = [e for e in entries if e.principal in principals and e.host in hosts]
        if any(
            e.permission_type is AclPermissionType.DENY
            and e.operation in (operation, AclOperation.ALL)
            for e in mine
        ):
            return False
        allowing = _IMPLIED.get(operation, frozenset({operation}))
        return any(
            e.permission_type is AclPermissionType.ALLOW
            and (e.operation in allowing or e.operation is AclOperation.ALL)
            for e in mine
        )

    def _applying(self, resource_type: ResourceType, name: str) -> list[AccessControlEntry]:
        """The entries of every pattern that applies to the resource."""
        found: list[AccessControlEntry] = []
        acls = self._acls
        for literal in (name, WILDCARD):
            found.extend(acls.get(ResourcePattern(resource_type, literal, PatternType.LITERAL), ()))
        for pattern in self._prefixed.get(resource_type, ()):
            if name.startswith(pattern.name):
                found.extend(acls[pattern])
        return found

    def authorize_by_resource_type(
        self, principal: str, host: str, operation: AclOperation, resource_type: ResourceType
    ) -> bool:
        """May the principal do ``operation`` on at least one resource of the type? (KIP-679,
        Kafka's Authorizer.authorizeByResourceType: an ALLOW not dominated by a DENY on the
        same literal name, a prefix of it, or the wildcard.) Implied operations do not count."""
        # A name no ACL is likely to cover: super users, and everyone when no ACL is found.
        if self.authorize(principal, host, operation, resource_type, "hardcode"):
            return True
        denied: dict[PatternType, set[str]] = {PatternType.LITERAL: set(), PatternType.PREFIXED: set()}
        allowed: list[ResourcePattern] = []
        for pattern, entries in self._acls.items():
            if pattern.resource_type is not resource_type:
                continue
            for e in entries:
                if e.host not in (host, WILDCARD) or e.principal not in (principal, WILDCARD_PRINCIPAL):
                    continue
                if e.operation not in (operation, AclOperation.ALL):
                    continue
                if e.permission_type is AclPermissionType.DENY:
                    if pattern.pattern_type is PatternType.LITERAL and pattern.name == WILDCARD:
                        return False
                    denied[pattern.pattern_type].add(pattern.name)
                elif e.permission_type is AclPermissionType.ALLOW:
                    allowed.append(pattern)
        if any(p.pattern_type is PatternType.LITERAL and p.name == WILDCARD for p in allowed):
            return True
        for pattern in allowed:
            if pattern.pattern_type is PatternType.LITERAL and pattern.name in denied[PatternType.LITERAL]:
                continue
            prefixes = (pattern.name[:i] for i in range(1, len(pattern.name) + 1))
            if not any(p in denied[PatternType.PREFIXED] for p in prefixes):
                return True
        return False
