"""ACLs enforced for real SASL principals, and KIP-430's authorized operations.

One broker with the authorizer on and ``super.users=User:admin``. admin (PLAIN, over
SASL_SSL) creates the SCRAM users alice, bob and dave, the topics and the ACLs; the tests
then connect as alice, bob or dave with SCRAM-SHA-512 over SASL_SSL, so each request is
decided for ``User:<name>``, not ``User:ANONYMOUS``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from confluent_kafka import (
    Consumer,
    KafkaError,
    Producer,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)
from harness import ServerProcess
from harness.secure import SecureBroker, make_pki

from grete.protocol import ApiKey, ErrorCode

from ..raw_kafka import RawKafka
from .conftest import start_secure_broker

WAIT_S = 10.0
INT32_MIN = -(2**31)
PASSWORDS = {"alice": "alice-scram", "bob": "bob-scram", "dave": "dave-scram"}
ADMIN = {"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN",
         "sasl.username": "admin", "sasl.password": "admin-secret"}
# What Kafka answers with no authorizer: every operation the resource type supports.
ALL_TOPIC_OPS = {AclOperation.READ, AclOperation.WRITE, AclOperation.CREATE, AclOperation.DESCRIBE,
                 AclOperation.DELETE, AclOperation.ALTER, AclOperation.DESCRIBE_CONFIGS,
                 AclOperation.ALTER_CONFIGS}
ALL_CLUSTER_OPS = {AclOperation.CREATE, AclOperation.CLUSTER_ACTION, AclOperation.DESCRIBE_CONFIGS,
                   AclOperation.ALTER_CONFIGS, AclOperation.IDEMPOTENT_WRITE, AclOperation.ALTER,
                   AclOperation.DESCRIBE}
ALL_GROUP_OPS = {AclOperation.READ, AclOperation.DESCRIBE, AclOperation.DELETE}


def bits(ops: set[AclOperation]) -> int:
    return sum(1 << op.value for op in ops)


@dataclass(frozen=True)
class Authz:
    broker: SecureBroker
    ca: str
    prefix: str

    def conf(self, user: str) -> dict[str, str]:
        """librdkafka settings to connect as ``user`` (SCRAM-SHA-512 over SASL_SSL)."""
        base = {"bootstrap.servers": self.broker.bootstrap_for("SASL_SSL"), "ssl.ca.location": self.ca}
        if user == "admin":
            return {**base, **ADMIN}
        return {**base, "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
                "sasl.username": user, "sasl.password": PASSWORDS[user]}

    def admin(self, user: str) -> AdminClient:
        return AdminClient(self.conf(user))

    def topic(self, suffix: str) -> str:
        return f"{self.prefix}{suffix}"


def _acl(rtype: ResourceType, name: str, user: str, op: AclOperation, *,
         pattern: ResourcePatternType = ResourcePatternType.LITERAL,
         permission: AclPermissionType = AclPermissionType.ALLOW) -> AclBinding:
    return AclBinding(rtype, name, pattern, f"User:{user}", "*", op, permission)


@pytest.fixture(scope="module")
def authz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Authz]:
    root = tmp_path_factory.mktemp("authz")
    pki = make_pki(root / "pki")
    broker = start_secure_broker(root, pki, **{
        "authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
        "super.users": "User:admin",
        "listener.name.sasl_ssl.plain.sasl.jaas.config":
            'org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret";'})
    setup = Authz(broker, str(pki.ca), f"az-{uuid.uuid4().hex[:6]}.")
    try:
        admin = setup.admin("admin")
        upserts = [UserScramCredentialUpsertion(u, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096),
                                                p.encode()) for u, p in PASSWORDS.items()]
        for future in admin.alter_user_scram_credentials(upserts).values():
            future.result(timeout=15)
        topics = [setup.topic(s) for s in ("pay.orders", "pay.secret", "ops")]
        for future in admin.create_topics([NewTopic(t, 1, 1) for t in topics]).values():
            future.result(timeout=20)
        p = setup.prefix
        acls = [
            # alice: everything on "<p>pay." by prefix, but Read on "<p>pay.secret" is denied.
            _acl(ResourceType.TOPIC, f"{p}pay.", "alice", AclOperation.ALL,
                 pattern=ResourcePatternType.PREFIXED),
            _acl(ResourceType.TOPIC, f"{p}pay.secret", "alice", AclOperation.READ,
                 permission=AclPermissionType.DENY),
            # bob: may see "<p>pay.orders" (Describe) and write it, not read it.
            _acl(ResourceType.TOPIC, f"{p}pay.orders", "bob", AclOperation.WRITE),
            # dave: only Read and Describe on "<p>ops", Read on his group, Describe on the cluster.
            _acl(ResourceType.TOPIC, f"{p}ops", "dave", AclOperation.READ),
            _acl(ResourceType.TOPIC, f"{p}ops", "dave", AclOperation.DESCRIBE),
            _acl(ResourceType.GROUP, f"{p}dave-g", "dave", AclOperation.READ),
            _acl(ResourceType.BROKER, "kafka-cluster", "dave", AclOperation.DESCRIBE),
            *(_acl(ResourceType.GROUP, f"{p}g", u, AclOperation.READ) for u in ("alice", "bob")),
        ]
        for future in admin.create_acls(acls, request_timeout=10).values():
            future.result(timeout=WAIT_S)
        yield setup
    finally:
        try:
            broker.stop()
        finally:
            broker.kill()


def produce(conf: dict[str, str], topic: str, values: list[bytes]) -> KafkaError | None:
    """Produce the values; the first delivery error, or None once all are written."""
    outcome: list[KafkaError | None] = []
    producer = Producer({**conf, "message.timeout.ms": 8000})
    for value in values:
        producer.produce(topic, value, on_delivery=lambda err, _msg: outcome.append(err))
    producer.flush(WAIT_S)
    assert len(outcome) == len(values), "missing delivery reports"
    return next((e for e in outcome if e is not None), None)


def consume(conf: dict[str, str], topic: str, group: str, n: int) -> tuple[list[bytes], KafkaError | None]:
    """Subscribe in ``group``; the values read (up to n) and the first error, then commit."""
    consumer = Consumer({**conf, "group.id": group, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    values: list[bytes] = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + WAIT_S
        while len(values) < n and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error() is not None:
                if msg.error().code() != KafkaError._PARTITION_EOF:
                    return values, msg.error()
                continue
            values.append(msg.value())
        if values:
            consumer.commit(asynchronous=False)
        return values, None
    finally:
        consumer.close()


def test_alice_reads_and_commits_through_a_prefixed_allow(authz: Authz) -> None:
    topic, alice = authz.topic("pay.orders"), authz.conf("alice")
    assert produce(alice, topic, [b"o1", b"o2"]) is None
    values, error = consume(alice, topic, authz.topic("g"), 2)
    assert (values, error) == ([b"o1", b"o2"], None)
    consumer = Consumer({**alice, "group.id": authz.topic("g")})
    try:
        assert consumer.committed([TopicPartition(topic, 0)], timeout=WAIT_S)[0].offset == 2
    finally:
        consumer.close()


def test_bob_without_read_gets_topic_authorization_failed_and_no_data(authz: Authz) -> None:
    topic = authz.topic("pay.orders")
    assert produce(authz.conf("bob"), topic, [b"from-bob"]) is None  # Write is allowed
    values, error = consume(authz.conf("bob"), topic, authz.topic("g"), 1)
    assert values == []
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, error
    # Seen on the wire: a Fetch as bob answers the partition with the error and no records.
    with _scram_raw(authz, "bob") as raw:
        fetched = _fetch(raw, topic)
        assert [(p.error_code, bool(p.records)) for t in fetched.responses for p in t.partitions] == [
            (ErrorCode.topic_authorization_failed, False)
        ]


def test_deny_overrides_the_prefixed_allow(authz: Authz) -> None:
    topic, alice = authz.topic("pay.secret"), authz.conf("alice")
    assert produce(alice, topic, [b"s1"]) is None  # the ALLOW still grants Write
    values, error = consume(alice, topic, authz.topic("g"), 1)
    assert values == []
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, error
    # The same topic, read by the super user: the record is there, only alice may not read it.
    values, error = consume(authz.conf("admin"), topic, "admin-g", 1)
    assert (values, error) == ([b"s1"], None)


def test_other_principals_see_nothing_of_the_topics(authz: Authz) -> None:
    """dave may describe only "<p>ops": Metadata leaves the others out, and a produce to
    one is refused."""
    listed = set(authz.admin("dave").list_topics(timeout=WAIT_S).topics)
    assert {t for t in listed if t.startswith(authz.prefix)} == {authz.topic("ops")}
    error = produce(authz.conf("dave"), authz.topic("pay.orders"), [b"x"])
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, error


# -- KIP-430: authorized operations ------------------------------------------------------


def test_authorized_operations_of_a_read_describe_principal(authz: Authz) -> None:
    """dave has Read and Describe on "<p>ops", Read on his group (implying Describe) and
    Describe on the cluster: the three describe calls report exactly those."""
    dave, topic, group = authz.conf("dave"), authz.topic("ops"), authz.topic("dave-g")
    assert produce(authz.conf("admin"), topic, [b"op"]) is None
    assert consume(dave, topic, group, 1) == ([b"op"], None)  # the group exists now
    admin = authz.admin("dave")
    [described] = admin.describe_topics(TopicCollection([topic]), include_authorized_operations=True,
                                        request_timeout=WAIT_S).values()
    assert set(described.result(timeout=WAIT_S).authorized_operations) == {
        AclOperation.READ, AclOperation.DESCRIBE}
    cluster = admin.describe_cluster(include_authorized_operations=True, request_timeout=WAIT_S)
    assert set(cluster.result(timeout=WAIT_S).authorized_operations) == {AclOperation.DESCRIBE}
    [grouped] = admin.describe_consumer_groups([group], include_authorized_operations=True,
                                               request_timeout=WAIT_S).values()
    assert set(grouped.result(timeout=WAIT_S).authorized_operations) == {
        AclOperation.READ, AclOperation.DESCRIBE}
    # Not asked for: the clients get no list (the broker sent INT32_MIN).
    [plain] = admin.describe_topics(TopicCollection([topic]), request_timeout=WAIT_S).values()
    assert plain.result(timeout=WAIT_S).authorized_operations is None
    assert admin.describe_cluster(request_timeout=WAIT_S).result(timeout=WAIT_S).authorized_operations is None


def test_authorized_operations_on_the_wire(authz: Authz) -> None:
    """The raw fields: bits per operation code, INT32_MIN when not asked, cluster bits in
    Metadata v8-10 and DescribeCluster, group bits in DescribeGroups v3+."""
    topic, group = authz.topic("ops"), authz.topic("dave-g")
    read_describe = bits({AclOperation.READ, AclOperation.DESCRIBE})
    with _scram_raw(authz, "dave") as raw:
        for version in (8, 10):
            for asked in (True, False):
                wanted = [raw.make(ApiKey.METADATA, version, "MetadataRequestTopic", name=topic)]
                response = raw.request(ApiKey.METADATA, version, topics=wanted,
                                       allow_auto_topic_creation=False,
                                       include_cluster_authorized_operations=asked,
                                       include_topic_authorized_operations=asked)
                assert [t.topic_authorized_operations for t in response.topics] == [
                    read_describe if asked else INT32_MIN]
                assert response.cluster_authorized_operations == (
                    bits({AclOperation.DESCRIBE}) if asked else INT32_MIN)
        wanted = [raw.make(ApiKey.METADATA, 12, "MetadataRequestTopic", name=topic)]
        response = raw.request(ApiKey.METADATA, 12, topics=wanted, allow_auto_topic_creation=False,
                               include_topic_authorized_operations=True)
        assert [t.topic_authorized_operations for t in response.topics] == [read_describe]
        for asked in (True, False):
            cluster = raw.request(ApiKey.DESCRIBE_CLUSTER, 0, include_cluster_authorized_operations=asked)
            assert cluster.cluster_authorized_operations == (
                bits({AclOperation.DESCRIBE}) if asked else INT32_MIN)
            groups = raw.request(ApiKey.DESCRIBE_GROUPS, 5, groups=[group], include_authorized_operations=asked)
            assert [g.authorized_operations for g in groups.groups] == [
                read_describe if asked else INT32_MIN]


def test_authorized_operations_without_an_authorizer_are_all_supported(shared_broker: ServerProcess,
                                                                       topic_name: str) -> None:
    """With the authorizer off, Kafka reports every operation the resource type supports."""
    bootstrap = shared_broker.bootstrap
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic_name, 1, 1)])[topic_name].result(timeout=20)
    [described] = admin.describe_topics(TopicCollection([topic_name]), include_authorized_operations=True,
                                        request_timeout=WAIT_S).values()
    assert set(described.result(timeout=WAIT_S).authorized_operations) == ALL_TOPIC_OPS
    cluster = admin.describe_cluster(include_authorized_operations=True, request_timeout=WAIT_S)
    assert set(cluster.result(timeout=WAIT_S).authorized_operations) == ALL_CLUSTER_OPS
    with RawKafka(bootstrap) as raw:
        response = raw.request(ApiKey.METADATA, 9, topics=None, allow_auto_topic_creation=False,
                               include_cluster_authorized_operations=True,
                               include_topic_authorized_operations=True)
        assert response.cluster_authorized_operations == bits(ALL_CLUSTER_OPS)
        mine = [t.topic_authorized_operations for t in response.topics if t.name == topic_name]
        assert mine == [bits(ALL_TOPIC_OPS)]
        groups = raw.request(ApiKey.DESCRIBE_GROUPS, 5, groups=[f"{topic_name}-none"],
                             include_authorized_operations=True)
        assert [g.authorized_operations for g in groups.groups] == [bits(ALL_GROUP_OPS)]
        # A KIP-848 consumer group (joined by one raw heartbeat) and ConsumerGroupDescribe.
        group = f"{topic_name}-848"
        joined = raw.request(ApiKey.CONSUMER_GROUP_HEARTBEAT, 0, group_id=group, member_id="",
                             member_epoch=0, instance_id=None, rack_id=None, rebalance_timeout=30_000,
                             subscribed_topic_names=[topic_name], server_assignor=None, topic_partitions=[])
        assert joined.error_code == ErrorCode.none
        for asked in (True, False):
            described = raw.request(ApiKey.CONSUMER_GROUP_DESCRIBE, 0, group_ids=[group],
                                    include_authorized_operations=asked)
            assert [(g.error_code, g.authorized_operations) for g in described.groups] == [
                (ErrorCode.none, bits(ALL_GROUP_OPS) if asked else INT32_MIN)]


# -- raw connections as a SCRAM user -----------------------------------------------------


def _scram_raw(authz: Authz, user: str) -> RawKafka:
    """A RawKafka on the SASL_SSL listener, logged in as ``user`` with SCRAM-SHA-512."""
    import ssl

    from scramp import ScramClient

    raw = RawKafka(authz.broker.bootstrap_for("SASL_SSL"))
    context = ssl.create_default_context(cafile=authz.ca)
    raw.sock = context.wrap_socket(raw.sock, server_hostname="localhost")
    assert raw.request(17, 1, mechanism="SCRAM-SHA-512").error_code == 0
    client = ScramClient(["SCRAM-SHA-512"], user, PASSWORDS[user])
    first = raw.request(36, 2, auth_bytes=client.get_client_first().encode())
    client.set_server_first(first.auth_bytes.decode())
    final = raw.request(36, 2, auth_bytes=client.get_client_final().encode())
    assert final.error_code == 0, final.error_message
    return raw


def _fetch(raw: RawKafka, topic: str) -> Any:
    partition = raw.make(ApiKey.FETCH, 11, "FetchPartition", partition=0, fetch_offset=0,
                         partition_max_bytes=1 << 20, current_leader_epoch=-1, log_start_offset=-1,
                         last_fetched_epoch=-1)
    wanted = raw.make(ApiKey.FETCH, 11, "FetchTopic", topic=topic, partitions=[partition])
    return raw.request(ApiKey.FETCH, 11, replica_id=-1, max_wait=0, min_bytes=1, max_bytes=1 << 20,
                       isolation_level=0, session_id=0, session_epoch=-1, topics=[wanted],
                       forgotten_topics_data=[], rack_id="")
