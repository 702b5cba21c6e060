"""How Kafka's ConfigDef parses a setting's string, and how Kafka renders a typed value.

Parsing trims the text; INT/LONG/SHORT are base-10 integers of that width; BOOLEAN is
true/false in any case; LIST is comma-separated items. Pure functions; no I/O.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from grete.config.entries import ConfigType

LONG_MAX = 2**63 - 1

SettingValue = int | float | bool | str | tuple[str, ...]

_INT_RE = re.compile(r"[+-]?[0-9]+")
_INT_BITS = {ConfigType.SHORT: 16, ConfigType.INT: 32, ConfigType.LONG: 64}
_INT_WORDS = {ConfigType.SHORT: "a 16-bit integer", ConfigType.INT: "an integer",
              ConfigType.LONG: "an integer"}


def _fmt_number(n: float) -> str:
    return str(int(n)) if float(n).is_integer() else str(n)


@dataclass(frozen=True, slots=True)
class KafkaType:
    """How Kafka's ConfigDef parses and checks one setting: its type, range and valid values.

    `parse` raises ValueError with a short reason ("expected an integer", "must be at least 1").
    Used as pydantic field metadata, it parses strings (and re-checks typed values) before
    pydantic's own validation.
    """

    config_type: ConfigType
    at_least: float | None = None
    at_most: float | None = None
    valid: tuple[str, ...] = ()
    joined: bool = False  # a LIST kept as its normalized comma-joined text (broker settings)

    def parse(self, raw: str) -> SettingValue:
        text = raw.strip()
        kind = self.config_type
        value: SettingValue
        if kind in _INT_BITS:
            value = self._parse_int(text)
        elif kind is ConfigType.DOUBLE:
            value = self._parse_double(text)
        elif kind is ConfigType.BOOLEAN:
            if text.lower() not in ("true", "false"):
                raise ValueError("expected true or false")
            return text.lower() == "true"
        elif kind is ConfigType.LIST:
            return self._parse_list(text)
        else:
            if self.valid and text not in self.valid:
                raise ValueError(f"expected one of {', '.join(self.valid)}")
            return text
        below = self.at_least is not None and value < self.at_least
        above = self.at_most is not None and value > self.at_most
        if below or above:
            if self.at_least is not None and self.at_most is not None:
                raise ValueError(f"must be between {_fmt_number(self.at_least)} "
                                 f"and {_fmt_number(self.at_most)}")
            bound = self.at_least if below else self.at_most
            assert bound is not None
            raise ValueError(f"must be at {'least' if below else 'most'} {_fmt_number(bound)}")
        return value

    def _parse_int(self, text: str) -> int:
        if not _INT_RE.fullmatch(text):
            raise ValueError(f"expected {_INT_WORDS[self.config_type]}")
        value = int(text)
        bits = _INT_BITS[self.config_type]
        if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
            raise ValueError(f"expected a {bits}-bit integer")
        return value

    @staticmethod
    def _parse_double(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError("expected a number") from None
        if not math.isfinite(value):
            raise ValueError("expected a finite number")
        return value

    def _parse_list(self, text: str) -> tuple[str, ...]:
        items = tuple(item.strip() for item in text.split(",")) if text else ()
        if any(not item for item in items):
            raise ValueError("list items must not be empty")
        for item in items:
            if self.valid and item not in self.valid:
                raise ValueError(f"'{item}' is not one of {', '.join(self.valid)}")
        return items

    def coerce(self, value: object) -> object:
        """Parse a raw string, or re-check an already typed value; None passes through."""
        if value is None:
            return None
        text = value if isinstance(value, str) else str(to_kafka_string(value))
        parsed = self.parse(text)
        if self.joined and isinstance(parsed, tuple):
            return ",".join(parsed)
        return parsed

    def __get_pydantic_core_schema__(
        self, source_type: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(self.coerce, handler(source_type))


def to_kafka_string(value: object) -> str | None:
    """Render a typed value as Kafka shows it: true/false, comma-joined lists, plain numbers."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return ",".join(str(item) for item in value)
    if isinstance(value, float) and "e" in repr(value):
        mantissa, exponent = repr(value).split("e")  # Java's Double.toString: 1.7976931348623157E308
        return f"{mantissa if '.' in mantissa else mantissa + '.0'}E{int(exponent)}"
    return str(value)


def list_items(text: str) -> tuple[str, ...]:
    """The items of a LIST setting kept as its normalized comma-joined text (`joined=True`)."""
    return tuple(text.split(",")) if text else ()
