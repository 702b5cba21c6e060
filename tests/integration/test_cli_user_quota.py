"""`grete user ...`, `grete quota ...` and `--command-config`, run as subprocesses against one
broker with a PLAINTEXT and a SASL_SSL (SCRAM) listener.

The PLAINTEXT listener is the admin's way in; the SASL_SSL one is reached only through a
Java-style properties file (the keys Kafka's own tools take), which the CLI translates for
librdkafka and for its own client (quotas).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, Producer
from harness.secure import Pki, SecureBroker, make_pki

from grete.cli.client import Connection

from .client_quotas import describe, user, user_client
from .raw_kafka import RawKafka
from .test_cli import Cli, Result, assert_one_line_error, run_grete

ADMIN, ADMIN_PASSWORD = "admin", "admin-secret"
SCRAM = "org.apache.kafka.common.security.scram.ScramLoginModule"


@dataclass
class Setup:
    broker: SecureBroker
    pki: Pki
    root: Path
    cli: Cli  # PLAINTEXT

    @property
    def sasl_ssl(self) -> str:
        return self.broker.bootstrap_for("SASL_SSL")

    def properties(self, text: str) -> Path:
        path = self.root / f"client-{uuid.uuid4().hex[:8]}.properties"
        path.write_text(text)
        return path

    def scram_properties(self, username: str, password: str, extra: str = "") -> Path:
        return self.properties(
            "# as for kafka-topics.sh --command-config\n"
            "security.protocol=SASL_SSL\n"
            "sasl.mechanism=SCRAM-SHA-512\n"
            f"sasl.jaas.config={SCRAM} required \\\n"
            f'    username="{username}" \\\n'
            f'    password="{password}";\n'
            "ssl.truststore.type=PEM\n"
            f"ssl.truststore.location={self.pki.ca}\n"
            f"{extra}"
        )

    def secure_run(self, command: str, config: Path | None) -> Result:
        args = [*command.split(), "-b", self.sasl_ssl]
        if config is not None:
            args += ["--command-config", str(config)]
        return run_grete(args)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("cli-user-quota")
    pki = make_pki(root / "pki")
    broker = SecureBroker(
        root / "data",
        {"SASL_SSL": None},
        log_path=root / "broker.log",
        overrides={
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL",
            "ssl.keystore.location": str(pki.server),
            "sasl.enabled.mechanisms": "SCRAM-SHA-256,SCRAM-SHA-512",
        },
    )
    broker.start()
    try:
        cli = Cli(broker.bootstrap)
        cli.ok(f"user add {ADMIN} --password {ADMIN_PASSWORD}")
        yield Setup(broker, pki, root, cli)
    finally:
        try:
            broker.stop()
        finally:
            broker.kill()


def _login_error(bootstrap: str, conf: dict[str, str], timeout: float = 8.0) -> KafkaError | None:
    """The first error a producer reports while delivering one record (None if delivered)."""
    errors: list[KafkaError] = []
    producer = Producer({"bootstrap.servers": bootstrap, "error_cb": errors.append,
                         "message.timeout.ms": int(timeout * 1000), **conf})  # fmt: skip
    producer.produce("cli-login-probe", b"x")
    deadline = time.monotonic() + timeout
    while not errors and len(producer) and time.monotonic() < deadline:
        producer.poll(0.1)
    return errors[0] if errors else None


def _scram_conf(setup: Setup, username: str, password: str, mechanism: str) -> dict[str, str]:
    return {"security.protocol": "SASL_SSL", "sasl.mechanism": mechanism,
            "sasl.username": username, "sasl.password": password,
            "ssl.ca.location": str(setup.pki.ca)}  # fmt: skip


def test_user_add_list_remove(setup: Setup) -> None:
    cli, name = setup.cli, f"u-{uuid.uuid4().hex[:8]}"
    added = cli.ok(f"user add {name} --mechanism SCRAM-SHA-256 --iterations 4096 --password p1")
    assert added.stderr == f"added user {name} (SCRAM-SHA-256, 4096 iterations)\n"
    # The password from stdin, for the other mechanism with the default iterations.
    assert cli.json(f"user add {name} --password-stdin", stdin="p2\n") == {
        "user": name, "mechanism": "SCRAM-SHA-512", "iterations": 8192,
    }  # fmt: skip
    assert cli.json(f"user list {name}") == [
        {"user": name, "mechanism": "SCRAM-SHA-256", "iterations": 4096},
        {"user": name, "mechanism": "SCRAM-SHA-512", "iterations": 8192},
    ]
    listed = cli.ok("user list").stdout
    assert "MECHANISM" in listed and name in listed and ADMIN in listed

    # The CLI's user can log in with either credential.
    assert _login_error(setup.sasl_ssl, _scram_conf(setup, name, "p1", "SCRAM-SHA-256")) is None
    assert _login_error(setup.sasl_ssl, _scram_conf(setup, name, "p2", "SCRAM-SHA-512")) is None

    removed = cli.ok(f"user remove {name} --mechanism SCRAM-SHA-256")
    assert removed.stderr == f"removed user {name} (SCRAM-SHA-256)\n"
    assert [r["mechanism"] for r in cli.json(f"user list {name}")] == ["SCRAM-SHA-512"]
    last = cli.ok(f"user remove {name} --format json")
    assert last.stderr == f"removed user {name} (SCRAM-SHA-512)\n"
    assert json.loads(last.stdout) == [{"user": name, "mechanism": "SCRAM-SHA-512"}]
    gone = cli.run(f"user list {name}")
    assert gone.returncode == 1 and name in gone.stderr
    assert name not in cli.ok("user list").stdout
    error = _login_error(setup.sasl_ssl, _scram_conf(setup, name, "p2", "SCRAM-SHA-512"))
    assert error is not None and error.code() == KafkaError._AUTHENTICATION


def test_user_refusals(setup: Setup) -> None:
    low = setup.cli.run("user add x --password p --iterations 4095")
    assert "--iterations" in assert_one_line_error(low, 2)
    both = setup.cli.run("user add x --password p --password-stdin", stdin="p\n")
    assert "--password-stdin" in assert_one_line_error(both, 2)
    empty = setup.cli.run("user add x --password-stdin", stdin="\n")
    assert "empty" in assert_one_line_error(empty, 2)
    missing = setup.cli.run("user remove nobody-here")
    assert "nobody-here" in assert_one_line_error(missing, 1)


def test_quota_set_list_remove(setup: Setup) -> None:
    cli, name = setup.cli, f"q-{uuid.uuid4().hex[:8]}"
    done = cli.ok(f"quota set --user {name} --producer-byte-rate 1024 --consumer-byte-rate 2048")
    assert done.stderr == (
        f"set quotas of user={name}: producer_byte_rate=1024, consumer_byte_rate=2048\n"
    )
    assert cli.json(f"quota set --user {name} --client-default --request-percentage 12.5") == {
        "entity": {"user": name, "client-id": None}, "set": {"request_percentage": 12.5},
        "removed": [],
    }  # fmt: skip
    assert cli.json(f"quota list --user {name}") == [
        {"entity": {"user": name}, "quotas": {"consumer_byte_rate": 2048,
                                               "producer_byte_rate": 1024}},
        {"entity": {"user": name, "client-id": None}, "quotas": {"request_percentage": 12.5}},
    ]  # fmt: skip
    table = cli.ok("quota list").stdout
    assert f"user={name}, client-id=<default>" in table and "request_percentage=12.5" in table

    with RawKafka(setup.broker.bootstrap) as raw:
        described = describe(raw, [("user", 0, name)])
    assert described == {
        user(name): {"consumer_byte_rate": 2048.0, "producer_byte_rate": 1024.0},
        user_client(name, None): {"request_percentage": 12.5},
    }

    assert cli.json(f"quota set --user {name} --remove consumer_byte_rate") == {
        "entity": {"user": name}, "set": {}, "removed": ["consumer_byte_rate"],
    }  # fmt: skip
    assert cli.json(f"quota list --user {name} --client-id nobody") == []
    assert cli.json(f"quota list --user {name} --client-default") == [
        {"entity": {"user": name, "client-id": None}, "quotas": {"request_percentage": 12.5}},
    ]
    cli.ok(f"quota set --user {name} --client-default --remove request_percentage")
    assert cli.json(f"quota list --user {name}") == [
        {"entity": {"user": name}, "quotas": {"producer_byte_rate": 1024}},
    ]


def test_quota_refusals(setup: Setup) -> None:
    cli = setup.cli
    no_entity = cli.run("quota set --producer-byte-rate 10")
    assert "--user" in assert_one_line_error(no_entity, 2)
    no_value = cli.run("quota set --user u")
    assert "--remove" in assert_one_line_error(no_value, 2)
    unknown = cli.run("quota set --user u --remove bogus_rate")
    assert "bogus_rate" in assert_one_line_error(unknown, 2)
    zero = cli.run("quota set --user u --request-percentage 0")
    assert "--request-percentage" in assert_one_line_error(zero, 2)
    both = cli.run("quota set --user u --user-default --producer-byte-rate 1")
    assert "--user-default" in assert_one_line_error(both, 2)


def test_command_config_over_sasl_ssl(setup: Setup) -> None:
    config = setup.scram_properties(ADMIN, ADMIN_PASSWORD)
    topic = f"cc-{uuid.uuid4().hex[:8]}"
    created = setup.secure_run(f"topic create {topic} --partitions 2", config)
    assert created.returncode == 0, created.stderr
    listed = setup.secure_run("topic list --format json", config)
    assert listed.returncode == 0, listed.stderr
    assert topic in listed.stdout
    users = setup.secure_run(f"user list {ADMIN} --format json", config)
    assert users.returncode == 0, users.stderr
    assert '"SCRAM-SHA-512"' in users.stdout
    name = f"cc-{uuid.uuid4().hex[:8]}"
    assert setup.secure_run(f"quota set --client-id {name} --producer-byte-rate 4096",
                            config).returncode == 0  # fmt: skip
    quotas = setup.secure_run(f"quota list --client-id {name} --format json", config)
    assert quotas.returncode == 0, quotas.stderr
    assert '"producer_byte_rate": 4096' in quotas.stdout


def test_command_config_failures_are_quick_and_clear(setup: Setup) -> None:
    wrong = setup.scram_properties(ADMIN, "not-the-password")
    started = time.monotonic()
    for command, action in [("quota list", "list quotas"), ("user list", "list users"),
                            (f"topic create cc-{uuid.uuid4().hex[:8]}", "create topic")]:
        line = assert_one_line_error(setup.secure_run(command, wrong), 1)
        assert action in line and "authentication failed" in line.lower(), line
    # Without the file our client speaks plaintext to a TLS listener, which hangs up on it.
    plain = assert_one_line_error(setup.secure_run("quota list", None), 1)
    assert "list quotas" in plain and "--command-config" in plain, plain
    assert time.monotonic() - started < 15  # librdkafka alone would retry until its timeout


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("security.protocol=SASL_SSL\nthis line has no separator\n", "line 2"),
        ("ssl.truststore.location=/etc/kafka/truststore.jks\n", "JKS"),
        ("ssl.truststore.type=JKS\nssl.truststore.location=/tmp/ca\n", "JKS"),
        ("ssl.keystore.type=JKS\nssl.keystore.location=/tmp/ks\n", "JKS"),
        ("sasl.jaas.config=com.sun.security.auth.module.Krb5LoginModule required;\n", "Krb5"),
        ("sasl.jaas.config=" + SCRAM + ' required username="u"\n', "sasl.jaas.config"),
    ],
)
def test_command_config_refusals(setup: Setup, text: str, expected: str) -> None:
    config = setup.properties(text)
    for command in ("topic list", "quota list"):
        result = setup.secure_run(command, config)
        line = assert_one_line_error(result, 2)
        assert expected in line and "--command-config" in line, line


def test_command_config_unknown_setting_and_missing_file(setup: Setup) -> None:
    config = setup.properties("no.such.client.setting=1\n")
    result = setup.cli.run(f"topic list --command-config {config}")
    assert "no.such.client.setting" in assert_one_line_error(result, 2)
    missing = setup.cli.run(f"quota list --command-config {setup.root / 'absent.properties'}")
    assert "absent.properties" in assert_one_line_error(missing, 2)


def test_properties_as_kafka_tools_read_them(tmp_path: Path) -> None:
    """No broker: the file's parsing and translation, and what wins over it."""
    path = tmp_path / "client.properties"
    path.write_text(
        "! comment\n  # indented comment\n\n"
        "security.protocol : SASL_SSL\n"
        "sasl.mechanism=PLAIN\n"
        "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
        'username="u" password="p=w;\\\\"x";\n'
        "ssl.keystore.type=PEM\nssl.keystore.location=/k/client.pem\nssl.key.password=kp\n"
        "ssl.truststore.location=C:\\\\ca.crt\n"
        "ssl.endpoint.identification.algorithm=\n"
        "client.id=from-file\nbootstrap.servers=ignored:1\nacks=1\n"
    )
    connection = Connection("127.0.0.1:9", path)
    assert connection.settings == {
        "security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN",
        "sasl.username": "u", "sasl.password": 'p=w;"x',
        "ssl.certificate.location": "/k/client.pem", "ssl.key.location": "/k/client.pem",
        "ssl.key.password": "kp", "ssl.ca.location": "C:\\ca.crt",
        "ssl.endpoint.identification.algorithm": "none",
        "client.id": "from-file", "bootstrap.servers": "ignored:1", "acks": "1",
    }  # fmt: skip
    config = connection.config({"acks": "all"})  # a command's option or -X
    assert (config["bootstrap.servers"], config["client.id"], config["acks"]) == (
        "127.0.0.1:9", "from-file", "all",
    )  # fmt: skip
