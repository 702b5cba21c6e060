"""Which configured quota applies to a (user, client id): KIP-55's order, key by key."""

from __future__ import annotations

from grete.security.quota.entity import QuotaEntity
from grete.security.quota.precedence import find_ip_quota, find_quota, user_client_candidates

E = QuotaEntity
# Most specific first, as Kafka documents the order.
LEVELS = [
    E.for_user_client("alice", "app"),
    E.for_user_client("alice", None),
    E.for_user("alice"),
    E.for_user_client(None, "app"),
    E.for_user_client(None, None),
    E.for_user(None),
    E.for_client("app"),
    E.for_client(None),
]
KEY = "producer_byte_rate"


def test_candidates_are_kip_55s_order() -> None:
    assert list(user_client_candidates("alice", "app")) == LEVELS


def test_each_level_wins_over_every_less_specific_one() -> None:
    configs = {entity: {KEY: float(rank)} for rank, entity in enumerate(LEVELS)}
    for rank, entity in enumerate(LEVELS):
        assert find_quota(configs, KEY, "alice", "app") == (entity, float(rank))
        del configs[entity]
    assert find_quota(configs, KEY, "alice", "app") is None


def test_other_users_and_clients_never_match_named_entities() -> None:
    configs = {entity: {KEY: float(rank)} for rank, entity in enumerate(LEVELS)}
    # bob's client "web": only the defaults apply, the most specific default first.
    assert find_quota(configs, KEY, "bob", "web") == (E.for_user_client(None, None), 4.0)
    assert find_quota(configs, KEY, "bob", "app") == (E.for_user_client(None, "app"), 3.0)


def test_each_key_is_looked_up_on_its_own() -> None:
    configs = {
        E.for_user("alice"): {"consumer_byte_rate": 100.0},
        E.for_client("app"): {KEY: 200.0, "consumer_byte_rate": 300.0},
    }
    assert find_quota(configs, "consumer_byte_rate", "alice", "app") == (E.for_user("alice"), 100.0)
    assert find_quota(configs, KEY, "alice", "app") == (E.for_client("app"), 200.0)
    assert find_quota(configs, "request_percentage", "alice", "app") is None


def test_ip_quota_falls_back_to_the_ip_default() -> None:
    configs = {
        E.for_ip("10.0.0.1"): {"connection_creation_rate": 5.0},
        E.for_ip(None): {"connection_creation_rate": 50.0},
    }
    assert find_ip_quota(configs, "10.0.0.1") == (E.for_ip("10.0.0.1"), 5.0)
    assert find_ip_quota(configs, "10.0.0.2") == (E.for_ip(None), 50.0)
    assert find_ip_quota({}, "10.0.0.2") is None
