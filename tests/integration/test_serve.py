"""`grete serve` as an operator starts it: settings from a properties file and from GRETE_*
environment variables, observed through a real client; invalid values refused in one line;
the event loop the broker runs on."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from harness import BrokerProcess

from grete.config.loading import env_var_name

TIMEOUT_S = 30.0


class ServeProcess(BrokerProcess):
    """`python -m grete serve` with exactly the arguments given: no --listeners or
    --log-dirs added, so the listener and log dir must come from the file or environment."""

    def __init__(self, root: Path, *serve_args: str, env: dict[str, str] | None = None) -> None:
        super().__init__(root / "data", log_path=root / "broker.log", env=env)
        self.serve_args = serve_args

    def command(self) -> list[str]:
        return [sys.executable, "-m", "grete", "serve", *self.serve_args]


@pytest.fixture
def serve(tmp_path: Path):  # type: ignore[no-untyped-def]
    """serve(*args, env=...) -> a started ServeProcess; stopped after the test."""
    started: list[ServeProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> ServeProcess:
        process = ServeProcess(tmp_path / f"serve-{len(started)}", *args, env=env)
        started.append(process)
        return process

    yield start
    for process in started:
        try:
            process.stop()
        finally:
            process.kill()


def auto_created_partitions(bootstrap: str, topic: str) -> int:
    """Produce to a topic that does not exist yet (auto.create.topics.enable); its partition
    count as the broker's metadata reports it."""
    producer = Producer({"bootstrap.servers": bootstrap, "message.timeout.ms": 20_000})
    producer.produce(topic, b"first")
    assert producer.flush(TIMEOUT_S) == 0, "the record was not delivered"
    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=TIMEOUT_S)
    assert metadata.topics[topic].error is None, metadata.topics[topic].error
    return len(metadata.topics[topic].partitions)


def test_settings_from_a_properties_file(serve, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    broker = serve("--config", str(tmp_path / "server.properties"))
    (tmp_path / "server.properties").write_text(
        "# as kafka-server-start.sh reads it\n"
        f"listeners = PLAINTEXT://127.0.0.1:{broker.port}\n"
        f"log.dirs={broker.data_dir}\n"
        "num.partitions=3\n"
    )
    # The file wins over the environment.
    broker.extra_env[env_var_name("num.partitions")] = "5"
    broker.start()
    assert auto_created_partitions(broker.bootstrap, "from-file") == 3
    assert (broker.data_dir / "from-file-2").is_dir(), "log.dirs from the file is not used"


def test_settings_from_environment_variables(serve) -> None:  # type: ignore[no-untyped-def]
    broker = serve()
    broker.extra_env.update({
        "GRETE_LISTENERS": f"PLAINTEXT://127.0.0.1:{broker.port}",
        "GRETE_LOG_DIRS": str(broker.data_dir),
        "GRETE_NUM_PARTITIONS": "2",
    })  # fmt: skip
    broker.start()
    assert auto_created_partitions(broker.bootstrap, "from-env") == 2
    assert sorted(p.name for p in broker.data_dir.glob("from-env-*")) == ["from-env-0", "from-env-1"]


def run_serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`grete serve ARGS` to its end, with no GRETE_* variable but those in ``env``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GRETE_")}
    return subprocess.run(
        [sys.executable, "-m", "grete", "serve", *args],
        capture_output=True, text=True, timeout=TIMEOUT_S, check=False, env={**clean, **(env or {})},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("override", "setting"),
    [
        ("num.partitions=zero", "num.partitions"),
        ("num.partitions=0", "num.partitions"),
        ("socket.request.max.bytes=-1", "socket.request.max.bytes"),
        ("auto.create.topics.enable=maybe", "auto.create.topics.enable"),
        ("listeners=PLAINTEXT://127.0.0.1:notaport", "listeners"),
    ],
)
def test_an_invalid_value_stops_serve_with_one_line(
    tmp_path: Path, override: str, setting: str
) -> None:
    result = run_serve("--log-dirs", str(tmp_path / "data"), "--override", override)
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and f"'{setting}'" in lines[0], lines[0]
    assert "invalid" in lines[0], lines[0]


def test_an_invalid_value_in_the_file_or_environment_stops_serve(tmp_path: Path) -> None:
    properties = tmp_path / "server.properties"
    properties.write_text("log.segment.bytes=big\n")
    from_file = run_serve("--config", str(properties))
    from_env = run_serve(env={"GRETE_NUM_PARTITIONS": "-3"})
    for result, setting in ((from_file, "log.segment.bytes"), (from_env, "num.partitions")):
        assert result.returncode == 2, (result.returncode, result.stderr)
        (line,) = result.stderr.splitlines()
        assert line.startswith("error: invalid value") and f"'{setting}'" in line, line


def test_the_broker_runs_on_uvloop(broker) -> None:  # type: ignore[no-untyped-def]
    if importlib.util.find_spec("uvloop") is None:
        pytest.fail("uvloop is not installed: it is a dependency of grete (make install)")
    started = [line for line in broker.log_path.read_text().splitlines() if "event loop:" in line]
    assert len(started) == 1, started
    assert "event loop: uvloop;" in started[0], started[0]
