"""`BrokerConfig`: the broker's static settings, with Kafka's own names and defaults.

Each field's alias is Kafka's dotted name and its `KafkaType` metadata says how Kafka parses
it. Checks that span settings live in `validation`; sources and precedence in `loading`.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from grete.config.entries import ConfigType
from grete.config.kafka_type import LONG_MAX, KafkaType, SettingValue, list_items, to_kafka_string
from grete.config.listeners import (
    DEFAULT_PROTOCOL_MAP,
    Endpoint,
    parse_listeners,
    parse_protocol_map,
)
from grete.config.validation import (
    LISTENER_PREFIXED,
    SASL_MECHANISMS,
    check_settings,
    collect_listener_prefixed,
    resolve_synonyms,
)
from grete.storage.types import LogConfig

COMPRESSION_TYPES = ("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")
TIMESTAMP_TYPES = ("CreateTime", "LogAppendTime")
CLEANUP_POLICIES = ("compact", "delete")

_BOOL = KafkaType(ConfigType.BOOLEAN)
_STRING = KafkaType(ConfigType.STRING)
_LIST = KafkaType(ConfigType.LIST, joined=True)
_INT = KafkaType(ConfigType.INT)
_LONG = KafkaType(ConfigType.LONG)
_PASSWORD = KafkaType(ConfigType.PASSWORD)


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
        default=DEFAULT_PROTOCOL_MAP, alias="listener.security.protocol.map",
        description="Comma-separated LISTENER_NAME:SECURITY_PROTOCOL pairs.")
    inter_broker_listener_name: Annotated[str | None, _STRING] = Field(
        default=None, alias="inter.broker.listener.name",
        description="Listener that brokers use to reach each other (replication).")
    security_inter_broker_protocol: Annotated[str | None, _STRING] = Field(
        default=None, alias="security.inter.broker.protocol",
        description="Security protocol between brokers (PLAINTEXT when neither it nor "
                    "inter.broker.listener.name is set).")

    # cluster mode (ZooKeeper); unset: a single node with embedded metadata
    zookeeper_connect: Annotated[str | None, _STRING] = Field(
        default=None, alias="zookeeper.connect",
        description="host:port[,host:port][/chroot] of ZooKeeper; unset: single node.")
    zookeeper_session_timeout_ms: Annotated[int, _int(1)] = Field(
        default=18000, alias="zookeeper.session.timeout.ms",
        description="ZooKeeper session timeout: how soon a dead broker is noticed.")
    zookeeper_connection_timeout_ms: Annotated[int | None, _INT] = Field(
        default=None, alias="zookeeper.connection.timeout.ms",
        description="Wait this long to connect to ZooKeeper; the session timeout when unset.")
    broker_rack: Annotated[str | None, _STRING] = Field(
        default=None, alias="broker.rack",
        description="Rack of this broker, for rack-aware replica placement.")
    replica_lag_time_max_ms: Annotated[int, _LONG] = Field(
        default=30000, alias="replica.lag.time.max.ms",
        description="A follower that has not caught up for this long leaves the ISR.")
    replica_fetch_max_bytes: Annotated[int, _int(0)] = Field(
        default=1048576, alias="replica.fetch.max.bytes",
        description="Bytes a follower asks for per partition.")
    replica_fetch_response_max_bytes: Annotated[int, _int(0)] = Field(
        default=10485760, alias="replica.fetch.response.max.bytes",
        description="Bytes a follower asks for per fetch.")
    replica_fetch_wait_max_ms: Annotated[int, _INT] = Field(
        default=500, alias="replica.fetch.wait.max.ms",
        description="How long a follower's fetch waits for data at the leader.")
    replica_fetch_backoff_ms: Annotated[int, _int(0)] = Field(
        default=1000, alias="replica.fetch.backoff.ms",
        description="Pause after a failed follower fetch.")
    auto_leader_rebalance_enable: Annotated[bool, _BOOL] = Field(
        default=True, alias="auto.leader.rebalance.enable",
        description="Move leadership back to preferred replicas in the background.")
    leader_imbalance_check_interval_seconds: Annotated[int, _long(1)] = Field(
        default=300, alias="leader.imbalance.check.interval.seconds",
        description="How often the controller checks for leader imbalance.")
    leader_imbalance_per_broker_percentage: Annotated[int, _int(0)] = Field(
        default=10, alias="leader.imbalance.per.broker.percentage",
        description="Imbalance per broker that triggers a preferred leader election.")
    controlled_shutdown_enable: Annotated[bool, _BOOL] = Field(
        default=True, alias="controlled.shutdown.enable",
        description="Move leadership away before a broker stops.")

    # authorization (ACLs): any non-empty authorizer.class.name turns the ACL authorizer on
    authorizer_class_name: Annotated[str, _STRING] = Field(
        default="", alias="authorizer.class.name",
        description="Any non-empty value enables ACL authorization; empty allows everything.")
    super_users: Annotated[str | None, _STRING] = Field(
        default=None, alias="super.users",
        description="Semicolon-separated principals (User:admin) that bypass ACLs.")
    allow_everyone_if_no_acl_found: Annotated[bool, _BOOL] = Field(
        default=False, alias="allow.everyone.if.no.acl.found",
        description="Allow a request on a resource that has no ACLs at all.")

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
    queued_max_request_bytes: Annotated[int, _LONG] = Field(
        default=-1, alias="queued.max.request.bytes",
        description="Request bytes read and not yet answered, over all connections, before "
                    "no more are read; -1 no limit.")

    # client quotas (docs/security.md "Quotas"): rates are measured over num × size seconds
    quota_window_num: Annotated[int, _int(1)] = Field(
        default=11, alias="quota.window.num",
        description="Samples kept of each client quota's rate.")
    quota_window_size_seconds: Annotated[int, _int(1)] = Field(
        default=1, alias="quota.window.size.seconds",
        description="Span of each client quota sample.")

    # security: TLS and SASL (docs/security.md); listener.name.<listener>.<setting> overrides
    ssl_keystore_type: Annotated[str, KafkaType(ConfigType.STRING, valid=("PEM",))] = Field(
        default="PEM", alias="ssl.keystore.type",
        description="Format of the key store; Grete reads PEM only (Kafka's default is JKS).")
    ssl_keystore_location: Annotated[str | None, _STRING] = Field(
        default=None, alias="ssl.keystore.location",
        description="PEM file holding this broker's certificate chain and private key.")
    ssl_keystore_password: Annotated[str | None, _PASSWORD] = Field(
        default=None, alias="ssl.keystore.password",
        description="Password of the key store file (its encrypted private key).")
    ssl_key_password: Annotated[str | None, _PASSWORD] = Field(
        default=None, alias="ssl.key.password",
        description="Password of the private key; ssl.keystore.password if unset.")
    ssl_keystore_certificate_chain: Annotated[str | None, _STRING] = Field(
        default=None, alias="ssl.keystore.certificate.chain",
        description="The certificate chain as PEM text (instead of ssl.keystore.location).")
    ssl_keystore_key: Annotated[str | None, _PASSWORD] = Field(
        default=None, alias="ssl.keystore.key",
        description="The private key as PEM text (instead of ssl.keystore.location).")
    ssl_truststore_type: Annotated[str, KafkaType(ConfigType.STRING, valid=("PEM",))] = Field(
        default="PEM", alias="ssl.truststore.type",
        description="Format of the trust store; Grete reads PEM only (Kafka's default is JKS).")
    ssl_truststore_location: Annotated[str | None, _STRING] = Field(
        default=None, alias="ssl.truststore.location",
        description="PEM file of the CA certificates that client certificates must chain to.")
    ssl_truststore_certificates: Annotated[str | None, _STRING] = Field(
        default=None, alias="ssl.truststore.certificates",
        description="Trusted CA certificates as PEM text (instead of ssl.truststore.location).")
    ssl_client_auth: Annotated[
        str, KafkaType(ConfigType.STRING, valid=("required", "requested", "none"))
    ] = Field(default="none", alias="ssl.client.auth",
              description="Whether TLS clients must (required) or may (requested) present a "
                          "certificate.")
    ssl_enabled_protocols: Annotated[
        str, KafkaType(ConfigType.LIST, valid=("TLSv1.2", "TLSv1.3"), joined=True)
    ] = Field(default="TLSv1.2,TLSv1.3", alias="ssl.enabled.protocols",
              description="TLS versions accepted.")
    ssl_cipher_suites: Annotated[str, _LIST] = Field(
        default="", alias="ssl.cipher.suites",
        description="OpenSSL cipher list for TLS 1.2; empty: Python's defaults.")
    ssl_endpoint_identification_algorithm: Annotated[str, _STRING] = Field(
        default="https", alias="ssl.endpoint.identification.algorithm",
        description="https: a peer broker's certificate must name the host dialled; empty: "
                    "only its chain is checked.")
    sasl_mechanism_inter_broker_protocol: Annotated[
        str, KafkaType(ConfigType.STRING, valid=SASL_MECHANISMS)
    ] = Field(default="PLAIN", alias="sasl.mechanism.inter.broker.protocol",
              description="SASL mechanism brokers log in to each other with (Kafka's default "
                          "is GSSAPI, which Grete lacks).")
    ssl_principal_mapping_rules: Annotated[str, _STRING] = Field(
        default="DEFAULT", alias="ssl.principal.mapping.rules",
        description="Rules mapping a client certificate's subject to a principal name.")
    sasl_enabled_mechanisms: Annotated[str, _LIST] = Field(
        default="PLAIN,SCRAM-SHA-256,SCRAM-SHA-512", alias="sasl.enabled.mechanisms",
        description="SASL mechanisms offered (Kafka's default is GSSAPI, which Grete lacks).")
    sasl_server_max_receive_size: Annotated[int, _INT] = Field(
        default=524288, alias="sasl.server.max.receive.size",
        description="Largest request accepted before a SASL connection is authenticated.")
    connections_max_reauth_ms: Annotated[int, _long(0)] = Field(
        default=0, alias="connections.max.reauth.ms",
        description="SASL session lifetime; clients re-authenticate within it (0: forever).")
    connection_failed_authentication_delay_ms: Annotated[int, _int(0)] = Field(
        default=100, alias="connection.failed.authentication.delay.ms",
        description="Delay before a failed authentication is answered and closed.")
    grete_sasl_plain_allow_insecure: Annotated[bool, _BOOL] = Field(
        default=False, alias="grete.sasl.plain.allow.insecure",
        description="Grete addition: offer PLAIN on SASL_PLAINTEXT listeners (no TLS).")
    # listener.name.<listener>.<setting> keys, collected by _resolve_synonyms.
    listener_prefixed: dict[str, str] = Field(
        default_factory=dict, alias="listener.name.*",
        description="Per-listener security settings (listener.name.<listener>.<setting>).")

    # topics
    num_partitions: Annotated[int, _int(1)] = Field(
        default=1, alias="num.partitions", description="Partitions of an auto-created topic.")
    num_recovery_threads_per_data_dir: Annotated[int, _int(1)] = Field(
        default=2, alias="num.recovery.threads.per.data.dir",
        description="Threads that flush and close the logs at shutdown (Kafka 4's default, "
        "KIP-1030); logs load on one thread, faster under the GIL.")
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
    grete_log_file_idle_close_ms: Annotated[int, _long(0)] = Field(
        default=60000, alias="grete.log.file.idle.close.ms",
        description="Grete addition: a segment file unused this long is closed (reopened "
        "on its next use), so open files follow the partitions in use; 0: never.")
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
    log_segment_delete_delay_ms: Annotated[int, _long(0)] = Field(
        default=60000, alias="log.segment.delete.delay.ms",
        description="Delay before a deleted segment's files are removed.")
    log_cleaner_enable: Annotated[bool, _BOOL] = Field(
        default=True, alias="log.cleaner.enable",
        description="Run the log cleaner (compaction of cleanup.policy=compact topics).")
    log_cleaner_threads: Annotated[int, _int(0)] = Field(
        default=1, alias="log.cleaner.threads",
        description="Logs cleaned at the same time, each on its own thread.")
    log_cleaner_backoff_ms: Annotated[int, _long(0)] = Field(
        default=15000, alias="log.cleaner.backoff.ms",
        description="Sleep between cleaner passes when no log needs cleaning.")
    log_cleaner_io_max_bytes_per_second: Annotated[
        float, KafkaType(ConfigType.DOUBLE)
    ] = Field(default=1.7976931348623157e308, alias="log.cleaner.io.max.bytes.per.second",
              description="Cap on the cleaner's read plus write rate.")
    log_cleaner_dedupe_buffer_size: Annotated[int, _long(0)] = Field(
        default=134217728, alias="log.cleaner.dedupe.buffer.size",
        description="Memory for the cleaner's key map, across all cleaner threads.")
    log_cleaner_delete_retention_ms: Annotated[int, _long(0)] = Field(
        default=86400000, alias="log.cleaner.delete.retention.ms",
        description="Default delete.retention.ms: how long tombstones stay.")
    log_cleaner_min_cleanable_ratio: Annotated[
        float, KafkaType(ConfigType.DOUBLE, at_least=0, at_most=1)
    ] = Field(default=0.5, alias="log.cleaner.min.cleanable.ratio",
              description="Default min.cleanable.dirty.ratio.")
    log_cleaner_min_compaction_lag_ms: Annotated[int, _long(0)] = Field(
        default=0, alias="log.cleaner.min.compaction.lag.ms",
        description="Default min.compaction.lag.ms.")
    log_cleaner_max_compaction_lag_ms: Annotated[int, _long(1)] = Field(
        default=LONG_MAX, alias="log.cleaner.max.compaction.lag.ms",
        description="Default max.compaction.lag.ms.")

    # coordinators
    group_initial_rebalance_delay_ms: Annotated[int, _INT] = Field(
        default=3000, alias="group.initial.rebalance.delay.ms",
        description="Wait for more members before a new group's first rebalance.")
    group_min_session_timeout_ms: Annotated[int, _INT] = Field(
        default=6000, alias="group.min.session.timeout.ms",
        description="Smallest session timeout a classic group member may ask for.")
    group_max_session_timeout_ms: Annotated[int, _INT] = Field(
        default=1800000, alias="group.max.session.timeout.ms",
        description="Largest session timeout a classic group member may ask for.")
    group_consumer_session_timeout_ms: Annotated[int, _int(1)] = Field(
        default=45000, alias="group.consumer.session.timeout.ms",
        description="Session timeout of KIP-848 consumer group members.")
    group_consumer_heartbeat_interval_ms: Annotated[int, _int(1)] = Field(
        default=5000, alias="group.consumer.heartbeat.interval.ms",
        description="Heartbeat interval KIP-848 consumer group members are told to use.")
    offsets_topic_num_partitions: Annotated[int, _int(1)] = Field(
        default=50, alias="offsets.topic.num.partitions",
        description="Partitions of __consumer_offsets.")
    offsets_topic_replication_factor: Annotated[
        int, KafkaType(ConfigType.SHORT, at_least=1)
    ] = Field(
        default=1, alias="offsets.topic.replication.factor",
        description="Replication factor of __consumer_offsets (Kafka: 3; one node: 1).")
    offsets_topic_segment_bytes: Annotated[int, _int(1)] = Field(
        default=104857600, alias="offsets.topic.segment.bytes",
        description="segment.bytes of __consumer_offsets: small segments compact sooner.")
    offsets_retention_minutes: Annotated[int, _int(1)] = Field(
        default=10080, alias="offsets.retention.minutes",
        description="Keep an empty group's committed offsets this long.")
    offsets_retention_check_interval_ms: Annotated[int, _int(1)] = Field(
        default=600000, alias="offsets.retention.check.interval.ms",
        description="How often expired committed offsets are removed.")
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
        return collect_listener_prefixed(resolve_synonyms(data))

    @model_validator(mode="after")
    def _check(self) -> BrokerConfig:
        check_settings(self)
        return self

    # --- derived values -----------------------------------------------------------------------

    def security_protocol_map(self) -> dict[str, str]:
        """listener.security.protocol.map as {LISTENER_NAME: SECURITY_PROTOCOL}."""
        return parse_protocol_map(self.listener_security_protocol_map)

    def listener_endpoints(self) -> list[Endpoint]:
        """The addresses to bind, in configured order."""
        return parse_listeners(list_items(self.listeners), self.security_protocol_map())

    def inter_broker_listener(self) -> str:
        """The advertised listener peers connect to: inter.broker.listener.name, else the one
        named after security.inter.broker.protocol (Kafka's default), else the first one
        with that protocol, else the first advertised listener (where Kafka refuses to
        start, a single node with only custom-named listeners keeps working)."""
        advertised = self.advertised_endpoints()
        if self.inter_broker_listener_name is not None:
            return self.inter_broker_listener_name
        protocol = self.security_inter_broker_protocol or "PLAINTEXT"
        for e in advertised:
            if e.name == protocol:
                return e.name
        return next((e.name for e in advertised if e.security_protocol == protocol), advertised[0].name)

    def advertised_endpoints(self) -> list[Endpoint]:
        """The addresses given to clients (Metadata, FindCoordinator). An empty host becomes
        this machine's host name; port 0 stays 0 (the app substitutes the bound port)."""
        text = self.advertised_listeners
        endpoints = parse_listeners(list_items(text if text is not None else self.listeners),
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
        return list_items(self.log_cleanup_policy)

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
            retention_ms=self.retention_ms,
            retention_bytes=self.log_retention_bytes,
            file_delete_delay_ms=self.log_segment_delete_delay_ms,
            cleanup_policy=self.cleanup_policy,
            delete_retention_ms=self.log_cleaner_delete_retention_ms,
            min_cleanable_dirty_ratio=self.log_cleaner_min_cleanable_ratio,
            min_compaction_lag_ms=self.log_cleaner_min_compaction_lag_ms,
            max_compaction_lag_ms=self.log_cleaner_max_compaction_lag_ms,
        )

    def listener_setting(self, listener: str, name: str) -> Any:
        """Setting `name` for one listener: listener.name.<listener>.<name> when given (as
        text, parsed as the broker-wide setting is), else the broker-wide value."""
        prefixed = self.listener_prefixed.get(f"listener.name.{listener.lower()}.{name}")
        if prefixed is None:
            return getattr(self, _FIELD_BY_NAME[name]) if name in _FIELD_BY_NAME else None
        if name in _FIELD_BY_NAME:
            return broker_setting_type(name).coerce(prefixed)
        return prefixed

    def is_set(self, name: str) -> bool:
        """True if the Kafka setting `name` was given explicitly (by any source)."""
        return _FIELD_BY_NAME[name] in self.model_fields_set

    def kafka_value(self, name: str) -> str | None:
        """The Kafka setting `name` rendered as Kafka shows it (None when null)."""
        return to_kafka_string(getattr(self, _FIELD_BY_NAME[name]))


_FIELD_BY_NAME: dict[str, str] = {
    str(info.alias): field for field, info in BrokerConfig.model_fields.items()
    if info.alias != LISTENER_PREFIXED  # not one setting but a family of them
}
BROKER_SETTING_NAMES: frozenset[str] = frozenset(_FIELD_BY_NAME)


def broker_setting_type(name: str) -> KafkaType:
    """How the broker setting `name` is parsed and checked."""
    field = _FIELD_BY_NAME[name]
    for meta in BrokerConfig.model_fields[field].metadata:
        if isinstance(meta, KafkaType):
            return meta
    raise LookupError(field)  # every field is declared with one


def broker_setting_default(name: str) -> SettingValue | None:
    """The default of broker setting `name` (Kafka's, except where BrokerConfig says why)."""
    default: SettingValue | None = BrokerConfig.model_fields[_FIELD_BY_NAME[name]].default
    return default


def broker_setting_doc(name: str) -> str | None:
    """The one-line description of broker setting `name`."""
    return BrokerConfig.model_fields[_FIELD_BY_NAME[name]].description
