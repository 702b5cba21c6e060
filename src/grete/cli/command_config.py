"""`--command-config FILE`: a Java properties file of Kafka client settings, as Kafka's tools
take it, turned into librdkafka settings for the CLI's clients.

The file holds what a Java client would be given (``security.protocol``, ``sasl.jaas.config``,
``ssl.truststore.location``...). librdkafka names some of them differently and reads no Java
key stores, so those are translated here; a key librdkafka knows passes through unchanged,
and librdkafka itself refuses one it does not know. Pure apart from reading the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePath

from grete.security.sasl.jaas import JaasConfig

# Java client settings librdkafka has no equivalent for and that change nothing for it.
IGNORED_KEYS = frozenset({
    "ssl.truststore.password",  # PEM trust stores have no password
    "ssl.protocol", "ssl.enabled.protocols", "ssl.keymanager.algorithm",
    "ssl.trustmanager.algorithm", "ssl.secure.random.implementation",
    "sasl.login.class", "sasl.client.callback.handler.class",
    "default.api.timeout.ms", "key.serializer", "value.serializer", "key.deserializer",
    "value.deserializer",
})  # fmt: skip
# The JAAS login modules whose username and password librdkafka takes as settings.
_LOGIN_MODULES = {
    "org.apache.kafka.common.security.scram.ScramLoginModule",
    "org.apache.kafka.common.security.plain.PlainLoginModule",
}
# Store types by file name when ssl.*store.type is absent; anything else is Kafka's JKS.
_TYPE_BY_SUFFIX = {".pem": "PEM", ".crt": "PEM", ".cer": "PEM", ".p12": "PKCS12", ".pfx": "PKCS12"}
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)")


class CommandConfigError(ValueError):
    """The file cannot be used; the message says where and why, in one line."""


def load_settings(path: Path) -> dict[str, str]:
    """The librdkafka settings of the Java client properties in `path`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandConfigError(f"cannot read {path}: {exc}") from exc
    return translate(parse_properties(text))


def parse_properties(text: str) -> dict[str, str]:
    """`key=value` or `key: value` lines as java.util.Properties reads them: `#` and `!`
    comment lines, a trailing backslash continues a line, backslash escapes (`\\=`, `\\t`,
    `\\uXXXX`), a repeated key keeps its last value. Stricter than Java in two ways: a line
    needs an `=` or `:` separator, and trailing blanks are not part of the value."""
    properties: dict[str, str] = {}
    for number, line in _logical_lines(text):
        key, value = _split(line)
        if key is None:
            raise CommandConfigError(f"line {number}: expected key=value, got {line.strip()!r}")
        properties[_unescape(key)] = _unescape(value.rstrip())
    return properties


def translate(java: Mapping[str, str]) -> dict[str, str]:
    """librdkafka settings for Java client settings (see the module docstring)."""
    settings: dict[str, str] = {}
    for key, value in java.items():
        if key in IGNORED_KEYS or key.startswith(("ssl.truststore.", "ssl.keystore.")):
            continue
        if key == "sasl.jaas.config":
            settings.update(_jaas_credentials(value))
        elif key == "ssl.endpoint.identification.algorithm":
            settings[key] = value.strip().lower() or "none"
        else:
            settings[key] = value
    settings.update(_truststore(java))
    settings.update(_keystore(java))
    return settings


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, line) with comments and blank lines dropped, continuations joined."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.lstrip() if pending else raw
        if not pending:
            stripped = line.lstrip()
            if not stripped or stripped[0] in "#!":
                continue
            start, line = number, stripped
        trailing = len(line) - len(line.rstrip("\\"))
        if trailing % 2:  # an odd count: the last backslash continues the line
            pending.append(line[:-1])
            continue
        pending.append(line)
        yield start, "".join(pending)
        pending = []
    if pending:
        yield start, "".join(pending)


def _split(line: str) -> tuple[str | None, str]:
    """Key and raw value at the first unescaped '=' or ':'; (None, line) without one."""
    escaped = False
    for at, char in enumerate(line):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in "=:":
            key = line[:at].strip()
            return (key or None), line[at + 1 :].lstrip()
    return None, line


def _unescape(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        escape = match[1]
        if len(escape) == 5:
            return chr(int(escape[1:], 16))
        return _ESCAPES.get(escape, escape)

    return _ESCAPE.sub(replace, text)


def _jaas_credentials(text: str) -> dict[str, str]:
    try:
        jaas = JaasConfig.parse(text)
    except ValueError as exc:
        raise CommandConfigError(f"sasl.jaas.config: {exc}") from exc
    if jaas.login_module not in _LOGIN_MODULES:
        raise CommandConfigError(
            f"sasl.jaas.config: login module {jaas.login_module} is not supported "
            "(use ScramLoginModule or PlainLoginModule)"
        )
    missing = [k for k in ("username", "password") if k not in jaas.options]
    if missing:
        raise CommandConfigError(f"sasl.jaas.config: no {' or '.join(missing)}")
    return {"sasl.username": jaas.options["username"], "sasl.password": jaas.options["password"]}


def _store_type(java: Mapping[str, str], store: str) -> str:
    """PEM, PKCS12 or JKS: ssl.<store>.type, else guessed from the file name."""
    given = java.get(f"ssl.{store}.type", "").strip().upper()
    if given:
        return given
    location = java.get(f"ssl.{store}.location", "")
    return _TYPE_BY_SUFFIX.get(PurePath(location).suffix.lower(), "JKS")


def _truststore(java: Mapping[str, str]) -> dict[str, str]:
    if "ssl.truststore.certificates" in java:
        return {"ssl.ca.pem": java["ssl.truststore.certificates"]}
    location = java.get("ssl.truststore.location")
    if not location:
        return {}
    kind = _store_type(java, "truststore")
    if kind != "PEM":
        raise CommandConfigError(
            f"ssl.truststore.location: a {kind} trust store cannot be used here (librdkafka "
            "reads PEM only): give a PEM file of CA certificates and ssl.truststore.type=PEM"
        )
    return {"ssl.ca.location": location}


def _keystore(java: Mapping[str, str]) -> dict[str, str]:
    chain, key = java.get("ssl.keystore.certificate.chain"), java.get("ssl.keystore.key")
    if chain and key:
        return {"ssl.certificate.pem": chain, "ssl.key.pem": key}
    location = java.get("ssl.keystore.location")
    if not location:
        return {}
    kind = _store_type(java, "keystore")
    if kind == "PEM":  # one file with the certificate chain and the private key
        return {"ssl.certificate.location": location, "ssl.key.location": location}
    if kind == "PKCS12":
        settings = {"ssl.keystore.location": location}
        if "ssl.keystore.password" in java:
            settings["ssl.keystore.password"] = java["ssl.keystore.password"]
        return settings
    raise CommandConfigError(
        f"ssl.keystore.location: a {kind} key store cannot be used here (librdkafka reads "
        "PEM and PKCS12): give a PEM file with ssl.keystore.type=PEM"
    )
