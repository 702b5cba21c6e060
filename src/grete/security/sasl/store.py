"""Where SCRAM credentials live: `ScramCredentialStore`, and a single node's file.

In a cluster the store is ZooKeeper's (cluster.zookeeper.scram_credentials), read at each
login so that a user added through any broker can log in on every broker at once. A single
node keeps one JSON file in the log dir (mode 0600), holding Kafka's salted form only.
Not thread-safe; event loop only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Protocol

from grete.cluster.metadata import write_atomically
from grete.security.sasl.credentials import ScramCredential, ScramMechanism

CREDENTIALS_FILE = "grete-scram-credentials.json"
FORMAT_VERSION = 1

# user -> mechanism -> credential
UserCredentials = dict[str, dict[ScramMechanism, ScramCredential]]


class ScramCredentialStore(Protocol):
    async def get(self, user: str, mechanism: ScramMechanism) -> ScramCredential | None: ...

    async def describe(self, users: list[str] | None) -> UserCredentials:
        """The named users that have credentials (every such user for None)."""
        ...

    async def alter(
        self, user: str, upsert: dict[ScramMechanism, ScramCredential], delete: set[ScramMechanism]
    ) -> None:
        """Set and remove one user's credentials in one write."""
        ...


class LocalScramStore:
    """A single node's credentials, persisted atomically as one JSON document."""

    def __init__(self, path: Path, users: UserCredentials) -> None:
        self._path = path
        self._users = users

    @classmethod
    def open(cls, log_dir: Path) -> LocalScramStore:
        path = log_dir / CREDENTIALS_FILE
        if not path.exists():
            return cls(path, {})
        doc = json.loads(path.read_text("utf-8"))
        if doc.get("version") != FORMAT_VERSION:
            raise ValueError(f"{path}: unsupported credentials format {doc.get('version')!r}")
        users: UserCredentials = {}
        for user, creds in doc["users"].items():
            users[user] = {
                ScramMechanism.from_name(name): ScramCredential.decode(text)
                for name, text in creds.items()
            }
        return cls(path, users)

    async def get(self, user: str, mechanism: ScramMechanism) -> ScramCredential | None:
        return self._users.get(user, {}).get(mechanism)

    async def describe(self, users: list[str] | None) -> UserCredentials:
        names = sorted(self._users) if users is None else users
        return {u: dict(self._users[u]) for u in names if self._users.get(u)}

    async def alter(
        self, user: str, upsert: dict[ScramMechanism, ScramCredential], delete: set[ScramMechanism]
    ) -> None:
        creds = {m: c for m, c in self._users.get(user, {}).items() if m not in delete}
        creds.update(upsert)
        users = dict(self._users)
        if creds:
            users[user] = creds
        else:
            users.pop(user, None)
        self._persist(users)
        self._users = users

    def _persist(self, users: UserCredentials) -> None:
        doc = {
            "version": FORMAT_VERSION,
            "users": {
                u: {m.mechanism_name: c.encode() for m, c in sorted(creds.items())}
                for u, creds in sorted(users.items())
            },
        }
        write_atomically(self._path, json.dumps(doc, indent=1).encode())
        os.chmod(self._path, 0o600)
