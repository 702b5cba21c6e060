"""ACLs on a single broker with ``authorizer.class.name`` set, through real clients.

Every connection here is PLAINTEXT, so User:ANONYMOUS, and the ACLs grant or deny
User:ANONYMOUS (and rules for another host, which 127.0.0.1 must not match). The broker
first runs with ``super.users=User:ANONYMOUS`` to create topics and ACLs, then restarts
without it: the ACLs must survive the restart and be enforced. The same rules for SASL
principals (User:alice vs User:bob) are in security/test_authorization_sasl.py.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)
from harness import BrokerProcess, JavaProgram, ServerProcess, compile_java
from harness.java import JAVA_SOURCE_DIR

from grete.protocol import ApiKey, ErrorCode

from .raw_kafka import RawKafka

ANON = "User:ANONYMOUS"
AUTHORIZER = {"authorizer.class.name": "kafka.security.authorizer.AclAuthorizer"}
ALL_ACLS = AclBindingFilter(
    ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY, AclPermissionType.ANY
)
WAIT_S = 10.0


def allow(rtype: ResourceType, name: str, op: AclOperation, *, pattern: ResourcePatternType = ResourcePatternType.LITERAL,
          host: str = "*", permission: AclPermissionType = AclPermissionType.ALLOW) -> AclBinding:
    return AclBinding(rtype, name, pattern, ANON, host, op, permission)


def deny(rtype: ResourceType, name: str, op: AclOperation) -> AclBinding:
    return allow(rtype, name, op, permission=AclPermissionType.DENY)


def admin(broker: ServerProcess) -> AdminClient:
    return AdminClient({"bootstrap.servers": broker.bootstrap})


def create_acls(broker: ServerProcess, bindings: list[AclBinding]) -> None:
    client = admin(broker)  # kept alive until the futures complete
    for binding, future in client.create_acls(bindings, request_timeout=10).items():
        assert future.result(timeout=WAIT_S) is None, binding


def described(broker: ServerProcess, selector: AclBindingFilter = ALL_ACLS) -> set[AclBinding]:
    client = admin(broker)
    return set(client.describe_acls(selector, request_timeout=10).result(timeout=WAIT_S))


def produce(broker: ServerProcess, topic: str, value: bytes = b"v") -> KafkaError | None:
    """Produce one record; the delivery error, or None once it is written."""
    producer = Producer({"bootstrap.servers": broker.bootstrap, "message.timeout.ms": 8000})
    outcome: list[KafkaError | None] = []
    producer.produce(topic, value, on_delivery=lambda err, _msg: outcome.append(err))
    producer.flush(WAIT_S)
    assert outcome, "no delivery report"
    return outcome[0]


def consume_error_or_value(broker: ServerProcess, topic: str, group: str) -> KafkaError | bytes:
    """Subscribe in ``group`` and return the first record's value or the first error."""
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error() is not None and msg.error().code() != KafkaError._PARTITION_EOF:
                return msg.error()
            if msg.error() is None:
                return msg.value()
        raise AssertionError(f"neither a record nor an error from {topic} within {WAIT_S}s")
    finally:
        consumer.close()


def assign_and_fetch(broker: ServerProcess, topic: str, group: str) -> KafkaError | bytes:
    """Fetch partition 0 by assignment; librdkafka still looks up ``group``'s coordinator,
    so the group must be one the principal may use."""
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            return msg.error() if msg.error() is not None else msg.value()
        raise AssertionError(f"neither a record nor an error from {topic} within {WAIT_S}s")
    finally:
        consumer.close()


@dataclass(frozen=True)
class Secured:
    broker: ServerProcess
    prefix: str
    acls: frozenset[AclBinding]

    def topic(self, suffix: str) -> str:
        return f"{self.prefix}-{suffix}"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    """A broker whose ACLs were created by a super user, then restarted without one."""
    root: Path = tmp_path_factory.mktemp("acls")
    prefix = f"acl-{uuid.uuid4().hex[:8]}"
    broker = BrokerProcess(root / "data", log_path=root / "broker.log",
                           overrides={**AUTHORIZER, "super.users": ANON})
    broker.start()
    try:
        topics = [f"{prefix}-{s}" for s in ("open", "secret", "hidden", "writeonly", "remote")]
        client = admin(broker)
        futures = client.create_topics([NewTopic(t, 1, 1) for t in topics], request_timeout=15)
        for future in futures.values():
            future.result(timeout=20)
        acls = [
            # ANONYMOUS administers ACLs but may not create topics.
            allow(ResourceType.BROKER, "kafka-cluster", AclOperation.ALTER),
            allow(ResourceType.BROKER, "kafka-cluster", AclOperation.DESCRIBE),
            # A PREFIXED ALLOW of everything on "<prefix>-open*".
            allow(ResourceType.TOPIC, f"{prefix}-open", AclOperation.ALL, pattern=ResourcePatternType.PREFIXED),
            # secret: All allowed, Write denied: DENY wins.
            allow(ResourceType.TOPIC, f"{prefix}-secret", AclOperation.ALL),
            deny(ResourceType.TOPIC, f"{prefix}-secret", AclOperation.WRITE),
            # writeonly: may produce (and so describe), not read.
            allow(ResourceType.TOPIC, f"{prefix}-writeonly", AclOperation.WRITE),
            # remote: allowed from another host only.
            allow(ResourceType.TOPIC, f"{prefix}-remote", AclOperation.ALL, host="10.11.12.13"),
            allow(ResourceType.GROUP, f"{prefix}-g", AclOperation.READ),
        ]
        create_acls(broker, acls)
        broker.stop(check=True)
        broker.overrides = dict(AUTHORIZER)  # no super user from now on
        broker.start()
        yield Secured(broker, prefix, frozenset(acls))
    finally:
        try:
            broker.stop()
        finally:
            broker.kill()


def test_acl_apis_answer_security_disabled_without_an_authorizer(shared_broker: ServerProcess) -> None:
    binding = allow(ResourceType.TOPIC, "t", AclOperation.READ)
    client = admin(shared_broker)
    with pytest.raises(KafkaException) as created:
        client.create_acls([binding], request_timeout=10)[binding].result(timeout=WAIT_S)
    assert created.value.args[0].code() == KafkaError.SECURITY_DISABLED
    # librdkafka's describe_acls drops a top-level error (it returns []): ask directly.
    with RawKafka(shared_broker.bootstrap) as raw:
        for version in (1, 2, 3):
            response = raw.request(ApiKey.DESCRIBE_ACLS, version, resource_type_filter=1,
                                   resource_name_filter=None, pattern_type_filter=1, principal_filter=None,
                                   host_filter=None, operation=1, permission_type=1)
            assert response.error_code == ErrorCode.security_disabled


def test_acls_survive_a_restart_and_filters_select_as_kafka(secured: Secured) -> None:
    assert described(secured.broker) == secured.acls
    prefix = secured.prefix
    # MATCH: every pattern that applies to one name (the PREFIXED one for "<p>-open-x").
    match = AclBindingFilter(ResourceType.TOPIC, f"{prefix}-open-x", ResourcePatternType.MATCH,
                             None, None, AclOperation.ANY, AclPermissionType.ANY)
    assert {b.name for b in described(secured.broker, match)} == {f"{prefix}-open"}
    denies = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                              AclOperation.ANY, AclPermissionType.DENY)
    assert described(secured.broker, denies) == {deny(ResourceType.TOPIC, f"{prefix}-secret", AclOperation.WRITE)}


def test_invalid_acls_are_refused_with_invalid_request(secured: Secured) -> None:
    bad_cluster = allow(ResourceType.BROKER, "not-the-cluster", AclOperation.ALTER)
    client = admin(secured.broker)
    with pytest.raises(KafkaException) as refused:
        client.create_acls([bad_cluster], request_timeout=10)[bad_cluster].result(timeout=WAIT_S)
    assert refused.value.args[0].code() == KafkaError.INVALID_REQUEST
    with RawKafka(secured.broker.bootstrap) as raw:
        creation = raw.make(ApiKey.CREATE_ACLS, 3, "AclCreation", resource_type=2, resource_name="t",
                            resource_pattern_type=3, principal="no-colon", host="*", operation=3,
                            permission_type=3)
        response = raw.request(ApiKey.CREATE_ACLS, 3, creations=[creation])
        assert [r.error_code for r in response.results] == [ErrorCode.invalid_request]
        unknown = raw.request(ApiKey.DESCRIBE_ACLS, 3, resource_type_filter=0, resource_name_filter=None,
                              pattern_type_filter=1, principal_filter=None, host_filter=None,
                              operation=1, permission_type=1)
        assert unknown.error_code == ErrorCode.invalid_request


def test_produce_is_allowed_by_a_prefixed_acl_and_refused_by_a_deny(secured: Secured) -> None:
    assert produce(secured.broker, secured.topic("open")) is None
    err = produce(secured.broker, secured.topic("secret"))
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err
    err = produce(secured.broker, secured.topic("hidden"))
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err


def test_consumer_without_read_gets_topic_authorization_failed_and_no_data(secured: Secured) -> None:
    topic = secured.topic("writeonly")
    assert produce(secured.broker, topic, b"private") is None
    got = assign_and_fetch(secured.broker, topic, f"{secured.prefix}-g")
    assert isinstance(got, KafkaError) and got.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, got
    assert produce(secured.broker, secured.topic("open"), b"readable") is None
    assert assign_and_fetch(secured.broker, secured.topic("open"), f"{secured.prefix}-g") in (b"v", b"readable")


def test_metadata_hides_topics_the_principal_may_not_describe(secured: Secured) -> None:
    listed = set(admin(secured.broker).list_topics(timeout=WAIT_S).topics)
    mine = {t for t in listed if t.startswith(secured.prefix)}
    # remote is allowed from 10.11.12.13 only; hidden has no ACL at all.
    assert mine == {secured.topic("open"), secured.topic("secret"), secured.topic("writeonly")}
    with RawKafka(secured.broker.bootstrap) as raw:
        wanted = [raw.make(ApiKey.METADATA, 12, "MetadataRequestTopic", name=secured.topic("hidden"))]
        response = raw.request(ApiKey.METADATA, 12, topics=wanted, allow_auto_topic_creation=True,
                               include_topic_authorized_operations=False)
        assert [t.error_code for t in response.topics] == [ErrorCode.topic_authorization_failed]


def test_group_without_read_gets_group_authorization_failed(secured: Secured) -> None:
    got = consume_error_or_value(secured.broker, secured.topic("open"), f"{secured.prefix}-other")
    assert isinstance(got, KafkaError) and got.code() == KafkaError.GROUP_AUTHORIZATION_FAILED, got
    assert produce(secured.broker, secured.topic("open"), b"grouped") is None
    got = consume_error_or_value(secured.broker, secured.topic("open"), f"{secured.prefix}-g")
    assert isinstance(got, bytes), got


def test_create_topics_needs_create(secured: Secured) -> None:
    name = secured.topic("new")
    client = admin(secured.broker)
    futures = client.create_topics([NewTopic(name, 1, 1)], request_timeout=10)
    with pytest.raises(KafkaException) as refused:
        futures[name].result(timeout=WAIT_S)
    assert refused.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_follower_fetch_needs_cluster_action(secured: Secured) -> None:
    """Brokers fetch as followers with replica_id >= 0; without ClusterAction on the cluster
    (or super.users) Kafka answers every partition TOPIC_AUTHORIZATION_FAILED."""
    with RawKafka(secured.broker.bootstrap) as raw:
        partition = raw.make(ApiKey.FETCH, 11, "FetchPartition", partition=0, fetch_offset=0,
                             partition_max_bytes=1 << 20, current_leader_epoch=-1, log_start_offset=-1,
                             last_fetched_epoch=-1)
        topic = raw.make(ApiKey.FETCH, 11, "FetchTopic", topic=secured.topic("open"), partitions=[partition])
        common = {"max_wait": 0, "min_bytes": 1, "max_bytes": 1 << 20, "isolation_level": 0,
                  "session_id": 0, "session_epoch": -1, "topics": [topic], "forgotten_topics_data": [],
                  "rack_id": ""}
        as_follower = raw.request(ApiKey.FETCH, 11, replica_id=1, **common)
        codes = [p.error_code for t in as_follower.responses for p in t.partitions]
        assert codes == [ErrorCode.topic_authorization_failed]
        as_consumer = raw.request(ApiKey.FETCH, 11, replica_id=-1, **common)
        assert [p.error_code for t in as_consumer.responses for p in t.partitions] == [ErrorCode.none]


def test_an_acl_granted_at_runtime_takes_effect_without_restart(secured: Secured) -> None:
    topic = secured.topic("hidden")
    err = produce(secured.broker, topic)
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    create_acls(secured.broker, [allow(ResourceType.TOPIC, topic, AclOperation.WRITE)])
    assert produce(secured.broker, topic) is None
    client = admin(secured.broker)
    deleted = client.delete_acls(
        [AclBindingFilter(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, None, None,
                          AclOperation.ANY, AclPermissionType.ANY)], request_timeout=10)
    assert [list(f.result(timeout=WAIT_S)) for f in deleted.values()] == [
        [allow(ResourceType.TOPIC, topic, AclOperation.WRITE)]
    ]
    err = produce(secured.broker, topic)
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


@pytest.fixture(scope="module")
def java_acls(tmp_path_factory: pytest.TempPathFactory) -> JavaProgram:
    try:
        return compile_java(JAVA_SOURCE_DIR / "GreteAcls.java", tmp_path_factory.mktemp("java-acls"))
    except FileNotFoundError as exc:
        pytest.fail(str(exc), pytrace=False)


def test_java_admin_creates_describes_and_deletes_acls(broker_factory: Callable[..., ServerProcess],
                                                       java_acls: JavaProgram) -> None:
    broker = broker_factory("--override", "authorizer.class.name=x", "--override", f"super.users={ANON}")
    out = java_acls(
        "--bootstrap", broker.bootstrap,
        "create", "TOPIC", "pay.", "PREFIXED", "User:alice", "*", "READ", "ALLOW", ";",
        "create", "GROUP", "g1", "LITERAL", "User:*", "10.0.0.1", "ALL", "DENY", ";",
        "create", "CLUSTER", "not-kafka-cluster", "LITERAL", "User:bob", "*", "ALTER", "ALLOW", ";",
        "describe", ";",
        "delete", "TOPIC", "pay.", "PREFIXED", ";",
        "describe",
        timeout=60,
    ).splitlines()
    assert out == [
        "ok",
        "ok",
        "error InvalidRequestException",
        "acls 2",
        "GROUP g1 LITERAL User:* 10.0.0.1 ALL DENY",
        "TOPIC pay. PREFIXED User:alice * READ ALLOW",
        "deleted 1",
        "acls 1",
        "GROUP g1 LITERAL User:* 10.0.0.1 ALL DENY",
    ]
