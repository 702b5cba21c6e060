"""Broker settings, with Kafka's own names and defaults.

Every setting Grete implements is a field of `BrokerConfig` whose alias is Kafka's dotted name
(`log.dirs`, `num.partitions`...). `load_config` reads them from, highest precedence first:
`--override key=value` flags, a Java `.properties` file, `GRETE_*` environment variables, and
Kafka's defaults. An unknown or invalid setting raises `ConfigError`, whose text is one line
naming the setting, so `grete serve` can print it and stop.

The package also holds the DescribeConfigs vocabulary shared with topic configs: Kafka's
`ConfigType` / `ConfigSource` numbering, `ConfigEntry`, and `KafkaType`, which parses a
setting's string the way Kafka's ConfigDef does.

Modules: `entries` (DescribeConfigs types), `kafka_type` (ConfigDef parsing), `listeners`,
`broker` (BrokerConfig), `validation` (cross-setting checks), `describe` (DescribeConfigs for
the broker), `properties` (.properties parsing), `loading` (sources, precedence, ConfigError).
"""

from grete.config.broker import (
    BROKER_SETTING_NAMES,
    CLEANUP_POLICIES,
    COMPRESSION_TYPES,
    TIMESTAMP_TYPES,
    BrokerConfig,
    broker_setting_default,
    broker_setting_type,
)
from grete.config.describe import broker_synonyms, describe_broker_configs
from grete.config.entries import ConfigEntry, ConfigSource, ConfigSynonym, ConfigType
from grete.config.kafka_type import LONG_MAX, KafkaType, SettingValue, to_kafka_string
from grete.config.listeners import SECURITY_PROTOCOLS, Endpoint, parse_listeners
from grete.config.loading import (
    ENV_PREFIX,
    TOOLING_ENV_VARS,
    ConfigError,
    env_var_name,
    load_config,
    parse_override,
)
from grete.config.properties import parse_properties
from grete.config.validation import new_cluster_id

__all__ = [
    "BROKER_SETTING_NAMES",
    "CLEANUP_POLICIES",
    "COMPRESSION_TYPES",
    "ENV_PREFIX",
    "LONG_MAX",
    "SECURITY_PROTOCOLS",
    "TIMESTAMP_TYPES",
    "TOOLING_ENV_VARS",
    "BrokerConfig",
    "ConfigEntry",
    "ConfigError",
    "ConfigSource",
    "ConfigSynonym",
    "ConfigType",
    "Endpoint",
    "KafkaType",
    "SettingValue",
    "broker_setting_default",
    "broker_setting_type",
    "broker_synonyms",
    "describe_broker_configs",
    "env_var_name",
    "load_config",
    "new_cluster_id",
    "parse_listeners",
    "parse_override",
    "parse_properties",
    "to_kafka_string",
]
