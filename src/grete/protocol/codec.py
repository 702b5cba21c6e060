"""Request frames → kio request entities, and kio response entities → frames.

A frame here is the bytes after the 4-byte size prefix. The request header is
read by hand (it is tiny and on every request); bodies go through kio.
"""

from __future__ import annotations

import functools
import io
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kio.serial import entity_reader, entity_writer

from grete.protocol.apis import ApiKey
from grete.protocol.schema import kio_supports, schema

_HEADER_V1 = struct.Struct(">hhih")  # api_key, api_version, correlation_id, client_id length
_SIZE = struct.Struct(">i")
_CORRELATION = struct.Struct(">i")
_INT16 = struct.Struct(">h")


class MalformedRequest(ValueError):
    """The frame cannot be decoded as a request: the connection is closed."""


class UnknownApiKey(MalformedRequest):
    """An API key this broker does not know at all: the connection is closed."""


@dataclass(slots=True)  # hot path: not frozen (docs/performance.md)
class RequestHeader:
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None


def parse_header(frame: bytes | bytearray | memoryview) -> tuple[RequestHeader, int]:
    """Decode the request header; returns it and the offset where the body starts.

    Raises MalformedRequest for a frame too short for a header.
    """
    if len(frame) < _HEADER_V1.size:
        raise MalformedRequest(f"frame of {len(frame)} bytes is too short for a request header")
    api_key, api_version, correlation_id, client_id_len = _HEADER_V1.unpack_from(frame, 0)
    at = _HEADER_V1.size
    client_id: str | None = None
    if client_id_len >= 0:
        end = at + client_id_len
        if end > len(frame):
            raise MalformedRequest("client id runs past the end of the frame")
        try:
            client_id = bytes(frame[at:end]).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedRequest("client id is not UTF-8") from exc
        at = end
    elif client_id_len != -1:
        raise MalformedRequest(f"invalid client id length {client_id_len}")
    header = RequestHeader(api_key, api_version, correlation_id, client_id)
    if is_flexible_request(api_key, api_version):
        at = skip_tagged_fields(frame, at)
    return header, at


@functools.cache
def is_flexible_request(api_key: int, version: int) -> bool:
    """Whether the request header has tagged fields (cached: it runs for every request)."""
    if not kio_supports(api_key, version):
        return False
    return bool(schema(api_key, version).request_cls.__flexible__)


def read_uvarint(buf: bytes | bytearray | memoryview, at: int) -> tuple[int, int]:
    value = 0
    shift = 0
    while True:
        if at >= len(buf):
            raise MalformedRequest("truncated varint")
        byte = buf[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7
        if shift > 28:
            raise MalformedRequest("varint too long")


def encode_uvarint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_length(count: int, flexible: bool) -> bytes:
    """An array, string or bytes length: compact (count + 1 as an unsigned varint, for a
    flexible version) or int32."""
    return encode_uvarint(count + 1) if flexible else _CORRELATION.pack(count)


def encode_string(value: str | None, flexible: bool) -> bytes:
    """A nullable string: compact (length + 1 as an unsigned varint, 0 for null) for a
    flexible version, else an int16 length (-1 for null)."""
    if value is None:
        return b"\x00" if flexible else _INT16.pack(-1)
    data = value.encode()
    return (encode_uvarint(len(data) + 1) if flexible else _INT16.pack(len(data))) + data


def skip_tagged_fields(buf: bytes | bytearray | memoryview, at: int) -> int:
    count, at = read_uvarint(buf, at)
    for _ in range(count):
        _, at = read_uvarint(buf, at)
        size, at = read_uvarint(buf, at)
        at += size
        if at > len(buf):
            raise MalformedRequest("tagged field runs past the end of the frame")
    return at


@functools.cache
def _reader(cls: Any) -> Callable[..., Any]:
    return entity_reader(cls)


@functools.cache
def _writer(cls: Any) -> Callable[..., Any]:
    return entity_writer(cls)


def decode_body(header: RequestHeader, frame: bytes | bytearray | memoryview, at: int) -> Any:
    """Decode the request body with kio. The caller has checked the version is known."""
    cls = schema(header.api_key, header.api_version).request_cls
    try:
        # kio's native reader takes read-only buffers; a read-only view copies nothing.
        body, _ = _reader(cls)(memoryview(frame).toreadonly(), at)
    except Exception as exc:  # kio raises a variety of errors on bad bytes
        raise MalformedRequest(f"cannot decode {cls.__name__}: {exc}") from exc
    # Bytes after the body are ignored, as Kafka ignores them: librdkafka's brokers-only
    # Metadata v12 request carries three (see tests/compat/FINDINGS.md).
    return body


@dataclass(slots=True)
class EncodedResponse:
    """A response frame a hand-written encoder made (size prefix included), as buffers to
    write in order, so that record bytes need not be copied into one frame. The first
    buffer holds the throttle_time_ms field at ``throttle_at``."""

    parts: list[bytes | bytearray | memoryview]
    throttle_at: int

    @property
    def throttle_ms(self) -> int:
        value: int = _CORRELATION.unpack_from(self.parts[0], self.throttle_at)[0]
        return value

    def set_throttle_ms(self, throttle_ms: int) -> None:
        head = self.parts[0]
        assert isinstance(head, bytearray)
        _CORRELATION.pack_into(head, self.throttle_at, throttle_ms)

    def to_bytes(self) -> bytes:
        return b"".join(self.parts)

    @classmethod
    def reissue(cls, frame: bytes, throttle_at: int, correlation_id: int) -> EncodedResponse:
        """A cached frame sent again: a fresh copy (throttling patches it in place) that
        carries this request's correlation id."""
        head = bytearray(frame)
        _CORRELATION.pack_into(head, 4, correlation_id)
        return cls([head], throttle_at)


def encode_response(header: RequestHeader, response: Any) -> bytes:
    """The full frame (size prefix included) of a response to ``header``'s request."""
    buf = io.BytesIO()
    buf.write(b"\x00\x00\x00\x00")
    buf.write(_CORRELATION.pack(header.correlation_id))
    # ApiVersions responses always use header v0, so that any client can read them (KIP-511).
    if response.__flexible__ and header.api_key != ApiKey.API_VERSIONS:
        buf.write(b"\x00")  # empty tagged fields of response header v1
    _writer(response.__class__)(buf, response)
    frame = buf.getbuffer()
    _SIZE.pack_into(frame, 0, len(frame) - 4)
    del frame
    return buf.getvalue()


def encode_request(header: RequestHeader, request: Any) -> bytes:
    """The full frame of a request; used by tests and tools that speak raw protocol."""
    buf = io.BytesIO()
    buf.write(b"\x00\x00\x00\x00")
    client_id = None if header.client_id is None else header.client_id.encode()
    buf.write(
        _HEADER_V1.pack(
            header.api_key,
            header.api_version,
            header.correlation_id,
            -1 if client_id is None else len(client_id),
        )
    )
    if client_id:
        buf.write(client_id)
    if request.__flexible__:
        buf.write(b"\x00")
    _writer(request.__class__)(buf, request)
    frame = buf.getbuffer()
    _SIZE.pack_into(frame, 0, len(frame) - 4)
    del frame
    return buf.getvalue()


def decode_response(api_key: int, api_version: int, frame: bytes) -> tuple[int, Any]:
    """(correlation_id, response) from a response frame without its size prefix."""
    (correlation_id,) = _CORRELATION.unpack_from(frame, 0)
    at = 4
    cls = schema(api_key, api_version).response_cls
    if cls.__flexible__ and api_key != ApiKey.API_VERSIONS:
        at = skip_tagged_fields(frame, at)
    body, _ = _reader(cls)(frame, at)
    return correlation_id, body
