"""The listeners' security: a TLS context per SSL/SASL_SSL listener, the principal of a
client certificate, and the pre-authentication frame cap of SASL listeners."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from grete.config import BrokerConfig
from grete.network.connection import ConnectionInfo, OnConnected
from grete.network.listener import ListenerSpec
from grete.security.principal_mapping import SslPrincipalMapper
from grete.security.sasl.authenticator import Authenticator
from grete.security.tls import server_context, tls_principal

TLS_PROTOCOLS = ("SSL", "SASL_SSL")


def listener_specs(cfg: BrokerConfig, authenticator: Authenticator | None) -> list[ListenerSpec]:
    """What the socket server binds; raises ValueError/OSError for unusable TLS settings."""
    specs = []
    for e in cfg.listener_endpoints():
        context = server_context(cfg, e.name) if e.security_protocol in TLS_PROTOCOLS else None
        principal = None
        if e.security_protocol == "SSL":
            rules = cfg.listener_setting(e.name, "ssl.principal.mapping.rules")
            principal = tls_principal(SslPrincipalMapper.parse(rules).name)
        cap = authenticator.max_receive_size(e.name) if authenticator is not None else None
        on_connected = _on_connected(principal, cap) if principal or cap else None
        specs.append(
            ListenerSpec(e.name, e.host, e.port, e.security_protocol, context, on_connected)
        )
    return specs


def _on_connected(
    principal: Callable[[dict[str, Any] | None], str] | None, max_frame_bytes: int | None
) -> OnConnected:
    def connected(info: ConnectionInfo, transport: asyncio.BaseTransport) -> None:
        if principal is not None:
            info.principal = principal(transport.get_extra_info("peercert"))
        if max_frame_bytes is not None:
            info.max_frame_bytes = max_frame_bytes

    return connected
