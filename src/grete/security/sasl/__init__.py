"""SASL authentication: PLAIN and SCRAM-SHA-256/512 exchanges, SCRAM credentials, sessions."""
