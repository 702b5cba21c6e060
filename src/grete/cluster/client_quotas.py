"""Where client quota configs are kept: `ClientQuotaStore`, and the embedded store of a
single node.

The handlers describe from ``quotas()`` and write through ``alter``; enforcement (issue 6)
will read ``quotas()`` too and may watch ``version``. In a cluster the store is
ZooKeeper's (cluster.zookeeper.client_quotas); on a single node it is one JSON file in the
log dir, written atomically, as the embedded metadata is (cluster.metadata).
Not thread-safe; event loop only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from grete.cluster.metadata import write_atomically
from grete.security.quota.entity import (
    QuotaConfigs,
    QuotaEntity,
    QuotaRequestError,
    apply_changes,
    parse_entity,
    parse_values,
)

QUOTAS_FILE = "grete-client-quotas.json"
FORMAT_VERSION = 1


class ClientQuotaStore(Protocol):
    @property
    def version(self) -> int:
        """Bumped whenever ``quotas()`` changes, so that caches can notice."""
        ...

    def quotas(self) -> QuotaConfigs:
        """Every entity with at least one quota, as this broker knows them now."""
        ...

    async def alter(self, entity: QuotaEntity, changes: Mapping[str, float | None]) -> None:
        """Apply checked changes (None removes a key); ``quotas()`` shows them on return."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class LocalClientQuotaStore:
    """A single node's quotas, persisted as one JSON document in the log dir."""

    def __init__(self, path: Path, quotas: dict[QuotaEntity, dict[str, float]]) -> None:
        self._path = path
        self._quotas = quotas
        self.version = 0

    @classmethod
    def open(cls, log_dir: Path) -> LocalClientQuotaStore:
        path = log_dir / QUOTAS_FILE
        if not path.exists():
            return cls(path, {})
        doc = json.loads(path.read_text("utf-8"))
        if doc.get("version") != FORMAT_VERSION:
            raise ValueError(f"{path}: unsupported client quotas format {doc.get('version')!r}")
        quotas: dict[QuotaEntity, dict[str, float]] = {}
        for item in doc["entities"]:
            entity = _decode_entity(item["entity"], path)
            values, bad = parse_values(entity, {k: str(v) for k, v in item["quotas"].items()})
            if bad:
                raise ValueError(f"{path}: {entity}: {bad} are not numbers")
            if values:
                quotas[entity] = values
        return cls(path, quotas)

    def quotas(self) -> QuotaConfigs:
        return self._quotas

    async def alter(self, entity: QuotaEntity, changes: Mapping[str, float | None]) -> None:
        updated = apply_changes(self._quotas.get(entity, {}), changes)
        if updated == self._quotas.get(entity, {}):
            return
        quotas = dict(self._quotas)
        if updated:
            quotas[entity] = updated
        else:
            quotas.pop(entity, None)
        self._persist(quotas)
        self._quotas = quotas
        self.version += 1

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def _persist(self, quotas: Mapping[QuotaEntity, Mapping[str, float]]) -> None:
        entities = [
            {"entity": dict(entity.parts), "quotas": dict(sorted(values.items()))}
            for entity, values in sorted(quotas.items(), key=lambda kv: kv[0].sort_key())
        ]
        doc = {"version": FORMAT_VERSION, "entities": entities}
        write_atomically(self._path, json.dumps(doc, indent=1).encode())


def _decode_entity(parts: Any, path: Path) -> QuotaEntity:
    """{"user": "alice", "client-id": null}: a null name is the type's default entity."""
    if not isinstance(parts, dict) or not all(isinstance(n, str | None) for n in parts.values()):
        raise ValueError(f"{path}: {parts!r} is not a client quota entity")
    try:
        return parse_entity(parts.items())
    except QuotaRequestError as exc:
        raise ValueError(f"{path}: {exc}") from None
