"""DescribeClientQuotas and AlterClientQuotas over raw requests, shared by the single-node
and the cluster suites. An entity is a tuple of (entity type, name) pairs, None the default."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from grete.protocol import ApiKey, ErrorCode

from .raw_kafka import RawKafka

ALTER = ApiKey.ALTER_CLIENT_QUOTAS
DESCRIBE = ApiKey.DESCRIBE_CLIENT_QUOTAS
EXACT, DEFAULT, SPECIFIED = 0, 1, 2
NONE = int(ErrorCode.none)
INVALID_REQUEST = int(ErrorCode.invalid_request)

Entity = tuple[tuple[str, str | None], ...]


def alter(
    raw: RawKafka,
    entries: Sequence[tuple[Entity, Mapping[str, float | None]]],
    *,
    validate_only: bool = False,
    version: int = 1,
) -> list[tuple[int, str | None, Entity]]:
    """One AlterClientQuotas request; a None value removes the key. Returns, per entry in
    the response, (error code, message, entity)."""

    def make(cls: str, **fields: Any) -> Any:
        return raw.make(ALTER, version, cls, **fields)

    request_entries = [
        make(
            "EntryData",
            entity=[make("EntityData", entity_type=t, entity_name=n) for t, n in entity],
            ops=[
                make("OpData", key=k, value=0.0 if v is None else v, remove=v is None)
                for k, v in ops.items()
            ],
        )
        for entity, ops in entries
    ]
    response = raw.request(ALTER, version, entries=request_entries, validate_only=validate_only)
    return [
        (
            int(e.error_code),
            e.error_message,
            tuple((d.entity_type, d.entity_name) for d in e.entity),
        )
        for e in response.entries
    ]


def describe_response(
    raw: RawKafka, components: Sequence[tuple[str, int, str | None]], strict: bool, version: int
) -> Any:
    def make(cls: str, **fields: Any) -> Any:
        return raw.make(DESCRIBE, version, cls, **fields)

    filters = [
        make("ComponentData", entity_type=t, match_type=m, match=s) for t, m, s in components
    ]
    return raw.request(DESCRIBE, version, components=filters, strict=strict)


def describe(
    raw: RawKafka,
    components: Sequence[tuple[str, int, str | None]] = (),
    *,
    strict: bool = False,
    version: int = 1,
) -> dict[Entity, dict[str, float]]:
    response = describe_response(raw, components, strict, version)
    assert response.error_code == ErrorCode.none, response.error_message
    return {
        tuple((d.entity_type, d.entity_name) for d in e.entity): {v.key: v.value for v in e.values}
        for e in response.entries
    }


def user(name: str | None) -> Entity:
    return (("user", name),)


def client(name: str | None) -> Entity:
    return (("client-id", name),)


def user_client(u: str | None, c: str | None) -> Entity:
    return (("user", u), ("client-id", c))


def ip(address: str | None) -> Entity:
    return (("ip", address),)
