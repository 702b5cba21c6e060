"""Checks that span several broker settings, run by `BrokerConfig`'s model validators.

`resolve_synonyms` rewrites the raw input before field validation (log.dirs / log.dir,
node.id / broker.id); `check_settings` checks the built config. Both raise `SettingError`,
which names the setting at fault so that `load_config` can report it.
"""

from __future__ import annotations

import re
import uuid
from base64 import urlsafe_b64decode, urlsafe_b64encode
from typing import TYPE_CHECKING, Any

from grete.config.entries import ConfigType
from grete.config.kafka_type import KafkaType, list_items
from grete.config.listeners import NONROUTABLE, SECURITY_PROTOCOLS, Endpoint

if TYPE_CHECKING:
    from grete.config.broker import BrokerConfig

_LIST = KafkaType(ConfigType.LIST, joined=True)
# The field holding every listener.name.<listener>.<setting> key (docs/security.md).
LISTENER_PREFIXED = "listener.name.*"
_LISTENER_PREFIX = "listener.name."
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
# Settings a listener may override, besides <mechanism>.sasl.jaas.config.
LISTENER_OVERRIDABLE = frozenset({
    "ssl.keystore.type", "ssl.keystore.location", "ssl.keystore.password", "ssl.key.password",
    "ssl.keystore.certificate.chain", "ssl.keystore.key", "ssl.truststore.type",
    "ssl.truststore.location", "ssl.truststore.certificates", "ssl.client.auth",
    "ssl.enabled.protocols", "ssl.cipher.suites", "ssl.principal.mapping.rules",
    "sasl.enabled.mechanisms", "connections.max.reauth.ms", "sasl.server.max.receive.size",
})
_BROKER_ID = KafkaType(ConfigType.INT, at_least=-1)
_NODE_ID = KafkaType(ConfigType.INT, at_least=0)


class SettingError(ValueError):
    """Raised inside model validation when a check spans settings; names the culprit."""

    def __init__(self, setting: str, value: object, reason: str) -> None:
        super().__init__(reason)
        self.setting = setting
        self.value = value


def is_listener_prefixed(key: str) -> bool:
    """listener.name.<listener>.<setting>: a per-listener override (checked later)."""
    return key.startswith(_LISTENER_PREFIX)


def collect_listener_prefixed(data: dict[str, Any]) -> dict[str, Any]:
    """Move listener.name.* keys into one field (keys lower-cased up to the setting, as Kafka
    writes listener names in the prefix lower case)."""
    prefixed = {k: v for k, v in data.items() if isinstance(k, str) and is_listener_prefixed(k)}
    if not prefixed:
        return data
    data = {k: v for k, v in data.items() if k not in prefixed}
    collected = dict(data.get(LISTENER_PREFIXED) or {})
    for key, value in prefixed.items():
        _, _, rest = key.partition(_LISTENER_PREFIX)
        listener, _, setting = rest.partition(".")
        collected[f"{_LISTENER_PREFIX}{listener.lower()}.{setting.lower()}"] = str(value)
    data[LISTENER_PREFIXED] = collected
    return data


def resolve_synonyms(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of the raw input with log.dirs and broker.id resolved from their synonyms.
    Values that do not parse are left for field validation to report."""
    data = dict(data)
    _resolve_log_dirs(data)
    broker_key = "broker.id" if "broker.id" in data else "broker_id"
    node_key = "node.id" if "node.id" in data else "node_id"
    try:
        broker = _BROKER_ID.coerce(data.get(broker_key))
        node = _NODE_ID.coerce(data.get(node_key))
    except ValueError:
        return data  # field validation reports it
    if isinstance(node, int):
        if isinstance(broker, int) and broker != -1 and broker != node:
            raise SettingError("node.id", data[node_key],
                               f"must equal broker.id ({broker}) when both are set")
        data[broker_key] = node
    elif broker == -1:
        data[broker_key] = 0
    return data


def _resolve_log_dirs(data: dict[str, Any]) -> None:
    """log.dirs takes log.dir's value when unset, as in Kafka; either must name one directory."""
    dirs_key = next((k for k in ("log.dirs", "log_dirs") if k in data), None)
    dir_key = next((k for k in ("log.dir", "log_dir") if k in data), None)
    if dirs_key is None and dir_key is None:
        return
    setting, key = ("log.dirs", dirs_key) if dirs_key is not None else ("log.dir", dir_key)
    assert key is not None
    try:
        text = _LIST.coerce(data[key])
    except ValueError:
        return  # field validation reports it
    if not isinstance(text, str) or len(list_items(text)) != 1:
        raise SettingError(setting, data[key], "Grete supports exactly one log directory")
    data["log_dirs" if dirs_key is None else dirs_key] = text


def check_settings(cfg: BrokerConfig) -> None:
    """Check the cluster id, the protocol map and the bound and advertised listeners."""
    if cfg.cluster_id is not None and not _is_cluster_id(cfg.cluster_id):
        raise SettingError("cluster.id", cfg.cluster_id,
                           "expected a UUID in URL-safe base64 (22 characters)")
    try:
        cfg.security_protocol_map()
    except ValueError as err:
        raise SettingError("listener.security.protocol.map",
                           cfg.listener_security_protocol_map, str(err)) from None
    try:
        endpoints = cfg.listener_endpoints()
    except ValueError as err:
        raise SettingError("listeners", cfg.listeners, str(err)) from None
    if not endpoints:
        raise SettingError("listeners", "", "at least one listener is needed")
    _check_unique_ports(endpoints)
    _check_advertised(cfg)
    _check_inter_broker(cfg)
    _check_security(cfg, endpoints)


def _check_security(cfg: BrokerConfig, endpoints: list[Endpoint]) -> None:
    """Listener overrides name a listener and a setting Grete knows; mechanisms are ones
    Grete implements. (A TLS listener's key store is read, and checked, at start-up.)"""
    names = {e.name.lower() for e in endpoints}
    for key, value in cfg.listener_prefixed.items():
        listener, _, setting = key[len(_LISTENER_PREFIX):].partition(".")
        if listener not in names:
            raise SettingError(key, value, f"no listener named {listener.upper()}")
        mechanism, _, jaas = setting.partition(".")
        if jaas == "sasl.jaas.config" and mechanism.upper() in SASL_MECHANISMS:
            continue
        if setting not in LISTENER_OVERRIDABLE:
            raise SettingError(key, value, "not a per-listener setting Grete knows")
        try:
            cfg.listener_setting(listener, setting)
        except ValueError as err:
            raise SettingError(key, value, str(err)) from None
    for endpoint in endpoints:
        mechanisms = list_items(cfg.listener_setting(endpoint.name, "sasl.enabled.mechanisms"))
        for mechanism in mechanisms:
            if mechanism not in SASL_MECHANISMS:
                raise SettingError("sasl.enabled.mechanisms", ",".join(mechanisms),
                                   f"{mechanism} is not supported (Grete has "
                                   f"{', '.join(SASL_MECHANISMS)})")


def _check_inter_broker(cfg: BrokerConfig) -> None:
    name, protocol = cfg.inter_broker_listener_name, cfg.security_inter_broker_protocol
    if name is not None and protocol is not None:
        raise SettingError("inter.broker.listener.name", name,
                           "only one of inter.broker.listener.name and "
                           "security.inter.broker.protocol may be set")
    if protocol is not None and protocol not in SECURITY_PROTOCOLS:
        raise SettingError("security.inter.broker.protocol", protocol,
                           f"expected one of {', '.join(SECURITY_PROTOCOLS)}")
    if name is not None and name not in {e.name for e in cfg.advertised_endpoints()}:
        raise SettingError("inter.broker.listener.name", name,
                           "must be a listener name in advertised.listeners")


def _check_advertised(cfg: BrokerConfig) -> None:
    setting = "advertised.listeners"
    raw = cfg.advertised_listeners
    try:
        advertised = cfg.advertised_endpoints()
    except ValueError as err:
        raise SettingError(setting, raw, str(err)) from None
    if not advertised:
        raise SettingError(setting, raw, "at least one listener is needed")
    names = {endpoint.name for endpoint in cfg.listener_endpoints()}
    for endpoint in advertised:
        if endpoint.name not in names:
            raise SettingError(setting, raw, f"listener {endpoint.name} is not in listeners")
        if endpoint.host in NONROUTABLE:
            raise SettingError(setting, raw or cfg.listeners,
                               f"cannot advertise the non-routable address {endpoint.host}")


def _check_unique_ports(endpoints: list[Endpoint]) -> None:
    seen: dict[int, Endpoint] = {}
    for endpoint in endpoints:
        other = seen.get(endpoint.port)
        # Kafka allows one IPv4 and one IPv6 listener to share a port; port 0 is ephemeral.
        same_family = other is not None and (":" in other.host) == (":" in endpoint.host)
        if other is not None and endpoint.port != 0 and same_family:
            raise SettingError(
                "listeners", None,
                f"listeners {other.name} and {endpoint.name} share port {endpoint.port}")
        seen[endpoint.port] = endpoint


def _is_cluster_id(text: str) -> bool:
    if not re.fullmatch(r"[A-Za-z0-9_-]{22}", text):
        return False
    return len(urlsafe_b64decode(text + "==")) == 16


def new_cluster_id() -> str:
    """A fresh cluster id in Kafka's format (a random UUID, URL-safe base64, no padding)."""
    return urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
