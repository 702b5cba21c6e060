"""kafka-python 2.x against Grete: produce with keys and headers, consume in a group, commit,
and resume from the commit.

The venv holds kafka-python 3 (the other compat tests use its 3.x API). Each 2.x release in
kafka-python-2.versions is installed by `make test` into .venv/compat/kafka-python-VERSION,
and kafka_python_2_app.py runs with that directory first on PYTHONPATH. A missing install
fails the test, as a missing kcat or Java does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from harness import ServerProcess
from harness.kafka import create_topic

HERE = Path(__file__).resolve().parent
APP = HERE / "kafka_python_2_app.py"
VERSIONS_FILE = HERE / "kafka-python-2.versions"
COMPAT_DIR = Path(sys.prefix) / "compat"  # the Makefile's $(VENV)/compat
PARTITIONS = 3
FIRST, SECOND = 30, 7  # as in kafka_python_2_app.py
# kafka-python 2.0.2 vendors six 1.11, whose importer has no find_spec: Python 3.12 removed
# the fallback, so that release cannot even be imported there.
LAST_PYTHON = {"2.0.2": (3, 11)}


def versions() -> list[str]:
    lines = VERSIONS_FILE.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def installed(version: str) -> Path:
    """The directory holding kafka-python ``version``; fails the test if it is missing."""
    target = COMPAT_DIR / f"kafka-python-{version}"
    if not (target / ".installed").is_file():
        pytest.fail(
            f"kafka-python {version} is not installed in {target}: `make test` installs it "
            f"(Makefile, kafka-python 2.x)",
            pytrace=False,
        )
    return target


def run_app(target: Path, *args: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(target)
    done = subprocess.run(
        [sys.executable, str(APP), *args],
        capture_output=True, text=True, timeout=240, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stderr[-6000:]}"
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def expected_record(i: int, offset: int) -> list[Any]:
    headers = [["seq", str(i)], ["client", "kafka-python"]]
    return [i % PARTITIONS, offset, f"key-{i % 5}", f"value-{i}", headers]


@pytest.mark.parametrize("version", versions())
def test_round_trip_in_a_group(shared_broker: ServerProcess, topic_name: str, version: str) -> None:
    if sys.version_info[:2] > LAST_PYTHON.get(version, sys.version_info[:2]):
        pytest.skip(f"kafka-python {version} does not run on Python {sys.version_info[:2]}")
    target = installed(version)
    create_topic(shared_broker.bootstrap, topic_name, PARTITIONS)
    group = f"{topic_name}-group"

    result = run_app(target, shared_broker.bootstrap, topic_name, str(PARTITIONS), group)

    assert result["version"] == version
    assert Path(result["module"]).is_relative_to(target), result["module"]
    # Record i went to partition i % 3 and got the next offset there.
    offsets = [i // PARTITIONS for i in range(FIRST + SECOND)]
    assert result["acked"] == [[i % PARTITIONS, offsets[i]] for i in range(FIRST + SECOND)]
    records = sorted(expected_record(i, offsets[i]) for i in range(FIRST + SECOND))
    first = [r for r in records if r[3] in {f"value-{i}" for i in range(FIRST)}]
    assert result["first"] == first
    assert result["committed"] == {str(p): FIRST // PARTITIONS for p in range(PARTITIONS)}
    # A new member of the group starts at the commit: only the records sent after it.
    assert result["resumed"] == [r for r in records if r not in first]
    ends = {str(p): sum(1 for i in range(FIRST + SECOND) if i % PARTITIONS == p) for p in range(PARTITIONS)}
    assert result["committed_after"] == ends
