"""Kafka error codes. Handlers use ``ErrorCode.<name>`` from here, never from kio."""

from __future__ import annotations

from kio.schema.errors import ErrorCode

__all__ = ["ErrorCode"]
