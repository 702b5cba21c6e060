"""The one Kafka request the harness speaks itself: ApiVersions v0, over a raw socket.

Readiness checks must not depend on the client libraries under test, so the
harness frames this request by hand (request header v1, empty v0 body).
"""

from __future__ import annotations

import socket
import struct

API_VERSIONS_KEY = 18

# size:int32 | api_key:int16 | api_version:int16 | correlation_id:int32 | client_id:nullable string
_REQUEST_HEAD = struct.Struct(">ihhih")
# correlation_id:int32 | error_code:int16 | api_keys count:int32
_RESPONSE_HEAD = struct.Struct(">ihi")
# api_key:int16 | min_version:int16 | max_version:int16
_API_RANGE = struct.Struct(">hhh")

_CLIENT_ID = b"grete-harness"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picked it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    return bytes(recv_exactly_view(sock, size))


def recv_exactly_view(sock: socket.socket, size: int) -> memoryview:
    """``size`` bytes read into one buffer, with no copy but the kernel's."""
    view = memoryview(bytearray(size))
    at = 0
    while at < size:
        got = sock.recv_into(view[at:])
        if not got:
            raise ConnectionError("broker closed the connection mid-response")
        at += got
    return view


def api_versions(host: str, port: int, timeout: float = 2.0) -> dict[int, tuple[int, int]]:
    """Send ApiVersions v0 and return {api_key: (min_version, max_version)}.

    Raises OSError when the broker does not answer, ValueError when the answer is
    malformed or carries an error code.
    """
    correlation_id = 0x6E7E
    body = _CLIENT_ID
    frame = (
        _REQUEST_HEAD.pack(
            _REQUEST_HEAD.size - 4 + len(body), API_VERSIONS_KEY, 0, correlation_id, len(body)
        )
        + body
    )
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(frame)
        (size,) = struct.unpack(">i", recv_exactly(sock, 4))
        if not _RESPONSE_HEAD.size <= size <= 1 << 20:
            raise ValueError(f"ApiVersions response of implausible size {size}")
        payload = recv_exactly(sock, size)
    got_correlation, error_code, count = _RESPONSE_HEAD.unpack_from(payload)
    if got_correlation != correlation_id:
        raise ValueError(f"correlation id {got_correlation} != {correlation_id}")
    if error_code != 0:
        raise ValueError(f"ApiVersions error code {error_code}")
    if not 0 <= count <= (size - _RESPONSE_HEAD.size) // _API_RANGE.size:
        raise ValueError(f"ApiVersions response with {count} api keys does not fit {size} bytes")
    ranges: dict[int, tuple[int, int]] = {}
    for i in range(count):
        key, low, high = _API_RANGE.unpack_from(payload, _RESPONSE_HEAD.size + i * _API_RANGE.size)
        ranges[key] = (low, high)
    if API_VERSIONS_KEY not in ranges:
        raise ValueError("ApiVersions response does not list ApiVersions itself")
    return ranges
