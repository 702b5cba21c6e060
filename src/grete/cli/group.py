"""`grete group ...`: list, describe, reset the offsets of and delete consumer groups."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar

import typer
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from grete.cli.client import (
    DEFAULT_BOOTSTRAP,
    REQUEST_TIMEOUT_S,
    BootstrapOption,
    CommandConfigOption,
    Connection,
    error_name,
    wait_all,
)
from grete.cli.errors import EXIT_USAGE, CliError, print_error
from grete.cli.group_view import (
    GroupState,
    GroupSummary,
    GroupView,
    MemberView,
    Partition,
    PartitionLag,
    build_view,
    committed_offsets,
    describe_group,
    group_type,
    list_offsets,
    offset_spec,
    partitions_of,
)
from grete.cli.output import FormatOption, OutputFormat, print_json, print_line, print_table, status

app = typer.Typer(
    help="List, describe, reset the offsets of and delete consumer groups.", no_args_is_help=True
)

GroupArgument = Annotated[str, typer.Argument(help="Consumer group id.")]
# Offsets may only be rewritten while no member could overwrite them with its own commits.
# A Dead group is one the coordinator does not know: committing creates it (as in Kafka).
_RESETTABLE = {GroupState.Empty, GroupState.Dead}


@app.command("list")
def list_groups(
    states: Annotated[
        list[GroupState] | None,
        typer.Option(
            "--state", "-s", case_sensitive=False, help="Only groups in this state (repeatable)."
        ),
    ] = None,
    output_format: FormatOption = OutputFormat.table,
    bootstrap_server: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
) -> None:
    """List consumer groups with their state and type."""
    connection = Connection(bootstrap_server, command_config)
    options: dict[str, Any] = {"request_timeout": REQUEST_TIMEOUT_S}
    if states:
        options["states"] = {state.client_state() for state in states}
    try:
        listed = connection.result(connection.admin().list_consumer_groups(**options))
    except Exception as exc:
        raise connection.failure(exc, "list groups") from exc
    for error in listed.errors:
        print_error(connection.describe(error, "list groups"))
    summaries = sorted(
        (
            GroupSummary(
                group_id=g.group_id,
                state=GroupState.of(g.state),
                type=group_type(getattr(g, "type", None)),
                simple=bool(g.is_simple_consumer_group),
            )
            for g in listed.valid
        ),
        key=lambda s: s.group_id,
    )
    if output_format is OutputFormat.json:
        print_json([s.to_json() for s in summaries])
    else:
        print_table(GroupSummary.COLUMNS, [s.table_row() for s in summaries])
    if listed.errors:
        raise typer.Exit(1)


@app.command("describe")
def describe(
    group: GroupArgument,
    output_format: FormatOption = OutputFormat.table,
    bootstrap_server: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
) -> None:
    """Show a group's state, members and, per partition, committed offset and lag.

    LAG SECONDS is the age of the record at the committed offset (the next one the group
    will consume): 0 when caught up, '-' when unknown.
    """
    connection = Connection(bootstrap_server, command_config)
    admin = connection.admin()
    description = describe_group(connection, admin, group)
    if GroupState.of(description.state) is GroupState.Dead:
        raise CliError(f"describe group {group}: group does not exist")
    view = build_view(connection, admin, description)
    if output_format is OutputFormat.json:
        print_json(view.to_json())
        return
    _print_view(view)


def _print_view(view: GroupView) -> None:
    print_line(view.title())
    print_line("")
    print_table(MemberView.COLUMNS, [m.table_row() for m in view.members])
    print_line("")
    print_table(PartitionLag.COLUMNS, [p.table_row() for p in view.partitions])


class ResetMode(StrEnum):
    earliest = "earliest"
    latest = "latest"
    datetime = "datetime"
    offset = "offset"
    shift = "shift"


@dataclass(frozen=True)
class ResetTarget:
    """Where --to-*/--shift-by moves offsets: `value` is the offset, the shift or the time
    in ms since the epoch, depending on `mode`."""

    mode: ResetMode
    value: int = 0

    def new_offset(
        self, current: int | None, earliest: int, latest: int, at_time: int | None
    ) -> int:
        """The offset to commit, clamped to [earliest, latest]. `at_time` is the first
        offset whose record is at or after the target time (-1 or None: none is)."""
        if self.mode is ResetMode.earliest:
            return earliest
        if self.mode is ResetMode.latest:
            return latest
        if self.mode is ResetMode.datetime:
            wanted = latest if at_time is None or at_time < 0 else at_time
        elif self.mode is ResetMode.offset:
            wanted = self.value
        else:
            if current is None:
                raise ValueError("no committed offset to shift from")
            wanted = current + self.value
        return min(max(wanted, earliest), latest)


@dataclass(frozen=True)
class ResetStep:
    """One partition of a reset plan; `current_offset` None: nothing committed yet."""

    COLUMNS: ClassVar[list[str]] = ["TOPIC", "PARTITION", "CURRENT OFFSET", "NEW OFFSET"]

    topic: str
    partition: int
    current_offset: int | None
    new_offset: int

    def table_row(self) -> list[str | int | None]:
        return [self.topic, self.partition, self.current_offset, self.new_offset]

    def to_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "current_offset": self.current_offset,
            "new_offset": self.new_offset,
        }


def parse_datetime(text: str) -> int:
    """ISO 8601 → ms since the epoch; without a UTC offset, the time is local (as in Kafka)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(
            f"expected an ISO 8601 time such as 2024-05-01T12:00:00Z, got {text!r}",
            param_hint="--to-datetime",
        ) from exc
    return int(moment.astimezone().timestamp() * 1000)


def _target(
    to_earliest: bool,
    to_latest: bool,
    to_datetime: str | None,
    to_offset: int | None,
    shift_by: int | None,
) -> ResetTarget:
    """The one target the options name; a usage error unless exactly one is given."""
    given = [to_earliest, to_latest, to_datetime is not None, to_offset is not None]
    if sum(given) + (shift_by is not None) != 1:
        message = (
            "give exactly one of --to-earliest, --to-latest, --to-datetime, --to-offset, --shift-by"
        )
        raise CliError(message, EXIT_USAGE)
    if to_earliest:
        return ResetTarget(ResetMode.earliest)
    if to_latest:
        return ResetTarget(ResetMode.latest)
    if to_datetime is not None:
        return ResetTarget(ResetMode.datetime, parse_datetime(to_datetime))
    if to_offset is not None:
        return ResetTarget(ResetMode.offset, to_offset)
    return ResetTarget(ResetMode.shift, shift_by or 0)


@app.command("reset-offsets", no_args_is_help=True)
def reset_offsets(
    group: GroupArgument,
    topic: Annotated[str, typer.Option("--topic", "-t", help="Topic whose offsets to reset.")],
    partitions: Annotated[
        list[int] | None,
        typer.Option("--partition", "-p", min=0, help="Only this partition (repeatable)."),
    ] = None,
    to_earliest: Annotated[
        bool, typer.Option("--to-earliest", help="To the log start offset.")
    ] = False,
    to_latest: Annotated[bool, typer.Option("--to-latest", help="To the log end offset.")] = False,
    to_datetime: Annotated[
        str | None,
        typer.Option(
            "--to-datetime",
            metavar="ISO8601",
            help="To the first record at or after this time (the log end if none is).",
        ),
    ] = None,
    to_offset: Annotated[
        int | None, typer.Option("--to-offset", min=0, help="To this offset.")
    ] = None,
    shift_by: Annotated[
        int | None,
        typer.Option("--shift-by", help="Move the committed offset by N (may be negative)."),
    ] = None,
    execute: Annotated[
        bool, typer.Option("--execute", help="Apply the plan (default: only print it).")
    ] = False,
    output_format: FormatOption = OutputFormat.table,
    bootstrap_server: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
) -> None:
    """Plan, and with --execute commit, new offsets for a group with no active members.

    New offsets are kept between the log start and the log end. Without --execute
    nothing changes. Refused unless the group is Empty (or unknown: committing creates it).
    """
    target = _target(to_earliest, to_latest, to_datetime, to_offset, shift_by)
    connection = Connection(bootstrap_server, command_config)
    admin = connection.admin()
    state = GroupState.of(describe_group(connection, admin, group).state)
    if state not in _RESETTABLE:
        raise CliError(
            f"reset offsets of group {group}: the group is {state.value}, not Empty;"
            " stop its consumers first"
        )
    wanted = partitions_of(connection, admin, topic, partitions, "reset offsets")
    plan = _plan(connection, admin, group, target, wanted)
    if output_format is OutputFormat.json:
        print_json([step.to_json() for step in plan])
    else:
        print_table(ResetStep.COLUMNS, [step.table_row() for step in plan])
    if not execute:
        status("dry run: nothing changed (add --execute to apply)")
        return
    _apply(connection, admin, group, plan)
    status(f"reset offsets of group {group} for {len(plan)} partition(s) of topic {topic}")


def _plan(
    connection: Connection,
    admin: AdminClient,
    group: str,
    target: ResetTarget,
    wanted: list[Partition],
) -> list[ResetStep]:
    current = committed_offsets(connection, admin, group, wanted)
    earliest = list_offsets(connection, admin, {tp: offset_spec("earliest") for tp in wanted})
    latest = list_offsets(connection, admin, {tp: offset_spec("latest") for tp in wanted})
    at_time: dict[Partition, int] = {}
    if target.mode is ResetMode.datetime:
        spec = OffsetSpec.for_timestamp(target.value)
        at_time = list_offsets(connection, admin, {tp: spec for tp in wanted})
    plan = []
    for tp in wanted:
        try:
            new = target.new_offset(current.get(tp), earliest[tp], latest[tp], at_time.get(tp))
        except ValueError as exc:
            raise CliError(f"reset offsets of group {group} for {tp[0]}[{tp[1]}]: {exc}") from exc
        plan.append(ResetStep(tp[0], tp[1], current.get(tp), new))
    return plan


def _apply(connection: Connection, admin: AdminClient, group: str, plan: list[ResetStep]) -> None:
    offsets = [TopicPartition(s.topic, s.partition, s.new_offset) for s in plan]
    request = ConsumerGroupTopicPartitions(group, offsets)
    action = f"reset offsets of group {group}"
    futures = admin.alter_consumer_group_offsets([request], request_timeout=REQUEST_TIMEOUT_S)
    results, failures = wait_all(futures, connection=connection)
    for failure in failures.values():
        raise connection.failure(failure, action)
    for tp in results[group].topic_partitions or ():
        if tp.error is not None:
            raise CliError(
                connection.describe(tp.error, f"{action} for {tp.topic}[{tp.partition}]")
            )


@app.command("delete", no_args_is_help=True)
def delete(
    groups: Annotated[list[str], typer.Argument(help="Consumer groups to delete.")],
    output_format: FormatOption = OutputFormat.table,
    bootstrap_server: BootstrapOption = DEFAULT_BOOTSTRAP,
    command_config: CommandConfigOption = None,
) -> None:
    """Delete groups and their committed offsets.

    A group with members cannot be deleted. Exits non-zero if any group was not deleted.
    With --format json, prints each group with "deleted" and "error" (the Kafka error's
    name, or null).
    """
    connection = Connection(bootstrap_server, command_config)
    unique = list(dict.fromkeys(groups))
    futures = connection.admin().delete_consumer_groups(unique, request_timeout=REQUEST_TIMEOUT_S)
    deleted, failures = wait_all(futures, connection=connection)
    if output_format is OutputFormat.json:
        print_json([
            {"group_id": group, "deleted": group in deleted, "error": error_name(failures.get(group))}
            for group in unique
        ])  # fmt: skip
    for group in unique:
        if group in deleted:
            status(f"deleted group {group}")
        else:
            print_error(connection.failure(failures[group], f"delete group {group}").message)
    if failures:
        raise typer.Exit(1)
