"""pytest plugin, registered through the ``pytest11`` entry point when Grete is installed.

Fixtures:
- ``grete_broker``: a fresh broker for one test, in-process, on a free port, with its
  data in the test's tmp_path. ``grete_broker.bootstrap_servers`` is what a client needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from grete.testing.broker_thread import BrokerThread


@pytest.fixture
def grete_broker(tmp_path: Path) -> Iterator[BrokerThread]:
    # Imported here so that installing Grete never slows down or breaks unrelated test runs.
    from grete.testing.broker_thread import BrokerThread

    with BrokerThread(tmp_path / "grete-data") as broker:
        yield broker
