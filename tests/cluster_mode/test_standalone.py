"""The screening pipeline on a real Spark standalone cluster and a real MLflow server grades
exactly as it does in local mode on the same input.

Each run is a ``techscreen run`` subprocess: this test session already holds a local
SparkContext (tests/conftest.py), and one Python process can hold only one. Both embed with
the session's static embedder (``static_embed``): what differs between the runs is the master
alone, and the embed stage still runs on the cluster's executors (each loads the model from
its folder, which the workers share with the driver on this machine).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from cluster_mode.standalone import half_corpus

ROOT = Path(__file__).resolve().parents[2]
TECHSCREEN = Path(sys.executable).parent / "techscreen"


def _screen(
    workspace: Path, corpus: Path, master: str, sets: list[str], timeout: float = 600
) -> dict:
    """Run ``techscreen run pipelines/screening.yaml`` on ``corpus``; its JSON summary."""
    command = [
        str(TECHSCREEN),
        "run",
        str(ROOT / "pipelines" / "screening.yaml"),
        "--conf-dir",
        str(ROOT / "conf"),
        "--set",
        f"paths.workspace={workspace}",
        "--set",
        f"paths.input=[{corpus}]",
        "--set",
        f"spark.master={master}",
        "--set",
        "spark.driver_memory=2g",
        "--set",
        'spark.conf={"spark.executor.memory": "1g"}',
        *(a for s in sets for a in ("--set", s)),
    ]
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    env.pop("PYSPARK_GATEWAY_PORT", None)
    env.pop("PYSPARK_GATEWAY_SECRET", None)
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, (
        f"{master}: exit {result.returncode}\n{result.stderr[-4000:]}\n{result.stdout[-2000:]}"
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def _grades(workspace: Path) -> pd.DataFrame:
    frame = pd.read_parquet(workspace / "report" / "grades.parquet")
    return frame.sort_values(["domain", "item"], kind="mergesort").reset_index(drop=True)


@pytest.mark.slow
def test_standalone_cluster_grades_as_local_mode(
    standalone_cluster, tracking_server, static_embed, tmp_path
):
    corpus = half_corpus(tmp_path / "input")
    started = time.monotonic()
    cluster = _screen(
        tmp_path / "cluster",
        corpus,
        standalone_cluster.url,
        [*static_embed, f"mlflow.tracking_uri={tracking_server.uri}"],
    )
    cluster_s = time.monotonic() - started
    # the cluster really ran it: an application that used both workers
    apps = standalone_cluster.state()["completedapps"]
    assert apps, "no application completed on the standalone master"
    local = _screen(tmp_path / "local", corpus, "local[2]", static_embed)
    local_s = time.monotonic() - started - cluster_s
    print(f"standalone run {cluster_s:.0f} s, local run {local_s:.0f} s")
    # both embedded with the one static model (its id follows the folder's content)
    ids = cluster["stages"]["embed"]["embedder_ids"]
    assert ids == local["stages"]["embed"]["embedder_ids"] and ids[0].startswith("static-"), ids

    # the MLflow server holds the cluster run, tagged with the cluster's master
    client = MlflowClient(tracking_server.uri)
    parent = client.get_run(cluster["run_id"])
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["techscreen.spark_master"] == standalone_cluster.url
    assert parent.data.tags["techscreen.spark_master"].startswith("spark://")
    local_parent = MlflowClient(f"sqlite:///{tmp_path / 'local' / 'mlflow.db'}").get_run(
        local["run_id"]
    )
    assert local_parent.data.tags["techscreen.spark_master"] == "local[2]"

    # the same input gives the same grades: items, tiers, final scores
    a, b = _grades(tmp_path / "cluster"), _grades(tmp_path / "local")
    assert a["domain"].nunique() >= 5, a["domain"].value_counts()
    assert list(zip(a["domain"], a["item"], strict=True)) == list(
        zip(b["domain"], b["item"], strict=True)
    )
    assert list(a["patents"]) == list(b["patents"])
    assert list(a["tier"]) == list(b["tier"])
    diff = (a["final_score"] - b["final_score"]).abs()
    assert diff.max() <= 1e-9, a.assign(local=b["final_score"], diff=diff).nlargest(5, "diff")
