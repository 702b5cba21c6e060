"""Small file helpers: exact reads and writes, atomic replacement, directory fsync."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
from collections.abc import Callable
from pathlib import Path


def pread_exact(fd: int, size: int, position: int) -> bytes:
    """Read ``size`` bytes at ``position``, fewer only at end of file."""
    data = os.pread(fd, size, position)
    if len(data) == size or not data:
        return data
    parts = [data]
    got = len(data)
    while got < size:
        more = os.pread(fd, size - got, position + got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def write_all(fd: int, data: bytes | bytearray | memoryview, position: int) -> None:
    """pwrite all of ``data`` at ``position`` (pwrite may write less than asked)."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, position)
        view = view[written:]
        position += written


def fsync_path(path: Path) -> None:
    """fsync a file (or directory) by its path, on a descriptor of its own."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(dir: Path) -> None:
    """Make renames and unlinks in ``dir`` durable."""
    fsync_path(dir)


@functools.cache
def _libc_syncfs() -> Callable[[int], int] | None:
    """libc's syncfs(2) (Linux), or None where there is none (macOS)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        call = libc.syncfs
    except (OSError, AttributeError):
        return None
    call.argtypes = [ctypes.c_int]
    call.restype = ctypes.c_int
    return call


def can_syncfs() -> bool:
    return _libc_syncfs() is not None


def syncfs(path: Path) -> None:
    """Make everything written to the filesystem holding ``path`` durable, as an fsync
    of each of its files and directories would (file data, renames, new files), in one
    call: Linux's syncfs(2), which since 5.8 also reports a failed writeback.
    OSError if it fails; RuntimeError where there is no syncfs (check can_syncfs)."""
    call = _libc_syncfs()
    if call is None:
        raise RuntimeError("syncfs(2) is not available on this platform")
    fd = os.open(path, os.O_RDONLY)
    try:
        if call(fd) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"syncfs {path}: {os.strerror(errno)}")
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes, *, sync: bool = True) -> None:
    """Replace ``path`` so that a crash leaves the old or the new contents: write
    ``<path>.tmp``, fsync it, rename it over ``path``, fsync the directory. With
    ``sync=False`` the caller fsyncs the file and the directory later, and a crash
    before that may leave the new file empty or partial: only for files a reader
    checks (a producer snapshot's CRC)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_all(fd, data, 0)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if sync:
        fsync_dir(path.parent)
