"""Topic configs: validation, resolution over broker defaults, describe, incremental alter."""

from __future__ import annotations

from dataclasses import fields

import pytest

from grete.cluster.topic_config import (
    TOPIC_CONFIG_NAMES,
    AlterConfigOp,
    ConfigSource,
    ConfigType,
    InvalidConfig,
    TopicConfig,
    apply_incremental,
    describe_topic_configs,
    validate_topic_configs,
)
from grete.config import LONG_MAX, BrokerConfig, load_config
from grete.storage.types import LogConfig

SET, DELETE, APPEND, SUBTRACT = (int(op) for op in AlterConfigOp)
KAFKA_TOPIC_CONFIGS = {
    "cleanup.policy", "compression.type", "delete.retention.ms", "file.delete.delay.ms",
    "flush.messages", "flush.ms", "index.interval.bytes", "max.message.bytes",
    "message.timestamp.type", "min.cleanable.dirty.ratio", "min.compaction.lag.ms",
    "max.compaction.lag.ms", "min.insync.replicas", "retention.bytes", "retention.ms",
    "segment.bytes", "segment.index.bytes", "segment.jitter.ms", "segment.ms",
    "unclean.leader.election.enable", "message.timestamp.before.max.ms",
    "message.timestamp.after.max.ms", "preallocate",
}


def broker(**overrides: str) -> BrokerConfig:
    return load_config(overrides=overrides, environ={})


def invalid(configs: dict[str, str | None]) -> InvalidConfig:
    with pytest.raises(InvalidConfig) as info:
        validate_topic_configs(configs)
    return info.value


def test_names_are_kafkas() -> None:
    assert TOPIC_CONFIG_NAMES == KAFKA_TOPIC_CONFIGS
    assert {f.name for f in fields(TopicConfig)} == {
        name.replace(".", "_") for name in KAFKA_TOPIC_CONFIGS
    }


# --- validation -------------------------------------------------------------------------------

def test_validate_normalizes() -> None:
    assert validate_topic_configs({
        "retention.ms": " 1000 ", "cleanup.policy": "compact , delete", "preallocate": "TRUE",
        "min.cleanable.dirty.ratio": "0.25", "segment.bytes": "+2048", "compression.type": "zstd",
    }) == {
        "retention.ms": "1000", "cleanup.policy": "compact,delete", "preallocate": "true",
        "min.cleanable.dirty.ratio": "0.25", "segment.bytes": "2048", "compression.type": "zstd",
    }
    assert validate_topic_configs({}) == {}


def test_unknown_name() -> None:
    error = invalid({"retention.msx": "1"})
    assert error.name == "retention.msx"
    assert str(error) == "Unknown topic config name: retention.msx"


def test_broker_names_are_not_topic_configs() -> None:
    assert invalid({"log.retention.ms": "1"}).name == "log.retention.ms"


def test_null_value() -> None:
    assert invalid({"retention.ms": None}).name == "retention.ms"


@pytest.mark.parametrize(("name", "value", "reason"), [
    ("retention.ms", "abc", "expected an integer"),
    ("retention.ms", "-2", "must be at least -1"),
    ("segment.bytes", "13", "must be at least 14"),
    ("segment.bytes", "3000000000", "expected a 32-bit integer"),
    ("segment.ms", "0", "must be at least 1"),
    ("segment.index.bytes", "3", "must be at least 4"),
    ("flush.messages", "0", "must be at least 1"),
    ("max.message.bytes", "-1", "must be at least 0"),
    ("min.insync.replicas", "0", "must be at least 1"),
    ("max.compaction.lag.ms", "0", "must be at least 1"),
    ("min.cleanable.dirty.ratio", "1.5", "must be between 0 and 1"),
    ("min.cleanable.dirty.ratio", "nan", "expected a finite number"),
    ("cleanup.policy", "compact,remove", "'remove' is not one of compact, delete"),
    ("compression.type", "GZIP", "expected one of"),
    ("message.timestamp.type", "AppendTime", "expected one of CreateTime, LogAppendTime"),
    ("preallocate", "1", "expected true or false"),
])
def test_invalid_values(name: str, value: str, reason: str) -> None:
    error = invalid({name: value})
    assert error.name == name
    assert str(error).startswith(f"Invalid value {value} for configuration {name}: ")
    assert reason in str(error)


def test_retention_limits_accept_minus_one() -> None:
    assert validate_topic_configs({"retention.ms": "-1", "retention.bytes": "-1"}) == {
        "retention.ms": "-1", "retention.bytes": "-1"}


def test_min_compaction_lag_must_not_exceed_max() -> None:
    error = invalid({"min.compaction.lag.ms": "100", "max.compaction.lag.ms": "10"})
    assert error.name == "min.compaction.lag.ms"
    assert validate_topic_configs({"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "10"})


# --- resolve ----------------------------------------------------------------------------------

def test_resolve_defaults_come_from_the_broker() -> None:
    cfg = broker(**{"log.roll.hours": "2", "log.retention.minutes": "30",
                    "log.cleanup.policy": "compact", "message.max.bytes": "5000",
                    "log.message.timestamp.type": "LogAppendTime", "min.insync.replicas": "2",
                    "compression.type": "lz4", "log.retention.bytes": "1000"})
    topic = TopicConfig.resolve({}, cfg)
    assert topic.segment_ms == 2 * 3600 * 1000
    assert topic.retention_ms == 30 * 60 * 1000
    assert topic.cleanup_policy == ("compact",)
    assert topic.compact and not topic.delete
    assert topic.max_message_bytes == 5000
    assert topic.message_timestamp_type == "LogAppendTime"
    assert topic.min_insync_replicas == 2
    assert topic.compression_type == "lz4"
    assert topic.retention_bytes == 1000
    # Settings Grete's broker does not implement take Kafka's defaults.
    assert topic.delete_retention_ms == 86_400_000
    assert topic.min_cleanable_dirty_ratio == 0.5
    assert topic.max_compaction_lag_ms == LONG_MAX
    assert topic.preallocate is False


def test_resolve_overrides_win() -> None:
    topic = TopicConfig.resolve(
        {"segment.ms": "1000", "retention.ms": "-1", "cleanup.policy": "delete,compact",
         "message.timestamp.type": "LogAppendTime", "unclean.leader.election.enable": "true"},
        broker(**{"log.roll.ms": "5000"}),
    )
    assert topic.segment_ms == 1000
    assert topic.retention_ms == -1
    assert topic.cleanup_policy == ("delete", "compact")
    assert topic.message_timestamp_type == "LogAppendTime"
    assert topic.unclean_leader_election_enable is True


def test_resolve_rejects_bad_overrides() -> None:
    with pytest.raises(InvalidConfig):
        TopicConfig.resolve({"segment.ms": "soon"}, broker())


def test_log_config() -> None:
    assert TopicConfig.resolve({}, broker()).log_config() == LogConfig()
    topic = TopicConfig.resolve(
        {"segment.bytes": "1024", "segment.ms": "100", "segment.jitter.ms": "5",
         "segment.index.bytes": "400", "index.interval.bytes": "1", "flush.messages": "1",
         "flush.ms": "0", "max.message.bytes": "999"},
        broker(),
    )
    assert topic.log_config() == LogConfig(
        segment_bytes=1024, segment_ms=100, segment_jitter_ms=5, segment_index_bytes=400,
        index_interval_bytes=1, flush_messages=1, flush_ms=0, max_message_bytes=999,
    )


def test_flush_ms_default_follows_the_flush_settings() -> None:
    assert TopicConfig.resolve({}, broker()).flush_ms == LONG_MAX
    cfg = broker(**{"log.flush.scheduler.interval.ms": "300"})
    assert TopicConfig.resolve({}, cfg).flush_ms == 300
    cfg = broker(**{"log.flush.scheduler.interval.ms": "300", "log.flush.interval.ms": "30"})
    assert TopicConfig.resolve({}, cfg).flush_ms == 30


# --- describe ---------------------------------------------------------------------------------

def describe(overrides: dict[str, str], cfg: BrokerConfig, **kw: bool) -> dict[str, object]:
    entries = describe_topic_configs(overrides, cfg, include_synonyms=kw.get("synonyms", True),
                                     include_documentation=kw.get("docs", False))
    return {e.name: e for e in entries}


def test_describe_lists_every_config_sorted() -> None:
    entries = describe_topic_configs({}, broker(), include_synonyms=False,
                                     include_documentation=False)
    assert [e.name for e in entries] == sorted(KAFKA_TOPIC_CONFIGS)
    assert all(not e.read_only and not e.is_sensitive for e in entries)
    assert all(e.synonyms == () and e.documentation is None for e in entries)
    assert all(e.source == ConfigSource.DEFAULT_CONFIG for e in entries)


def test_describe_sources_and_synonyms() -> None:
    cfg = broker(**{"log.retention.hours": "24"})
    entries = describe_topic_configs({"segment.ms": "1000"}, cfg, include_synonyms=True,
                                     include_documentation=True)
    by_name = {e.name: e for e in entries}

    segment = by_name["segment.ms"]
    assert (segment.value, segment.source, segment.config_type) == (
        "1000", ConfigSource.DYNAMIC_TOPIC_CONFIG, ConfigType.LONG)
    assert [tuple(s) for s in segment.synonyms] == [
        ("segment.ms", "1000", ConfigSource.DYNAMIC_TOPIC_CONFIG),
        ("log.roll.hours", "168", ConfigSource.DEFAULT_CONFIG),
    ]
    assert segment.documentation

    retention = by_name["retention.ms"]
    assert (retention.value, retention.source) == ("86400000", ConfigSource.STATIC_BROKER_CONFIG)
    assert [tuple(s) for s in retention.synonyms] == [
        ("log.retention.hours", "24", ConfigSource.STATIC_BROKER_CONFIG),
        ("log.retention.hours", "168", ConfigSource.DEFAULT_CONFIG),
    ]

    cleaner = by_name["delete.retention.ms"]
    assert (cleaner.value, cleaner.source) == ("86400000", ConfigSource.DEFAULT_CONFIG)
    assert [tuple(s) for s in cleaner.synonyms] == [
        ("log.cleaner.delete.retention.ms", "86400000", ConfigSource.DEFAULT_CONFIG)]

    assert by_name["cleanup.policy"].config_type == ConfigType.LIST
    assert by_name["min.cleanable.dirty.ratio"].config_type == ConfigType.DOUBLE
    assert by_name["segment.bytes"].config_type == ConfigType.INT
    assert by_name["preallocate"].value == "false"


def test_describe_filters_by_name() -> None:
    entries = describe_topic_configs({}, broker(), include_synonyms=False,
                                     include_documentation=False,
                                     names=["retention.ms", "nope"])
    assert [(e.name, e.value) for e in entries] == [("retention.ms", "604800000")]


# --- incremental alter ------------------------------------------------------------------------

def test_set_and_delete() -> None:
    current = {"retention.ms": "1000", "segment.ms": "50"}
    assert apply_incremental(current, [("retention.ms", SET, "2000"),
                                       ("segment.ms", DELETE, None),
                                       ("flush.ms", DELETE, None)]) == {"retention.ms": "2000"}
    assert current == {"retention.ms": "1000", "segment.ms": "50"}  # not mutated


def test_append_and_subtract_on_lists() -> None:
    assert apply_incremental({}, [("cleanup.policy", APPEND, "compact")]) == {
        "cleanup.policy": "delete,compact"}
    assert apply_incremental({"cleanup.policy": "compact"},
                             [("cleanup.policy", APPEND, "compact,delete")]) == {
        "cleanup.policy": "compact,delete"}
    assert apply_incremental({"cleanup.policy": "compact,delete"},
                             [("cleanup.policy", SUBTRACT, "compact")]) == {
        "cleanup.policy": "delete"}
    assert apply_incremental({"cleanup.policy": "delete"},
                             [("cleanup.policy", SUBTRACT, "delete")]) == {"cleanup.policy": ""}


def test_append_starts_from_the_broker_default() -> None:
    cfg = broker(**{"log.cleanup.policy": "compact"})
    assert apply_incremental({}, [("cleanup.policy", APPEND, "delete")], broker=cfg) == {
        "cleanup.policy": "compact,delete"}


@pytest.mark.parametrize("op", [APPEND, SUBTRACT])
def test_append_and_subtract_need_a_list(op: int) -> None:
    with pytest.raises(InvalidConfig) as info:
        apply_incremental({}, [("retention.ms", op, "1")])
    assert info.value.name == "retention.ms"
    assert "not allowed" in str(info.value)


@pytest.mark.parametrize("ops", [
    [("retention.mz", SET, "1")],
    [("retention.ms", SET, None)],
    [("retention.ms", SET, "soon")],
    [("retention.ms", 7, "1")],
    [("cleanup.policy", APPEND, "shred")],
    [("retention.ms", SET, "1"), ("retention.ms", DELETE, None)],
])
def test_incremental_errors(ops: list[tuple[str, int, str | None]]) -> None:
    with pytest.raises(InvalidConfig) as info:
        apply_incremental({}, ops)
    assert info.value.name == ops[0][0]
