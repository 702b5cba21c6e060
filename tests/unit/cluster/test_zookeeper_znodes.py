"""Znode data formats: Kafka-written JSON decodes, our encoding is Kafka's, junk is rejected.

The sample documents are written from Kafka's documented ZooKeeper formats (ZkData's
schema comments and the data a 2.x/3.x broker leaves in ZooKeeper), not produced by our
own encoder, so a shared misunderstanding cannot pass both directions.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import pytest

from grete.cluster.zookeeper.znodes import (
    DELETE_TOPIC_MARKER,
    BrokerRegistration,
    ClusterId,
    ConfigChangeNotification,
    ControllerRegistration,
    EndPoint,
    EntityConfig,
    IsrChangeNotification,
    LeaderRecoveryState,
    PartitionReassignment,
    PartitionState,
    ProducerIdBlock,
    ReplicaAssignment,
    SupportedVersionRange,
    TopicAssignment,
    ZNodeFormatError,
    decode_controller_epoch,
    decode_topic_id,
    encode_controller_epoch,
    encode_topic_id,
)
from grete.partition.topic_partition import TopicPartition

TOPIC_ID = uuid.UUID("abd03c46-aa8b-4413-a4dc-42ec98a1704a")
TOPIC_ID_TEXT = "q9A8RqqLRBOk3ELsmKFwSg"  # the same id as Kafka's Uuid.toString prints it


def as_json(data: bytes) -> object:
    return json.loads(data.decode("utf-8"))


# -- Kafka-written samples decode -------------------------------------------------------


def test_broker_registration_v5_with_two_listeners_rack_and_features() -> None:
    sample = (
        b'{"features":{"metadata.version":{"min_version":1,"max_version":14}},'
        b'"listener_security_protocol_map":{"CLIENT":"SASL_SSL","REPLICATION":"PLAINTEXT"},'
        b'"endpoints":["CLIENT://host1:9093","REPLICATION://host1:9092"],"rack":"dc1",'
        b'"jmx_port":9999,"port":9092,"host":"host1","version":5,"timestamp":"1700000000123"}'
    )
    broker = BrokerRegistration.decode(7, sample)
    assert broker == BrokerRegistration(
        broker_id=7,
        endpoints=(
            EndPoint("CLIENT", "host1", 9093, "SASL_SSL"),
            EndPoint("REPLICATION", "host1", 9092, "PLAINTEXT"),
        ),
        rack="dc1",
        jmx_port=9999,
        timestamp_ms=1700000000123,
        features={"metadata.version": SupportedVersionRange(1, 14)},
    )


def test_broker_registration_v4_without_features_or_rack() -> None:
    sample = (
        b'{"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT"},'
        b'"endpoints":["PLAINTEXT://10.9.167.48:9092"],"jmx_port":-1,"host":"10.9.167.48",'
        b'"timestamp":"1543300074836","port":9092,"version":4}'
    )
    broker = BrokerRegistration.decode(1, sample)
    assert broker.endpoints == (EndPoint("PLAINTEXT", "10.9.167.48", 9092, "PLAINTEXT"),)
    assert (broker.rack, broker.jmx_port, broker.features) == (None, -1, {})
    assert broker.timestamp_ms == 1543300074836


def test_broker_registration_v2_names_listeners_after_their_protocol() -> None:
    sample = (
        b'{"version":2,"host":"localhost","port":9092,"jmx_port":9999,"timestamp":"2233345666",'
        b'"endpoints":["PLAINTEXT://host1:9092","SSL://host1:9093"]}'
    )
    broker = BrokerRegistration.decode(0, sample)
    assert [(e.listener_name, e.security_protocol, e.port) for e in broker.endpoints] == [
        ("PLAINTEXT", "PLAINTEXT", 9092),
        ("SSL", "SSL", 9093),
    ]


def test_broker_registration_v1_has_only_host_and_port() -> None:
    sample = (
        b'{"version":1,"host":"localhost","port":9092,"jmx_port":9999,"timestamp":"2233345666"}'
    )
    assert BrokerRegistration.decode(3, sample).endpoints == (
        EndPoint("PLAINTEXT", "localhost", 9092, "PLAINTEXT"),
    )


def test_broker_registration_ipv6_and_wildcard_hosts() -> None:
    sample = (
        b'{"listener_security_protocol_map":{"A":"PLAINTEXT","B":"SSL"},'
        b'"endpoints":["A://[::1]:9092","B://:9093"],"jmx_port":-1,"host":"::1","port":9092,'
        b'"version":5,"timestamp":"1","features":{}}'
    )
    broker = BrokerRegistration.decode(0, sample)
    assert broker.endpoints == (EndPoint("A", "::1", 9092), EndPoint("B", None, 9093, "SSL"))
    assert [e.connection_string for e in broker.endpoints] == ["A://[::1]:9092", "B://:9093"]


def test_controller_v1_and_migration_v2() -> None:
    v1 = ControllerRegistration.decode(b'{"version":1,"brokerid":2,"timestamp":"1700000000000"}')
    assert v1 == ControllerRegistration(2, 1700000000000, None)
    v2 = ControllerRegistration.decode(
        b'{"version":2,"brokerid":3,"timestamp":"5","kraftControllerEpoch":-1}'
    )
    assert v2 == ControllerRegistration(3, 5, -1)


def test_controller_epoch_is_plain_text() -> None:
    assert decode_controller_epoch(b"17") == 17
    assert encode_controller_epoch(17) == b"17"
    assert decode_controller_epoch(b"0") == 0


def test_topic_v3_with_topic_id_and_a_reassignment_in_progress() -> None:
    sample = (
        b'{"partitions":{"0":[1,2,3],"1":[2,3,4]},"topic_id":"' + TOPIC_ID_TEXT.encode() + b'",'
        b'"adding_replicas":{"1":[4]},"removing_replicas":{"1":[1]},"version":3}'
    )
    topic = TopicAssignment.decode(sample)
    assert topic.topic_id == TOPIC_ID
    assert topic.partitions == {
        0: ReplicaAssignment((1, 2, 3)),
        1: ReplicaAssignment((2, 3, 4), adding_replicas=(4,), removing_replicas=(1,)),
    }


def test_topic_v1_has_partitions_only() -> None:
    topic = TopicAssignment.decode(b'{"version":1,"partitions":{"0":[0],"2":[1],"1":[2]}}')
    assert topic.topic_id is None
    assert {p: a.replicas for p, a in topic.partitions.items()} == {0: (0,), 1: (2,), 2: (1,)}


def test_partition_state_sample_and_recovering_leader() -> None:
    sample = b'{"controller_epoch":1,"leader":3,"version":1,"leader_epoch":55,"isr":[1,2,3]}'
    assert PartitionState.decode(sample) == PartitionState(3, 55, (1, 2, 3), 1)
    recovering = PartitionState.decode(
        b'{"controller_epoch":4,"leader":2,"version":1,"leader_epoch":9,"isr":[2],'
        b'"leader_recovery_state":1}'
    )
    assert recovering.leader_recovery_state is LeaderRecoveryState.RECOVERING
    no_leader = PartitionState.decode(
        b'{"controller_epoch":4,"leader":-1,"version":1,"leader_epoch":10,"isr":[]}'
    )
    assert (no_leader.leader, no_leader.isr) == (-1, ())


def test_producer_id_block_bounds_are_inclusive_strings() -> None:
    block = ProducerIdBlock.decode(
        b'{"version":1,"broker":2,"block_start":"1000","block_end":"1999"}'
    )
    assert block == ProducerIdBlock(assigned_broker_id=2, first_producer_id=1000, size=1000)
    assert block.last_producer_id == 1999


def test_entity_config_and_change_notifications() -> None:
    config = EntityConfig.decode(
        b'{"version":1,"config":{"retention.ms":"86400000","cleanup.policy":"compact"}}'
    )
    assert config.config == {"retention.ms": "86400000", "cleanup.policy": "compact"}
    assert EntityConfig.decode(b'{"version":1}').config == {}
    v2 = ConfigChangeNotification.decode(b'{"version":2,"entity_path":"topics/foo"}')
    assert v2.entity_path == "topics/foo"
    v1 = ConfigChangeNotification.decode(
        b'{"version":1,"entity_type":"clients","entity_name":"app"}'
    )
    assert v1.entity_path == "clients/app"


def test_cluster_id_version_is_a_string() -> None:
    assert ClusterId.decode(b'{"version":"1","id":"1N7JbZwjS-aW9JCXTZUbGQ"}').id == (
        "1N7JbZwjS-aW9JCXTZUbGQ"
    )
    assert as_json(ClusterId("abc").encode()) == {"version": "1", "id": "abc"}


def test_isr_change_and_reassignment_requests() -> None:
    isr = IsrChangeNotification.decode(
        b'{"version":1,"partitions":[{"topic":"foo","partition":0},{"topic":"bar","partition":1}]}'
    )
    assert isr.partitions == {TopicPartition("foo", 0), TopicPartition("bar", 1)}
    reassign = PartitionReassignment.decode(
        b'{"version":1,"partitions":[{"topic":"foo","partition":0,"replicas":[1,2]}]}'
    )
    assert reassign.replicas == {TopicPartition("foo", 0): (1, 2)}


def test_delete_topic_marker_has_no_data() -> None:
    assert DELETE_TOPIC_MARKER == b""


# -- our encoding is Kafka's --------------------------------------------------------------


def test_broker_registration_encodes_kafka_v5_fields() -> None:
    broker = BrokerRegistration(
        broker_id=4,
        endpoints=(EndPoint("SSL", "h", 9093, "SSL"), EndPoint("PLAINTEXT", "h", 9092)),
        jmx_port=-1,
        timestamp_ms=42,
    )
    assert as_json(broker.encode()) == {
        "version": 5,
        "host": "h",  # the first PLAINTEXT endpoint, for pre-0.10 clients
        "port": 9092,
        "endpoints": ["SSL://h:9093", "PLAINTEXT://h:9092"],
        "jmx_port": -1,
        "timestamp": "42",
        "listener_security_protocol_map": {"SSL": "SSL", "PLAINTEXT": "PLAINTEXT"},
        "features": {},
    }
    no_plaintext = BrokerRegistration(1, (EndPoint("SSL", "h", 9093, "SSL"),), rack="r1")
    fields = as_json(no_plaintext.encode())
    assert isinstance(fields, dict)
    assert (fields["host"], fields["port"], fields["rack"]) == (None, -1, "r1")


def test_encodings_are_compact_json_as_kafka_writes() -> None:
    assert ControllerRegistration(1, 99).encode() == (
        b'{"version":1,"brokerid":1,"timestamp":"99"}'
    )
    assert ConfigChangeNotification("topics/foo").encode() == (
        b'{"version":2,"entity_path":"topics/foo"}'
    )
    assert ProducerIdBlock(0, 0, 1000).encode() == (
        b'{"version":1,"broker":0,"block_start":"0","block_end":"999"}'
    )
    assert PartitionState(1, 0, (1, 2), 3).encode() == (
        b'{"version":1,"leader":1,"leader_epoch":0,"isr":[1,2],"controller_epoch":3}'
    )


def test_topic_encodes_version_3_with_empty_reassignment_maps() -> None:
    topic = TopicAssignment({1: ReplicaAssignment((2, 1)), 0: ReplicaAssignment((1, 2))}, TOPIC_ID)
    assert as_json(topic.encode()) == {
        "version": 3,
        "partitions": {"0": [1, 2], "1": [2, 1]},
        "adding_replicas": {},
        "removing_replicas": {},
        "topic_id": TOPIC_ID_TEXT,
    }


def test_recovery_state_is_written_only_while_recovering() -> None:
    recovered = as_json(PartitionState(1, 2, (1,), 3).encode())
    recovering = as_json(PartitionState(1, 2, (1,), 3, LeaderRecoveryState.RECOVERING).encode())
    assert isinstance(recovered, dict) and isinstance(recovering, dict)
    assert "leader_recovery_state" not in recovered
    assert recovering["leader_recovery_state"] == 1


def test_topic_id_text_form() -> None:
    assert encode_topic_id(TOPIC_ID) == TOPIC_ID_TEXT
    assert decode_topic_id(TOPIC_ID_TEXT) == TOPIC_ID
    zero = uuid.UUID(int=0)
    assert encode_topic_id(zero) == "AAAAAAAAAAAAAAAAAAAAAA"


# -- round trips ------------------------------------------------------------------------

ROUND_TRIPS: list[tuple[object, Callable[[bytes], object]]] = [
    (
        BrokerRegistration(
            5,
            (EndPoint("INTERNAL", "::1", 1, "SASL_PLAINTEXT"), EndPoint("EXTERNAL", None, 65535)),
            rack="é-rack",
            jmx_port=9999,
            timestamp_ms=2**62,
            features={"a": SupportedVersionRange(0, 3), "b": SupportedVersionRange(-1, -1)},
        ),
        lambda data: BrokerRegistration.decode(5, data),
    ),
    (BrokerRegistration(0, ()), lambda data: BrokerRegistration.decode(0, data)),
    (ControllerRegistration(3, 123), ControllerRegistration.decode),
    (ControllerRegistration(3, 123, kraft_controller_epoch=8), ControllerRegistration.decode),
    (TopicAssignment({}), TopicAssignment.decode),
    (
        TopicAssignment(
            {0: ReplicaAssignment((1, 2, 3), (3,), ()), 7: ReplicaAssignment((4,), (), (5, 6))},
            uuid.uuid4(),
        ),
        TopicAssignment.decode,
    ),
    (PartitionState(-1, 2**31 - 1, (), 0), PartitionState.decode),
    (PartitionState(2, 1, (2, 0), 5, LeaderRecoveryState.RECOVERING), PartitionState.decode),
    (ProducerIdBlock(1, 2**40, 1000), ProducerIdBlock.decode),
    (EntityConfig({"a.b": "1", "c": "", "ünï": "cödé"}), EntityConfig.decode),
    (EntityConfig(), EntityConfig.decode),
    (ConfigChangeNotification("users/alice/clients/app"), ConfigChangeNotification.decode),
    (ClusterId("Zm9vYmFy"), ClusterId.decode),
    (IsrChangeNotification(frozenset()), IsrChangeNotification.decode),
    (
        IsrChangeNotification(frozenset({TopicPartition("b", 1), TopicPartition("a", 2)})),
        IsrChangeNotification.decode,
    ),
    (
        PartitionReassignment({TopicPartition("t", 0): (1, 2), TopicPartition("t", 1): ()}),
        PartitionReassignment.decode,
    ),
]


@pytest.mark.parametrize(("value", "decode"), ROUND_TRIPS, ids=lambda v: type(v).__name__)
def test_round_trip(value: object, decode: Callable[[bytes], object]) -> None:
    encode = getattr(value, "encode")  # noqa: B009 -- every format has one
    data = encode()
    assert isinstance(data, bytes)
    assert decode(data) == value
    assert decode(data).encode() == data  # type: ignore[attr-defined]


@pytest.mark.parametrize("epoch", [0, 1, 2**31 - 1])
def test_controller_epoch_round_trip(epoch: int) -> None:
    assert decode_controller_epoch(encode_controller_epoch(epoch)) == epoch


# -- malformed input is rejected with ZNodeFormatError ----------------------------------

DECODERS: dict[str, Callable[[bytes], object]] = {
    "broker": lambda data: BrokerRegistration.decode(0, data),
    "controller": ControllerRegistration.decode,
    "controller_epoch": decode_controller_epoch,
    "topic": TopicAssignment.decode,
    "partition_state": PartitionState.decode,
    "producer_id_block": ProducerIdBlock.decode,
    "entity_config": EntityConfig.decode,
    "config_change": ConfigChangeNotification.decode,
    "cluster_id": ClusterId.decode,
    "isr_change": IsrChangeNotification.decode,
    "reassignment": PartitionReassignment.decode,
}

NOT_AN_OBJECT = [b"", b"not json", b"\xff\xfe{}", b"[]", b"null", b"42", b'"x"', b"{", b"{}}"]


@pytest.mark.parametrize("kind", sorted(set(DECODERS) - {"controller_epoch"}))  # not JSON
@pytest.mark.parametrize("data", NOT_AN_OBJECT)
def test_not_a_json_object_is_rejected(kind: str, data: bytes) -> None:
    with pytest.raises(ZNodeFormatError):
        DECODERS[kind](data)


@pytest.mark.parametrize("kind", sorted(set(DECODERS) - {"entity_config"}))
def test_empty_object_is_rejected(kind: str) -> None:
    # EntityConfig alone reads {} as "no overrides", as Kafka does.
    with pytest.raises(ZNodeFormatError):
        DECODERS[kind](b"{}")


def test_non_bytes_input_is_rejected() -> None:
    with pytest.raises(ZNodeFormatError):
        PartitionState.decode(None)  # type: ignore[arg-type]
    with pytest.raises(ZNodeFormatError):
        decode_controller_epoch(None)  # type: ignore[arg-type]


BROKER_V5 = (
    '{"version":5,"host":"h","port":9092,"jmx_port":-1,"timestamp":"1",'
    '"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT"},'
    '"endpoints":["PLAINTEXT://h:9092"],"features":{}}'
)
STATE = '{"version":1,"leader":1,"leader_epoch":0,"isr":[1],"controller_epoch":1}'
BLOCK = '{"version":1,"broker":0,"block_start":"0","block_end":"999"}'
TOPIC = '{"version":3,"partitions":{"0":[1]},"adding_replicas":{},"removing_replicas":{}}'


def replaced(document: str, key: str, value: object) -> bytes:
    fields = json.loads(document)
    fields[key] = value
    return json.dumps(fields).encode()


BAD_FIELDS: list[tuple[str, bytes, str]] = [
    ("partition_state", replaced(STATE, "leader", "1"), "string leader"),
    ("partition_state", replaced(STATE, "leader", True), "boolean leader"),
    ("partition_state", replaced(STATE, "leader", 1.0), "float leader"),
    ("partition_state", replaced(STATE, "leader", 2**31), "leader beyond int32"),
    ("partition_state", replaced(STATE, "isr", [1, "2"]), "string in isr"),
    ("partition_state", replaced(STATE, "isr", None), "null isr"),
    ("partition_state", replaced(STATE, "isr", {"0": 1}), "object isr"),
    ("partition_state", replaced(STATE, "leader_recovery_state", 7), "unknown recovery state"),
    ("partition_state", STATE.replace("1,", "NaN,", 1).encode(), "NaN"),
    ("producer_id_block", replaced(BLOCK, "block_start", 0), "numeric block_start"),
    ("producer_id_block", replaced(BLOCK, "block_end", "x"), "non-decimal block_end"),
    ("producer_id_block", replaced(BLOCK, "block_end", "-1"), "block_end before block_start"),
    ("producer_id_block", replaced(BLOCK, "block_end", str(2**63)), "block_end beyond int64"),
    ("producer_id_block", replaced(BLOCK, "block_end", str(2**40)), "block over int32 ids"),
    ("topic", replaced(TOPIC, "partitions", {"x": [1]}), "non-numeric partition"),
    ("topic", replaced(TOPIC, "partitions", {"-1": [1]}), "negative partition"),
    ("topic", replaced(TOPIC, "partitions", {"0": [-1]}), "negative replica"),
    ("topic", replaced(TOPIC, "partitions", [[1]]), "partitions as a list"),
    ("topic", replaced(TOPIC, "adding_replicas", {"0": 4}), "adding replicas not a list"),
    ("topic", replaced(TOPIC, "topic_id", "not-a-uuid"), "bad topic id"),
    ("topic", replaced(TOPIC, "topic_id", TOPIC_ID_TEXT[:-1] + "h"), "non-canonical topic id"),
    ("topic", replaced(TOPIC, "topic_id", 5), "numeric topic id"),
    ("broker", replaced(BROKER_V5, "version", 0), "version 0"),
    ("broker", replaced(BROKER_V5, "endpoints", "PLAINTEXT://h:9092"), "endpoints not a list"),
    ("broker", replaced(BROKER_V5, "endpoints", ["h:9092"]), "endpoint without listener"),
    ("broker", replaced(BROKER_V5, "endpoints", ["PLAINTEXT://h:99999"]), "port beyond 65535"),
    ("broker", replaced(BROKER_V5, "endpoints", ["OTHER://h:9092"]), "unmapped listener"),
    ("broker", replaced(BROKER_V5, "endpoints", ["PLAINTEXT://h:" + "9" * 5000]), "huge port"),
    ("broker", replaced(BROKER_V5, "timestamp", "9" * 5000), "huge timestamp"),
    ("broker", replaced(BROKER_V5, "endpoints", [9092]), "numeric endpoint"),
    (
        "broker",
        replaced(BROKER_V5, "listener_security_protocol_map", {"PLAINTEXT": "TLS"}),
        "unknown security protocol",
    ),
    ("broker", replaced(BROKER_V5, "jmx_port", "9999"), "string jmx_port"),
    ("broker", replaced(BROKER_V5, "timestamp", 1), "numeric timestamp"),
    ("broker", replaced(BROKER_V5, "rack", 1), "numeric rack"),
    (
        "broker",
        replaced(BROKER_V5, "features", {"f": {"min_version": 3, "max_version": 1}}),
        "feature min above max",
    ),
    ("broker", replaced(BROKER_V5, "features", {"f": 1}), "feature not an object"),
    ("controller", b'{"version":3,"brokerid":1,"timestamp":"1"}', "controller version 3"),
    ("controller", b'{"version":1,"brokerid":"1","timestamp":"1"}', "string brokerid"),
    ("controller_epoch", b"abc", "letters"),
    ("controller_epoch", b"-1", "negative epoch"),
    ("controller_epoch", b"1.5", "fraction"),
    ("controller_epoch", b"\xff", "not ASCII"),
    ("controller_epoch", str(2**31).encode(), "beyond int32"),
    ("controller_epoch", b"1" * 5000, "5000 digits"),
    (
        "partition_state",
        STATE.replace('"leader":1,', '"leader":' + "1" * 5000 + ",").encode(),
        "5000-digit leader",
    ),
    ("entity_config", b'{"version":1,"config":{"retention.ms":86400000}}', "numeric value"),
    ("entity_config", b'{"version":1,"config":["a"]}', "config a list"),
    ("config_change", b'{"version":3,"entity_path":"topics/foo"}', "version 3"),
    ("config_change", b'{"version":2,"entity_path":"topics"}', "path without a name"),
    ("config_change", b'{"version":1,"entity_type":"topics"}', "v1 without a name"),
    ("cluster_id", b'{"version":"1","id":""}', "empty id"),
    ("cluster_id", b'{"version":"1","id":7}', "numeric id"),
    ("isr_change", b'{"version":1,"partitions":[{"topic":"a"}]}', "entry without partition"),
    ("isr_change", b'{"version":1,"partitions":["a-0"]}', "entry as a string"),
    ("reassignment", b'{"version":2,"partitions":[]}', "reassignment version 2"),
]


@pytest.mark.parametrize(("kind", "data", "why"), BAD_FIELDS, ids=[b[2] for b in BAD_FIELDS])
def test_bad_field_is_rejected(kind: str, data: bytes, why: str) -> None:
    with pytest.raises(ZNodeFormatError):
        DECODERS[kind](data)


def test_error_names_the_znode_and_field() -> None:
    with pytest.raises(ZNodeFormatError, match=r"partition state: field 'leader_epoch' is missing"):
        PartitionState.decode(b'{"version":1,"leader":1,"isr":[1],"controller_epoch":1}')


SAMPLES = {
    "broker": BROKER_V5,
    "partition_state": STATE,
    "producer_id_block": BLOCK,
    "topic": TOPIC,
    "controller": '{"version":1,"brokerid":1,"timestamp":"1"}',
    "entity_config": '{"version":1,"config":{"a":"b"}}',
    "config_change": '{"version":2,"entity_path":"topics/foo"}',
    "cluster_id": '{"version":"1","id":"abc"}',
    "isr_change": '{"version":1,"partitions":[{"topic":"a","partition":0}]}',
    "reassignment": '{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[1]}]}',
}
ODD_VALUES: list[object] = [None, True, 1.5, -1, 2**70, "x", "", [], [None], {}, {"0": None}]


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_any_field_of_any_type_decodes_or_raises_znode_format_error(kind: str) -> None:
    """Each field of a valid document swapped for each odd value, and each truncation:
    the decoder either accepts the result or raises ZNodeFormatError, nothing else."""
    document = SAMPLES[kind]
    decode = DECODERS[kind]
    decode(document.encode())  # the sample itself is valid
    rejected = 0
    variants = [
        replaced(document, key, value) for key in json.loads(document) for value in ODD_VALUES
    ]
    variants += [document.encode()[:cut] for cut in range(len(document))]
    for data in variants:
        try:
            decode(data)
        except ZNodeFormatError:
            rejected += 1
    assert rejected >= len(document)  # at least every truncation was refused
