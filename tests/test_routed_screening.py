"""Routing on a real mixed corpus: each record to its language's embedder, spaces never mixed.

The bundled waste-heat (Chinese, Korean, German, English … abstracts) and PatSnap (Chinese
with an English translation) samples go through ingest, domains, embed, cluster and graph
with ``embed.routes={zh: lexical-zh}`` and ``embed.prefer_english=true`` on a real local
SparkSession and MLflow store; the other records go to the session's static embedder
(``static_embed``: two real vector spaces of different dimensions, in seconds). Checked
against :meth:`RoutePlan.route`, the per-record reference: which partition each vector lands
in, that every node holds patents of one space only, and that no centroid edge joins nodes
of two spaces.
"""

import contextlib
import io
import json
import re

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from conftest import ROOT, STATIC_DIMS
from techscreen.cli import main
from techscreen.cluster.labels import label_text
from techscreen.embed.routing import RoutePlan
from techscreen.schema import BY_CODES, BY_TEXT, NOISE_NODE, PLACED, UNASSIGNED_DOMAIN


def _run(ws, *args: str) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([*args, "--conf-dir", str(ROOT / "conf"), "--set", f"paths.workspace={ws}"])
    assert code == 0
    return json.loads(out.getvalue().strip().splitlines()[-1])


def _routing(ws, static_embed: list[str]) -> list[str]:
    sets = [
        *static_embed,  # embed.embedder=static: the embedder of every record not routed
        "embed.routes={zh: lexical-zh}",
        "embed.prefer_english=true",
        f"embed.lexical.path={ws / 'lexical-zh'}",
        f"embed.lexical.fit_corpus={ws / 'patents'}",
        "embed.lexical.dims=64",
    ]
    return [a for s in sets for a in ("--set", s)]


@pytest.fixture(scope="module")
def routed(spark, static_embed, tmp_path_factory):
    """(workspace, embed summary, cluster summary, graph summary) of one routed screening."""
    ws = tmp_path_factory.mktemp("routed") / "ws"
    sample = ROOT / "data" / "sample"
    _run(ws, "ingest", str(sample / "waste_heat"), str(sample / "patsnap"))
    _run(ws, "domains")
    routing = _routing(ws, static_embed)
    embed = _run(ws, "embed", *routing)
    cluster = _run(ws, "cluster", *routing)
    graph = _run(ws, "graph", *routing)
    return ws, embed, cluster, graph


def test_each_record_is_embedded_once_by_the_embedder_routed_to(spark, routed, static_embed):
    ws, embed, _, _ = routed
    static, lexical = embed["embedder_ids"]
    assert static.startswith("static-") and lexical.startswith("lexical-zh-")
    patents = spark.read.parquet(str(ws / "patents")).toPandas()
    plan = RoutePlan({"zh": "lexical-zh"}, "static", prefer_english=True)
    expected = {
        r.publication_number: plan.route(r.language, r.title, r.abstract, r.title_en, r.abstract_en)
        for r in patents.itertuples()
    }
    routes = {p: r.embedder for p, r in expected.items()}
    assert set(routes.values()) == {"static", "lexical-zh"}
    # PatSnap's Chinese records carry a full English translation: they went to static
    assert any(r.english for r in expected.values())

    vectors = spark.read.parquet(str(ws / "vectors")).toPandas()
    assert vectors.publication_number.is_unique
    assert set(vectors.publication_number) == set(routes)
    kind = {static: "static", lexical: "lexical-zh"}
    got = {p: kind[e] for p, e in zip(vectors.publication_number, vectors.embedder_id, strict=True)}
    assert got == routes
    dims = {
        kind[e]: {len(v) for v in group.vector if v is not None}
        for e, group in vectors.groupby("embedder_id")
    }
    assert dims == {"static": {STATIC_DIMS}, "lexical-zh": {64}}

    figures = embed["embedders"]
    assert figures[lexical]["docs_routed"] == sum(r == "lexical-zh" for r in routes.values())
    assert embed["docs_routed"] == len(patents) == embed["docs_embedded"] + embed["docs_skipped"]
    # the fitted model is logged with the run that used it, traceable to its corpus
    client = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}")
    tags = client.get_run(embed["run_id"]).data.tags
    assert tags["lexical-zh.model_id"].startswith("m-")
    # a second run finds every record embedded by its embedder
    again = _run(ws, "embed", *_routing(ws, static_embed))
    assert again["docs_pending"] == 0 and again["docs_embedded"] == 0


def test_spaces_are_clustered_apart_and_numbered_across(spark, routed):
    ws, embed, cluster, _ = routed
    static, lexical = embed["embedder_ids"]
    assert cluster["embedder_ids"] == [static, lexical]
    run = cluster["run_id"]
    nodes = spark.read.parquet(str(ws / "nodes")).where(f"run_id = '{run}'").toPandas()
    assert set(nodes.space) == {static, lexical}
    for _, group in nodes.groupby("domain"):
        assert sorted(group.node) == list(range(len(group)))  # numbered across spaces
        # the default embedder's space first, then the next
        order = group.sort_values("node").space.tolist()
        assert order == sorted(order, key=[static, lexical].index)
    mixed = [d for d, g in nodes.groupby("domain") if g.space.nunique() == 2]
    assert mixed, "the waste-heat sample should give a domain with nodes in both spaces"
    for domain in mixed:
        figures = cluster["domains"][domain]
        assert set(figures["spaces"]) == {static, lexical}
        assert figures["n_nodes"] == sum(s["n_nodes"] for s in figures["spaces"].values())

    assignments = spark.read.parquet(str(ws / "assignments")).where(f"run_id = '{run}'")
    members = assignments.where(f"node != {NOISE_NODE}").toPandas()
    vectors = spark.read.parquet(str(ws / "vectors")).toPandas()
    space_of_patent = dict(zip(vectors.publication_number, vectors.embedder_id, strict=True))
    space_of_node = dict(zip(nodes.node_id, nodes.space, strict=True))
    wrong = [
        (p, n)
        for p, n in zip(members.publication_number, members.node_id, strict=True)
        if space_of_patent[p] != space_of_node[n]
    ]
    assert not wrong
    # every patent of every domain appears once, in a node or as noise: by its codes, or (a
    # patent in no domain) where the placement by text put it
    domains = spark.read.parquet(str(ws / "patent_domains")).toPandas()
    domains = domains[domains.domain != UNASSIGNED_DOMAIN]
    by_codes = assignments.where(f"domain_source = '{BY_CODES}'")
    assert by_codes.count() == len(domains.drop_duplicates(["publication_number", "domain"]))
    placed = (
        spark.read.parquet(str(ws / "placements"))
        .where(f"run_id = '{run}' and status = '{PLACED}'")
        .select("publication_number", "domain")
    )
    by_text = assignments.where(f"domain_source = '{BY_TEXT}'")
    assert by_text.count() == placed.count()
    assert by_text.select("publication_number", "domain").subtract(placed).count() == 0


def test_graph_compares_centroids_within_a_space_only(spark, routed):
    ws, _, cluster, graph = routed
    nodes = (
        spark.read.parquet(str(ws / "nodes")).where(f"run_id = '{cluster['run_id']}'").toPandas()
    )
    space = dict(zip(nodes.node_id, nodes.space, strict=True))
    edges = (
        spark.read.parquet(str(ws / "node_edges"))
        .where(f"run_id = '{graph['run_id']}' and network = 'technology'")
        .toPandas()
    )
    assert len(edges)
    by_centroid = [
        (s, t)
        for s, t, e in zip(edges.source, edges.target, edges.evidence, strict=True)
        if dict(e).get("centroids")
    ]
    assert by_centroid
    assert all(space[s] == space[t] for s, t in by_centroid)
    # nodes of different spaces may still be linked by shared codes or citations
    assert np.isfinite(edges.weight).all()


def test_routing_and_a_single_cluster_embedder(spark, routed, static_embed):
    """``cluster.embedder`` clusters every patent in that one space; the rest have no vector."""
    ws, embed, _, _ = routed
    static, _ = embed["embedder_ids"]
    routing = _routing(ws, static_embed)
    result = _run(ws, "cluster", *routing, "--set", "cluster.embedder=static")
    assert result["embedder_ids"] == [static]
    of_run = f"run_id = '{result['run_id']}'"
    assignments = spark.read.parquet(str(ws / "assignments")).where(of_run).toPandas()
    vectors = spark.read.parquet(str(ws / "vectors")).toPandas()
    lexical_only = set(vectors.publication_number[vectors.embedder_id != static])
    status = dict(zip(assignments.publication_number, assignments.status, strict=True))
    assert lexical_only and all(status[p] == "no_vector" for p in lexical_only if p in status)


def test_languages_count_the_text_that_was_embedded(spark, routed):
    """A Chinese record embedded from its English translation counts as English."""
    ws, embed, cluster, _ = routed
    static, _ = embed["embedder_ids"]
    patents = spark.read.parquet(str(ws / "patents")).toPandas()
    plan = RoutePlan({"zh": "lexical-zh"}, "static", prefer_english=True)
    text_language = {}
    for r in patents.itertuples():
        route = plan.route(r.language, r.title, r.abstract, r.title_en, r.abstract_en)
        text_language[r.publication_number] = "en" if route.english else (r.language or "und")
    translated = sum(
        lang == "en" and language == "zh"
        for lang, language in zip(text_language.values(), patents.language, strict=True)
    )
    assert translated > 50  # PatSnap's Chinese records, read in English
    run = cluster["run_id"]
    assignments = spark.read.parquet(str(ws / "assignments")).where(f"run_id = '{run}'")
    members = assignments.toPandas()
    for domain, group in members.groupby("domain"):
        expected = group.publication_number.map(text_language).value_counts().to_dict()
        assert cluster["domains"][domain]["languages"] == expected, domain
    nodes = spark.read.parquet(str(ws / "nodes")).where(f"run_id = '{run}'").toPandas()
    in_nodes = members[members.node != NOISE_NODE]
    for node in nodes.itertuples():
        mine = in_nodes[in_nodes.node_id == node.node_id].publication_number.map(text_language)
        assert dict(node.languages) == mine.value_counts().to_dict(), node.node_id
        if node.space == static:  # every Chinese record there was read in English
            assert "zh" not in dict(node.languages)


def test_labels_and_keywords_are_in_one_language(spark, routed):
    ws, _, cluster, _ = routed
    han = re.compile("[\u3400-\u9fff]")
    nodes = (
        spark.read.parquet(str(ws / "nodes")).where(f"run_id = '{cluster['run_id']}'").toPandas()
    )
    english = [k["term"] for ks in nodes.keywords for k in ks]
    chinese = [k["term"] for ks in nodes.keywords_zh for k in ks]
    assert english and chinese
    assert not [t for t in english if han.search(t)]
    assert all(han.search(t) and not re.search("[A-Za-z]", t) for t in chinese)
    # the stored label is in report.language (en): no Han character in any
    assert not [label for label in nodes.label if han.search(label)]
    # a node of untranslated Chinese records has Chinese keywords only, and its English
    # label is its top class's title
    chinese_only = nodes[(nodes.keywords.map(len) == 0) & (nodes.keywords_zh.map(len) > 0)]
    assert len(chinese_only)
    assert set(chinese_only.space.str.rsplit("-", n=1).str[0]) == {"lexical-zh"}
    for node in chinese_only.itertuples():
        assert node.label == label_text([], list(node.codes), 3), node.node_id
