"""A minimal Kafka client over a raw socket, to send requests no real client would send."""

from __future__ import annotations

import itertools
import socket
import struct
from typing import Any, Self

from harness.wire import recv_exactly_view

from grete.protocol import RequestHeader, schema
from grete.protocol.codec import decode_response, encode_request
from grete.protocol.schema import build


class RawKafka:
    def __init__(self, bootstrap: str, timeout: float = 10.0) -> None:
        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self._ids = itertools.count(1)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_frame(self) -> bytes:
        return bytes(self.read_frame_view())

    def read_frame_view(self) -> memoryview:
        """The next frame without its size prefix, read into one buffer with no copy but
        the kernel's (a benchmark's fetch loop); read-only, as the decoders take it."""
        (size,) = struct.unpack(">i", recv_exactly_view(self.sock, 4))
        return recv_exactly_view(self.sock, size).toreadonly()

    def is_closed_by_peer(self, timeout: float = 5.0) -> bool:
        """True once the broker has closed the connection (EOF or reset) within ``timeout``."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False

    def request(self, api_key: int, version: int, **fields: Any) -> Any:
        correlation, frame = self.encode(api_key, version, **fields)
        self.send_raw(frame)
        return self.response(api_key, version, correlation)

    def encode(self, api_key: int, version: int, **fields: Any) -> tuple[int, bytes]:
        """(correlation id, the request's whole frame with its size prefix), not sent yet."""
        body = build(schema(api_key, version).request_cls, fields)
        correlation = next(self._ids)
        return correlation, encode_request(
            RequestHeader(api_key, version, correlation, "raw-test"), body
        )

    def response(self, api_key: int, version: int, correlation: int) -> Any:
        """Read the response to the request sent with ``correlation``."""
        got, response = decode_response(api_key, version, self.read_frame())
        assert got == correlation
        return response

    def make(self, api_key: int, version: int, cls_name: str, **fields: Any) -> Any:
        """A nested request entity, e.g. make(0, 9, "TopicProduceData", ...)."""
        module = __import__(schema(api_key, version).request_cls.__module__, fromlist=[cls_name])
        return build(getattr(module, cls_name), fields)
