"""Frames ↔ kio entities. The only package that imports kio."""

from grete.protocol.apis import AUTHORIZED_OPERATIONS_OMITTED, ApiKey
from grete.protocol.codec import (
    EncodedResponse,
    MalformedRequest,
    RequestHeader,
    UnknownApiKey,
    decode_body,
    encode_response,
    parse_header,
)
from grete.protocol.errors import ErrorCode
from grete.protocol.schema import Schema, error_response, kio_supports, schema, to_millis

__all__ = [
    "AUTHORIZED_OPERATIONS_OMITTED",
    "ApiKey",
    "EncodedResponse",
    "ErrorCode",
    "MalformedRequest",
    "RequestHeader",
    "Schema",
    "UnknownApiKey",
    "decode_body",
    "encode_response",
    "error_response",
    "kio_supports",
    "parse_header",
    "schema",
    "to_millis",
]
