"""Topic-level configs: Kafka's names, types, validation, and broker-default synonyms.

A topic stores only its overrides (name -> string, as validated by `validate_topic_configs`).
Every other value comes from the broker setting Kafka names as its synonym (`segment.ms` from
`log.roll.ms`, else `log.roll.hours`), or from Kafka's default when Grete does not implement
that broker setting (the log cleaner's, for example). Pure functions; no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum

from grete.config import (
    BROKER_SETTING_NAMES,
    CLEANUP_POLICIES,
    COMPRESSION_TYPES,
    LONG_MAX,
    TIMESTAMP_TYPES,
    BrokerConfig,
    ConfigEntry,
    ConfigSource,
    ConfigSynonym,
    ConfigType,
    KafkaType,
    SettingValue,
    broker_synonyms,
    to_kafka_string,
)
from grete.storage.types import LogConfig

__all__ = [
    "TOPIC_CONFIG_NAMES",
    "AlterConfigOp",
    "ConfigEntry",
    "ConfigSource",
    "ConfigSynonym",
    "ConfigType",
    "InvalidConfig",
    "TopicConfig",
    "apply_incremental",
    "describe_topic_configs",
    "validate_topic_configs",
]


class AlterConfigOp(IntEnum):
    """IncrementalAlterConfigs operation types."""

    SET = 0
    DELETE = 1
    APPEND = 2
    SUBTRACT = 3


class InvalidConfig(ValueError):
    """An unknown topic config or a bad value; handlers answer INVALID_CONFIG with str(self)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


@dataclass(frozen=True, slots=True)
class _TopicKey:
    name: str
    kind: KafkaType
    synonyms: tuple[str, ...]  # broker settings supplying the default, highest precedence first
    default: SettingValue  # Kafka's default, used when Grete has no such broker setting
    documentation: str
    from_broker: Callable[[BrokerConfig], SettingValue] | None = None


def _key(name: str, kind: KafkaType, synonyms: tuple[str, ...], default: SettingValue,
         doc: str, from_broker: Callable[[BrokerConfig], SettingValue] | None = None) -> _TopicKey:
    return _TopicKey(name, kind, synonyms, default, doc, from_broker)


def _long(at_least: int | None = None) -> KafkaType:
    return KafkaType(ConfigType.LONG, at_least=at_least)


def _int(at_least: int) -> KafkaType:
    return KafkaType(ConfigType.INT, at_least=at_least)


_WEEK_MS = 7 * 24 * 3600 * 1000
_KEYS: tuple[_TopicKey, ...] = (
    _key("cleanup.policy", KafkaType(ConfigType.LIST, valid=CLEANUP_POLICIES),
         ("log.cleanup.policy",), ("delete",),
         "delete, compact, or both (comma-separated).", lambda b: b.cleanup_policy),
    _key("compression.type", KafkaType(ConfigType.STRING, valid=COMPRESSION_TYPES),
         ("compression.type",), "producer",
         "Codec for stored batches; producer keeps the producer's.", lambda b: b.compression_type),
    _key("delete.retention.ms", _long(0), ("log.cleaner.delete.retention.ms",), 86400000,
         "How long tombstones stay in a compacted topic.",
         lambda b: b.log_cleaner_delete_retention_ms),
    _key("file.delete.delay.ms", _long(0), ("log.segment.delete.delay.ms",), 60000,
         "Delay before a deleted segment's files are removed.",
         lambda b: b.log_segment_delete_delay_ms),
    _key("flush.messages", _long(1), ("log.flush.interval.messages",), LONG_MAX,
         "Messages appended before an fsync.", lambda b: b.log_flush_interval_messages),
    _key("flush.ms", _long(0),
         ("log.flush.interval.ms", "log.flush.scheduler.interval.ms"), LONG_MAX,
         "Most time data stays unflushed.", lambda b: b.flush_ms),
    _key("index.interval.bytes", _int(0), ("log.index.interval.bytes",), 4096,
         "Bytes between offset index entries.", lambda b: b.log_index_interval_bytes),
    _key("max.compaction.lag.ms", _long(1), ("log.cleaner.max.compaction.lag.ms",), LONG_MAX,
         "Longest a record stays uncompacted.", lambda b: b.log_cleaner_max_compaction_lag_ms),
    _key("max.message.bytes", _int(0), ("message.max.bytes",), 1048588,
         "Largest record batch accepted.", lambda b: b.message_max_bytes),
    _key("message.timestamp.after.max.ms", _long(0),
         ("log.message.timestamp.after.max.ms",), LONG_MAX,
         "How far a CreateTime timestamp may be ahead of the broker's clock."),
    _key("message.timestamp.before.max.ms", _long(0),
         ("log.message.timestamp.before.max.ms",), LONG_MAX,
         "How far a CreateTime timestamp may be behind the broker's clock."),
    _key("message.timestamp.type", KafkaType(ConfigType.STRING, valid=TIMESTAMP_TYPES),
         ("log.message.timestamp.type",), "CreateTime",
         "CreateTime keeps the producer's timestamp; LogAppendTime stamps it.",
         lambda b: b.log_message_timestamp_type),
    _key("min.cleanable.dirty.ratio", KafkaType(ConfigType.DOUBLE, at_least=0, at_most=1),
         ("log.cleaner.min.cleanable.ratio",), 0.5,
         "Share of uncompacted log that triggers compaction.",
         lambda b: b.log_cleaner_min_cleanable_ratio),
    _key("min.compaction.lag.ms", _long(0), ("log.cleaner.min.compaction.lag.ms",), 0,
         "Shortest a record stays uncompacted.", lambda b: b.log_cleaner_min_compaction_lag_ms),
    _key("min.insync.replicas", _int(1), ("min.insync.replicas",), 1,
         "In-sync replicas needed for acks=all.", lambda b: b.min_insync_replicas),
    _key("preallocate", KafkaType(ConfigType.BOOLEAN), ("log.preallocate",), False,
         "Preallocate a new segment's file."),
    _key("retention.bytes", _long(), ("log.retention.bytes",), -1,
         "Most bytes kept per partition; -1 no limit.", lambda b: b.log_retention_bytes),
    _key("retention.ms", _long(-1),
         ("log.retention.ms", "log.retention.minutes", "log.retention.hours"), _WEEK_MS,
         "Keep segments this long; -1 forever.", lambda b: b.retention_ms),
    _key("segment.bytes", _int(14), ("log.segment.bytes",), 1073741824,
         "Largest segment file.", lambda b: b.log_segment_bytes),
    _key("segment.index.bytes", _int(4), ("log.index.size.max.bytes",), 10485760,
         "Largest offset index file.", lambda b: b.log_index_size_max_bytes),
    _key("segment.jitter.ms", _long(0), ("log.roll.jitter.ms", "log.roll.jitter.hours"), 0,
         "Most jitter subtracted from segment.ms.", lambda b: b.segment_jitter_ms),
    _key("segment.ms", _long(1), ("log.roll.ms", "log.roll.hours"), _WEEK_MS,
         "Roll a segment this old.", lambda b: b.segment_ms),
    _key("unclean.leader.election.enable", KafkaType(ConfigType.BOOLEAN),
         ("unclean.leader.election.enable",), False,
         "Allow an out-of-sync replica to become leader.",
         lambda b: b.unclean_leader_election_enable),
)
_KEY_BY_NAME: dict[str, _TopicKey] = {key.name: key for key in _KEYS}
TOPIC_CONFIG_NAMES: frozenset[str] = frozenset(_KEY_BY_NAME)


def _broker_default(key: _TopicKey, broker: BrokerConfig) -> SettingValue:
    return key.from_broker(broker) if key.from_broker is not None else key.default


def _parse(key: _TopicKey, raw: str) -> SettingValue:
    try:
        return key.kind.parse(raw)
    except ValueError as err:
        raise InvalidConfig(
            key.name, f"Invalid value {raw} for configuration {key.name}: {err}"
        ) from None


def validate_topic_configs(configs: Mapping[str, str | None]) -> dict[str, str]:
    """Check topic overrides (CreateTopics, AlterConfigs) and return them normalized: trimmed,
    numbers in plain form, booleans lower-case, lists comma-joined. Raises InvalidConfig for an
    unknown name, a null or bad value, or min.compaction.lag.ms > max.compaction.lag.ms."""
    normalized: dict[str, str] = {}
    parsed: dict[str, SettingValue] = {}
    for name, raw in configs.items():
        key = _KEY_BY_NAME.get(name)
        if key is None:
            raise InvalidConfig(name, f"Unknown topic config name: {name}")
        if raw is None:
            raise InvalidConfig(name, f"Null value not supported for topic config {name}")
        parsed[name] = _parse(key, raw)
        normalized[name] = str(to_kafka_string(parsed[name]))
    min_lag = parsed.get("min.compaction.lag.ms", 0)
    max_lag = parsed.get("max.compaction.lag.ms", LONG_MAX)
    if isinstance(min_lag, int) and isinstance(max_lag, int) and min_lag > max_lag:
        raise InvalidConfig("min.compaction.lag.ms",
                            f"min.compaction.lag.ms ({min_lag}) must not exceed "
                            f"max.compaction.lag.ms ({max_lag})")
    return normalized


@dataclass(frozen=True, slots=True)
class TopicConfig:
    """A topic's effective configs: its overrides over the broker's defaults. Attribute names
    are the Kafka names with dots as underscores."""

    cleanup_policy: tuple[str, ...]
    compression_type: str
    delete_retention_ms: int
    file_delete_delay_ms: int
    flush_messages: int
    flush_ms: int
    index_interval_bytes: int
    max_compaction_lag_ms: int
    max_message_bytes: int
    message_timestamp_after_max_ms: int
    message_timestamp_before_max_ms: int
    message_timestamp_type: str
    min_cleanable_dirty_ratio: float
    min_compaction_lag_ms: int
    min_insync_replicas: int
    preallocate: bool
    retention_bytes: int
    retention_ms: int
    segment_bytes: int
    segment_index_bytes: int
    segment_jitter_ms: int
    segment_ms: int
    unclean_leader_election_enable: bool

    @classmethod
    def resolve(cls, overrides: Mapping[str, str], broker: BrokerConfig) -> TopicConfig:
        """Effective values; raises InvalidConfig if an override is unknown or invalid."""
        validate_topic_configs(overrides)
        v = _Values({
            key.name: _parse(key, overrides[key.name]) if key.name in overrides
            else _broker_default(key, broker)
            for key in _KEYS
        })
        return cls(
            cleanup_policy=v.as_list("cleanup.policy"),
            compression_type=v.as_str("compression.type"),
            delete_retention_ms=v.as_int("delete.retention.ms"),
            file_delete_delay_ms=v.as_int("file.delete.delay.ms"),
            flush_messages=v.as_int("flush.messages"),
            flush_ms=v.as_int("flush.ms"),
            index_interval_bytes=v.as_int("index.interval.bytes"),
            max_compaction_lag_ms=v.as_int("max.compaction.lag.ms"),
            max_message_bytes=v.as_int("max.message.bytes"),
            message_timestamp_after_max_ms=v.as_int("message.timestamp.after.max.ms"),
            message_timestamp_before_max_ms=v.as_int("message.timestamp.before.max.ms"),
            message_timestamp_type=v.as_str("message.timestamp.type"),
            min_cleanable_dirty_ratio=v.as_float("min.cleanable.dirty.ratio"),
            min_compaction_lag_ms=v.as_int("min.compaction.lag.ms"),
            min_insync_replicas=v.as_int("min.insync.replicas"),
            preallocate=v.as_bool("preallocate"),
            retention_bytes=v.as_int("retention.bytes"),
            retention_ms=v.as_int("retention.ms"),
            segment_bytes=v.as_int("segment.bytes"),
            segment_index_bytes=v.as_int("segment.index.bytes"),
            segment_jitter_ms=v.as_int("segment.jitter.ms"),
            segment_ms=v.as_int("segment.ms"),
            unclean_leader_election_enable=v.as_bool("unclean.leader.election.enable"),
        )

    @property
    def compact(self) -> bool:
        return "compact" in self.cleanup_policy

    @property
    def delete(self) -> bool:
        return "delete" in self.cleanup_policy

    def log_config(self) -> LogConfig:
        return LogConfig(
            segment_bytes=self.segment_bytes,
            segment_ms=self.segment_ms,
            segment_jitter_ms=self.segment_jitter_ms,
            segment_index_bytes=self.segment_index_bytes,
            index_interval_bytes=self.index_interval_bytes,
            flush_messages=self.flush_messages,
            flush_ms=self.flush_ms,
            max_message_bytes=self.max_message_bytes,
            retention_ms=self.retention_ms,
            retention_bytes=self.retention_bytes,
            file_delete_delay_ms=self.file_delete_delay_ms,
            cleanup_policy=self.cleanup_policy,
            delete_retention_ms=self.delete_retention_ms,
            min_cleanable_dirty_ratio=self.min_cleanable_dirty_ratio,
            min_compaction_lag_ms=self.min_compaction_lag_ms,
            max_compaction_lag_ms=self.max_compaction_lag_ms,
        )


class _Values(dict[str, SettingValue]):
    """Parsed values by Kafka name, read back with the type each key's KafkaType produces."""

    def as_int(self, name: str) -> int:
        value = self[name]
        assert isinstance(value, int) and not isinstance(value, bool), name
        return value

    def as_float(self, name: str) -> float:
        value = self[name]
        assert isinstance(value, float), name
        return value

    def as_bool(self, name: str) -> bool:
        value = self[name]
        assert isinstance(value, bool), name
        return value

    def as_str(self, name: str) -> str:
        value = self[name]
        assert isinstance(value, str), name
        return value

    def as_list(self, name: str) -> tuple[str, ...]:
        value = self[name]
        assert isinstance(value, tuple), name
        return value


def describe_topic_configs(
    overrides: Mapping[str, str],
    broker: BrokerConfig,
    *,
    include_synonyms: bool,
    include_documentation: bool,
    names: Collection[str] | None = None,
) -> list[ConfigEntry]:
    """DescribeConfigs for a TOPIC resource: every topic config (or those in `names` that
    exist), sorted by name. An override's source is DYNAMIC_TOPIC_CONFIG; otherwise the
    value is the broker's, STATIC_BROKER_CONFIG if a synonym was set, else DEFAULT_CONFIG.
    Synonyms list the override, then set broker settings, then defaults."""
    entries: list[ConfigEntry] = []
    for key in _KEYS:
        if names is not None and key.name not in names:
            continue
        broker_values = _broker_synonyms(key, broker)
        override = overrides.get(key.name)
        if override is not None:
            value: str | None = override
            source = ConfigSource.DYNAMIC_TOPIC_CONFIG
        else:
            value = to_kafka_string(_broker_default(key, broker))
            source = (ConfigSource.STATIC_BROKER_CONFIG
                      if any(s.source == ConfigSource.STATIC_BROKER_CONFIG for s in broker_values)
                      else ConfigSource.DEFAULT_CONFIG)
        synonyms: tuple[ConfigSynonym, ...] = ()
        if include_synonyms:
            own = (ConfigSynonym(key.name, override, int(ConfigSource.DYNAMIC_TOPIC_CONFIG)),)
            synonyms = (own if override is not None else ()) + broker_values
        entries.append(ConfigEntry(
            name=key.name,
            value=value,
            source=int(source),
            read_only=False,
            is_sensitive=False,
            config_type=int(key.kind.config_type),
            synonyms=synonyms,
            documentation=key.documentation if include_documentation else None,
        ))
    return entries


def _broker_synonyms(key: _TopicKey, broker: BrokerConfig) -> tuple[ConfigSynonym, ...]:
    implemented = tuple(name for name in key.synonyms if name in BROKER_SETTING_NAMES)
    if implemented:
        return broker_synonyms(broker, implemented)
    return tuple(ConfigSynonym(name, to_kafka_string(key.default), int(ConfigSource.DEFAULT_CONFIG))
                 for name in key.synonyms)


def apply_incremental(
    current: Mapping[str, str],
    ops: Sequence[tuple[str, int, str | None]],
    *,
    broker: BrokerConfig | None = None,
) -> dict[str, str]:
    """Apply IncrementalAlterConfigs operations to a topic's overrides; returns the new
    overrides, validated and normalized. APPEND and SUBTRACT work on LIST configs only
    (cleanup.policy); APPEND to an unset config starts from the broker default (Kafka's default
    when `broker` is None) and keeps items distinct. Raises InvalidConfig for an unknown name,
    an unknown or misapplied op, a null value where one is needed, or a name given twice."""
    result = dict(current)
    seen: set[str] = set()
    for name, op, value in ops:
        key = _KEY_BY_NAME.get(name)
        if key is None:
            raise InvalidConfig(name, f"Unknown topic config name: {name}")
        if name in seen:
            raise InvalidConfig(name, f"Config {name} appears more than once in the request")
        seen.add(name)
        if op == AlterConfigOp.DELETE:
            result.pop(name, None)
            continue
        if op not in tuple(AlterConfigOp):
            raise InvalidConfig(name, f"Unknown config operation {op} for {name}")
        if value is None:
            raise InvalidConfig(name, f"Null value not supported for topic config {name}")
        if op == AlterConfigOp.SET:
            result[name] = value
            continue
        if key.kind.config_type is not ConfigType.LIST:
            verb = "append" if op == AlterConfigOp.APPEND else "subtract"
            raise InvalidConfig(name, f"Config value {verb} is not allowed for config key: {name}")
        result[name] = _list_op(key, op, value, result.get(name), broker)
    return validate_topic_configs(result)


def _list_op(key: _TopicKey, op: int, value: str, current: str | None,
             broker: BrokerConfig | None) -> str:
    if current is not None:
        base = _parse(key, current)
    else:
        base = _broker_default(key, broker) if broker is not None else key.default
    items = _parse(key, value)
    assert isinstance(base, tuple) and isinstance(items, tuple)  # LIST configs parse to tuples
    if op == AlterConfigOp.APPEND:
        merged = tuple(dict.fromkeys(base + items))
    else:
        merged = tuple(item for item in base if item not in items)
    return ",".join(merged)
