"""`grete quota ...`: set and list client quotas (AlterClientQuotas, DescribeClientQuotas;
KIP-546), as `kafka-configs.sh --entity-type users|clients --alter --add-config
producer_byte_rate=...` and `--describe` do.

librdkafka has no client-quota API, so these requests go through Grete's own client
(``grete.cli.native``), secured from the same --command-config settings as the other commands.
"""

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

import typer

from grete.cli.client import (
    DEFAULT_BOOTSTRAP,
    REQUEST_TIMEOUT_S,
    BootstrapOption,
    CommandConfigOption,
    Connection,
)
from grete.cli.errors import CliError
from grete.cli.native import open_connection
from grete.cli.output import FormatOption, OutputFormat, print_json, print_table, status
from grete.network.client import KafkaConnection
from grete.protocol import ApiKey, ErrorCode
from grete.security.quota.entity import (
    CLIENT_ID,
    CONSUMER_BYTE_RATE,
    PRODUCER_BYTE_RATE,
    REQUEST_PERCENTAGE,
    USER,
    USER_CLIENT_QUOTA_KEYS,
    QuotaEntity,
)
from grete.security.quota.filter import MATCH_DEFAULT, MATCH_EXACT

app = typer.Typer(help="Set and list client quotas (users, client ids).", no_args_is_help=True)

_HIGHEST_VERSION = 1  # of both APIs that this command speaks

UserOption = Annotated[str | None, typer.Option("--user", help="A user (principal name).")]
UserDefaultOption = Annotated[
    bool, typer.Option("--user-default", help="The default of all users.")
]
ClientOption = Annotated[str | None, typer.Option("--client-id", help="A client id.")]
ClientDefaultOption = Annotated[
    bool, typer.Option("--client-default", help="The default of all client ids.")
]


@dataclass(frozen=True)
class QuotaRow:
    COLUMNS: ClassVar[list[str]] = ["ENTITY", "QUOTAS"]

    entity: QuotaEntity
    values: Mapping[str, float]

    def sort_key(self) -> tuple[tuple[str, bool, str], ...]:
        return tuple((t, n is not None, n or "") for t, n in self.entity.parts)

    def table_row(self) -> list[str | int | None]:
        quotas = ", ".join(f"{k}={_number(v)}" for k, v in sorted(self.values.items()))
        return [str(self.entity), quotas]

    def to_json(self) -> dict[str, Any]:
        return {
            "entity": dict(self.entity.parts),
            "quotas": {k: _number(v) for k, v in sorted(self.values.items())},
        }


@app.command("set")
def set_quotas(
    user: UserOption = None,
    user_default: UserDefaultOption = False,
    client_id: ClientOption = None,
    client_default: ClientDefaultOption = False,
    producer_byte_rate: Annotated[
        int | None, typer.Option("--producer-byte-rate", min=1, help="Bytes/s produced.")
    ] = None,
    consumer_byte_rate: Annotated[
        int | None, typer.Option("--consumer-byte-rate", min=1, help="Bytes/s fetched.")
    ] = None,
    request_percentage: Annotated[
        float | None,
        typer.Option(
            "--request-percentage",
            help="Share of a request handler and network thread, in percent (over 0).",
        ),
    ] = None,
    remove: Annotated[
        list[str] | None,
        typer.Option("--remove", metavar="KEY", help="Remove this quota key (repeatable)."),
    ] = None,
    output_format: FormatOption = OutputFormat.table,
    bootstrap_server: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
) -> None:
    """Set (or with --remove, delete) the quotas of a user, a client id, or a user's client
    id; --user-default and --client-default name the defaults. With --format json, prints
    the entity, the quotas set and the keys removed."""
    if request_percentage is not None and not request_percentage > 0:
        raise typer.BadParameter("must be over 0", param_hint="--request-percentage")
    entity = _entity(user, user_default, client_id, client_default)
    if entity is None:
        raise typer.BadParameter(
            "name --user or --user-default, and/or --client-id or --client-default"
        )
    values = {
        PRODUCER_BYTE_RATE: producer_byte_rate,
        CONSUMER_BYTE_RATE: consumer_byte_rate,
        REQUEST_PERCENTAGE: request_percentage,
    }
    changes: dict[str, float | None] = {k: float(v) for k, v in values.items() if v is not None}
    for key in remove or []:
        if key not in USER_CLIENT_QUOTA_KEYS:
            known = ", ".join(USER_CLIENT_QUOTA_KEYS)
            raise typer.BadParameter(
                f"unknown quota {key!r} (one of {known})", param_hint="--remove"
            )
        if key in changes:
            raise typer.BadParameter(f"{key} is both set and removed", param_hint="--remove")
        changes[key] = None
    if not changes:
        raise typer.BadParameter(
            "give a value (--producer-byte-rate, --consumer-byte-rate, --request-percentage) "
            "or --remove KEY"
        )
    connection = Connection(bootstrap_server, command_config)
    action = f"set quotas of {entity}"
    asyncio.run(_alter(connection, entity, changes, action))
    if output_format is OutputFormat.json:
        print_json({
            "entity": dict(entity.parts),
            "set": {k: _number(v) for k, v in sorted(changes.items()) if v is not None},
            "removed": sorted(k for k, v in changes.items() if v is None),
        })  # fmt: skip
    done = [f"{k}={_number(v)}" for k, v in changes.items() if v is not None]
    done += [f"removed {k}" for k, v in changes.items() if v is None]
    status(f"{action}: {', '.join(done)}")


@app.command("list")
def list_quotas(
    user: UserOption = None,
    user_default: UserDefaultOption = False,
    client_id: ClientOption = None,
    client_default: ClientDefaultOption = False,
    output_format: FormatOption = OutputFormat.table,
    bootstrap_server: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
) -> None:
    """List client quotas: all of them, or those of entities that include the named user
    and/or client id (or default)."""
    entity = _entity(user, user_default, client_id, client_default)
    components = [
        (t, MATCH_DEFAULT if n is None else MATCH_EXACT, n) for t, n in (entity.parts if entity else ())
    ]
    connection = Connection(bootstrap_server, command_config)
    found = asyncio.run(_describe(connection, components))
    rows = sorted((QuotaRow(e, v) for e, v in found.items()), key=QuotaRow.sort_key)
    if output_format is OutputFormat.json:
        print_json([row.to_json() for row in rows])
    else:
        print_table(QuotaRow.COLUMNS, [row.table_row() for row in rows])


def _entity(
    user: str | None, user_default: bool, client_id: str | None, client_default: bool
) -> QuotaEntity | None:
    """The entity the options name; None when they name none."""
    if user is not None and user_default:
        raise typer.BadParameter("use either --user or --user-default", param_hint="--user")
    if client_id is not None and client_default:
        raise typer.BadParameter(
            "use either --client-id or --client-default", param_hint="--client-id"
        )
    parts: list[tuple[str, str | None]] = []
    if user is not None or user_default:
        parts.append((USER, user))
    if client_id is not None or client_default:
        parts.append((CLIENT_ID, client_id))
    return QuotaEntity(tuple(parts)) if parts else None


async def _version(conn: KafkaConnection, api_key: ApiKey, action: str) -> int:
    """The highest version of `api_key` both sides speak; CliError if the broker has none."""
    low, high = (await conn.api_versions(timeout_s=REQUEST_TIMEOUT_S)).get(api_key, (0, -1))
    if high < low or low > _HIGHEST_VERSION:
        raise CliError(f"{action}: the broker does not support {api_key.name}")
    return min(high, _HIGHEST_VERSION)


async def _alter(
    connection: Connection, entity: QuotaEntity, changes: Mapping[str, float | None], action: str
) -> None:
    api = ApiKey.ALTER_CLIENT_QUOTAS
    async with open_connection(connection, action, REQUEST_TIMEOUT_S) as conn:
        version = await _version(conn, api, action)

        def make(cls: str, **fields: Any) -> Any:
            return conn.make(api, version, cls, **fields)

        entry = make(
            "EntryData",
            entity=[make("EntityData", entity_type=t, entity_name=n) for t, n in entity.parts],
            ops=[
                make("OpData", key=k, value=0.0 if v is None else v, remove=v is None)
                for k, v in changes.items()
            ],
        )
        body = conn.build(api, version, entries=[entry], validate_only=False)
        response = await conn.request(api, version, body, timeout_s=REQUEST_TIMEOUT_S)
    for result in response.entries:
        _check(result.error_code, result.error_message, action)


async def _describe(
    connection: Connection, components: Sequence[tuple[str, int, str | None]]
) -> dict[QuotaEntity, dict[str, float]]:
    api, action = ApiKey.DESCRIBE_CLIENT_QUOTAS, "list quotas"
    async with open_connection(connection, action, REQUEST_TIMEOUT_S) as conn:
        version = await _version(conn, api, action)
        filters = [
            conn.make(api, version, "ComponentData", entity_type=t, match_type=m, match=n)
            for t, m, n in components
        ]
        body = conn.build(api, version, components=filters, strict=False)
        response = await conn.request(api, version, body, timeout_s=REQUEST_TIMEOUT_S)
    _check(response.error_code, response.error_message, action)
    return {
        QuotaEntity(tuple((d.entity_type, d.entity_name) for d in e.entity)): {
            v.key: float(v.value) for v in e.values
        }
        for e in response.entries or ()
    }


def _check(error_code: int, message: str | None, action: str) -> None:
    if error_code == ErrorCode.none:
        return
    try:
        name = ErrorCode(error_code).name.upper()
    except ValueError:
        name = f"error {error_code}"
    raise CliError(f"{action}: {message or name} ({name})")


def _number(value: float | None) -> int | float | None:
    """1024.0 -> 1024: byte rates are whole numbers, though sent as doubles."""
    if value is not None and value.is_integer():
        return int(value)
    return value
