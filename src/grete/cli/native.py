"""Grete's own Kafka client (``grete.network.client``) for the requests librdkafka has no API
for (client quotas), set up from the same --bootstrap-server and --command-config settings.

The settings are the librdkafka ones the CLI's other clients get (see ``command_config``):
``security.protocol``; ``ssl.ca.location`` / ``ssl.ca.pem``, ``ssl.certificate.location`` /
``ssl.key.location`` / ``ssl.key.password`` (PEM), ``ssl.endpoint.identification.algorithm``;
``sasl.mechanism``, ``sasl.username``, ``sasl.password`` (PLAIN, SCRAM-SHA-256/512). Other
client settings (debug, client.id...) mean nothing to this client and are ignored.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import typer

from grete.cli.client import Connection
from grete.cli.errors import CliError
from grete.network.client import (
    AuthenticationFailed,
    BrokerConnectionError,
    ConnectSecurity,
    KafkaConnection,
)
from grete.security.sasl.client import sasl_step
from grete.security.tls import load_pem_chain

CLIENT_ID = "grete-cli"
CONNECT_TIMEOUT_S = 10.0
_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
_OPTION = "--command-config"


def connect_security(settings: Mapping[str, str], timeout_s: float) -> ConnectSecurity:
    """TLS and SASL for a new connection, from librdkafka settings; a usage error for
    settings this client cannot follow."""
    protocol = settings.get("security.protocol", "PLAINTEXT").upper()
    if protocol not in _PROTOCOLS:
        raise typer.BadParameter(f"unknown security.protocol {protocol}", param_hint=_OPTION)
    context = _ssl_context(settings) if protocol.endswith("SSL") else None
    authenticate = None
    if protocol.startswith("SASL_"):
        # librdkafka takes both spellings; GSSAPI is its default, which Grete cannot speak.
        mechanism = settings.get("sasl.mechanism", settings.get("sasl.mechanisms", "GSSAPI"))
        if mechanism.upper() not in _MECHANISMS:
            raise typer.BadParameter(
                f"sasl.mechanism {mechanism} is not supported here (use {', '.join(_MECHANISMS)})",
                param_hint=_OPTION,
            )
        username, password = settings.get("sasl.username"), settings.get("sasl.password")
        if username is None or password is None:
            raise typer.BadParameter(
                f"{protocol} needs a user name and password (sasl.jaas.config)", param_hint=_OPTION
            )
        authenticate = sasl_step(mechanism.upper(), username, password, timeout_s=timeout_s)
    return ConnectSecurity(ssl_context=context, authenticate=authenticate)


@asynccontextmanager
async def open_connection(
    connection: Connection, action: str, timeout_s: float
) -> AsyncIterator[KafkaConnection]:
    """A connection to the first bootstrap broker that accepts one, closed on exit.
    CliError if none does (the last broker's failure explains why)."""
    security = connect_security(connection.settings, timeout_s)
    client_id = connection.settings.get("client.id", CLIENT_ID)
    failure: BrokerConnectionError | None = None
    conn: KafkaConnection | None = None
    for address in connection.bootstrap.split(","):
        host, _, port = address.strip().rpartition(":")
        if not host or not port.isdigit():
            raise typer.BadParameter(f"expected host:port, got {address!r}", param_hint="-b")
        try:
            conn = await KafkaConnection.open(
                host.strip("[]"), int(port), client_id=client_id,
                connect_timeout_s=min(CONNECT_TIMEOUT_S, timeout_s), security=security,
            )  # fmt: skip
            break
        except AuthenticationFailed as exc:  # other brokers would refuse the same credentials
            raise CliError(f"{action}: authentication failed: {exc}") from exc
        except BrokerConnectionError as exc:
            failure = exc
    if conn is None:
        raise CliError(
            f"{action}: no broker at {connection.bootstrap} answered ({failure})"
            f"{_hint(connection.settings)}"
        )
    try:
        yield conn
    except AuthenticationFailed as exc:
        raise CliError(f"{action}: authentication failed: {exc}") from exc
    except BrokerConnectionError as exc:
        raise CliError(f"{action}: {exc}{_hint(connection.settings)}") from exc
    finally:
        await conn.close()


def _hint(settings: Mapping[str, str]) -> str:
    """Why a broker may hang up on a plaintext client: it expects TLS."""
    if "SSL" in settings.get("security.protocol", "PLAINTEXT").upper():
        return ""
    return " (a TLS listener? give its settings with --command-config)"


def _ssl_context(settings: Mapping[str, str]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # librdkafka checks the host name unless told "none" (its default is https).
    algorithm = settings.get("ssl.endpoint.identification.algorithm", "https").lower()
    context.check_hostname = algorithm != "none"
    try:
        ca_file, ca_text = settings.get("ssl.ca.location"), settings.get("ssl.ca.pem")
        if ca_text:
            context.load_verify_locations(cadata=ca_text)
        elif ca_file and ca_file != "probe":
            context.load_verify_locations(cafile=ca_file)
        else:
            context.load_default_certs(ssl.Purpose.SERVER_AUTH)
        _load_client_certificate(context, settings)
    except (OSError, ssl.SSLError) as exc:  # FileNotFoundError included
        raise typer.BadParameter(f"TLS settings: {exc}", param_hint=_OPTION) from exc
    return context


def _load_client_certificate(context: ssl.SSLContext, settings: Mapping[str, str]) -> None:
    password = settings.get("ssl.key.password")
    if "ssl.keystore.location" in settings:
        raise typer.BadParameter(
            "PKCS12 key stores are not read here: give a PEM key store (ssl.keystore.type=PEM)",
            param_hint=_OPTION,
        )
    cert_file, key_file = settings.get("ssl.certificate.location"), settings.get("ssl.key.location")
    if cert_file:
        context.load_cert_chain(cert_file, key_file or None, password=password)
        return
    cert_text, key_text = settings.get("ssl.certificate.pem"), settings.get("ssl.key.pem")
    if cert_text and key_text:
        load_pem_chain(context, cert_text, key_text, password)
