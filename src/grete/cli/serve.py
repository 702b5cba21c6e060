"""`grete serve`: start a broker, configured like kafka-server-start.sh."""

from pathlib import Path
from typing import Annotated

import typer

from grete.cli.client import parse_key_values
from grete.cli.errors import EXIT_USAGE, CliError


def broker_overrides(
    overrides: list[str] | None,
    listeners: str | None,
    log_dirs: str | None,
    zookeeper: str | None = None,
    broker_id: int | None = None,
) -> dict[str, str]:
    """--override pairs plus the shorthands; a shorthand may not contradict an --override."""
    settings = parse_key_values(overrides, "--override")
    shorthands = (
        ("listeners", listeners, "--listeners"),
        ("log.dirs", log_dirs, "--log-dirs"),
        ("zookeeper.connect", zookeeper, "--zookeeper"),
        ("broker.id", None if broker_id is None else str(broker_id), "--broker-id"),
    )
    for key, value, option in shorthands:
        if value is None:
            continue
        if settings.get(key, value) != value:
            conflict = f"conflicts with --override {key}={settings[key]}"
            raise typer.BadParameter(conflict, param_hint=option)
        settings[key] = value
    return settings


def serve(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            exists=True,
            dir_okay=False,
            readable=True,
            help="Broker settings as a Java properties file (server.properties).",
        ),
    ] = None,
    override: Annotated[
        list[str] | None,
        typer.Option("--override", metavar="KEY=VALUE", help="Override one setting (repeatable)."),
    ] = None,
    listeners: Annotated[
        str | None,
        typer.Option("--listeners", help="Same as --override listeners=..."),
    ] = None,
    log_dirs: Annotated[
        str | None,
        typer.Option("--log-dirs", help="Same as --override log.dirs=..."),
    ] = None,
    zookeeper: Annotated[
        str | None,
        typer.Option("--zookeeper", metavar="HOST:PORT[/CHROOT]",
                     help="Run as a cluster member coordinated by ZooKeeper (zookeeper.connect)."),
    ] = None,
    broker_id: Annotated[
        int | None,
        typer.Option("--broker-id", help="Same as --override broker.id=..."),
    ] = None,
) -> None:
    """Run a Grete broker until it is stopped (SIGINT/SIGTERM).

    Settings come from, lowest precedence first: defaults, GRETE_* environment
    variables, --config, then --override/--listeners/--log-dirs.
    """
    settings = broker_overrides(override, listeners, log_dirs, zookeeper, broker_id)
    # Imported here so the rest of the CLI works without (or before) the broker.
    from grete import app as broker
    from grete.config import ConfigError, load_config

    try:
        broker_config = load_config(properties_file=config, overrides=settings)
    except ConfigError as exc:
        raise CliError(str(exc), exit_code=EXIT_USAGE) from exc
    code = broker.run(broker_config)
    if code:
        raise typer.Exit(code)
