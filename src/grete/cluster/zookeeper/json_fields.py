"""Strict reading of the JSON in a znode: every field checked for presence, type and range.

Znode data is written by other processes (other brokers, Kafka's tools, an operator with
zkCli), so a decoder must turn anything unexpected into one exception type, ZNodeFormatError,
never a KeyError or TypeError from deep inside a caller.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1

# At most 19 digits (int64), so int() never meets Python's limit on long digit strings.
_DECIMAL = re.compile(r"-?[0-9]{1,19}")


class ZNodeFormatError(ValueError):
    """A znode's data is not what Kafka writes there: not JSON, a missing field, a field of
    the wrong type or out of range, or an unsupported version."""


def encode_json(value: Mapping[str, object]) -> bytes:
    """Compact UTF-8 JSON, as Kafka's Jackson writer produces (no spaces, no NaN)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def parse_object(data: bytes, what: str) -> JsonObject:
    """Parse znode data that must be one JSON object."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ZNodeFormatError(f"{what}: data is {type(data).__name__}, not bytes")
    try:
        value = json.loads(bytes(data).decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ZNodeFormatError(f"{what}: not JSON ({exc}): {_preview(data)}") from None
    if not isinstance(value, dict):
        raise ZNodeFormatError(f"{what}: JSON {type(value).__name__}, not an object")
    return JsonObject(value, what)


def parse_decimal(text: str, what: str, low: int, high: int) -> int:
    """A base-10 integer written as a string (Kafka writes timestamps and ids that way)."""
    if not _DECIMAL.fullmatch(text):
        raise ZNodeFormatError(f"{what}: {text[:40]!r} is not a decimal integer")
    value = int(text)
    if not low <= value <= high:
        raise ZNodeFormatError(f"{what}: {value} is outside [{low}, {high}]")
    return value


def _preview(data: bytes | bytearray | memoryview) -> str:
    raw = bytes(data)
    return repr(raw[:80]) + ("..." if len(raw) > 80 else "")


class JsonObject:
    """Typed accessors over one parsed JSON object; each raises ZNodeFormatError naming the
    znode kind and the field."""

    __slots__ = ("_fields", "what")

    def __init__(self, fields: dict[str, object], what: str) -> None:
        self._fields = fields
        self.what = what

    def __contains__(self, key: str) -> bool:
        return key in self._fields

    def error(self, message: str) -> ZNodeFormatError:
        return ZNodeFormatError(f"{self.what}: {message}")

    def raw(self, key: str) -> object:
        try:
            return self._fields[key]
        except KeyError:
            raise self.error(f"field {key!r} is missing") from None

    def is_null(self, key: str) -> bool:
        """Absent or JSON null (Kafka reads either as an empty Option)."""
        return self._fields.get(key) is None

    def integer(self, key: str, low: int = INT32_MIN, high: int = INT32_MAX) -> int:
        return self.check_int(self.raw(key), key, low, high)

    def string(self, key: str) -> str:
        value = self.raw(key)
        if not isinstance(value, str):
            raise self.error(f"field {key!r} is {_kind(value)}, not a string")
        return value

    def optional_string(self, key: str) -> str | None:
        return None if self.is_null(key) else self.string(key)

    def decimal_string(self, key: str, low: int = INT64_MIN, high: int = INT64_MAX) -> int:
        return parse_decimal(self.string(key), f"{self.what}: field {key!r}", low, high)

    def int_list(self, key: str, low: int = INT32_MIN, high: int = INT32_MAX) -> tuple[int, ...]:
        return self.check_int_list(self.raw(key), key, low, high)

    def obj(self, key: str) -> JsonObject:
        return self.check_object(self.raw(key), key)

    def array(self, key: str) -> list[object]:
        value = self.raw(key)
        if not isinstance(value, list):
            raise self.error(f"field {key!r} is {_kind(value)}, not an array")
        return value

    def items(self) -> list[tuple[str, object]]:
        return list(self._fields.items())

    def check_int(self, value: object, key: str, low: int, high: int) -> int:
        # bool is an int in Python but true/false is no number in JSON.
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.error(f"field {key!r} is {_kind(value)}, not an integer")
        if not low <= value <= high:
            raise self.error(f"field {key!r} is {value}, outside [{low}, {high}]")
        return value

    def check_int_list(self, value: object, key: str, low: int, high: int) -> tuple[int, ...]:
        if not isinstance(value, list):
            raise self.error(f"field {key!r} is {_kind(value)}, not an array")
        return tuple(self.check_int(item, f"{key}[{i}]", low, high) for i, item in enumerate(value))

    def check_object(self, value: object, key: str) -> JsonObject:
        if not isinstance(value, dict):
            raise self.error(f"field {key!r} is {_kind(value)}, not an object")
        return JsonObject(value, f"{self.what}: {key}")


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if isinstance(value, list):
        return "an array"
    return "an object"
