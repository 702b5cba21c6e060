"""Client quota entities and the checks of an AlterClientQuotas entry, as Kafka makes them."""

from __future__ import annotations

import math

import pytest

from grete.security.quota.entity import (
    CLIENT_ID,
    IP,
    USER,
    QuotaEntity,
    QuotaOp,
    QuotaRequestError,
    ValueType,
    apply_changes,
    check_ops,
    format_value,
    parse_entity,
    parse_values,
)

ALICE = QuotaEntity.for_user("alice")


def test_entities_are_put_in_kafkas_type_order_and_none_is_the_default() -> None:
    entity = parse_entity([(CLIENT_ID, None), (USER, "alice")])
    assert entity == QuotaEntity.for_user_client("alice", None)
    assert entity.parts == ((USER, "alice"), (CLIENT_ID, None))
    assert entity.name(USER) == "alice" and entity.name(CLIENT_ID) is None
    assert str(entity) == "user=alice, client-id=<default>"
    assert parse_entity([(IP, "::1")]) == QuotaEntity.for_ip("::1")
    assert parse_entity([(IP, None)]) == QuotaEntity.for_ip(None)
    assert parse_entity([(CLIENT_ID, "app")]) != parse_entity([(USER, "app")])


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ([], "Invalid empty client quota entity"),
        ([(USER, "a"), (USER, "b")], "duplicate entity entry user"),
        ([("group", "g")], "Unhandled client quota entity type: group"),
        ([(USER, "")], "Empty user not supported"),
        ([(CLIENT_ID, "")], "Empty client-id not supported"),
        ([(USER, "a"), (IP, "10.0.0.1")], "IP entity should not be used with user/client ID"),
        ([(IP, None), (CLIENT_ID, None)], "IP entity should not be used with user/client ID"),
        ([(IP, "not-an-ip")], "not-an-ip is not a valid IP address"),
        ([(IP, "10.0.0.256")], "is not a valid IP address"),
    ],
)
def test_bad_entities_are_refused_as_invalid_request(
    parts: list[tuple[str, str | None]], message: str
) -> None:
    with pytest.raises(QuotaRequestError, match=message) as raised:
        parse_entity(parts)
    assert raised.value.kind == "invalid_request"


def test_user_and_client_quotas_take_longs_and_doubles() -> None:
    ops = [
        QuotaOp("producer_byte_rate", 1024.0),
        QuotaOp("consumer_byte_rate", 2048.0000001),  # within Kafka's 1e-6 of a whole number
        QuotaOp("request_percentage", 12.5),
        QuotaOp("controller_mutation_rate", 0.5),
    ]
    changes = check_ops(QuotaEntity.for_user_client("alice", "app"), ops)
    assert changes == {
        "producer_byte_rate": 1024.0,
        "consumer_byte_rate": 2048.0000001,
        "request_percentage": 12.5,
        "controller_mutation_rate": 0.5,
    }
    assert check_ops(QuotaEntity.for_ip("10.0.0.1"), [QuotaOp("connection_creation_rate", 10)]) == {
        "connection_creation_rate": 10.0
    }


@pytest.mark.parametrize(
    ("entity", "op", "message"),
    [
        (
            ALICE,
            QuotaOp("connection_creation_rate", 10),
            "Invalid configuration key connection_creation_rate",
        ),
        (
            QuotaEntity.for_ip(None),
            QuotaOp("producer_byte_rate", 10),
            "Invalid configuration key producer_byte_rate",
        ),
        (ALICE, QuotaOp("retention.ms", 10), "Invalid configuration key retention.ms"),
        (ALICE, QuotaOp("producer_byte_rate", 0), "producer_byte_rate must be greater than 0"),
        (ALICE, QuotaOp("request_percentage", -1.5), "request_percentage must be greater than 0"),
        (ALICE, QuotaOp("request_percentage", math.nan), "must be a finite number"),
        (ALICE, QuotaOp("consumer_byte_rate", math.inf), "must be a finite number"),
        (
            ALICE,
            QuotaOp("producer_byte_rate", 1024.5),
            "producer_byte_rate cannot be a fractional value",
        ),
        (ALICE, QuotaOp("producer_byte_rate", 2.0**63), "too large for a LONG"),
        (
            QuotaEntity.for_ip(None),
            QuotaOp("connection_creation_rate", 2.0**31),
            "too large for an INT",
        ),
        (
            QuotaEntity.for_ip(None),
            QuotaOp("connection_creation_rate", 2.25),
            "cannot be a fractional value",
        ),
    ],
)
def test_bad_keys_and_values_are_refused(entity: QuotaEntity, op: QuotaOp, message: str) -> None:
    with pytest.raises(QuotaRequestError, match=message):
        check_ops(entity, [op])


def test_a_key_named_twice_refuses_the_entry() -> None:
    ops = [QuotaOp("producer_byte_rate", 1), QuotaOp("producer_byte_rate", 0, remove=True)]
    with pytest.raises(QuotaRequestError, match="Duplicate quota key producer_byte_rate"):
        check_ops(ALICE, ops)


def test_removals_ignore_the_value_and_skip_keys_that_are_not_quotas() -> None:
    ops = [
        QuotaOp("producer_byte_rate", -7.5, remove=True),
        QuotaOp("SCRAM-SHA-256", 0, remove=True),  # shares a user's znode; never touched
        QuotaOp("request_percentage", 40),
    ]
    assert check_ops(ALICE, ops) == {"producer_byte_rate": None, "request_percentage": 40.0}


def test_changes_set_and_remove_keys() -> None:
    current = {"producer_byte_rate": 1.0, "consumer_byte_rate": 2.0}
    updated = apply_changes(current, {"producer_byte_rate": None, "request_percentage": 5.0})
    assert updated == {"consumer_byte_rate": 2.0, "request_percentage": 5.0}
    assert current == {"producer_byte_rate": 1.0, "consumer_byte_rate": 2.0}
    assert apply_changes(current, {"producer_byte_rate": None, "consumer_byte_rate": None}) == {}


def test_values_are_stored_as_kafkas_zookeeper_mode_writes_them() -> None:
    assert format_value(ValueType.LONG, 1024.0) == "1024"
    assert format_value(ValueType.LONG, 2048.0000001) == "2048"
    assert format_value(ValueType.INT, 10.0) == "10"
    assert format_value(ValueType.DOUBLE, 50.0) == "50.0"
    assert format_value(ValueType.DOUBLE, 12.5) == "12.5"


def test_stored_configs_keep_only_the_entity_types_quota_keys() -> None:
    config = {
        "producer_byte_rate": "1024",
        "request_percentage": "1.0E2",  # Java's Double.toString
        "SCRAM-SHA-512": "salt=...,stored_key=...",
        "consumer_byte_rate": "lots",
        "connection_creation_rate": "5",
    }
    values, bad = parse_values(ALICE, config)
    assert values == {"producer_byte_rate": 1024.0, "request_percentage": 100.0}
    assert bad == ["consumer_byte_rate"]
    assert parse_values(QuotaEntity.for_ip("::1"), config) == (
        {"connection_creation_rate": 5.0},
        [],
    )
