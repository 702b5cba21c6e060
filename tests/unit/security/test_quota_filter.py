"""DescribeClientQuotas filters: Kafka's match types, strictness and refusals."""

from __future__ import annotations

import pytest

from grete.security.quota.entity import CLIENT_ID, IP, USER, QuotaEntity, QuotaRequestError
from grete.security.quota.filter import MATCH_DEFAULT, MATCH_EXACT, MATCH_SPECIFIED, QuotaFilter

E = QuotaEntity
CONFIGS = {
    E.for_user("alice"): {"producer_byte_rate": 1.0},
    E.for_user(None): {"producer_byte_rate": 2.0},
    E.for_user_client("alice", "app"): {"producer_byte_rate": 3.0},
    E.for_user_client("alice", None): {"producer_byte_rate": 4.0},
    E.for_user_client(None, "app"): {"producer_byte_rate": 5.0},
    E.for_client("app"): {"consumer_byte_rate": 6.0},
    E.for_client(None): {"consumer_byte_rate": 7.0},
    E.for_ip("10.0.0.1"): {"connection_creation_rate": 8.0},
    E.for_ip(None): {"connection_creation_rate": 9.0},
    E.for_user("bob"): {},  # no quota left: never described
}


def described(
    components: list[tuple[str, int, str | None]], strict: bool = False
) -> set[QuotaEntity]:
    selected = QuotaFilter.parse(components, strict).select(CONFIGS)
    return {entity for entity, _ in selected}


def test_exact_default_and_specified_matches() -> None:
    assert described([(USER, MATCH_EXACT, "alice")]) == {
        E.for_user("alice"),
        E.for_user_client("alice", "app"),
        E.for_user_client("alice", None),
    }
    assert described([(USER, MATCH_DEFAULT, None)]) == {
        E.for_user(None),
        E.for_user_client(None, "app"),
    }
    # SPECIFIED means "has the type": Kafka counts the default entity too.
    assert described([(CLIENT_ID, MATCH_SPECIFIED, None)]) == {
        E.for_user_client("alice", "app"),
        E.for_user_client("alice", None),
        E.for_user_client(None, "app"),
        E.for_client("app"),
        E.for_client(None),
    }
    assert described([(USER, MATCH_EXACT, "alice"), (CLIENT_ID, MATCH_DEFAULT, None)]) == {
        E.for_user_client("alice", None)
    }
    assert described([(IP, MATCH_EXACT, "10.0.0.1")]) == {E.for_ip("10.0.0.1")}
    assert described([(USER, MATCH_EXACT, "carol")]) == set()


def test_strict_excludes_entities_with_other_types() -> None:
    assert described([(USER, MATCH_EXACT, "alice")], strict=True) == {E.for_user("alice")}
    assert described([(CLIENT_ID, MATCH_SPECIFIED, None)], strict=True) == {
        E.for_client("app"),
        E.for_client(None),
    }
    assert described(
        [(USER, MATCH_SPECIFIED, None), (CLIENT_ID, MATCH_SPECIFIED, None)], strict=True
    ) == {
        E.for_user_client("alice", "app"),
        E.for_user_client("alice", None),
        E.for_user_client(None, "app"),
    }


def test_no_component_means_everything_unless_strict() -> None:
    assert described([]) == {e for e, v in CONFIGS.items() if v}
    assert described([], strict=True) == set()


def test_output_is_ordered_and_carries_the_values() -> None:
    selected = QuotaFilter.parse([(USER, MATCH_SPECIFIED, None)], True).select(CONFIGS)
    assert selected == [
        (E.for_user(None), {"producer_byte_rate": 2.0}),
        (E.for_user("alice"), {"producer_byte_rate": 1.0}),
    ]


@pytest.mark.parametrize(
    ("components", "message", "kind"),
    [
        ([("", MATCH_SPECIFIED, None)], "Invalid empty entity type", "invalid_request"),
        (
            [(USER, MATCH_EXACT, "a"), (USER, MATCH_DEFAULT, None)],
            "cannot appear more than once",
            "invalid_request",
        ),
        (
            [("group", MATCH_SPECIFIED, None)],
            "Unsupported entity type group",
            "unsupported_version",
        ),
        (
            [(USER, MATCH_EXACT, None)],
            "MATCH_TYPE_EXACT, but set match string to null",
            "invalid_request",
        ),
        ([(USER, MATCH_DEFAULT, "a")], "MATCH_TYPE_DEFAULT, but also specified", "invalid_request"),
        (
            [(USER, MATCH_SPECIFIED, "a")],
            "MATCH_TYPE_SPECIFIED, but also specified",
            "invalid_request",
        ),
        ([(USER, 3, None)], "Unknown match type 3", "invalid_request"),
        (
            [(IP, MATCH_SPECIFIED, None), (CLIENT_ID, MATCH_DEFAULT, None)],
            "IP filter component",
            "invalid_request",
        ),
    ],
)
def test_bad_filters_are_refused(
    components: list[tuple[str, int, str | None]], message: str, kind: str
) -> None:
    with pytest.raises(QuotaRequestError, match=message) as raised:
        QuotaFilter.parse(components, strict=False)
    assert raised.value.kind == kind
