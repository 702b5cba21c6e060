"""Listener addresses (`NAME://host:port`) and the listener security protocol map.

Pure parsing; ValueError carries a short reason naming the offending item.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
DEFAULT_PROTOCOL_MAP = (
    "SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT"
)
# Addresses a client cannot connect to, so they may be bound but never advertised.
NONROUTABLE = ("0.0.0.0", "::")

_LISTENER_RE = re.compile(
    r"(?P<name>[A-Za-z0-9_.-]+)://(?:\[(?P<ipv6>[0-9A-Za-z:.%]*)\]|(?P<host>[0-9A-Za-z._%-]*))"
    r":(?P<port>[0-9]+)"
)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One listener: `name://host:port`. An empty host means every interface (as in Kafka)."""

    name: str
    host: str
    port: int
    security_protocol: str


def parse_protocol_map(text: str) -> dict[str, str]:
    """Parse `NAME:PROTOCOL` pairs into {LISTENER_NAME: SECURITY_PROTOCOL}, names upper-cased."""
    mapping: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",") if part.strip()):
        name, sep, protocol = item.partition(":")
        name, protocol = name.strip().upper(), protocol.strip().upper()
        if not sep or not name:
            raise ValueError(f"'{item}' is not NAME:PROTOCOL")
        if protocol not in SECURITY_PROTOCOLS:
            raise ValueError(f"unknown security protocol '{protocol}'")
        if name in mapping:
            raise ValueError(f"listener name {name} appears twice")
        mapping[name] = protocol
    return mapping


def parse_listeners(items: tuple[str, ...], protocols: Mapping[str, str]) -> list[Endpoint]:
    """Parse `NAME://host:port` items (IPv6 hosts in brackets); ValueError names the problem."""
    endpoints: list[Endpoint] = []
    for item in items:
        match = _LISTENER_RE.fullmatch(item)
        if match is None:
            raise ValueError(f"'{item}' is not NAME://host:port")
        name = match["name"].upper()
        host = match["ipv6"] if match["ipv6"] is not None else match["host"]
        port = int(match["port"])
        if port > 65535:
            raise ValueError(f"port {port} in '{item}' is out of range")
        protocol = protocols.get(name)
        if protocol is None:
            raise ValueError(f"no security protocol defined for listener {name}")
        if any(endpoint.name == name for endpoint in endpoints):
            raise ValueError(f"listener name {name} appears twice")
        endpoints.append(Endpoint(name, host, port, protocol))
    return endpoints
