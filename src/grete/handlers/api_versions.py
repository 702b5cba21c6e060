"""ApiVersions (v0-v4): the advertised ranges come from the handler registry."""

from __future__ import annotations

from typing import Any

from grete.handlers.context import RequestContext
from grete.handlers.registry import REGISTRY, handles
from grete.protocol import ApiKey, ErrorCode, RequestHeader, Schema, encode_response, schema


def _api_keys(s: Schema) -> list[Any]:
    return [
        s.make(
            "ApiVersion",
            api_key=spec.api_key,
            min_version=spec.advertised_min_version,
            max_version=spec.max_version,
        )
        for spec in sorted(REGISTRY.values(), key=lambda spec: spec.api_key)
    ]


@handles(ApiKey.API_VERSIONS, 0, 4)
async def handle_api_versions(ctx: RequestContext, request: Any) -> Any:
    return ctx.schema.response(error_code=ErrorCode.none, api_keys=_api_keys(ctx.schema), throttle_time=0)


def unsupported_version_response(header: RequestHeader) -> bytes:
    """KIP-511: a v0 reply with UNSUPPORTED_VERSION and our ranges, for any requested version."""
    s = schema(ApiKey.API_VERSIONS, 0)
    response = s.response(error_code=ErrorCode.unsupported_version, api_keys=_api_keys(s))
    return encode_response(header, response)
