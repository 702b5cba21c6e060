"""How `grete consume` prints a record: a kcat-style template, JSON Lines, or table rows.

Sans-IO: each formatter turns a record into bytes; the caller writes them.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE


class RecordLike(Protocol):
    """The parts of confluent_kafka.Message a formatter reads."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def headers(
        self,
    ) -> dict[str, str | bytes | None] | list[tuple[str, str | bytes | None]] | None: ...
    def timestamp(self) -> tuple[int, int]: ...


class RecordFormatter(Protocol):
    def header(self) -> bytes: ...
    def render(self, record: RecordLike) -> bytes: ...


Field = Callable[[RecordLike], bytes]

_ESCAPES = {"n": b"\n", "t": b"\t", "r": b"\r", "0": b"\0", "\\": b"\\"}


def _number(value: int | None) -> bytes:
    return str(-1 if value is None else value).encode()


def _length(data: bytes | None) -> bytes:
    return _number(None if data is None else len(data))


def _timestamp_ms(record: RecordLike) -> int:
    kind, timestamp = record.timestamp()
    return -1 if kind == TIMESTAMP_NOT_AVAILABLE else timestamp


def header_pairs(record: RecordLike) -> list[tuple[str, bytes | None]]:
    """The record's headers in order, values as bytes (None for a null value)."""
    headers = record.headers() or []
    pairs = headers.items() if isinstance(headers, dict) else headers
    return [(k, v.encode() if isinstance(v, str) else v) for k, v in pairs]


def _headers(record: RecordLike) -> bytes:
    parts = [
        key.encode() if value is None else key.encode() + b"=" + value
        for key, value in header_pairs(record)
    ]
    return b",".join(parts)


_FIELDS: dict[str, Field] = {
    "t": lambda r: (r.topic() or "").encode(),
    "p": lambda r: _number(r.partition()),
    "o": lambda r: _number(r.offset()),
    "k": lambda r: r.key() or b"",
    "s": lambda r: r.value() or b"",
    "K": lambda r: _length(r.key()),
    "S": lambda r: _length(r.value()),
    "T": lambda r: _number(_timestamp_ms(r)),
    "h": _headers,
}


@dataclass(frozen=True)
class Template:
    """A compiled kcat-style template: literal bytes interleaved with record fields.

    Tokens: %t topic, %p partition, %o offset, %k key, %s value, %K/%S key/value length
    (-1 when null), %T timestamp (ms), %h headers (k=v,k2=v2), %% a percent sign;
    escapes \\n \\t \\r \\0 \\\\. Key and value bytes are written as they are.
    """

    parts: tuple[bytes | Field, ...]

    def header(self) -> bytes:
        return b""

    def render(self, record: RecordLike) -> bytes:
        return b"".join(p if isinstance(p, bytes) else p(record) for p in self.parts)


def compile_template(text: str) -> Template:
    """Parse `text`; raises ValueError naming the first unknown token."""
    parts: list[bytes | Field] = []
    literal = bytearray()
    chars = iter(text)
    for char in chars:
        if char not in "%\\":
            literal += char.encode()
            continue
        token = next(chars, "")
        if char == "\\" and token in _ESCAPES:
            literal += _ESCAPES[token]
        elif char == "%" and token == "%":
            literal += b"%"
        elif char == "%" and token in _FIELDS:
            if literal:
                parts.append(bytes(literal))
                literal.clear()
            parts.append(_FIELDS[token])
        else:
            raise ValueError(f"unknown token {char + token!r} in template {text!r}")
    if literal:
        parts.append(bytes(literal))
    return Template(tuple(parts))


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", errors="backslashreplace")


class JsonLines:
    """One JSON object per record and line. Keys, values and headers are UTF-8 text
    (invalid bytes appear as backslash escapes); a null key or value is null."""

    def header(self) -> bytes:
        return b""

    def render(self, record: RecordLike) -> bytes:
        document: dict[str, Any] = {
            "topic": record.topic(),
            "partition": record.partition(),
            "offset": record.offset(),
            "timestamp": _timestamp_ms(record),
            "key": _text(record.key()),
            "value": _text(record.value()),
            "headers": [[k, _text(v)] for k, v in header_pairs(record)],
        }
        return json.dumps(document, ensure_ascii=False).encode() + b"\n"


class TableRows:
    """Aligned columns, one line per record, printed as records arrive (a stream
    cannot be measured first, so column widths are fixed and long cells overflow)."""

    _LAYOUT = "{:>9}  {:>12}  {:>13}  {:<16}  {}\n"

    def header(self) -> bytes:
        return self._LAYOUT.format("PARTITION", "OFFSET", "TIMESTAMP", "KEY", "VALUE").encode()

    def render(self, record: RecordLike) -> bytes:
        key, value = _text(record.key()), _text(record.value())
        return self._LAYOUT.format(
            record.partition(),
            record.offset(),
            _timestamp_ms(record),
            "-" if key is None else _visible(key),
            "-" if value is None else _visible(value),
        ).encode()


_CONTROL_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(32), 127)} | {
    ord("\n"): "\\n",
    ord("\t"): "\\t",
    ord("\r"): "\\r",
}


def _visible(text: str) -> str:
    """Escape control characters so that one record stays on one line."""
    return text.translate(_CONTROL_ESCAPES)


def formatter_for(spec: str) -> RecordFormatter:
    """`json` and `table` select structured output; anything else is a template."""
    if spec == "json":
        return JsonLines()
    if spec == "table":
        return TableRows()
    return compile_template(spec)
