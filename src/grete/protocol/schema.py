"""Version-independent construction of kio entities.

Handlers describe a response with plain Python values (ints for error codes and
milliseconds, lists for arrays) and the names of kio's entity classes. ``make``
turns that into the kio dataclass of the request's version: it drops fields the
version lacks, fills fields the caller left out with Kafka's neutral defaults,
and converts ints into kio's ErrorCode, timedelta and datetime types.

This module and codec.py are the only places that import kio.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import types
import uuid
from collections.abc import Callable
from typing import Any, cast

from kio.index import load_payload_module
from kio.schema.errors import ErrorCode
from kio.schema.index import api_key_map, schema_name_map
from kio.static.constants import EntityType

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
ZERO_UUID = uuid.UUID(int=0)

Converter = Callable[[Any], Any]


def _to_error_code(value: Any) -> ErrorCode:
    return value if isinstance(value, ErrorCode) else ErrorCode(int(value))


def _to_timedelta(value: Any) -> datetime.timedelta:
    if isinstance(value, datetime.timedelta):
        return value
    return datetime.timedelta(milliseconds=int(value))


def _to_datetime(value: Any) -> datetime.datetime | None:
    if value is None or isinstance(value, datetime.datetime):
        return value
    ms = int(value)
    if ms < 0:
        return None
    return _EPOCH + datetime.timedelta(milliseconds=ms)


def to_millis(value: Any) -> int:
    """Milliseconds from a kio timedelta field (or an int already in milliseconds)."""
    if isinstance(value, datetime.timedelta):
        return int(value.total_seconds() * 1000)
    return int(value)


def _identity(value: Any) -> Any:
    return value


def _to_tuple(value: Any) -> Any:
    return value if isinstance(value, tuple) or value is None else tuple(value)


_CONVERTERS: dict[str, Converter] = {
    "error_code": _to_error_code,
    "timedelta_i32": _to_timedelta,
    "timedelta_i64": _to_timedelta,
    "datetime_i64": _to_datetime,
}


def _neutral_default(field: dataclasses.Field[Any]) -> Any:
    """Kafka's neutral value for a field the handler did not set."""
    kafka_type = field.metadata.get("kafka_type")
    if kafka_type is None:  # an array of entities or primitives, or a nested entity
        return () if "tuple[" in str(field.type) else None
    if kafka_type == "error_code":
        return ErrorCode.none
    if kafka_type in ("timedelta_i32", "timedelta_i64"):
        return datetime.timedelta(0)
    if kafka_type == "datetime_i64":
        return None
    if kafka_type == "bool":
        return False
    if kafka_type == "string":
        return ""
    if kafka_type in ("bytes", "records"):
        return None
    if kafka_type == "uuid":
        return ZERO_UUID
    return 0


@dataclasses.dataclass(frozen=True, slots=True)
class _FieldPlan:
    name: str
    convert: Converter
    required: bool
    default: Any


@functools.cache
def _plan(cls: type) -> tuple[_FieldPlan, ...]:
    plans = []
    for field in dataclasses.fields(cls):
        kafka_type = field.metadata.get("kafka_type")
        if kafka_type:
            convert = _CONVERTERS.get(kafka_type, _identity)
        else:  # an array (of entities or primitives), or a single nested entity
            convert = _to_tuple if "tuple[" in str(field.type) else _identity
        required = (
            field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        )
        plans.append(_FieldPlan(field.name, convert, required, _neutral_default(field)))
    return tuple(plans)


def build(cls: type, values: dict[str, Any]) -> Any:
    """Instantiate kio entity ``cls`` from ``values``, adapting to its version."""
    kwargs: dict[str, Any] = {}
    for plan in _plan(cls):
        if plan.name in values:
            kwargs[plan.name] = plan.convert(values[plan.name])
        elif plan.required:
            kwargs[plan.name] = plan.default
    return cls(**kwargs)


def has_field(cls: type, name: str) -> bool:
    return any(plan.name == name for plan in _plan(cls))


class Schema:
    """The kio classes of one API at one version.

    ``response(**fields)`` builds the top-level response; ``make("ClassName", **fields)``
    builds a nested entity of the response, by kio's class name.
    """

    __slots__ = ("_module", "api_key", "request_cls", "response_cls", "version")

    def __init__(self, api_key: int, version: int) -> None:
        self.api_key = api_key
        self.version = version
        request_module = load_payload_module(api_key, version, EntityType.request)
        self._module: types.ModuleType = load_payload_module(api_key, version, EntityType.response)
        self.request_cls: Any = _top_level(request_module, EntityType.request)
        self.response_cls: Any = _top_level(self._module, EntityType.response)

    def response(self, /, **values: Any) -> Any:
        return build(self.response_cls, values)

    def make(self, cls_name: str, /, **values: Any) -> Any:
        return build(getattr(self._module, cls_name), values)

    def response_has(self, name: str) -> bool:
        return has_field(self.response_cls, name)

    def nested_has(self, cls_name: str, name: str) -> bool:
        return has_field(getattr(self._module, cls_name), name)


def _top_level(module: types.ModuleType, kind: EntityType) -> type:
    for value in vars(module).values():
        if (isinstance(value, type) and getattr(value, "__type__", None) == kind
                and value.__module__ == module.__name__):
            return value
    raise LookupError(f"no {kind.name} entity in {module.__name__}")


@functools.cache
def schema(api_key: int, version: int) -> Schema:
    """The kio classes of ``api_key`` at ``version``; raises LookupError if kio lacks them."""
    try:
        return Schema(api_key, version)
    except LookupError:
        raise
    except Exception as exc:  # kio's UnknownAPIKey / UnknownEntity / import errors
        raise LookupError(f"kio has no schema for api {api_key} v{version}") from exc


def kio_supports(api_key: int, version: int) -> bool:
    """Whether kio has both payloads of ``api_key`` at ``version``, from kio's index:
    without importing their modules (importing every version of every API cost about
    1 s of start-up; a module is imported at its first use)."""
    entities = schema_name_map.get(api_key_map.get(api_key, ""), {}).get(version, {})
    return EntityType.request in entities and EntityType.response in entities


def error_response(api_key: int, version: int, error_code: int) -> Any:
    """A response of the right version with every top-level field neutral and the
    top-level error code (where the version has one) set to ``error_code``."""
    s = schema(api_key, version)
    values: dict[str, Any] = {}
    if s.response_has("error_code"):
        values["error_code"] = error_code
    return cast(Any, s.response(**values))
