"""The handlers' view of the ACL authorizer: may this request's principal do this?

With no authorizer configured (``authorizer.class.name`` empty) everything is allowed, at
the cost of one attribute test. The principal is the connection's (``User:ANONYMOUS``
until authenticated); the host is the client's IP address, as Kafka's ACL host rules
compare it. Kafka's table of which API checks which resource lives in docs/security.md.
"""

from __future__ import annotations

from grete.handlers.context import RequestContext
from grete.protocol import AUTHORIZED_OPERATIONS_OMITTED
from grete.security.acl.types import (
    CLUSTER_NAME,
    SUPPORTED_OPERATIONS,
    AclOperation,
    ResourceType,
    operations_bit_field,
)

__all__ = [
    "CLUSTER_NAME",
    "AclOperation",
    "ResourceType",
    "authorized",
    "authorized_for_any",
    "authorized_operations",
    "client_ip",
    "cluster_authorized",
]


def client_ip(ctx: RequestContext) -> str:
    """The peer's address without its port ("127.0.0.1", "::1")."""
    host = ctx.connection.peer.rsplit(":", 1)[0]
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def authorized(ctx: RequestContext, operation: AclOperation, resource_type: ResourceType, name: str) -> bool:
    authorizer = ctx.services.authorizer
    if authorizer is None:
        return True
    return authorizer.authorize(ctx.connection.principal, client_ip(ctx), operation, resource_type, name)


def cluster_authorized(ctx: RequestContext, operation: AclOperation) -> bool:
    return authorized(ctx, operation, ResourceType.CLUSTER, CLUSTER_NAME)


def authorized_for_any(ctx: RequestContext, operation: AclOperation, resource_type: ResourceType) -> bool:
    """May the principal do ``operation`` on some resource of the type (KIP-679)?"""
    authorizer = ctx.services.authorizer
    if authorizer is None:
        return True
    return authorizer.authorize_by_resource_type(
        ctx.connection.principal, client_ip(ctx), operation, resource_type
    )


def authorized_operations(
    ctx: RequestContext, resource_type: ResourceType, name: str, *, requested: bool = True
) -> int:
    """KIP-430's bit field of the operations the principal may perform on the resource.

    Without an authorizer that is every operation the type supports, as in Kafka; when the
    client did not ask, INT32_MIN, so clients can tell "not asked" from "nothing allowed".
    """
    if not requested:
        return AUTHORIZED_OPERATIONS_OMITTED
    supported = SUPPORTED_OPERATIONS.get(resource_type, ())
    return operations_bit_field(op for op in supported if authorized(ctx, op, resource_type, name))
