"""Grete: an event streaming platform in Python that speaks the Apache Kafka wire protocol."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from grete.app import Broker


def __getattr__(name: str) -> Any:
    # Lazy, so that `import grete` stays cheap for the CLI.
    if name == "Broker":
        from grete.app import Broker

        return Broker
    raise AttributeError(name)


__all__ = ["Broker", "__version__"]
