"""The Java Kafka client (kafka-clients 3.9 from the `test` extra): find its jars, compile, run."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

# The test extra (shigawire-apache-flink-libraries) ships these under pyflink/lib/.
CLIENT_JARS = (
    "kafka-clients.jar",
    "slf4j-api.jar",
    "lz4-java.jar",
    "snappy-java.jar",
    "zstd-jni.jar",
)
JAVA_SOURCE_DIR = Path(__file__).resolve().parents[1] / "compat" / "java"


def kafka_client_jars() -> list[Path]:
    """kafka-clients.jar first, then its runtime dependencies; FileNotFoundError if absent."""
    candidates: list[Path] = []
    override = os.environ.get("GRETE_KAFKA_JAR_DIR")
    if override:
        candidates.append(Path(override))
    spec = importlib.util.find_spec("pyflink")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidates.append(Path(location) / "lib")
    for folder in candidates:
        jars = [folder / name for name in CLIENT_JARS]
        if all(jar.is_file() for jar in jars):
            return jars
    raise FileNotFoundError(
        "kafka-clients.jar not found in pyflink/lib: run `make test` "
        "(it installs the test extra, shigawire-apache-flink-libraries)"
    )


@dataclass(frozen=True)
class JavaProgram:
    """A compiled Java main class with the Kafka client jars on its class path."""

    main_class: str
    classpath: str
    java: str

    def __call__(self, *args: str, timeout: float = 120.0) -> str:
        """Run the program with args; return stdout, or raise AssertionError with its stderr."""
        command = [self.java, "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                   "-cp", self.classpath, self.main_class, *args]  # fmt: skip
        try:
            done = subprocess.run(
                command, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(
                f"{self.main_class} {' '.join(args)} still running after {timeout}s\n"
                f"stderr:\n{_text(exc.stderr)[-6000:]}"
            ) from None
        if done.returncode != 0:
            raise AssertionError(
                f"{self.main_class} {' '.join(args)} exited {done.returncode}\n"
                f"stdout:\n{_text(done.stdout)[-3000:]}\nstderr:\n{_text(done.stderr)[-6000:]}"
            )
        return _text(done.stdout)


def compile_java(source: Path, out_dir: Path, timeout: float = 180.0) -> JavaProgram:
    """javac the single-file program against kafka-clients.jar into out_dir."""
    javac, java = shutil.which("javac"), shutil.which("java")
    if javac is None or java is None:
        raise FileNotFoundError(
            "javac/java not found: run `make test` (scripts/install-system-deps.sh)"
        )
    jars = kafka_client_jars()
    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [javac, "-nowarn", "-encoding", "UTF-8", "-cp", str(jars[0]), "-d", str(out_dir), str(source)],
        stdin=subprocess.DEVNULL, check=True, timeout=timeout,
    )  # fmt: skip
    classpath = os.pathsep.join([str(out_dir), *(str(jar) for jar in jars)])
    return JavaProgram(main_class=source.stem, classpath=classpath, java=java)


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode("utf-8", "replace")
