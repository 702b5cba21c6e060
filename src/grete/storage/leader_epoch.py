"""The leader epoch cache of one partition and its ``leader-epoch-checkpoint`` file.

Each entry says "leader epoch E started at offset O" (Kafka's LeaderEpochFileCache).
Followers ask the leader for the end offset of their latest epoch and truncate to it
(KIP-101, KIP-279), so the cache must never miss an epoch whose batches are on disk:
it is written before the data it describes, and trimmed to the log when loaded.

The file, in the partition directory, is Kafka's text checkpoint::

    0          version
    2          number of entries
    0 0        leader_epoch start_offset
    3 1200

Writes are atomic (tmp, fsync, rename, fsync the directory).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from pathlib import Path

from grete.storage.errors import LogDirFailure, StorageError
from grete.storage.fsutil import write_atomically
from grete.storage.types import EpochEndOffset, EpochEntry

LEADER_EPOCH_CHECKPOINT = "leader-epoch-checkpoint"
LEADER_EPOCH_CHECKPOINT_VERSION = 0
UNDEFINED_EPOCH = -1  # OffsetsForLeaderEpochResponse.UNDEFINED_EPOCH
UNDEFINED_EPOCH_OFFSET = -1  # OffsetsForLeaderEpochResponse.UNDEFINED_EPOCH_OFFSET


class CorruptLeaderEpochCheckpoint(StorageError):
    pass


def format_leader_epoch_checkpoint(entries: Iterable[EpochEntry]) -> str:
    items = list(entries)
    lines = [str(LEADER_EPOCH_CHECKPOINT_VERSION), str(len(items))]
    lines += [f"{e.epoch} {e.start_offset}" for e in items]
    return "\n".join(lines) + "\n"


def parse_leader_epoch_checkpoint(text: str) -> list[EpochEntry]:
    """Entries in file order. Raises CorruptLeaderEpochCheckpoint (Kafka fails the read
    with an IOException on any malformed line or a count that does not match)."""
    lines = text.splitlines()
    if not lines:
        return []
    try:
        version = int(lines[0])
        count = int(lines[1]) if len(lines) > 1 else 0
    except ValueError as e:
        raise CorruptLeaderEpochCheckpoint(f"malformed header line: {e}") from e
    if version != LEADER_EPOCH_CHECKPOINT_VERSION:
        raise CorruptLeaderEpochCheckpoint(f"unknown leader epoch checkpoint version {version}")
    entries = []
    for line in lines[2:]:
        parts = line.split()
        try:
            if len(parts) != 2:
                raise ValueError(line)
            entry = EpochEntry(int(parts[0]), int(parts[1]))
        except ValueError:
            raise CorruptLeaderEpochCheckpoint(f"malformed line {line!r}") from None
        if entry.epoch < 0 or entry.start_offset < 0:
            raise CorruptLeaderEpochCheckpoint(f"invalid entry {line!r}")
        entries.append(entry)
    if len(entries) != count:
        raise CorruptLeaderEpochCheckpoint(f"expected {count} entries, found {len(entries)}")
    return entries


def read_leader_epoch_checkpoint(dir: Path) -> list[EpochEntry] | None:
    """The entries of ``dir``'s checkpoint; None when there is none to trust: no file, or
    an empty one (Kafka creates it empty before its first write)."""
    try:
        text = (dir / LEADER_EPOCH_CHECKPOINT).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise CorruptLeaderEpochCheckpoint(f"cannot read {dir / LEADER_EPOCH_CHECKPOINT}: {e}")
    if not text:
        return None
    return parse_leader_epoch_checkpoint(text)


class LeaderEpochCache:
    """(leader epoch -> start offset) of one replica, mirrored to its checkpoint file.

    Invariant: entries are sorted, with epochs and start offsets both strictly
    increasing. Every change is written to the file before the call returns (Kafka
    flushes truncations in the background; here they are rare and small). Not
    thread-safe; event loop only.
    """

    def __init__(self, dir: Path, entries: Iterable[EpochEntry] = ()) -> None:
        self.dir = dir
        self._entries: list[EpochEntry] = []
        for entry in entries:  # as Kafka's constructor: through assign's rules
            self._assign(entry)

    @classmethod
    def load(cls, dir: Path) -> LeaderEpochCache:
        """The cache in ``dir`` (empty when it has no checkpoint). Raises
        CorruptLeaderEpochCheckpoint."""
        return cls(dir, read_leader_epoch_checkpoint(dir) or ())

    @property
    def path(self) -> Path:
        return self.dir / LEADER_EPOCH_CHECKPOINT

    # -- reads -------------------------------------------------------------------

    def entries(self) -> Sequence[EpochEntry]:
        return tuple(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def latest_entry(self) -> EpochEntry | None:
        return self._entries[-1] if self._entries else None

    @property
    def latest_epoch(self) -> int | None:
        """The epoch of the newest entry: O(1), checked on every leader append."""
        return self._entries[-1].epoch if self._entries else None

    @property
    def earliest_entry(self) -> EpochEntry | None:
        return self._entries[0] if self._entries else None

    def epoch_for_offset(self, offset: int) -> int | None:
        """The epoch that wrote ``offset``: the last entry starting at or below it."""
        i = bisect.bisect_right(self._entries, offset, key=lambda e: e.start_offset)
        return self._entries[i - 1].epoch if i else None

    def end_offset_for(self, requested_epoch: int, log_end_offset: int) -> EpochEndOffset:
        """Kafka's endOffsetFor: the largest epoch <= ``requested_epoch`` and the offset
        where it ended (the start of the next larger epoch; the log end for the latest).

        An undefined or unknown-and-too-new epoch, or an empty cache, gives
        (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET). An epoch older than every entry gives
        (requested_epoch, start of the first entry): since KIP-279 the follower then
        truncates to where the leader's known history begins.
        """
        latest = self.latest_epoch
        if requested_epoch == UNDEFINED_EPOCH or latest is None:
            return EpochEndOffset(UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)
        if requested_epoch == latest:
            return EpochEndOffset(requested_epoch, log_end_offset)
        higher = bisect.bisect_right(self._entries, requested_epoch, key=lambda e: e.epoch)
        if higher == len(self._entries):
            return EpochEndOffset(UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)
        end_offset = self._entries[higher].start_offset
        if higher == 0:
            return EpochEndOffset(requested_epoch, end_offset)
        return EpochEndOffset(self._entries[higher - 1].epoch, end_offset)

    # -- changes -----------------------------------------------------------------

    def assign(self, epoch: int, start_offset: int) -> bool:
        """Record that ``epoch`` starts at ``start_offset`` and write the file. A known
        latest epoch keeps its first start offset unless given a lower one. Entries that
        would break monotonicity (epoch >= ``epoch`` or start >= ``start_offset``) are
        removed first, as Kafka does. Returns whether anything changed."""
        if not self._assign(EpochEntry(epoch, start_offset)):
            return False
        self.flush()
        return True

    def assign_all(self, entries: Iterable[EpochEntry]) -> bool:
        """``assign`` each entry in order, writing the file once."""
        changed = False
        for entry in entries:
            changed = self._assign(entry) or changed
        if changed:
            self.flush()
        return changed

    def _assign(self, entry: EpochEntry) -> bool:
        if entry.epoch < 0 or entry.start_offset < 0:
            raise ValueError(f"invalid leader epoch entry {entry}")
        latest = self.latest_entry
        if latest is not None and (
            entry.epoch == latest.epoch and entry.start_offset >= latest.start_offset
        ):
            return False
        while self._entries and (
            self._entries[-1].epoch >= entry.epoch
            or self._entries[-1].start_offset >= entry.start_offset
        ):
            self._entries.pop()
        self._entries.append(entry)
        return True

    def truncate_from_end(self, end_offset: int) -> bool:
        """Remove every entry starting at or after ``end_offset`` (the log was truncated
        there). A negative offset is ignored. Returns whether anything changed."""
        if end_offset < 0 or not self._entries or self._entries[-1].start_offset < end_offset:
            return False
        while self._entries and self._entries[-1].start_offset >= end_offset:
            self._entries.pop()
        self.flush()
        return True

    def truncate_from_start(self, start_offset: int) -> bool:
        """Forget history below ``start_offset`` (the new log start): the entries starting
        at or below it collapse into the last of them, moved up to ``start_offset``.
        Returns whether anything changed."""
        i = bisect.bisect_right(self._entries, start_offset, key=lambda e: e.start_offset)
        if i == 0 or (i == 1 and self._entries[0].start_offset == start_offset):
            return False
        first = EpochEntry(self._entries[i - 1].epoch, start_offset)
        self._entries[:i] = [first]
        self.flush()
        return True

    def clear_and_flush(self) -> None:
        self._entries.clear()
        self.flush()

    def flush(self) -> None:
        """Write the file now. Raises LogDirFailure on an I/O error."""
        try:
            write_atomically(self.path, format_leader_epoch_checkpoint(self._entries).encode())
        except OSError as e:
            raise LogDirFailure(f"cannot write {self.path}: {e}") from e

    def __repr__(self) -> str:
        pairs = ", ".join(f"{e.epoch}@{e.start_offset}" for e in self._entries)
        return f"LeaderEpochCache({pairs})"
