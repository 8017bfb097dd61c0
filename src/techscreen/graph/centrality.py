"""Centralities of a technology network: one row per vertex, from networkx or igraph.

The input is an undirected simple networkx graph with string vertices and a positive
similarity ``weight`` on every edge (bigger = stronger tie). Path measures use the
distance ``1 / weight``. ``n`` is the number of vertices, ``r`` the size of a vertex's
connected component, ``s_i`` its strength (sum of its weights). The columns:

* **degree**, **strength** — neighbours, and the sum of their weights;
* **betweenness** — weighted, normalised by ``(n−1)(n−2)/2`` (0 when ``n ≤ 2``). Exact when
  ``n ≤ exact_up_to``; above, Brandes & Pich pivot sampling: ``k = betweenness_k`` sources
  drawn uniformly with ``seed``, the source-restricted sums scaled by ``n/k``, an unbiased
  estimate of the exact value;
* **closeness** — weighted, Wasserman–Faust (networkx's ``wf_improved``):
  ``(r−1)² / ((n−1)·Σ_u d(v,u))`` over the vertex's component, 0 for an isolate. Above
  ``exact_up_to`` it reuses the betweenness pivots: in a component of more than
  ``exact_up_to`` vertices holding at least two pivots, ``Σ_u d(v,u)`` is estimated as
  ``(r−1)·mean d(p,v)`` over the pivots ``p ≠ v`` of that component (Eppstein & Wang);
  smaller or pivot-poor components are computed exactly (``r`` Dijkstra runs over ``r``
  vertices each);
* **eigenvector** — weighted, computed **per component** (a disconnected graph has no
  unique leading eigenvector): each component's Perron vector, scaled to a maximum of 1,
  times ``λ_c / λ_max`` (its spectral radius over the largest one), so a connected graph
  gets the usual eigenvector centrality with maximum 1, small or weakly tied components
  rank below the main one, and an isolate (``λ = 0``) gets 0. A component whose iterative
  solver does not converge in ``max_iterations`` is solved by scipy (dense ``eigh``, or
  Lanczos ``eigsh`` for large ones) and counted in ``notes``;
* **pagerank** — weighted, damping 0.85, an isolate's mass spread uniformly. A solver that
  does not converge falls back to the direct solution ``x ∝ (I − 0.85·Pᵀ)⁻¹·1`` (with
  ``P = D_s⁻¹W``; uniform teleport and dangling mass only rescale it);
* **core_number** — k-core index, unweighted;
* **constraint**, **effective_size** — Burt, weighted, exactly as networkx defines them: with
  ``p_ij = w_ij / s_i`` and ``m_jq = w_jq / max_k w_jk``, ``c_i = Σ_{j∈N(i)} (p_ij + Σ_q p_iq
  p_qj)²`` and ``ES_i = Σ_{j∈N(i)} (1 − Σ_q p_iq m_jq)``. Both are undefined for an isolate:
  it gets constraint 1 (the value of a vertex with a single contact: no brokerage at all)
  and effective size 0 (no contacts), and the flags ``constraint_undefined`` and
  ``effective_size_undefined`` besides ``isolate``. Effective size comes from the formula on
  sparse matrices in both backends: igraph has none, networkx 3.6's vectorised weighted one
  normalises ``m`` by the wrong row's maximum (networkx PR #8906) and its per-vertex one,
  which follows the definition (the tests check the formula against it), costs
  ``O(Σ deg³)`` in Python;
* **community** — Louvain (weighted, ``louvain_resolution``, ``seed``); **component** —
  connected component. Both are numbered 0, 1, … by decreasing size, ties by their
  smallest vertex. The modularity of the communities goes to ``notes``.

Backends: ``networkx`` is the reference (pure Python; betweenness and closeness cost
``O(n·m log n)``, fine up to a few thousand vertices); ``igraph`` runs the same measures in
C, with scipy for the pivot distances of sampled closeness (faster than igraph's
``distances``, which returns Python lists). ``auto`` is igraph (``bench/graph.py``: networkx
took 26× igraph's time at 1,000 vertices, igraph ≤ 1.06× igraph called directly at every
size). The backends agree to 1e-9 on degree, strength, betweenness,
closeness, core number, constraint and effective size, and to 1e-6 (relative to the
largest value) on eigenvector and PageRank, whose solvers iterate to a tolerance; Louvain
differs between them (different implementations), though each is deterministic.

Deterministic: vertices are sorted and edges listed in that order before either backend
sees them, so the same graph, settings and seed give the same table whatever the insertion
order. igraph draws random numbers (Louvain, ARPACK's start vector) from Python's
``random``: a ``random.Random(seed)`` is installed for each such call and the module
``random`` restored afterwards.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import igraph
import networkx as nx
import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse import csgraph
from scipy.sparse.linalg import eigsh, spsolve

from techscreen.config import CentralitySettings

COLUMNS = (
    "vertex",
    "degree",
    "strength",
    "betweenness",
    "closeness",
    "eigenvector",
    "pagerank",
    "core_number",
    "constraint",
    "effective_size",
    "community",
    "component",
    "flags",
)
ISOLATE_CONSTRAINT = 1.0  # the constraint of a vertex with a single contact
ISOLATE_EFFECTIVE_SIZE = 0.0  # no contacts
DAMPING = 0.85
_TOLERANCE = 1e-10  # of networkx's power iterations, per vertex
_DENSE_UP_TO = 200  # eigenvector fallback: dense eigh up to this many vertices, eigsh above
_PIVOT_BATCH = 32  # pivots per scipy Dijkstra batch (sampled closeness)
_ROW_BATCH = 2048  # rows per sparse product (effective size)


@dataclass(frozen=True)
class Centralities:
    """The centrality table (one row per vertex, sorted by vertex) and how it was computed."""

    table: pd.DataFrame
    notes: dict[str, Any]


@dataclass(frozen=True)
class _Graph:
    """The input in canonical form: sorted vertices, edges ``i < j`` in sorted order."""

    names: list[Any]
    edges: np.ndarray  # (m, 2) vertex indices
    weights: np.ndarray  # (m,) similarities
    adjacency: sparse.csr_array  # symmetric weights
    degree: np.ndarray
    strength: np.ndarray
    component: np.ndarray  # canonical component per vertex
    size: np.ndarray  # size of each vertex's component

    @property
    def n(self) -> int:
        """Number of vertices."""
        return len(self.names)


def centralities(graph: nx.Graph, settings: CentralitySettings, seed: int = 0) -> Centralities:
    """Every centrality of ``graph``'s vertices (see the module docstring), never NaN or inf.

    ``graph`` is undirected and simple, with a positive finite ``weight`` on every edge;
    anything else raises ``ValueError``. ``notes`` is a flat dict of scalars: backend, how
    betweenness and closeness were computed (exact or sampled, ``k``, seed), fallbacks,
    components, communities, modularity and seconds per measure.
    """
    g = _canonical(graph)
    n = g.n
    name = settings.backend
    if name == "auto":
        name = "igraph"
    backend = (_Networkx if name == "networkx" else _Igraph)(g)
    sampled = n > settings.exact_up_to
    pivots = (
        np.sort(np.random.default_rng(seed).choice(n, min(settings.betweenness_k, n), False))
        if sampled
        else None
    )
    notes: dict[str, Any] = {
        "backend": name,
        "vertices": n,
        "edges": len(g.weights),
        "components": int(g.component.max(initial=-1)) + 1,
        "isolates": int((g.size == 1).sum()),
        "betweenness": "sampled" if sampled else "exact",
        "closeness": "sampled" if sampled else "exact",
        "seed": seed,
        "pagerank_damping": DAMPING,
        "louvain_resolution": settings.louvain_resolution,
    }
    if sampled:
        notes["betweenness_k"] = len(pivots)
    seconds: dict[str, float] = {}
    timed = partial(_timed, seconds)
    with timed("betweenness"):
        betweenness = _betweenness(g, backend, pivots)
    with timed("closeness"):
        closeness, exact_vertices = _closeness(g, backend, pivots, settings.exact_up_to)
    if sampled:
        notes["closeness_exact_vertices"] = exact_vertices
    with timed("eigenvector"):
        eigenvector, notes["eigenvector_fallbacks"] = _eigenvector(
            g, backend, settings.max_iterations
        )
    with timed("pagerank"):
        pagerank = backend.pagerank(settings.max_iterations)
        notes["pagerank_fallback"] = pagerank is None
        if pagerank is None:
            pagerank = _pagerank_direct(g.adjacency)
    with timed("core_number"):
        core = backend.core_number()
    with timed("constraint"):
        constraint = backend.constraint()
    with timed("effective_size"):
        effective_size = _effective_size(g.adjacency)
    with timed("community"):
        community = (
            _canonical_labels(backend.louvain(settings.louvain_resolution, seed))
            if len(g.weights)
            else np.arange(n)  # no edges: every vertex on its own
        )
    notes["communities"] = int(community.max(initial=-1)) + 1
    notes["modularity"] = _modularity(g, community, settings.louvain_resolution)
    notes.update({f"seconds_{measure}": s for measure, s in seconds.items()})

    isolate = g.degree == 0
    table = pd.DataFrame(
        {
            "vertex": pd.Series(g.names, dtype=object),
            "degree": g.degree,
            "strength": g.strength,
            "betweenness": betweenness,
            "closeness": closeness,
            "eigenvector": eigenvector,
            "pagerank": np.asarray(pagerank, dtype=float),
            "core_number": np.asarray(core, dtype=np.int64),
            "constraint": np.where(isolate, ISOLATE_CONSTRAINT, constraint),
            "effective_size": np.where(isolate, ISOLATE_EFFECTIVE_SIZE, effective_size),
            "community": community.astype(np.int64),
            "component": g.component.astype(np.int64),
            "flags": pd.Series(
                [
                    ["isolate", "constraint_undefined", "effective_size_undefined"] if i else []
                    for i in isolate
                ],
                dtype=object,
            ),
        },
        columns=list(COLUMNS),
    )
    numbers = table.select_dtypes("number").to_numpy(dtype=float)
    if not np.isfinite(numbers).all():  # a bug, not a property of the input
        raise RuntimeError("centralities: a measure is not finite")
    return Centralities(table, notes)


@contextmanager
def _timed(seconds: dict[str, float], measure: str) -> Iterator[None]:
    """Add the seconds the block took to ``seconds[measure]``."""
    started = time.perf_counter()
    yield
    seconds[measure] = round(time.perf_counter() - started, 4)


def _canonical(graph: nx.Graph) -> _Graph:
    """Check ``graph`` and put it in canonical (sorted) form with its components."""
    if graph.is_directed() or graph.is_multigraph():
        raise ValueError("centralities need an undirected simple graph")
    names = sorted(graph.nodes)
    index = {v: i for i, v in enumerate(names)}
    m = graph.number_of_edges()
    ends = np.fromiter(
        (index[v] for u_v in graph.edges for v in u_v), dtype=np.int64, count=2 * m
    ).reshape(m, 2)
    weights = np.fromiter(
        (d.get("weight", np.nan) for *_, d in graph.edges(data=True)), dtype=float, count=m
    )
    ends.sort(axis=1)
    order = np.lexsort((ends[:, 1], ends[:, 0]))
    edges, weights = ends[order], weights[order]
    if (edges[:, 0] == edges[:, 1]).any():
        raise ValueError("centralities need a graph without self-loops")
    if not (np.isfinite(weights) & (weights > 0)).all():
        raise ValueError("every edge needs a positive finite 'weight'")
    n = len(names)
    adjacency = sparse.csr_array(
        (
            np.r_[weights, weights],
            (np.r_[edges[:, 0], edges[:, 1]], np.r_[edges[:, 1], edges[:, 0]]),
        ),
        shape=(n, n),
    )
    degree = np.diff(adjacency.indptr).astype(np.int64)
    strength = np.asarray(adjacency.sum(axis=1), dtype=float).ravel()
    component = _canonical_labels(csgraph.connected_components(adjacency, directed=False)[1])
    size = np.bincount(component, minlength=n)[component] if n else np.zeros(0, np.int64)
    return _Graph(names, edges, weights, adjacency, degree, strength, component, size)


def _canonical_labels(labels: np.ndarray) -> np.ndarray:
    """Relabel groups 0, 1, … by decreasing size, ties by their first (smallest) vertex."""
    _, first, inverse, counts = np.unique(
        labels, return_index=True, return_inverse=True, return_counts=True
    )
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.lexsort((first, -counts))] = np.arange(len(first))
    return rank[inverse.ravel()]


def _betweenness(g: _Graph, backend: _Backend, pivots: np.ndarray | None) -> np.ndarray:
    """Normalised betweenness, exact or estimated from the ``pivots`` (scaled by n/k)."""
    n = g.n
    raw = backend.betweenness(pivots)
    scale = 1.0 if pivots is None else n / len(pivots)
    if n > 2:
        scale *= 2.0 / ((n - 1) * (n - 2))
    return raw * scale


def _closeness(
    g: _Graph, backend: _Backend, pivots: np.ndarray | None, exact_up_to: int
) -> tuple[np.ndarray, int]:
    """Wasserman–Faust closeness and how many vertices were computed exactly."""
    n, r = g.n, g.size
    if pivots is None:
        exact = r > 1
        estimated = np.zeros(n, dtype=bool)
    else:
        holding = np.bincount(g.component[pivots], minlength=n)[g.component]
        estimated = (r > exact_up_to) & (holding >= 2)
        exact = (r > 1) & ~estimated
    # raw = (r−1)/Σ_u d(v,u) within the component; 0 for isolates
    raw = np.zeros(n)
    raw[exact] = backend.closeness(np.flatnonzero(exact))
    if estimated.any():
        mine = pivots[estimated[pivots]]
        others = holding - np.isin(np.arange(n), mine)  # pivots p ≠ v in v's component
        sums = backend.distance_sums(mine)
        raw[estimated] = others[estimated] / sums[estimated]
    return raw * (r - 1) / max(n - 1, 1), int(exact.sum())


def _eigenvector(g: _Graph, backend: _Backend, max_iterations: int) -> tuple[np.ndarray, int]:
    """Per-component Perron vectors (max 1) × λ_c/λ_max, and the number of fallbacks."""
    if not g.n:
        return np.zeros(0), 0
    x = np.zeros(g.n)
    fallbacks = 0
    order = np.argsort(g.component, kind="stable")
    bounds = np.cumsum(np.bincount(g.component))
    for members in np.split(order, bounds[:-1]):
        if len(members) < 2:
            continue
        v = backend.eigenvector(members, max_iterations)
        if v is None:
            fallbacks += 1
            v = _perron(g.adjacency[members][:, members])
        v = np.abs(v)
        x[members] = v / v.max()
    # λ_c by the Rayleigh quotient of each component's vector
    wx = g.adjacency @ x
    norm = np.bincount(g.component, x * x)
    lam = np.divide(np.bincount(g.component, x * wx), norm, out=np.zeros_like(norm), where=norm > 0)
    top = lam.max()
    return (x * lam[g.component] / top if top > 0 else np.zeros(g.n)), fallbacks


def _perron(w: sparse.csr_array) -> np.ndarray:
    """Leading eigenvector of a symmetric nonnegative matrix by scipy (the fallback)."""
    if w.shape[0] <= _DENSE_UP_TO:
        return np.linalg.eigh(w.toarray())[1][:, -1]
    return eigsh(w.astype(float), k=1, which="LA", v0=np.ones(w.shape[0]))[1][:, 0]


def _pagerank_direct(w: sparse.csr_array) -> np.ndarray:
    """PageRank by one sparse solve, ``x ∝ (I − αPᵀ)⁻¹·1``.

    Teleport and the dangling mass are uniform vectors, so they only rescale the solution.
    """
    s = np.asarray(w.sum(axis=1)).ravel()
    p = sparse.diags_array(np.divide(1.0, s, out=np.zeros_like(s), where=s > 0)) @ w
    y = spsolve(sparse.identity(w.shape[0], format="csc") - DAMPING * p.T.tocsc(), np.ones(len(s)))
    return y / y.sum()


def _modularity(g: _Graph, labels: np.ndarray, resolution: float) -> float:
    """Weighted modularity ``Σ_c [W_c/(2m) − γ·(S_c/(2m))²]`` (0 without edges)."""
    total = 2.0 * g.weights.sum()
    if total == 0:
        return 0.0
    same = labels[g.edges[:, 0]] == labels[g.edges[:, 1]]
    inside = 2.0 * g.weights[same].sum()
    s = np.bincount(labels, g.strength)
    return round(float(inside / total - resolution * ((s / total) ** 2).sum()), 6)


def _effective_size(w: sparse.csr_array) -> np.ndarray:
    """Burt's effective size, ``deg − rowsum(P ∘ (B·M))``; NaN for isolates, as networkx.

    ``P`` is ``W`` over its row sums, ``M`` ``W`` over its row maxima and ``B`` the 0/1
    adjacency; ``B·M`` is multiplied in row chunks and only kept on the edges.
    """
    if not w.shape[0]:
        return np.zeros(0)
    binary = (w > 0).astype(float)
    s = np.asarray(w.sum(axis=1)).ravel()
    top = w.max(axis=1).toarray().ravel()
    p = sparse.diags_array(np.divide(1.0, s, out=np.zeros_like(s), where=s > 0)) @ w
    m = sparse.diags_array(np.divide(1.0, top, out=np.zeros_like(top), where=top > 0)) @ w
    rows = _ROW_BATCH
    redundancy = np.concatenate(
        [
            np.asarray(p[a : a + rows].multiply(binary[a : a + rows] @ m).sum(axis=1)).ravel()
            for a in range(0, w.shape[0], rows)
        ]
    )
    degree = np.diff(w.indptr).astype(float)
    return np.where(degree > 0, degree - redundancy, np.nan)


class _Networkx:
    """The reference backend: networkx on a canonical copy (``weight`` and ``distance``)."""

    def __init__(self, g: _Graph) -> None:
        self.g = g
        self.graph = self._build(np.arange(g.n), np.arange(len(g.weights)))

    def _build(self, vertices: np.ndarray, edges: np.ndarray) -> nx.Graph:
        """A networkx graph of these vertices and edges (indices), in canonical order."""
        g = self.g
        graph = nx.Graph()
        graph.add_nodes_from(g.names[i] for i in vertices)
        graph.add_edges_from(
            (g.names[i], g.names[j], {"weight": w, "distance": 1.0 / w})
            for (i, j), w in zip(g.edges[edges].tolist(), g.weights[edges].tolist(), strict=True)
        )
        return graph

    def _array(self, values: dict[Any, float]) -> np.ndarray:
        return np.array([values[v] for v in self.g.names], dtype=float)

    def betweenness(self, sources: np.ndarray | None) -> np.ndarray:
        """Unnormalised betweenness (pairs counted once), from ``sources`` only if given."""
        if sources is None:
            values = nx.betweenness_centrality(self.graph, weight="distance", normalized=False)
        else:
            values = nx.betweenness_centrality_subset(
                self.graph,
                [self.g.names[i] for i in sources],
                self.g.names,
                weight="distance",
                normalized=False,
            )
        return self._array(values)

    def closeness(self, vertices: np.ndarray) -> np.ndarray:
        """``(r−1)/Σ_u d(v,u)`` within each vertex's component."""
        return np.array(
            [
                nx.closeness_centrality(
                    self.graph, self.g.names[i], distance="distance", wf_improved=False
                )
                for i in vertices
            ]
        )

    def distance_sums(self, sources: np.ndarray) -> np.ndarray:
        """``Σ_{p∈sources} d(p, v)`` per vertex, over the pivots that reach it."""
        index = {v: i for i, v in enumerate(self.g.names)}
        sums = np.zeros(self.g.n)
        for p in sources:
            lengths = nx.single_source_dijkstra_path_length(
                self.graph, self.g.names[p], weight="distance"
            )
            np.add.at(sums, [index[v] for v in lengths], list(lengths.values()))
        return sums

    def eigenvector(self, members: np.ndarray, max_iterations: int) -> np.ndarray | None:
        """Power iteration on one component; None when it does not converge."""
        inside = np.flatnonzero(
            self.g.component[self.g.edges[:, 0]] == self.g.component[members[0]]
        )
        try:
            values = nx.eigenvector_centrality(
                self._build(members, inside),
                max_iter=max_iterations,
                tol=_TOLERANCE,
                weight="weight",
            )
        except nx.PowerIterationFailedConvergence:
            return None
        return np.array([values[self.g.names[i]] for i in members])

    def pagerank(self, max_iterations: int) -> np.ndarray | None:
        """Power-iteration PageRank; None when it does not converge."""
        try:
            values = nx.pagerank(
                self.graph, DAMPING, max_iter=max_iterations, tol=_TOLERANCE, weight="weight"
            )
        except nx.PowerIterationFailedConvergence:
            return None
        return self._array(values)

    def core_number(self) -> np.ndarray:
        """Unweighted k-core index."""
        return self._array(nx.core_number(self.graph)).astype(np.int64)

    def constraint(self) -> np.ndarray:
        """Burt's constraint (NaN for isolates)."""
        if not self.g.n:  # networkx refuses an empty graph here
            return np.zeros(0)
        return self._array(nx.constraint(self.graph, weight="weight"))

    def louvain(self, resolution: float, seed: int) -> np.ndarray:
        """Louvain community per vertex (arbitrary numbering)."""
        index = {v: i for i, v in enumerate(self.g.names)}
        labels = np.zeros(self.g.n, dtype=np.int64)
        for c, members in enumerate(
            nx.community.louvain_communities(
                self.graph, weight="weight", resolution=resolution, seed=seed
            )
        ):
            labels[[index[v] for v in members]] = c
        return labels


class _Igraph:
    """The fast backend: igraph (C), plus scipy for the pivot distances."""

    def __init__(self, g: _Graph) -> None:
        self.g = g
        self.graph = igraph.Graph(n=g.n, edges=g.edges.tolist())
        self.graph.es["weight"] = g.weights.tolist()
        self.graph.es["distance"] = (1.0 / g.weights).tolist()

    def betweenness(self, sources: np.ndarray | None) -> np.ndarray:
        """Unnormalised betweenness (pairs counted once), from ``sources`` only if given."""
        if not self.g.n:
            return np.zeros(0)
        return np.array(
            self.graph.betweenness(
                directed=False,
                weights="distance",
                sources=None if sources is None else sources.tolist(),
            )
        )

    def closeness(self, vertices: np.ndarray) -> np.ndarray:
        """``(r−1)/Σ_u d(v,u)`` within each vertex's component."""
        if not len(vertices):
            return np.zeros(0)
        return np.array(
            self.graph.closeness(vertices.tolist(), weights="distance", normalized=True)
        )

    def distance_sums(self, sources: np.ndarray) -> np.ndarray:
        """``Σ_{p∈sources} d(p, v)`` per vertex, over the pivots that reach it (scipy)."""
        distance = self.g.adjacency.copy()
        distance.data = 1.0 / distance.data
        sums = np.zeros(self.g.n)
        for a in range(0, len(sources), _PIVOT_BATCH):
            d = csgraph.dijkstra(distance, directed=False, indices=sources[a : a + _PIVOT_BATCH])
            sums += np.where(np.isfinite(d), d, 0.0).sum(axis=0)
        return sums

    def eigenvector(self, members: np.ndarray, max_iterations: int) -> np.ndarray | None:
        """ARPACK on one component; None when it fails."""
        options = igraph.ARPACKOptions()
        options.maxiter = max_iterations
        component = self.graph.induced_subgraph(members.tolist())
        try:
            with self._seeded(0):  # ARPACK's start and restarts draw random numbers
                values = component.eigenvector_centrality(weights="weight", arpack_options=options)
        except igraph.InternalError:
            return None
        return np.array(values)

    def pagerank(self, max_iterations: int) -> np.ndarray | None:
        """ARPACK PageRank; None when it fails.

        Not PRPACK, igraph's default: faster, but its last bits vary from run to run.
        """
        if not self.g.n:
            return np.zeros(0)
        options = igraph.ARPACKOptions()
        options.maxiter = max_iterations
        try:
            with self._seeded(0):
                values = self.graph.pagerank(
                    directed=False,
                    damping=DAMPING,
                    weights="weight",
                    implementation="arpack",
                    arpack_options=options,
                )
        except igraph.InternalError:
            return None
        return np.array(values) / sum(values)

    def core_number(self) -> np.ndarray:
        """Unweighted k-core index."""
        return np.array(self.graph.coreness(), dtype=np.int64)

    def constraint(self) -> np.ndarray:
        """Burt's constraint (NaN for isolates)."""
        return np.array(self.graph.constraint(weights="weight"), dtype=float)

    def louvain(self, resolution: float, seed: int) -> np.ndarray:
        """Louvain (igraph's multilevel) community per vertex, drawing from ``seed``."""
        with self._seeded(seed):
            clusters = self.graph.community_multilevel(weights="weight", resolution=resolution)
        return np.array(clusters.membership, dtype=np.int64)

    @contextmanager
    def _seeded(self, seed: int) -> Iterator[None]:
        """Let igraph draw from ``random.Random(seed)``, then from ``random`` again."""
        igraph.set_random_number_generator(random.Random(seed))
        try:
            yield
        finally:
            igraph.set_random_number_generator(random)


_Backend = _Networkx | _Igraph
