"""A Grete broker on its own event loop in a background thread.

Lets synchronous tests (confluent-kafka, kafka-python) and asynchronous ones
(aiokafka) talk to a real broker in the same process, on a free port.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from grete.app import Broker


class BrokerThread:
    """Start with ``start()`` (or ``with``); ``bootstrap_servers`` is valid once started."""

    def __init__(self, log_dir: Path | str, **settings: Any) -> None:
        settings.setdefault("listeners", "PLAINTEXT://127.0.0.1:0")
        settings["log_dirs"] = str(log_dir)
        self._settings = settings
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="grete-broker", daemon=True)
        self.broker: Broker | None = None

    def start(self, timeout_s: float = 30.0) -> BrokerThread:
        self._thread.start()

        async def start() -> Broker:
            broker = Broker(**self._settings)
            await broker.start()
            return broker

        self.broker = asyncio.run_coroutine_threadsafe(start(), self._loop).result(timeout_s)
        return self

    @property
    def bootstrap_servers(self) -> str:
        if self.broker is None:
            raise RuntimeError("the broker is not started")
        return self.broker.bootstrap_servers

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.broker is not None:
            asyncio.run_coroutine_threadsafe(self.broker.stop(), self._loop).result(timeout_s)
            self.broker = None
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout_s)
        self._loop.close()

    def __enter__(self) -> BrokerThread:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
