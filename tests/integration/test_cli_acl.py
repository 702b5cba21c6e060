"""`grete acl add|list|remove` against a broker with the ACL authorizer on.

The CLI runs as User:ANONYMOUS, a super user here, so it may manage ACLs; what it adds
is checked through DescribeAcls (the list command) and by its effect on what
User:ANONYMOUS' peers may do is left to tests/integration/test_acls.py.
"""

from __future__ import annotations

import json
import uuid

import pytest
from harness import ServerProcess

from .test_cli import Cli, assert_one_line_error


@pytest.fixture
def cli(broker_factory) -> Cli:  # type: ignore[no-untyped-def]
    broker: ServerProcess = broker_factory(
        "--override", "authorizer.class.name=grete", "--override", "super.users=User:ANONYMOUS"
    )
    return Cli(str(broker.bootstrap))


def test_add_list_and_remove_acls(cli: Cli) -> None:
    stem = uuid.uuid4().hex[:8]
    topic, prefix, group = f"orders-{stem}", f"pay-{stem}", f"billing-{stem}"
    added = cli.ok(
        f"acl add --allow-principal User:alice --operation Read --operation describe --topic {topic}"
    )
    assert added.stderr.count("added ACL: allow User:alice") == 2
    denied_json = cli.json(f"acl add --deny-principal User:mallory --operation Write --topic {prefix} "
                           "--resource-pattern-type prefixed --host 10.0.0.9")  # fmt: skip
    assert denied_json == [{
        "resource_type": "Topic", "name": prefix, "pattern_type": "prefixed",
        "principal": "User:mallory", "host": "10.0.0.9", "operation": "Write",
        "permission": "deny", "added": True, "error": None,
    }]  # fmt: skip
    cli.ok(f"acl add --allow-principal User:alice --operation Read --group {group}")
    cli.ok("acl add --allow-principal User:broker --operation ClusterAction --cluster")

    everything = cli.json("acl list")
    assert sorted(
        (r["resource_type"], r["name"], r["principal"], r["operation"]) for r in everything
    ) == [
        ("Cluster", "kafka-cluster", "User:broker", "ClusterAction"),
        ("Group", group, "User:alice", "Read"),
        ("Topic", topic, "User:alice", "Describe"),  # orders-… sorts before pay-…
        ("Topic", topic, "User:alice", "Read"),
        ("Topic", prefix, "User:mallory", "Write"),
    ]
    denied = next(r for r in everything if r["principal"] == "User:mallory")
    assert (denied["pattern_type"], denied["permission"], denied["host"]) == (
        "prefixed", "deny", "10.0.0.9",
    )  # fmt: skip

    # match: every ACL that applies to a topic, its prefixes included.
    applying = cli.json(f"acl list --topic {prefix}-eu --resource-pattern-type match")
    assert [(r["name"], r["principal"]) for r in applying] == [(prefix, "User:mallory")]
    assert cli.json(f"acl list --topic {topic} --principal User:nobody") == []

    removed = cli.ok(f"acl remove --topic {topic} --principal User:alice --operation Read -f json")
    assert removed.stderr == "removed 1 ACL\n"
    read_acl = next(r for r in everything if r["name"] == topic and r["operation"] == "Read")
    assert json.loads(removed.stdout) == [read_acl]
    left = {(r["name"], r["operation"]) for r in cli.json(f"acl list --topic {topic}")}
    assert left == {(topic, "Describe")}
    assert cli.ok(f"acl remove --topic {prefix} --resource-pattern-type prefixed").stderr == (
        "removed 1 ACL\n"
    )
    table = cli.ok("acl list").stdout
    assert "RESOURCE TYPE" in table and group in table and prefix not in table


def test_acl_commands_refuse_unclear_requests(cli: Cli) -> None:
    both = cli.run("acl add --allow-principal User:a --operation Read --topic t --group g")
    assert "name one resource" in assert_one_line_error(both, 2)
    none = cli.run("acl add --allow-principal User:a --operation Read")
    assert "name a resource" in assert_one_line_error(none, 2)
    no_principal = cli.run("acl add --operation Read --topic t")
    assert "--allow-principal" in assert_one_line_error(no_principal, 2)
    bad_principal = cli.run("acl add --allow-principal alice --operation Read --topic t")
    assert bad_principal.returncode == 1 and "alice" in bad_principal.stderr
