"""HDBSCAN over weighted points: micro-cluster centroids that stand for many patents each.

The cluster stage runs HDBSCAN on k-means centroids, not on millions of patents. A centroid
is worth as many patents as its micro-cluster holds, so density and cluster sizes must count
patents, not centroids. This module is HDBSCAN (Campello, Moulavi & Sander 2013; the same
steps as the ``hdbscan`` library) with a weight per point:

* **core distance** of a point: the distance within which the weights of the point itself
  and its nearest neighbours first reach ``min_samples`` patents — but never less than the
  point's own radius (the spread of its micro-cluster), below which a centroid carries no
  density information;
* **mutual reachability** ``max(core_i, core_j, d_ij)`` and its single-linkage tree (the
  minimum spanning tree of HDBSCAN*), built by the library's own exact Prim step;
* **condensed tree**: walking down from the root, a split whose both sides weigh at least
  ``min_cluster_size`` patents makes two clusters; lighter sides "fall out" as noise;
* **stability** ``Σ weight · (λ_out − λ_birth)`` and the excess-of-mass (or leaf) selection.

With every weight 1 and radius 0 this is HDBSCAN itself; the tests check it against the
``hdbscan`` library on the same points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hdbscan._hdbscan_linkage import label, mst_linkage_core
from sklearn.metrics import pairwise_distances

_MIN_DISTANCE = 1e-12  # identical points: a finite λ instead of infinity


@dataclass(frozen=True)
class DensityResult:
    """Labels (``-1`` = noise) and membership strengths in [0, 1] of the weighted points."""

    labels: np.ndarray
    strengths: np.ndarray
    stabilities: dict[int, float]
    single_cluster: bool


def core_distances(
    distances: np.ndarray, weights: np.ndarray, min_samples: float, radii: np.ndarray
) -> np.ndarray:
    """Per point: the smallest distance within which ``min_samples`` of weight lies."""
    order = np.argsort(distances, axis=1, kind="stable")
    ranked = np.take_along_axis(distances, order, axis=1)
    cumulative = np.cumsum(weights[order], axis=1)
    reach = (cumulative < min_samples).sum(axis=1).clip(max=len(weights) - 1)
    core = ranked[np.arange(len(weights)), reach]
    return np.maximum(core, radii)


def weighted_hdbscan(
    points: np.ndarray,
    weights: np.ndarray,
    min_cluster_size: float,
    min_samples: float | None = None,
    radii: np.ndarray | None = None,
    selection: str = "eom",
) -> DensityResult:
    """Cluster ``points`` (rows) where point ``i`` stands for ``weights[i]`` patents.

    Args:
        points: coordinates, compared by Euclidean distance.
        weights: how many patents each point stands for (> 0).
        min_cluster_size: the least total weight of a cluster.
        min_samples: the weight that makes a point's neighbourhood dense; defaults to
            ``min_cluster_size``.
        radii: each point's own spread (a floor on its core distance); zeros if None.
        selection: ``eom`` (excess of mass, HDBSCAN's default) or ``leaf``.

    Returns:
        Labels numbered 0.. in order of first appearance by point index. When no split is
        ever significant but the points weigh at least ``min_cluster_size`` together, they
        form one cluster (``single_cluster``), as the library's ``allow_single_cluster``.
    """
    n = len(points)
    weights = np.asarray(weights, dtype=np.float64)
    if n == 0:
        return DensityResult(np.empty(0, int), np.empty(0), {}, False)
    if n == 1 or weights.sum() < min_cluster_size:
        single = n == 1 and weights.sum() >= min_cluster_size
        labels = np.zeros(n, int) if single else np.full(n, -1)
        return DensityResult(labels, (labels >= 0).astype(float), {}, single)
    radii = np.zeros(n) if radii is None else np.asarray(radii, dtype=np.float64)
    distances = pairwise_distances(np.asarray(points, dtype=np.float64))
    core = core_distances(distances, weights, min_samples or min_cluster_size, radii)
    reach = np.maximum(distances, np.maximum.outer(core, core))
    tree = _single_linkage(reach)
    exit_lambda = 1.0 / np.maximum(core, _MIN_DISTANCE)
    condensed = _condense(tree, weights, min_cluster_size, exit_lambda)
    return _select(condensed, n, selection)


def _single_linkage(reach: np.ndarray) -> np.ndarray:
    # The hdbscan library's own exact minimum spanning tree and labelling (its "generic"
    # algorithm), so equal distances are broken the way the library breaks them.
    tree = mst_linkage_core(np.ascontiguousarray(reach))
    return label(tree[np.argsort(tree.T[2]), :])


@dataclass
class _Condensed:
    parent_of: dict[int, int]  # cluster → parent cluster (root 0 has none)
    birth: dict[int, float]  # cluster → λ at which it appeared
    # (cluster, point, λ at which the point left it, weight)
    point_rows: list[tuple[int, int, float, float]]
    # (parent cluster, child cluster, λ of the split, child weight)
    cluster_rows: list[tuple[int, int, float, float]]


def _condense(
    tree: np.ndarray, weights: np.ndarray, min_size: float, exit_lambda: np.ndarray
) -> _Condensed:
    n = len(weights)
    children = tree[:, :2].astype(np.int64)
    node_weight = np.concatenate([weights, np.zeros(n - 1)])
    for i, (a, b) in enumerate(children):
        node_weight[n + i] = node_weight[a] + node_weight[b]
    split_lambda = 1.0 / np.maximum(tree[:, 2], _MIN_DISTANCE)

    out = _Condensed(parent_of={}, birth={0: 0.0}, point_rows=[], cluster_rows=[])
    cluster_of = {2 * n - 2: 0}
    stack = [2 * n - 2]
    while stack:
        node = stack.pop()
        cluster = cluster_of[node]
        if node < n:  # a point heavy enough to be a cluster's last member
            out.point_rows.append((cluster, node, float(exit_lambda[node]), weights[node]))
            continue
        lam = float(split_lambda[node - n])
        a, b = children[node - n]
        heavy = [c for c in (a, b) if node_weight[c] >= min_size]
        if len(heavy) == 2:
            for child in (a, b):
                label = len(out.birth)
                out.birth[label] = lam
                out.parent_of[label] = cluster
                out.cluster_rows.append((cluster, label, lam, float(node_weight[child])))
                cluster_of[child] = label
                stack.append(child)
            continue
        for child in (a, b):
            if child in heavy:
                cluster_of[child] = cluster
                stack.append(child)
            else:
                out.point_rows.extend(
                    (cluster, p, lam, float(weights[p])) for p in _leaves(child, children, n)
                )
    return out


def _leaves(node: int, children: np.ndarray, n: int) -> list[int]:
    found, stack = [], [node]
    while stack:
        current = stack.pop()
        if current < n:
            found.append(int(current))
        else:
            stack.extend(children[current - n])
    return found


def _select(condensed: _Condensed, n: int, selection: str) -> DensityResult:
    clusters = sorted(condensed.birth)
    stability = dict.fromkeys(clusters, 0.0)
    for cluster, _, lam, weight in condensed.point_rows:
        stability[cluster] += weight * (lam - condensed.birth[cluster])
    kids: dict[int, list[int]] = {c: [] for c in clusters}
    for parent, child, lam, weight in condensed.cluster_rows:
        stability[parent] += weight * (lam - condensed.birth[parent])
        kids[parent].append(child)

    selected = dict.fromkeys(clusters, False)
    # A cluster with zero stability (its points all leave as it is born: duplicates) is
    # no evidence of a cluster and is never selected.
    if selection == "leaf":
        for c in clusters[1:]:
            selected[c] = not kids[c] and stability[c] > 0
    else:
        subtree = dict(stability)
        for c in reversed(clusters[1:]):  # children have larger labels than their parents
            below = sum(subtree[k] for k in kids[c])
            if kids[c] and below > stability[c]:
                subtree[c] = below
            elif stability[c] > 0:
                selected[c] = True
                for d in _descendants(c, kids):
                    selected[d] = False
    single = not any(selected.values())
    if single:
        selected[0] = True

    chosen = sorted(c for c in clusters if selected[c])
    owner = {0: 0 if selected[0] else -1}
    for c in clusters[1:]:  # a parent's label is smaller than its children's
        owner[c] = c if selected[c] else owner[condensed.parent_of[c]]
    labels = np.full(n, -1)
    point_lambda = np.zeros(n)
    for cluster, point, lam, _ in condensed.point_rows:
        labels[point] = owner[cluster]
        point_lambda[point] = lam
    strengths = np.zeros(n)
    for c in chosen:
        members = labels == c
        peak = point_lambda[members].max()
        strengths[members] = np.minimum(point_lambda[members], peak) / peak
    renumber = {c: i for i, c in enumerate(dict.fromkeys(labels[labels >= 0].tolist()))}
    labels = np.array([renumber.get(c, -1) for c in labels.tolist()], dtype=int)
    stabilities = {renumber[c]: float(stability[c]) for c in chosen if c in renumber}
    return DensityResult(labels, strengths, stabilities, single)


def _descendants(cluster: int, kids: dict[int, list[int]]) -> list[int]:
    found, stack = [], list(kids[cluster])
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(kids[current])
    return found
