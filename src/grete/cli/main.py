"""Grete's command line. The console script `grete` is `app`."""

import importlib.metadata

import typer

from grete.cli import acl, consume, group, produce, quota, serve, topic, user
from grete.cli.errors import GreteGroup

app = typer.Typer(
    cls=GreteGroup,
    name="grete",
    help="Grete: an event streaming platform that speaks the Kafka protocol.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(topic.app, name="topic")
app.add_typer(group.app, name="group")
app.add_typer(acl.app, name="acl")
app.add_typer(user.app, name="user")
app.add_typer(quota.app, name="quota")
app.command("produce", no_args_is_help=True)(produce.produce)
app.command("consume", no_args_is_help=True)(consume.consume)
app.command("serve")(serve.serve)


@app.command("version")
def version() -> None:
    """Print Grete's version."""
    try:
        installed = importlib.metadata.version("grete")
    except importlib.metadata.PackageNotFoundError:
        installed = "unknown (not installed)"
    print(f"grete {installed}")
