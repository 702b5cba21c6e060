"""The znode paths of Kafka's classic (pre-KRaft) ZooKeeper layout.

    /cluster/id                                   the cluster id
    /controller                                   ephemeral: the active controller
    /controller_epoch                             bumped by each new controller; fences old ones
    /brokers/ids/<id>                             ephemeral: one live broker's registration
    /brokers/seqid                                its zkVersion generates broker ids
    /brokers/topics/<topic>                       replica assignment and topic id
    /brokers/topics/<topic>/partitions/<p>/state  leader, leader epoch, ISR
    /config/<entity type>/<name>                  dynamic config overrides
    /config/users/<user>/clients/<client id>      quota overrides of one user's client
    /config/changes/config_change_<seq>           notifies brokers of a config override change
    /admin/delete_topics/<topic>                  marks a topic for deletion
    /admin/reassign_partitions                    legacy reassignment request
    /isr_change_notification/isr_change_<seq>     a leader's ISR changes, for the controller
    /latest_producer_id_block                     the last block of producer ids handed out

Topic and entity names are checked here, since a '/' in one would address another znode.
"""

from __future__ import annotations

from urllib.parse import quote

from grete.cluster.topic_names import topic_name_error

CLUSTER = "/cluster"
CLUSTER_ID = "/cluster/id"
CONTROLLER = "/controller"
CONTROLLER_EPOCH = "/controller_epoch"
BROKERS = "/brokers"
BROKER_IDS = "/brokers/ids"
BROKER_SEQUENCE_ID = "/brokers/seqid"
TOPICS = "/brokers/topics"
CONFIG = "/config"
CONFIG_CHANGES = "/config/changes"
CONFIG_CHANGE_PREFIX = "config_change_"
ADMIN = "/admin"
DELETE_TOPICS = "/admin/delete_topics"
REASSIGN_PARTITIONS = "/admin/reassign_partitions"
PREFERRED_REPLICA_ELECTION = "/admin/preferred_replica_election"
ISR_CHANGE_NOTIFICATION = "/isr_change_notification"
ISR_CHANGE_PREFIX = "isr_change_"
LOG_DIR_EVENT_NOTIFICATION = "/log_dir_event_notification"
LATEST_PRODUCER_ID_BLOCK = "/latest_producer_id_block"
FEATURE = "/feature"
CONSUMERS = "/consumers"  # the old Scala consumer's; Kafka still creates it

# Kafka's ConfigType names: the children of /config.
CONFIG_TOPICS = "topics"
CONFIG_CLIENTS = "clients"
CONFIG_USERS = "users"
CONFIG_BROKERS = "brokers"
CONFIG_IPS = "ips"
CONFIG_ENTITY_TYPES = (CONFIG_TOPICS, CONFIG_CLIENTS, CONFIG_USERS, CONFIG_BROKERS, CONFIG_IPS)
# The entity name of the default config of a type (all clients, all brokers...); never sanitized.
DEFAULT_ENTITY = "<default>"

# A sequential znode's name ends with this many digits, zero-padded (ZooKeeper's format).
SEQUENCE_DIGITS = 10

# Created (empty) at broker start-up if missing, as Kafka's ZkData.PersistentZkPaths.
PERSISTENT_PATHS = (
    CONSUMERS,
    BROKER_IDS,
    TOPICS,
    CONFIG_CHANGES,
    DELETE_TOPICS,
    BROKER_SEQUENCE_ID,
    ISR_CHANGE_NOTIFICATION,
    LATEST_PRODUCER_ID_BLOCK,
    LOG_DIR_EVENT_NOTIFICATION,
    *(f"{CONFIG}/{entity_type}" for entity_type in CONFIG_ENTITY_TYPES),
)


def broker_id_path(broker_id: int) -> str:
    if broker_id < 0:
        raise ValueError(f"broker id {broker_id} is negative")
    return f"{BROKER_IDS}/{broker_id}"


def topic_path(topic: str) -> str:
    error = topic_name_error(topic)
    if error is not None:
        raise ValueError(error)
    return f"{TOPICS}/{topic}"


def topic_partitions_path(topic: str) -> str:
    return f"{topic_path(topic)}/partitions"


def topic_partition_path(topic: str, partition: int) -> str:
    if partition < 0:
        raise ValueError(f"partition {partition} is negative")
    return f"{topic_partitions_path(topic)}/{partition}"


def topic_partition_state_path(topic: str, partition: int) -> str:
    return f"{topic_partition_path(topic, partition)}/state"


def sanitize_entity_name(name: str) -> str:
    """Kafka's Sanitizer: a client id or user name made safe as one znode name.

    Every byte of the UTF-8 form except ASCII letters, digits and ``-._~`` becomes %XX.
    """
    return quote(name, safe="")


def config_entity_type_path(entity_type: str) -> str:
    if entity_type not in CONFIG_ENTITY_TYPES:
        raise ValueError(f"unknown config entity type {entity_type!r}")
    return f"{CONFIG}/{entity_type}"


def config_entity_path(entity_type: str, sanitized_name: str) -> str:
    """/config/<type>/<name>; ``sanitized_name`` is already sanitize_entity_name()d."""
    if not sanitized_name or "/" in sanitized_name or sanitized_name in (".", ".."):
        raise ValueError(f"config entity name {sanitized_name!r} is not one znode name")
    return f"{config_entity_type_path(entity_type)}/{sanitized_name}"


def topic_config_path(topic: str) -> str:
    topic_path(topic)  # the same name rules
    return config_entity_path(CONFIG_TOPICS, topic)


def client_config_path(client_id: str) -> str:
    """/config/clients/<client id>, sanitized; DEFAULT_ENTITY names the default quota."""
    name = client_id if client_id == DEFAULT_ENTITY else sanitize_entity_name(client_id)
    return config_entity_path(CONFIG_CLIENTS, name)


def quota_entity_znode_name(name: str | None) -> str:
    """A user, client id or IP as one znode name: sanitized, or DEFAULT_ENTITY for None."""
    return DEFAULT_ENTITY if name is None else sanitize_entity_name(name)


def user_client_config_path(sanitized_user: str, sanitized_client_id: str) -> str:
    """/config/users/<user>/clients/<client id>; both names already quota_entity_znode_name()d."""
    user = config_entity_path(CONFIG_USERS, sanitized_user)
    client = config_entity_path(CONFIG_CLIENTS, sanitized_client_id)  # checks the name
    return f"{user}/{CONFIG_CLIENTS}/{client.rsplit('/', 1)[1]}"


def broker_config_path(broker_id: int | None) -> str:
    """/config/brokers/<id>, or /config/brokers/<default> for the cluster-wide default."""
    if broker_id is None:
        return config_entity_path(CONFIG_BROKERS, DEFAULT_ENTITY)
    if broker_id < 0:
        raise ValueError(f"broker id {broker_id} is negative")
    return config_entity_path(CONFIG_BROKERS, str(broker_id))


def config_change_create_path() -> str:
    """The path to create with ZooKeeper's SEQUENTIAL flag; the server appends the number."""
    return f"{CONFIG_CHANGES}/{CONFIG_CHANGE_PREFIX}"


def config_change_path(sequence_number: int) -> str:
    return f"{CONFIG_CHANGES}/{sequence_node_name(CONFIG_CHANGE_PREFIX, sequence_number)}"


def isr_change_create_path() -> str:
    return f"{ISR_CHANGE_NOTIFICATION}/{ISR_CHANGE_PREFIX}"


def isr_change_path(sequence_number: int) -> str:
    return f"{ISR_CHANGE_NOTIFICATION}/{sequence_node_name(ISR_CHANGE_PREFIX, sequence_number)}"


def delete_topic_path(topic: str) -> str:
    """The deletion marker of a topic: its presence is the request, it carries no data."""
    topic_path(topic)
    return f"{DELETE_TOPICS}/{topic}"


def sequence_node_name(prefix: str, sequence_number: int) -> str:
    if not 0 <= sequence_number < 10**SEQUENCE_DIGITS:
        raise ValueError(f"sequence number {sequence_number} does not fit {SEQUENCE_DIGITS} digits")
    return f"{prefix}{sequence_number:0{SEQUENCE_DIGITS}d}"


def sequence_number(prefix: str, node_name: str) -> int:
    """The number ZooKeeper appended to a sequential node's name (a name or a whole path).

    Raises ValueError for a name that is not ``prefix`` followed by the digits.
    """
    name = node_name.rsplit("/", 1)[-1]
    digits = name[len(prefix) :]
    if not name.startswith(prefix) or not digits.isascii() or not digits.isdigit():
        raise ValueError(f"{node_name!r} is not a {prefix}<sequence number> node")
    return int(digits)
