import pytest

from grete.protocol import (
    ApiKey,
    MalformedRequest,
    RequestHeader,
    decode_body,
    parse_header,
    schema,
)
from grete.protocol.codec import encode_request
from grete.protocol.produce_request import decode_produce_request
from grete.protocol.schema import build


def kio_request(version: int, txn: str | None = None) -> object:
    module = __import__(schema(ApiKey.PRODUCE, version).request_cls.__module__, fromlist=["x"])
    topics = [
        build(module.TopicProduceData, {"name": f"topic-{t}", "partition_data": [
            build(module.PartitionProduceData, {"index": p, "records": None if p == 2 else bytes([t, p]) * (p * 40 + 1)})
            for p in range(3)
        ]})
        for t in range(2)
    ]
    return build(schema(ApiKey.PRODUCE, version).request_cls,
                 {"transactional_id": txn, "acks": -1, "timeout": 1500, "topic_data": topics})


@pytest.mark.parametrize("version", range(3, 12))
@pytest.mark.parametrize("txn", [None, "txn-ä"])
def test_decodes_what_kio_decodes(version: int, txn: str | None) -> None:
    frame = bytearray(encode_request(RequestHeader(0, version, 9, "c"), kio_request(version, txn))[4:])
    header, at = parse_header(frame)
    expected = decode_body(header, frame, at)
    got = decode_produce_request(frame, at, version)
    assert got.transactional_id == expected.transactional_id
    assert got.acks == expected.acks and got.timeout_ms == 1500
    assert [t.name for t in got.topic_data] == [t.name for t in expected.topic_data]
    for gt, et in zip(got.topic_data, expected.topic_data):
        for gp, ep in zip(gt.partition_data, et.partition_data):
            assert gp.index == ep.index
            assert (None if gp.records is None else bytes(gp.records)) == ep.records


def test_records_are_writable_views_into_the_frame() -> None:
    frame = bytearray(encode_request(RequestHeader(0, 9, 9, "c"), kio_request(9))[4:])
    _, at = parse_header(frame)
    records = decode_produce_request(frame, at, 9).topic_data[0].partition_data[1].records
    assert records is not None
    records[0] = 0xAB
    assert 0xAB in frame


@pytest.mark.parametrize("version", [3, 9])
def test_truncated_or_padded_requests_are_malformed(version: int) -> None:
    frame = bytearray(encode_request(RequestHeader(0, version, 9, "c"), kio_request(version))[4:])
    _, at = parse_header(frame)
    for cut in range(at, len(frame) - 1, 7):
        with pytest.raises(MalformedRequest):
            decode_produce_request(frame[:cut], at, version)
