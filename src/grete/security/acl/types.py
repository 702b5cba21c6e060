"""ACL bindings and filters, with Kafka's wire codes, names and validation.

A binding is a resource pattern (type, name, LITERAL or PREFIXED) and an entry (principal,
host, operation, ALLOW or DENY). Filters (DescribeAcls, DeleteAcls) use ANY for a wildcard
field, None for any name, principal or host, and MATCH to select every pattern that
applies to one resource name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import TypeVar

CLUSTER_NAME = "kafka-cluster"  # the one Cluster resource's name
WILDCARD = "*"  # a LITERAL name matching every resource, and the host matching every host
WILDCARD_PRINCIPAL = "User:*"

E = TypeVar("E", bound=IntEnum)


class ResourceType(IntEnum):
    UNKNOWN = 0
    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5
    DELEGATION_TOKEN = 6
    USER = 7


class PatternType(IntEnum):
    UNKNOWN = 0
    ANY = 1
    MATCH = 2
    LITERAL = 3
    PREFIXED = 4


class AclOperation(IntEnum):
    UNKNOWN = 0
    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12
    CREATE_TOKENS = 13
    DESCRIBE_TOKENS = 14


# The operations an ACL may grant on each resource type (Kafka's AclEntry.supportedOperations):
# the bits KIP-430's authorized-operations fields can carry.
SUPPORTED_OPERATIONS: dict[ResourceType, tuple[AclOperation, ...]] = {
    ResourceType.TOPIC: (
        AclOperation.READ, AclOperation.WRITE, AclOperation.CREATE, AclOperation.DESCRIBE,
        AclOperation.DELETE, AclOperation.ALTER, AclOperation.DESCRIBE_CONFIGS,
        AclOperation.ALTER_CONFIGS,
    ),
    ResourceType.GROUP: (AclOperation.READ, AclOperation.DESCRIBE, AclOperation.DELETE),
    ResourceType.CLUSTER: (
        AclOperation.CREATE, AclOperation.CLUSTER_ACTION, AclOperation.DESCRIBE_CONFIGS,
        AclOperation.ALTER_CONFIGS, AclOperation.IDEMPOTENT_WRITE, AclOperation.ALTER,
        AclOperation.DESCRIBE,
    ),
    ResourceType.TRANSACTIONAL_ID: (AclOperation.DESCRIBE, AclOperation.WRITE),
    ResourceType.DELEGATION_TOKEN: (AclOperation.DESCRIBE,),
    ResourceType.USER: (AclOperation.CREATE_TOKENS, AclOperation.DESCRIBE_TOKENS),
}  # fmt: skip


def operations_bit_field(operations: Iterable[AclOperation]) -> int:
    """KIP-430's encoding: bit ``code`` set for each operation (Read, code 3, is 1 << 3)."""
    field = 0
    for operation in operations:
        field |= 1 << operation.value
    return field


class AclPermissionType(IntEnum):
    UNKNOWN = 0
    ANY = 1
    DENY = 2
    ALLOW = 3


def pascal_name(member: IntEnum) -> str:
    """Kafka's name of an enum member in ZooKeeper and tools ("IdempotentWrite", "Topic")."""
    return "".join(part.capitalize() for part in member.name.split("_"))


def from_name(enum: type[E], name: str) -> E:
    """Parse "Read", "READ", "idempotent_write" or "IdempotentWrite"; raises ValueError."""
    wanted = name.replace("_", "").replace("-", "").upper()
    for member in enum:
        if member.name.replace("_", "") == wanted:
            return member
    raise ValueError(f"unknown {enum.__name__} {name!r}")


def _known(enum: type[E], code: int) -> E:
    """The member with this wire code; UNKNOWN for codes this broker does not know."""
    try:
        return enum(code)
    except ValueError:
        return enum(0)


@dataclass(frozen=True, slots=True, order=True)
class ResourcePattern:
    resource_type: ResourceType
    name: str
    pattern_type: PatternType

    def matches_name(self, name: str) -> bool:
        """Does this pattern apply to the resource called ``name``?"""
        if self.pattern_type is PatternType.PREFIXED:
            return name.startswith(self.name)
        return self.name == name or self.name == WILDCARD


@dataclass(frozen=True, slots=True, order=True)
class AccessControlEntry:
    principal: str
    host: str
    operation: AclOperation
    permission_type: AclPermissionType


@dataclass(frozen=True, slots=True, order=True)
class AclBinding:
    pattern: ResourcePattern
    entry: AccessControlEntry

    @classmethod
    def from_wire(
        cls, resource_type: int, name: str, pattern_type: int,
        principal: str, host: str, operation: int, permission_type: int,
    ) -> AclBinding:  # fmt: skip
        return cls(
            ResourcePattern(_known(ResourceType, resource_type), name, _known(PatternType, pattern_type)),
            AccessControlEntry(
                principal, host, _known(AclOperation, operation),
                _known(AclPermissionType, permission_type),
            ),
        )


class InvalidAcl(ValueError):
    """A binding or filter Kafka refuses with INVALID_REQUEST."""


def validate_new_binding(binding: AclBinding) -> None:
    """Kafka's checks on an ACL to create; raises InvalidAcl with Kafka's reason."""
    pattern, entry = binding.pattern, binding.entry
    if pattern.resource_type in (ResourceType.UNKNOWN, ResourceType.ANY):
        raise InvalidAcl(f"Invalid resourceType {pattern.resource_type.name}")
    if pattern.pattern_type not in (PatternType.LITERAL, PatternType.PREFIXED):
        raise InvalidAcl(f"Invalid patternType {pattern.pattern_type.name}")
    if entry.operation in (AclOperation.UNKNOWN, AclOperation.ANY):
        raise InvalidAcl(f"Invalid operation {entry.operation.name}")
    if entry.permission_type not in (AclPermissionType.ALLOW, AclPermissionType.DENY):
        raise InvalidAcl(f"Invalid permissionType {entry.permission_type.name}")
    if not pattern.name:
        raise InvalidAcl("Invalid empty resource name")
    if pattern.resource_type is ResourceType.CLUSTER and pattern.name != CLUSTER_NAME:
        raise InvalidAcl(f"The only valid name for the CLUSTER resource is {CLUSTER_NAME}")
    if ":" not in entry.principal:
        raise InvalidAcl(
            f"Could not parse principal from `{entry.principal}` (no colon is present "
            "separating the principal type from the principal name)"
        )


@dataclass(frozen=True, slots=True)
class AclBindingFilter:
    """Selects bindings: ANY matches any value, None any name, principal or host."""

    resource_type: ResourceType
    name: str | None
    pattern_type: PatternType
    principal: str | None
    host: str | None
    operation: AclOperation
    permission_type: AclPermissionType

    @classmethod
    def from_wire(
        cls, resource_type: int, name: str | None, pattern_type: int,
        principal: str | None, host: str | None, operation: int, permission_type: int,
    ) -> AclBindingFilter:  # fmt: skip
        return cls(
            _known(ResourceType, resource_type), name, _known(PatternType, pattern_type),
            principal, host, _known(AclOperation, operation),
            _known(AclPermissionType, permission_type),
        )

    def validate(self) -> None:
        """A filter naming an UNKNOWN type, pattern, operation or permission is refused."""
        for value in (self.resource_type, self.pattern_type, self.operation, self.permission_type):
            if value.name == "UNKNOWN":
                raise InvalidAcl(f"the filter has an unknown {type(value).__name__}")

    def matches(self, binding: AclBinding) -> bool:
        return self._matches_pattern(binding.pattern) and self._matches_entry(binding.entry)

    def _matches_pattern(self, pattern: ResourcePattern) -> bool:
        if self.resource_type not in (ResourceType.ANY, pattern.resource_type):
            return False
        wanted = self.pattern_type
        if wanted not in (PatternType.ANY, PatternType.MATCH, pattern.pattern_type):
            return False
        if self.name is None:
            return True
        if wanted in (PatternType.ANY, pattern.pattern_type):
            return self.name == pattern.name
        return pattern.matches_name(self.name)  # MATCH: the patterns that apply to the name

    def _matches_entry(self, entry: AccessControlEntry) -> bool:
        if self.principal is not None and self.principal != entry.principal:
            return False
        if self.host is not None and self.host != entry.host:
            return False
        if self.operation not in (AclOperation.ANY, entry.operation):
            return False
        return self.permission_type in (AclPermissionType.ANY, entry.permission_type)


MATCH_ALL = AclBindingFilter(
    ResourceType.ANY, None, PatternType.ANY, None, None, AclOperation.ANY, AclPermissionType.ANY
)
