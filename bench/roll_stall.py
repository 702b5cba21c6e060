"""How long the event loop stands still when a segment rolls.

Appends 1 MiB batches (1,024 records of 1 KiB) to one log at full speed and records
the time of each append call: the ones that roll the segment show the stall. Run with
the background flusher (Grete's default) and without it (the fsync of the rolled
segment on the appending thread, as before):

    .venv/bin/python bench/roll_stall.py --segment-mb 512 --total-mb 3072
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from grete.clock import SYSTEM_CLOCK
from grete.records.batch import split_batches, validate_batch
from grete.records.builder import BatchSpec, Record, build_batch
from grete.storage.flusher import BackgroundFlusher
from grete.storage.log import Log
from grete.storage.types import LogConfig, ValidBatch


def run(background: bool, segment_mb: int, total_mb: int, dir: Path) -> dict[str, float]:
    template = build_batch([Record(None, b"x" * 1024) for _ in range(1024)], BatchSpec(base_timestamp=int(time.time() * 1000)))
    log = Log.open(dir / "roll-0", LogConfig(segment_bytes=segment_mb << 20), clock=SYSTEM_CLOCK)
    flusher = BackgroundFlusher() if background else None
    log.flusher = flusher
    times = []
    for _ in range(total_mb):
        records = bytearray(template)
        batches = [ValidBatch(s, e, validate_batch(memoryview(records)[s:e])) for s, e in split_batches(records)]
        t0 = time.perf_counter()
        log.append(records, batches, leader_epoch=0)
        times.append(time.perf_counter() - t0)
    segments = log.num_segments
    if flusher is not None:
        flusher.drain()
        flusher.close()
    log.close()
    times.sort()
    return {
        "segments": segments,
        "median_ms": statistics.median(times) * 1000,
        "p99_ms": times[int(len(times) * 0.99)] * 1000,
        "max_ms": times[-1] * 1000,
        "total_s": sum(times),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--segment-mb", type=int, default=512)
    parser.add_argument("--total-mb", type=int, default=3072)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    for round_ in range(args.rounds):
        for background in (False, True):
            dir = Path(tempfile.mkdtemp(prefix="grete-bench-roll-"))
            try:
                r = run(background, args.segment_mb, args.total_mb, dir)
            finally:
                shutil.rmtree(dir, ignore_errors=True)
            mode = "background flusher" if background else "fsync on the loop"
            print(f"round {round_ + 1}, {mode}: {r['segments']} segments, append median {r['median_ms']:.2f} ms, "
                  f"p99 {r['p99_ms']:.2f} ms, max {r['max_ms']:.0f} ms, total {r['total_s']:.2f} s", flush=True)


if __name__ == "__main__":
    main()
