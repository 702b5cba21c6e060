"""How this broker secures its own connections to peers (replica fetching), as Kafka does.

The connection goes to the peers' inter-broker listener and takes that listener's
settings, listener.name.<listener>.* first:
- TLS (SSL, SASL_SSL): the peer's certificate must chain to ssl.truststore.*; this broker
  presents its ssl.keystore.* certificate when it has one (a listener with
  ssl.client.auth=required needs it); ssl.endpoint.identification.algorithm=https (Kafka's
  default) also requires the certificate to name the host dialled, empty turns that off.
- SASL (SASL_PLAINTEXT, SASL_SSL): sasl.mechanism.inter.broker.protocol, with the
  username= and password= options of listener.name.<listener>.<mechanism>.sasl.jaas.config
  (the same JAAS entry whose user_<name> options list the PLAIN users the listener accepts).
A setting that cannot work raises ValueError at start-up rather than at every fetch.
"""

from __future__ import annotations

import ssl
from typing import Any

from grete.config import BrokerConfig
from grete.config.kafka_type import list_items
from grete.network.client import ConnectSecurity
from grete.security.sasl.authenticator import SASL_PROTOCOLS, listener_sasl
from grete.security.sasl.client import sasl_step
from grete.security.sasl.jaas import JaasConfig
from grete.security.tls import _load_inline_chain  # the server's PEM loading, shared

TLS_PROTOCOLS = ("SSL", "SASL_SSL")
_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}


def inter_broker_security(cfg: BrokerConfig) -> ConnectSecurity:
    """TLS and SASL for connections to the peers' inter-broker listener."""
    listener = cfg.inter_broker_listener()
    protocol = cfg.security_protocol_map().get(listener, "PLAINTEXT")
    context = client_context(cfg, listener) if protocol in TLS_PROTOCOLS else None
    authenticate = None
    if protocol in SASL_PROTOCOLS:
        mechanism = cfg.sasl_mechanism_inter_broker_protocol
        offered = listener_sasl(cfg, listener, protocol).mechanisms
        if mechanism not in offered:
            raise ValueError(
                f"sasl.mechanism.inter.broker.protocol={mechanism} is not offered by the "
                f"inter-broker listener {listener} (it offers {', '.join(offered) or 'none'})"
            )
        username, password = jaas_credentials(cfg, listener, mechanism)
        authenticate = sasl_step(mechanism, username, password)
    return ConnectSecurity(ssl_context=context, authenticate=authenticate)


def jaas_credentials(cfg: BrokerConfig, listener: str, mechanism: str) -> tuple[str, str]:
    """The broker's own login: username= and password= of the listener's JAAS entry."""
    key = f"listener.name.{listener.lower()}.{mechanism.lower()}.sasl.jaas.config"
    text = cfg.listener_setting(listener, f"{mechanism.lower()}.sasl.jaas.config")
    options = JaasConfig.parse(text).options if text else {}
    if "username" not in options or "password" not in options:
        raise ValueError(
            f"the inter-broker listener {listener} uses SASL {mechanism}: set {key} with "
            'username="..." password="..." (the broker\'s own login)'
        )
    return options["username"], options["password"]


def client_context(cfg: BrokerConfig, listener: str) -> ssl.SSLContext:
    """A TLS client context from the listener's ssl.* settings."""

    def setting(name: str) -> Any:
        return cfg.listener_setting(listener, name)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    versions = sorted(_VERSIONS[v] for v in list_items(setting("ssl.enabled.protocols")))
    context.minimum_version, context.maximum_version = versions[0], versions[-1]
    context.check_hostname = cfg.ssl_endpoint_identification_algorithm.lower() == "https"
    trust_file, trust_text = setting("ssl.truststore.location"), setting("ssl.truststore.certificates")
    if trust_file or trust_text:
        context.load_verify_locations(cafile=trust_file or None, cadata=trust_text or None)
    else:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    password = setting("ssl.key.password") or setting("ssl.keystore.password")
    location = setting("ssl.keystore.location")
    chain, key = setting("ssl.keystore.certificate.chain"), setting("ssl.keystore.key")
    if location:
        context.load_cert_chain(location, password=password)
    elif chain and key:
        _load_inline_chain(context, chain, key, password)
    ciphers = setting("ssl.cipher.suites")
    if ciphers:
        context.set_ciphers(ciphers.replace(",", ":"))
    return context
