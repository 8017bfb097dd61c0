"""Crash, resume, determinism: the screening killed mid-embed and mid-cluster ends as if never
interrupted, on input in another row order and with other Spark partition counts.

The reference is the session's uninterrupted screening of the bundled sample (``screening``:
in-process, local[2], 4 shuffle partitions, files as shipped). Here the same records are
rewritten with their rows shuffled (lines of JSON Lines; rows of CSV files, so a patent's
code rows come in another order; documents of the concatenated XML files), and the pipeline
runs as a separate process (its own process group, SIGKILLed whole, as a crash would) with
3 shuffle partitions:

1. killed while the embed job is writing;
2. re-run: ingest and domains are skipped (completion markers), embed starts again from a
   clean state; killed once the cluster stage has landed its assignments but not its nodes;
3. re-run to the end: the killed cluster run's partition is gone, its MLflow run is KILLED;
   assignments, centralities (1e-9) and tiers equal the reference's;
4. re-run with a changed graph setting: exactly graph, grade and report run again.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from pyspark.sql import functions as F

from conftest import ROOT
from techscreen.resume import MARKERS

TECHSCREEN = str(Path(sys.executable).with_name("techscreen"))
PARTITIONS = 3
CENTRALITIES = ("strength", "betweenness", "closeness", "eigenvector", "pagerank", "constraint")


# --- the shuffled copy of the sample -------------------------------------------------------


def _open_text(path: Path, mode: str):
    if path.suffix == ".gz":
        return gzip.open(path, mode + "t", encoding="utf-8", newline="")
    return path.open(mode, encoding="utf-8", newline="")


def _shuffled_lines(text: str, rng: random.Random) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    rng.shuffle(lines)
    return "\n".join(lines) + "\n"


def _shuffled_csv(text: str, rng: random.Random) -> str:
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    rng.shuffle(body)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *body])
    return out.getvalue()


def _shuffled_xml(text: str, rng: random.Random) -> str:
    documents = ["<?xml" + d for d in text.split("<?xml") if d.strip()]
    rng.shuffle(documents)
    return "".join(documents)


def shuffled_sample(target: Path, seed: int = 7) -> Path:
    """A copy of data/sample with every file's records in another order."""
    rng = random.Random(seed)
    source = ROOT / "data" / "sample"
    for path in sorted(source.rglob("*")):
        if not path.is_file() or path.name == "SOURCE.md":
            continue
        out = target / path.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        with _open_text(path, "r") as f:
            text = f.read()
        if ".jsonl" in path.name:
            text = _shuffled_lines(text, rng)
        elif ".xml" in path.name:
            text = _shuffled_xml(text, rng)
        elif ".csv" in path.name:
            text = _shuffled_csv(text, rng)
        with _open_text(out, "w") as f:
            f.write(text)
    return target


# --- running and killing the pipeline ------------------------------------------------------


def _command(ws: Path, inputs: Path, *extra: str) -> list[str]:
    sets = [
        f"paths.workspace={ws}",
        f"paths.input=[{inputs}]",
        f"spark.shuffle_partitions={PARTITIONS}",
        *extra,
    ]
    args = [TECHSCREEN, "run", str(ROOT / "pipelines" / "screening.yaml")]
    return args + [a for s in sets for a in ("--set", s)]


def run_until(ws: Path, inputs: Path, log: Path, ready, limit: float = 600) -> float:
    """Start the pipeline, wait for ``ready()``, SIGKILL its whole process group."""
    with log.open("w") as err:
        process = subprocess.Popen(
            _command(ws, inputs), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err,
            start_new_session=True,
        )  # fmt: skip
    started = time.monotonic()
    try:
        while not ready():
            assert process.poll() is None, "ended before the kill:\n" + log.read_text()[-3000:]
            assert time.monotonic() - started < limit, "no kill window:\n" + log.read_text()[-3000:]
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return time.monotonic() - started


def run_through(ws: Path, inputs: Path, log: Path, *extra: str) -> dict:
    with log.open("w") as err:
        done = subprocess.run(
            _command(ws, inputs, *extra), cwd=ROOT, stdout=subprocess.PIPE, stderr=err,
            text=True, timeout=900, check=False,
        )  # fmt: skip
    assert done.returncode == 0, log.read_text()[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _markers(ws: Path, stage: str) -> list[Path]:
    return sorted((ws / MARKERS / stage).glob("*.json"))


def embed_writing(ws: Path, for_s: float = 3.0):
    """A condition: the embed job has been writing (its staging folder exists) for ``for_s``."""
    seen: list[float] = []

    def ready() -> bool:
        if not seen and any(ws.glob(".vectors.tmp-*")):
            seen.append(time.monotonic())
        return bool(seen) and time.monotonic() - seen[0] >= for_s

    return ready


def _assignments_landed(ws: Path) -> bool:
    return any((ws / "assignments").glob("run_id=*/*.parquet"))


# --- comparing with the reference ------------------------------------------------------------


def _run_rows(spark, ws: Path, table: str, run_id: str):
    return spark.read.parquet(str(ws / table)).where(F.col("run_id") == run_id)


def _assignments(spark, ws: Path, run_id: str) -> dict:
    rows = _run_rows(spark, ws, "assignments", run_id).select("publication_number", "node_id")
    return {r.publication_number: r.node_id for r in rows.collect()}


def _centralities(spark, ws: Path, run_id: str) -> dict:
    rows = _run_rows(spark, ws, "centrality", run_id).collect()
    return {(r.domain, r.network, r.vertex): r for r in rows}


def _tiers(spark, ws: Path, run_id: str) -> dict:
    rows = _run_rows(spark, ws, "grades", run_id).collect()
    return {r.item: (r.tier, r.final_score) for r in rows}


@pytest.fixture(scope="module")
def crashed(tmp_path_factory):
    """The kill / resume sequence on the shuffled sample: (workspace, logs, summaries)."""
    root = tmp_path_factory.mktemp("resume")
    inputs = shuffled_sample(root / "input")
    ws = root / "ws"
    out: dict = {"ws": ws, "inputs": inputs, "root": root}
    out["embed_kill_s"] = run_until(ws, inputs, root / "1.log", embed_writing(ws))
    out["after_embed_kill"] = {
        "vectors": (ws / "vectors").exists(),
        "embed_markers": _markers(ws, "embed"),
        "ingest_markers": _markers(ws, "ingest"),
    }
    out["cluster_kill_s"] = run_until(ws, inputs, root / "2.log", lambda: _assignments_landed(ws))
    out["killed_cluster"] = sorted(p.name for p in (ws / "assignments").glob("run_id=*"))
    out["after_cluster_kill"] = {"cluster_markers": _markers(ws, "cluster")}
    out["resumed"] = run_through(ws, inputs, root / "3.log")
    return out


def test_a_kill_mid_embed_leaves_no_vectors_and_no_embed_marker(crashed):
    after = crashed["after_embed_kill"]
    assert after["ingest_markers"], "ingest had finished before the embed"
    assert not after["embed_markers"] and not after["vectors"]


def test_the_second_run_skipped_ingest_and_domains_and_was_killed_mid_cluster(crashed):
    log = (crashed["root"] / "2.log").read_text()
    assert "stage ingest finished before" in log and "stage domains finished before" in log
    assert "pipeline screening: stage embed" in log  # embed ran again, from the start
    assert len(crashed["killed_cluster"]) == 1
    assert not crashed["after_cluster_kill"]["cluster_markers"]


def test_resume_removes_the_killed_run_and_marks_it(crashed):
    ws, stages = crashed["ws"], crashed["resumed"]["stages"]
    assert {s for s in stages if stages[s].get("resumed")} == {"ingest", "domains", "embed"}
    killed = crashed["killed_cluster"][0].split("=", 1)[1]
    assert stages["cluster"]["run_id"] != killed
    assert not (ws / "assignments" / f"run_id={killed}").exists()
    client = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}")
    assert client.get_run(killed).info.status == "KILLED"
    assert not list(ws.glob(".*.tmp-*"))


def test_resumed_shuffled_run_equals_the_uninterrupted_reference(spark, screening, crashed):
    ref_ws, ref = screening
    ws, got = crashed["ws"], crashed["resumed"]
    ref_stages, got_stages = ref["stages"], got["stages"]
    assert _assignments(spark, ws, got_stages["cluster"]["run_id"]) == _assignments(
        spark, ref_ws, ref_stages["cluster"]["run_id"]
    )
    mine = _centralities(spark, ws, got_stages["graph"]["run_id"])
    theirs = _centralities(spark, ref_ws, ref_stages["graph"]["run_id"])
    assert mine.keys() == theirs.keys()
    for key, row in mine.items():
        other = theirs[key]
        assert (row.degree, row.core_number, row.community, row.component) == (
            other.degree,
            other.core_number,
            other.community,
            other.component,
        ), key
        for name in CENTRALITIES:
            assert row[name] == pytest.approx(other[name], abs=1e-9), (key, name)
    mine = _tiers(spark, ws, got_stages["grade"]["run_id"])
    theirs = _tiers(spark, ref_ws, ref_stages["grade"]["run_id"])
    assert {k: t for k, (t, _) in mine.items()} == {k: t for k, (t, _) in theirs.items()}
    for item, (_, score) in mine.items():
        assert score == pytest.approx(theirs[item][1], abs=1e-9), item


def test_a_changed_setting_reruns_exactly_the_stages_downstream_of_it(crashed):
    ws, inputs = crashed["ws"], crashed["inputs"]
    summary = run_through(ws, inputs, crashed["root"] / "4.log", "graph.min_edge_weight=0.2")
    resumed = {name for name, s in summary["stages"].items() if s.get("resumed")}
    assert resumed == {"ingest", "domains", "embed", "cluster"}
    before = crashed["resumed"]["stages"]
    for name in ("graph", "grade", "report"):
        assert summary["stages"][name]["run_id"] != before[name]["run_id"]
    assert summary["stages"]["cluster"]["run_id"] == before["cluster"]["run_id"]


def test_placement_settings_count_for_the_cluster_stage_not_the_domains_stage():
    """domains.placement is applied by the cluster stage: changing it keeps the domains."""
    from techscreen.config import load_settings
    from techscreen.resume import fingerprint, reads

    base = load_settings(ROOT / "conf")
    for change in ("domains.placement.min_confidence=0.5", "domains.placement.enabled=false"):
        other = load_settings(ROOT / "conf", None, [change])
        for stage, same in (("domains", True), ("cluster", False)):
            upstream = dict.fromkeys(reads(base, stage), "run:x")
            mine, theirs = fingerprint(base, stage, upstream), fingerprint(other, stage, upstream)
            assert (mine == theirs) is same, (change, stage)
    definitions = load_settings(ROOT / "conf", None, ["domains.definitions.energy.include+=[G01R]"])
    assert fingerprint(definitions, "domains", {"ingest": "run:x"}) != fingerprint(
        base, "domains", {"ingest": "run:x"}
    )
