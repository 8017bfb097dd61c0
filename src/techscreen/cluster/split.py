"""Oversized technology nodes split by re-clustering their own patents.

A node that holds more than ``max_node_share`` of its domain is usually a field, not a
technology ("vehicle · power · control"). HDBSCAN's excess-of-mass selection keeps such a
node when its sub-groups are less stable than the whole *at the domain's scale*, where the
micro-clusters are too coarse to see inside it. So the node's own sampled patents are
clustered again — fresh spherical k-means micro-clusters at the node's scale, then weighted
HDBSCAN with the same ``min_cluster_size`` — and the node is replaced by the groups found.

A node is kept whole only when it is **homogeneous**: its sampled patents, projected on their
first principal axis, are consistent with one Gaussian — the G-means test (Hamerly & Elkan
2003): Anderson–Darling ``A*² = A²(1 + 4/n − 25/n²)`` at most 1.8692, the critical value for
α = 0.0001 with estimated mean and variance — or it cannot hold two nodes of
``min_cluster_size``. Each kept node is reported with its reason. On planted isotropic
Gaussian blobs (8–256 dims, 300–3,000 points) ``A*²`` stays under 1.1 and two blobs give 3.6
and up; on real patent vectors, broad nodes ("composition · compounds", 532 of a week of
USPTO applications) give 6–14 and specific ones (machine learning models, 150) about 1.5.
Two tests were tried and rejected because real fields passed them as homogeneous: keeping
the node unless its density groups hold more excess of mass than the node itself
(``allow_single_cluster``), and keeping it unless its re-clustering reproduces across seeds
(sub-topics of a field have no deep density valleys in text embeddings, so neither sees
them). A non-Gaussian node is re-clustered by density; where that finds no two groups, it is
cut in two by spherical 2-means, the G-means step.

The result stays a flat :class:`~techscreen.cluster.model.NodeModel`: the node's
micro-centroids are replaced by the finer ones, so assigning a patent is still one nearest
micro-centroid search.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from techscreen.cluster.density import weighted_hdbscan
from techscreen.cluster.micro import MicroClusters, micro_clusters, spherical_kmeans

GAUSSIAN_CRITICAL = 1.8692
"""Anderson–Darling ``A*²`` at α = 0.0001, mean and variance estimated (G-means' choice)."""


@dataclass(frozen=True)
class Partition:
    """Micro-clusters with a node (or ``-1``) and a membership strength each."""

    micro: MicroClusters
    node: np.ndarray  # (k,) node of each micro-cluster, -1 = noise
    strength: np.ndarray  # (k,) membership strength of each micro-cluster

    def node_weight(self, node: int) -> float:
        """Patents a node stands for."""
        return float(self.micro.weights[self.node == node].sum())

    def patent_nodes(self) -> np.ndarray:
        """The node of each sampled patent (through its micro-cluster)."""
        return self.node[self.micro.member]


@dataclass(frozen=True)
class KeptWhole:
    """An oversized node left as it is, and why (for the report's notes)."""

    node: int
    weight: float
    share: float
    reason: str


@dataclass(frozen=True)
class SplitResult:
    """The partition after splitting, and what was split or kept whole."""

    partition: Partition
    splits: int
    kept_whole: tuple[KeptWhole, ...]


@dataclass(frozen=True)
class SplitRule:
    """When and how an oversized node is split.

    Attributes:
        max_share: the largest share of the domain's patents one node may hold (0: off).
        min_cluster_size: patents in the smallest node (the domain's).
        min_samples: HDBSCAN's density weight (the domain's).
        iterations: k-means iterations of the re-clustering.
        max_depth: how many times a node's descendants may be split again.
    """

    max_share: float
    min_cluster_size: float
    min_samples: float
    iterations: int = 25
    max_depth: int = 4


def split_oversized(
    z: np.ndarray, part: Partition, n: int, rule: SplitRule, seed: int
) -> SplitResult:
    """Split every node over ``rule.max_share`` of ``n`` patents, recursively.

    Args:
        z: the sample's vectors in the clustering space (unit rows); ``part.micro.member``
            indexes them.
        part: the domain's partition before splitting.
        n: patents in the domain (the share's denominator).
        rule: the split rule.
        seed: k-means seed of the re-clusterings.
    """
    cap = rule.max_share * n
    if rule.max_share <= 0 or not (part.node >= 0).any():
        return SplitResult(part, 0, ())
    depth = dict.fromkeys(range(int(part.node.max()) + 1), 0)
    queue = [c for c in depth if part.node_weight(c) > cap]
    splits, kept = 0, []
    while queue:
        node = queue.pop(0)
        weight = part.node_weight(node)
        if depth[node] >= rule.max_depth:
            reason = f"split {rule.max_depth} times already (cluster.max_split_depth)"
            kept.append(KeptWhole(node, weight, weight / n, reason))
            continue
        outcome = _resplit(z, part, node, rule, seed)
        if isinstance(outcome, str):
            kept.append(KeptWhole(node, weight, weight / n, outcome))
            continue
        part, new_nodes = outcome
        splits += 1
        for c in new_nodes:
            depth[c] = depth[node] + 1
            if part.node_weight(c) > cap:
                queue.append(c)
    return SplitResult(part, splits, tuple(kept))


def _resplit(
    z: np.ndarray, part: Partition, node: int, rule: SplitRule, seed: int
) -> tuple[Partition, list[int]] | str:
    """The partition with ``node`` replaced by its sub-groups, or why it stays whole."""
    micro = part.micro
    inside = part.node == node
    rows = np.flatnonzero(inside[micro.member])
    weight = float(micro.weights[inside].sum())
    if weight < 2 * rule.min_cluster_size or len(rows) < 4:
        return f"cannot hold two nodes of {rule.min_cluster_size:g} patents"
    a2 = main_axis_anderson_darling(z[rows])
    if a2 <= GAUSSIAN_CRITICAL:
        return (
            "homogeneous: its patents spread as one Gaussian along their main axis "
            f"(Anderson–Darling A*² = {a2:.2f} ≤ {GAUSSIAN_CRITICAL})"
        )
    scale = weight / len(rows)
    k = int(np.clip(round(math.sqrt(weight)), 2, len(rows) // 2))
    child = micro_clusters(z[rows], k, rule.iterations, seed, scale)
    found = weighted_hdbscan(
        child.centroids,
        child.weights,
        rule.min_cluster_size,
        rule.min_samples,
        child.radii,
        "eom",
    )
    if found.single_cluster or found.labels.max() < 1:
        halves = (child.centroids @ spherical_kmeans(z[rows], 2, rule.iterations, seed).T).argmax(1)
        sides = np.bincount(halves, weights=child.weights, minlength=2)
        if sides.min() < rule.min_cluster_size:
            return f"no split into two nodes of {rule.min_cluster_size:g} patents was found"
        labels, strength = halves, np.ones(len(halves))
    else:
        labels, strength = _noise_to_nearest(child, found.labels, found.strengths)
    first = int(part.node.max()) + 1
    keep = ~inside
    member = np.empty_like(micro.member)
    old_index = np.cumsum(keep) - 1  # position of each kept micro-cluster after the cut
    outside = ~inside[micro.member]
    member[outside] = old_index[micro.member[outside]]
    member[rows] = keep.sum() + child.member
    merged = MicroClusters(
        centroids=np.vstack([micro.centroids[keep], child.centroids]),
        weights=np.concatenate([micro.weights[keep], child.weights]),
        radii=np.concatenate([micro.radii[keep], child.radii]),
        member=member,
    )
    nodes = np.concatenate([part.node[keep], labels + first])
    strengths = np.concatenate([part.strength[keep], strength])
    new = list(range(first, first + int(labels.max()) + 1))
    return Partition(merged, nodes, strengths), new


def main_axis_anderson_darling(z: np.ndarray) -> float:
    """Anderson–Darling ``A*²`` of the rows projected on their first principal axis.

    The projection is standardised (mean and variance estimated), so ``A*²`` is compared with
    the critical values of that case (Stephens 1974): 1.8692 at α = 0.0001.
    """
    centred = np.asarray(z, dtype=np.float64) - np.mean(z, axis=0)
    axis = np.linalg.svd(centred, full_matrices=False)[2][0]
    x = np.sort(centred @ axis)
    n = len(x)
    spread = x.std(ddof=1)
    if n < 8 or spread == 0:
        return 0.0
    x = (x - x.mean()) / spread
    i = np.arange(1, n + 1)
    a2 = -n - np.mean((2 * i - 1) * (stats.norm.logcdf(x) + stats.norm.logsf(x[::-1])))
    return float(a2 * (1 + 4 / n - 25 / n**2))


def _noise_to_nearest(
    child: MicroClusters, labels: np.ndarray, strengths: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Micro-clusters the re-clustering left as noise join the group of nearest centroid."""
    labels = labels.copy()
    groups = int(labels.max()) + 1
    centroids = np.stack(
        [child.centroids[labels == g].T @ child.weights[labels == g] for g in range(groups)]
    )
    centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    noise = labels < 0
    if noise.any():
        labels[noise] = (child.centroids[noise] @ centroids.T).argmax(axis=1)
    return labels, np.where(noise, 0.0, strengths)
