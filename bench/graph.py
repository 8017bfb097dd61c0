"""Centrality benchmark: the graph stage's ``centralities`` vs python-igraph called directly.

    .venv/bin/python bench/graph.py [--sizes 1000 10000 100000] [--networkx-up-to 10000]
        [--seed 0]

Prints one table, per size: seconds of ours (``centralities`` with default settings, i.e.
backend "auto"), seconds of igraph called directly for the same measures, their ratio
(target ≤ 2×), and agreement of the two: overlap of the top-20 vertices by betweenness and by
PageRank, and Spearman's ρ over all vertices. Where "auto" picks networkx, ours is also
timed with backend "igraph"; up to ``--networkx-up-to`` vertices networkx called directly
is timed too, for reference.

Graphs: a degree-corrected stochastic block model, the shape of a technology network —
about √n communities of heavy-tailed sizes (Pareto shares), heavy-tailed vertex propensities
(Pareto; degree tail exponent about 3, as in preferential attachment), 80 % of ties inside a
community, mean degree 10, weights in (0, 1] drawn from Beta(4, 2) inside communities and
Beta(2, 4) across; isolates and small components occur as they would. Generated with numpy
(seeded), then handed to both sides untimed: ours as the networkx graph the stage passes,
igraph as the edge list a user would load (building the igraph graph is timed).

igraph direct, the same measures a user would compute: degree, strength, betweenness
(weights 1/w; exact up to ``exact_up_to`` vertices, else ``sources=`` the same pivots as
ours, scaled by n/k), closeness (exact, or from ``distances`` of those pivots), eigenvector
centrality and PageRank on the whole graph, coreness, constraint, multilevel communities,
connected components. igraph has no effective size, so that one is ours alone. networkx
direct: the same with networkx (its own k-sampled betweenness, Dijkstra from the same
pivots for closeness, its vectorised effective size).
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from functools import partial

import igraph as ig
import networkx as nx
import numpy as np
from scipy.stats import spearmanr

from report import load_average, print_table
from techscreen.config import CentralitySettings
from techscreen.graph.centrality import centralities

TOP = 20


def technology_graph(n: int, seed: int, mean_degree: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """(edges (m, 2) with i < j, weights (m,)) of a degree-corrected block model."""
    rng = np.random.default_rng(seed)
    blocks = max(2, int(np.sqrt(n)))
    share = rng.pareto(1.5, blocks) + 1
    block = rng.choice(blocks, n, p=share / share.sum())
    fitness = rng.pareto(2.0, n) + 1
    wanted = int(n * mean_degree / 2)
    m = 2 * wanted  # candidates: duplicates and self-pairs are dropped, the first `wanted` kept
    u = rng.choice(n, m, p=fitness / fitness.sum())
    inside = rng.random(m) < 0.8
    # inside: a partner from u's block, by fitness (inverse CDF over the block-sorted order)
    order = np.argsort(block, kind="stable")
    cumulative = np.r_[0.0, np.cumsum(fitness[order])]
    first = np.searchsorted(block[order], np.arange(blocks))
    last = np.searchsorted(block[order], np.arange(blocks), "right")
    low, high = cumulative[first][block[u]], cumulative[last][block[u]]
    at = np.searchsorted(cumulative, low + rng.random(m) * (high - low), "right") - 1
    v_inside = order[np.clip(at, first[block[u]], last[block[u]] - 1)]
    v_across = rng.choice(n, m, p=fitness / fitness.sum())
    v = np.where(inside, v_inside, v_across)
    pairs = np.sort(np.c_[u, v], axis=1)
    _, once = np.unique(pairs, axis=0, return_index=True)
    keep = np.sort(once[pairs[once, 0] != pairs[once, 1]])[:wanted]
    pairs, inside = pairs[keep], inside[keep]
    weights = np.where(inside, rng.beta(4, 2, len(pairs)), rng.beta(2, 4, len(pairs)))
    return pairs, np.clip(weights, 1e-6, 1.0)


def as_networkx(n: int, edges: np.ndarray, weights: np.ndarray) -> nx.Graph:
    graph = nx.Graph()
    graph.add_nodes_from(f"T{i:07d}" for i in range(n))
    graph.add_weighted_edges_from(
        (f"T{i:07d}", f"T{j:07d}", w)
        for (i, j), w in zip(edges.tolist(), weights.tolist(), strict=True)
    )
    return graph


def pivots(n: int, settings: CentralitySettings, seed: int) -> np.ndarray | None:
    """The pivots ours draws (vertex names sort like their indices here)."""
    if n <= settings.exact_up_to:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, min(settings.betweenness_k, n), False))


def igraph_direct(
    n: int, edges: np.ndarray, weights: np.ndarray, sources: np.ndarray | None
) -> dict[str, np.ndarray]:
    """The measures as a user would compute them with python-igraph."""
    g = ig.Graph(n=n, edges=edges.tolist())
    w = weights.tolist()
    d = (1.0 / weights).tolist()
    out = {"degree": np.array(g.degree()), "strength": np.array(g.strength(weights=w))}
    if sources is None:
        out["betweenness"] = np.array(g.betweenness(directed=False, weights=d))
        out["closeness"] = np.nan_to_num(np.array(g.closeness(weights=d)))
    else:
        raw = np.array(g.betweenness(directed=False, weights=d, sources=sources.tolist()))
        out["betweenness"] = raw * n / len(sources)
        sums = np.zeros(n)
        for a in range(0, len(sources), 32):
            dist = np.array(g.distances(source=sources[a : a + 32].tolist(), weights=d))
            sums += np.where(np.isfinite(dist), dist, 0.0).sum(axis=0)
        out["closeness"] = np.divide(len(sources), sums, out=np.zeros(n), where=sums > 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "graph may not be connected"
        out["eigenvector"] = np.array(g.eigenvector_centrality(weights=w))
    out["pagerank"] = np.array(g.pagerank(weights=w))
    out["core_number"] = np.array(g.coreness())
    out["constraint"] = np.array(g.constraint(weights=w))
    out["community"] = np.array(g.community_multilevel(weights=w).membership)
    out["component"] = np.array(g.connected_components().membership)
    return out


def networkx_direct(graph: nx.Graph, sources: np.ndarray | None, settings, seed: int) -> None:
    """The measures as a user would compute them with networkx (timed only)."""
    graph = graph.copy()
    for *_, data in graph.edges(data=True):
        data["distance"] = 1.0 / data["weight"]
    k = None if sources is None else len(sources)
    dict(graph.degree())
    dict(graph.degree(weight="weight"))
    nx.betweenness_centrality(graph, k=k, weight="distance", seed=seed)
    if sources is None:
        nx.closeness_centrality(graph, distance="distance")
    else:
        for p in sources:
            nx.single_source_dijkstra_path_length(graph, f"T{p:07d}", weight="distance")
    nx.eigenvector_centrality(graph, max_iter=settings.max_iterations, weight="weight")
    nx.pagerank(graph, weight="weight")
    nx.core_number(graph)
    nx.constraint(graph, weight="weight")
    nx.effective_size(graph, weight="weight")
    nx.community.louvain_communities(graph, weight="weight", seed=seed)
    list(nx.connected_components(graph))


def timed(call: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def top_overlap(a: np.ndarray, b: np.ndarray) -> int:
    return len(set(np.argsort(-a, kind="stable")[:TOP]) & set(np.argsort(-b, kind="stable")[:TOP]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--networkx-up-to", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    settings = CentralitySettings()
    rows: list[tuple[str, str, str]] = []
    notes = [f"load average before: {load_average()}"]
    ig.Graph(n=2, edges=[(0, 1)]).pagerank()  # load igraph before any timing
    for n in args.sizes:
        edges, weights = technology_graph(n, args.seed)
        graph = as_networkx(n, edges, weights)
        sources = pivots(n, settings, args.seed)
        ours_s, ours = timed(partial(centralities, graph, settings, args.seed))
        theirs_s, theirs = timed(partial(igraph_direct, n, edges, weights, sources))
        table = ours.table
        size = f"{n:,} vertices"
        notes.append(
            f"{size}: {len(weights):,} edges, {ours.notes['components']} components, "
            f"{ours.notes['isolates']} isolates; auto chose {ours.notes['backend']}, "
            f"betweenness/closeness {ours.notes['betweenness']}"
            + (f" (k = {ours.notes['betweenness_k']})" if "betweenness_k" in ours.notes else "")
        )
        rows.append((f"{size}: ours (auto = {ours.notes['backend']}), s", f"{ours_s:.2f}", ""))
        rows.append((f"{size}: igraph direct, s", f"{theirs_s:.2f}", ""))
        rows.append((f"{size}: ours ÷ igraph", f"{ours_s / theirs_s:.2f}×", "target ≤ 2×"))
        if ours.notes["backend"] != "igraph":
            fast = settings.model_copy(update={"backend": "igraph"})
            fast_s, _ = timed(partial(centralities, graph, fast, args.seed))
            rows.append((f"{size}: ours (backend igraph), s", f"{fast_s:.2f}", ""))
            rows.append(
                (f"{size}: ours (igraph) ÷ igraph", f"{fast_s / theirs_s:.2f}×", "target ≤ 2×")
            )
        for measure in ("betweenness", "pagerank"):
            mine = table[measure].to_numpy()
            rows.append(
                (
                    f"{size}: {measure} top-{TOP} overlap, Spearman ρ",
                    f"{top_overlap(mine, theirs[measure])}/{TOP}, "
                    f"{spearmanr(mine, theirs[measure]).statistic:.4f}",
                    "",
                )
            )
        if n <= args.networkx_up_to:
            nx_s, _ = timed(partial(networkx_direct, graph, sources, settings, args.seed))
            rows.append((f"{size}: networkx direct (reference), s", f"{nx_s:.2f}", ""))
        seconds = {k[8:]: v for k, v in ours.notes.items() if k.startswith("seconds_")}
        notes.append(f"{size}: ours per measure, s: {seconds}")
    notes.append(f"load average after: {load_average()}")
    print_table("Centrality: ours vs python-igraph", rows, 22, notes)


if __name__ == "__main__":
    main()
