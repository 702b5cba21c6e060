from __future__ import annotations

from pathlib import Path

import pytest

from grete.storage.checkpoint import (
    CorruptCheckpoint,
    read_checkpoint,
    write_checkpoint,
)


def test_exact_text_format_and_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "recovery-point-offset-checkpoint"
    offsets = {("my-topic", 3): 56, ("my.topic", 0): 1234, ("a", 10): 0}
    write_checkpoint(path, offsets)
    assert path.read_text() == "0\n3\na 10 0\nmy-topic 3 56\nmy.topic 0 1234\n"
    assert read_checkpoint(path) == offsets
    assert not (tmp_path / "recovery-point-offset-checkpoint.tmp").exists()


def test_empty_and_missing(tmp_path: Path) -> None:
    path = tmp_path / "log-start-offset-checkpoint"
    assert read_checkpoint(path) == {}
    write_checkpoint(path, {})
    assert path.read_text() == "0\n0\n"
    assert read_checkpoint(path) == {}


def test_overwrite_replaces_contents(tmp_path: Path) -> None:
    path = tmp_path / "replication-offset-checkpoint"
    write_checkpoint(path, {("t", 0): 5, ("t", 1): 6})
    write_checkpoint(path, {("t", 0): 7})
    assert read_checkpoint(path) == {("t", 0): 7}


def test_reads_a_kafka_written_file(tmp_path: Path) -> None:
    path = tmp_path / "recovery-point-offset-checkpoint"
    path.write_text("0\n2\n__consumer_offsets 17 42\nfoo-bar.baz 0 9\n")
    assert read_checkpoint(path) == {("__consumer_offsets", 17): 42, ("foo-bar.baz", 0): 9}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1\n0\n",
        "0\n2\nt 0 1\n",
        "0\n1\nt 0\n",
        "0\n1\nt x 1\n",
        "zero\n0\n",
    ],
)
def test_malformed_files_are_rejected(tmp_path: Path, text: str) -> None:
    path = tmp_path / "cp"
    path.write_text(text)
    with pytest.raises(CorruptCheckpoint):
        read_checkpoint(path)
