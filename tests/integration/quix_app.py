"""A stateful Quix Streams word count, run by test_quix_streams.py as a subprocess.

    python quix_app.py BROKER INPUT OUTPUT GROUP STATE_DIR

Sentences come from INPUT; every word's running count goes to OUTPUT as JSON
``{"word": w, "count": n}`` keyed by the word. Counts live in the default RocksDB state
store, whose changelog topic Quix creates compacted. Runs until SIGINT or SIGTERM, on
which Quix commits (at-least-once, the default guarantee) and exits.
"""

from __future__ import annotations

import sys
from typing import Any

from quixstreams import Application, State


def count_words(sentence: str, state: State[str, int]) -> list[dict[str, Any]]:
    """One state key per word, so the changelog holds one record per word and commit."""
    counts = []
    for word in sentence.split():
        count = int(state.get(word, 0)) + 1
        state.set(word, count)
        counts.append({"word": word, "count": count})
    return counts


def main(broker: str, input_name: str, output_name: str, group: str, state_dir: str) -> None:
    app = Application(
        broker_address=broker,
        consumer_group=group,
        auto_offset_reset="earliest",
        state_dir=state_dir,
        commit_every=20,  # many small commits: many changelog updates of the same keys
        processing_guarantee="at-least-once",
    )
    source = app.topic(input_name, value_deserializer="str")
    sink = app.topic(output_name, key_serializer="str", value_serializer="json")
    sdf = app.dataframe(source)
    sdf = sdf.apply(count_words, stateful=True, expand=True)
    sdf.to_topic(sink, key=lambda item: item["word"])
    app.run()


if __name__ == "__main__":
    main(*sys.argv[1:6])
