"""Test-time TLS material and brokers with secure listeners.

`make_pki(dir)` writes a fresh CA, a server certificate for 127.0.0.1 and client
certificates (one signed by the CA, one by a stranger CA) as PEM files; private keys live
only in the test's tmp dir. `SecureBroker` is a BrokerProcess with SSL / SASL listeners
besides the PLAINTEXT one the harness uses to see that the broker is up.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .process import HOST, BrokerProcess
from .wire import free_port


@dataclass(frozen=True)
class Pki:
    ca: Path  # CA certificate (a truststore for clients and the broker)
    server: Path  # server certificate + key (ssl.keystore.location, PEM)
    server_cert: Path
    server_key: Path
    client_cert: Path  # CN=alice,OU=eng,O=Grete, signed by the CA
    client_key: Path
    stranger_cert: Path  # CN=mallory, signed by another CA
    stranger_key: Path


def _name(cn: str, ou: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
             x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Grete")]
    if ou:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _cert(subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
          issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool = False,
          server: bool = False) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(issuer).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        import ipaddress

        builder = builder.add_extension(x509.SubjectAlternativeName([
            x509.IPAddress(ipaddress.ip_address(HOST)), x509.DNSName("localhost")]), critical=False)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    elif not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, *parts: bytes) -> Path:
    path.write_bytes(b"".join(parts))
    path.chmod(0o600)
    return path


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_pki(directory: Path) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("Grete Test CA")
    ca = _cert(ca_name, ca_key, ca_name, ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _cert(_name("localhost"), server_key, ca_name, ca_key, server=True)
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _cert(_name("alice", "eng"), client_key, ca_name, ca_key)
    other_key = ec.generate_private_key(ec.SECP256R1())
    other_name = _name("Stranger CA")
    stranger_key = ec.generate_private_key(ec.SECP256R1())
    stranger = _cert(_name("mallory"), stranger_key, other_name, other_key)
    return Pki(
        ca=_write(directory / "ca.pem", _pem_cert(ca)),
        server=_write(directory / "server.pem", _pem_cert(server), _pem_key(server_key)),
        server_cert=_write(directory / "server-cert.pem", _pem_cert(server)),
        server_key=_write(directory / "server-key.pem", _pem_key(server_key)),
        client_cert=_write(directory / "client-cert.pem", _pem_cert(client)),
        client_key=_write(directory / "client-key.pem", _pem_key(client_key)),
        stranger_cert=_write(directory / "stranger-cert.pem", _pem_cert(stranger)),
        stranger_key=_write(directory / "stranger-key.pem", _pem_key(stranger_key)),
    )


class SecureBroker(BrokerProcess):
    """A broker with a PLAINTEXT listener (self.port) and the given secure listeners,
    each named after its security protocol: {"SASL_SSL": port or None}."""

    def __init__(self, data_dir: Path, secure: Mapping[str, int | None], **kwargs: object) -> None:
        self.secure_ports = {name: port or free_port() for name, port in secure.items()}
        super().__init__(data_dir, **kwargs)  # type: ignore[arg-type]

    def command(self) -> list[str]:
        command = super().command()
        at = command.index("--listeners") + 1
        command[at] = ",".join(
            [command[at], *(f"{n}://{HOST}:{p}" for n, p in self.secure_ports.items())])
        return command

    def bootstrap_for(self, listener: str) -> str:
        return f"{HOST}:{self.secure_ports[listener]}"
