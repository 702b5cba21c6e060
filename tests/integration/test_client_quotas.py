"""Client quota configs on a single broker: DescribeClientQuotas and AlterClientQuotas.

Neither confluent-kafka nor kafka-python has these calls, so the stock Java Admin
(tests/compat/java/GreteClientQuotas.java) is the real client here; raw requests cover
both versions, each match type, and the entries a client library would never send.
Quotas are stored, not enforced yet (issue 6).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import pytest
from harness import JavaProgram, ServerProcess, compile_java
from harness.java import JAVA_SOURCE_DIR
from harness.wire import api_versions

from grete.protocol import ErrorCode

from .client_quotas import (
    ALTER,
    DEFAULT,
    DESCRIBE,
    EXACT,
    INVALID_REQUEST,
    NONE,
    SPECIFIED,
    Entity,
    alter,
    client,
    describe,
    describe_response,
    ip,
    user,
    user_client,
)
from .raw_kafka import RawKafka


def test_api_versions_advertise_both_apis(shared_broker: ServerProcess) -> None:
    ranges = api_versions(shared_broker.host, shared_broker.port)
    assert ranges[int(DESCRIBE)] == (0, 1)
    assert ranges[int(ALTER)] == (0, 1)


def test_quotas_are_altered_described_by_match_type_and_kept_across_restarts(
    broker: ServerProcess,
) -> None:
    stored = {
        user("alice"): {"producer_byte_rate": 1024.0, "request_percentage": 12.5},
        user(None): {"consumer_byte_rate": 2048.0},
        user_client("alice", "app"): {"producer_byte_rate": 512.0},
        user_client("alice", None): {"controller_mutation_rate": 3.5},
        user_client(None, "app"): {"consumer_byte_rate": 64.0},
        client("app"): {"consumer_byte_rate": 100.0},
        client(None): {"producer_byte_rate": 10.0},
        ip("127.0.0.1"): {"connection_creation_rate": 5.0},
        ip(None): {"connection_creation_rate": 50.0},
    }
    with RawKafka(broker.bootstrap) as raw:
        checked = alter(raw, list(stored.items()), validate_only=True)
        assert [c[:2] for c in checked] == [(NONE, None)] * len(stored)
        assert describe(raw) == {}, "validate_only stored something"

        assert [c[:2] for c in alter(raw, list(stored.items()), version=0)] == [(NONE, None)] * len(
            stored
        )
        assert describe(raw) == stored
        assert describe(raw, version=0) == stored
        assert describe(raw, strict=True) == {}

        alice = {e: v for e, v in stored.items() if ("user", "alice") in e}
        assert describe(raw, [("user", EXACT, "alice")]) == alice
        assert describe(raw, [("user", EXACT, "alice")], strict=True) == {
            user("alice"): stored[user("alice")]
        }
        assert describe(raw, [("user", DEFAULT, None)]) == {
            user(None): stored[user(None)],
            user_client(None, "app"): stored[user_client(None, "app")],
        }
        assert describe(raw, [("client-id", SPECIFIED, None)], strict=True) == {
            client("app"): stored[client("app")],
            client(None): stored[client(None)],
        }
        assert describe(raw, [("user", SPECIFIED, None), ("client-id", EXACT, "app")]) == {
            user_client("alice", "app"): stored[user_client("alice", "app")],
            user_client(None, "app"): stored[user_client(None, "app")],
        }
        assert describe(raw, [("ip", SPECIFIED, None)], version=0) == {
            ip("127.0.0.1"): stored[ip("127.0.0.1")],
            ip(None): stored[ip(None)],
        }

        # Setting overwrites one key; remove=true deletes one; an entity left without
        # quotas is no longer described.
        changes = [
            (user("alice"), {"request_percentage": None, "producer_byte_rate": 4096.0}),
            (user_client("alice", None), {"controller_mutation_rate": None}),
            (ip(None), {"connection_creation_rate": None}),
        ]
        assert [c[:2] for c in alter(raw, changes)] == [(NONE, None)] * 3
        stored[user("alice")] = {"producer_byte_rate": 4096.0}
        del stored[user_client("alice", None)], stored[ip(None)]
        assert describe(raw) == stored

    broker.stop(check=True)
    broker.start()
    with RawKafka(broker.bootstrap) as raw:
        assert describe(raw) == stored, "quotas changed across a restart"


def test_bad_entries_fail_alone_with_invalid_request(shared_broker: ServerProcess) -> None:
    name = f"bad-{uuid.uuid4().hex[:8]}"
    entries: list[tuple[Entity, Mapping[str, float | None]]] = [
        (user(name), {"producer_byte_rate": 1000.0}),
        (client(name), {"producer_byte_rate": 1000.0, "retention.ms": 5.0}),
        (client(name + "-neg"), {"consumer_byte_rate": -1.0}),
        (client(name + "-frac"), {"consumer_byte_rate": 10.5}),
        (user_client(name, name), {"request_percentage": 0.0}),
        ((("user", name), ("ip", "127.0.0.1")), {"connection_creation_rate": 1.0}),
        (ip(name), {"connection_creation_rate": 1.0}),
        (ip("127.0.0.2"), {"producer_byte_rate": 1.0}),
        ((), {"producer_byte_rate": 1.0}),
        ((("group", name),), {"producer_byte_rate": 1.0}),
        (user(""), {"producer_byte_rate": 1.0}),
        (client(name + "-twice"), {"producer_byte_rate": 1.0}),
        (client(name + "-twice"), {"consumer_byte_rate": 1.0}),
    ]
    expected = [
        None,
        "Invalid configuration key retention.ms",
        "Quota consumer_byte_rate must be greater than 0",
        "consumer_byte_rate cannot be a fractional value.",
        "Quota request_percentage must be greater than 0",
        "IP entity should not be used with user/client ID entity",
        f"{name} is not a valid IP address",
        "Invalid configuration key producer_byte_rate",
        "Invalid empty client quota entity",
        "Unhandled client quota entity type: group",
        "Empty user not supported",
        "Ignoring duplicate entity",
        "Ignoring duplicate entity",
    ]
    with RawKafka(shared_broker.bootstrap) as raw:
        results = alter(raw, entries)
        assert [r[2] for r in results] == [e for e, _ in entries]  # each entry answered, in order
        for (code, message, entity), wanted in zip(results, expected, strict=True):
            if wanted is None:
                assert (code, message) == (NONE, None), entity
            else:
                assert code == INVALID_REQUEST, entity
                assert message is not None and wanted in message, (entity, message)
        # Only the good entry was applied; no refused entry left anything behind.
        assert describe(raw, [("user", EXACT, name)]) == {
            user(name): {"producer_byte_rate": 1000.0}
        }
        assert describe(raw, [("client-id", EXACT, name)]) == {}
        assert describe(raw, [("client-id", EXACT, name + "-twice")]) == {}


@pytest.mark.parametrize(
    ("components", "error", "message"),
    [
        (
            [("group", SPECIFIED, None)],
            ErrorCode.unsupported_version,
            "Unsupported entity type group",
        ),
        (
            [("ip", SPECIFIED, None), ("user", DEFAULT, None)],
            ErrorCode.invalid_request,
            "IP filter",
        ),
        ([("user", EXACT, None)], ErrorCode.invalid_request, "MATCH_TYPE_EXACT"),
        (
            [("user", SPECIFIED, None), ("user", DEFAULT, None)],
            ErrorCode.invalid_request,
            "more than once",
        ),
    ],
)
def test_bad_filters_fail_the_describe(
    shared_broker: ServerProcess,
    components: list[tuple[str, int, str | None]],
    error: ErrorCode,
    message: str,
) -> None:
    with RawKafka(shared_broker.bootstrap) as raw:
        for version in (0, 1):
            response = describe_response(raw, components, strict=False, version=version)
            assert response.error_code == error
            assert message in response.error_message
            assert response.entries is None


@pytest.fixture(scope="module")
def java_quotas(tmp_path_factory: pytest.TempPathFactory) -> JavaProgram:
    try:
        return compile_java(
            JAVA_SOURCE_DIR / "GreteClientQuotas.java", tmp_path_factory.mktemp("java-quotas")
        )
    except FileNotFoundError as exc:
        pytest.fail(str(exc), pytrace=False)


def test_java_admin_alters_and_describes_quotas(
    shared_broker: ServerProcess, java_quotas: JavaProgram
) -> None:
    u, c = f"java-{uuid.uuid4().hex[:8]}", f"app-{uuid.uuid4().hex[:8]}"
    script = [
        f"alter user={u},client-id=<default> producer_byte_rate=1024 request_percentage=12.5",
        f"alter user={u},client-id={c} consumer_byte_rate=2048",
        f"alter user={u} controller_mutation_rate=2.5",
        f"validate client-id={c} consumer_byte_rate=10",
        f"alter client-id={c} consumer_byte_rate=1.5",
        f"alter ip=127.0.0.1,user={u} connection_creation_rate=3",
        f"describe user={u}",
        f"describe strict user={u}",
        f"describe user={u} client-id=<default>",
        f"describe client-id={c}",
        f"alter user={u},client-id=<default> producer_byte_rate=- request_percentage=-",
        f"describe user={u} client-id=*",
    ]
    args = []
    for command in script:
        args += [*command.split(), ";"]
    lines = java_quotas("--bootstrap", shared_broker.bootstrap, *args[:-1], timeout=60).splitlines()
    assert lines == [
        "ok",
        "ok",
        "ok",
        "ok",
        "error InvalidRequestException consumer_byte_rate cannot be a fractional value.",
        (
            "error InvalidRequestException Invalid quota entity combination, IP entity should not "
            "be used with user/client ID entity."
        ),
        "entities 3",
        f"client-id=<default>,user={u} producer_byte_rate=1024.0,request_percentage=12.5",
        f"client-id={c},user={u} consumer_byte_rate=2048.0",
        f"user={u} controller_mutation_rate=2.5",
        "entities 1",
        f"user={u} controller_mutation_rate=2.5",
        "entities 1",
        f"client-id=<default>,user={u} producer_byte_rate=1024.0,request_percentage=12.5",
        "entities 1",  # the validate_only alteration stored nothing
        f"client-id={c},user={u} consumer_byte_rate=2048.0",
        "ok",
        "entities 1",
        f"client-id={c},user={u} consumer_byte_rate=2048.0",
    ]
