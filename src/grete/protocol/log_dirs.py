"""DescribeLogDirs with Grete's segment count per partition, as tagged fields (KIP-482).

Kafka's protocol has no segment count (Kafka shows it only as the JMX metric
NumLogSegments). From v2 on, DescribeLogDirs is flexible, so Grete adds one tagged
field to the request, ``include_segment_count``, and one to each partition of the
response, ``segment_count``. A broker answers with the second only when asked with
the first: a client that does not know the tags never receives one (kio, for one,
refuses unknown tags), and a Kafka broker ignores the request's tag, so a Grete
client then sees no count. The tag number is far above Kafka's own (which count
up from 0 per structure), so that Kafka will not reuse it.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from collections.abc import Mapping, Sequence
from types import GenericAlias
from typing import Any

from kio.serial import entity_reader
from kio.static.primitive import i32

from grete.protocol.apis import ApiKey
from grete.protocol.codec import MalformedRequest, skip_tagged_fields
from grete.protocol.schema import build, schema

GRETE_TAG = 0x4752  # "GR"
FIRST_FLEXIBLE_VERSION = 2
NO_SEGMENT_COUNT = -1


def _tagged(name: str, kafka_type: str, default: Any) -> tuple[str, Any, Any]:
    kind = bool if kafka_type == "bool" else i32
    return (
        name,
        kind,
        dataclasses.field(default=default, metadata={"kafka_type": kafka_type, "tag": GRETE_TAG}),
    )


def _subclass(base: Any, fields: list[tuple[str, Any, Any] | tuple[str, Any]]) -> Any:
    """``base`` (a kio entity) with ``fields`` added or retyped; encoded by kio as usual."""
    return dataclasses.make_dataclass(
        base.__name__, fields, bases=(base,), frozen=True, slots=True, kw_only=True
    )


def _tuple_of(entity: Any) -> Any:
    """``tuple[entity, ...]``, the annotation kio reads an array of entities from."""
    return GenericAlias(tuple, (entity, ...))


def supports_segment_count(version: int) -> bool:
    return FIRST_FLEXIBLE_VERSION <= version <= 4


@functools.cache
def request_class(version: int) -> Any:
    """DescribeLogDirsRequest at ``version`` (2-4) with ``include_segment_count``."""
    base = schema(ApiKey.DESCRIBE_LOG_DIRS, version).request_cls
    return _subclass(base, [_tagged("include_segment_count", "bool", False)])


@functools.cache
def response_classes(version: int) -> Mapping[str, Any]:
    """The response entities at ``version`` (2-4), by kio's class names, with each
    partition's ``segment_count``."""
    module = sys.modules[schema(ApiKey.DESCRIBE_LOG_DIRS, version).response_cls.__module__]
    partition = _subclass(
        module.DescribeLogDirsPartition, [_tagged("segment_count", "int32", NO_SEGMENT_COUNT)]
    )
    topic = _subclass(module.DescribeLogDirsTopic, [("partitions", _tuple_of(partition))])
    result = _subclass(module.DescribeLogDirsResult, [("topics", _tuple_of(topic))])
    response = _subclass(module.DescribeLogDirsResponse, [("results", _tuple_of(result))])
    return {
        "DescribeLogDirsPartition": partition,
        "DescribeLogDirsTopic": topic,
        "DescribeLogDirsResult": result,
        "DescribeLogDirsResponse": response,
    }


def describe_request(version: int, partitions: Mapping[str, Sequence[int]]) -> Any:
    """A DescribeLogDirs request for ``partitions`` (topic -> indexes) at ``version``,
    asking for segment counts when the version has tagged fields."""
    plain = schema(ApiKey.DESCRIBE_LOG_DIRS, version).request_cls
    module = sys.modules[plain.__module__]
    topics = [
        build(module.DescribableLogDirTopic, {"topic": topic, "partitions": list(indexes)})
        for topic, indexes in partitions.items()
    ]
    if supports_segment_count(version):
        return build(request_class(version), {"topics": topics, "include_segment_count": True})
    return build(plain, {"topics": topics})


class SegmentCountSchema:
    """Builds the extended response, as ``Schema.make`` / ``Schema.response`` build the
    plain one."""

    def __init__(self, version: int) -> None:
        self._classes = response_classes(version)

    def make(self, cls_name: str, /, **values: Any) -> Any:
        return build(self._classes[cls_name], values)

    def response(self, /, **values: Any) -> Any:
        return build(self._classes["DescribeLogDirsResponse"], values)


def decode_request(frame: bytearray, at: int, version: int) -> Any:
    """The handler registry's body decoder: the extended request from v2 on (so that the
    Grete tag is understood rather than refused), kio's own before."""
    cls = (
        request_class(version)
        if supports_segment_count(version)
        else (schema(ApiKey.DESCRIBE_LOG_DIRS, version).request_cls)
    )
    try:
        body, _ = entity_reader(cls)(memoryview(frame).toreadonly(), at)
    except Exception as exc:  # kio raises a variety of errors on bad bytes
        raise MalformedRequest(f"cannot decode {cls.__name__}: {exc}") from exc
    return body


def decode_response(frame: bytes, version: int) -> Any:
    """An extended response frame (after the size prefix) as the extended entities."""
    at = skip_tagged_fields(frame, 4)  # correlation id, then the v1 header's tags
    body, _ = entity_reader(response_classes(version)["DescribeLogDirsResponse"])(frame, at)
    return body
