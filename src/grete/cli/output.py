"""Rendering command results: rich tables for people, JSON for programs.

Data goes to stdout; status lines ("created topic t") go to stderr so that stdout
stays parseable. JSON output is a stable contract: keys are only ever added.
"""

import json
import sys
from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

# Wide enough that piped tables are not wrapped; a terminal uses its own width.
_PIPE_WIDTH = 240


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


FormatOption = Annotated[
    OutputFormat,
    typer.Option("--format", "-f", help="Output as a table for people or JSON for programs."),
]

Cell = str | int | None


def _console() -> Console:
    width = None if sys.stdout.isatty() else _PIPE_WIDTH
    return Console(file=sys.stdout, width=width, highlight=False, soft_wrap=False)


def print_json(data: object) -> None:
    """Write `data` as indented JSON with a trailing newline."""
    sys.stdout.write(json.dumps(data, indent=2) + "\n")
    sys.stdout.flush()


def _cell(value: Cell) -> str:
    return "-" if value is None else str(value)


def print_table(columns: Sequence[str], rows: Sequence[Sequence[Cell]], title: str = "") -> None:
    """Write rows as a borderless table with a header line; `None` cells print as '-'."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in columns:
        table.add_column(column, no_wrap=True, overflow="ignore")
    for row in rows:
        table.add_row(*(_cell(value) for value in row))
    console = _console()
    if title:
        console.print(title, markup=False)
    console.print(table)


def print_line(text: str) -> None:
    """Write one plain line of data to stdout (no markup interpretation)."""
    _console().print(text, markup=False)


def status(message: str) -> None:
    """Write a one-line status message to stderr."""
    print(message, file=sys.stderr, flush=True)


def records(count: int) -> str:
    """'1 record', '2 records'."""
    return f"{count} record" if count == 1 else f"{count} records"
