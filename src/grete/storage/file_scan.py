"""Walking the batches of a segment file by their 12-byte prefixes, with chunked preads."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from grete.records.batch import (
    HEADER_SIZE,
    LOG_OVERHEAD,
    MAGIC_AT,
    BatchHeader,
    peek_offset_and_length,
    read_header,
)
from grete.storage.fsutil import pread_exact

CHUNK_BYTES = 1024 * 1024
_MIN_LENGTH = HEADER_SIZE - LOG_OVERHEAD


@dataclass(frozen=True, slots=True)
class ScannedBatch:
    """One batch found in a file. ``data`` is the whole batch when scanning in full mode,
    otherwise only its 61-byte header."""

    position: int
    header: BatchHeader
    data: memoryview

    @property
    def end(self) -> int:
        return self.position + self.header.size


class BatchScanner:
    """Yields the well-framed v2 batches in [start, end) of a file, in order.

    Stops at the first prefix that cannot be a batch: fewer than 12 bytes left, a
    length shorter than a header, a batch running past ``end``, or a magic other than 2.
    ``valid_end`` is then the end of the last batch yielded, so [start, valid_end) is
    exactly the well-framed part. CRCs are the caller's business (``full=True`` gives
    it each whole batch). Reads at most one chunk (or one batch) at a time.
    """

    def __init__(
        self,
        fd: int | Callable[[], int],
        start: int,
        end: int,
        *,
        full: bool = False,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        # A callable is asked for the descriptor at every read: a segment may close an idle
        # file between two reads of a suspended scan, and the number may be reused.
        self._fd = fd if callable(fd) else (lambda: fd)
        self._chunk = chunk_bytes
        self._end = end
        self._full = full
        self._buf = b""
        self._buf_at = start
        self.valid_end = start

    def _view(self, position: int, size: int) -> memoryview | None:
        rel = position - self._buf_at
        if rel < 0 or rel + size > len(self._buf):
            want = min(max(size, self._chunk), self._end - position)
            self._buf = pread_exact(self._fd(), want, position) if want > 0 else b""
            self._buf_at = position
            rel = 0
        if rel + size > len(self._buf):
            return None
        return memoryview(self._buf)[rel : rel + size]

    def __iter__(self) -> Iterator[ScannedBatch]:
        position = self.valid_end
        while position + LOG_OVERHEAD <= self._end:
            prefix = self._view(position, LOG_OVERHEAD)
            if prefix is None:
                return
            _, length = peek_offset_and_length(prefix)
            size = LOG_OVERHEAD + length
            if length < _MIN_LENGTH or position + size > self._end:
                return
            data = self._view(position, size if self._full else HEADER_SIZE)
            if data is None or data[MAGIC_AT] != 2:
                return
            yield ScannedBatch(position, read_header(data), data)
            position += size
            self.valid_end = position
