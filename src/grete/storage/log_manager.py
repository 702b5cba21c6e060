"""All the partition logs of one log directory (an entry of Kafka's ``log.dirs``).

Layout, as Kafka's::

    <log_dir>/
      <topic>-<partition>/                     one Log each (topic may hold '-' and '.')
      <topic>-<partition>.<uuid hex>-delete/   a deleted log, removed at startup if still there
      recovery-point-offset-checkpoint
      log-start-offset-checkpoint
      replication-offset-checkpoint            (written by the replica layer)
      .kafka_cleanshutdown                     present only while the broker is down after
                                               a clean shutdown
"""

from __future__ import annotations

import logging
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

from grete.clock import SYSTEM_CLOCK, Clock
from grete.storage.checkpoint import (
    LOG_START_OFFSET_CHECKPOINT,
    RECOVERY_POINT_CHECKPOINT,
    CorruptCheckpoint,
    PartitionKey,
    read_checkpoint,
    write_checkpoint,
)
from grete.storage.flusher import BackgroundFlusher
from grete.storage.fsutil import can_syncfs, fsync_dir, syncfs
from grete.storage.log import Log
from grete.storage.retention import SegmentDeletionQueue, remove_segment_files
from grete.storage.types import LogConfig

log = logging.getLogger(__name__)

CLEAN_SHUTDOWN_FILE = ".kafka_cleanshutdown"
DELETE_DIR_SUFFIX = "-delete"
IGNORED_DIR_SUFFIXES = ("-future", "-stray")  # replica moves / stray replicas: not ours yet
_LEGAL_TOPIC = re.compile(r"[a-zA-Z0-9._-]{1,249}")


T = TypeVar("T")


def parse_log_dir_name(name: str) -> PartitionKey | None:
    """(topic, partition) from ``<topic>-<partition>``, split at the last '-'; None if the
    name is not a partition directory."""
    topic, sep, partition = name.rpartition("-")
    if not sep or not topic or not partition.isdigit():
        return None
    return topic, int(partition)


def log_dir_name(topic: str, partition: int) -> str:
    if not _LEGAL_TOPIC.fullmatch(topic) or topic in (".", ".."):
        raise ValueError(f"illegal topic name {topic!r}")
    return f"{topic}-{partition}"


class LogManager:
    """Opens, creates, deletes, flushes and checkpoints the logs of one directory.

    Not thread-safe; event loop only. Between ``open`` and ``shutdown`` the clean
    shutdown marker is absent, so a crash makes the next start recover from the
    checkpointed recovery points.
    """

    def __init__(
        self,
        log_dir: Path,
        default_config: LogConfig,
        clock: Clock,
        logs: dict[PartitionKey, Log],
        had_clean_shutdown: bool,
    ) -> None:
        self.log_dir = log_dir
        self.default_config = default_config
        self.had_clean_shutdown = had_clean_shutdown
        self._clock = clock
        self._logs = logs
        self._shut_down = False
        self.deletions = SegmentDeletionQueue()
        self.recovery_threads = 1  # num.recovery.threads.per.data.dir: shutdown's flushes
        self.flusher = BackgroundFlusher()  # rolls' and flush.ms's fsyncs
        stale: list[Path] = []
        for lg in logs.values():
            lg.flusher = self.flusher
            stale += lg.producer_state.take_stale_snapshots()
        if stale:  # left by the last stop, which does not prune (Log.close)
            self.flusher.remove(stale)

    @classmethod
    def open(
        cls,
        log_dir: Path,
        default_config: LogConfig,
        clock: Clock = SYSTEM_CLOCK,
        *,
        topic_configs: Mapping[str, LogConfig] | None = None,
        recovery_threads: int = 1,
    ) -> LogManager:
        """Load every partition directory, using the checkpointed recovery points (or
        only a tail check after a clean shutdown), then remove the marker."""
        log_dir.mkdir(parents=True, exist_ok=True)
        marker = log_dir / CLEAN_SHUTDOWN_FILE
        clean = marker.exists()
        recovery_points = _read_or_empty(log_dir / RECOVERY_POINT_CHECKPOINT)
        start_offsets = _read_or_empty(log_dir / LOG_START_OFFSET_CHECKPOINT)
        configs = topic_configs or {}
        found: list[tuple[PartitionKey, Path]] = []
        for child in sorted(log_dir.iterdir()):
            if not child.is_dir():
                continue
            if child.name.endswith(DELETE_DIR_SUFFIX):
                shutil.rmtree(child, ignore_errors=True)
                continue
            key = parse_log_dir_name(child.name)
            if key is None or child.name.endswith(IGNORED_DIR_SUFFIXES):
                continue
            found.append((key, child))

        def load(key: PartitionKey, path: Path) -> Log:
            lg = Log.open(
                path,
                configs.get(key[0], default_config),
                recovery_point=recovery_points.get(key, 0),
                log_start_offset=start_offsets.get(key, 0),
                had_clean_shutdown=clean,
                clock=clock,
            )
            lg.release_files()  # loading opened them; a partition in use opens its own again
            return lg

        # One by one: unlike Kafka, loading on num.recovery.threads.per.data.dir threads is
        # slower here, the work being Python under the GIL (10,000 logs: 7.6 s on one
        # thread, 13.7 s on two; docs/performance.md). Shutdown's fsyncs use the threads.
        logs = {key: load(key, path) for key, path in found}
        self = cls(log_dir, default_config, clock, logs, had_clean_shutdown=clean)
        self.recovery_threads = recovery_threads
        self.checkpoint()
        marker.unlink(missing_ok=True)
        fsync_dir(log_dir)
        return self

    def get(self, topic: str, partition: int) -> Log | None:
        return self._logs.get((topic, partition))

    def create(self, topic: str, partition: int, config: LogConfig | None = None) -> Log:
        """The log of (topic, partition), created empty if it does not exist yet (an
        existing log is returned as it is)."""
        existing = self._logs.get((topic, partition))
        if existing is not None:
            return existing
        dir = self.log_dir / log_dir_name(topic, partition)
        created = Log.open(dir, config or self.default_config, clock=self._clock)
        created.flusher = self.flusher
        fsync_dir(self.log_dir)
        self._logs[(topic, partition)] = created
        return created

    def delete(self, topic: str, partition: int) -> bool:
        """Rename the directory to ``<name>.<uuid>-delete`` (atomic), then remove it.
        Returns False if there was no such log."""
        return bool(self.delete_many([(topic, partition)]))

    def delete_many(self, keys: Iterable[PartitionKey]) -> int:
        """Delete several logs: rename every directory first (each rename is atomic and
        a leftover ``-delete`` directory is removed at start-up), checkpoint once, then
        remove the files. Returns how many logs existed."""
        doomed_logs = []
        for key in keys:
            target = self._logs.pop(key, None)
            if target is None:
                continue
            doomed = target.dir.with_name(f"{target.dir.name}.{uuid.uuid4().hex}{DELETE_DIR_SUFFIX}")
            target.rename_dir(doomed)
            doomed_logs.append(target)
        if not doomed_logs:
            return 0
        fsync_dir(self.log_dir)
        self.checkpoint()
        for target in doomed_logs:
            target.delete()
        return len(doomed_logs)

    def delete_old_segments(self, lg: Log, high_watermark: int) -> int:
        """Apply retention to one log; its deleted segments are removed after its
        file.delete.delay.ms (by whoever drains ``deletions``). Returns how many went."""
        now = self._clock.time_ms()
        doomed = lg.delete_old_segments(now, high_watermark)
        if doomed:
            self.deletions.schedule(doomed, now + lg.config.file_delete_delay_ms)
            log.info(
                "%s: deleted %d segments by retention, log start offset now %d",
                lg.dir.name, len(doomed), lg.log_start_offset,
            )
        return len(doomed)

    def all_logs(self) -> Mapping[PartitionKey, Log]:
        return MappingProxyType(self._logs)

    def checkpoint(self) -> None:
        """Write the recovery points and log start offsets of every log."""
        write_checkpoint(
            self.log_dir / RECOVERY_POINT_CHECKPOINT,
            {key: lg.recovery_point for key, lg in self._logs.items()},
        )
        self.checkpoint_log_start_offsets()

    def checkpoint_log_start_offsets(self) -> None:
        """Write the log start offsets now (after DeleteRecords, so that a crash cannot
        bring deleted records back)."""
        write_checkpoint(
            self.log_dir / LOG_START_OFFSET_CHECKPOINT,
            {key: lg.log_start_offset for key, lg in self._logs.items()},
        )

    def close_idle_files(self, idle_seconds: float) -> int:
        """Close every log file unused for ``idle_seconds``; returns how many were closed.
        A file reopens on its next read or append, so open descriptors follow the
        partitions in use, not the partitions hosted."""
        now = time.monotonic()
        return sum(lg.close_idle_files(now, idle_seconds) for lg in self._logs.values())

    def flush_dirty(self) -> int:
        """Apply each log's flush.ms; returns how many logs were flushed."""
        return sum(1 for lg in self._logs.values() if lg.flush_if_due())

    def shutdown(self) -> None:
        """Flush and close every log (writing producer snapshots), checkpoint, then
        write the clean shutdown marker. Idempotent."""
        if self._shut_down:
            return
        remove_segment_files(self.deletions.pop_all())  # nothing reads them any more
        self.flusher.close()
        if can_syncfs():
            # One syncfs instead of an fsync per file: the files of 10,000 partitions
            # took 20 s to fsync one by one (docs/performance.md).
            for lg in self._logs.values():
                lg.close(sync=False)
            syncfs(self.log_dir)
            for lg in self._logs.values():
                lg.closed_durable()
        else:
            _on_threads(
                self.recovery_threads, [partial(_flush_and_close, lg) for lg in self._logs.values()]
            )
        self.checkpoint()
        (self.log_dir / CLEAN_SHUTDOWN_FILE).write_bytes(b"")
        fsync_dir(self.log_dir)
        self._shut_down = True


def _flush_and_close(lg: Log) -> None:
    lg.flush()
    lg.close()


def _on_threads(threads: int, work: list[Callable[[], T]]) -> list[T]:
    """Run every call, on ``threads`` threads when more than one; results in order. The
    first exception is raised once every call has finished."""
    if threads <= 1 or len(work) <= 1:
        return [call() for call in work]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="log-recovery") as pool:
        futures = [pool.submit(call) for call in work]
        wait(futures)
    return [future.result() for future in futures]


def _read_or_empty(path: Path) -> dict[PartitionKey, int]:
    try:
        return read_checkpoint(path)
    except CorruptCheckpoint as e:
        log.warning("ignoring %s (%s): recovering those logs from their start", path, e)
        return {}
