"""What every benchmark prints: where it ran, then one row per figure (name, measured, target)."""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import psutil


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
        print(f"  {name:<{width}}  {value:<{value_width}} {target}")


class PeakMemory:
    """Summed RSS of this process and all its descendants, sampled every ``interval`` seconds.

    ``peak`` is the largest sum; ``samples`` keeps ``(time.time(), rss)`` pairs so a caller can
    take the peak of a time window (one stage of a pipeline). Shared pages count once per
    process, so the sum is an upper bound.
    """

    def __init__(self, interval: float = 0.2) -> None:
        self.interval, self.peak = interval, 0
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += proc.memory_info().rss
            self.peak = max(self.peak, total)
            self.samples.append((time.time(), total))
            self._stop.wait(self.interval)

    def peak_between(self, start: float, end: float) -> int:
        """The largest sample taken between two ``time.time()`` instants (0 if none)."""
        return max((rss for t, rss in self.samples if start <= t <= end), default=0)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
