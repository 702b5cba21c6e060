"""One module per API or API family. Importing this package registers every handler."""

from grete.handlers import (  # noqa: F401 - imported for their registrations
    acls,
    api_versions,
    client_quotas,
    cluster,
    configs,
    consumer_group,
    delete_records,
    fetch,
    find_coordinator,
    group_admin,
    groups,
    leaders,
    list_offsets,
    metadata,
    offset_for_leader_epoch,
    offsets,
    produce,
    producer_id,
    sasl,
    scram_users,
    topics,
)
from grete.handlers.registry import REGISTRY

__all__ = ["REGISTRY"]
