import struct

import pytest

from grete.protocol import (
    ApiKey,
    MalformedRequest,
    RequestHeader,
    decode_body,
    encode_response,
    parse_header,
    schema,
)
from grete.protocol.codec import decode_response, encode_request
from grete.protocol.schema import build


def test_request_round_trip_flexible_and_legacy() -> None:
    for version in (0, 1, 9, 12):
        s = schema(ApiKey.METADATA, version)
        values = {"topics": ()} if version == 0 else {"topics": None, "allow_auto_topic_creation": True}
        request = build(s.request_cls, values)
        frame = encode_request(RequestHeader(3, version, 42, "client-1"), request)
        header, at = parse_header(frame[4:])
        assert header == RequestHeader(3, version, 42, "client-1")
        assert decode_body(header, frame[4:], at) == request


def test_null_client_id() -> None:
    s = schema(ApiKey.API_VERSIONS, 0)
    frame = encode_request(RequestHeader(18, 0, 1, None), s.request_cls())
    header, _ = parse_header(frame[4:])
    assert header.client_id is None


def test_truncated_header_is_malformed() -> None:
    with pytest.raises(MalformedRequest):
        parse_header(b"\x00\x03\x00")
    with pytest.raises(MalformedRequest):
        parse_header(struct.pack(">hhih", 3, 1, 1, 50) + b"abc")


def test_trailing_bytes_are_ignored_as_kafka_ignores_them() -> None:
    # librdkafka 2.x sends its brokers-only Metadata v12 request with three extra bytes.
    frame = bytes.fromhex("0003000c00000003000772646b61666b610000000000010000")
    header, at = parse_header(frame)
    request = decode_body(header, frame, at)
    assert request.topics is None


def test_api_versions_response_uses_header_v0_even_when_flexible() -> None:
    s = schema(ApiKey.API_VERSIONS, 3)
    response = s.response(error_code=0, api_keys=[s.make("ApiVersion", api_key=0, min_version=3, max_version=9)])
    frame = encode_response(RequestHeader(18, 3, 77, "c"), response)
    assert struct.unpack(">ii", frame[:8])[1] == 77
    # v0 header: the body's error code follows the correlation id directly.
    assert frame[8:10] == b"\x00\x00"
    correlation, decoded = decode_response(18, 3, frame[4:])
    assert correlation == 77 and decoded.api_keys[0].max_version == 9


def test_make_adapts_to_version_and_converts_ints() -> None:
    for version in (0, 5, 12):
        s = schema(ApiKey.METADATA, version)
        topic = s.make("MetadataResponseTopic", error_code=3, name="t", topic_id=None, is_internal=False,
                       partitions=[], topic_authorized_operations=-1)
        assert int(topic.error_code) == 3
        response = s.response(throttle_time=5, brokers=[], cluster_id="c", controller_id=0, topics=[topic])
        frame = encode_response(RequestHeader(3, version, 1, None), response)
        _, decoded = decode_response(3, version, frame[4:])
        assert decoded.topics[0].name == "t"
