"""Byte reader and writer for the ``__consumer_offsets`` record schemas.

Integers are big-endian. Non-flexible versions write strings with an int16 length and
bytes and arrays with an int32 length, -1 meaning null. Flexible versions write every
length as an unsigned varint of length + 1 (0 meaning null) and end each struct with
tagged fields: a varint count, then per field a varint tag, varint size and its bytes.
Sans-IO: both classes work on in-memory bytes only; neither is thread-safe.
"""

from __future__ import annotations

import struct
import uuid

_I8 = struct.Struct(">b")
_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")


class Writer:
    """Appends fields in order; ``getvalue`` joins them. ``flexible`` picks the length forms."""

    def __init__(self, flexible: bool) -> None:
        self.flexible = flexible
        self._parts: list[bytes] = []

    def int8(self, v: int) -> None:
        self._parts.append(_I8.pack(v))

    def int16(self, v: int) -> None:
        self._parts.append(_I16.pack(v))

    def int32(self, v: int) -> None:
        self._parts.append(_I32.pack(v))

    def int64(self, v: int) -> None:
        self._parts.append(_I64.pack(v))

    def uvarint(self, v: int) -> None:
        out = bytearray()
        while v >= 0x80:
            out.append((v & 0x7F) | 0x80)
            v >>= 7
        out.append(v)
        self._parts.append(bytes(out))

    def _length(self, n: int | None) -> None:
        # Flexible versions store length + 1 (0 = null); classic ones int16/int32 with -1 = null.
        if self.flexible:
            self.uvarint(0 if n is None else n + 1)
        else:
            self.int16(-1 if n is None else n)

    def string(self, v: str | None) -> None:
        data = None if v is None else v.encode()
        self._length(None if data is None else len(data))
        if data is not None:
            self._parts.append(data)

    def bytes_(self, v: bytes) -> None:
        if self.flexible:
            self.uvarint(len(v) + 1)
        else:
            self.int32(len(v))
        self._parts.append(bytes(v))

    def array_length(self, n: int) -> None:
        if self.flexible:
            self.uvarint(n + 1)
        else:
            self.int32(n)

    def uuid(self, v: uuid.UUID) -> None:
        self._parts.append(v.bytes)

    def raw(self, data: bytes) -> None:
        self._parts.append(data)

    def no_tagged_fields(self) -> None:
        if self.flexible:
            self.uvarint(0)

    def getvalue(self) -> bytes:
        return b"".join(self._parts)


class Reader:
    """Reads fields from ``data`` in order; raises ValueError on truncated or null data."""

    def __init__(self, data: bytes, flexible: bool = False) -> None:
        self.data = memoryview(data)
        self.at = 0
        self.flexible = flexible

    def _take(self, n: int) -> memoryview:
        if n < 0 or self.at + n > len(self.data):
            raise ValueError(f"record truncated: need {n} bytes at {self.at} of {len(self.data)}")
        view = self.data[self.at : self.at + n]
        self.at += n
        return view

    def int8(self) -> int:
        return int(_I8.unpack(self._take(1))[0])

    def int16(self) -> int:
        return int(_I16.unpack(self._take(2))[0])

    def int32(self) -> int:
        return int(_I32.unpack(self._take(4))[0])

    def int64(self) -> int:
        return int(_I64.unpack(self._take(8))[0])

    def uvarint(self) -> int:
        value = shift = 0
        while True:
            b = self._take(1)[0]
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7
            if shift > 28:
                raise ValueError("unsigned varint longer than 5 bytes")

    def _length(self) -> int | None:
        n = self.uvarint() - 1 if self.flexible else self.int16()
        return None if n < 0 else n

    def nullable_string(self) -> str | None:
        n = self._length()
        return None if n is None else bytes(self._take(n)).decode()

    def string(self) -> str:
        s = self.nullable_string()
        if s is None:
            raise ValueError("null where a string is required")
        return s

    def bytes_(self) -> bytes:
        n = self.uvarint() - 1 if self.flexible else self.int32()
        if n < 0:
            raise ValueError("null where bytes are required")
        return bytes(self._take(n))

    def array_length(self) -> int:
        n = self.uvarint() - 1 if self.flexible else self.int32()
        if n < 0:
            raise ValueError("null where an array is required")
        return n

    def uuid(self) -> uuid.UUID:
        return uuid.UUID(bytes=bytes(self._take(16)))

    def tagged_fields(self) -> dict[int, memoryview]:
        """Reads a flexible struct's tagged fields; returns them by tag (callers pick theirs)."""
        if not self.flexible:
            return {}
        fields: dict[int, memoryview] = {}
        for _ in range(self.uvarint()):
            tag = self.uvarint()
            fields[tag] = self._take(self.uvarint())
        return fields

    def done(self) -> None:
        if self.at != len(self.data):
            raise ValueError(f"{len(self.data) - self.at} trailing bytes in record")
