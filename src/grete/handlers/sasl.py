"""SaslHandshake (v0-v1) and SaslAuthenticate (v0-v2): the wire side of SASL.

The state machine is security.sasl.authenticator's; these handlers translate it. A failure
is answered, after connection.failed.authentication.delay.ms, and the connection closes.
"""

from __future__ import annotations

from typing import Any

from grete.handlers.context import RequestContext
from grete.handlers.registry import handles
from grete.network.connection import CloseConnection
from grete.protocol import ApiKey, ErrorCode
from grete.security.sasl.authenticator import Authenticator, SaslSession


def _session(ctx: RequestContext) -> tuple[Authenticator, SaslSession]:
    authenticator = ctx.services.authenticator
    session = None if authenticator is None else authenticator.session(ctx.connection)
    if authenticator is None or session is None:
        # Kafka closes a connection that sends SASL requests to a listener without SASL.
        raise CloseConnection(f"SASL request on {ctx.connection.security_protocol} listener")
    return authenticator, session


@handles(ApiKey.SASL_HANDSHAKE, 0, 1)
async def handle_sasl_handshake(ctx: RequestContext, request: Any) -> Any:
    authenticator, session = _session(ctx)
    error = session.handshake(request.mechanism, ctx.version)
    if error != ErrorCode.none:
        await authenticator.fail(ctx.connection)
    return ctx.schema.response(error_code=error, mechanisms=session.listener.mechanisms)


@handles(ApiKey.SASL_AUTHENTICATE, 0, 2)
async def handle_sasl_authenticate(ctx: RequestContext, request: Any) -> Any:
    authenticator, session = _session(ctx)
    result = await session.authenticate(bytes(request.auth_bytes))
    if result.error_code != ErrorCode.none:
        await authenticator.fail(ctx.connection)
    elif session.authenticated and not session.expects_raw_token:
        authenticator.authenticated(ctx.connection, session)
    fields: dict[str, Any] = {
        "error_code": result.error_code,
        "error_message": result.error_message,
        "auth_bytes": result.auth_bytes,
    }
    if ctx.version >= 1:
        fields["session_lifetime"] = result.session_lifetime_ms
    return ctx.schema.response(**fields)
