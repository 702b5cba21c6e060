"""Building confluent-kafka clients for the CLI, and turning their errors into one-line messages."""

import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from grete.cli.command_config import CommandConfigError, load_settings
from grete.cli.errors import EXIT_USAGE, CliError

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
BOOTSTRAP_ENV = "GRETE_BOOTSTRAP_SERVER"
REQUEST_TIMEOUT_S = 15.0
# Placeholder group for consumers that only assign(): librdkafka insists on a group.id,
# but without subscribe() or commits the group is never joined.
ASSIGN_ONLY_GROUP = "grete-cli"

BootstrapOption = Annotated[
    str,
    typer.Option(
        "--bootstrap-server",
        "-b",
        envvar=BOOTSTRAP_ENV,
        show_envvar=True,
        help="Broker address host:port (a comma-separated list is accepted).",
    ),
]

PropertyOption = Annotated[
    list[str] | None,
    typer.Option(
        "--property",
        "-X",
        metavar="KEY=VALUE",
        help="Extra librdkafka client setting (repeatable), e.g. -X debug=protocol.",
    ),
]

CommandConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--command-config",
        metavar="FILE",
        help="Java properties file of Kafka client settings (security.protocol, sasl.jaas.config,"
        " ssl.truststore.location...), as Kafka's tools take it.",
    ),
]

# Errors that retrying will not cure: the broker refused our credentials or our TLS setup.
_REFUSED = {KafkaError._AUTHENTICATION, KafkaError._SSL}
_WAIT_SLICE_S = 0.2

_UNREACHABLE = {
    KafkaError._TRANSPORT,
    KafkaError._TIMED_OUT,
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError._RESOLVE,
    KafkaError._WAIT_COORD,
}

K = TypeVar("K")
V = TypeVar("V")


def parse_key_value_pairs(items: Iterable[str] | None, option: str) -> list[tuple[str, str]]:
    """Parse repeated `KEY=VALUE` arguments in order; a value may be empty or contain '='."""
    pairs: list[tuple[str, str]] = []
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint=option)
        pairs.append((key, value))
    return pairs


def parse_key_values(items: Iterable[str] | None, option: str) -> dict[str, str]:
    """Like parse_key_value_pairs, as a mapping: a repeated KEY keeps its last value."""
    return dict(parse_key_value_pairs(items, option))


def error_of(exc: BaseException) -> KafkaError | None:
    """The KafkaError a confluent-kafka exception carries, if any."""
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0]
    return None


def error_name(exc: BaseException | None) -> str | None:
    """The Kafka error's name (UNKNOWN_TOPIC_OR_PART), the exception's type for anything
    else, None for no exception: the "error" of the CLI's JSON results."""
    if exc is None:
        return None
    error = error_of(exc)
    return error.name() if error is not None else type(exc).__name__


def load_command_config(path: Path | None) -> dict[str, str]:
    """The librdkafka settings of a --command-config file ({} without one); a usage error
    if the file cannot be read or used."""
    if path is None:
        return {}
    try:
        return load_settings(path)
    except CommandConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--command-config") from exc


@dataclass
class Connection:
    """Where the CLI's clients connect and how (`settings`: the librdkafka settings of
    --command-config), plus the last connection-level error librdkafka reported (used to
    explain timeouts). Not thread-safe; the CLI is single-threaded."""

    bootstrap: str
    command_config: Path | None = None
    settings: dict[str, str] = field(init=False)
    last_error: KafkaError | None = field(default=None, init=False)
    _admin: AdminClient | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.settings = load_command_config(self.command_config)

    def config(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """librdkafka settings, highest first: `overrides` (a command's options, then -X),
        --bootstrap-server, the --command-config file, the CLI's defaults. librdkafka's own
        log lines are silenced (errors come via error_cb)."""
        config: dict[str, Any] = {"client.id": "grete-cli", "log_level": 0}
        config.update(self.settings)
        config.update({"bootstrap.servers": self.bootstrap, "error_cb": self._on_error})
        config.update(overrides or {})
        return config

    def admin(self) -> AdminClient:
        """The connection's admin client, created once. Keeping it referenced matters:
        librdkafka fails pending futures with _DESTROY when the client is collected."""
        if self._admin is None:
            config = self.config()
            self._admin = _construct(lambda: AdminClient(config), "admin client")
        return self._admin

    def producer(self, overrides: Mapping[str, Any]) -> Producer:
        config = self.config(overrides)
        return _construct(lambda: Producer(config), "producer")

    def consumer(self, overrides: Mapping[str, Any]) -> Consumer:
        config = self.config(overrides)
        return _construct(lambda: Consumer(config), "consumer")

    def result(self, future: "Future[V]", timeout: float = REQUEST_TIMEOUT_S) -> V:
        """An admin future's result within `timeout`. Fails at once, with librdkafka's error,
        once the broker has refused our credentials or TLS settings: librdkafka would only
        retry them until the timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                return future.result(timeout=max(0.0, min(_WAIT_SLICE_S, left)))
            except TimeoutError:
                self.serve_callbacks()
                if self.last_error is not None and self.last_error.code() in _REFUSED:
                    raise KafkaException(self.last_error) from None
                if left <= 0:
                    raise

    def serve_callbacks(self) -> None:
        """Let the admin client report pending errors (error_cb runs only when polled)."""
        if self._admin is not None:
            self._admin.poll(0)

    def describe(self, error: KafkaError, action: str) -> str:
        """One line for `error`, raised while doing `action` (e.g. "create topic t")."""
        self.serve_callbacks()
        if error.code() in _REFUSED:
            return f"{action}: {error.str()}"
        if error.code() in _UNREACHABLE:
            cause = self.last_error.str() if self.last_error is not None else error.str()
            return f"{action}: broker at {self.bootstrap} did not answer ({cause})"
        return f"{action}: {error.str()} ({error.name()})"

    def failure(self, exc: BaseException, action: str) -> CliError:
        """A CliError describing `exc` raised while doing `action`."""
        error = error_of(exc)
        if error is None and isinstance(exc, TimeoutError):  # a future not done in time
            error = KafkaError(KafkaError._TIMED_OUT)
        if error is None:
            return CliError(f"{action}: {exc}")
        return CliError(self.describe(error, action))

    def _on_error(self, error: KafkaError) -> None:
        # "all brokers are down" follows the error that says why; keep that one.
        if error.code() != KafkaError._ALL_BROKERS_DOWN or self.last_error is None:
            self.last_error = error


def wait_all(
    futures: Mapping[K, "Future[V]"],
    timeout: float = REQUEST_TIMEOUT_S,
    connection: Connection | None = None,
) -> tuple[dict[K, V], dict[K, BaseException]]:
    """Resolve admin futures, splitting results from failures (keyed as the input); with
    `connection`, a refused login fails them at once (see Connection.result)."""
    results: dict[K, V] = {}
    failures: dict[K, BaseException] = {}
    for key, future in futures.items():
        try:
            if connection is not None:
                results[key] = connection.result(future, timeout)
            else:
                results[key] = future.result(timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - confluent-kafka raises KafkaException; timeouts too
            failures[key] = exc
    return results, failures


def _construct(factory: Callable[[], V], what: str) -> V:
    """Build a client, turning a rejected setting (e.g. a bad --property) into a usage error."""
    try:
        return factory()
    except (KafkaException, ValueError, TypeError) as exc:
        error = error_of(exc)
        message = error.str() if error is not None else str(exc)
        raise CliError(f"cannot create {what}: {message}", EXIT_USAGE) from exc
