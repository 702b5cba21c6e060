"""`make cluster`: ZooKeeper and 3 Grete brokers on this machine, data under ./data.

ZooKeeper listens on 127.0.0.1:2181 (data in data/zookeeper), brokers 0, 1 and 2 on
127.0.0.1:9092, 9093 and 9094 (data in data/broker-N), replication factor 3 and
min.insync.replicas 2 by default. Ctrl-C (or SIGTERM) stops the brokers one by one,
each handing its leaderships over first, then ZooKeeper.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ZOOKEEPER_JAR = Path("/usr/share/java/zookeeper.jar")
SLF4J_JAR = Path("/usr/share/java/slf4j-simple.jar")


def four_letter_word(port: int, word: str) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
        sock.sendall(word.encode())
        return sock.recv(1024).decode(errors="replace")


def start_zookeeper(data: Path, port: int) -> subprocess.Popen[bytes]:
    if not ZOOKEEPER_JAR.is_file() or shutil.which("java") is None:
        sys.exit("ZooKeeper or java is missing: run `make system-deps` (scripts/install-system-deps.sh)")
    data.mkdir(parents=True, exist_ok=True)
    config = data / "zoo.cfg"
    config.write_text(
        f"dataDir={data}\nclientPort={port}\nclientPortAddress=127.0.0.1\ntickTime=2000\n"
        "initLimit=10\nsyncLimit=5\nadmin.enableServer=false\n4lw.commands.whitelist=srvr,ruok\n"
    )
    classpath = os.pathsep.join(str(p) for p in (ZOOKEEPER_JAR, SLF4J_JAR) if p.is_file())
    log = (data / "zookeeper.log").open("ab")
    process = subprocess.Popen(
        ["java", "-Xmx256m", "-cp", classpath, "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(config)],
        stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"ZooKeeper exited with {process.returncode}; see {data / 'zookeeper.log'}")
        try:
            if four_letter_word(port, "ruok") == "imok":
                return process
        except OSError:
            pass
        time.sleep(0.2)
    process.kill()
    sys.exit("ZooKeeper did not answer within 30 s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument("--brokers", type=int, default=3)
    parser.add_argument("--zookeeper-port", type=int, default=2181)
    parser.add_argument("--first-port", type=int, default=9092)
    parser.add_argument("--grete", default=str(Path(sys.executable).with_name("grete")))
    args = parser.parse_args()
    data = args.data.resolve()
    zookeeper = start_zookeeper(data / "zookeeper", args.zookeeper_port)
    connect = f"127.0.0.1:{args.zookeeper_port}/grete"
    brokers: list[subprocess.Popen[bytes]] = []
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for n in range(args.brokers):
        port = args.first_port + n
        brokers.append(subprocess.Popen([
            args.grete, "serve", "--zookeeper", connect, "--broker-id", str(n),
            "--listeners", f"PLAINTEXT://127.0.0.1:{port}", "--log-dirs", str(data / f"broker-{n}"),
            "--override", f"default.replication.factor={min(3, args.brokers)}",
            "--override", f"offsets.topic.replication.factor={min(3, args.brokers)}",
            "--override", f"min.insync.replicas={2 if args.brokers >= 3 else 1}",
        ]))
    bootstrap = ",".join(f"127.0.0.1:{args.first_port + n}" for n in range(args.brokers))
    print(f"ZooKeeper on 127.0.0.1:{args.zookeeper_port}, brokers on {bootstrap}. Ctrl-C stops them.", flush=True)
    try:
        while not stopping and all(b.poll() is None for b in brokers):
            time.sleep(0.5)
    finally:
        for broker in brokers:  # one at a time: each hands its leaderships to the others
            if broker.poll() is None:
                broker.send_signal(signal.SIGTERM)
                try:
                    broker.wait(60)
                except subprocess.TimeoutExpired:
                    broker.kill()
        zookeeper.terminate()
        try:
            zookeeper.wait(15)
        except subprocess.TimeoutExpired:
            zookeeper.kill()
    failed = [b.returncode for b in brokers if b.returncode not in (0, None)]
    return 1 if failed and not stopping else 0


if __name__ == "__main__":
    sys.exit(main())
