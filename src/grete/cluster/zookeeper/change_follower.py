"""Following Kafka's change notifications, as its ZkNodeChangeNotificationListener does.

A broker that changes quotas, credentials or ACLs writes the entity's znode, then a
sequential notification (`config_change_<seq>`, `acl_changes_<seq>`) naming what changed.
Every broker watches the notification directories, re-reads what each new notification
names, and deletes notifications older than 15 minutes. At start-up and after each
(re)connection it reads everything anew, since notifications may have been missed.

Subclasses say what "read everything" and "act on one notification" mean. Event loop only.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections.abc import Mapping

from grete.clock import Clock
from grete.cluster.zookeeper import paths
from grete.cluster.zookeeper.client import NoNode, SessionState, ZkClient, ZkError
from grete.tasks import cancel_and_wait

log = logging.getLogger("grete.cluster")

CHANGE_EXPIRATION_MS = 15 * 60 * 1000  # Kafka's ZkNodeChangeNotificationListener
RETRY_PAUSE_S = 0.5


class ChangeFollower(abc.ABC):
    """Follows the notifications under each of ``directories`` ({directory: name prefix});
    ``loaded`` is set once everything was read the first time."""

    def __init__(
        self, zk: ZkClient, clock: Clock, directories: Mapping[str, str], what: str
    ) -> None:
        self._zk = zk
        self._clock = clock
        self._directories = dict(directories)
        self._what = what  # for log lines: "ACLs", "client quotas"
        self._reload_all = True
        self._last_change = dict.fromkeys(self._directories, -1)  # last sequence acted on
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.loaded = asyncio.Event()

    @abc.abstractmethod
    async def reload_all(self) -> None:
        """Read everything anew."""

    @abc.abstractmethod
    async def on_change(self, directory: str, data: bytes, name: str) -> None:
        """Act on one notification (its znode's data and name)."""

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Read everything, then follow the notifications; returns once loaded."""
        self._zk.add_session_listener(self._on_session)
        self._wake.set()
        self._task = asyncio.create_task(self._follow_changes(), name=f"zk-{self._what}")
        try:
            await self.loaded.wait()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    def _on_session(self, state: SessionState) -> None:
        if state is SessionState.CONNECTED:
            self._reload_all = True
            self._wake.set()

    # -- following ------------------------------------------------------------------------

    async def _follow_changes(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            reload_all, self._reload_all = self._reload_all, False
            try:
                await self._catch_up(reload_all)
            except ZkError as exc:
                log.warning("reading %s from ZooKeeper: %s; retrying", self._what, exc)
                self._reload_all |= reload_all
                await asyncio.sleep(RETRY_PAUSE_S)
                self._wake.set()
                continue
            self.loaded.set()

    async def _catch_up(self, reload_all: bool) -> None:
        numbered: dict[str, list[tuple[int, str]]] = {}
        for directory, prefix in self._directories.items():
            await self._zk.ensure_path(directory)
            children = await self._zk.get_children(directory, watch=self._wake.set) or []
            numbered[directory] = sorted(_numbered(prefix, children))
        if reload_all:
            for directory, found in numbered.items():
                self._last_change[directory] = found[-1][0] if found else -1
            await self.reload_all()
        else:
            for directory, found in numbered.items():
                if not await self._act_on_new(directory, found):
                    return
        for directory, found in numbered.items():
            await self._purge_expired(directory, found)

    async def _act_on_new(self, directory: str, found: list[tuple[int, str]]) -> bool:
        """Act on each notification not seen yet; False if one was purged unseen (then
        everything is read again)."""
        for number, name in found:
            if number <= self._last_change[directory]:
                continue
            read = await self._zk.get(f"{directory}/{name}")
            if read is None:
                self._reload_all = True
                self._wake.set()
                return False
            await self.on_change(directory, read[0], name)
            self._last_change[directory] = number
        return True

    async def _purge_expired(self, directory: str, found: list[tuple[int, str]]) -> None:
        cutoff = self._clock.time_ms() - CHANGE_EXPIRATION_MS
        for number, name in found:
            if number > self._last_change[directory]:
                break
            path = f"{directory}/{name}"
            stat = await self._zk.exists(path)
            if stat is None or stat.ctime_ms > cutoff:
                continue
            with contextlib.suppress(NoNode):
                await self._zk.delete(path)


def _numbered(prefix: str, children: list[str]) -> list[tuple[int, str]]:
    """(sequence number, name) of each ``<prefix><seq>`` child; other names are skipped."""
    found = []
    for child in children:
        with contextlib.suppress(ValueError):
            found.append((paths.sequence_number(prefix, child), child))
    return found
