"""The cluster stage on the bundled sample: real Spark, real FAISS/HDBSCAN, real MLflow."""

from __future__ import annotations

import contextlib
import io
import json
import shutil

import pytest
from mlflow.tracking import MlflowClient
from pyspark.sql import functions as F

from conftest import ROOT
from techscreen.cli import main


def _cli(args, ws):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([*args, "--conf-dir", str(ROOT / "conf"), "--set", f"paths.workspace={ws}"])
    text = out.getvalue().strip().splitlines()
    return code, (json.loads(text[-1]) if code == 0 else None), text


@pytest.fixture(scope="module")
def clustered(screening):
    ws, summary = screening
    return ws, summary["stages"]["cluster"]


def _run_rows(spark, ws, table, run_id):
    return spark.read.parquet(str(ws / table)).where(F.col("run_id") == run_id)


def _in_domains(spark, ws, run_id):
    """(domain, publication_number) of every patent the run clustered: its codes put it in
    the domain, or (codes in no domain) the run placed it there by its text."""
    coded = spark.read.parquet(str(ws / "patent_domains")).where(F.col("domain") != "unassigned")
    placed = _run_rows(spark, ws, "placements", run_id).where(F.col("status") == "placed")
    return coded.select("domain", "publication_number").unionByName(
        placed.select("domain", "publication_number")
    )


def test_every_patent_of_every_domain_is_assigned_exactly_once(spark, clustered):
    ws, cluster = clustered
    assignments = _run_rows(spark, ws, "assignments", cluster["run_id"])
    domains = _in_domains(spark, ws, cluster["run_id"])
    assert assignments.count() == domains.count()
    assert assignments.select("domain", "publication_number").distinct().count() == domains.count()
    missing = domains.join(assignments, ["domain", "publication_number"], "left_anti")
    assert missing.count() == 0
    # no_vector rows are kept with a status, never dropped
    statuses = {r.status for r in assignments.select("status").distinct().collect()}
    assert statuses <= {"member", "noise", "reassigned", "no_vector"}
    assert {"member", "noise"} <= statuses


def test_every_domain_has_labelled_nodes_with_titled_codes(spark, clustered):
    ws, cluster = clustered
    nodes = _run_rows(spark, ws, "nodes", cluster["run_id"]).collect()
    by_domain = {}
    for node in nodes:
        by_domain.setdefault(node.domain, []).append(node)
        assert node.label and node.label != "unlabelled"
        assert node.codes and node.representatives
        # keywords in English, Chinese or both (a node of untranslated Chinese patents has
        # Chinese ones only); a node of other languages without translations (Korean) has
        # none, and its label is its class title
        if not (node.keywords or node.keywords_zh):
            assert not {"en", "zh"} & set(node.languages), node.node_id
        assert any(code.title for code in node.codes)
        assert node.size >= 1 and sum(node.countries.values()) >= 1
        assert abs(sum(v * v for v in node.centroid) - 1.0) < 1e-3
    assert set(by_domain) == set(cluster["domains"])
    assert len(by_domain) == 6
    assert all(len(nodes) >= 2 for nodes in by_domain.values())
    # node sizes equal the member rows of the assignments
    members = (
        _run_rows(spark, ws, "assignments", cluster["run_id"])
        .where(F.col("node") >= 0)
        .groupBy("node_id")
        .count()
        .collect()
    )
    assert {r.node_id: r["count"] for r in members} == {n.node_id: n.size for n in nodes}


def test_metrics_reach_mlflow_per_domain_and_overall(clustered):
    ws, cluster = clustered
    run = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}").get_run(cluster["run_id"])
    metrics = run.data.metrics
    for name in ("n_nodes", "noise_fraction", "dbcv", "silhouette", "nmi", "ami"):
        assert name in metrics
    assert metrics["n_nodes"] == cluster["n_nodes"] >= 12
    assert 0 <= metrics["noise_fraction"] < 0.8
    assert 0.2 < metrics["nmi"] <= 1.0  # nodes carry IPC signal far above chance
    assert metrics["energy.n_nodes"] >= 2 and "medicine.nmi" in metrics
    assert run.data.params["cluster.reducer"] == "pca"
    assert run.data.tags["techscreen.upstream.vectors"]


def test_a_sweep_is_one_parent_with_a_child_per_configuration(spark, clustered, tmp_path):
    source, _ = clustered
    ws = tmp_path / "ws"
    shutil.copytree(source, ws)
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        "name: test-sweep\nstages: [cluster]\n"
        "set: [cluster.stability_runs=2, 'cluster.domains=[energy, medicine]']\n"
        "grid:\n  cluster.min_cluster_size: [0, 25, 40]\n",
        encoding="utf-8",
    )
    code, summary, _ = _cli(["run", str(sweep)], ws)
    assert code == 0
    configs = summary["stages"]["configurations"]
    assert len(configs) == 3
    assert all(c["stages"]["cluster"]["stability_ari"] is not None for c in configs)
    code, compared, lines = _cli(["experiments", "compare", "--sweep", "--sort", "nmi"], ws)
    assert code == 0 and compared["runs"] == 3
    header = lines[0]
    assert "cluster.min_cluster_size" in header and "cluster.reducer" not in header
    assert "stability_ari" in header
    best = compared["best_run_id"]
    code, chosen, _ = _cli(["experiments", "choose", best], ws)
    assert code == 0 and chosen["chosen_run_id"] == best
    tags = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}").get_run(best).data.tags
    assert tags["techscreen.chosen"] == "true"
    assert json.loads(tags["techscreen.sweep.config"]).keys() == {"cluster.min_cluster_size"}


def test_domains_too_small_for_a_node_give_no_node_and_all_noise(spark, clustered, tmp_path):
    source, _ = clustered
    ws = tmp_path / "ws"
    shutil.copytree(source, ws)
    code, summary, _ = _cli(
        ["cluster", "--set", "cluster.min_cluster_size=99999", "--set", "cluster.domains=[energy]"],
        ws,
    )
    assert code == 0
    assert summary["n_nodes"] == 0 and summary["noise_fraction"] == 1.0
    rows = _run_rows(spark, ws, "assignments", summary["run_id"])
    assert rows.where(F.col("node") >= 0).count() == 0
    energy = _in_domains(spark, ws, summary["run_id"]).where(F.col("domain") == "energy")
    assert rows.count() == energy.count()


def test_unknown_domain_and_missing_vectors_are_clear_errors(clustered, capsys):
    source, _ = clustered
    code, _, _ = _cli(["cluster", "--set", "cluster.domains=[space]"], source)
    assert code == 1 and "unknown ['space']" in capsys.readouterr().err
    code, _, _ = _cli(["cluster", "--set", "cluster.embedder=minilm"], source)
    assert code == 1 and "no vectors from embedder minilm-" in capsys.readouterr().err
