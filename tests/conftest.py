"""Fixtures shared by every suite: real Grete brokers, the Java client, kcat.

broker           a fresh Grete broker for one test (data and log in tmp_path)
broker_factory   make_broker(*serve_args) -> started broker, e.g. make_broker("--override",
                 "log.segment.bytes=1024"); every broker it made is stopped after the test
shared_broker    one Grete broker for the whole session; create uniquely named topics on it
topic_name       a topic name unique to this test and this run
java_client      the compiled tests/compat/java/GreteRoundTrip program: java_client(*args) -> stdout
kcat             path of the kcat binary (the suite fails, not skips, without it)
zookeeper        a fresh standalone ZooKeeper server for one test (fails, not skips, without it)

When a test fails, the tail of each broker log it used is added to the report.
GRETE_TEST_BROKER=tansu runs the same fixtures on Tansu instead, to tell a test's own
mistakes from Grete's.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from harness import (
    BrokerProcess,
    JavaProgram,
    ServerProcess,
    TansuProcess,
    ZooKeeperNotInstalled,
    ZooKeeperProcess,
    compile_java,
)
from harness.java import JAVA_SOURCE_DIR


class BrokerFactory:
    """Starts Grete brokers in a test's tmp dir; remembers them so teardown stops each one."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.brokers: list[ServerProcess] = []

    def __call__(self, *serve_args: str, name: str | None = None) -> ServerProcess:
        name = name or f"grete-{len(self.brokers)}"
        kind: type[ServerProcess] = BrokerProcess
        if os.environ.get("GRETE_TEST_BROKER", "grete") == "tansu":
            kind = TansuProcess
        broker = kind(
            self.root / name / "data", *serve_args, log_path=self.root / name / "broker.log"
        )
        self.brokers.append(broker)
        broker.start()
        return broker

    def stop_all(self) -> None:
        for broker in self.brokers:
            try:
                broker.stop()
            finally:
                broker.kill()


@pytest.fixture
def broker_factory(tmp_path: Path) -> Iterator[BrokerFactory]:
    factory = BrokerFactory(tmp_path)
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture
def broker(broker_factory: BrokerFactory) -> ServerProcess:
    return broker_factory(name="grete")


@pytest.fixture(scope="session")
def shared_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    factory = BrokerFactory(tmp_path_factory.mktemp("shared-broker"))
    try:
        yield factory(name="grete")
    finally:
        factory.stop_all()


@pytest.fixture
def topic_name(request: pytest.FixtureRequest) -> str:
    # Legal topic characters are [a-zA-Z0-9._-]; keep it well under the 249-character limit.
    stem = re.sub(r"[^a-zA-Z0-9._-]+", "-", request.node.name)[:80].strip("-.")
    return f"{stem}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def java_client(tmp_path_factory: pytest.TempPathFactory) -> JavaProgram:
    try:
        return compile_java(
            JAVA_SOURCE_DIR / "GreteRoundTrip.java", tmp_path_factory.mktemp("java")
        )
    except FileNotFoundError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def kcat() -> str:
    path = shutil.which("kcat")
    if path is None:
        pytest.fail(
            "kcat is not installed: `make test` installs it (scripts/install-system-deps.sh)",
            pytrace=False,
        )
    return path


@pytest.fixture
def zookeeper(tmp_path: Path) -> Iterator[ZooKeeperProcess]:
    # Its data dir, zoo.cfg and log live in tmp_path/zookeeper; the log tail joins a failure.
    server = ZooKeeperProcess(tmp_path / "zookeeper" / "data")
    try:
        server.start()
    except ZooKeeperNotInstalled as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        try:
            server.stop()
        finally:
            server.kill()


def _processes_of(item: pytest.Item) -> list[ServerProcess]:
    found: list[ServerProcess] = []
    for value in getattr(item, "funcargs", {}).values():
        if isinstance(value, ServerProcess):
            found.append(value)
        elif isinstance(value, BrokerFactory):
            found.extend(value.brokers)
    return list(dict.fromkeys(found))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        for process in _processes_of(item):
            code = process.returncode
            state = "running" if code is None else f"exited {code}"
            report.sections.append(
                (f"{process.name} {process.bootstrap} ({state})", process.tail())
            )
    return report
