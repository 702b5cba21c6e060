"""Sans-IO framing of Kafka requests: a 4-byte big-endian size, then that many bytes.

Feed bytes with ``receive_data`` and take complete frames with ``next_frame``.
No sockets here, so the framing is unit-tested with plain bytes. The decoder
never allocates according to an announced size: it only keeps the bytes that
actually arrived, so a hostile size cannot make it reserve memory.
"""

from __future__ import annotations

import struct

_SIZE = struct.Struct(">i")
SIZE_PREFIX = 4
# Smallest request: api_key, api_version, correlation_id, client_id length.
MIN_REQUEST_SIZE = 10


class FrameError(ValueError):
    """The peer sent something that is not a Kafka request frame; close the connection."""


def describe_bad_prefix(prefix: bytes) -> str:
    """A human explanation for a size prefix we refuse, for the one-line log."""
    if prefix[:1] == b"\x16" and prefix[1:2] == b"\x03":
        return "a TLS handshake on a plaintext listener"
    if all(32 <= b < 127 for b in prefix):
        return f"ASCII text ({prefix.decode('ascii')!r}...), not the Kafka protocol"
    return f"size prefix {prefix.hex()}"


class FrameDecoder:
    """Splits a byte stream into request frames of at most ``max_frame_bytes`` bytes.

    Not thread-safe; owned by one connection.
    """

    __slots__ = ("_buf", "_max", "_need")

    def __init__(self, max_frame_bytes: int) -> None:
        self._buf = bytearray()
        self._max = max_frame_bytes
        self._need = -1  # size of the frame being assembled, -1 while the prefix is incomplete

    @property
    def buffered(self) -> int:
        """Bytes received that do not yet form a complete frame."""
        return len(self._buf)

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        self._buf += data

    def next_frame(self) -> bytes | None:
        """The next complete frame (without its size prefix), or None if more bytes are needed.

        Raises FrameError for a negative, too small or oversized frame size.
        """
        buf = self._buf
        if self._need < 0:
            if len(buf) < SIZE_PREFIX:
                return None
            (size,) = _SIZE.unpack_from(buf, 0)
            if size < MIN_REQUEST_SIZE or size > self._max:
                prefix = bytes(buf[:SIZE_PREFIX])
                self._buf = bytearray()
                if size < 0 or size > self._max:
                    reason = describe_bad_prefix(prefix) if size > self._max else "negative size"
                    raise FrameError(
                        f"frame size {size} refused (limit {self._max}): {reason}"
                    )
                raise FrameError(f"frame size {size} is too small for a request")
            self._need = size
        end = SIZE_PREFIX + self._need
        if len(buf) < end:
            return None
        frame = bytes(buf[SIZE_PREFIX:end])
        del buf[:end]
        self._need = -1
        return frame
