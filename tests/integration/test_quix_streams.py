"""A stateful Quix Streams application restores its state from a compacted changelog.

quix_app.py counts words in a subprocess against a Grete broker process. Between two
runs its changelog is compacted, its local RocksDB state is deleted and the broker
restarts; the second run must rebuild its counts from the changelog alone.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, ConfigResource
from harness import ServerProcess

from .test_compaction import FAST_CLEANER, cleaner_checkpoint, consume_all, create_topic, wait_for

APP = Path(__file__).with_name("quix_app.py")
# Quix Streams lives in its own venv (`make test` builds it): it pins confluent-kafka and
# pydantic below the versions the broker and the other tests use.
QUIX_PYTHON = Path(__file__).resolve().parents[2] / ".venv-quix" / "bin" / "python"
def quix_python() -> Path:
    """The interpreter with Quix Streams installed; a missing one fails the test."""
    if not QUIX_PYTHON.exists():
        pytest.fail(f"{QUIX_PYTHON} is missing: `make test` installs Quix Streams there")
    return QUIX_PYTHON


SMALL_SEGMENTS = (
    *FAST_CLEANER,
    "--override",
    "log.segment.bytes=4096",  # Quix creates the changelog with broker defaults
    "--override",
    "log.cleaner.min.cleanable.ratio=0.01",
)
WORDS = [
    "apple",
    "banana",
    "cherry",
    "date",
    "elder",
    "fig",
    "grape",
    "hazel",
    "iris",
    "juniper",
    "kiwi",
    "lemon",
    "mango",
    "nectar",
    "olive",
    "pear",
]


def sentences(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(3, 8))) for _ in range(count)]


def produce_sentences(bootstrap: str, topic: str, lines: list[str]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for line in lines:
        producer.produce(topic, key=b"text", value=line.encode())  # one key: one state namespace
    assert producer.flush(30) == 0


def last_counts(bootstrap: str, topic: str) -> dict[str, int]:
    """The last count the app wrote for each word (its output topic has one partition)."""
    counts: dict[str, int] = {}
    for _, key, value in consume_all(bootstrap, topic):
        assert value is not None
        item = json.loads(value)
        assert key == item["word"].encode()
        counts[item["word"]] = item["count"]
    return counts


class QuixApp:
    """quix_app.py in a subprocess, its output in a log file for failure reports."""

    def __init__(
        self, bootstrap: str, names: tuple[str, str, str], state_dir: Path, log_path: Path
    ) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [str(quix_python()), str(APP), bootstrap, *names, str(state_dir)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> int:
        """SIGTERM, on which Quix commits and exits; kill -9 after 20 s."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
            raise AssertionError(f"Quix app ignored SIGTERM:\n{self.tail()}") from None
        finally:
            self._log.close()

    def tail(self) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-40:])


def wait_for_counts(bootstrap: str, output: str, expected: Counter[str], app: QuixApp) -> None:
    """Until the output's last count per word is `expected`; fails early if the app died."""

    def done() -> bool:
        assert app.process.poll() is None, f"Quix app exited:\n{app.tail()}"
        return last_counts(bootstrap, output) == expected

    try:
        wait_for(done, 40, "the Quix app's counts")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{last_counts(bootstrap, output)}\n{app.tail()}") from None


def topic_config(bootstrap: str, topic: str, name: str) -> str:
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    return str(admin.describe_configs([resource])[resource].result(15)[name].value)


def test_word_count_restores_its_state_from_the_compacted_changelog(
    broker_factory: Callable[..., ServerProcess], topic_name: str, tmp_path: Path
) -> None:
    broker: ServerProcess = broker_factory(*SMALL_SEGMENTS)
    names = (f"{topic_name}-in", f"{topic_name}-out", f"group-{topic_name}")
    source, output, _ = names
    create_topic(broker.bootstrap, source, {})
    state_dir = tmp_path / "quix-state"
    first, second = sentences(400, seed=1), sentences(200, seed=2)

    produce_sentences(broker.bootstrap, source, first)
    app = QuixApp(broker.bootstrap, names, state_dir, tmp_path / "quix-1.log")
    expected = Counter(word for line in first for word in line.split())
    wait_for_counts(broker.bootstrap, output, expected, app)
    assert app.stop() == 0

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    [changelog] = [t for t in admin.list_topics(timeout=15).topics if t.startswith("changelog__")]
    assert topic_config(broker.bootstrap, changelog, "cleanup.policy") == "compact"
    wait_for(
        lambda: cleaner_checkpoint(broker.data_dir, changelog) > 0,
        20,
        "the cleaner to compact the changelog",
    )
    kept = consume_all(broker.bootstrap, changelog)
    cleaned = [
        key for offset, key, _ in kept if offset < cleaner_checkpoint(broker.data_dir, changelog)
    ]
    assert len(cleaned) == len(set(cleaned))  # compacted: one record per state key
    assert len(kept) < kept[-1][0] + 1  # records were removed: offsets have gaps

    shutil.rmtree(state_dir)  # the second run can only restore from the changelog
    broker.stop()
    broker.start()
    produce_sentences(broker.bootstrap, source, second)
    app = QuixApp(broker.bootstrap, names, state_dir, tmp_path / "quix-2.log")
    expected.update(word for line in second for word in line.split())
    wait_for_counts(broker.bootstrap, output, expected, app)
    assert app.stop() == 0
