"""`grete topic ...`: create, list, describe, alter, trim and delete topics via the Admin API."""

import time
from collections.abc import Iterable, Sequence
from typing import Annotated, Any

import typer
from confluent_kafka import KafkaError, TopicCollection
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    ResourceType,
    TopicDescription,
)

from grete.cli.client import (
    DEFAULT_BOOTSTRAP,
    REQUEST_TIMEOUT_S,
    BootstrapOption,
    CommandConfigOption,
    Connection,
    error_name,
    error_of,
    parse_key_values,
    wait_all,
)
from grete.cli.errors import EXIT_USAGE, CliError, print_error
from grete.cli.group_view import partitions_of
from grete.cli.output import (
    FormatOption,
    OutputFormat,
    print_json,
    print_line,
    print_table,
    status,
)
from grete.cli.topic_trim import TrimPoint, TrimStep, trim
from grete.cli.topic_view import PartitionView, TopicSummary, TopicView, describe_views

app = typer.Typer(
    help="Create, list, describe, alter, trim and delete topics.", no_args_is_help=True
)

_NEW_TOPIC_POLL_S = 0.2

ConfigOption = Annotated[
    list[str] | None,
    typer.Option("--config", "-c", metavar="KEY=VALUE", help="Topic config (repeatable)."),
]


def _has_code(exc: BaseException, code: int) -> bool:
    error = error_of(exc)
    return error is not None and error.code() == code


def _report_failures(connection: Connection, failures: dict[str, BaseException], verb: str) -> None:
    """Print one line per failed topic and exit non-zero if there was any."""
    for name, exc in sorted(failures.items()):
        print_error(connection.failure(exc, f"{verb} topic {name}").message)
    if failures:
        raise typer.Exit(1)


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Topic name.")],
    partitions: Annotated[
        int | None,
        typer.Option("--partitions", "-p", min=1, help="Partition count (default: the broker's)."),
    ] = None,
    replication_factor: Annotated[
        int | None,
        typer.Option("--replication-factor", "-r", min=1, help="Replicas (default: the broker's)."),
    ] = None,
    config: ConfigOption = None,
    if_not_exists: Annotated[
        bool, typer.Option("--if-not-exists", help="Succeed if the topic already exists.")
    ] = False,
    output_format: FormatOption = OutputFormat.table,
    bootstrap_server: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
) -> None:
    """Create a topic. With --format json, prints the topic as `topic describe` does, plus
    "created" (false when --if-not-exists found it there)."""
    connection = Connection(bootstrap_server, command_config)
    new_topic = NewTopic(
        name,
        num_partitions=partitions if partitions is not None else -1,
        replication_factor=replication_factor if replication_factor is not None else -1,
        config=parse_key_values(config, "--config"),
    )
    futures = connection.admin().create_topics([new_topic], request_timeout=REQUEST_TIMEOUT_S)
    _, failures = wait_all(futures, connection=connection)
    exists = name in failures and _has_code(failures[name], KafkaError.TOPIC_ALREADY_EXISTS)
    if not (if_not_exists and exists):
        _report_failures(connection, failures, "create")
    if output_format is OutputFormat.json:
        view = _describe_new(connection, name)
        print_json({"created": not exists, **view.to_json()})
    status(f"topic {name} already exists" if exists else f"created topic {name}")


def _describe_new(connection: Connection, name: str) -> TopicView:
    """The topic just created; in a cluster the broker asked may learn of it a moment later."""
    admin = connection.admin()
    deadline = time.monotonic() + REQUEST_TIMEOUT_S
    while True:
        descriptions, failures = _describe(connection, admin, [name])
        if name in descriptions and descriptions[name].partitions:
            return describe_views(connection, admin, [descriptions[name]])[0]
        unknown = name in failures and _has_code(failures[name], KafkaError.UNKNOWN_TOPIC_OR_PART)
        if name in failures and (not unknown or time.monotonic() > deadline):
            raise connection.failure(failures[name], f"describe topic {name}")
        if time.monotonic() > deadline:
            raise CliError(f"describe topic {name}: it has no partitions yet")
        time.sleep(_NEW_TOPIC_POLL_S)


@app.command("list")
def list_topics(
    internal: Annotated[
        bool, typer.Option("--internal", help="Include internal topics (__consumer_offsets...).")
    ] = False,
    output_format: FormatOption = OutputFormat.table,
    bootstrap_server: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
) -> None:
    """List topics with their partition count and replication factor."""
    connection = Connection(bootstrap_server, command_config)
    admin = connection.admin()
    names = _all_topic_names(connection, admin)
    descriptions, _ = _describe(connection, admin, names)  # a topic deleted meanwhile is skipped
    summaries = [
        TopicSummary.of(d)
        for d in sorted(descriptions.values(), key=lambda d: d.name)
        if internal or not d.is_internal
    ]
    if output_format is OutputFormat.json:
        print_json([s.to_json() for s in summaries])
        return
    print_table(TopicSummary.COLUMNS, [s.table_row() for s in summaries])


@app.command("describe")
def describe(
    names: Annotated[
        list[str] | None, typer.Argument(help="Topics to describe (default: all non-internal).")
    ] = None,
    output_format: FormatOption = OutputFormat.table,
    bootstrap_server: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
) -> None:
    """Show partitions, offsets, topic id and config overrides.

    Per partition: leader, replicas, ISR, log start and log end offsets, and the
    leader's size in bytes and number of segments ('-' where the broker does not
    report them). Configs are the topic's own overrides. Exits non-zero if any named
    topic does not exist.
    """
    connection = Connection(bootstrap_server, command_config)
    admin = connection.admin()
    wanted = list(dict.fromkeys(names)) if names else _all_topic_names(connection, admin)
    descriptions, failures = _describe(connection, admin, wanted)
    if not names:
        descriptions = {n: d for n, d in descriptions.items() if not d.is_internal}
    found = [descriptions[name] for name in wanted if name in descriptions]
    views = describe_views(connection, admin, found)
    if output_format is OutputFormat.json:
        print_json([view.to_json() for view in views])
    else:
        _print_views(views)
    _report_failures(connection, failures, "describe")


def _print_views(views: Sequence[TopicView]) -> None:
    for index, view in enumerate(views):
        if index:
            print_line("")
        configs = ",".join(f"{k}={v}" for k, v in sorted(view.configs.items())) or "-"
        title = (
            f"Topic: {view.name}  TopicId: {view.topic_id}  Partitions: {len(view.partitions)}"
            f"  ReplicationFactor: {view.replication_factor}  Configs: {configs}"
        )
        print_table(PartitionView.COLUMNS, [p.table_row() for p in view.partitions], title=title)


@app.command("alter")
def alter(
    name: Annotated[str, typer.Argument(help="Topic name.")],
    partitions: Annotated[
        int | None,
        typer.Option("--partitions", "-p", min=1, help="New (larger) partition count."),
    ] = None,
    config: ConfigOption = None,
    delete_config: Annotated[
        list[str] | None,
        typer.Option("--delete-config", metavar="KEY", help="Reset a config to its default."),
    ] = None,
    output_format: FormatOption = OutputFormat.table,
    bootstrap_server: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
) -> None:
    """Add partitions to a topic and/or set or reset its configs. With --format json,
    prints what was changed: the new partition count (null if unchanged), the configs set
    and the configs reset."""
    to_set = parse_key_values(config, "--config")
    to_delete = list(delete_config or ())
    if partitions is None and not to_set and not to_delete:
        message = "nothing to alter: give --partitions, --config or --delete-config"
        raise CliError(message, EXIT_USAGE)
    connection = Connection(bootstrap_server, command_config)
    admin = connection.admin()
    if partitions is not None:
        _alter_partitions(connection, admin, name, partitions)
    if to_set or to_delete:
        _alter_configs(connection, admin, name, to_set, to_delete)
    if output_format is OutputFormat.json:
        print_json({
            "name": name, "partitions": partitions,
            "set_configs": dict(sorted(to_set.items())), "deleted_configs": sorted(set(to_delete)),
        })  # fmt: skip


def _alter_partitions(connection: Connection, admin: AdminClient, name: str, count: int) -> None:
    futures = admin.create_partitions(
        [NewPartitions(name, count)], request_timeout=REQUEST_TIMEOUT_S
    )
    _, failures = wait_all(futures, connection=connection)
    _report_failures(connection, failures, "add partitions to")
    status(f"topic {name} now has {count} partitions")


def _alter_configs(
    connection: Connection,
    admin: AdminClient,
    name: str,
    to_set: dict[str, str],
    to_delete: Iterable[str],
) -> None:
    entries = [
        ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
        for key, value in to_set.items()
    ] + [
        ConfigEntry(key, None, incremental_operation=AlterConfigOpType.DELETE) for key in to_delete
    ]
    resource = ConfigResource(ResourceType.TOPIC, name, incremental_configs=entries)
    futures = admin.incremental_alter_configs([resource], request_timeout=REQUEST_TIMEOUT_S)
    _, failures = wait_all(futures, connection=connection)
    _report_failures(connection, {r.name: exc for r, exc in failures.items()}, "alter configs of")
    status(f"updated configs of topic {name}")


@app.command("trim", no_args_is_help=True)
def trim_topic(
    name: Annotated[str, typer.Argument(help="Topic name.")],
    before: Annotated[
        str,
        typer.Option(
            "--before",
            metavar="OFFSET|ISO8601",
            help="Delete every record before this offset, or before the first record at or "
            "after this time (2024-05-01T12:00:00Z; local time without a UTC offset).",
        ),
    ],
    partitions: Annotated[
        list[int] | None,
        typer.Option("--partition", "-p", min=0, help="Only this partition (repeatable)."),
    ] = None,
    output_format: FormatOption = OutputFormat.table,
    bootstrap_server: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
) -> None:
    """Delete a topic's oldest records (DeleteRecords): the log start offset moves up.

    An offset past a partition's end trims the whole partition. Prints each partition's
    log start offset before and after. Exits non-zero if any partition failed.
    """
    point = TrimPoint.parse(before)
    connection = Connection(bootstrap_server, command_config)
    admin = connection.admin()
    steps = trim(connection, admin, point, partitions_of(connection, admin, name, partitions, f"trim topic {name}"))
    if output_format is OutputFormat.json:
        print_json([step.to_json() for step in steps])
    else:
        print_table(TrimStep.COLUMNS, [step.table_row() for step in steps])
    deleted = sum(s.log_start_offset - s.old_log_start_offset for s in steps)
    status(f"trimmed topic {name}: {deleted} records deleted from {len(steps)} partition(s)")


@app.command("delete")
def delete(
    names: Annotated[list[str], typer.Argument(help="Topics to delete.")],
    if_exists: Annotated[
        bool, typer.Option("--if-exists", help="Succeed for topics that do not exist.")
    ] = False,
    output_format: FormatOption = OutputFormat.table,
    bootstrap_server: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
) -> None:
    """Delete topics. Exits non-zero if any could not be deleted. With --format json,
    prints each topic with "deleted" and "error" (the Kafka error's name, or null)."""
    connection = Connection(bootstrap_server, command_config)
    unique = list(dict.fromkeys(names))
    futures = connection.admin().delete_topics(unique, request_timeout=REQUEST_TIMEOUT_S)
    deleted, failures = wait_all(futures, connection=connection)
    if output_format is OutputFormat.json:
        print_json([
            {"name": name, "deleted": name in deleted, "error": error_name(failures.get(name))}
            for name in unique
        ])  # fmt: skip
    for name in unique:
        if name in deleted:
            status(f"deleted topic {name}")
        elif if_exists and _has_code(failures[name], KafkaError.UNKNOWN_TOPIC_OR_PART):
            status(f"topic {name} does not exist")
            del failures[name]
    _report_failures(connection, failures, "delete")


def _all_topic_names(connection: Connection, admin: AdminClient) -> list[str]:
    try:
        metadata = admin.list_topics(timeout=REQUEST_TIMEOUT_S)
    except Exception as exc:
        raise connection.failure(exc, "list topics") from exc
    return sorted(metadata.topics)


def _describe(
    connection: Connection, admin: AdminClient, names: Sequence[str]
) -> tuple[dict[str, TopicDescription], dict[str, BaseException]]:
    if not names:
        return {}, {}
    try:
        futures: Any = admin.describe_topics(
            TopicCollection(list(names)), request_timeout=REQUEST_TIMEOUT_S
        )
    except Exception as exc:
        raise connection.failure(exc, "describe topics") from exc
    results: tuple[dict[str, TopicDescription], dict[str, BaseException]] = wait_all(
        futures, connection=connection
    )
    return results
