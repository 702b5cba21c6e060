"""SASL PLAIN (RFC 4616) on the server: one message, ``authzid NUL authcid NUL passwd``.

Passwords are compared in constant time, and an unknown user costs the same comparison as
a known one, so that neither timing nor the answer tells them apart. Sans-IO.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from grete.security.sasl.errors import SaslAuthenticationError

INVALID_CREDENTIALS = "Authentication failed: Invalid username or password"
_UNKNOWN_USER_DIGEST = hashlib.sha256(b"grete: no such user").digest()


class PlainServer:
    """One PLAIN exchange against ``users`` (name -> password)."""

    mechanism = "PLAIN"

    def __init__(self, users: Mapping[str, str]) -> None:
        self._users = users
        self.user: str | None = None  # set once authenticated

    @property
    def complete(self) -> bool:
        return self.user is not None

    def evaluate(self, token: bytes) -> bytes:
        """Check the client's one message; returns the (empty) server answer."""
        parts = token.split(b"\x00")
        if len(parts) != 3:
            raise SaslAuthenticationError("Invalid SASL/PLAIN response: expected 3 tokens")
        try:
            authzid, user, password = (p.decode("utf-8") for p in parts)
        except UnicodeDecodeError:
            raise SaslAuthenticationError(INVALID_CREDENTIALS) from None
        if not user:
            raise SaslAuthenticationError("Authentication failed: username not specified")
        if not password:
            raise SaslAuthenticationError("Authentication failed: password not specified")
        # Compare digests so that the comparison takes the same time whatever the lengths.
        given = hashlib.sha256(password.encode()).digest()
        expected_password = self._users.get(user)
        expected = (
            hashlib.sha256(expected_password.encode()).digest()
            if expected_password is not None
            else _UNKNOWN_USER_DIGEST
        )
        if not hmac.compare_digest(given, expected) or expected_password is None:
            raise SaslAuthenticationError(INVALID_CREDENTIALS)
        if authzid and authzid != user:
            raise SaslAuthenticationError(
                "Authentication failed: Client requested an authorization id that is "
                "different from username"
            )
        self.user = user
        return b""
