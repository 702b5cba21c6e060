"""What one write into the page cache costs on this machine, and on which side of the
system call the time goes: `python bench/page_cache_write.py --gib 8 [--dir DIR]`.

Writes GIB of 1 MiB `pwrite` calls to a new file in DIR (no fsync), then deletes it;
prints the rate, each call's latency percentiles and the writing thread's CPU time.
CPU time close to wall time means the writes cost CPU in the kernel (copying, and page
allocation) rather than waiting on the disk. `--writeback` starts the writeback of each
8 MiB written from a second thread (sync_file_range), to compare with the kernel's
own dirty-page handling. Run it twice in a row, then again after a minute's pause: on
a VM whose host takes back freed guest memory, the first run after a pause is slower
(docs/performance.md)."""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import threading
import time
from pathlib import Path
from typing import Any

SYNC_FILE_RANGE_WRITE = 2
CHUNK = 1 << 20


def measure(dir: Path, mib: int, *, writeback: bool = False) -> dict[str, Any]:
    """Write `mib` MiB to a new file in `dir` with 1 MiB pwrite calls, delete it, and
    report the rate, the calls' latency and the writing thread's CPU time."""
    path = dir / f"page-cache-write-{os.getpid()}.tmp"
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
    buf = os.urandom(CHUNK)
    written, done = [0], threading.Event()
    libc = ctypes.CDLL(None, use_errno=True)

    def start_writeback() -> None:
        started = 0
        while not done.wait(0.005):
            end = written[0]
            if end - started >= 8 * CHUNK:
                libc.sync_file_range(
                    fd, ctypes.c_longlong(started), ctypes.c_longlong(end - started),
                    SYNC_FILE_RANGE_WRITE,
                )  # fmt: skip
                started = end

    helper = threading.Thread(target=start_writeback, daemon=True) if writeback else None
    if helper is not None:
        helper.start()
    latencies: list[float] = []
    try:
        before = resource.getrusage(resource.RUSAGE_THREAD)
        start = time.perf_counter()
        for i in range(mib):  # bounded: mib
            call = time.perf_counter()
            os.pwrite(fd, buf, i * CHUNK)
            latencies.append(time.perf_counter() - call)
            written[0] = (i + 1) * CHUNK
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_THREAD)
    finally:
        done.set()
        if helper is not None:
            helper.join()
        os.close(fd)
        path.unlink()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    latencies.sort()

    def ms(fraction: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(fraction * len(latencies)))] * 1e3, 2)

    return {
        "mib": mib, "writeback_thread": writeback, "seconds": round(wall, 3),
        "mib_per_second": round(mib / wall), "ms_per_mib": round(wall / mib * 1e3, 2),
        "writer_cpu_seconds": round(cpu, 2),
        "kernel_cpu_seconds": round(after.ru_stime - before.ru_stime, 2),
        "p50_ms": ms(0.5), "p99_ms": ms(0.99), "max_ms": round(latencies[-1] * 1e3, 1),
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gib", type=float, default=4.0)
    parser.add_argument("--dir", type=Path, default=Path.cwd())
    parser.add_argument("--writeback", action="store_true")
    args = parser.parse_args()
    print(json.dumps(measure(args.dir, int(args.gib * 1024), writeback=args.writeback)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
