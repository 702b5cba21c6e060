"""DescribeConfigs for the BROKER resource: each setting's value, source and synonyms."""

from __future__ import annotations

from collections.abc import Collection

from grete.config.broker import (
    BROKER_SETTING_NAMES,
    BrokerConfig,
    broker_setting_default,
    broker_setting_doc,
    broker_setting_type,
)
from grete.config.entries import ConfigEntry, ConfigSource, ConfigSynonym, ConfigType
from grete.config.kafka_type import to_kafka_string

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
        source = (ConfigSource.STATIC_BROKER_CONFIG if cfg.is_set(name)
                  else ConfigSource.DEFAULT_CONFIG)
        # Kafka never shows a PASSWORD setting's value (key store passwords, PEM keys).
        sensitive = broker_setting_type(name).config_type == ConfigType.PASSWORD
        entries.append(ConfigEntry(
            name=name,
            value=None if sensitive else cfg.kafka_value(name),
            source=int(source),
            read_only=True,
            is_sensitive=sensitive,
            config_type=int(broker_setting_type(name).config_type),
            synonyms=broker_synonyms(cfg, _BROKER_SYNONYMS.get(name, (name,)))
            if include_synonyms else (),
            documentation=broker_setting_doc(name) if include_documentation else None,
        ))
    return entries


def broker_synonyms(cfg: BrokerConfig, names: tuple[str, ...]) -> tuple[ConfigSynonym, ...]:
    """The synonyms that hold a value, by precedence: those set explicitly
    (STATIC_BROKER_CONFIG), then non-null defaults (DEFAULT_CONFIG)."""
    static = [ConfigSynonym(n, _shown(cfg, n), int(ConfigSource.STATIC_BROKER_CONFIG))
              for n in names if cfg.is_set(n)]
    defaults = [ConfigSynonym(n, to_kafka_string(broker_setting_default(n)),
                              int(ConfigSource.DEFAULT_CONFIG))
                for n in names if broker_setting_default(n) is not None]
    return tuple(static + defaults)


def _shown(cfg: BrokerConfig, name: str) -> str | None:
    if broker_setting_type(name).config_type == ConfigType.PASSWORD:
        return None
    return cfg.kafka_value(name)
