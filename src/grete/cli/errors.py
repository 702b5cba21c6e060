"""The CLI's error boundary: every failure leaves as one stderr line and an exit status."""

import os
import sys
from collections.abc import Sequence
from typing import Any

import typer
from confluent_kafka import KafkaError, KafkaException
from typer.core import TyperGroup

# Typer vendors click in recent releases and depends on it in older ones; take the
# exception classes from wherever typer's own BadParameter lives so both work.
_click_exceptions: Any = sys.modules[typer.BadParameter.__module__]

EXIT_FAILURE = 1
EXIT_USAGE = 2
TRACEBACK_ENV = "GRETE_TRACEBACK"


class CliError(Exception):
    """A failure the user can act on: `message` is one line, `exit_code` the process status."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def print_error(message: str) -> None:
    """Write `error: <message>` as a single line to stderr."""
    one_line = " ".join(message.split())
    print(f"error: {one_line}", file=sys.stderr, flush=True)


def _usage_message(exc: Any) -> str:
    message = str(exc.format_message())
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        return f"{message} (see '{ctx.command_path} --help')"
    return message


def _show_help(exc: Any) -> None:
    # A command run without arguments shows its help; with rich formatting, typer has
    # already printed it, and the exception carries only what is left to print.
    help_text = str(exc.format_message())
    if help_text.strip():
        print(help_text, file=sys.stderr)


class GreteGroup(TyperGroup):
    """Root command group. Runs click in non-standalone mode so that usage errors,
    Kafka errors and unexpected exceptions are all reported the same way: one line on
    stderr and a non-zero exit status (2 for usage errors). Set GRETE_TRACEBACK=1 to
    let unexpected exceptions propagate with their traceback."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        sys.exit(self._run(args, prog_name, complete_var, extra))

    def _run(
        self,
        args: Sequence[str] | None,
        prog_name: str | None,
        complete_var: str | None,
        extra: dict[str, Any],
    ) -> int:
        try:
            result = super().main(args, prog_name, complete_var, False, **extra)
        except CliError as exc:
            print_error(exc.message)
            return exc.exit_code
        except _click_exceptions.UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":
                _show_help(exc)
            else:
                print_error(_usage_message(exc))
            return int(exc.exit_code)
        except _click_exceptions.ClickException as exc:
            print_error(str(exc.format_message()))
            return int(exc.exit_code)
        except typer.Abort:
            print_error("aborted")
            return EXIT_FAILURE
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            print_error(error.str() if isinstance(error, KafkaError) else str(exc))
            return EXIT_FAILURE
        except Exception as exc:  # the last line of defence against a traceback
            if os.environ.get(TRACEBACK_ENV):
                raise
            name = type(exc).__name__
            print_error(f"unexpected {name}: {exc} (set {TRACEBACK_ENV}=1 for details)")
            return EXIT_FAILURE
        return result if isinstance(result, int) else 0
