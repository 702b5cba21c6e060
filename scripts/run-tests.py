"""Run the whole suite as two pytest sessions at once, each running its tests one by one.

The cluster tests (tests/cluster: ZooKeeper and three brokers per test) spend most of
their time waiting for sessions to expire and leaders to move: the machine is 20-40 %
busy meanwhile. On the 2-core CI machine the suite took 28.5 minutes in one session
(clean clone, 7bdf224); the side lane (the cluster, fault and security suites, 14.5 of
those minutes) now runs beside the rest (14 minutes). The side lane's output goes to a
log file, printed when both are done; the exit status is the first failing lane's.

Arguments are passed to both sessions. With a test path among them (`make test
PYTEST_ARGS=tests/unit`) there is only one session, run as given.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIDE_LANE = ("tests/cluster", "tests/faults", "tests/integration/security")
NO_TESTS = 5  # pytest's exit code when nothing was collected


def _names_a_path(args: list[str]) -> bool:
    return any(not arg.startswith("-") and (ROOT / arg.split("::")[0]).exists() for arg in args)


def main(args: list[str]) -> int:
    pytest = [sys.executable, "-m", "pytest"]
    if _names_a_path(args):
        return subprocess.call([*pytest, *args], cwd=ROOT)
    log = Path(tempfile.gettempdir()) / f"grete-side-lane-{os.getpid()}.log"
    ignored = [option for path in SIDE_LANE for option in ("--ignore", path)]
    with log.open("wb") as out:
        # No cache plugin in the side lane: one session writes .pytest_cache, not two.
        side = subprocess.Popen(
            [*pytest, *SIDE_LANE, "-p", "no:cacheprovider", *args],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        started = time.monotonic()
        try:
            main_code = subprocess.call([*pytest, *ignored, *args], cwd=ROOT)
            side_code = side.wait()
        except BaseException:
            side.send_signal(signal.SIGINT)  # pytest ends its session and its brokers
            side.wait(timeout=60)
            raise
    elapsed = time.monotonic() - started
    # 5: a lane where the arguments (-k, -m) selected nothing, which is no failure here.
    main_code, side_code = (0 if c == NO_TESTS else c for c in (main_code, side_code))
    print(f"\n===== side lane ({' '.join(SIDE_LANE)}), exit {side_code}: {log} =====", flush=True)
    sys.stdout.buffer.write(log.read_bytes())
    print(f"\n===== both lanes done in {elapsed / 60:.1f} min: "
          f"main exit {main_code}, side exit {side_code} =====", flush=True)  # fmt: skip
    return main_code or side_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
