"""Which configured quota applies to a connection: Kafka's precedence (KIP-55).

For a (user, client id) and one quota key, the first of these entities that sets the key
wins, most specific first:

    /config/users/<user>/clients/<client-id>
    /config/users/<user>/clients/<default>
    /config/users/<user>
    /config/users/<default>/clients/<client-id>
    /config/users/<default>/clients/<default>
    /config/users/<default>
    /config/clients/<client-id>
    /config/clients/<default>

Each quota key is looked up on its own, as Kafka has one quota manager per key (produce,
fetch, request, controller mutation). For connection creation, an IP's own entity comes
before the IP default. Enforcement (issue 6) calls these; pure functions, no I/O.
"""

from __future__ import annotations

from grete.security.quota.entity import CONNECTION_CREATION_RATE, QuotaConfigs, QuotaEntity


def user_client_candidates(user: str, client_id: str) -> tuple[QuotaEntity, ...]:
    """The entities that may hold the quota of (user, client id), most specific first."""
    return (
        QuotaEntity.for_user_client(user, client_id),
        QuotaEntity.for_user_client(user, None),
        QuotaEntity.for_user(user),
        QuotaEntity.for_user_client(None, client_id),
        QuotaEntity.for_user_client(None, None),
        QuotaEntity.for_user(None),
        QuotaEntity.for_client(client_id),
        QuotaEntity.for_client(None),
    )


def find_quota(
    quotas: QuotaConfigs, key: str, user: str, client_id: str
) -> tuple[QuotaEntity, float] | None:
    """The entity whose ``key`` quota applies to (user, client id), and its value; None when
    no entity sets it (the broker's static default applies)."""
    return _first(quotas, key, user_client_candidates(user, client_id))


def find_ip_quota(quotas: QuotaConfigs, ip: str) -> tuple[QuotaEntity, float] | None:
    """The connection_creation_rate quota of an IP address: its own, else the IP default."""
    return _first(
        quotas, CONNECTION_CREATION_RATE, (QuotaEntity.for_ip(ip), QuotaEntity.for_ip(None))
    )


def _first(
    quotas: QuotaConfigs, key: str, candidates: tuple[QuotaEntity, ...]
) -> tuple[QuotaEntity, float] | None:
    for entity in candidates:
        values = quotas.get(entity)
        if values is not None and key in values:
            return entity, values[key]
    return None
