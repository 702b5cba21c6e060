"""The failure of a SASL exchange; its message is what the client is told."""


class SaslAuthenticationError(Exception):
    """Answered with SASL_AUTHENTICATION_FAILED and ``str(exc)``, then the connection closes."""
