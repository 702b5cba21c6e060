"""Frame → header → version check → kio request → handler → response frame."""

from __future__ import annotations

import dataclasses
import datetime
import logging
from typing import Any

from grete.cluster.errors import CoordinationUnavailable
from grete.handlers.context import BrokerServices, RequestContext
from grete.handlers.registry import REGISTRY
from grete.network.connection import CloseConnection, ConnectionInfo, ResponseFrame
from grete.protocol import (
    ApiKey,
    EncodedResponse,
    ErrorCode,
    MalformedRequest,
    RequestHeader,
    decode_body,
    encode_response,
    error_response,
    kio_supports,
    parse_header,
    schema,
    to_millis,
)
from grete.security.quota.handler_time import HandlerTimer

log = logging.getLogger("grete.handlers")
NANOS_TO_PERCENT = 100.0 / 1e9  # handler nanoseconds → percent of one thread for one second


class Dispatcher:
    """Turns request frames into response frames. Stateless apart from the services."""

    def __init__(self, services: BrokerServices) -> None:
        self.services = services

    async def __call__(self, frame: bytearray, connection: ConnectionInfo) -> ResponseFrame | None:
        authenticator = self.services.authenticator
        session = None if authenticator is None else authenticator.session(connection)
        if session is not None and session.expects_raw_token:
            assert authenticator is not None
            return await authenticator.raw_token(frame, connection, session)  # after SaslHandshake v0
        try:
            header, body_at = parse_header(frame)
        except MalformedRequest as exc:
            raise CloseConnection(f"malformed request header: {exc}") from None
        if session is not None:
            session.admit(header.api_key)  # SASL: closes on a request not allowed now
        spec = REGISTRY.get(header.api_key)
        if spec is None:
            raise CloseConnection(f"unknown API key {header.api_key}")
        if not spec.supports(header.api_version):
            if spec.legacy_error is not None and spec.advertised_min_version <= header.api_version:
                try:
                    return spec.legacy_error(frame, header)
                except MalformedRequest as exc:
                    raise CloseConnection(f"malformed {ApiKey(header.api_key).name} request: {exc}") from None
            return self._unsupported_version(header)
        try:
            if spec.decoder is not None:
                request = spec.decoder(frame, body_at, header.api_version)
            else:
                request = decode_body(header, frame, body_at)
        except MalformedRequest as exc:
            raise CloseConnection(
                f"malformed {ApiKey(header.api_key).name} v{header.api_version} request: {exc}"
            ) from None
        if not self.services.ready.is_set() and header.api_key != ApiKey.API_VERSIONS:
            await self.services.ready.wait()
        ctx = RequestContext(
            header, connection, self.services, schema(header.api_key, header.api_version)
        )
        quotas = self.services.client_quotas
        timer: HandlerTimer[Any] | None = None
        try:
            if quotas is not None and quotas.request.active():
                timer = HandlerTimer(spec.handle(ctx, request))
                response = await timer
            else:
                response = await spec.handle(ctx, request)
        except CoordinationUnavailable as exc:
            # A handler without its own answer to a ZooKeeper outage: a retriable error
            # rather than a closed connection (which would fail the client's other requests).
            log.warning("%s: %s; answering REQUEST_TIMED_OUT", ApiKey(header.api_key).name, exc)
            response = error_response(header.api_key, header.api_version, ErrorCode.request_timed_out)
        if timer is not None and response is not None:
            response = _request_throttle(ctx, response, timer.elapsed_ns)
        if response is None:
            return None
        if isinstance(response, EncodedResponse):  # a hot path's own encoder made it
            parts = response.parts
            return parts if len(parts) > 1 else bytes(parts[0])
        return encode_response(header, response)

    def _unsupported_version(self, header: RequestHeader) -> bytes:
        name = ApiKey(header.api_key).name
        if header.api_key == ApiKey.API_VERSIONS:
            # KIP-511: answer in v0, which every client can read, with the ranges we support.
            from grete.handlers.api_versions import unsupported_version_response

            return unsupported_version_response(header)
        if kio_supports(header.api_key, header.api_version):
            log.info("%s v%d is not supported; answering UNSUPPORTED_VERSION", name, header.api_version)
            return encode_response(
                header,
                error_response(header.api_key, header.api_version, ErrorCode.unsupported_version),
            )
        raise CloseConnection(f"{name} v{header.api_version} is not a version this broker knows")


def _request_throttle(ctx: RequestContext, response: Any, elapsed_ns: int) -> Any:
    """request_percentage (KIP-124): charge the handler's running time to the client and
    report the larger of this throttle and the handler's own (a byte-rate one). Requests
    whose response has no throttle_time_ms field cannot be told, so they are not charged."""
    quotas = ctx.services.client_quotas
    if quotas is None or not ctx.schema.response_has("throttle_time"):
        return response
    throttle_ms = quotas.request.record(
        ctx.connection.principal, ctx.header.client_id, elapsed_ns * NANOS_TO_PERCENT
    )
    encoded = isinstance(response, EncodedResponse)
    if throttle_ms <= (response.throttle_ms if encoded else to_millis(response.throttle_time)):
        return response
    ctx.throttle(throttle_ms)
    if encoded:
        response.set_throttle_ms(throttle_ms)
        return response
    return dataclasses.replace(response, throttle_time=datetime.timedelta(milliseconds=throttle_ms))
