"""Fail fast, with the fix, when something the test suite needs is missing."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from harness import kafka_client_jars


def main() -> int:
    problems = [
        f"{tool} not on PATH: run scripts/install-system-deps.sh"
        for tool in ("kcat", "java", "javac")
        if shutil.which(tool) is None
    ]
    if not Path("/usr/share/java/zookeeper.jar").is_file():
        problems.append("ZooKeeper not installed (/usr/share/java/zookeeper.jar): run scripts/install-system-deps.sh")
    versions = ROOT / "tests" / "compat" / "kafka-python-2.versions"
    for line in versions.read_text().splitlines():
        version = line.strip()
        stamp = Path(sys.prefix) / "compat" / f"kafka-python-{version}" / ".installed"
        if version and not version.startswith("#") and not stamp.is_file():
            problems.append(f"kafka-python {version} not installed ({stamp.parent}): run make test")
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
