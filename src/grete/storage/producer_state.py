"""Idempotent-producer state of one partition, and its ``.snapshot`` files.

Snapshot file ``<20-digit offset>.snapshot`` (Kafka's producer snapshot, version 1;
the state of every batch below that offset), big-endian::

    version   int16    1
    crc       uint32   CRC-32C of everything after this field
    count     int32    number of entries, then per entry (46 bytes):
      producer_id int64, producer_epoch int16, last_sequence int32, last_offset int64,
      offset_delta int32 (last_offset - first_offset of the last batch), timestamp int64,
      coordinator_epoch int32, current_txn_first_offset int64

As in Kafka only each producer's last batch is persisted: after a restart a retry
of an older batch among the last five is reported out of order, not as a duplicate.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from crc32c import crc32c

from grete.records.batch import NO_PRODUCER_EPOCH, BatchHeader
from grete.storage.errors import InvalidProducerEpoch, OutOfOrderSequence, StorageError
from grete.storage.fsutil import write_atomically

SNAPSHOT_SUFFIX = ".snapshot"
SNAPSHOT_VERSION = 1
MAX_CACHED_BATCHES = 5  # Kafka's NUM_BATCHES_TO_RETAIN
SNAPSHOTS_TO_KEEP = 2
_SEQ_MODULUS = 2**31
_PREFIX = struct.Struct(">hI")  # version, crc
_COUNT = struct.Struct(">i")
_ENTRY = struct.Struct(">qhiqiqiq")


class CorruptSnapshot(StorageError):
    pass


@dataclass(frozen=True, slots=True)
class BatchMetadata:
    first_seq: int
    last_seq: int
    first_offset: int
    last_offset: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class ProducerEntry:
    """A producer's epoch and its last (at most five) batches, oldest first."""

    producer_id: int
    epoch: int
    batches: tuple[BatchMetadata, ...] = ()
    coordinator_epoch: int = -1
    current_txn_first_offset: int = -1

    @property
    def last_seq(self) -> int:
        return self.batches[-1].last_seq if self.batches else -1

    def find_duplicate(self, first_seq: int, last_seq: int) -> BatchMetadata | None:
        for batch in self.batches:
            if batch.first_seq == first_seq and batch.last_seq == last_seq:
                return batch
        return None


def in_sequence(last_seq: int, next_seq: int) -> bool:
    return next_seq == last_seq + 1 or (next_seq == 0 and last_seq == _SEQ_MODULUS - 1)


def snapshot_path(dir: Path, offset: int) -> Path:
    return dir / f"{offset:020d}{SNAPSHOT_SUFFIX}"


class ProducerStateManager:
    """Per producer id: the current epoch and the last five batches' sequence ranges.

    Not thread-safe; event loop only. ``validate`` never changes state; the log calls
    ``update`` for each batch once it is written (or found on disk when rebuilding).
    """

    def __init__(self, dir: Path) -> None:
        self.dir = dir
        self._producers: dict[int, ProducerEntry] = {}
        self._stale: list[Path] = []  # see take_stale_snapshots

    @property
    def producers(self) -> Mapping[int, ProducerEntry]:
        return self._producers

    def validate(self, headers: Iterable[BatchHeader]) -> BatchMetadata | None:
        """Check the batches of one append, in order. Returns the original metadata of a
        duplicate (the whole append is then a retry), else None.

        Raises InvalidProducerEpoch for a fenced epoch, OutOfOrderSequence for a gap.
        """
        pending: dict[int, tuple[int, int]] = {}  # producer id -> (epoch, last_seq) so far
        for h in headers:
            if h.producer_id < 0 or h.base_sequence < 0:
                continue
            entry = self._producers.get(h.producer_id)
            if entry is not None and entry.epoch == h.producer_epoch:
                duplicate = entry.find_duplicate(h.base_sequence, h.last_sequence)
                if duplicate is not None:
                    return duplicate
            _check_sequence(entry, pending.get(h.producer_id), h)
            pending[h.producer_id] = (h.producer_epoch, h.last_sequence)
        return None

    def update(self, h: BatchHeader, first_offset: int, timestamp: int) -> None:
        """Record a batch written at ``first_offset`` (no checks: also used on replay)."""
        if h.producer_id < 0:
            return
        entry = self._producers.get(h.producer_id)
        if entry is not None and h.producer_epoch < entry.epoch:
            return
        same_epoch = entry is not None and entry.epoch == h.producer_epoch
        batches = entry.batches if entry is not None and same_epoch else ()
        if h.base_sequence >= 0:
            meta = BatchMetadata(
                h.base_sequence,
                h.last_sequence,
                first_offset,
                first_offset + h.last_offset_delta,
                timestamp,
            )
            batches = (batches + (meta,))[-MAX_CACHED_BATCHES:]
        self._producers[h.producer_id] = ProducerEntry(h.producer_id, h.producer_epoch, batches)

    def clear(self) -> None:
        self._producers = {}

    # -- snapshots -----------------------------------------------------------------

    def snapshot_offsets(self) -> list[int]:
        offsets = []
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:  # the log's directory is gone (deleted): no snapshots
            return []
        for name in names:
            if not name.endswith(SNAPSHOT_SUFFIX):
                continue
            stem = name[: -len(SNAPSHOT_SUFFIX)]
            if len(stem) == 20 and stem.isdigit():
                offsets.append(int(stem))
        return sorted(offsets)

    def take_snapshot(self, offset: int, *, sync: bool = True, prune: bool = True) -> Path:
        """Write the state as of ``offset`` atomically; keep the newest two snapshots.
        ``sync=False``: the caller fsyncs it and the directory (a roll's background flush);
        until then a crash may leave it corrupt, and loading skips a corrupt snapshot.
        ``prune=False``: keep the older ones too (a stop: the next start removes them,
        off the event loop; see ``take_stale_snapshots``)."""
        path = snapshot_path(self.dir, offset)
        write_atomically(path, encode_snapshot(self._producers.values()), sync=sync)
        if prune:
            for old in self.snapshot_offsets()[:-SNAPSHOTS_TO_KEEP]:
                snapshot_path(self.dir, old).unlink(missing_ok=True)
        return path

    def take_stale_snapshots(self) -> list[Path]:
        """The snapshots older than the newest two that ``load`` found (a stop writes its
        snapshot without pruning): for the caller to delete, once. Later snapshots are
        pruned as they are taken."""
        stale, self._stale = self._stale, []
        return stale

    def delete_snapshots_after(self, offset: int) -> list[int]:
        """Delete the snapshots above ``offset``; returns the ones kept, oldest first."""
        kept = []
        for snap in self.snapshot_offsets():
            if snap > offset:
                snapshot_path(self.dir, snap).unlink(missing_ok=True)
            else:
                kept.append(snap)
        return kept

    def load(self, log_start_offset: int, log_end_offset: int) -> int:
        """Load the newest readable snapshot at or below ``log_end_offset`` (deleting
        later or corrupt ones). Returns the offset from which the log must be replayed."""
        kept = self.delete_snapshots_after(log_end_offset)
        self._stale = [snapshot_path(self.dir, snap) for snap in kept[:-SNAPSHOTS_TO_KEEP]]
        self.clear()
        for snap in reversed(kept):
            try:
                entries = decode_snapshot(snapshot_path(self.dir, snap).read_bytes())
            except (CorruptSnapshot, OSError):
                snapshot_path(self.dir, snap).unlink(missing_ok=True)
                continue
            self._producers = {e.producer_id: e for e in entries}
            return max(snap, log_start_offset)
        return log_start_offset


def _check_sequence(
    entry: ProducerEntry | None, pending: tuple[int, int] | None, h: BatchHeader
) -> None:
    """Kafka's epoch and sequence rules for one batch of a known producer id."""
    if pending is not None:
        epoch, last_seq = pending
    elif entry is not None:
        epoch, last_seq = entry.epoch, entry.last_seq
    else:
        epoch, last_seq = NO_PRODUCER_EPOCH, -1
    if h.producer_epoch < epoch:
        raise InvalidProducerEpoch(
            f"producer {h.producer_id} epoch {h.producer_epoch} is older than {epoch}"
        )
    if h.producer_epoch != epoch:
        # A new epoch restarts at 0; a producer we know nothing of may start anywhere.
        if h.base_sequence != 0 and epoch != NO_PRODUCER_EPOCH:
            raise OutOfOrderSequence(
                f"producer {h.producer_id} new epoch {h.producer_epoch} starts at "
                f"sequence {h.base_sequence}, not 0"
            )
    elif not in_sequence(last_seq, h.base_sequence):
        raise OutOfOrderSequence(
            f"producer {h.producer_id} sequence {h.base_sequence} does not follow {last_seq}"
        )


def encode_snapshot(entries: Iterable[ProducerEntry]) -> bytes:
    body = bytearray(_COUNT.pack(0))
    count = 0
    for e in entries:
        last = e.batches[-1] if e.batches else None
        body += _ENTRY.pack(
            e.producer_id,
            e.epoch,
            last.last_seq if last else -1,
            last.last_offset if last else -1,
            last.last_offset - last.first_offset if last else 0,
            last.timestamp if last else -1,
            e.coordinator_epoch,
            e.current_txn_first_offset,
        )
        count += 1
    _COUNT.pack_into(body, 0, count)
    return _PREFIX.pack(SNAPSHOT_VERSION, crc32c(body)) + bytes(body)


def decode_snapshot(data: bytes) -> list[ProducerEntry]:
    if len(data) < _PREFIX.size + _COUNT.size:
        raise CorruptSnapshot("snapshot is too short")
    version, crc = _PREFIX.unpack_from(data)
    if version != SNAPSHOT_VERSION:
        raise CorruptSnapshot(f"unknown snapshot version {version}")
    if crc32c(data[_PREFIX.size :]) != crc:
        raise CorruptSnapshot("snapshot CRC mismatch")
    (count,) = _COUNT.unpack_from(data, _PREFIX.size)
    at = _PREFIX.size + _COUNT.size
    if count < 0 or len(data) != at + count * _ENTRY.size:
        raise CorruptSnapshot("snapshot entry count disagrees with its size")
    entries = []
    for _ in range(count):
        pid, epoch, last_seq, last_offset, delta, ts, coord_epoch, txn_first = _ENTRY.unpack_from(
            data, at
        )
        at += _ENTRY.size
        batches: tuple[BatchMetadata, ...] = ()
        if last_offset >= 0 and last_seq >= 0:
            first_seq = (last_seq - delta) % _SEQ_MODULUS
            batches = (BatchMetadata(first_seq, last_seq, last_offset - delta, last_offset, ts),)
        entries.append(ProducerEntry(pid, epoch, batches, coord_epoch, txn_first))
    return entries
