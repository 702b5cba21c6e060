"""SCRAM with librdkafka before 2.6.1: kcat 1.7.1 (librdkafka 2.0.2) logs in, and the nonce
rule that lets it in admits nothing else.

That librdkafka puts its client nonce in front of the combined nonce once more in
client-final (``r=<c-nonce><c-nonce><s-nonce>``, confluentinc/librdkafka#4895). Kafka 3.9
accepts it, so Grete does; any other nonce is refused, as RFC 5802 asks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import subprocess
import uuid

import pytest

from ..raw_kafka import RawKafka
from .conftest import SCRAM_USERS, SecureSetup

HANDSHAKE, AUTHENTICATE = 17, 36
SASL_AUTHENTICATION_FAILED = 58


def _kcat(args: list[str], stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(args, input=stdin, timeout=25, capture_output=True, check=False)


@pytest.mark.parametrize(("listener", "user"), [("SASL_PLAINTEXT", "bob"), ("SASL_SSL", "carol")])
def test_kcat_scram_round_trip(secure: SecureSetup, kcat: str, topic_name: str, listener: str,
                               user: str) -> None:
    mechanism, password = SCRAM_USERS[user]
    args = [kcat, "-b", secure.broker.bootstrap_for(listener), "-X", f"security.protocol={listener}",
            "-X", f"sasl.mechanisms={mechanism.name.replace('_', '-')}",
            "-X", f"sasl.username={user}", "-X", f"sasl.password={password}",
            "-X", f"ssl.ca.location={secure.pki.ca}"]
    produced = _kcat([*args, "-P", "-t", topic_name], b"one\ntwo\nthree\n")
    assert produced.returncode == 0, produced.stderr.decode(errors="replace")[-2000:]
    consumed = _kcat([*args, "-C", "-t", topic_name, "-o", "beginning", "-c", "3", "-e"])
    assert consumed.returncode == 0, consumed.stderr.decode(errors="replace")[-2000:]
    assert consumed.stdout.split() == [b"one", b"two", b"three"]


def test_kcat_scram_wrong_password_fails(secure: SecureSetup, kcat: str) -> None:
    done = _kcat([kcat, "-b", secure.broker.bootstrap_for("SASL_PLAINTEXT"), "-X",
                  "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=SCRAM-SHA-256",
                  "-X", "sasl.username=bob", "-X", "sasl.password=not-bobs", "-L", "-m", "5"])
    assert done.returncode != 0
    assert b"Authentication failed" in done.stderr, done.stderr[-2000:]


def _final_with_nonce(raw: RawKafka, nonce_of: str) -> int:
    """A SCRAM-SHA-256 login as bob whose client-final carries the nonce ``nonce_of`` names,
    with a proof computed over exactly those bytes; the broker's error code."""
    assert raw.request(HANDSHAKE, 1, mechanism="SCRAM-SHA-256").error_code == 0
    c_nonce = uuid.uuid4().hex
    first_bare = f"n=bob,r={c_nonce}"
    first = raw.request(AUTHENTICATE, 2, auth_bytes=f"n,,{first_bare}".encode())
    assert first.error_code == 0
    server_first = first.auth_bytes.decode()
    fields = dict(part.split("=", 1) for part in server_first.split(","))
    combined = fields["r"]
    assert combined.startswith(c_nonce) and len(combined) > len(c_nonce)
    nonce = {"rfc": combined, "librdkafka": c_nonce + combined, "other-prefix": "x" + combined,
             "suffix": combined + "x"}[nonce_of]
    without_proof = f"c=biws,r={nonce}"
    salted = hashlib.pbkdf2_hmac("sha256", SCRAM_USERS["bob"][1].encode(),
                                 base64.b64decode(fields["s"]), int(fields["i"]))
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    auth_message = f"{first_bare},{server_first},{without_proof}".encode()
    signature = hmac.digest(hashlib.sha256(client_key).digest(), auth_message, "sha256")
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature, strict=True)))
    final = raw.request(AUTHENTICATE, 2, auth_bytes=f"{without_proof},p={proof.decode()}".encode())
    if final.error_code == 0:  # the server proves it knows the key too
        server_key = hmac.digest(salted, b"Server Key", "sha256")
        expected = base64.b64encode(hmac.digest(server_key, auth_message, "sha256"))
        assert final.auth_bytes == b"v=" + expected
    return int(final.error_code)


@pytest.mark.parametrize(("nonce_of", "error_code"), [
    ("rfc", 0), ("librdkafka", 0),
    ("other-prefix", SASL_AUTHENTICATION_FAILED), ("suffix", SASL_AUTHENTICATION_FAILED)])
def test_client_final_nonce_rule(secure: SecureSetup, nonce_of: str, error_code: int) -> None:
    with RawKafka(secure.broker.bootstrap_for("SASL_PLAINTEXT")) as raw:
        assert _final_with_nonce(raw, nonce_of) == error_code
