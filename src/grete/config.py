"""Broker settings, with Kafka's own names and defaults.

Every setting Grete implements is a field of `BrokerConfig` whose alias is Kafka's dotted name
(`log.dirs`, `num.partitions`...). `load_config` reads them from, highest precedence first:
`--override key=value` flags, a Java `.properties` file, `GRETE_*` environment variables, and
Kafka's defaults. An unknown or invalid setting raises `ConfigError`, whose text is one line
naming the setting, so `grete serve` can print it and stop.

This module also holds the DescribeConfigs vocabulary shared with topic configs: Kafka's
`ConfigType` / `ConfigSource` numbering, `ConfigEntry`, and `KafkaType`, which parses a
setting's string the way Kafka's ConfigDef does (trimmed; INT/LONG/SHORT as base-10 integers
of that width; BOOLEAN as true/false in any case; LIST as comma-separated items).
"""

from __future__ import annotations

import math
import os
import re
import socket
import uuid
from base64 import urlsafe_b64decode, urlsafe_b64encode
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Any, NamedTuple

from pydantic import Field, GetCoreSchemaHandler, ValidationError, model_validator
from pydantic_core import core_schema
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from grete.storage.types import LogConfig

LONG_MAX = 2**63 - 1
ENV_PREFIX = "GRETE_"
# GRETE_* variables read by Grete's tooling (test harness, bench), not broker settings; every
# other unknown GRETE_* variable is an error, so that a misspelt setting cannot go unnoticed.
TOOLING_ENV_VARS = frozenset({"GRETE_TEST_BROKER", "GRETE_TANSU_BIN", "GRETE_KAFKA_JAR_DIR"})

SettingValue = int | float | bool | str | tuple[str, ...]


class ConfigType(IntEnum):
    """DescribeConfigsResponse ConfigType (v3+)."""

    UNKNOWN = 0
    BOOLEAN = 1
    STRING = 2
    INT = 3
    SHORT = 4
    LONG = 5
    DOUBLE = 6
    LIST = 7
    CLASS = 8
    PASSWORD = 9


class ConfigSource(IntEnum):
    """DescribeConfigsResponse ConfigSource: where a value comes from."""

    UNKNOWN = 0
    DYNAMIC_TOPIC_CONFIG = 1
    DYNAMIC_BROKER_CONFIG = 2
    DYNAMIC_DEFAULT_BROKER_CONFIG = 3
    STATIC_BROKER_CONFIG = 4
    DEFAULT_CONFIG = 5
    DYNAMIC_BROKER_LOGGER_CONFIG = 6
    CLIENT_METRICS_CONFIG = 7
    GROUP_CONFIG = 8


class ConfigSynonym(NamedTuple):
    """A setting that supplies (or would supply) a config's value, in precedence order."""

    name: str
    value: str | None
    source: int


@dataclass(frozen=True, slots=True)
class ConfigEntry:
    """One config of a DescribeConfigs result; ints use Kafka's ConfigSource / ConfigType."""

    name: str
    value: str | None
    source: int
    read_only: bool
    is_sensitive: bool
    config_type: int
    synonyms: tuple[ConfigSynonym, ...] = ()
    documentation: str | None = None


class ConfigError(ValueError):
    """An unknown broker setting or an invalid value. `str(err)` is one line naming it."""

    def __init__(self, message: str, setting: str | None = None) -> None:
        super().__init__(message.replace("\r", " ").replace("\n", " "))
        self.setting = setting


class _SettingError(ValueError):
    """Raised inside model validation when a check spans settings; names the culprit."""

    def __init__(self, setting: str, value: object, reason: str) -> None:
        super().__init__(reason)
        self.setting = setting
        self.value = value


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
    return str(value)


# --- listeners --------------------------------------------------------------------------------

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_LISTENER_RE = re.compile(
    r"(?P<name>[A-Za-z0-9_.-]+)://(?:\[(?P<ipv6>[0-9A-Za-z:.%]*)\]|(?P<host>[0-9A-Za-z._%-]*))"
    r":(?P<port>[0-9]+)"
)
_NONROUTABLE = ("0.0.0.0", "::")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One listener: `name://host:port`. An empty host means every interface (as in Kafka)."""

    name: str
    host: str
    port: int
    security_protocol: str


def _parse_protocol_map(text: str) -> dict[str, str]:
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


# --- the settings -----------------------------------------------------------------------------

_DEFAULT_PROTOCOL_MAP = (
    "SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT"
)
COMPRESSION_TYPES = ("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")
TIMESTAMP_TYPES = ("CreateTime", "LogAppendTime")
CLEANUP_POLICIES = ("compact", "delete")

_BOOL = KafkaType(ConfigType.BOOLEAN)
_STRING = KafkaType(ConfigType.STRING)
_LIST = KafkaType(ConfigType.LIST, joined=True)
_INT = KafkaType(ConfigType.INT)
_LONG = KafkaType(ConfigType.LONG)


def _int(at_least: int) -> KafkaType:
    return KafkaType(ConfigType.INT, at_least=at_least)


def _long(at_least: int) -> KafkaType:
    return KafkaType(ConfigType.LONG, at_least=at_least)


class BrokerConfig(BaseSettings):
    """The broker's static settings; immutable once loaded.

    Attribute names are snake_case; each alias is Kafka's dotted name, and both are accepted on
    construction. Values may be given as strings (parsed as Kafka parses them) or typed values.
    `BrokerConfig()` never reads the environment: `load_config` owns the sources and their
    precedence, because unknown keys must be errors and pydantic-settings' env source ignores
    them.

    Choices where Grete differs from, or has to interpret, Kafka:
    - `broker.id`: Kafka's default -1 asks ZooKeeper for a generated id. A single Grete node
      has nothing to generate from, so unset or -1 resolves to 0. `node.id` (KRaft's name) is
      accepted as a synonym; if both are set they must be equal, as in Kafka.
    - `log.dirs` / `log.dir`: comma-separated lists as in Kafka; `log.dirs` takes `log.dir`'s
      value when unset, so `log_dirs` always holds the directory in use. Grete keeps all
      partitions in one directory for now, so more than one entry is an error.
    - LIST settings are kept as their normalized comma-joined text (Kafka's rendering);
      `listener_endpoints()`, `cleanup_policy` and `log_dir_path` give the parsed forms.
    - `offsets.topic.replication.factor`: Kafka's default is 3, which a single node can never
      satisfy (Kafka's own single-broker server.properties sets 1). Grete defaults to 1.
    - `advertised.listeners`: when unset, the listeners are advertised. A listener with an
      empty host is advertised as `socket.gethostname()` (Kafka uses the canonical host name,
      which needs a DNS lookup). Advertising 0.0.0.0 or :: is an error, as in Kafka.
    - `log.roll.ms`, `log.roll.jitter.ms`, `log.flush.interval.ms` carry the ranges of their
      topic-level counterparts (segment.ms >= 1, the others >= 0); Kafka leaves them unchecked.
    - `log.segment.bytes` must be at least 14 (Kafka 3.x; Kafka 4 raised it to 1 MiB), so tests
      can roll small segments.
    - `cluster.id` is not a Kafka broker setting (Kafka keeps it in meta.properties); when set it
      must be a Kafka cluster id: a UUID in URL-safe base64 without padding (22 characters).
    """

    model_config = SettingsConfigDict(
        frozen=True, extra="forbid", validate_by_name=True, validate_by_alias=True
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)

    # identity and listeners
    broker_id: Annotated[int, _int(-1)] = Field(
        default=0, alias="broker.id", description="This broker's id; -1 or unset means 0.")
    node_id: Annotated[int | None, _int(0)] = Field(
        default=None, alias="node.id",
        description="KRaft name for broker.id; must match it if both set.")
    cluster_id: Annotated[str | None, _STRING] = Field(
        default=None, alias="cluster.id",
        description="Cluster id (22-char URL-safe base64 UUID); generated and stored if unset.")
    listeners: Annotated[str, _LIST] = Field(
        default="PLAINTEXT://:9092", alias="listeners",
        description="Comma-separated NAME://host:port addresses to listen on.")
    advertised_listeners: Annotated[str | None, _LIST] = Field(
        default=None, alias="advertised.listeners",
        description="Addresses given to clients; the listeners when unset.")
    listener_security_protocol_map: Annotated[str, _STRING] = Field(
        default=_DEFAULT_PROTOCOL_MAP, alias="listener.security.protocol.map",
        description="Comma-separated LISTENER_NAME:SECURITY_PROTOCOL pairs.")

    # network
    socket_request_max_bytes: Annotated[int, _int(1)] = Field(
        default=104857600, alias="socket.request.max.bytes",
        description="Largest request accepted.")
    connections_max_idle_ms: Annotated[int, _LONG] = Field(
        default=600000, alias="connections.max.idle.ms",
        description="Idle connections close after this.")
    queued_max_requests: Annotated[int, _int(1)] = Field(
        default=500, alias="queued.max.requests",
        description="Requests queued per broker before connections stop being read.")

    # topics
    num_partitions: Annotated[int, _int(1)] = Field(
        default=1, alias="num.partitions", description="Partitions of an auto-created topic.")
    default_replication_factor: Annotated[int, _INT] = Field(
        default=1, alias="default.replication.factor",
        description="Replication factor of an auto-created topic.")
    auto_create_topics_enable: Annotated[bool, _BOOL] = Field(
        default=True, alias="auto.create.topics.enable",
        description="Create a topic when metadata is requested for an unknown one.")
    delete_topic_enable: Annotated[bool, _BOOL] = Field(
        default=True, alias="delete.topic.enable", description="Allow DeleteTopics.")
    min_insync_replicas: Annotated[int, _int(1)] = Field(
        default=1, alias="min.insync.replicas", description="In-sync replicas needed for acks=all.")
    unclean_leader_election_enable: Annotated[bool, _BOOL] = Field(
        default=False, alias="unclean.leader.election.enable",
        description="Allow an out-of-sync replica to become leader.")
    compression_type: Annotated[str, KafkaType(ConfigType.STRING, valid=COMPRESSION_TYPES)] = Field(
        default="producer", alias="compression.type",
        description="Codec for stored batches; producer keeps the producer's.")
    message_max_bytes: Annotated[int, _int(0)] = Field(
        default=1048588, alias="message.max.bytes", description="Largest record batch accepted.")
    fetch_max_bytes: Annotated[int, _int(1024)] = Field(
        default=57671680, alias="fetch.max.bytes", description="Most bytes returned by one fetch.")
    max_incremental_fetch_session_cache_slots: Annotated[int, _int(0)] = Field(
        default=1000, alias="max.incremental.fetch.session.cache.slots",
        description="Incremental fetch sessions kept.")

    # log
    log_dirs: Annotated[str, _LIST] = Field(
        default="/tmp/kafka-logs", alias="log.dirs",
        description="Directory holding the log data; log.dir if unset.")
    log_dir: Annotated[str, _LIST] = Field(
        default="/tmp/kafka-logs", alias="log.dir", description="Directory holding the log data.")
    log_segment_bytes: Annotated[int, _int(14)] = Field(
        default=1073741824, alias="log.segment.bytes", description="Largest segment file.")
    log_roll_ms: Annotated[int | None, _long(1)] = Field(
        default=None, alias="log.roll.ms",
        description="Roll a segment this old; log.roll.hours if unset.")
    log_roll_hours: Annotated[int, _int(1)] = Field(
        default=168, alias="log.roll.hours", description="Roll a segment this old, in hours.")
    log_roll_jitter_ms: Annotated[int | None, _long(0)] = Field(
        default=None, alias="log.roll.jitter.ms",
        description="Most jitter subtracted from the roll time; log.roll.jitter.hours if unset.")
    log_roll_jitter_hours: Annotated[int, _int(0)] = Field(
        default=0, alias="log.roll.jitter.hours", description="Roll jitter, in hours.")
    log_index_interval_bytes: Annotated[int, _int(0)] = Field(
        default=4096, alias="log.index.interval.bytes",
        description="Bytes between offset index entries.")
    log_index_size_max_bytes: Annotated[int, _int(4)] = Field(
        default=10485760, alias="log.index.size.max.bytes",
        description="Largest offset index file.")
    log_flush_interval_messages: Annotated[int, _long(1)] = Field(
        default=LONG_MAX, alias="log.flush.interval.messages",
        description="Messages appended before an fsync.")
    log_flush_interval_ms: Annotated[int | None, _long(0)] = Field(
        default=None, alias="log.flush.interval.ms",
        description="Most time data stays unflushed; log.flush.scheduler.interval.ms if unset.")
    log_flush_scheduler_interval_ms: Annotated[int, _LONG] = Field(
        default=LONG_MAX, alias="log.flush.scheduler.interval.ms",
        description="How often logs are checked for a needed flush.")
    log_flush_offset_checkpoint_interval_ms: Annotated[int, _int(0)] = Field(
        default=60000, alias="log.flush.offset.checkpoint.interval.ms",
        description="How often the recovery point checkpoint is written.")
    log_flush_start_offset_checkpoint_interval_ms: Annotated[int, _int(0)] = Field(
        default=60000, alias="log.flush.start.offset.checkpoint.interval.ms",
        description="How often the log start offset checkpoint is written.")
    log_message_timestamp_type: Annotated[
        str, KafkaType(ConfigType.STRING, valid=TIMESTAMP_TYPES)
    ] = Field(default="CreateTime", alias="log.message.timestamp.type",
              description="CreateTime keeps the producer's timestamp; LogAppendTime stamps it.")
    log_cleanup_policy: Annotated[
        str, KafkaType(ConfigType.LIST, valid=CLEANUP_POLICIES, joined=True)
    ] = Field(default="delete", alias="log.cleanup.policy", description="delete, compact, or both.")
    log_retention_hours: Annotated[int, _INT] = Field(
        default=168, alias="log.retention.hours", description="Keep segments this long, in hours.")
    log_retention_minutes: Annotated[int | None, _INT] = Field(
        default=None, alias="log.retention.minutes",
        description="Keep segments this long, in minutes; log.retention.hours if unset.")
    log_retention_ms: Annotated[int | None, _LONG] = Field(
        default=None, alias="log.retention.ms",
        description="Keep segments this long; log.retention.minutes if unset; -1 forever.")
    log_retention_bytes: Annotated[int, _LONG] = Field(
        default=-1, alias="log.retention.bytes",
        description="Most bytes kept per partition; -1 no limit.")
    log_retention_check_interval_ms: Annotated[int, _long(1)] = Field(
        default=300000, alias="log.retention.check.interval.ms",
        description="How often retention is enforced.")

    # coordinators
    group_initial_rebalance_delay_ms: Annotated[int, _INT] = Field(
        default=3000, alias="group.initial.rebalance.delay.ms",
        description="Wait for more members before a new group's first rebalance.")
    offsets_topic_num_partitions: Annotated[int, _int(1)] = Field(
        default=50, alias="offsets.topic.num.partitions",
        description="Partitions of __consumer_offsets.")
    offsets_topic_replication_factor: Annotated[
        int, KafkaType(ConfigType.SHORT, at_least=1)
    ] = Field(
        default=1, alias="offsets.topic.replication.factor",
        description="Replication factor of __consumer_offsets (Kafka: 3; one node: 1).")
    offsets_retention_minutes: Annotated[int, _int(1)] = Field(
        default=10080, alias="offsets.retention.minutes",
        description="Keep an empty group's committed offsets this long.")
    transactional_id_expiration_ms: Annotated[int, _int(1)] = Field(
        default=604800000, alias="transactional.id.expiration.ms",
        description="Expire a transactional id idle this long.")
    producer_id_expiration_ms: Annotated[int, _int(1)] = Field(
        default=86400000, alias="producer.id.expiration.ms",
        description="Forget an idle producer id's state after this long.")

    @model_validator(mode="before")
    @classmethod
    def _resolve_synonyms(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        _resolve_log_dirs(data)
        broker_key = "broker.id" if "broker.id" in data else "broker_id"
        node_key = "node.id" if "node.id" in data else "node_id"
        try:
            broker = _int(-1).coerce(data.get(broker_key))
            node = _int(0).coerce(data.get(node_key))
        except ValueError:
            return data  # field validation reports it
        if isinstance(node, int):
            if isinstance(broker, int) and broker != -1 and broker != node:
                raise _SettingError("node.id", data[node_key],
                                    f"must equal broker.id ({broker}) when both are set")
            data[broker_key] = node
        elif broker == -1:
            data[broker_key] = 0
        return data

    @model_validator(mode="after")
    def _check(self) -> BrokerConfig:
        if self.cluster_id is not None and not _is_cluster_id(self.cluster_id):
            raise _SettingError("cluster.id", self.cluster_id,
                                "expected a UUID in URL-safe base64 (22 characters)")
        try:
            self.security_protocol_map()
        except ValueError as err:
            raise _SettingError("listener.security.protocol.map",
                                self.listener_security_protocol_map, str(err)) from None
        try:
            endpoints = self.listener_endpoints()
        except ValueError as err:
            raise _SettingError("listeners", self.listeners, str(err)) from None
        if not endpoints:
            raise _SettingError("listeners", "", "at least one listener is needed")
        _check_unique_ports(endpoints)
        self._check_advertised()
        return self

    def _check_advertised(self) -> None:
        setting = "advertised.listeners"
        raw = self.advertised_listeners
        try:
            advertised = self.advertised_endpoints()
        except ValueError as err:
            raise _SettingError(setting, raw, str(err)) from None
        if not advertised:
            raise _SettingError(setting, raw, "at least one listener is needed")
        names = {endpoint.name for endpoint in self.listener_endpoints()}
        for endpoint in advertised:
            if endpoint.name not in names:
                raise _SettingError(setting, raw, f"listener {endpoint.name} is not in listeners")
            if endpoint.host in _NONROUTABLE:
                raise _SettingError(setting, raw or self.listeners,
                                    f"cannot advertise the non-routable address {endpoint.host}")

    # --- derived values -----------------------------------------------------------------------

    def security_protocol_map(self) -> dict[str, str]:
        """listener.security.protocol.map as {LISTENER_NAME: SECURITY_PROTOCOL}."""
        return _parse_protocol_map(self.listener_security_protocol_map)

    def listener_endpoints(self) -> list[Endpoint]:
        """The addresses to bind, in configured order."""
        return parse_listeners(_items(self.listeners), self.security_protocol_map())

    def advertised_endpoints(self) -> list[Endpoint]:
        """The addresses given to clients (Metadata, FindCoordinator). An empty host becomes
        this machine's host name; port 0 stays 0 (the app substitutes the bound port)."""
        text = self.advertised_listeners
        endpoints = parse_listeners(_items(text if text is not None else self.listeners),
                                    self.security_protocol_map())
        hostname = socket.gethostname()
        return [Endpoint(e.name, e.host or hostname, e.port, e.security_protocol)
                for e in endpoints]

    @property
    def log_dir_path(self) -> Path:
        """The one log directory (log.dirs, which takes log.dir's value when unset)."""
        return Path(self.log_dirs)

    @property
    def cleanup_policy(self) -> tuple[str, ...]:
        """log.cleanup.policy as a tuple, the broker default for cleanup.policy."""
        return _items(self.log_cleanup_policy)

    @property
    def segment_ms(self) -> int:
        """Broker default for segment.ms: log.roll.ms, else log.roll.hours."""
        if self.log_roll_ms is not None:
            return self.log_roll_ms
        return self.log_roll_hours * 3_600_000

    @property
    def segment_jitter_ms(self) -> int:
        """Broker default for segment.jitter.ms: log.roll.jitter.ms, else the hours setting."""
        if self.log_roll_jitter_ms is not None:
            return self.log_roll_jitter_ms
        return self.log_roll_jitter_hours * 3_600_000

    @property
    def retention_ms(self) -> int:
        """Broker default for retention.ms: log.retention.ms, else minutes, else hours.
        Any negative result means no time limit and is reported as -1, as in Kafka."""
        if self.log_retention_ms is not None:
            millis = self.log_retention_ms
        elif self.log_retention_minutes is not None:
            millis = self.log_retention_minutes * 60_000
        else:
            millis = self.log_retention_hours * 3_600_000
        return -1 if millis < 0 else millis

    @property
    def flush_ms(self) -> int:
        """Broker default for flush.ms: log.flush.interval.ms, else the scheduler interval."""
        if self.log_flush_interval_ms is not None:
            return self.log_flush_interval_ms
        return self.log_flush_scheduler_interval_ms

    def log_config(self) -> LogConfig:
        """Per-log settings for a topic with no overrides."""
        return LogConfig(
            segment_bytes=self.log_segment_bytes,
            segment_ms=self.segment_ms,
            segment_jitter_ms=self.segment_jitter_ms,
            segment_index_bytes=self.log_index_size_max_bytes,
            index_interval_bytes=self.log_index_interval_bytes,
            flush_messages=self.log_flush_interval_messages,
            flush_ms=self.flush_ms,
            max_message_bytes=self.message_max_bytes,
        )

    def is_set(self, name: str) -> bool:
        """True if the Kafka setting `name` was given explicitly (by any source)."""
        return _FIELD_BY_NAME[name] in self.model_fields_set

    def kafka_value(self, name: str) -> str | None:
        """The Kafka setting `name` rendered as Kafka shows it (None when null)."""
        return to_kafka_string(getattr(self, _FIELD_BY_NAME[name]))


def _items(text: str) -> tuple[str, ...]:
    return tuple(text.split(",")) if text else ()


def _resolve_log_dirs(data: dict[str, Any]) -> None:
    """log.dirs takes log.dir's value when unset, as in Kafka; either must name one directory."""
    dirs_key = next((k for k in ("log.dirs", "log_dirs") if k in data), None)
    dir_key = next((k for k in ("log.dir", "log_dir") if k in data), None)
    if dirs_key is None and dir_key is None:
        return
    setting, key = ("log.dirs", dirs_key) if dirs_key is not None else ("log.dir", dir_key)
    assert key is not None
    try:
        text = _LIST.coerce(data[key])
    except ValueError:
        return  # field validation reports it
    if not isinstance(text, str) or len(_items(text)) != 1:
        raise _SettingError(setting, data[key], "Grete supports exactly one log directory")
    data["log_dirs" if dirs_key is None else dirs_key] = text


def _check_unique_ports(endpoints: list[Endpoint]) -> None:
    seen: dict[int, Endpoint] = {}
    for endpoint in endpoints:
        other = seen.get(endpoint.port)
        # Kafka allows one IPv4 and one IPv6 listener to share a port; port 0 is ephemeral.
        same_family = other is not None and (":" in other.host) == (":" in endpoint.host)
        if other is not None and endpoint.port != 0 and same_family:
            raise _SettingError(
                "listeners", None,
                f"listeners {other.name} and {endpoint.name} share port {endpoint.port}")
        seen[endpoint.port] = endpoint


def _is_cluster_id(text: str) -> bool:
    if not re.fullmatch(r"[A-Za-z0-9_-]{22}", text):
        return False
    return len(urlsafe_b64decode(text + "==")) == 16


def new_cluster_id() -> str:
    """A fresh cluster id in Kafka's format (a random UUID, URL-safe base64, no padding)."""
    return urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")


_FIELD_BY_NAME: dict[str, str] = {
    str(info.alias): field for field, info in BrokerConfig.model_fields.items()
}
BROKER_SETTING_NAMES: frozenset[str] = frozenset(_FIELD_BY_NAME)


def env_var_name(setting: str) -> str:
    """`log.dirs` -> `GRETE_LOG_DIRS`."""
    return ENV_PREFIX + setting.upper().replace(".", "_")


_SETTING_BY_ENV: dict[str, str] = {env_var_name(name): name for name in BROKER_SETTING_NAMES}


def _kafka_type(field: str) -> KafkaType:
    for meta in BrokerConfig.model_fields[field].metadata:
        if isinstance(meta, KafkaType):
            return meta
    raise LookupError(field)  # every field is declared with one


def broker_setting_type(name: str) -> KafkaType:
    """How the broker setting `name` is parsed and checked."""
    return _kafka_type(_FIELD_BY_NAME[name])


def broker_setting_default(name: str) -> SettingValue | None:
    """The default of broker setting `name` (Kafka's, except where BrokerConfig says why)."""
    default: SettingValue | None = BrokerConfig.model_fields[_FIELD_BY_NAME[name]].default
    return default


# --- loading ----------------------------------------------------------------------------------

def parse_properties(text: str) -> dict[str, str]:
    """Parse Java .properties text: `#`/`!` comments, `key=value`, `key: value` or `key value`,
    backslash line continuations and escapes (`\\uXXXX`, `\\t`...). Keys and values are
    trimmed; a repeated key keeps its last value."""
    props: dict[str, str] = {}
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index].lstrip(" \t\f")
        index += 1
        if not line or line[0] in "#!":
            continue
        while _continues(line):
            line = line[:-1]
            if index < len(lines):
                line += lines[index].lstrip(" \t\f")
                index += 1
        key, value = _split_key_value(line)
        props[_unescape(key).strip()] = _unescape(value).strip()
    return props


def _continues(line: str) -> bool:
    trailing = len(line) - len(line.rstrip("\\"))
    return trailing % 2 == 1


def _split_key_value(line: str) -> tuple[str, str]:
    index = 0
    while index < len(line):
        char = line[index]
        if char == "\\":
            index += 2
            continue
        if char in "=:" or char in " \t\f":
            break
        index += 1
    key, rest = line[:index], line[index:]
    rest = rest.lstrip(" \t\f")
    if rest[:1] in ("=", ":"):
        rest = rest[1:]
    return key, rest.lstrip(" \t\f")


_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char != "\\" or index + 1 == len(text):
            out.append(char)
            index += 1
            continue
        nxt = text[index + 1]
        if nxt == "u" and re.fullmatch(r"[0-9A-Fa-f]{4}", text[index + 2:index + 6]):
            out.append(chr(int(text[index + 2:index + 6], 16)))
            index += 6
            continue
        out.append(_ESCAPES.get(nxt, nxt))
        index += 2
    return "".join(out)


def parse_override(text: str) -> tuple[str, str]:
    """Split one `--override key=value` argument; ConfigError if there is no `=`."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"invalid override {text!r}: expected key=value")
    return key.strip(), value.strip()


def load_config(
    *,
    properties_file: Path | None = None,
    overrides: Mapping[str, str] = {},  # noqa: B006 - read only
    environ: Mapping[str, str] | None = None,
) -> BrokerConfig:
    """Build the broker's settings: overrides > properties file > GRETE_* env vars > defaults.

    `environ=None` reads os.environ. Raises ConfigError for an unknown key in any source
    (including an unknown GRETE_* variable), an unreadable file, or an invalid value.
    """
    merged: dict[str, str] = {}
    env = os.environ if environ is None else environ
    for var, value in env.items():
        if var.startswith(ENV_PREFIX) and var not in TOOLING_ENV_VARS:
            setting = _SETTING_BY_ENV.get(var)
            if setting is None:
                raise ConfigError(f"unknown broker setting in environment variable {var!r}", var)
            merged[setting] = value
    if properties_file is not None:
        try:
            text = Path(properties_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            raise ConfigError(
                f"cannot read properties file '{properties_file}': {reason}") from None
        file_settings = parse_properties(text)
        _reject_unknown(file_settings, f" in {properties_file}")
        merged.update(file_settings)
    _reject_unknown(overrides, "")
    merged.update({key.strip(): value for key, value in overrides.items()})
    try:
        return BrokerConfig.model_validate(merged)
    except ValidationError as err:
        raise _config_error(err) from None


def _reject_unknown(settings: Mapping[str, str], where: str) -> None:
    for key in settings:
        if key.strip() not in BROKER_SETTING_NAMES:
            raise ConfigError(f"unknown broker setting {key.strip()!r}{where}", key.strip())


def _config_error(err: ValidationError) -> ConfigError:
    first = err.errors()[0]
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, _SettingError):
        setting, value, reason = cause.setting, cause.value, str(cause)
    else:
        loc = str(first["loc"][0]) if first["loc"] else "?"
        info = BrokerConfig.model_fields.get(loc)
        setting = str(info.alias) if info is not None else loc
        value = first.get("input")
        reason = str(cause) if cause is not None else first["msg"]
    if value is None:
        return ConfigError(f"invalid setting {setting!r}: {reason}", setting)
    shown = value if isinstance(value, str) else to_kafka_string(value)
    return ConfigError(f"invalid value {shown!r} for setting {setting!r}: {reason}", setting)


def describe_broker_configs(
    cfg: BrokerConfig,
    *,
    names: Collection[str] | None = None,
    include_synonyms: bool = False,
    include_documentation: bool = False,
) -> list[ConfigEntry]:
    """DescribeConfigs for the BROKER resource: every implemented setting (or those in `names`
    that exist), sorted by name. All are read-only; the source is STATIC_BROKER_CONFIG when the
    setting was given, else DEFAULT_CONFIG."""
    entries: list[ConfigEntry] = []
    for name in sorted(BROKER_SETTING_NAMES):
        if names is not None and name not in names:
            continue
        field = _FIELD_BY_NAME[name]
        source = (ConfigSource.STATIC_BROKER_CONFIG if cfg.is_set(name)
                  else ConfigSource.DEFAULT_CONFIG)
        entries.append(ConfigEntry(
            name=name,
            value=cfg.kafka_value(name),
            source=int(source),
            read_only=True,
            is_sensitive=False,
            config_type=int(_kafka_type(field).config_type),
            synonyms=broker_synonyms(cfg, _BROKER_SYNONYMS.get(name, (name,)))
            if include_synonyms else (),
            documentation=BrokerConfig.model_fields[field].description
            if include_documentation else None,
        ))
    return entries


# Settings that stand for one another, highest precedence first (Kafka's broker synonyms).
_SYNONYM_GROUPS: tuple[tuple[str, ...], ...] = (
    ("node.id", "broker.id"),
    ("log.dirs", "log.dir"),
    ("log.roll.ms", "log.roll.hours"),
    ("log.roll.jitter.ms", "log.roll.jitter.hours"),
    ("log.retention.ms", "log.retention.minutes", "log.retention.hours"),
    ("log.flush.interval.ms", "log.flush.scheduler.interval.ms"),
)
_BROKER_SYNONYMS: dict[str, tuple[str, ...]] = {
    name: group[group.index(name):] for group in _SYNONYM_GROUPS for name in group
}


def broker_synonyms(cfg: BrokerConfig, names: tuple[str, ...]) -> tuple[ConfigSynonym, ...]:
    """The synonyms that hold a value, by precedence: those set explicitly
    (STATIC_BROKER_CONFIG), then non-null defaults (DEFAULT_CONFIG)."""
    static = [ConfigSynonym(n, cfg.kafka_value(n), int(ConfigSource.STATIC_BROKER_CONFIG))
              for n in names if cfg.is_set(n)]
    defaults = [ConfigSynonym(n, to_kafka_string(broker_setting_default(n)),
                              int(ConfigSource.DEFAULT_CONFIG))
                for n in names if broker_setting_default(n) is not None]
    return tuple(static + defaults)
