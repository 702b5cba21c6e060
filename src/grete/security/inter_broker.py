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

from grete.config import BrokerConfig
from grete.network.client import ConnectSecurity
from grete.security.sasl.authenticator import SASL_PROTOCOLS, listener_sasl
from grete.security.sasl.client import sasl_step
from grete.security.sasl.jaas import JaasConfig
from grete.security.tls import client_context

TLS_PROTOCOLS = ("SSL", "SASL_SSL")


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

