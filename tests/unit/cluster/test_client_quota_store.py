"""The embedded client quota store, and the znode paths of quota entities in ZooKeeper."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grete.cluster.client_quotas import QUOTAS_FILE, LocalClientQuotaStore
from grete.cluster.zookeeper import paths
from grete.cluster.zookeeper.client_quotas import entity_path, entity_znode, parse_entity_path
from grete.security.quota.entity import QuotaEntity

E = QuotaEntity


async def test_embedded_quotas_survive_a_reopen(tmp_path: Path) -> None:
    store = LocalClientQuotaStore.open(tmp_path)
    assert store.quotas() == {} and not (tmp_path / QUOTAS_FILE).exists()
    await store.alter(E.for_user_client("alice", None), {"producer_byte_rate": 1024.0})
    await store.alter(E.for_client(None), {"request_percentage": 12.5, "consumer_byte_rate": 10.0})
    await store.alter(E.for_client(None), {"consumer_byte_rate": None})
    assert store.version == 3
    reopened = LocalClientQuotaStore.open(tmp_path)
    assert reopened.quotas() == {
        E.for_user_client("alice", None): {"producer_byte_rate": 1024.0},
        E.for_client(None): {"request_percentage": 12.5},
    }
    doc = json.loads((tmp_path / QUOTAS_FILE).read_text())
    assert {
        "entity": {"user": "alice", "client-id": None},
        "quotas": {"producer_byte_rate": 1024.0},
    } in doc["entities"]


async def test_an_entity_without_quotas_is_forgotten(tmp_path: Path) -> None:
    store = LocalClientQuotaStore.open(tmp_path)
    await store.alter(E.for_ip("::1"), {"connection_creation_rate": 3.0})
    await store.alter(E.for_ip("::1"), {"connection_creation_rate": None})
    await store.alter(E.for_ip("::1"), {"connection_creation_rate": None})  # nothing to change
    assert store.quotas() == {} and store.version == 2
    assert LocalClientQuotaStore.open(tmp_path).quotas() == {}


def test_a_damaged_file_stops_the_broker_with_its_name(tmp_path: Path) -> None:
    (tmp_path / QUOTAS_FILE).write_text(
        json.dumps({"version": 1, "entities": [{"entity": {"ip": "x", "user": "a"}, "quotas": {}}]})
    )
    with pytest.raises(ValueError, match=QUOTAS_FILE):
        LocalClientQuotaStore.open(tmp_path)


@pytest.mark.parametrize(
    ("entity", "path"),
    [
        (E.for_client("app"), "clients/app"),
        (E.for_client(None), "clients/<default>"),
        (E.for_user("alice@example.com"), "users/alice%40example.com"),
        (E.for_user("CN=a b,O=x*y~z"), "users/CN%3Da%20b%2CO%3Dx%2Ay~z"),
        (E.for_user(None), "users/<default>"),
        (E.for_user("<default>"), "users/%3Cdefault%3E"),  # a user so named is not the default
        (E.for_user_client("alice", "app/1"), "users/alice/clients/app%2F1"),
        (E.for_user_client(None, None), "users/<default>/clients/<default>"),
        (E.for_ip("10.0.0.1"), "ips/10.0.0.1"),
        (E.for_ip("::1"), "ips/%3A%3A1"),
        (E.for_ip(None), "ips/<default>"),
    ],
)
def test_entities_live_at_kafkas_sanitized_paths(entity: QuotaEntity, path: str) -> None:
    assert entity_path(entity) == path
    assert entity_znode(entity) == f"{paths.CONFIG}/{path}"
    assert parse_entity_path(path) == entity


@pytest.mark.parametrize(
    "path",
    ["topics/foo", "brokers/<default>", "users", "users/a/clients", "users//clients/x", "ips/a/b"],
)
def test_other_config_paths_name_no_quota_entity(path: str) -> None:
    assert parse_entity_path(path) is None
