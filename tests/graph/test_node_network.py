"""Node-network evidence: code profiles, citations between nodes, centroid neighbours, pruning."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from techscreen.config import GraphSettings
from techscreen.graph.node_network import (
    centroid_neighbours,
    citation_counts,
    code_profiles,
    combine,
    profile_similarity,
)

MEMBERS = (
    "domain string, node_id string, publication_number string, codes array<string>, "
    "cited_publications array<string>"
)


@pytest.fixture(scope="module")
def members(spark):
    rows = [
        ("energy", "energy:0", "US-1-B2", ["H01M", "H02J"], ["US-2", "US-3-A1"]),
        ("energy", "energy:0", "US-2-B1", ["H01M"], ["US-1-B2", "CN-99-A"]),
        ("energy", "energy:1", "US-3-B2", ["H01M", "F24S"], ["US-4-B2", "EP-7-A1"]),
        ("energy", "energy:1", "US-4-B2", ["F24S"], []),
        ("energy", "energy:2", "US-5-B2", [], ["US-1-B2", "US-3-B2", "US-3-B2"]),
        ("medicine", "medicine:0", "US-6-B2", ["A61K"], ["US-1-B2"]),
    ]
    return spark.createDataFrame(rows, MEMBERS)


def test_profile_similarity_is_the_cosine_of_code_counts(members):
    got = {
        (r.source, r.target): r.similarity
        for r in profile_similarity(code_profiles(members)).collect()
    }
    # energy:0 = {H01M: 2, H02J: 1}, energy:1 = {H01M: 1, F24S: 2}; energy:2 has no code.
    a, b = np.array([2, 1, 0]), np.array([1, 0, 2])
    assert got == {
        ("energy:0", "energy:1"): pytest.approx(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
    }


def test_citations_link_nodes_and_every_citation_is_accounted_for(spark, members):
    corpus = spark.createDataFrame(
        [
            (p,)
            for p in ["US-1-B2", "US-2-B1", "US-3-B2", "US-4-B2", "US-5-B2", "US-6-B2", "EP-7-B1"]
        ],
        "publication_number string",
    )
    pairs, where = citation_counts(members, corpus)
    got = {(r.source, r.target): r.citations for r in pairs.itertuples()}
    # Kind codes are ignored when matching (US-3-A1 cites US-3-B2); a node citing itself is
    # not an edge; the medicine patent citing an energy patent is outside its domain's nodes.
    assert got == {
        ("energy:0", "energy:1"): 1,
        ("energy:0", "energy:2"): 1,
        ("energy:1", "energy:2"): 2,
    }
    accounted = {(r.domain, r.where): r.citations for r in where.itertuples()}
    assert accounted == {
        ("energy", "within_node"): 3,  # US-1 → US-2, US-2 → US-1, US-3 → US-4
        ("energy", "between_nodes"): 4,
        ("energy", "outside_corpus"): 1,  # CN-99
        ("energy", "outside_nodes"): 1,  # EP-7: in the corpus, in no energy node
        ("medicine", "outside_nodes"): 1,
    }
    cited = members.selectExpr("explode(cited_publications)").count()
    assert sum(accounted.values()) == cited


def test_centroid_neighbours_are_symmetric_and_clipped():
    nodes = pd.DataFrame(
        {
            "node_id": ["a", "b", "c", "d"],
            "centroid": [[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [-1.0, 0.0]],
        }
    )
    got = centroid_neighbours(nodes, k=1)
    pairs = {(r.source, r.target): r.similarity for r in got.itertuples()}
    # a↔b are each other's nearest; c's nearest is b; d's nearest is c (cosine 0)
    assert set(pairs) == {("a", "b"), ("b", "c"), ("c", "d")}
    assert pairs["c", "d"] == 0.0 and pairs["a", "b"] == pytest.approx(0.9 / np.hypot(0.9, 0.1))
    assert centroid_neighbours(nodes.head(1), k=3).empty


def _part(rows, column="similarity"):
    return pd.DataFrame(rows, columns=["source", "target", column])


def test_missing_evidence_gives_its_weight_away_and_weak_edges_are_pruned():
    g = GraphSettings(min_edge_weight=0.3)
    made = combine(
        {
            "codes": _part([("a", "b", 1.0), ("a", "c", 0.2)]),
            "citations": _part([], "citations"),
            "centroids": _part([("a", "b", 0.5), ("b", "c", 0.9)]),
        },
        {"a": 10, "b": 10, "c": 10},
        g,
    )
    assert made.weights == pytest.approx({"codes": 4 / 7, "centroids": 3 / 7})
    assert made.stats["missing_evidence"] == ["citations"]
    edges = {(r.source, r.target): r.weight for r in made.edges.itertuples()}
    # a-c: 0.2·4/7 = 0.11 < 0.3 is pruned; b-c: 0.9·3/7 = 0.386 stays
    assert edges == pytest.approx({("a", "b"): 4 / 7 + 0.5 * 3 / 7, ("b", "c"): 0.9 * 3 / 7})
    assert made.stats["pruned"] == 1


def test_citations_are_normalised_by_node_sizes_and_top_k_keeps_either_end():
    made = combine(
        {"citations": _part([("a", "b", 4), ("a", "c", 4), ("a", "d", 1)], "citations")},
        {"a": 4, "b": 1, "c": 16, "d": 1},
        GraphSettings(min_edge_weight=0.0, top_k_edges=1),
    )
    weights = {(r.source, r.target): r.weight for r in made.edges.itertuples()}
    # 4/√4 = 2 (max), 4/√64 = 0.5, 1/√4 = 0.5: a keeps only a-b; c and d keep their one edge.
    assert weights == pytest.approx({("a", "b"): 1.0, ("a", "c"): 0.25, ("a", "d"): 0.25})


def test_a_domain_without_any_evidence_has_no_edges():
    made = combine({}, {"a": 3}, GraphSettings())
    assert made.edges.empty and list(made.edges.columns)[:3] == ["source", "target", "weight"]
    assert made.stats["missing_evidence"] == ["codes", "citations", "centroids"]
