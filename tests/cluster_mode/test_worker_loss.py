"""Fault tolerance: losing a worker while the embed stage runs on the standalone cluster
changes nothing in ``vectors/``.

The embed stage runs as a ``techscreen embed`` subprocess against the cluster's master; as
soon as one embed task has committed its output (and others still run), the test SIGKILLs
worker 1's JVM and every process under it (its executor JVM and that executor's Python
workers), as a machine that dies would. Spark reschedules the lost tasks on the surviving
worker; the job must finish and its vectors must equal a fault-free ``local[2]`` run's on a
copy of the same ingested workspace.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from cluster_mode.standalone import WORKER_CLASS, half_corpus

ROOT = Path(__file__).resolve().parents[2]
TECHSCREEN = Path(sys.executable).parent / "techscreen"


def _command(
    stage: str, workspace: Path, master: str, *extra: str, conf: dict | None = None
) -> list[str]:
    # one scan split per patents/ file (8 files of ~55 kB, each costing 4 MB to open): 8
    # embed tasks, so the kill finds some done and two running; without it Spark packs the 8
    # files into 2 splits, one per core
    conf = {
        "spark.executor.memory": "1g",
        "spark.sql.files.maxPartitionBytes": "1048576",
        **(conf or {}),
    }
    return [
        str(TECHSCREEN),
        stage,
        *extra,
        "--conf-dir",
        str(ROOT / "conf"),
        "--set",
        f"paths.workspace={workspace}",
        "--set",
        f"spark.master={master}",
        "--set",
        "spark.driver_memory=2g",
        "--set",
        f"spark.conf={json.dumps(conf)}",
        "--set",  # one English corpus, one embedder (conf/base routes other languages apart)
        "embed.routes={}",
    ]


def _env() -> dict[str, str]:
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    env.pop("PYSPARK_GATEWAY_PORT", None)
    env.pop("PYSPARK_GATEWAY_SECRET", None)
    return env


def _summary(stage: str, returncode: int, stdout: str, stderr: str) -> dict:
    assert returncode == 0, f"{stage}: exit {returncode}\n{stderr[-6000:]}\n{stdout[-2000:]}"
    return json.loads(stdout.strip().splitlines()[-1])


def _run(command: list[str], timeout: float = 300) -> dict:
    result = subprocess.run(
        command, capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=timeout, check=False
    )
    return _summary(command[1], result.returncode, result.stdout, result.stderr)


def _children(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (from /proc's parent links)."""
    parents: dict[int, int] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                stat = (proc / "stat").read_text()
            except OSError:
                continue
            parents[int(proc.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        kids = [p for p, parent in parents.items() if parent == current]
        found += kids
        frontier += kids
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _worker_pid(base: Path, n: int) -> int:
    (pid_file,) = (base / "pids").glob(f"spark-*-{WORKER_CLASS}-{n}.pid")
    return int(pid_file.read_text().strip())


def _events(folder: Path) -> list[dict]:
    """The Spark event log(s) written to ``folder``, one dict per event."""
    return [
        json.loads(line)
        for path in sorted(folder.rglob("events_*"))  # Spark 4: eventlog_v2_<app>/events_N_<app>
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


def _vectors(workspace: Path) -> pd.DataFrame:
    frame = pd.read_parquet(workspace / "vectors")
    frame["embedder_id"] = frame["embedder_id"].astype(str)
    return frame.sort_values("publication_number", kind="mergesort").reset_index(drop=True)


@pytest.mark.slow
def test_embed_survives_losing_a_worker(standalone_cluster, tracking_server, tmp_path):
    started = time.monotonic()
    faulty, reference = tmp_path / "faulty", tmp_path / "reference"
    # 750 real English applications (~20 s of minilm-int8 on 2 cores) in 8 files: patents/
    # keeps one file per input split (only repeated numbers are shuffled), so 8 embed tasks
    corpus = half_corpus(tmp_path / "in", files=8)
    ingest = _run(_command("ingest", faulty, "local[2]", str(corpus)))
    shutil.copytree(faulty, reference)  # the same patents/ (same files) for both embed runs
    ingest_s = time.monotonic() - started

    # --- the fault run: embed on the cluster, kill worker 1 mid-stage ---
    events = tmp_path / "events"  # the driver's event log: which tasks ran, failed, reran where
    events.mkdir()
    command = _command(
        "embed",
        faulty,
        standalone_cluster.url,
        "--set",
        f"mlflow.tracking_uri={tracking_server.uri}",
        conf={
            "spark.eventLog.enabled": "true",
            "spark.eventLog.dir": events.as_uri(),
            "spark.eventLog.compress": "false",
        },
    )
    base = standalone_cluster.base
    out, err = tmp_path / "embed.out", tmp_path / "embed.err"
    with open(out, "wb") as stdout_file, open(err, "wb") as stderr_file:
        process = subprocess.Popen(
            command, stdout=stdout_file, stderr=stderr_file, env=_env(), cwd=ROOT
        )
    try:
        # the kill waits for a committed embed task (FileOutputCommitter's task dirs) while
        # worker 1 still has its executor
        worker = _worker_pid(base, 1)
        deadline = time.monotonic() + 240
        committed: list[Path] = []
        while time.monotonic() < deadline and process.poll() is None:
            committed = list(faulty.glob(".vectors.tmp-*/_temporary/0/task_*"))
            executors = [
                p for p in _children(worker) if "CoarseGrainedExecutorBackend" in _cmdline(p)
            ]
            # 2..5 of 8 done: both executors hold a running task (usually each has finished one)
            if 2 <= len(committed) <= 5 and executors:
                break
            time.sleep(0.2)
        assert process.poll() is None, "embed ended before the kill:\n" + err.read_text()[-4000:]
        assert 2 <= len(committed) <= 5 and executors, f"no kill window within 240 s: {committed}"
        victims = [worker, *_children(worker)]
        killed = {pid: _cmdline(pid)[:120] for pid in victims}
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        kill_s = time.monotonic() - started
        staged_at_kill = len(committed)
        process.wait(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stdout, stderr = out.read_text(errors="replace"), err.read_text(errors="replace")
    faulty_s = time.monotonic() - started
    summary = _summary("embed", process.returncode, stdout, stderr)
    print(f"killed at {kill_s:.0f} s after {staged_at_kill} committed task(s): {killed}")
    print("\n".join(line[:200] for line in stderr.splitlines() if "Lost " in line))

    # the fault happened: the worker is dead at the master, the driver lost its executor
    assert all(not Path(f"/proc/{pid}").exists() or _cmdline(pid) == "" for pid in victims)
    state = standalone_cluster.state()
    workers = {w["id"]: w["state"] for w in state["workers"]}
    assert list(workers.values()).count("ALIVE") == 1, workers
    assert any(s in {"DEAD", "DECOMMISSIONED", "UNKNOWN"} for s in workers.values()), workers
    assert "Lost executor" in stderr, stderr[-4000:]
    # tasks running on its executor failed with ExecutorLostFailure and reran on the other one
    log = _events(events)
    removed = {e["Executor ID"] for e in log if e["Event"] == "SparkListenerExecutorRemoved"}
    ends = [e for e in log if e["Event"] == "SparkListenerTaskEnd"]
    lost = [e for e in ends if e["Task End Reason"]["Reason"] == "ExecutorLostFailure"]
    assert lost, "no task was running on the killed executor"
    assert {e["Task Info"]["Executor ID"] for e in lost} <= removed, removed
    stage = lost[0]["Stage ID"]
    assert {e["Stage ID"] for e in lost} == {stage}
    in_stage = [e for e in ends if e["Stage ID"] == stage]
    ok = {
        e["Task Info"]["Index"]: e["Task Info"]
        for e in in_stage
        if e["Task End Reason"]["Reason"] == "Success"
    }
    assert sorted(ok) == list(range(8)), sorted(ok)  # every split of the embed stage done
    for e in lost:
        rerun = ok[e["Task Info"]["Index"]]
        assert rerun["Attempt"] >= 1 and rerun["Executor ID"] not in removed, rerun
    done_before = [i for i, t in ok.items() if t["Executor ID"] in removed]
    print(
        f"embed stage {stage}: tasks lost {[e['Task Info']['Index'] for e in lost]} "
        f"(rerun elsewhere), finished on the lost executor before the kill: {done_before}"
    )
    (app,) = state["completedapps"]
    assert app["state"] == "FINISHED", app
    # ... and the stage still finished, tracked on the server
    run = MlflowClient(tracking_server.uri).get_run(summary["run_id"])
    assert run.info.status == "FINISHED"
    parent = MlflowClient(tracking_server.uri).get_run(summary["parent_run_id"])
    assert parent.data.tags["techscreen.spark_master"] == standalone_cluster.url

    # --- the fault-free reference on the same patents ---
    ref_summary = _run(_command("embed", reference, "local[2]"))
    reference_s = time.monotonic() - started - faulty_s
    print(
        f"ingest {ingest_s:.0f} s, faulty embed {faulty_s - ingest_s:.0f} s, "
        f"reference embed {reference_s:.0f} s"
    )

    a, b = _vectors(faulty), _vectors(reference)
    assert summary["docs_embedded"] == ref_summary["docs_embedded"] == ingest["kept"]
    assert len(a) == ingest["kept"] == 750
    assert a["publication_number"].is_unique
    assert list(a["publication_number"]) == list(b["publication_number"])
    assert list(a["content_hash"]) == list(b["content_hash"])
    (embedder_id,) = summary["embedder_ids"]
    assert list(a["embedder_id"]) == list(b["embedder_id"]) == [embedder_id] * len(a)
    assert a["vector"].notna().all()
    va, vb = np.stack(a["vector"].to_numpy()), np.stack(b["vector"].to_numpy())
    diff = np.abs(va - vb).max()
    print(f"max |faulty - reference| = {diff:.3g}, bit-identical: {np.array_equal(va, vb)}")
    assert diff <= 1e-6
