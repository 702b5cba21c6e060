"""Client quota entities, their configuration keys, and Kafka's checks of an alteration.

An entity is a user, a client id, a (user, client id) pair, or an IP address. Each part
names one principal, client or address, or the type's default (``None``; Kafka's
``<default>``). User and client entities take the byte-rate, request-percentage and
controller-mutation quotas; IP entities take ``connection_creation_rate``.

The checks are those of Kafka's controller (ClientQuotaControlManager): an entity with an
unknown or repeated type, an empty name, an IP mixed with a user or client id, an unknown
key or a value that is not positive or not of the key's type is refused with a message.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

USER = "user"
CLIENT_ID = "client-id"
IP = "ip"
ENTITY_TYPES = (USER, CLIENT_ID, IP)  # also the order of an entity's parts

PRODUCER_BYTE_RATE = "producer_byte_rate"
CONSUMER_BYTE_RATE = "consumer_byte_rate"
REQUEST_PERCENTAGE = "request_percentage"
CONTROLLER_MUTATION_RATE = "controller_mutation_rate"
CONNECTION_CREATION_RATE = "connection_creation_rate"

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
# Kafka accepts an integral value within this of a whole number (a double on the wire).
INTEGRAL_EPSILON = 1e-6


class ValueType(Enum):
    """The ConfigDef type of a quota key: what values it accepts and how ZooKeeper stores it."""

    LONG = "long"
    INT = "int"
    DOUBLE = "double"


USER_CLIENT_QUOTA_KEYS: Mapping[str, ValueType] = {
    PRODUCER_BYTE_RATE: ValueType.LONG,
    CONSUMER_BYTE_RATE: ValueType.LONG,
    REQUEST_PERCENTAGE: ValueType.DOUBLE,
    CONTROLLER_MUTATION_RATE: ValueType.DOUBLE,
}
IP_QUOTA_KEYS: Mapping[str, ValueType] = {CONNECTION_CREATION_RATE: ValueType.INT}

QuotaValues = Mapping[str, float]
QuotaConfigs = Mapping["QuotaEntity", QuotaValues]


class QuotaRequestError(ValueError):
    """A quota request Kafka refuses. ``kind`` names the Kafka error of the entry (or of
    the whole describe): ``invalid_request`` or ``unsupported_version``."""

    def __init__(self, message: str, kind: str = "invalid_request") -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class QuotaEntity:
    """One quota entity: (entity type, name) parts in ENTITY_TYPES order; a name of None is
    the type's default entity. Build it with the ``for_*`` constructors or ``parse_entity``."""

    parts: tuple[tuple[str, str | None], ...]

    @classmethod
    def for_user(cls, user: str | None) -> QuotaEntity:
        return cls(((USER, user),))

    @classmethod
    def for_client(cls, client_id: str | None) -> QuotaEntity:
        return cls(((CLIENT_ID, client_id),))

    @classmethod
    def for_user_client(cls, user: str | None, client_id: str | None) -> QuotaEntity:
        return cls(((USER, user), (CLIENT_ID, client_id)))

    @classmethod
    def for_ip(cls, ip: str | None) -> QuotaEntity:
        return cls(((IP, ip),))

    def has(self, entity_type: str) -> bool:
        return any(t == entity_type for t, _ in self.parts)

    def name(self, entity_type: str) -> str | None:
        """The part's name (None: the default entity); KeyError if the entity has no such part."""
        for t, name in self.parts:
            if t == entity_type:
                return name
        raise KeyError(entity_type)

    @property
    def quota_keys(self) -> Mapping[str, ValueType]:
        """The keys this kind of entity takes."""
        return IP_QUOTA_KEYS if self.has(IP) else USER_CLIENT_QUOTA_KEYS

    def sort_key(self) -> tuple[tuple[int, int, str], ...]:
        """A total order for stable output: by type, defaults before names."""
        return tuple((ENTITY_TYPES.index(t), 0 if n is None else 1, n or "") for t, n in self.parts)

    def __str__(self) -> str:
        return ", ".join(f"{t}={'<default>' if n is None else n}" for t, n in self.parts)


def parse_entity(parts: Iterable[tuple[str, str | None]]) -> QuotaEntity:
    """The entity an AlterClientQuotas entry names, or QuotaRequestError as Kafka words it."""
    names: dict[str, str | None] = {}
    for entity_type, name in parts:
        if entity_type in names:
            raise QuotaRequestError(
                f"Invalid client quota entity, duplicate entity entry {entity_type}"
            )
        if entity_type not in ENTITY_TYPES:
            raise QuotaRequestError(f"Unhandled client quota entity type: {entity_type}")
        if name is not None and not name:
            raise QuotaRequestError(f"Empty {entity_type} not supported")
        names[entity_type] = name
    if not names:
        raise QuotaRequestError("Invalid empty client quota entity")
    if IP in names:
        if len(names) > 1:
            raise QuotaRequestError(
                "Invalid quota entity combination, IP entity should not be used with user/client ID entity."
            )
        ip = names[IP]
        if ip is not None and not is_ip_address(ip):
            # Kafka also accepts a host name it can resolve; Grete resolves no names.
            raise QuotaRequestError(f"{ip} is not a valid IP address.")
    return QuotaEntity(tuple((t, names[t]) for t in ENTITY_TYPES if t in names))


def is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class QuotaOp:
    """One operation of an AlterClientQuotas entry: set ``key`` to ``value``, or remove it."""

    key: str
    value: float
    remove: bool = False


def check_ops(entity: QuotaEntity, ops: Sequence[QuotaOp]) -> dict[str, float | None]:
    """The changes an entry asks for (None: remove the key), or QuotaRequestError.

    Removing a key the entity type does not take changes nothing, as in Kafka, where such a
    key can never be set; it also keeps a quota removal from touching a user's other
    configs (SCRAM credentials share the user's znode in ZooKeeper).
    """
    changes: dict[str, float | None] = {}
    keys = entity.quota_keys
    for op in ops:
        if op.key in changes:
            raise QuotaRequestError(
                f"Duplicate quota key {op.key} not updating quota for this entity {entity}"
            )
        if op.remove:
            changes[op.key] = None
            continue
        value_type = keys.get(op.key)
        if value_type is None:
            raise QuotaRequestError(f"Invalid configuration key {op.key}")
        check_value(op.key, value_type, op.value)
        changes[op.key] = float(op.value)
    return {k: v for k, v in changes.items() if v is not None or k in keys}


def check_value(key: str, value_type: ValueType, value: float) -> None:
    if not math.isfinite(value):
        raise QuotaRequestError(f"Quota {key} must be a finite number")
    if value <= 0.0:
        raise QuotaRequestError(f"Quota {key} must be greater than 0")
    if value_type is ValueType.DOUBLE:
        return
    limit, type_name = (
        (INT64_MAX, "a LONG") if value_type is ValueType.LONG else (INT32_MAX, "an INT")
    )
    if value > limit:
        raise QuotaRequestError(f"Proposed value for {key} is too large for {type_name}.")
    if value % 1.0 > INTEGRAL_EPSILON:
        raise QuotaRequestError(f"{key} cannot be a fractional value.")


def apply_changes(current: QuotaValues, changes: Mapping[str, float | None]) -> dict[str, float]:
    """The entity's quotas after the changes (a None value removes its key)."""
    updated = dict(current)
    for key, value in changes.items():
        if value is None:
            updated.pop(key, None)
        else:
            updated[key] = value
    return updated


def format_value(value_type: ValueType, value: float) -> str:
    """The string Kafka's ZooKeeper mode stores: integral types as whole numbers ("1024"),
    doubles as a decimal ("50.0")."""
    if value_type is ValueType.DOUBLE:
        return repr(float(value))
    return str(int(value))  # check_value allowed at most INTEGRAL_EPSILON above a whole number


def parse_values(
    entity: QuotaEntity, config: Mapping[str, str]
) -> tuple[dict[str, float], list[str]]:
    """The quota keys of a stored config as numbers, and the keys skipped (not numbers).
    Keys the entity type does not take (a user's SCRAM credentials) are left out."""
    values: dict[str, float] = {}
    bad: list[str] = []
    for key in entity.quota_keys:
        text = config.get(key)
        if text is None:
            continue
        try:
            number = float(text)
        except ValueError:
            bad.append(key)
            continue
        if math.isfinite(number):
            values[key] = number
        else:
            bad.append(key)
    return values, bad
