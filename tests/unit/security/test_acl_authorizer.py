"""The ACL authorizer's decisions (Kafka's AclAuthorizer semantics), without sockets."""

from __future__ import annotations

import pytest

from grete.security.acl.authorizer import AclAuthorizer, parse_super_users
from grete.security.acl.codec import (
    decode_entries,
    decode_extended_change,
    decode_literal_change,
    encode_entries,
    encode_extended_change,
    encode_literal_change,
)
from grete.security.acl.types import (
    CLUSTER_NAME,
    AccessControlEntry,
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    InvalidAcl,
    PatternType,
    ResourcePattern,
    ResourceType,
    validate_new_binding,
)

ALICE, BOB = "User:alice", "User:bob"
HOST, OTHER_HOST = "127.0.0.1", "10.0.0.9"
Op, Perm, T = AclOperation, AclPermissionType, ResourceType
ALLOW, DENY = Perm.ALLOW, Perm.DENY


def topic(name: str, pattern: PatternType = PatternType.LITERAL) -> ResourcePattern:
    return ResourcePattern(T.TOPIC, name, pattern)


def entry(principal: str, op: AclOperation, perm: AclPermissionType = ALLOW, host: str = "*") -> AccessControlEntry:
    return AccessControlEntry(principal, host, op, perm)


def authorizer(
    *acls: tuple[ResourcePattern, AccessControlEntry],
    super_users: frozenset[str] = frozenset(),
    allow_everyone_if_no_acl_found: bool = False,
) -> AclAuthorizer:
    auth = AclAuthorizer(super_users, allow_everyone_if_no_acl_found=allow_everyone_if_no_acl_found)
    grouped: dict[ResourcePattern, set[AccessControlEntry]] = {}
    for pattern, e in acls:
        grouped.setdefault(pattern, set()).add(e)
    auth.replace_all(grouped)
    return auth


def can(auth: AclAuthorizer, op: AclOperation, name: str, principal: str = ALICE, host: str = HOST,
        rtype: ResourceType = T.TOPIC) -> bool:
    return auth.authorize(principal, host, op, rtype, name)


def test_literal_acl_applies_to_its_name_only() -> None:
    auth = authorizer((topic("orders"), entry(ALICE, Op.READ)))
    assert can(auth, Op.READ, "orders")
    assert not can(auth, Op.READ, "orders-eu"), "a literal ACL matched a longer name"
    assert not can(auth, Op.WRITE, "orders"), "Read allowed Write"
    assert not can(auth, Op.READ, "orders", principal=BOB)


def test_prefixed_acl_applies_to_names_starting_with_it() -> None:
    auth = authorizer((topic("pay.", PatternType.PREFIXED), entry(ALICE, Op.WRITE)))
    assert can(auth, Op.WRITE, "pay.fraud")
    assert can(auth, Op.WRITE, "pay.")
    assert not can(auth, Op.WRITE, "payments")
    assert not can(auth, Op.WRITE, "x.pay.fraud")


def test_wildcard_resource_and_wildcard_principal() -> None:
    auth = authorizer((topic("*"), entry("User:*", Op.READ)))
    assert can(auth, Op.READ, "anything", principal=BOB)
    # "*" is a literal wildcard only as a LITERAL pattern: as a prefix it is the character.
    prefixed = authorizer((topic("*", PatternType.PREFIXED), entry(ALICE, Op.READ)))
    assert not can(prefixed, Op.READ, "orders")
    assert can(prefixed, Op.READ, "*orders")


def test_deny_wins_over_allow_from_any_pattern() -> None:
    auth = authorizer(
        (topic("*"), entry(ALICE, Op.ALL)),
        (topic("secret", PatternType.PREFIXED), entry(ALICE, Op.READ, DENY)),
    )
    assert can(auth, Op.READ, "public")
    assert not can(auth, Op.READ, "secret-payroll")
    assert can(auth, Op.WRITE, "secret-payroll"), "a Read DENY refused Write"
    everyone_denied = authorizer((topic("t"), entry(ALICE, Op.READ)), (topic("t"), entry("User:*", Op.ALL, DENY)))
    assert not can(everyone_denied, Op.READ, "t")


def test_host_rules() -> None:
    auth = authorizer(
        (topic("t"), entry(ALICE, Op.READ, host=HOST)),
        (topic("u"), entry(ALICE, Op.READ)),
        (topic("u"), entry(ALICE, Op.READ, DENY, host=OTHER_HOST)),
    )
    assert can(auth, Op.READ, "t", host=HOST)
    assert not can(auth, Op.READ, "t", host=OTHER_HOST)
    assert can(auth, Op.READ, "u", host=HOST)
    assert not can(auth, Op.READ, "u", host=OTHER_HOST)


@pytest.mark.parametrize("granted", [Op.READ, Op.WRITE, Op.DELETE, Op.ALTER, Op.DESCRIBE, Op.ALL])
def test_describe_is_implied_by_read_write_delete_alter(granted: AclOperation) -> None:
    assert can(authorizer((topic("t"), entry(ALICE, granted))), Op.DESCRIBE, "t")


@pytest.mark.parametrize("granted", [Op.CREATE, Op.DESCRIBE_CONFIGS, Op.IDEMPOTENT_WRITE])
def test_describe_is_not_implied_by_others(granted: AclOperation) -> None:
    assert not can(authorizer((topic("t"), entry(ALICE, granted))), Op.DESCRIBE, "t")


def test_describe_configs_implied_by_alter_configs_and_implication_is_not_denial() -> None:
    auth = authorizer((topic("t"), entry(ALICE, Op.ALTER_CONFIGS)))
    assert can(auth, Op.DESCRIBE_CONFIGS, "t")
    assert not can(authorizer((topic("t"), entry(ALICE, Op.DESCRIBE_CONFIGS))), Op.ALTER_CONFIGS, "t")
    # A DENY of Read does not deny Describe (denials are not implied), as in Kafka.
    auth = authorizer((topic("t"), entry(ALICE, Op.WRITE)), (topic("t"), entry(ALICE, Op.READ, DENY)))
    assert can(auth, Op.DESCRIBE, "t")


def test_super_users_bypass_even_a_deny() -> None:
    supers = parse_super_users(" User:admin ;User:broker;")
    assert supers == {"User:admin", "User:broker"}
    auth = authorizer((topic("t"), entry("User:*", Op.ALL, DENY)), super_users=supers)
    assert can(auth, Op.WRITE, "t", principal="User:broker")
    assert can(auth, Op.CLUSTER_ACTION, CLUSTER_NAME, principal="User:admin", rtype=T.CLUSTER)
    assert not can(auth, Op.WRITE, "t")


def test_allow_everyone_if_no_acl_found() -> None:
    auth = authorizer((topic("guarded"), entry(BOB, Op.READ)), allow_everyone_if_no_acl_found=True)
    assert can(auth, Op.READ, "unguarded"), "a resource without ACLs was refused"
    assert not can(auth, Op.READ, "guarded"), "an ACL for someone else must not let everyone in"
    strict = authorizer((topic("guarded"), entry(BOB, Op.READ)))
    assert not can(strict, Op.READ, "unguarded"), "allow.everyone.if.no.acl.found defaults to false"


def test_cache_is_dropped_when_acls_change() -> None:
    auth = authorizer()
    assert not can(auth, Op.READ, "t")
    auth.set_acls(topic("t"), {entry(ALICE, Op.READ)})
    assert can(auth, Op.READ, "t")
    auth.set_acls(topic("t"), set())
    assert not can(auth, Op.READ, "t")
    assert auth.acls() == []


def test_authorize_by_resource_type_as_kip_679() -> None:
    def any_write(*acls: tuple[ResourcePattern, AccessControlEntry]) -> bool:
        return authorizer(*acls).authorize_by_resource_type(ALICE, HOST, Op.WRITE, T.TOPIC)

    assert not any_write()
    assert any_write((topic("t"), entry(ALICE, Op.WRITE)))
    assert any_write((topic("t"), entry(ALICE, Op.ALL)))
    assert not any_write((topic("t"), entry(ALICE, Op.READ)))
    assert not any_write((topic("t"), entry(ALICE, Op.WRITE)), (topic("t"), entry(ALICE, Op.WRITE, DENY)))
    assert not any_write((topic("ab"), entry(ALICE, Op.WRITE)), (topic("a", PatternType.PREFIXED), entry(ALICE, Op.WRITE, DENY)))
    assert not any_write((topic("t"), entry(ALICE, Op.WRITE)), (topic("*"), entry(ALICE, Op.WRITE, DENY)))
    assert any_write((topic("t"), entry(ALICE, Op.WRITE)), (topic("u"), entry(ALICE, Op.WRITE, DENY)))


def test_filters_match_as_kafka() -> None:
    bindings = [
        AclBinding(topic("orders"), entry(ALICE, Op.READ)),
        AclBinding(topic("ord", PatternType.PREFIXED), entry(BOB, Op.WRITE, DENY)),
        AclBinding(topic("*"), entry(ALICE, Op.DESCRIBE)),
        AclBinding(ResourcePattern(T.GROUP, "g", PatternType.LITERAL), entry(ALICE, Op.READ)),
    ]

    def select(rtype: ResourceType = T.ANY, name: str | None = None, pattern: PatternType = PatternType.ANY,
               principal: str | None = None, op: AclOperation = Op.ANY, perm: AclPermissionType = Perm.ANY) -> list[int]:
        f = AclBindingFilter(rtype, name, pattern, principal, None, op, perm)
        return [i for i, b in enumerate(bindings) if f.matches(b)]

    assert select() == [0, 1, 2, 3]
    assert select(T.TOPIC) == [0, 1, 2]
    assert select(name="orders") == [0], "ANY pattern type matches the name exactly"
    assert select(name="orders", pattern=PatternType.MATCH) == [0, 1, 2], "MATCH: what applies to the name"
    assert select(pattern=PatternType.PREFIXED) == [1]
    assert select(principal=ALICE, perm=Perm.ALLOW, op=Op.READ) == [0, 3]
    with pytest.raises(InvalidAcl):
        AclBindingFilter.from_wire(99, None, 1, None, None, 1, 1).validate()


@pytest.mark.parametrize(
    ("binding", "reason"),
    [
        (AclBinding(ResourcePattern(T.ANY, "t", PatternType.LITERAL), entry(ALICE, Op.READ)), "resourceType"),
        (AclBinding(ResourcePattern(T.TOPIC, "t", PatternType.MATCH), entry(ALICE, Op.READ)), "patternType"),
        (AclBinding(topic("t"), entry(ALICE, Op.ANY)), "operation"),
        (AclBinding(topic("t"), entry(ALICE, Op.READ, Perm.ANY)), "permissionType"),
        (AclBinding(topic(""), entry(ALICE, Op.READ)), "empty"),
        (AclBinding(ResourcePattern(T.CLUSTER, "c", PatternType.LITERAL), entry(ALICE, Op.ALTER)), "CLUSTER"),
        (AclBinding(topic("t"), entry("alice", Op.READ)), "principal"),
    ],
)
def test_invalid_bindings_are_refused(binding: AclBinding, reason: str) -> None:
    with pytest.raises(InvalidAcl, match=reason):
        validate_new_binding(binding)


def test_zookeeper_formats_are_kafkas() -> None:
    entries = {entry(ALICE, Op.IDEMPOTENT_WRITE), entry(BOB, Op.READ, DENY, host=HOST)}
    data = encode_entries(entries)
    assert data == (
        b'{"version":1,"acls":[{"principal":"User:alice","permissionType":"Allow",'
        b'"operation":"IdempotentWrite","host":"*"},{"principal":"User:bob",'
        b'"permissionType":"Deny","operation":"Read","host":"127.0.0.1"}]}'
    )
    assert decode_entries(data) == entries
    assert encode_literal_change(topic("t:1")) == b"TOPIC:t:1"
    assert decode_literal_change(b"Topic:t:1") == topic("t:1")
    prefixed = ResourcePattern(T.TRANSACTIONAL_ID, "tx-", PatternType.PREFIXED)
    assert decode_extended_change(encode_extended_change(prefixed)) == prefixed
    with pytest.raises(ValueError):
        decode_entries(b'{"version":2,"acls":[]}')
