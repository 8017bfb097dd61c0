"""How fine a domain's nodes are: a small sweep per domain, scored by seed stability.

The density step has two knobs that decide the grain of the nodes: ``min_cluster_size``
(the patents in the smallest node) and the cluster selection (``eom`` keeps the most
persistent clusters, ``leaf`` the finest). No single value fits a 300-patent domain and a
300,000-patent one, so each domain is fitted with every candidate of a small grid —
``min_cluster_size`` at each share of ``cluster.granularity_shares`` of the domain (at
least ``cluster.min_node_patents``) × the selections — each followed by the oversized-node
split (:mod:`techscreen.cluster.split`), under ``cluster.stability_runs`` k-means seeds.

**Criterion: reproducibility across seeds.** A candidate's score is the mean adjusted Rand
index between its labellings of the same sampled patents under the different seeds (noise
counted as one group), times the share of patents it places in a node. A partition that
changes when only the k-means seed changes describes the seed, not the patents
(Ben-Hur, Elisseeff & Guyon 2002; Lange et al. 2004), and the coverage factor keeps a
candidate from looking stable by calling half the domain noise. The criterion uses no
classification codes on purpose: IPC/CPC agreement is what the validity benchmark
(``bench/validity.py``) measures, so it must not also pick the parameters. Ties go to the
finer candidate (smaller ``min_cluster_size``). Setting ``cluster.min_cluster_size`` and
``cluster.selection`` fixes the candidate (the sweep then has one row and only measures its
stability).

Every candidate's figures (nodes, noise, largest node share, stability, score) are logged to
MLflow by the cluster stage, so a user sees what the choice was between.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import adjusted_rand_score

from techscreen.cluster.density import weighted_hdbscan
from techscreen.cluster.micro import MicroClusters
from techscreen.cluster.split import Partition, SplitResult, SplitRule, split_oversized
from techscreen.config import ClusterSettings


@dataclass(frozen=True)
class Candidate:
    """One setting of the density step's grain."""

    selection: str
    min_cluster_size: int
    min_samples: int

    @property
    def name(self) -> str:
        """Short name for logs and metrics, e.g. ``eom-17``."""
        return f"{self.selection}-{self.min_cluster_size}"


def candidates(n: int, s: ClusterSettings) -> list[Candidate]:
    """The grid for a domain of ``n`` patents (one candidate where settings fix both knobs)."""
    selections = ["eom", "leaf"] if s.selection == "auto" else [s.selection]
    shares = sorted(s.granularity_shares)
    if s.stability_runs < 2:  # nothing to score a sweep by: the default grain
        selections, shares = selections[:1], [shares[len(shares) // 2]]
    if s.min_cluster_size:
        sizes = [s.min_cluster_size]
    else:
        sizes = sorted({max(s.min_node_patents, round(f * n)) for f in shares})
    return [
        Candidate(sel, size, s.min_samples or size)
        for sel, size in itertools.product(selections, sizes)
    ]


@dataclass(frozen=True)
class NodeFit:
    """One candidate fitted under one seed: the partition after splitting."""

    candidate: Candidate
    result: SplitResult
    single_cluster: bool

    @property
    def partition(self) -> Partition:
        """The final partition of the micro-clusters."""
        return self.result.partition


def fit_candidate(
    z: np.ndarray,
    micro: MicroClusters,
    points: tuple[np.ndarray, np.ndarray],
    candidate: Candidate,
    n: int,
    s: ClusterSettings,
    seed: int,
) -> NodeFit:
    """Weighted HDBSCAN over the micro-clusters, then the oversized nodes split.

    Args:
        z: the sample in the clustering space.
        micro: its micro-clusters.
        points: the coordinates HDBSCAN reads for each micro-cluster and their radii (the
            centroids themselves, or their UMAP embedding).
        candidate: the grain.
        n: patents in the domain.
        s: cluster settings (split cap and depth, k-means iterations).
        seed: k-means seed of the splits.
    """
    coords, radii = points
    density = weighted_hdbscan(
        coords,
        micro.weights,
        candidate.min_cluster_size,
        candidate.min_samples,
        radii,
        candidate.selection,
    )
    rule = SplitRule(
        max_share=s.max_node_share,
        min_cluster_size=candidate.min_cluster_size,
        min_samples=candidate.min_samples,
        iterations=s.kmeans_iterations,
        max_depth=s.max_split_depth,
    )
    part = Partition(micro, density.labels, density.strengths)
    return NodeFit(candidate, split_oversized(z, part, n, rule, seed), density.single_cluster)


def describe(fit: NodeFit, n: int) -> dict[str, float | int | str]:
    """A candidate's shape: nodes, noise share, largest node share, splits."""
    part = fit.partition
    labels = part.patent_nodes()
    found = int(part.node.max()) + 1 if (part.node >= 0).any() else 0
    largest = max((part.node_weight(c) for c in range(found)), default=0.0)
    return {
        "candidate": fit.candidate.name,
        "selection": fit.candidate.selection,
        "min_cluster_size": fit.candidate.min_cluster_size,
        "n_nodes": found,
        "noise": round(float((labels < 0).mean()), 4) if len(labels) else 0.0,
        "largest_share": round(largest / n, 4) if n else 0.0,
        "splits": fit.result.splits,
    }


def stability(labellings: list[np.ndarray]) -> float | None:
    """Mean ARI over every pair of labellings of the same patents (None with fewer than 2)."""
    pairs = list(itertools.combinations(labellings, 2))
    if not pairs:
        return None
    return round(float(np.mean([adjusted_rand_score(a, b) for a, b in pairs])), 4)


@dataclass(frozen=True)
class Choice:
    """The chosen candidate's fit under the first seed, and the sweep's table."""

    fit: NodeFit
    rows: list[dict]
    stability_ari: float | None


def choose(fits: dict[Candidate, list[NodeFit]], n: int) -> Choice:
    """The candidate whose nodes are most reproducible across seeds (see module doc).

    Args:
        fits: each candidate's fits, one per seed, the first seed first.
        n: patents in the domain.
    """
    rows = []
    for runs in fits.values():
        row = describe(runs[0], n)
        row["stability_ari"] = stability([f.partition.patent_nodes() for f in runs])
        row["score"] = (
            round(row["stability_ari"] * (1.0 - row["noise"]), 4)
            if row["stability_ari"] is not None
            else None
        )
        rows.append(row)
    order = sorted(
        range(len(rows)),
        key=lambda i: (
            -(rows[i]["score"] if rows[i]["score"] is not None else -np.inf),
            rows[i]["min_cluster_size"],
            rows[i]["selection"] != "eom",
        ),
    )
    best = order[0]
    for i, row in enumerate(rows):
        row["chosen"] = i == best
    chosen = list(fits)[best]
    return Choice(fits[chosen][0], rows, rows[best]["stability_ari"])
