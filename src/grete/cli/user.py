"""`grete user ...`: add, list and remove SASL/SCRAM users (AlterUserScramCredentials,
DescribeUserScramCredentials), as `kafka-configs.sh --entity-type users --alter
--add-config 'SCRAM-SHA-512=[iterations=8192,password=...]'` does, through confluent-kafka's
admin API. The broker stores a salted hash; the password never leaves this process in clear.
"""

import sys
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, ClassVar

import typer
from confluent_kafka.admin import (
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialAlteration,
    UserScramCredentialDeletion,
    UserScramCredentialsDescription,
    UserScramCredentialUpsertion,
)

from grete.cli.client import (
    DEFAULT_BOOTSTRAP,
    REQUEST_TIMEOUT_S,
    BootstrapOption,
    CommandConfigOption,
    Connection,
    wait_all,
)
from grete.cli.errors import CliError, print_error
from grete.cli.output import FormatOption, OutputFormat, print_json, print_table, status
from grete.security.sasl.credentials import MAX_ITERATIONS, MIN_ITERATIONS

app = typer.Typer(help="Add, list and remove SASL/SCRAM users.", no_args_is_help=True)

DEFAULT_ITERATIONS = 8192


class Mechanism(StrEnum):
    scram_sha_256 = "SCRAM-SHA-256"
    scram_sha_512 = "SCRAM-SHA-512"

    def client(self) -> ScramMechanism:
        return ScramMechanism[self.value.replace("-", "_")]


UserArgument = Annotated[str, typer.Argument(help="User name (the principal is User:NAME).")]


@dataclass(frozen=True, order=True)
class CredentialRow:
    COLUMNS: ClassVar[list[str]] = ["USER", "MECHANISM", "ITERATIONS"]

    user: str
    mechanism: str
    iterations: int

    def table_row(self) -> list[str | int | None]:
        return [self.user, self.mechanism, self.iterations]

    def to_json(self) -> dict[str, Any]:
        return {"user": self.user, "mechanism": self.mechanism, "iterations": self.iterations}


@app.command("add", no_args_is_help=True)
def add(
    name: UserArgument,
    mechanism: Annotated[
        Mechanism, typer.Option("--mechanism", "-m", case_sensitive=False, help="SCRAM mechanism.")
    ] = Mechanism.scram_sha_512,
    iterations: Annotated[
        int,
        typer.Option(
            "--iterations", min=MIN_ITERATIONS, max=MAX_ITERATIONS, help="PBKDF2 iterations."
        ),
    ] = DEFAULT_ITERATIONS,
    password: Annotated[
        str | None,
        typer.Option("--password", help="The password (default: prompt for it, twice)."),
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin's first line.")
    ] = False,
    output_format: FormatOption = OutputFormat.table,
    bootstrap_server: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
) -> None:
    """Add a user, or set a new password for one (per mechanism). With --format json, prints
    the credential as `user list` does."""
    secret = _password(password, password_stdin)
    connection = Connection(bootstrap_server, command_config)
    upsert = UserScramCredentialUpsertion(
        name, ScramCredentialInfo(mechanism.client(), iterations), secret.encode()
    )
    _alter(connection, upsert, f"add user {name}")
    if output_format is OutputFormat.json:
        print_json(CredentialRow(name, mechanism.value, iterations).to_json())
    status(f"added user {name} ({mechanism.value}, {iterations} iterations)")


@app.command("list")
def list_users(
    names: Annotated[list[str] | None, typer.Argument(help="Users to show (default: all).")] = None,
    output_format: FormatOption = OutputFormat.table,
    bootstrap_server: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
) -> None:
    """List SCRAM users with their mechanisms and iteration counts. Exits non-zero if a
    named user has no credentials."""
    connection = Connection(bootstrap_server, command_config)
    descriptions, failures = _describe(connection, list(dict.fromkeys(names or [])))
    rows = sorted(
        CredentialRow(d.user, _mechanism_name(info.mechanism), info.iterations)
        for d in descriptions
        for info in d.scram_credential_infos
    )
    if output_format is OutputFormat.json:
        print_json([row.to_json() for row in rows])
    else:
        print_table(CredentialRow.COLUMNS, [row.table_row() for row in rows])
    for user, exc in sorted(failures.items()):
        print_error(connection.failure(exc, f"describe user {user}").message)
    if failures:
        raise typer.Exit(1)


@app.command("remove", no_args_is_help=True)
def remove(
    name: UserArgument,
    mechanism: Annotated[
        list[Mechanism] | None,
        typer.Option(
            "--mechanism",
            "-m",
            case_sensitive=False,
            help="Remove this mechanism's credential (repeatable; default: all the user has).",
        ),
    ] = None,
    output_format: FormatOption = OutputFormat.table,
    bootstrap_server: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
) -> None:
    """Remove a user's SCRAM credentials. With --format json, prints each credential
    removed (user, mechanism)."""
    connection = Connection(bootstrap_server, command_config)
    if mechanism:
        mechanisms = list(dict.fromkeys(mechanism))
    else:
        descriptions, failures = _describe(connection, [name])
        if failures:
            raise connection.failure(failures[name], f"remove user {name}")
        mechanisms = [
            Mechanism(_mechanism_name(info.mechanism))
            for d in descriptions
            for info in d.scram_credential_infos
        ]
    for each in mechanisms:
        _alter(connection, UserScramCredentialDeletion(name, each.client()), f"remove user {name}")
        status(f"removed user {name} ({each.value})")
    if output_format is OutputFormat.json:
        print_json([{"user": name, "mechanism": each.value} for each in mechanisms])


def _password(given: str | None, from_stdin: bool) -> str:
    if given is not None and from_stdin:
        raise typer.BadParameter(
            "use either --password or --password-stdin", param_hint="--password"
        )
    if from_stdin:
        secret = sys.stdin.readline().rstrip("\r\n")
    elif given is not None:
        secret = given
    else:
        secret = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not secret:
        raise typer.BadParameter("the password must not be empty", param_hint="--password")
    return secret


def _alter(connection: Connection, alteration: UserScramCredentialAlteration, action: str) -> None:
    try:
        futures = connection.admin().alter_user_scram_credentials(
            [alteration], request_timeout=REQUEST_TIMEOUT_S
        )
        for future in futures.values():
            connection.result(future)
    except Exception as exc:  # confluent-kafka raises KafkaException; timeouts too
        raise connection.failure(exc, action) from exc


def _describe(
    connection: Connection, names: list[str]
) -> tuple[list[UserScramCredentialsDescription], dict[str, BaseException]]:
    """The named users' credentials (all users' without names), and the names that failed."""
    admin = connection.admin()
    try:
        if not names:
            every = admin.describe_user_scram_credentials(request_timeout=REQUEST_TIMEOUT_S)
            # The client's return type covers both call forms: without names, one future.
            if isinstance(every, dict):
                raise CliError("list users: unexpected answer from the admin client")
            found: dict[str, UserScramCredentialsDescription] = connection.result(every)
            return list(found.values()), {}
        futures = admin.describe_user_scram_credentials(names, request_timeout=REQUEST_TIMEOUT_S)
    except CliError:
        raise
    except Exception as exc:  # confluent-kafka raises KafkaException; timeouts too
        raise connection.failure(exc, "list users") from exc
    if not isinstance(futures, dict):
        raise CliError("list users: unexpected answer from the admin client")
    described, failures = wait_all(futures, connection=connection)
    return [described[n] for n in names if n in described], failures


def _mechanism_name(mechanism: object) -> str:
    """SCRAM_SHA_512 -> SCRAM-SHA-512 (the client's stubs also allow str and int)."""
    return str(getattr(mechanism, "name", mechanism)).replace("_", "-")
