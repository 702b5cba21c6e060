"""TLS for the SSL and SASL_SSL listeners: the server `ssl.SSLContext` and the client
certificate's subject as Kafka names it.

Key and trust stores are PEM (ssl.keystore.type=PEM): a file holding the certificate chain
and the private key (ssl.keystore.location), or Kafka's inline PEM settings
(ssl.keystore.certificate.chain with ssl.keystore.key). JKS and PKCS12 stores are not read.
The handshake runs inside asyncio's SSL transport, so it never blocks the event loop.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from collections.abc import Callable
from typing import Any

from grete.config import BrokerConfig
from grete.config.kafka_type import list_items

_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
_VERIFY = {"none": ssl.CERT_NONE, "requested": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}
# Attribute keywords of RFC 2253, which Java's X500Principal.getName() uses (Kafka's DN).
_KEYWORDS = {
    "commonName": "CN",
    "countryName": "C",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "streetAddress": "STREET",
    "domainComponent": "DC",
    "userId": "UID",
}
_EMAIL_OID = "1.2.840.113549.1.9.1"


def server_context(cfg: BrokerConfig, listener: str) -> ssl.SSLContext:
    """The listener's server context, from its ssl.* settings (listener.name.* first)."""

    def setting(name: str) -> Any:
        return cfg.listener_setting(listener, name)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _set_versions(context, setting)
    _load_keystore(context, setting, required=True)
    context.verify_mode = _VERIFY[setting("ssl.client.auth")]
    if not _load_truststore(context, setting) and context.verify_mode != ssl.CERT_NONE:
        context.load_default_certs(ssl.Purpose.CLIENT_AUTH)
    _set_ciphers(context, setting)
    return context


def client_context(cfg: BrokerConfig, listener: str) -> ssl.SSLContext:
    """A context to connect to a peer's TLS listener, from that listener's ssl.* settings:
    the peer must chain to the trust store; this broker presents its key store if it has one
    (a listener with ssl.client.auth=required needs it); ssl.endpoint.identification.algorithm
    =https (Kafka's default) also checks the host name."""

    def setting(name: str) -> Any:
        return cfg.listener_setting(listener, name)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    _set_versions(context, setting)
    context.check_hostname = cfg.ssl_endpoint_identification_algorithm.lower() == "https"
    if not _load_truststore(context, setting):
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    _load_keystore(context, setting, required=False)
    _set_ciphers(context, setting)
    return context


_Setting = Callable[[str], Any]


def _set_versions(context: ssl.SSLContext, setting: _Setting) -> None:
    versions = sorted(_VERSIONS[v] for v in list_items(setting("ssl.enabled.protocols")))
    context.minimum_version, context.maximum_version = versions[0], versions[-1]


def _load_keystore(context: ssl.SSLContext, setting: _Setting, *, required: bool) -> None:
    """ssl.keystore.location, else the inline chain and key; a server must have one."""
    password = setting("ssl.key.password") or setting("ssl.keystore.password")
    location = setting("ssl.keystore.location")
    chain, key = setting("ssl.keystore.certificate.chain"), setting("ssl.keystore.key")
    if location:
        context.load_cert_chain(location, password=password)
    elif required or (chain and key):
        _load_inline_chain(context, chain, key, password)


def _load_truststore(context: ssl.SSLContext, setting: _Setting) -> bool:
    """ssl.truststore.location or .certificates; False when neither is set."""
    trust_file, trust_text = setting("ssl.truststore.location"), setting("ssl.truststore.certificates")
    if not (trust_file or trust_text):
        return False
    context.load_verify_locations(cafile=trust_file or None, cadata=trust_text or None)
    return True


def _set_ciphers(context: ssl.SSLContext, setting: _Setting) -> None:
    ciphers = setting("ssl.cipher.suites")
    if ciphers:
        context.set_ciphers(ciphers.replace(",", ":"))


def _load_inline_chain(
    context: ssl.SSLContext, chain: str | None, key: str | None, password: str | None
) -> None:
    if not chain or not key:
        raise ValueError(
            "a TLS listener needs ssl.keystore.location (PEM with certificate and key), or "
            "ssl.keystore.certificate.chain with ssl.keystore.key"
        )
    load_pem_chain(context, chain, key, password)


def load_pem_chain(context: ssl.SSLContext, chain: str, key: str, password: str | None) -> None:
    """A certificate chain and key given as PEM text. `ssl` loads keys from files only:
    the text goes to a private temporary file that is removed as soon as it is read."""
    fd, path = tempfile.mkstemp(prefix="grete-key-", suffix=".pem")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(key.strip() + "\n" + chain.strip() + "\n")
        context.load_cert_chain(path, password=password)
    finally:
        os.unlink(path)


def subject_dn(peercert: dict[str, Any]) -> str:
    """The certificate subject in RFC 2253 form, most specific RDN first ("CN=a,O=b,C=US"),
    as Java's X500Principal.getName() renders it for Kafka's principal mapping."""
    rdns = []
    for rdn in reversed(peercert.get("subject", ())):
        rdns.append("+".join(_attribute(name, value) for name, value in rdn))
    return ",".join(rdns)


def _attribute(name: str, value: str) -> str:
    keyword = _KEYWORDS.get(name)
    if keyword is not None:
        return f"{keyword}={_escape(value)}"
    if name == "emailAddress":  # Java: the OID and the DER IA5String in hex
        raw = value.encode("ascii", "replace")
        return f"{_EMAIL_OID}=#16{len(raw):02x}{raw.hex()}" if len(raw) < 128 else f"{name}={value}"
    return f"{name}={_escape(value)}"


def _escape(value: str) -> str:
    out = "".join("\\" + c if c in ',+"\\<>;' else c for c in value)
    if out.startswith((" ", "#")):
        out = "\\" + out
    if out.endswith(" ") and not out.endswith("\\ "):
        out = out[:-1] + "\\ "
    return out


def tls_principal(mapper_name: Callable[[str], str]) -> Callable[[dict[str, Any] | None], str]:
    """Principal of a TLS connection: User:<mapped subject> with a verified client
    certificate, User:ANONYMOUS without one (as Kafka)."""

    def principal(peercert: dict[str, Any] | None) -> str:
        if not peercert:
            return "User:ANONYMOUS"
        return "User:" + mapper_name(subject_dn(peercert))

    return principal
