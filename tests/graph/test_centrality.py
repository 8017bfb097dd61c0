import itertools
import json
import math
import os
import random
import subprocess
import sys

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from techscreen.config import CentralitySettings
from techscreen.graph.centrality import COLUMNS, DAMPING, centralities

BACKENDS = ("networkx", "igraph")
EXACT = ("degree", "strength", "betweenness", "closeness", "core_number", "constraint")
EXACT += ("effective_size", "component")
ISOLATE_FLAGS = ["isolate", "constraint_undefined", "effective_size_undefined"]


def weighted(edges, weight=1.0, isolates=()) -> nx.Graph:
    graph = nx.Graph()
    graph.add_nodes_from(isolates)
    for u, v, *w in edges:
        graph.add_edge(u, v, weight=w[0] if w else weight)
    return graph


def random_graph(n: int, m: int, seed: int) -> nx.Graph:
    """gnm with seeded weights in (0.05, 1), plus two isolates and a 3-vertex path."""
    rng = np.random.default_rng(seed)
    graph = nx.relabel_nodes(nx.gnm_random_graph(n, m, seed=seed), lambda i: f"v{i:04d}")
    for u, v in graph.edges:
        graph[u][v]["weight"] = float(rng.uniform(0.05, 1.0))
    graph.add_nodes_from(["iso-a", "iso-b"])
    graph.add_edge("p1", "p2", weight=0.3)
    graph.add_edge("p2", "p3", weight=0.9)
    return graph


def table(graph, backend, seed=0, **settings) -> pd.DataFrame:
    result = centralities(graph, CentralitySettings(backend=backend, **settings), seed)
    assert list(result.table.columns) == list(COLUMNS)
    assert list(result.table.vertex) == sorted(graph.nodes)
    assert np.isfinite(result.table.drop(columns=["vertex", "flags"]).to_numpy(float)).all()
    return result.table.set_index("vertex")


@pytest.mark.parametrize("backend", BACKENDS)
def test_star(backend):
    leaves = [f"leaf{i}" for i in range(5)]
    t = table(weighted([("hub", leaf) for leaf in leaves]), backend)
    hub, leaf = t.loc["hub"], t.loc[leaves]
    assert hub.degree == 5 and hub.strength == 5.0
    assert hub.betweenness == pytest.approx(1.0) and (leaf.betweenness == 0).all()
    assert hub.closeness == pytest.approx(1.0)
    assert leaf.closeness.to_numpy() == pytest.approx(5 / 9)  # 5 / (1 + 2·4)
    # Burt: 5 contacts of p = 1/5, no ties among them → 5·(1/5)² = 0.2; a leaf's only contact: 1
    assert hub.constraint == pytest.approx(0.2)
    assert leaf.constraint.to_numpy() == pytest.approx(1.0)
    assert hub.effective_size == pytest.approx(5.0)
    assert leaf.effective_size.to_numpy() == pytest.approx(1.0)
    assert hub.eigenvector == pytest.approx(1.0)
    assert leaf.eigenvector.to_numpy() == pytest.approx(1 / math.sqrt(5))  # λ = √5
    # PageRank: x_leaf = (1−α)/6 + α·x_hub/5, x_hub = (1−α)/6 + α·5·x_leaf
    base = (1 - DAMPING) / 6
    x_hub = (base + DAMPING * 5 * base) / (1 - DAMPING**2)
    assert hub.pagerank == pytest.approx(x_hub, rel=1e-6)
    assert t.pagerank.sum() == pytest.approx(1.0)
    assert (t.core_number == 1).all() and (t.component == 0).all()
    assert all(flags == [] for flags in t["flags"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_path_closed_forms(backend):
    n = 6
    names = [f"p{i}" for i in range(n)]
    t = table(weighted(itertools.pairwise(names)), backend)
    for i, name in enumerate(names):
        # i vertices on one side, n−1−i on the other: every pair across passes through
        assert t.loc[name].betweenness == pytest.approx(2 * i * (n - 1 - i) / ((n - 1) * (n - 2)))
        distances = i * (i + 1) / 2 + (n - 1 - i) * (n - i) / 2
        assert t.loc[name].closeness == pytest.approx((n - 1) / distances)
        inner = 0 < i < n - 1
        assert t.loc[name].constraint == pytest.approx(0.5 if inner else 1.0)
        assert t.loc[name].effective_size == pytest.approx(2.0 if inner else 1.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_cliques_joined_by_a_bridge(backend):
    a = [f"a{i}" for i in range(5)]
    b = [f"b{i}" for i in range(5)]
    edges = [(u, v) for clique in (a, b) for i, u in enumerate(clique) for v in clique[i + 1 :]]
    edges += [("x", "a0"), ("x", "a1"), ("x", "b0"), ("x", "b1")]
    t = table(weighted(edges), backend)
    assert t.betweenness.idxmax() == "x"
    assert t.loc["x"].betweenness == pytest.approx(25 / 45)  # every a–b pair, of 10·9/2
    assert t.constraint.idxmin() == "x"
    assert t.loc["x"].constraint == pytest.approx(4 * 0.3**2)  # p = 1/4, + (1/4)(1/5) via a1
    assert t.effective_size.idxmax() == "x"
    assert t.loc["x"].effective_size == pytest.approx(3.0)  # 4 − 2·2/4 (Borgatti)
    assert t.loc["a0"].effective_size == pytest.approx(2.2)  # 5 − 2·7/5
    assert t.loc["a2"].effective_size == pytest.approx(1.0)  # 4 − 2·6/4
    assert t.loc[a].community.nunique() == 1 and t.loc[b].community.nunique() == 1
    assert t.loc["a0"].community != t.loc["b0"].community


@pytest.mark.parametrize("backend", BACKENDS)
def test_disconnected_graph_with_an_isolate(backend):
    graph = weighted([("t0", "t1"), ("t1", "t2"), ("t0", "t2"), ("q0", "q1")], isolates=["z"])
    t = table(graph, backend)
    assert t.component.to_dict() == {"q0": 1, "q1": 1, "t0": 0, "t1": 0, "t2": 0, "z": 2}
    assert t["flags"].to_dict() == {v: ISOLATE_FLAGS if v == "z" else [] for v in t.index}
    n = 6  # Wasserman–Faust: (r−1)² / ((n−1)·Σd)
    assert t.loc[["t0", "t1", "t2"]].closeness.to_numpy() == pytest.approx(4 / (5 * 2))
    assert t.loc[["q0", "q1"]].closeness.to_numpy() == pytest.approx(1 / 5)
    # per component, max 1, × λ_c/λ_max: triangle λ = 2, pair λ = 1, isolate 0
    assert t.eigenvector.to_dict() == pytest.approx(
        {"t0": 1, "t1": 1, "t2": 1, "q0": 0.5, "q1": 0.5, "z": 0}
    )
    z = t.loc["z"]
    assert (z.degree, z.betweenness, z.closeness, z.core_number) == (0, 0.0, 0.0, 0)
    assert (z.constraint, z.effective_size) == (1.0, 0.0)
    # an isolate keeps its teleport share and spreads its own mass evenly
    assert z.pagerank == pytest.approx((1 - DAMPING) / n / (1 - DAMPING / n), rel=1e-6)
    assert t.pagerank.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_graph(backend):
    result = centralities(nx.Graph(), CentralitySettings(backend=backend))
    assert list(result.table.columns) == list(COLUMNS) and result.table.empty
    assert result.table.degree.dtype == np.int64 and result.table.pagerank.dtype == float
    assert result.notes["components"] == 0 and result.notes["modularity"] == 0.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_single_vertex(backend):
    row = table(weighted([], isolates=["only"]), backend).loc["only"]
    assert row.to_dict() == {
        "degree": 0,
        "strength": 0.0,
        "betweenness": 0.0,
        "closeness": 0.0,
        "eigenvector": 0.0,
        "pagerank": pytest.approx(1.0),
        "core_number": 0,
        "constraint": 1.0,
        "effective_size": 0.0,
        "community": 0,
        "component": 0,
        "flags": ISOLATE_FLAGS,
    }


@pytest.mark.parametrize("backend", BACKENDS)
def test_weights_change_the_shortest_paths(backend):
    # a weak direct tie a–c (distance 10) loses to the strong path a–b–c (distance 2)
    weak = table(weighted([("a", "b", 1.0), ("b", "c", 1.0), ("a", "c", 0.1)]), backend)
    equal = table(weighted([("a", "b", 1.0), ("b", "c", 1.0), ("a", "c", 1.0)]), backend)
    assert weak.loc["b"].betweenness == pytest.approx(1.0)
    assert equal.loc["b"].betweenness == 0.0
    assert weak.loc["a"].closeness == pytest.approx(2 / (1 + 2))
    assert equal.loc["a"].closeness == pytest.approx(1.0)


@pytest.mark.parametrize(
    "settings",
    [{}, {"exact_up_to": 60, "betweenness_k": 25}],
    ids=["exact", "sampled"],
)
def test_backends_agree(settings):
    graph = random_graph(150, 400, seed=7)
    ours = {backend: table(graph, backend, **settings) for backend in BACKENDS}
    reference, fast = ours["networkx"], ours["igraph"]
    for column in EXACT:
        np.testing.assert_allclose(fast[column], reference[column], rtol=0, atol=1e-9)
    for column in ("eigenvector", "pagerank"):  # iterative solvers, to a tolerance
        scale = reference[column].max()
        np.testing.assert_allclose(fast[column], reference[column], rtol=0, atol=1e-6 * scale)
    assert (reference.betweenness > 0).sum() > 100  # the comparison is not all zeros
    assert fast["flags"].to_dict() == reference["flags"].to_dict()


@pytest.mark.parametrize("backend", BACKENDS)
def test_sampled_closeness_is_exact_in_components_up_to_exact_up_to(backend):
    graph = random_graph(150, 400, seed=7)  # a giant of about 150, a 3-path, 2 isolates
    second = nx.relabel_nodes(nx.gnm_random_graph(40, 120, seed=2), lambda i: f"w{i:02d}")
    graph.add_weighted_edges_from((u, v, 0.5) for u, v in second.edges)
    exact = table(graph, backend)
    sampled = centralities(
        graph, CentralitySettings(backend=backend, exact_up_to=60, betweenness_k=30), 0
    )
    small = [v for v in graph if v.startswith(("w", "p"))]
    assert sampled.notes["closeness_exact_vertices"] == len(small)
    t = sampled.table.set_index("vertex")
    np.testing.assert_allclose(t.loc[small].closeness, exact.loc[small].closeness, atol=1e-12)
    giant = [v for v in graph if v.startswith("v") and graph.degree(v)]
    assert not np.allclose(t.loc[giant].closeness, exact.loc[giant].closeness, atol=1e-12)


def test_structural_holes_follow_networkx_definitions():
    graph = random_graph(80, 240, seed=3)
    t = table(graph, "igraph")
    # networkx's per-vertex path (nodes=...) follows the definition; its vectorised weighted
    # effective size normalises by the wrong row maximum (networkx PR #8906)
    effective_size = nx.effective_size(graph, list(graph), weight="weight")
    constraint = nx.constraint(graph, weight="weight")
    connected = [v for v in graph if graph.degree(v)]
    for v in connected:
        assert t.loc[v].effective_size == pytest.approx(effective_size[v], abs=1e-12)
        assert t.loc[v].constraint == pytest.approx(constraint[v], abs=1e-12)
    assert t.effective_size.max() > t.degree.max() / 2  # weighted values, not all trivial


def test_modularity_is_networkx_modularity():
    graph = random_graph(120, 300, seed=5)
    for backend in BACKENDS:
        result = centralities(graph, CentralitySettings(backend=backend, louvain_resolution=0.8))
        groups = result.table.groupby("community").vertex.apply(set).tolist()
        expected = nx.community.modularity(graph, groups, weight="weight", resolution=0.8)
        assert result.notes["modularity"] == pytest.approx(expected, abs=1e-6)
        assert result.notes["communities"] == len(groups) > 3


def test_sampled_betweenness_estimates_exact_and_is_deterministic():
    rng = np.random.default_rng(1)
    graph = nx.relabel_nodes(nx.powerlaw_cluster_graph(3000, 3, 0.2, seed=1), lambda i: f"v{i:04d}")
    for u, v in graph.edges:
        graph[u][v]["weight"] = float(rng.uniform(0.05, 1.0))
    exact = table(graph, "igraph", exact_up_to=3000)
    first = centralities(graph, CentralitySettings(backend="igraph"), seed=0)
    assert (first.notes["betweenness"], first.notes["betweenness_k"]) == ("sampled", 500)
    sampled = first.table.set_index("vertex")
    for column, rho, overlap, error in (
        ("betweenness", 0.93, 15, 0.05),
        ("closeness", 0.99, 15, 0.03),
    ):
        a, b = exact[column].to_numpy(), sampled[column].to_numpy()
        assert spearmanr(a, b).statistic > rho
        assert len(set(np.argsort(-a)[:20]) & set(np.argsort(-b)[:20])) >= overlap
        assert b.mean() == pytest.approx(a.mean(), rel=error)  # scaled to the exact values
    again = centralities(graph, CentralitySettings(backend="igraph"), seed=0).table
    pd.testing.assert_frame_equal(again, first.table)
    other = centralities(graph, CentralitySettings(backend="igraph"), seed=1).table
    assert not np.array_equal(other.betweenness, first.table.betweenness)


@pytest.mark.parametrize("backend", BACKENDS)
def test_order_of_insertion_does_not_matter(backend):
    graph = random_graph(120, 300, seed=11)
    shuffler = random.Random(4)
    nodes = list(graph.nodes)
    edges = [(v, u, d) for u, v, d in graph.edges(data=True)]  # reversed ends too
    shuffler.shuffle(nodes)
    shuffler.shuffle(edges)
    shuffled = nx.Graph()
    shuffled.add_nodes_from(nodes)
    shuffled.add_edges_from(edges)
    for settings in ({}, {"exact_up_to": 50, "betweenness_k": 20}):
        a = centralities(graph, CentralitySettings(backend=backend, **settings), seed=2)
        b = centralities(shuffled, CentralitySettings(backend=backend, **settings), seed=2)
        pd.testing.assert_frame_equal(a.table, b.table, check_exact=True)
        assert a.table.community.nunique() > 3


def test_identical_across_processes():
    """String hashing and igraph's random numbers must not leak into the table."""
    script = (
        "import hashlib, json, sys, pandas as pd\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from test_centrality import random_graph\n"
        "from techscreen.config import CentralitySettings\n"
        "from techscreen.graph.centrality import centralities\n"
        "g = random_graph(600, 3000, seed=9)\n"
        "out = {}\n"
        "for b in ('networkx', 'igraph'):\n"
        "    s = CentralitySettings(backend=b, exact_up_to=300, betweenness_k=40)\n"
        "    t = centralities(g, s, seed=1).table\n"
        "    out[b] = hashlib.sha1(repr(t.to_dict('list')).encode()).hexdigest()\n"
        "print(json.dumps(out))\n"
    )
    here = os.path.dirname(__file__)
    runs = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", script, here],
                env={**os.environ, "PYTHONHASHSEED": str(seed)},
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        for seed in (1, 2)
    ]
    assert runs[0] == runs[1]


def test_convergence_failures_fall_back():
    graph = random_graph(200, 500, seed=13)
    slow = centralities(graph, CentralitySettings(backend="networkx", max_iterations=10))
    assert slow.notes["eigenvector_fallbacks"] >= 1 and slow.notes["pagerank_fallback"]
    reference = table(graph, "igraph")
    for column in ("eigenvector", "pagerank"):
        np.testing.assert_allclose(slow.table[column], reference[column], rtol=0, atol=1e-9)


def test_auto_backend_and_notes():
    graph = random_graph(40, 80, seed=1)  # 45 vertices
    small = centralities(graph, CentralitySettings(exact_up_to=45, backend="networkx")).notes
    large = centralities(graph, CentralitySettings(exact_up_to=44, betweenness_k=10)).notes
    assert (small["backend"], small["betweenness"], small["closeness"]) == (
        "networkx",
        "exact",
        "exact",
    )
    assert centralities(graph, CentralitySettings(exact_up_to=45)).notes["backend"] == "igraph"
    assert (large["backend"], large["betweenness"], large["betweenness_k"]) == (
        "igraph",
        "sampled",
        10,
    )
    assert small["components"] == nx.number_connected_components(graph) >= 4
    assert small["isolates"] == nx.number_of_isolates(graph) >= 2
    assert all(isinstance(v, str | int | float | bool) for v in small.values())
    assert {"seconds_betweenness", "seconds_community", "modularity"} <= set(small)


@pytest.mark.parametrize(
    "graph",
    [
        nx.DiGraph([("a", "b", {"weight": 1.0})]),
        weighted([("a", "b", 0.0)]),
        weighted([("a", "b", -1.0)]),
        weighted([("a", "b", math.inf)]),
        nx.Graph([("a", "b")]),  # no weight
        weighted([("a", "a")]),
    ],
    ids=["directed", "zero", "negative", "infinite", "missing", "self-loop"],
)
def test_bad_input_is_refused(graph):
    with pytest.raises(ValueError):
        centralities(graph, CentralitySettings())
