"""`grete acl ...`: add, list and remove access rights (CreateAcls, DescribeAcls, DeleteAcls).

The options read as Kafka's kafka-acls.sh does (--allow-principal, --operation, --topic,
--group, --cluster, --transactional-id, --resource-pattern-type), through confluent-kafka's
admin ACL API, so the command works against any Kafka broker with an authorizer.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, ClassVar, cast

import typer
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)

from grete.cli.client import (
    DEFAULT_BOOTSTRAP,
    REQUEST_TIMEOUT_S,
    BootstrapOption,
    CommandConfigOption,
    Connection,
    error_name,
)
from grete.cli.output import FormatOption, OutputFormat, print_json, print_table, status

app = typer.Typer(help="Add, list and remove access rights (ACLs).", no_args_is_help=True)

CLUSTER_NAME = "kafka-cluster"  # the one Cluster resource, as Kafka names it


class Operation(StrEnum):
    all = "All"
    read = "Read"
    write = "Write"
    create = "Create"
    delete = "Delete"
    alter = "Alter"
    describe = "Describe"
    describe_configs = "DescribeConfigs"
    alter_configs = "AlterConfigs"
    cluster_action = "ClusterAction"
    idempotent_write = "IdempotentWrite"

    def client(self) -> AclOperation:
        return AclOperation[_upper_snake(self.value)]


class PatternType(StrEnum):
    literal = "literal"
    prefixed = "prefixed"
    match = "match"  # filters only: literal, wildcard and prefixed ACLs that apply
    any = "any"  # filters only

    def client(self) -> ResourcePatternType:
        return ResourcePatternType[self.name.upper()]


TopicOption = Annotated[str | None, typer.Option("--topic", help="A topic (or prefix).")]
GroupOption = Annotated[str | None, typer.Option("--group", help="A consumer group (or prefix).")]
ClusterOption = Annotated[bool, typer.Option("--cluster", help="The cluster resource.")]
TransactionalIdOption = Annotated[
    str | None, typer.Option("--transactional-id", help="A transactional id (or prefix).")
]
PatternOption = Annotated[
    PatternType,
    typer.Option("--resource-pattern-type", case_sensitive=False, help="How the name matches."),
]
HostOption = Annotated[str, typer.Option("--host", help="Client host the rule applies to.")]


@dataclass(frozen=True, order=True)
class AclRow:
    COLUMNS: ClassVar[list[str]] = [
        "RESOURCE TYPE", "NAME", "PATTERN", "PRINCIPAL", "HOST", "OPERATION", "PERMISSION",
    ]  # fmt: skip

    resource_type: str
    name: str
    pattern_type: str
    principal: str
    host: str
    operation: str
    permission: str

    @classmethod
    def of(cls, binding: AclBinding) -> "AclRow":
        return cls(
            _title(_name(binding.restype)), binding.name,
            _name(binding.resource_pattern_type).lower(), binding.principal, binding.host,
            _title(_name(binding.operation)), _name(binding.permission_type).lower(),
        )  # fmt: skip

    def table_row(self) -> list[str | int | None]:
        return [
            self.resource_type, self.name, self.pattern_type, self.principal, self.host,
            self.operation, self.permission,
        ]  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {
            "resource_type": self.resource_type, "name": self.name,
            "pattern_type": self.pattern_type, "principal": self.principal, "host": self.host,
            "operation": self.operation, "permission": self.permission,
        }  # fmt: skip


@app.command("add")
def add(
    allow_principal: Annotated[
        list[str] | None, typer.Option("--allow-principal", help="e.g. User:alice (repeatable).")
    ] = None,
    deny_principal: Annotated[
        list[str] | None, typer.Option("--deny-principal", help="e.g. User:mallory (repeatable).")
    ] = None,
    operation: Annotated[
        list[Operation] | None,
        typer.Option("--operation", case_sensitive=False, help="Operation (repeatable)."),
    ] = None,
    topic: TopicOption = None,
    group: GroupOption = None,
    cluster: ClusterOption = False,
    transactional_id: TransactionalIdOption = None,
    pattern: PatternOption = PatternType.literal,
    host: HostOption = "*",
    output_format: FormatOption = OutputFormat.table,
    bootstrap_server: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
) -> None:
    """Grant (--allow-principal) or forbid (--deny-principal) operations on a resource.
    With --format json, prints each ACL as `acl list` does, with "added" and "error"."""
    if pattern not in (PatternType.literal, PatternType.prefixed):
        raise typer.BadParameter(
            "ACLs are literal or prefixed", param_hint="--resource-pattern-type"
        )
    if not (allow_principal or deny_principal):
        raise typer.BadParameter(
            "name --allow-principal or --deny-principal", param_hint="--allow-principal"
        )
    if not operation:
        raise typer.BadParameter("name at least one operation", param_hint="--operation")
    restype, name = _resource(topic, group, cluster, transactional_id)
    bindings = [
        AclBinding(
            restype, cast(str, name), pattern.client(), principal, host, op.client(), permission
        )
        for permission, principals in (
            (AclPermissionType.ALLOW, allow_principal or []),
            (AclPermissionType.DENY, deny_principal or []),
        )
        for principal in principals
        for op in operation
    ]
    connection = Connection(bootstrap_server, command_config)
    futures = connection.admin().create_acls(bindings, request_timeout=REQUEST_TIMEOUT_S)
    results: list[dict[str, Any]] = []
    for binding, future in futures.items():
        row = AclRow.of(binding)
        try:
            connection.result(future)
        except Exception as exc:  # noqa: BLE001 - confluent-kafka raises KafkaException; timeouts too
            results.append({**row.to_json(), "added": False, "error": error_name(exc)})
            status(str(connection.failure(exc, f"add ACL {row.principal} {row.operation}")))
            continue
        results.append({**row.to_json(), "added": True, "error": None})
        status(
            f"added ACL: {row.permission} {row.principal} {row.operation} on "
            f"{row.resource_type} {row.name} ({row.pattern_type}) from {row.host}"
        )
    if output_format is OutputFormat.json:
        print_json(results)
    if not all(result["added"] for result in results):
        raise typer.Exit(1)


@app.command("list")
def list_acls(
    topic: TopicOption = None,
    group: GroupOption = None,
    cluster: ClusterOption = False,
    transactional_id: TransactionalIdOption = None,
    pattern: PatternOption = PatternType.any,
    principal: Annotated[
        str | None, typer.Option("--principal", help="Only this principal.")
    ] = None,
    output_format: FormatOption = OutputFormat.table,
    bootstrap_server: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
) -> None:
    """List ACLs, all of them or those of one resource (with --resource-pattern-type match:
    every ACL that applies to it, wildcard and prefixes included)."""
    restype, name = _resource(topic, group, cluster, transactional_id, required=False)
    wanted = _filter(restype, name, pattern.client(), principal, AclOperation.ANY)
    connection = Connection(bootstrap_server, command_config)
    try:
        found = connection.admin().describe_acls(wanted, request_timeout=REQUEST_TIMEOUT_S)
        bindings = connection.result(found)
    except Exception as exc:
        raise connection.failure(exc, "list ACLs") from exc
    rows = sorted(AclRow.of(b) for b in bindings) if bindings else []
    if output_format is OutputFormat.json:
        print_json([row.to_json() for row in rows])
    else:
        print_table(AclRow.COLUMNS, [row.table_row() for row in rows])


@app.command("remove")
def remove(
    topic: TopicOption = None,
    group: GroupOption = None,
    cluster: ClusterOption = False,
    transactional_id: TransactionalIdOption = None,
    pattern: PatternOption = PatternType.literal,
    principal: Annotated[
        str | None, typer.Option("--principal", help="Only this principal.")
    ] = None,
    operation: Annotated[
        Operation | None,
        typer.Option("--operation", case_sensitive=False, help="Only this operation."),
    ] = None,
    output_format: FormatOption = OutputFormat.table,
    bootstrap_server: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
) -> None:
    """Remove the ACLs of a resource (all, or only a principal's, or only an operation's).
    With --format json, prints the ACLs removed as `acl list` does."""
    restype, name = _resource(topic, group, cluster, transactional_id)
    wanted = _filter(
        restype, name, pattern.client(), principal,
        AclOperation.ANY if operation is None else operation.client(),
    )  # fmt: skip
    connection = Connection(bootstrap_server, command_config)
    try:
        futures = connection.admin().delete_acls([wanted], request_timeout=REQUEST_TIMEOUT_S)
        removed = connection.result(next(iter(futures.values())))
    except Exception as exc:
        raise connection.failure(exc, "remove ACLs") from exc
    if output_format is OutputFormat.json:
        print_json([row.to_json() for row in sorted(AclRow.of(b) for b in removed)])
    status(f"removed {len(removed)} ACL{'' if len(removed) == 1 else 's'}")


def _resource(
    topic: str | None,
    group: str | None,
    cluster: bool,
    transactional_id: str | None,
    *,
    required: bool = True,
) -> tuple[ResourceType, str | None]:
    """The one resource the options name; ANY (every resource) when none is named and
    none is required."""
    named = [
        (ResourceType.TOPIC, topic), (ResourceType.GROUP, group),
        (ResourceType.BROKER, CLUSTER_NAME if cluster else None),
        (ResourceType.TRANSACTIONAL_ID, transactional_id),
    ]  # fmt: skip
    given = [(restype, name) for restype, name in named if name is not None]
    if len(given) > 1:
        raise typer.BadParameter(
            "name one resource: --topic, --group, --cluster or --transactional-id"
        )
    if not given:
        if required:
            raise typer.BadParameter(
                "name a resource: --topic, --group, --cluster or --transactional-id"
            )
        return ResourceType.ANY, None
    return given[0]


def _filter(
    restype: ResourceType,
    name: str | None,
    pattern: ResourcePatternType,
    principal: str | None,
    operation: AclOperation,
) -> AclBindingFilter:
    """A filter; None matches any name, principal and host (the client's stubs say str)."""
    return AclBindingFilter(
        restype, cast(str, name), pattern, cast(str, principal), cast(str, None), operation,
        AclPermissionType.ANY,
    )  # fmt: skip


def _name(value: object) -> str:
    """An enum member's name (the client's stubs also allow str and int)."""
    return str(getattr(value, "name", value))


def _upper_snake(name: str) -> str:
    """DescribeConfigs -> DESCRIBE_CONFIGS."""
    return "".join(f"_{c}" if c.isupper() and i else c for i, c in enumerate(name)).upper()


def _title(name: str) -> str:
    """DESCRIBE_CONFIGS -> DescribeConfigs; BROKER (librdkafka's Cluster) -> Cluster."""
    if name == "BROKER":
        return "Cluster"
    return "".join(part.capitalize() for part in name.split("_"))
