"""The workspace lock, crash clean-up and completion markers: real files, a real MLflow store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from techscreen import resume
from techscreen.config import load_settings
from techscreen.io.tables import META_FILE
from techscreen.recovery import WorkspaceBusy, recover, workspace_lock
from techscreen.tracking import Tracker


def _settings(ws: Path, *extra: str):
    return load_settings(ROOT / "conf", None, [f"paths.workspace={ws}", *extra])


def _tracker(ws: Path) -> Tracker:
    return Tracker(f"sqlite:///{ws.parent / 'mlflow.db'}", "recovery", workspace=ws)


# --- the lock ------------------------------------------------------------------------------


def test_a_second_writer_is_refused_until_the_first_dies(tmp_path):
    ws = tmp_path / "ws"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from techscreen.recovery import workspace_lock\n"
            "with workspace_lock(Path(sys.argv[1])):\n"
            "    print('held', flush=True); time.sleep(60)",
            str(ws),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(WorkspaceBusy, match=f"pid {holder.pid}"), workspace_lock(ws):
            pass
    finally:
        os.kill(holder.pid, signal.SIGKILL)  # a crash: the kernel drops the lock
        holder.wait()
    with workspace_lock(ws):
        assert (ws / ".lock").read_text() == str(os.getpid())


# --- clean-up after a crash ------------------------------------------------------------------


def _partition(ws: Path, table: str, run_id: str) -> Path:
    folder = ws / table / f"run_id={run_id}"
    folder.mkdir(parents=True)
    (folder / "part-0.parquet").write_bytes(b"PAR1")
    return folder


def test_recover_restores_a_half_replaced_table_and_drops_staging(tmp_path):
    ws = tmp_path / "ws"
    old = ws / ".patents.old-1a2b3c4d"
    old.mkdir(parents=True)
    (old / "part-0.parquet").write_bytes(b"PAR1")
    (ws / ".quarantine.old-99").mkdir()  # beside a present table: the leftover goes
    (ws / "quarantine").mkdir()
    (ws / ".vectors.tmp-0f0f0f0f" / "_temporary").mkdir(parents=True)
    (ws / resume.MARKERS / "embed").mkdir(parents=True)
    (ws / resume.MARKERS / "embed" / ".abc.json.tmp-12").write_text("{")
    done = recover(ws, _tracker(ws))
    assert (ws / "patents" / "part-0.parquet").exists() and not old.exists()
    assert done["restored"] == [str(ws / "patents")]
    assert sorted(Path(p).name for p in done["removed"]) == [
        ".abc.json.tmp-12",
        ".quarantine.old-99",
        ".vectors.tmp-0f0f0f0f",
    ]


def _stage_run(tracker: Tracker, workspace: Path, status: str) -> str:
    tags = {
        "techscreen.kind": "stage",
        "techscreen.stage": "cluster",
        "techscreen.workspace": str(workspace),
    }
    run_id = tracker.client.create_run(tracker.experiment_id, tags=tags).info.run_id
    if status != "RUNNING":  # RUNNING: as a SIGKILL leaves it, its process gone
        tracker.client.set_terminated(run_id, status)
    return run_id


def test_every_run_is_tagged_with_its_workspace(tmp_path):
    ws = tmp_path / "ws"
    tracker = _tracker(ws)
    with tracker.stage("cluster") as run:
        pass
    assert tracker.client.get_run(run.run_id).data.tags["techscreen.workspace"] == str(ws)


def test_recover_removes_the_partitions_of_runs_that_did_not_finish(tmp_path):
    ws = tmp_path / "ws"
    tracker = _tracker(ws)
    runs = {s: _stage_run(tracker, ws, s) for s in ("RUNNING", "FAILED", "KILLED", "FINISHED")}
    for run_id in runs.values():
        _partition(ws, "assignments", run_id)
        _partition(ws, "nodes", run_id)
    foreign = _partition(ws, "assignments", _stage_run(tracker, tmp_path / "elsewhere", "RUNNING"))

    done = recover(ws, tracker)
    status = {k: tracker.client.get_run(v).info.status for k, v in runs.items()}
    assert status == {
        "RUNNING": "KILLED",
        "FAILED": "FAILED",
        "KILLED": "KILLED",
        "FINISHED": "FINISHED",
    }
    assert done["killed_runs"] == [runs["RUNNING"]]
    for name in ("RUNNING", "FAILED", "KILLED"):
        assert not (ws / "assignments" / f"run_id={runs[name]}").exists()
        assert not (ws / "nodes" / f"run_id={runs[name]}").exists()
    assert (ws / "nodes" / f"run_id={runs['FINISHED']}").exists() and foreign.exists()
    assert recover(ws, tracker) == {"restored": [], "removed": [], "killed_runs": []}


# --- fingerprints and markers ----------------------------------------------------------------


def test_a_fingerprint_follows_the_settings_and_upstream_a_stage_reads(tmp_path):
    ws = tmp_path / "ws"
    base = _settings(ws)
    up = {"embed": "e1", "domains": "d1"}
    first = resume.fingerprint(base, "cluster", up)
    assert first == resume.fingerprint(_settings(ws), "cluster", dict(up))
    assert first != resume.fingerprint(_settings(ws, "cluster.seed=7"), "cluster", up)
    assert first != resume.fingerprint(base, "cluster", {**up, "embed": "e2"})
    # settings other stages read, Spark's and the run selectors are not part of it
    assert first == resume.fingerprint(_settings(ws, "graph.top_k_edges=3"), "cluster", up)
    assert first == resume.fingerprint(_settings(ws, "spark.shuffle_partitions=3"), "cluster", up)
    graph = resume.fingerprint(base, "graph", {"cluster": "c1", "ingest": "i1"})
    chosen = _settings(ws, "graph.cluster_run=abc")
    assert graph == resume.fingerprint(chosen, "graph", {"cluster": "c1", "ingest": "i1"})
    assert resume.reads(base, "embed") == ("ingest",)
    assert resume.reads(_settings(ws, "embed.domains=[energy]"), "embed") == ("ingest", "domains")


def test_a_marker_counts_only_while_its_outputs_remain(tmp_path):
    ws = tmp_path / "ws"
    s = _settings(ws)
    assert resume.finished(s, "graph", "f1") is None
    resume.record(s, "graph", "f1", {"run_id": "r1", "nodes": 3})
    assert resume.finished(s, "graph", "f1") is None  # no outputs yet
    for table in resume.RUN_TABLES["graph"]:
        _partition(ws, table, "r1")
    assert resume.finished(s, "graph", "f1") == {"run_id": "r1", "nodes": 3}
    assert resume.finished(s, "graph", "f2") is None

    resume.record(s, "ingest", "i1", {"run_id": "r9"})
    for table in resume.WHOLE_TABLES["ingest"]:
        (ws / table).mkdir(parents=True)
        (ws / table / META_FILE).write_text(json.dumps({"run_id": "r9"}))
    assert resume.finished(s, "ingest", "i1") == {"run_id": "r9"}
    (ws / "patents" / META_FILE).write_text(json.dumps({"run_id": "r10"}))  # re-ingested since
    assert resume.finished(s, "ingest", "i1") is None
    assert not list((ws / resume.MARKERS).rglob(".*tmp*"))
