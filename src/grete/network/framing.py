"""Sans-IO framing of Kafka requests: a 4-byte big-endian size, then that many bytes.

The socket layer asks for a buffer to receive into (``get_buffer``), reports how
many bytes arrived (``buffer_updated``) and takes complete frames with
``next_frame``; ``receive_data`` does both for callers holding bytes. No sockets
here, so the framing is unit-tested with plain bytes.

Small frames are received into a shared scratch buffer and copied out once. A
frame larger than the scratch buffer gets its own buffer of exactly its size
(never more than ``max_frame_bytes``) and the socket writes straight into it, so
a large produce request is copied once, by the kernel. A refused size (negative,
too small, over the cap, ASCII, a TLS hello) allocates nothing.

Text and TLS records are refused even under a raised cap: "GET " read as a size is
1.1 GiB and a TLS ClientHello about 350 MiB, both below a cap of 2 GiB. Only sizes
above SUSPECT_SIZE are looked at, so ordinary frames pay one comparison.

Frames are returned as bytearrays: the produce path patches offsets in place.
"""

from __future__ import annotations

import struct

_SIZE = struct.Struct(">i")
SIZE_PREFIX = 4
# Smallest request: api_key, api_version, correlation_id, client_id length.
MIN_REQUEST_SIZE = 10
SCRATCH_BYTES = 64 * 1024
# A size above this is checked for text or a TLS record before a buffer is allocated.
# Every printable four-byte prefix and every TLS record start (0x1603...) is above it.
SUSPECT_SIZE = 64 * 1024 * 1024
TLS_HANDSHAKE = 0x16
TLS_MAJOR_VERSION = 0x03
# The first four bytes of an HTTP/1.x request (its method) or of the HTTP/2 preface.
_HTTP_STARTS = frozenset(
    {b"GET ", b"HEAD", b"POST", b"PUT ", b"DELE", b"PATC", b"OPTI", b"CONN", b"TRAC", b"PRI "}
)


class FrameError(ValueError):
    """The peer sent something that is not a Kafka request frame; close the connection."""


def foreign_protocol(prefix: bytes) -> str | None:
    """What a four-byte size prefix really is when another protocol sent it: an HTTP
    request, other ASCII text, or a TLS handshake; None when it may be a size."""
    if prefix[0] == TLS_HANDSHAKE and prefix[1] == TLS_MAJOR_VERSION:
        return "a TLS handshake on a plaintext listener"
    if prefix in _HTTP_STARTS:
        return f"an HTTP request on a Kafka listener ({prefix.decode('ascii')!r}...)"
    # Text starts with a letter; a size this large with four printable bytes is unlikely.
    if chr(prefix[0]).isalpha() and all(32 <= b < 127 for b in prefix):
        return f"ASCII text ({prefix.decode('ascii')!r}...), not the Kafka protocol"
    return None


def describe_bad_prefix(prefix: bytes) -> str:
    """A human explanation for a size prefix we refuse, for the one-line log."""
    return foreign_protocol(prefix) or f"size prefix {prefix.hex()}"


class FrameDecoder:
    """Splits a byte stream into request frames of at most ``max_frame_bytes`` bytes.

    Not thread-safe; owned by one connection.
    """

    __slots__ = ("_big", "_big_filled", "_end", "_max", "_scratch", "_start")

    def __init__(self, max_frame_bytes: int, scratch_bytes: int = SCRATCH_BYTES) -> None:
        self._max = max_frame_bytes
        self._scratch = bytearray(scratch_bytes)
        self._start = 0  # unread bytes of the scratch buffer are [start, end)
        self._end = 0
        self._big: bytearray | None = None  # a large frame being received in place
        self._big_filled = 0

    @property
    def max_frame_bytes(self) -> int:
        """The largest frame accepted; may change between frames (SASL's pre-auth cap)."""
        return self._max

    @max_frame_bytes.setter
    def max_frame_bytes(self, value: int) -> None:
        self._max = value

    @property
    def buffered(self) -> int:
        """Bytes received that do not yet form a complete frame."""
        big = SIZE_PREFIX + self._big_filled if self._big is not None else 0
        return self._end - self._start + big

    def get_buffer(self) -> memoryview:
        """Where the next received bytes must be written (never empty)."""
        if not self._receiving_big() and self._end == len(self._scratch):
            self._make_room()
        big = self._big
        if big is not None and self._big_filled < len(big):
            return memoryview(big)[self._big_filled :]
        return memoryview(self._scratch)[self._end :]

    def _receiving_big(self) -> bool:
        return self._big is not None and self._big_filled < len(self._big)

    def _make_room(self) -> None:
        self._compact()
        if self._end < len(self._scratch):
            return
        if self._big is None and self._end - self._start >= SIZE_PREFIX:
            (size,) = _SIZE.unpack_from(self._scratch, self._start)
            if self._accepts(size):
                self._take_big_frame_if_started()
                if self._big is not None or self._end < len(self._scratch):
                    return
        # Full of complete frames that nobody has taken yet (or of a size next_frame
        # will refuse): grow rather than return an empty buffer.
        # A new object, not extend(): a view from an earlier get_buffer may still exist.
        self._scratch = self._scratch + bytearray(len(self._scratch))

    def buffer_updated(self, nbytes: int) -> None:
        if self._receiving_big():
            self._big_filled += nbytes
        else:
            self._end += nbytes

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        while view:
            buf = self.get_buffer()
            n = min(len(buf), len(view))
            buf[:n] = view[:n]
            self.buffer_updated(n)
            view = view[n:]

    def next_frame(self) -> bytearray | None:
        """The next complete frame (without its size prefix), or None if more bytes are needed.

        Raises FrameError for a negative, too small or oversized frame size, and for a
        large size that is really text or a TLS record.
        """
        if self._big is not None:
            if self._big_filled < len(self._big):
                return None
            frame, self._big, self._big_filled = self._big, None, 0
            return frame  # bytes after it wait in the scratch buffer
        available = self._end - self._start
        if available < SIZE_PREFIX:
            return None
        size = self._frame_size()
        if available < SIZE_PREFIX + size:
            self._take_big_frame_if_started()
            return self.next_frame() if self._big is not None and not self._receiving_big() else None
        begin = self._start + SIZE_PREFIX
        frame = self._scratch[begin : begin + size]
        self._start = begin + size
        if self._start == self._end:
            self._start = self._end = 0
        return frame

    def _accepts(self, size: int) -> bool:
        """Whether the size prefix at the read position announces a frame we will take."""
        if not MIN_REQUEST_SIZE <= size <= self._max:
            return False
        if size <= SUSPECT_SIZE:
            return True
        prefix = bytes(self._scratch[self._start : self._start + SIZE_PREFIX])
        return foreign_protocol(prefix) is None

    def _frame_size(self) -> int:
        (size,) = _SIZE.unpack_from(self._scratch, self._start)
        if self._accepts(size):
            return int(size)
        prefix = bytes(self._scratch[self._start : self._start + SIZE_PREFIX])
        self._start = self._end = 0
        if MIN_REQUEST_SIZE <= size <= self._max:
            raise FrameError(f"frame size {size} refused: {describe_bad_prefix(prefix)}")
        if size < 0:
            raise FrameError(f"frame size {size} refused: negative size ({describe_bad_prefix(prefix)})")
        if size > self._max:
            raise FrameError(
                f"frame size {size} refused (limit {self._max}): {describe_bad_prefix(prefix)}"
            )
        raise FrameError(f"frame size {size} is too small for a request")

    def _take_big_frame_if_started(self) -> None:
        """Move a frame that cannot complete in the scratch buffer into its own buffer."""
        if self._end - self._start < SIZE_PREFIX:
            if self._end == len(self._scratch):
                self._compact()
            return
        size = self._frame_size()
        begin = self._start + SIZE_PREFIX
        if begin + size <= len(self._scratch):
            if self._end == len(self._scratch):
                self._compact()
            return
        if SIZE_PREFIX + size <= len(self._scratch) // 2:
            self._compact()  # small frame near the end of the buffer: make room instead
            return
        big = bytearray(size)
        partial = self._end - begin
        big[:partial] = self._scratch[begin : self._end]
        self._big, self._big_filled = big, partial
        self._start = self._end = 0

    def _compact(self) -> None:
        unread = self._end - self._start
        if self._start:
            self._scratch[:unread] = self._scratch[self._start : self._end]
        self._start, self._end = 0, unread
