"""The handler registry: each API module declares its key and version range here.

ApiVersions is built from this registry, so what we advertise cannot drift from
what we implement. Versions are clamped to those kio can encode.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from grete.protocol import ApiKey, kio_supports

if TYPE_CHECKING:
    from grete.handlers.context import RequestContext

HandleFn = Callable[["RequestContext", Any], Awaitable[Any]]
# A hand-written body decoder for a hot path: (frame, body offset, version) -> request.
DecodeFn = Callable[[bytearray, int, int], Any]
# Answers an advertised but unimplemented old version: (frame, header) -> response frame.
LegacyErrorFn = Callable[[bytearray, Any], bytes]


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    api_key: ApiKey
    min_version: int
    max_version: int
    handle: HandleFn
    decoder: DecodeFn | None = None  # None: kio decodes the body
    # Versions advertised below min_version, each answered by ``legacy_error`` with
    # UNSUPPORTED_VERSION (Produce v0-v2, for librdkafka < 2.11: see handlers/produce.py).
    advertised_min: int | None = None
    legacy_error: LegacyErrorFn | None = None

    @property
    def advertised_min_version(self) -> int:
        return self.min_version if self.advertised_min is None else self.advertised_min

    def supports(self, version: int) -> bool:
        return self.min_version <= version <= self.max_version


REGISTRY: dict[int, HandlerSpec] = {}


def handles(
    api_key: ApiKey,
    min_version: int,
    max_version: int,
    *,
    decoder: DecodeFn | None = None,
    advertised_min: int | None = None,
    legacy_error: LegacyErrorFn | None = None,
) -> Callable[[HandleFn], HandleFn]:
    """Register ``fn`` as the handler of ``api_key`` for the given inclusive version range."""
    supported = [v for v in range(min_version, max_version + 1) if kio_supports(api_key, v)]
    if not supported:
        raise ValueError(f"kio encodes no version of {api_key.name} in [{min_version}, {max_version}]")

    def register(fn: HandleFn) -> HandleFn:
        if api_key in REGISTRY:
            raise ValueError(f"{api_key.name} registered twice")
        REGISTRY[api_key] = HandlerSpec(
            api_key, min(supported), max(supported), fn, decoder, advertised_min, legacy_error
        )
        return fn

    return register
