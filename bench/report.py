"""What every benchmark prints: where it ran, then one row per figure (name, measured, target)."""

from __future__ import annotations

import contextlib
import math
import os
import re
import shlex
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import psutil
import pyarrow.dataset as ds


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or "unknown CPU"."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def load_average() -> str:
    """The 1/5/15-minute load averages, so a reader can tell a busy machine's figures apart."""
    return " / ".join(f"{v:.2f}" for v in os.getloadavg())


def print_table(
    title: str,
    rows: Sequence[tuple[str, str, str]],
    value_width: int,
    notes: Sequence[str] = (),
) -> None:
    """Print ``title`` with the machine and command, ``notes``, then the aligned rows."""
    print(f"{title}: {cpu_model()}, {os.cpu_count()} cores")
    print(f"  command: {shlex.join([sys.executable, *sys.argv])}")
    for note in notes:
        print(f"  {note}")
    width = max(len(name) for name, _, _ in rows)
    for name, value, target in rows:
        print(f"  {name:<{width}}  {value:<{value_width}} {target}".rstrip())


def workspace_table(workspace: Path, name: str, columns: list[str], where=None) -> pd.DataFrame:
    """A workspace table (Parquet, hive-partitioned) read with pyarrow: ``columns``, filtered."""
    dataset = ds.dataset(workspace / name, format="parquet", partitioning="hive")
    return dataset.to_table(columns=columns, filter=where).to_pandas()


ROLES = ("jvm", "python_driver", "python_workers", "other")
_WORKER_MODULES = ("pyspark.daemon", "pyspark.worker")
_XMX = re.compile(r"^-Xmx(\d+)([kKmMgGtT]?)$")
_UNIT = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def xmx_bytes(cmdline: Sequence[str]) -> int | None:
    """The heap a java command line asks for (its last ``-Xmx``), in bytes; None if absent."""
    found = None
    for arg in cmdline:
        if match := _XMX.match(arg):
            found = int(match[1]) * _UNIT[match[2].lower()]
    return found


def process_role(proc: psutil.Process, root_pid: int) -> str:
    """``proc``'s role in a Spark application whose Python driver is ``root_pid``.

    ``python_driver`` is the root itself; ``jvm`` a java process (in local mode the driver
    JVM, executors included; also spark-submit's short-lived launcher); ``python_workers``
    PySpark's ``pyspark.daemon`` and the workers it forks (same command line) or a
    ``pyspark.worker``; anything else is ``other``. Raises ``psutil.Error`` when the process
    has gone or cannot be read.
    """
    if proc.pid == root_pid:
        return "python_driver"
    cmdline = proc.cmdline()
    name = proc.name()
    exe = Path(cmdline[0]).name if cmdline else name
    if name == "java" or exe == "java":
        return "jvm"
    if any(module in arg for arg in cmdline for module in _WORKER_MODULES):
        return "python_workers"
    return "other"


class PeakMemory:
    """RSS of a process and all its descendants by role, sampled every ``interval`` seconds.

    The watched root is ``pid`` (default: this process), taken as the Python driver; its
    descendants are classed by :func:`process_role`. ``peak`` is the largest total;
    ``samples`` keeps ``(time.time(), total)`` pairs and ``role_samples`` ``(time.time(),
    {role: rss})`` so a caller can take the peak of a time window (one stage of a pipeline)
    with :meth:`peak_between` or, per role, :meth:`peaks_between`. ``jvm_xmx`` is the largest
    ``-Xmx`` seen on a java command line (bytes, None if none). RSS is cheap to read but
    shared pages count once per process, so a sum over processes is an upper bound.
    """

    def __init__(self, interval: float = 0.2, pid: int | None = None) -> None:
        self.interval, self.peak = interval, 0
        self.pid = os.getpid() if pid is None else pid
        self.samples: list[tuple[float, int]] = []
        self.role_samples: list[tuple[float, dict[str, int]]] = []
        self.jvm_xmx: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def sample(self) -> dict[str, int] | None:
        """RSS per role now (each role present, 0 if none), or None once the root has gone."""
        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return None
        rss = dict.fromkeys(ROLES, 0)
        for proc in procs:
            with contextlib.suppress(psutil.Error), proc.oneshot():
                role = process_role(proc, self.pid)
                rss[role] += proc.memory_info().rss
                if role == "jvm" and (xmx := xmx_bytes(proc.cmdline())) is not None:
                    self.jvm_xmx = max(self.jvm_xmx or 0, xmx)
        return rss

    def _watch(self) -> None:
        while not self._stop.is_set():
            now, rss = time.time(), self.sample()
            if rss is not None:
                total = sum(rss.values())
                self.peak = max(self.peak, total)
                self.samples.append((now, total))
                self.role_samples.append((now, rss))
            self._stop.wait(self.interval)

    def peak_between(self, start: float, end: float) -> int:
        """The largest total taken between two ``time.time()`` instants (0 if none)."""
        return max((rss for t, rss in self.samples if start <= t <= end), default=0)

    def peaks_between(self, start: float | None = None, end: float | None = None) -> dict:
        """Per role, ``total`` and ``driver`` (JVM + Python driver), the largest sample.

        Each is the peak of its own series in the window (default: every sample), so the
        roles' peaks need not add up to the total's; ``driver`` is the peak of the per-sample
        sum, not a sum of peaks.
        """
        lo = -math.inf if start is None else start
        hi = math.inf if end is None else end
        window = [rss for t, rss in self.role_samples if lo <= t <= hi]
        series = {
            **{role: [s[role] for s in window] for role in ROLES},
            "total": [sum(s.values()) for s in window],
            "driver": [s["jvm"] + s["python_driver"] for s in window],
        }
        return {key: max(values, default=0) for key, values in series.items()}

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
