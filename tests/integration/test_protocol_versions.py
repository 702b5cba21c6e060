"""Advertised versions, the legacy Produce versions, and FindCoordinator, over raw sockets."""

from __future__ import annotations

import struct

from grete.handlers import REGISTRY
from grete.protocol import ApiKey, ErrorCode

from .raw_kafka import RawKafka


def test_api_versions_advertises_exactly_the_registry(broker) -> None:  # type: ignore[no-untyped-def]
    with RawKafka(broker.bootstrap) as raw:
        for version in range(5):
            response = raw.request(ApiKey.API_VERSIONS, version, client_software_name="t",
                                   client_software_version="1")
            assert response.error_code == ErrorCode.none
            advertised = {k.api_key: (k.min_version, k.max_version) for k in response.api_keys}
            expected = {s.api_key: (s.advertised_min_version, s.max_version) for s in REGISTRY.values()}
            assert advertised == expected
    assert advertised[ApiKey.PRODUCE] == (0, 11)
    assert advertised[ApiKey.FIND_COORDINATOR] == (0, 4)


def test_produce_v0_to_v2_are_answered_unsupported_version(broker) -> None:  # type: ignore[no-untyped-def]
    for version in (0, 1, 2):
        topic = b"legacy"
        body = struct.pack(">hi", 1, 1000) + struct.pack(">i", 1) + struct.pack(">h", len(topic)) + topic
        body += struct.pack(">i", 2) + struct.pack(">ii", 0, 3) + b"abc" + struct.pack(">ii", 7, -1)
        header = struct.pack(">hhih", ApiKey.PRODUCE, version, 42, 1) + b"c"
        with RawKafka(broker.bootstrap) as raw:
            raw.send_raw(struct.pack(">i", len(header + body)) + header + body)
            frame = raw.read_frame()
        correlation, topics, name_len = struct.unpack_from(">iih", frame)
        assert (correlation, topics, frame[10 : 10 + name_len]) == (42, 1, topic)
        at = 10 + name_len
        (count,) = struct.unpack_from(">i", frame, at)
        entry = 14 + (8 if version >= 2 else 0)
        parts = [struct.unpack_from(">ihq", frame, at + 4 + i * entry) for i in range(count)]
        assert parts == [(0, ErrorCode.unsupported_version, -1), (7, ErrorCode.unsupported_version, -1)]
        assert len(frame) == at + 4 + count * entry + (4 if version >= 1 else 0)


def test_find_coordinator_names_this_broker_for_groups(broker) -> None:  # type: ignore[no-untyped-def]
    host, port = broker.bootstrap.split(":")
    with RawKafka(broker.bootstrap) as raw:
        for version in range(4):
            fields = {"key": "my-group"} if version == 0 else {"key": "my-group", "key_type": 0}
            response = raw.request(ApiKey.FIND_COORDINATOR, version, **fields)
            assert response.error_code == ErrorCode.none
            assert (response.node_id, response.host, response.port) == (0, host, int(port))
        response = raw.request(ApiKey.FIND_COORDINATOR, 4, key_type=0, coordinator_keys=["a", "b"])
        assert [(c.key, c.node_id, c.error_code) for c in response.coordinators] == [
            ("a", 0, ErrorCode.none), ("b", 0, ErrorCode.none)]
        response = raw.request(ApiKey.FIND_COORDINATOR, 4, key_type=1, coordinator_keys=["txn"])
        assert response.coordinators[0].error_code == ErrorCode.coordinator_not_available
        response = raw.request(ApiKey.FIND_COORDINATOR, 3, key="x", key_type=7)
        assert response.error_code == ErrorCode.invalid_request
