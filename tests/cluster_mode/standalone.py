"""Real services for the cluster-mode tests: a Spark standalone cluster and an MLflow server.

Both run as separate processes on 127.0.0.1 with ports picked at run time, and both are
always torn down: :func:`spark_standalone` and :func:`mlflow_server` are context managers
whose ``finally`` stops what they started, then kills whatever of theirs is still alive.

pyspark's wheel ships ``sbin/spark-daemon.sh`` (what ``start-master.sh``/``start-worker.sh``
call) but not those two wrappers, so the master and the workers are started and stopped with
``spark-daemon.sh start|stop org.apache.spark.deploy.{master.Master,worker.Worker} N``, the
exact commands the wrappers run.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyspark

SPARK_HOME = Path(pyspark.__file__).resolve().parent
DAEMON = SPARK_HOME / "sbin" / "spark-daemon.sh"
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url: str, timeout: float = 2.0) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8"))
    except (OSError, urllib.error.URLError, ValueError):
        return None


def _tails(folder: Path, chars: int = 3000) -> str:
    """The last ``chars`` characters of each log file in ``folder``."""
    parts = []
    for path in sorted(folder.glob("*")) if folder.is_dir() else []:
        if path.suffix not in {".out", ".log"}:
            continue
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            parts.append(f"--- {path.name} (last {chars} chars) ---\n{text[-chars:]}")
    return "\n".join(parts) or f"(no logs in {folder})"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie is dead for our purposes
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def processes_mentioning(marker: str) -> list[int]:
    """Pids of live processes whose command line or working directory contains ``marker``."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if (marker in cmdline or marker in cwd) and _alive(int(proc.name)):
            pids.append(int(proc.name))
    return pids


def _kill_all(pids: list[int], grace: float = 10.0) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    for pid in pids:
        if _alive(pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


ROOT = Path(__file__).resolve().parents[2]
# 1,500 real English applications of one USPTO week, spread over all six domains
CORPUS = ROOT / "data" / "sample" / "ipa_week" / "uspto_ipa230105_applications.jsonl.gz"


def half_corpus(folder: Path, files: int = 1) -> Path:
    """Every other record of CORPUS (750, still over every domain), in a folder of its own,
    dealt round-robin into ``files`` files (each a split of its own: gzip is read whole)."""
    folder.mkdir(parents=True, exist_ok=True)
    with gzip.open(CORPUS, "rt", encoding="utf-8") as f:
        lines = f.readlines()[::2]
    stem = CORPUS.name.removesuffix(".jsonl.gz")
    for i in range(files):
        name = CORPUS.name if files == 1 else f"{stem}_{i}.jsonl.gz"
        with gzip.open(folder / name, "wt", encoding="utf-8") as f:
            f.writelines(lines[i::files])
    return folder


@dataclass(frozen=True)
class StandaloneCluster:
    """A running standalone master with its workers."""

    url: str  # spark://127.0.0.1:PORT
    webui: str  # http://127.0.0.1:PORT
    base: Path  # everything it writes: logs, pids, worker dirs
    workers: int

    def state(self) -> dict | None:
        """The master's JSON status page."""
        return _get_json(f"{self.webui}/json/")


@contextlib.contextmanager
def spark_standalone(
    base: Path,
    workers: int = 2,
    cores: int = 1,
    memory: str = "2g",
    timeout: float = 120.0,
) -> Iterator[StandaloneCluster]:
    """Start a master and ``workers`` workers on 127.0.0.1; stop them all on exit.

    Raises:
        RuntimeError: if the workers are not all ALIVE at the master within ``timeout``
            seconds (the message carries the daemons' log tails).
    """
    if not DAEMON.exists():
        raise RuntimeError(f"{DAEMON} is missing: this pyspark ships no sbin/spark-daemon.sh")
    base = base.resolve()
    logs, pids, work, conf = (base / n for n in ("logs", "pids", "work", "conf"))
    for folder in (logs, pids, work, conf):
        folder.mkdir(parents=True, exist_ok=True)
    port, webui_port = free_port(), free_port()
    url, webui = f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{webui_port}"
    env = {
        **os.environ,
        "SPARK_HOME": str(SPARK_HOME),
        "SPARK_CONF_DIR": str(conf),  # empty: no spark-env.sh or defaults from elsewhere
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_MASTER_HOST": "127.0.0.1",
        "SPARK_WORKER_CORES": str(cores),
        "SPARK_WORKER_MEMORY": memory,
        "SPARK_WORKER_DIR": str(work),
        "SPARK_LOG_DIR": str(logs),
        "SPARK_PID_DIR": str(pids),
        "SPARK_IDENT_STRING": f"techscreen-test-{os.getpid()}",
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }
    env.pop("PYSPARK_GATEWAY_PORT", None)
    env.pop("PYSPARK_GATEWAY_SECRET", None)
    started: list[tuple[str, int]] = []

    def daemon(action: str, cls: str, instance: int, *args: str) -> None:
        subprocess.run(
            ["bash", str(DAEMON), action, cls, str(instance), *args],
            env=env,
            cwd=base,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
            check=False,
        )

    try:
        started.append((MASTER_CLASS, 1))
        daemon(
            "start",
            MASTER_CLASS,
            1,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            str(webui_port),
        )
        for n in range(1, workers + 1):
            started.append((WORKER_CLASS, n))
            daemon(
                "start",
                WORKER_CLASS,
                n,
                "--host",
                "127.0.0.1",
                "--webui-port",
                str(free_port()),
                url,
            )
        cluster = StandaloneCluster(url=url, webui=webui, base=base, workers=workers)
        deadline = time.monotonic() + timeout
        state = None
        while time.monotonic() < deadline:
            state = cluster.state()
            alive = [w for w in (state or {}).get("workers", []) if w.get("state") == "ALIVE"]
            if state and state.get("status") == "ALIVE" and len(alive) >= workers:
                break
            time.sleep(0.5)
        else:
            raise RuntimeError(
                f"Spark standalone at {url}: {workers} ALIVE workers not registered within "
                f"{timeout:.0f} s (master JSON: {json.dumps(state)[:1000]})\n{_tails(logs)}"
            )
        yield cluster
    finally:
        for cls, n in reversed(started):
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                daemon("stop", cls, n)
        # whatever the stop scripts missed (executors included: their cwd is under work/)
        _kill_all(processes_mentioning(str(base)) + processes_mentioning(url))


@dataclass(frozen=True)
class MlflowServer:
    """A running ``mlflow server`` with a SQLite store and proxied artifacts."""

    uri: str  # http://127.0.0.1:PORT
    base: Path
    pid: int


@contextlib.contextmanager
def mlflow_server(base: Path, timeout: float = 120.0) -> Iterator[MlflowServer]:
    """Start ``mlflow server`` on a free port of 127.0.0.1; stop it (its whole group) on exit.

    Raises:
        RuntimeError: if ``/health`` does not answer within ``timeout`` seconds.
    """
    base = base.resolve()
    base.mkdir(parents=True, exist_ok=True)
    mlflow = Path(sys.executable).parent / "mlflow"
    if not mlflow.exists():
        mlflow = Path(shutil.which("mlflow") or "mlflow")
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    log = base / "mlflow-server.log"
    command = [
        str(mlflow),
        "server",
        "--backend-store-uri",
        f"sqlite:///{base / 'mlflow.db'}",
        "--artifacts-destination",
        str(base / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    with open(log, "ab") as out:
        process = subprocess.Popen(
            command,
            cwd=base,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: uvicorn/gunicorn children included
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() >= deadline:
                raise RuntimeError(
                    f"mlflow server at {uri} is not healthy after {timeout:.0f} s "
                    f"(exit code {process.poll()}):\n{_tails(base, 3000)}"
                )
            time.sleep(0.5)
        yield MlflowServer(uri=uri, base=base, pid=process.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)
        # children that left the group, if any
        _kill_all(processes_mentioning(f"--port {port}"))
