"""bench/report.py's PeakMemory: RSS by process role over a real process tree."""

import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
sys.modules.pop("report", None)  # tests/report, cached as a namespace package, shadows bench/

from report import ROLES, PeakMemory, xmx_bytes  # noqa: E402

# the root (our "Python driver") starts a fake JVM (python under the name java, with an
# -Xmx), a fake PySpark worker (pyspark.worker on its command line) and a sleep, then waits
ROOT_SCRIPT = """
import subprocess, sys, time
java, py = sys.argv[1], sys.argv[2]
nap = "import time; time.sleep(30)"
subprocess.Popen([java, "-c", nap, "-Xmx3g"])
subprocess.Popen([py, "-c", nap, "-m", "pyspark.worker"])
subprocess.Popen(["sleep", "30"])
time.sleep(30)
"""


@pytest.fixture
def tree(tmp_path):
    java = tmp_path / "java"
    java.symlink_to(Path(sys.executable).resolve())
    root = subprocess.Popen([sys.executable, "-c", ROOT_SCRIPT, str(java), sys.executable])
    proc = psutil.Process(root.pid)
    try:
        deadline = time.monotonic() + 4
        while len(proc.children()) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # let the children's interpreters start
        yield root.pid
    finally:
        for child in proc.children(recursive=True):
            child.kill()
        root.kill()
        root.wait()


def test_roles_of_a_real_tree(tree):
    with PeakMemory(interval=0.05, pid=tree) as memory:
        time.sleep(0.3)
    assert memory.samples and memory.role_samples
    now = memory.sample()
    assert set(now) == set(ROLES)
    for role in ROLES:
        assert now[role] > 0, role
    peaks = memory.peaks_between()
    assert peaks["total"] == memory.peak > 0
    assert peaks["driver"] >= max(peaks["jvm"], peaks["python_driver"])
    assert peaks["driver"] <= peaks["jvm"] + peaks["python_driver"]
    assert memory.jvm_xmx == 3 * 1024**3
    start, end = memory.samples[0][0], memory.samples[-1][0]
    assert memory.peak_between(start, end) == memory.peak
    assert memory.peaks_between(end + 1, end + 2) == dict.fromkeys([*ROLES, "total", "driver"], 0)


def test_default_root_is_this_process():
    now = PeakMemory().sample()
    assert now is not None
    # this process is the root (the suite may have started a JVM and workers beside it)
    assert now["python_driver"] == pytest.approx(psutil.Process().memory_info().rss, rel=0.5)


def test_gone_root_gives_no_sample():
    dead = subprocess.Popen(["true"])
    dead.wait()
    assert PeakMemory(pid=dead.pid).sample() is None


def test_xmx_bytes():
    assert xmx_bytes(["java", "-Xmx6g", "-cp", "x"]) == 6 * 1024**3
    assert xmx_bytes(["java", "-Xmx128m", "-Xmx512M"]) == 512 * 1024**2
    assert xmx_bytes(["java", "-Xms1g"]) is None
