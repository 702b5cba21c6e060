"""SASL SCRAM-SHA-256 / SCRAM-SHA-512 (RFC 5802) on the server.

Two client messages: client-first names the user (the caller then looks the credential up,
possibly in ZooKeeper) and client-final carries the proof, checked in constant time. An
unknown user gets a made-up credential (a salt derived from the name and a per-process
secret, keys that match no password), so the exchange runs its course and fails on the
proof exactly like a wrong password. Sans-IO: bytes in, bytes out.

The nonce check tolerates one known client bug: librdkafka before 2.6.1 (kcat 1.7.1 ships
2.0.2) sends ``r=<client nonce><client nonce><server nonce>`` in client-final, prefixing the
combined nonce with its own nonce once more (confluentinc/librdkafka#4895). Kafka 3.x
accepts that (3.8.1 to 3.9 only require the nonce to end with the combined one); Kafka 4
refuses it. Grete accepts exactly that form and the RFC's, nothing else. The proof is
computed over the client's own client-final bytes, so the tolerance does not weaken the login.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import secrets

from grete.security.sasl.credentials import MIN_ITERATIONS, ScramCredential, ScramMechanism
from grete.security.sasl.errors import SaslAuthenticationError

_DECOY_SECRET = secrets.token_bytes(32)
_NONCE_BITS = 130  # Kafka's ScramFormatter.secureRandomString: 130 random bits in base 36
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
log = logging.getLogger("grete.security")


def invalid_credentials(mechanism: str) -> str:
    return (
        "Authentication failed during authentication due to invalid credentials with SASL "
        f"mechanism {mechanism}"
    )


def decode_saslname(name: str) -> str:
    """RFC 5802 saslname: "=2C" is a comma, "=3D" an equals sign."""
    return name.replace("=2C", ",").replace("=3D", "=")


def server_nonce() -> str:
    """A fresh server nonce in Kafka's form: up to 26 characters of [0-9a-z]."""
    value = secrets.randbits(_NONCE_BITS)
    digits = []
    while value:
        value, digit = divmod(value, 36)
        digits.append(_BASE36[digit])
    return "".join(reversed(digits)) or "0"


def _attributes(text: str) -> dict[str, str]:
    """``a=1,b=2`` -> {"a": "1", "b": "2"}; the first occurrence of a key wins."""
    found: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if sep and len(key) == 1:
            found.setdefault(key, value)
    return found


def _valid_nonce(nonce: str) -> bool:
    """RFC 5802 "printable": ASCII 0x21-0x7E except the comma."""
    return bool(nonce) and all(0x21 <= ord(c) <= 0x7E and c != "," for c in nonce)


class ScramServer:
    """One SCRAM exchange: ``client_first`` -> user name, ``server_first(credential)``,
    ``client_final`` -> server-final message. Any failure raises SaslAuthenticationError.
    Not thread-safe; one instance per connection and exchange."""

    def __init__(self, mechanism: ScramMechanism) -> None:
        self.mechanism = mechanism.mechanism_name
        self._kind = mechanism
        self._gs2_header = ""
        self._client_first_bare = ""
        self._client_nonce = ""
        self._nonce = ""  # client nonce + server nonce, as sent in server-first
        self._server_first = ""
        self._credential: ScramCredential | None = None
        self.user: str | None = None  # the name the client gave
        self.complete = False

    def _refuse(self) -> SaslAuthenticationError:
        return SaslAuthenticationError(invalid_credentials(self.mechanism))

    def client_first(self, token: bytes) -> str:
        """Parse client-first; returns the user whose credential ``server_first`` needs."""
        try:
            text = token.decode("utf-8")
        except UnicodeDecodeError:
            raise self._refuse() from None
        gs2, _, rest = text.partition(",")  # gs2-cbind-flag; "p=" (channel binding) is refused
        authzid, _, bare = rest.partition(",")
        attributes = _attributes(bare)
        if gs2 not in ("n", "y") or "m" in attributes or not bare.startswith("n="):
            raise self._refuse()
        if "r" not in attributes or not _valid_nonce(attributes["r"]):
            raise self._refuse()
        self.user = decode_saslname(attributes["n"])
        if authzid and decode_saslname(authzid.removeprefix("a=")) != self.user:
            raise SaslAuthenticationError(
                "Authentication failed: Client requested an authorization id that is "
                "different from username"
            )
        self._gs2_header = f"{gs2},{authzid},"
        self._client_first_bare = bare
        self._client_nonce = attributes["r"]
        return self.user

    def server_first(self, credential: ScramCredential | None) -> bytes:
        if not self._client_nonce:
            raise self._refuse()
        cred = credential if credential is not None else self._decoy()
        self._credential = cred
        self._nonce = self._client_nonce + server_nonce()
        salt = base64.b64encode(cred.salt).decode("ascii")
        self._server_first = f"r={self._nonce},s={salt},i={cred.iterations}"
        return self._server_first.encode()

    def client_final(self, token: bytes) -> bytes:
        cred = self._credential
        if cred is None:
            raise self._refuse()
        self._credential = None  # one attempt per exchange
        try:
            text = token.decode("utf-8")
            without_proof, sep, proof_b64 = text.rpartition(",p=")
            proof = base64.b64decode(proof_b64, validate=True)
        except (UnicodeDecodeError, binascii.Error):
            raise self._refuse() from None
        attributes = _attributes(without_proof)
        expected_binding = base64.b64encode(self._gs2_header.encode()).decode("ascii")
        if not sep or attributes.get("c") != expected_binding:
            log.debug("SCRAM client-final of %r refused: bad channel binding", self.user)
            raise self._refuse()
        if not self._nonce_matches(attributes.get("r", "")):
            log.debug("SCRAM client-final of %r refused: nonce mismatch", self.user)
            raise self._refuse()
        auth_message = f"{self._client_first_bare},{self._server_first},{without_proof}".encode()
        digest = self._kind.hash_name
        client_signature = hmac.digest(cred.stored_key, auth_message, digest)
        if len(proof) != len(client_signature):
            raise self._refuse()
        client_key = bytes(a ^ b for a, b in zip(proof, client_signature, strict=True))
        if not hmac.compare_digest(hashlib.new(digest, client_key).digest(), cred.stored_key):
            raise self._refuse()
        self.complete = True
        server_signature = hmac.digest(cred.server_key, auth_message, digest)
        return b"v=" + base64.b64encode(server_signature)

    def _nonce_matches(self, nonce: str) -> bool:
        """RFC 5802's nonce, or librdkafka < 2.6.1's (the client nonce once more in front)."""
        sent = nonce.encode()
        return hmac.compare_digest(sent, self._nonce.encode()) or hmac.compare_digest(
            sent, (self._client_nonce + self._nonce).encode()
        )

    def _decoy(self) -> ScramCredential:
        seed = hmac.digest(_DECOY_SECRET, (self.user or "").encode(), "sha256")
        fake_key = hashlib.new(self._kind.hash_name, seed + b"key").digest()
        return ScramCredential(seed[:16], fake_key, fake_key, MIN_ITERATIONS)
