"""Fail fast, with the fix, when something the test suite needs is missing."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from harness import kafka_client_jars


def main() -> int:
    problems = [
        f"{tool} not on PATH: run scripts/install-system-deps.sh"
        for tool in ("kcat", "java", "javac")
        if shutil.which(tool) is None
    ]
    if not Path("/usr/share/java/zookeeper.jar").is_file():
        problems.append("ZooKeeper not installed (/usr/share/java/zookeeper.jar): run scripts/install-system-deps.sh")
    try:
        jars = kafka_client_jars()
    except FileNotFoundError as exc:
        problems.append(str(exc))
    else:
        print(f"check-test-deps: Java client at {jars[0]}")
    for problem in problems:
        print(f"check-test-deps: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
