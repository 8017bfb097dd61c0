"""The graph stage on the bundled sample: real Spark, real MLflow, GraphML that re-reads."""

from __future__ import annotations

import contextlib
import io
import json
import math
import shutil

import networkx as nx
import pytest
from mlflow.tracking import MlflowClient
from pyspark.sql import functions as F

from conftest import ROOT
from techscreen.cli import main

MEASURES = (
    "strength",
    "betweenness",
    "closeness",
    "eigenvector",
    "pagerank",
    "constraint",
    "effective_size",
)


def _graph_cli(ws, *sets):
    out = io.StringIO()
    args = ["graph", "--conf-dir", str(ROOT / "conf"), "--set", f"paths.workspace={ws}"]
    for s in sets:
        args += ["--set", s]
    with contextlib.redirect_stdout(out):
        code = main(args)
    assert code == 0
    return json.loads(out.getvalue().strip().splitlines()[-1])


@pytest.fixture(scope="module")
def graphed(screening):
    ws, summary = screening
    return ws, summary["stages"]["graph"], summary["stages"]["cluster"]


def _rows(spark, ws, table, run_id):
    return spark.read.parquet(str(ws / table)).where(F.col("run_id") == run_id)


def test_the_pipeline_graphs_the_clustering_it_just_made(graphed):
    ws, graph, cluster = graphed
    assert graph["cluster_run"] == cluster["run_id"]
    client = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}")
    run = client.get_run(graph["run_id"])
    assert run.data.tags["techscreen.cluster_run"] == cluster["run_id"]
    assert run.data.tags["techscreen.stage"] == "graph"
    for domain in cluster["domains"]:
        assert (
            run.data.metrics[f"{domain}.technology.vertices"]
            == cluster["domains"][domain]["n_nodes"]
        )
        assert f"{domain}.codes.edges" in run.data.metrics


def test_every_node_of_every_domain_is_scored_and_no_measure_is_nan(spark, graphed):
    ws, graph, cluster = graphed
    scores = _rows(spark, ws, "centrality", graph["run_id"])
    nodes = _rows(spark, ws, "nodes", cluster["run_id"])
    technology = scores.where(F.col("network") == "technology")
    assert technology.count() == nodes.count()
    assert technology.join(nodes, F.col("vertex") == F.col("node_id"), "left_anti").count() == 0
    for row in scores.collect():
        for measure in MEASURES:
            assert math.isfinite(row[measure]), (row.vertex, measure)
        assert row.degree >= 0 and 0 <= row.betweenness <= 1
    # The domain's nodes each have patents; each code vertex counts the patents that carry it.
    assert technology.where("patents < 1").count() == 0
    assert scores.where(F.col("network") == "codes").where("patents < 1").count() == 0


def test_edges_are_undirected_once_and_between_scored_vertices(spark, graphed):
    ws, graph, _ = graphed
    edges = _rows(spark, ws, "node_edges", graph["run_id"])
    assert edges.where("source >= target").count() == 0
    assert edges.where("weight <= 0 or isnan(weight)").count() == 0
    assert (
        edges.groupBy("domain", "network", "source", "target").count().where("count > 1").count()
        == 0
    )
    vertices = _rows(spark, ws, "centrality", graph["run_id"]).select(
        "domain", "network", F.col("vertex")
    )
    for end in ("source", "target"):
        stray = edges.join(
            vertices.withColumnRenamed("vertex", end), ["domain", "network", end], "left_anti"
        )
        assert stray.count() == 0
    kinds = {r.network for r in edges.select("network").distinct().collect()}
    assert kinds == {"technology", "codes"}


def test_graphml_re_reads_with_the_table_s_vertices_edges_and_measures(spark, graphed, tmp_path):
    ws, graph, _ = graphed
    client = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}")
    names = {a.path for a in client.list_artifacts(graph["run_id"], "graphml")}
    pictures = {a.path for a in client.list_artifacts(graph["run_id"], "pictures")}
    assert "graphml/energy.technology.graphml" in names
    assert {p.replace("pictures/", "").replace(".png", "") for p in pictures} == {
        n.replace("graphml/", "").replace(".graphml", "") for n in names
    }
    local = client.download_artifacts(
        graph["run_id"], "graphml/energy.technology.graphml", str(tmp_path)
    )
    read = nx.read_graphml(local)
    scores = {
        r.vertex: r
        for r in _rows(spark, ws, "centrality", graph["run_id"])
        .where("domain = 'energy' and network = 'technology'")
        .collect()
    }
    edges = _rows(spark, ws, "node_edges", graph["run_id"]).where(
        "domain = 'energy' and network = 'technology'"
    )
    assert set(read.nodes) == set(scores)
    assert read.number_of_edges() == edges.count()
    for vertex, attrs in read.nodes(data=True):
        assert attrs["betweenness"] == pytest.approx(scores[vertex].betweenness)
        assert attrs["label"] == scores[vertex].label
    some = edges.first()
    assert read.edges[some.source, some.target]["weight"] == pytest.approx(some.weight)


def test_a_domain_without_edges_is_scored_not_crashed(spark, graphed, tmp_path):
    ws = tmp_path / "ws"  # a copy: the screening workspace's newest graph run stays the pipeline's
    shutil.copytree(graphed[0], ws)
    # No node edge reaches a weight of 2, and no code pair co-occurs 10⁹ times.
    result = _graph_cli(
        ws,
        "graph.domains=[agriculture]",
        "graph.min_edge_weight=2",
        "graph.min_cooccurrence=1e9",
    )
    agriculture = result["domains"]["agriculture"]
    for network in ("technology", "codes"):
        assert agriculture[network]["edges"] == 0
        assert agriculture[network]["isolates"] == agriculture[network]["vertices"] > 0
    rows = _rows(spark, ws, "centrality", result["run_id"]).collect()
    assert {r.domain for r in rows} == {"agriculture"}
    assert all("isolate" in r.flags and r.degree == 0 and r.betweenness == 0 for r in rows)
    assert all(math.isfinite(r[m]) for r in rows for m in MEASURES)
