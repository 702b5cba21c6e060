"""Kafka's offset checkpoint files, found at the top of each log directory.

Text, one item per line::

    0                       version
    2                       number of entries
    my.topic 0 1234         topic, partition, offset (space-separated)
    my-topic 3 56

Files: ``recovery-point-offset-checkpoint``, ``replication-offset-checkpoint`` (high
watermarks) and ``log-start-offset-checkpoint``. Writes are atomic: a reader sees the
old file or the new one, never a mix.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from grete.storage.errors import StorageError
from grete.storage.fsutil import write_atomically

RECOVERY_POINT_CHECKPOINT = "recovery-point-offset-checkpoint"
REPLICATION_CHECKPOINT = "replication-offset-checkpoint"
LOG_START_OFFSET_CHECKPOINT = "log-start-offset-checkpoint"
CHECKPOINT_VERSION = 0

PartitionKey = tuple[str, int]  # (topic, partition)


class CorruptCheckpoint(StorageError):
    pass


def format_checkpoint(offsets: Mapping[PartitionKey, int]) -> str:
    lines = [str(CHECKPOINT_VERSION), str(len(offsets))]
    lines += [
        f"{topic} {partition} {offset}" for (topic, partition), offset in sorted(offsets.items())
    ]
    return "\n".join(lines) + "\n"


def parse_checkpoint(text: str) -> dict[PartitionKey, int]:
    lines = text.splitlines()
    if len(lines) < 2:
        raise CorruptCheckpoint("checkpoint is missing its version or count line")
    try:
        version, count = int(lines[0]), int(lines[1])
    except ValueError as e:
        raise CorruptCheckpoint(f"malformed checkpoint header: {e}") from e
    if version != CHECKPOINT_VERSION:
        raise CorruptCheckpoint(f"unknown checkpoint version {version}")
    entries = [line for line in lines[2:] if line.strip()]
    if len(entries) != count:
        raise CorruptCheckpoint(f"checkpoint says {count} entries but holds {len(entries)}")
    offsets: dict[PartitionKey, int] = {}
    for line in entries:
        parts = line.split(" ")
        if len(parts) != 3:
            raise CorruptCheckpoint(f"malformed checkpoint line {line!r}")
        try:
            offsets[(parts[0], int(parts[1]))] = int(parts[2])
        except ValueError as e:
            raise CorruptCheckpoint(f"malformed checkpoint line {line!r}") from e
    return offsets


def read_checkpoint(path: Path) -> dict[PartitionKey, int]:
    """The file's offsets; an absent file is empty. Raises CorruptCheckpoint."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    return parse_checkpoint(text)


def write_checkpoint(path: Path, offsets: Mapping[PartitionKey, int]) -> None:
    """Replace the file atomically (tmp, fsync, rename, fsync the directory)."""
    write_atomically(path, format_checkpoint(offsets).encode("utf-8"))
