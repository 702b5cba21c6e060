"""Broker settings: Kafka names and defaults, source precedence, parsing and errors."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from grete.config import (
    BROKER_SETTING_NAMES,
    LONG_MAX,
    BrokerConfig,
    ConfigError,
    ConfigSource,
    ConfigType,
    Endpoint,
    describe_broker_configs,
    env_var_name,
    load_config,
    new_cluster_id,
    parse_override,
    parse_properties,
)
from grete.storage.types import LogConfig


def load(**overrides: str) -> BrokerConfig:
    return load_config(overrides=overrides, environ={})


def load_error(**overrides: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(overrides=overrides, environ={})
    message = str(info.value)
    assert "\n" not in message
    return message


# --- defaults ---------------------------------------------------------------------------------

KAFKA_DEFAULTS = {
    "listeners": "PLAINTEXT://:9092",
    "advertised.listeners": None,
    "listener.security.protocol.map":
        "SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT",
    "inter.broker.listener.name": None,
    "security.inter.broker.protocol": None,  # Kafka shows PLAINTEXT; unset means it
    "log.dirs": "/tmp/kafka-logs",
    "log.dir": "/tmp/kafka-logs",
    "num.partitions": "1",
    "default.replication.factor": "1",
    "auto.create.topics.enable": "true",
    "delete.topic.enable": "true",
    "socket.request.max.bytes": "104857600",
    "connections.max.idle.ms": "600000",
    "queued.max.requests": "500",
    "queued.max.request.bytes": "-1",
    "quota.window.num": "11",
    "quota.window.size.seconds": "1",
    "message.max.bytes": "1048588",
    "log.segment.bytes": "1073741824",
    "log.roll.ms": None,
    "log.roll.hours": "168",
    "log.roll.jitter.ms": None,
    "log.roll.jitter.hours": "0",
    "log.index.interval.bytes": "4096",
    "log.index.size.max.bytes": "10485760",
    "log.flush.interval.messages": str(LONG_MAX),
    "log.flush.interval.ms": None,
    "log.flush.scheduler.interval.ms": str(LONG_MAX),
    "log.flush.offset.checkpoint.interval.ms": "60000",
    "grete.log.file.idle.close.ms": "60000",  # Grete's own (docs/behaviour.md)
    "num.recovery.threads.per.data.dir": "2",
    "log.flush.start.offset.checkpoint.interval.ms": "60000",
    "log.message.timestamp.type": "CreateTime",
    "log.cleanup.policy": "delete",
    "log.retention.hours": "168",
    "log.retention.minutes": None,
    "log.retention.ms": None,
    "log.retention.bytes": "-1",
    "log.retention.check.interval.ms": "300000",
    "log.segment.delete.delay.ms": "60000",
    "log.cleaner.enable": "true",
    "log.cleaner.threads": "1",
    "log.cleaner.backoff.ms": "15000",
    "log.cleaner.io.max.bytes.per.second": "1.7976931348623157E308",
    "log.cleaner.dedupe.buffer.size": "134217728",
    "log.cleaner.delete.retention.ms": "86400000",
    "log.cleaner.min.cleanable.ratio": "0.5",
    "log.cleaner.min.compaction.lag.ms": "0",
    "log.cleaner.max.compaction.lag.ms": "9223372036854775807",
    "min.insync.replicas": "1",
    "compression.type": "producer",
    "fetch.max.bytes": "57671680",
    "group.initial.rebalance.delay.ms": "3000",
    "offsets.topic.num.partitions": "50",
    "offsets.topic.segment.bytes": "104857600",
    "offsets.retention.minutes": "10080",
    "group.min.session.timeout.ms": "6000",
    "group.max.session.timeout.ms": "1800000",
    "group.consumer.session.timeout.ms": "45000",
    "group.consumer.heartbeat.interval.ms": "5000",
    "offsets.retention.check.interval.ms": "600000",
    "transactional.id.expiration.ms": "604800000",
    "producer.id.expiration.ms": "86400000",
    # security (docs/security.md): Grete reads PEM stores only and offers the SASL mechanisms
    # it implements (Kafka: JKS and GSSAPI); grete.sasl.plain.allow.insecure is Grete's own.
    "ssl.keystore.type": "PEM",
    "ssl.keystore.location": None,
    "ssl.keystore.password": None,
    "ssl.key.password": None,
    "ssl.keystore.certificate.chain": None,
    "ssl.keystore.key": None,
    "ssl.truststore.type": "PEM",
    "ssl.truststore.location": None,
    "ssl.truststore.certificates": None,
    "ssl.client.auth": "none",
    "ssl.enabled.protocols": "TLSv1.2,TLSv1.3",
    "ssl.cipher.suites": "",
    "ssl.principal.mapping.rules": "DEFAULT",
    "ssl.endpoint.identification.algorithm": "https",
    "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
    "sasl.server.max.receive.size": "524288",
    "connections.max.reauth.ms": "0",
    "connection.failed.authentication.delay.ms": "100",
    "grete.sasl.plain.allow.insecure": "false",
    "max.incremental.fetch.session.cache.slots": "1000",
    "cluster.id": None,
    "unclean.leader.election.enable": "false",
    "node.id": None,
    "zookeeper.connect": None,
    "zookeeper.session.timeout.ms": "18000",
    "zookeeper.connection.timeout.ms": None,
    "broker.rack": None,
    "replica.lag.time.max.ms": "30000",
    "replica.fetch.max.bytes": "1048576",
    "replica.fetch.response.max.bytes": "10485760",
    "replica.fetch.wait.max.ms": "500",
    "replica.fetch.backoff.ms": "1000",
    "auto.leader.rebalance.enable": "true",
    "leader.imbalance.check.interval.seconds": "300",
    "leader.imbalance.per.broker.percentage": "10",
    "controlled.shutdown.enable": "true",
    "authorizer.class.name": "",
    "super.users": None,
    "allow.everyone.if.no.acl.found": "false",
    # Grete's documented departures from Kafka's defaults:
    "broker.id": "0",  # Kafka: -1 (generated); a single node resolves it to 0
    "offsets.topic.replication.factor": "1",  # Kafka: 3, which one node cannot satisfy
    "sasl.mechanism.inter.broker.protocol": "PLAIN",  # Kafka: GSSAPI, which Grete lacks
}


def test_the_implemented_settings_are_exactly_the_listed_ones() -> None:
    assert BROKER_SETTING_NAMES == set(KAFKA_DEFAULTS)


@pytest.mark.parametrize("name", sorted(KAFKA_DEFAULTS))
def test_default_value(name: str) -> None:
    assert load().kafka_value(name) == KAFKA_DEFAULTS[name]


def test_typed_defaults_and_derived_values() -> None:
    cfg = load()
    assert cfg.num_partitions == 1
    assert cfg.auto_create_topics_enable is True
    assert cfg.log_dir_path == Path("/tmp/kafka-logs")
    assert cfg.segment_ms == 168 * 3600 * 1000
    assert cfg.retention_ms == 168 * 3600 * 1000
    assert cfg.segment_jitter_ms == 0
    assert cfg.flush_ms == LONG_MAX
    assert cfg.cleanup_policy == ("delete",)
    assert cfg.log_config() == LogConfig()


def test_defaults_do_not_read_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRETE_NUM_PARTITIONS", "7")
    monkeypatch.setenv("NUM_PARTITIONS", "7")
    assert BrokerConfig().num_partitions == 1
    assert load_config().num_partitions == 7  # environ=None means os.environ


def test_config_is_frozen() -> None:
    cfg = load()
    with pytest.raises(ValueError):
        cfg.num_partitions = 3


# --- precedence -------------------------------------------------------------------------------

def write_props(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "server.properties"
    path.write_text(text, encoding="utf-8")
    return path


def test_precedence_override_then_file_then_env_then_default(tmp_path: Path) -> None:
    props = write_props(tmp_path, "num.partitions=3\nlog.retention.bytes=30\n")
    env = {"GRETE_NUM_PARTITIONS": "2", "GRETE_LOG_RETENTION_BYTES": "20",
           "GRETE_MIN_INSYNC_REPLICAS": "2"}
    cfg = load_config(properties_file=props, overrides={"num.partitions": "4"}, environ=env)
    assert cfg.num_partitions == 4  # override beats file and env
    assert cfg.log_retention_bytes == 30  # file beats env
    assert cfg.min_insync_replicas == 2  # env beats default
    assert cfg.queued_max_requests == 500  # default


def test_environment_variable_names() -> None:
    assert env_var_name("log.dirs") == "GRETE_LOG_DIRS"
    cfg = load_config(environ={"GRETE_LOG_DIRS": "/data/grete", "PATH": "/bin",
                               "GRETE_TEST_BROKER": "grete"})
    assert cfg.log_dir_path == Path("/data/grete")


def test_explicit_settings_are_static_others_default(tmp_path: Path) -> None:
    cfg = load_config(properties_file=write_props(tmp_path, "fetch.max.bytes=2048\n"),
                      environ={"GRETE_LOG_RETENTION_HOURS": "5"},
                      overrides={"num.partitions": "3"})
    entries = {e.name: e for e in describe_broker_configs(cfg)}
    for name in ("fetch.max.bytes", "log.retention.hours", "num.partitions"):
        assert entries[name].source == ConfigSource.STATIC_BROKER_CONFIG
    assert entries["queued.max.requests"].source == ConfigSource.DEFAULT_CONFIG


# --- unknown keys and invalid values ----------------------------------------------------------

def test_unknown_override_names_the_key() -> None:
    assert load_error(**{"log.dirz": "/x"}) == "unknown broker setting 'log.dirz'"


def test_unknown_key_in_file_names_key_and_file(tmp_path: Path) -> None:
    props = write_props(tmp_path, "# comment\nnum.partitions=2\nsasl.kerberos.service.name=kafka\n")
    with pytest.raises(ConfigError) as info:
        load_config(properties_file=props, environ={})
    assert str(info.value) == f"unknown broker setting 'sasl.kerberos.service.name' in {props}"
    assert info.value.setting == "sasl.kerberos.service.name"


def test_unknown_grete_environment_variable_is_an_error() -> None:
    with pytest.raises(ConfigError, match="'GRETE_NUM_PARTITION'"):
        load_config(environ={"GRETE_NUM_PARTITION": "3"})


def test_missing_properties_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read properties file .*missing.properties"):
        load_config(properties_file=tmp_path / "missing.properties", environ={})


@pytest.mark.parametrize(("name", "value", "reason"), [
    ("num.partitions", "abc", "expected an integer"),
    ("num.partitions", "1.5", "expected an integer"),
    ("num.partitions", "0", "must be at least 1"),
    ("num.partitions", "2147483648", "expected a 32-bit integer"),
    ("log.segment.bytes", "13", "must be at least 14"),
    ("socket.request.max.bytes", "0", "must be at least 1"),
    ("fetch.max.bytes", "1023", "must be at least 1024"),
    ("log.retention.ms", "9223372036854775808", "expected a 64-bit integer"),
    ("offsets.topic.replication.factor", "40000", "expected a 16-bit integer"),
    ("auto.create.topics.enable", "yes", "expected true or false"),
    ("compression.type", "brotli",
     "expected one of uncompressed, zstd, lz4, snappy, gzip, producer"),
    ("log.message.timestamp.type", "createtime", "expected one of CreateTime, LogAppendTime"),
    ("log.cleanup.policy", "delete,,compact", "list items must not be empty"),
    ("cluster.id", "not-a-cluster-id", "expected a UUID in URL-safe base64 (22 characters)"),
])
def test_invalid_value_message(name: str, value: str, reason: str) -> None:
    assert load_error(**{name: value}) == (
        f"invalid value {value!r} for setting {name!r}: {reason}"
    )


def test_invalid_value_from_environment_names_the_setting() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(environ={"GRETE_QUEUED_MAX_REQUESTS": "many"})
    assert info.value.setting == "queued.max.requests"
    assert "'many'" in str(info.value)


def test_values_are_trimmed_and_booleans_case_insensitive() -> None:
    cfg = load(**{"num.partitions": " 4 ", "delete.topic.enable": "FALSE",
                  "log.cleanup.policy": "compact , delete"})
    assert cfg.num_partitions == 4
    assert cfg.delete_topic_enable is False
    assert cfg.log_cleanup_policy == "compact,delete"


def test_value_with_newline_still_gives_one_line() -> None:
    assert "\n" not in load_error(**{"num.partitions": "1\n2"})


def test_construction_by_python_name_validates_too() -> None:
    by_name: dict[str, object] = {"num_partitions": "5"}
    assert BrokerConfig.model_validate(by_name).num_partitions == 5
    with pytest.raises(ValueError):
        BrokerConfig.model_validate({"num_partitions": 0})


# --- synonyms ---------------------------------------------------------------------------------

def test_log_roll_ms_wins_over_hours() -> None:
    assert load(**{"log.roll.hours": "2"}).segment_ms == 2 * 3600 * 1000
    assert load(**{"log.roll.hours": "2", "log.roll.ms": "1500"}).segment_ms == 1500
    assert load(**{"log.roll.jitter.hours": "1"}).segment_jitter_ms == 3600 * 1000
    jittered = load(**{"log.roll.jitter.hours": "1", "log.roll.jitter.ms": "10"})
    assert jittered.segment_jitter_ms == 10


def test_log_retention_ms_then_minutes_then_hours() -> None:
    assert load(**{"log.retention.hours": "1"}).retention_ms == 3_600_000
    minutes = load(**{"log.retention.hours": "1", "log.retention.minutes": "2"})
    assert minutes.retention_ms == 120_000
    assert load(**{"log.retention.minutes": "2", "log.retention.ms": "5"}).retention_ms == 5
    assert load(**{"log.retention.ms": "-1"}).retention_ms == -1
    assert load(**{"log.retention.hours": "-5"}).retention_ms == -1  # any negative: forever


def test_flush_interval_falls_back_to_scheduler_interval() -> None:
    assert load(**{"log.flush.scheduler.interval.ms": "500"}).flush_ms == 500
    assert load(**{"log.flush.scheduler.interval.ms": "500",
                   "log.flush.interval.ms": "50"}).flush_ms == 50


def test_log_config_carries_broker_defaults() -> None:
    cfg = load(**{"log.segment.bytes": "1024", "log.roll.ms": "60000", "message.max.bytes": "2000",
                  "log.index.size.max.bytes": "4096", "log.index.interval.bytes": "10",
                  "log.flush.interval.messages": "1", "log.flush.interval.ms": "7"})
    assert cfg.log_config() == LogConfig(
        segment_bytes=1024, segment_ms=60000, segment_jitter_ms=0, segment_index_bytes=4096,
        index_interval_bytes=10, flush_messages=1, flush_ms=7, max_message_bytes=2000,
    )


def test_log_dir_is_used_when_log_dirs_is_unset() -> None:
    assert load(**{"log.dir": "/a"}).log_dir_path == Path("/a")
    assert load(**{"log.dir": "/a", "log.dirs": "/b"}).log_dir_path == Path("/b")


def test_more_than_one_log_dir_is_an_error_naming_the_setting() -> None:
    assert load_error(**{"log.dirs": "/a,/b"}) == (
        "invalid value '/a,/b' for setting 'log.dirs': Grete supports exactly one log directory"
    )
    assert "'log.dir'" in load_error(**{"log.dir": "/a,/b"})


def test_broker_id_and_node_id() -> None:
    assert load().broker_id == 0
    assert load(**{"broker.id": "-1"}).broker_id == 0
    assert load(**{"broker.id": "4"}).broker_id == 4
    assert load(**{"node.id": "5"}).broker_id == 5
    assert load(**{"node.id": "5", "broker.id": "5"}).broker_id == 5
    assert load_error(**{"node.id": "5", "broker.id": "6"}) == (
        "invalid value '5' for setting 'node.id': must equal broker.id (6) when both are set"
    )
    assert "must be at least -1" in load_error(**{"broker.id": "-2"})


def test_cluster_id_accepts_kafka_format() -> None:
    cluster_id = new_cluster_id()
    assert len(cluster_id) == 22
    assert load(**{"cluster.id": cluster_id}).cluster_id == cluster_id


# --- listeners --------------------------------------------------------------------------------

@pytest.mark.parametrize(("listeners", "host", "port"), [
    ("PLAINTEXT://127.0.0.1:9092", "127.0.0.1", 9092),
    ("PLAINTEXT://:9092", "", 9092),
    ("PLAINTEXT://[::1]:9092", "::1", 9092),
    ("plaintext://localhost:0", "localhost", 0),
])
def test_listener_parsing(listeners: str, host: str, port: int) -> None:
    cfg = load(listeners=listeners)
    assert cfg.listener_endpoints() == [Endpoint("PLAINTEXT", host, port, "PLAINTEXT")]


def test_custom_listener_names_need_the_protocol_map() -> None:
    assert load_error(listeners="CLIENT://127.0.0.1:9092") == (
        "invalid value 'CLIENT://127.0.0.1:9092' for setting 'listeners': "
        "no security protocol defined for listener CLIENT"
    )
    cfg = load(listeners="CLIENT://127.0.0.1:9092,INTERNAL://127.0.0.1:9093",
               **{"listener.security.protocol.map": "CLIENT:PLAINTEXT,INTERNAL:SASL_PLAINTEXT"})
    assert cfg.listener_endpoints() == [
        Endpoint("CLIENT", "127.0.0.1", 9092, "PLAINTEXT"),
        Endpoint("INTERNAL", "127.0.0.1", 9093, "SASL_PLAINTEXT"),
    ]


@pytest.mark.parametrize(("overrides", "setting", "reason"), [
    ({"listeners": "127.0.0.1:9092"}, "listeners", "is not NAME://host:port"),
    ({"listeners": "PLAINTEXT://127.0.0.1:99999"}, "listeners", "out of range"),
    ({"listeners": "PLAINTEXT://a:1,PLAINTEXT://b:2"}, "listeners", "appears twice"),
    ({"listeners": "PLAINTEXT://a:1,SSL://b:1"}, "listeners", "share port 1"),
    ({"listener.security.protocol.map": "PLAINTEXT:TLS"}, "listener.security.protocol.map",
     "unknown security protocol 'TLS'"),
    ({"listeners": "PLAINTEXT://0.0.0.0:9092"}, "advertised.listeners", "non-routable address"),
    ({"advertised.listeners": "PLAINTEXT://0.0.0.0:9092"}, "advertised.listeners",
     "non-routable address 0.0.0.0"),
    ({"advertised.listeners": "SSL://example.com:9093"}, "advertised.listeners",
     "listener SSL is not in listeners"),
    ({"inter.broker.listener.name": "INTERNAL"}, "inter.broker.listener.name",
     "must be a listener name in advertised.listeners"),
    ({"inter.broker.listener.name": "PLAINTEXT", "security.inter.broker.protocol": "PLAINTEXT"},
     "inter.broker.listener.name", "only one of"),
    ({"security.inter.broker.protocol": "TLS"}, "security.inter.broker.protocol",
     "expected one of PLAINTEXT"),
])
def test_bad_listener_settings(overrides: dict[str, str], setting: str, reason: str) -> None:
    message = load_error(**overrides)
    assert f"setting {setting!r}" in message
    assert reason in message


@pytest.mark.parametrize(("overrides", "expected"), [
    ({}, "PLAINTEXT"),  # Kafka's default: the listener named after PLAINTEXT
    ({"listeners": "CLIENT://127.0.0.1:9092,PLAINTEXT://127.0.0.1:9093",
      "listener.security.protocol.map": "CLIENT:PLAINTEXT,PLAINTEXT:PLAINTEXT"}, "PLAINTEXT"),
    ({"listeners": "CLIENT://127.0.0.1:9092,INTERNAL://127.0.0.1:9093",
      "listener.security.protocol.map": "CLIENT:SSL,INTERNAL:PLAINTEXT"}, "INTERNAL"),
    ({"listeners": "CLIENT://127.0.0.1:9092,INTERNAL://127.0.0.1:9093",
      "listener.security.protocol.map": "CLIENT:SSL,INTERNAL:SSL",
      "security.inter.broker.protocol": "SSL"}, "CLIENT"),
    ({"listeners": "CLIENT://127.0.0.1:9092,INTERNAL://127.0.0.1:9093",
      "listener.security.protocol.map": "CLIENT:PLAINTEXT,INTERNAL:PLAINTEXT",
      "inter.broker.listener.name": "INTERNAL"}, "INTERNAL"),
])
def test_inter_broker_listener(overrides: dict[str, str], expected: str) -> None:
    assert load(**overrides).inter_broker_listener() == expected


def test_ipv4_and_ipv6_listeners_may_share_a_port() -> None:
    cfg = load(listeners="PLAINTEXT://127.0.0.1:9092,SSL://[::1]:9092")
    assert [e.port for e in cfg.listener_endpoints()] == [9092, 9092]


def test_advertised_endpoints() -> None:
    assert load(listeners="PLAINTEXT://127.0.0.1:0").advertised_endpoints() == [
        Endpoint("PLAINTEXT", "127.0.0.1", 0, "PLAINTEXT")
    ]
    # An empty host binds every interface and is advertised as this machine's name.
    assert load().advertised_endpoints() == [
        Endpoint("PLAINTEXT", socket.gethostname(), 9092, "PLAINTEXT")
    ]
    cfg = load(listeners="PLAINTEXT://0.0.0.0:9092",
               **{"advertised.listeners": "PLAINTEXT://broker.example:19092"})
    assert cfg.listener_endpoints()[0].host == "0.0.0.0"
    assert cfg.advertised_endpoints() == [
        Endpoint("PLAINTEXT", "broker.example", 19092, "PLAINTEXT")
    ]


# --- properties files -------------------------------------------------------------------------

def test_properties_syntax() -> None:
    text = "\n".join([
        "# a comment",
        "! another comment",
        "   ",
        "a=1",
        "b : 2",
        "c 3",
        "  d  =  spaced value  ",
        "e=",
        "f=x=y",
        "g:http://h:1",
        "h=first \\",
        "    second",
        "i=tab\\there\\u0041",
        "j\\=k=escaped key",
        "a=repeated",
        "#k=not set",
    ])
    assert parse_properties(text) == {
        "a": "repeated", "b": "2", "c": "3", "d": "spaced value", "e": "", "f": "x=y",
        "g": "http://h:1", "h": "first second", "i": "tab\thereA", "j=k": "escaped key",
    }


def test_properties_file_with_crlf_and_trailing_continuation(tmp_path: Path) -> None:
    props = write_props(tmp_path, "num.partitions=6\r\nlog.dirs=/data\\\r\n")
    cfg = load_config(properties_file=props, environ={})
    assert cfg.num_partitions == 6
    assert cfg.log_dirs == "/data"


def test_parse_override() -> None:
    assert parse_override("log.dirs=/a=b") == ("log.dirs", "/a=b")
    assert parse_override(" num.partitions = 3 ") == ("num.partitions", "3")
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_override("num.partitions")


# --- DescribeConfigs --------------------------------------------------------------------------

def test_describe_broker_configs() -> None:
    cfg = load(**{"log.retention.minutes": "30", "num.partitions": "2"})
    entries = describe_broker_configs(cfg, include_synonyms=True, include_documentation=True)
    assert [e.name for e in entries] == sorted(BROKER_SETTING_NAMES)
    by_name = {e.name: e for e in entries}
    assert all(e.read_only for e in entries)
    # Kafka's PASSWORD settings are sensitive: their values are never shown.
    sensitive = {e.name for e in entries if e.is_sensitive}
    assert sensitive == {"ssl.keystore.password", "ssl.key.password", "ssl.keystore.key"}
    assert all(by_name[n].value is None for n in sensitive)

    partitions = by_name["num.partitions"]
    assert (partitions.value, partitions.source, partitions.config_type) == (
        "2", ConfigSource.STATIC_BROKER_CONFIG, ConfigType.INT)
    assert partitions.documentation

    retention = by_name["log.retention.ms"]
    assert retention.value is None
    assert retention.config_type == ConfigType.LONG
    assert [tuple(s) for s in retention.synonyms] == [
        ("log.retention.minutes", "30", ConfigSource.STATIC_BROKER_CONFIG),
        ("log.retention.hours", "168", ConfigSource.DEFAULT_CONFIG),
    ]
    assert by_name["log.cleanup.policy"].config_type == ConfigType.LIST
    assert by_name["auto.create.topics.enable"].config_type == ConfigType.BOOLEAN
    assert by_name["offsets.topic.replication.factor"].config_type == ConfigType.SHORT


def test_describe_broker_configs_filters_and_omits_extras() -> None:
    entries = describe_broker_configs(load(), names={"num.partitions", "no.such.setting"})
    assert [(e.name, e.value, e.synonyms, e.documentation) for e in entries] == [
        ("num.partitions", "1", (), None)
    ]


def test_kafka_numbering() -> None:
    assert [ConfigSource.DYNAMIC_TOPIC_CONFIG, ConfigSource.STATIC_BROKER_CONFIG,
            ConfigSource.DEFAULT_CONFIG] == [1, 4, 5]
    assert [ConfigType.BOOLEAN, ConfigType.STRING, ConfigType.INT, ConfigType.SHORT,
            ConfigType.LONG, ConfigType.DOUBLE, ConfigType.LIST, ConfigType.PASSWORD] == [
        1, 2, 3, 4, 5, 6, 7, 9]
