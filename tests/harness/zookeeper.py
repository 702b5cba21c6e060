"""A real Apache ZooKeeper server (Debian's `zookeeper` package) for cluster-mode tests.

ZooKeeperProcess has the ServerProcess interface (start, stop, kill, restart, tail, the
log file appended across restarts) plus pause()/resume() to freeze the JVM with
SIGSTOP/SIGCONT, the way a long GC pause or a stalled host looks to its clients.
Readiness is ZooKeeper's own `ruok` four-letter word, so the harness needs no client
library. The server runs standalone on 127.0.0.1, with no admin HTTP server and no
systemd: `java -cp zookeeper.jar:slf4j-simple.jar QuorumPeerMain zoo.cfg`.

Not thread-safe: drive each process object from one thread.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Self

from .process import HOST, BrokerStartError, ServerProcess
from .procstat import wait_stopped

# Debian's libzookeeper-java: the jar's manifest Class-Path names its dependencies
# (netty, jute, jackson, slf4j-api, ...) under /usr/share/java, so one jar is enough.
JAVA_DIR = Path("/usr/share/java")
ZOOKEEPER_JAR = JAVA_DIR / "zookeeper.jar"
# An SLF4J binding, else ZooKeeper logs nothing and a failed start leaves no clue.
SLF4J_SIMPLE_JAR = JAVA_DIR / "slf4j-simple.jar"
MAIN_CLASS = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
INSTALL_HINT = "run scripts/install-system-deps.sh (Debian package `zookeeper`)"

# A JVM killed by SIGTERM exits 128 + 15 after running its shutdown hooks: a clean stop.
_SIGTERM_EXIT = 128 + signal.SIGTERM

# tickTime 500 ms lets a test ask for sessions as short as 1 s (2 ticks); max 60 s.
DEFAULT_SETTINGS: Mapping[str, str] = {
    "tickTime": "500",
    "maxSessionTimeout": "60000",
    "admin.enableServer": "false",
    "4lw.commands.whitelist": "srvr,ruok",
    "maxClientCnxns": "0",  # tests open many sessions from 127.0.0.1
    "autopurge.purgeInterval": "0",
}


class ZooKeeperNotInstalled(FileNotFoundError):
    """java or the ZooKeeper server jar is missing from this machine."""


def zookeeper_command_prefix() -> list[str]:
    """`java <flags> -cp <classpath>`: raises ZooKeeperNotInstalled with the fix if absent."""
    java = shutil.which("java")
    if java is None:
        raise ZooKeeperNotInstalled(f"java is not on PATH: {INSTALL_HINT}")
    if not ZOOKEEPER_JAR.is_file():
        raise ZooKeeperNotInstalled(f"{ZOOKEEPER_JAR} is missing: {INSTALL_HINT}")
    classpath = [str(ZOOKEEPER_JAR)]
    if SLF4J_SIMPLE_JAR.is_file():
        classpath.append(str(SLF4J_SIMPLE_JAR))
    return [
        java,
        # Small and quick to start: tests run several servers on 2 cores.
        "-Xms16m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
        "-Dorg.slf4j.simpleLogger.showDateTime=true",
        "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
        # The transaction log is preallocated in 64 MiB steps by default.
        "-Dzookeeper.preAllocSize=4096",
        "-cp", os.pathsep.join(classpath),
    ]  # fmt: skip


def four_letter_word(host: str, port: int, word: str, timeout: float = 1.0) -> str:
    """Send a ZooKeeper four-letter command (`ruok`, `srvr`) and return the whole answer.

    Raises OSError when the server does not answer. The server closes the connection
    after answering, so the answer is everything read until EOF (bounded at 64 KiB).
    """
    if len(word) != 4:
        raise ValueError(f"four-letter words have four letters, not {word!r}")
    answer = bytearray()
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(word.encode("ascii"))
        while len(answer) < 64 * 1024:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.decode("utf-8", "replace")


class ZooKeeperProcess(ServerProcess):
    """A standalone ZooKeeper server on 127.0.0.1:port with its snapshots and log in data_dir.

    zoo.cfg is written next to data_dir (data_dir.parent / "zoo.cfg") at every start, from
    DEFAULT_SETTINGS overlaid with ``settings``. restart() keeps the port and data dir, so
    persistent znodes survive it and clients reconnect to the same connect string.
    """

    name = "zookeeper"

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        log_path: Path | None = None,
        config_path: Path | None = None,
        settings: Mapping[str, str] | None = None,
        start_timeout: float = 30.0,
        stop_timeout: float = 15.0,
        env: dict[str, str] | None = None,
    ) -> None:
        super().__init__(
            data_dir,
            port=port,
            log_path=log_path,
            start_timeout=start_timeout,
            stop_timeout=stop_timeout,
            env=env,
        )
        self.config_path = (
            Path(config_path) if config_path is not None else self.data_dir.parent / "zoo.cfg"
        )
        self.settings = {**DEFAULT_SETTINGS, **(settings or {})}
        self._paused = False

    @property
    def connect_string(self) -> str:
        """What a ZooKeeper client (kazoo's `hosts`, Kafka's zookeeper.connect) is given."""
        return f"{HOST}:{self.port}"

    @property
    def paused(self) -> bool:
        return self._paused

    def command(self) -> list[str]:
        return [*zookeeper_command_prefix(), MAIN_CLASS, str(self.config_path)]

    def start(self) -> Self:
        """Write zoo.cfg, spawn the server and block until it answers `ruok` with `imok`."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running as pid {self.pid}")
        self.config_path.parent.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self._config_text(), encoding="utf-8")
        self._paused = False
        return super().start()

    def stop(self, *, check: bool = False) -> int:
        """SIGTERM (after SIGCONT if paused), wait, SIGKILL if ignored. Returns the exit code.

        With check=True, raise AssertionError unless ZooKeeper exited cleanly: 0, or the
        JVM's 143 after SIGTERM.
        """
        self.resume()
        code = super().stop(check=False)
        if check and code not in (0, _SIGTERM_EXIT):
            raise AssertionError(f"{self.name} exited with {code} after SIGTERM\n{self.tail()}")
        return code

    def kill(self) -> None:
        """SIGKILL and reap (works on a paused server too): a crash, as clients see it."""
        super().kill()
        self._paused = False

    def pause(self) -> None:
        """SIGSTOP: the server keeps its sockets but answers nothing until resume()."""
        if not self.running:
            raise RuntimeError(f"{self.name} is not running")
        os.kill(self.pid, signal.SIGSTOP)
        self._paused = True
        wait_stopped(self.pid)

    def resume(self) -> None:
        """SIGCONT after pause(); a no-op when not paused."""
        if self._paused and self.running:
            os.kill(self.pid, signal.SIGCONT)
        self._paused = False

    def four_letter_word(self, word: str, timeout: float = 1.0) -> str:
        return four_letter_word(HOST, self.port, word, timeout)

    # -- internals ---------------------------------------------------------------
    def _config_text(self) -> str:
        settings = {
            **self.settings,
            "dataDir": str(self.data_dir.resolve()),
            "clientPort": str(self.port),
            "clientPortAddress": HOST,  # never listen beyond loopback
        }
        return "".join(f"{key}={value}\n" for key, value in settings.items())

    def _wait_until_serving(self, deadline: float) -> None:
        last_error: Exception | str | None = None
        while time.monotonic() < deadline:
            code = self.returncode
            if code is not None:
                raise BrokerStartError(
                    f"{self.name} exited with {code} during start\n{self.tail()}"
                )
            try:
                # ruok says the JVM runs the server; srvr's Mode line that it serves requests.
                answer = self.four_letter_word("ruok")
                if answer == "imok" and "Mode:" in self.four_letter_word("srvr"):
                    return
                last_error = f"answered {answer!r}"
            except OSError as exc:
                last_error = exc
            time.sleep(0.05)
        raise BrokerStartError(
            f"{self.name} did not answer ruok with imok on {self.connect_string} within "
            f"{self.start_timeout}s (last: {last_error!r})\n{self.tail()}"
        )
