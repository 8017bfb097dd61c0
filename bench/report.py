"""What every benchmark prints: where it ran, then one row per figure (name, measured, target)."""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path


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
