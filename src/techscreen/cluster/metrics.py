"""Clustering quality on a driver-side sample: DBCV, silhouette, NMI/AMI, seed stability.

* ``dbcv``: density-based clustering validation (Moulavi et al. 2014, the ``hdbscan``
  library's ``validity_index``) in the clustering space, noise excluded, −1 … 1;
* ``silhouette``: cosine silhouette of the non-noise patents, −1 … 1;
* ``nmi`` / ``ami``: (adjusted) mutual information between nodes and the patents' main
  IPC/CPC subclass, over patents that have one — noise counts as one more group, so a
  clustering cannot score well by calling its hard cases noise;
* ``stability_ari``: adjusted Rand index between the sample's labels under two seeds.

A measure that is undefined for the sample (fewer than two nodes, say) is None, not 0.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.metrics import (
    adjusted_mutual_info_score,
    adjusted_rand_score,
    normalized_mutual_info_score,
    silhouette_score,
)


def _rounded(value: float) -> float | None:
    return round(float(value), 4) if np.isfinite(value) else None


def dbcv(z: np.ndarray, labels: np.ndarray) -> float | None:
    """DBCV of the labelled sample; None with fewer than two nodes of at least 3 patents."""
    from hdbscan.validity import validity_index

    labels = labels.copy()
    sizes = np.bincount(labels[labels >= 0]) if (labels >= 0).any() else np.zeros(0, int)
    small = np.flatnonzero(sizes < 3)
    labels[np.isin(labels, small)] = -1
    if len(np.unique(labels[labels >= 0])) < 2:
        return None
    keep = labels >= 0
    _, labels[keep] = np.unique(labels[keep], return_inverse=True)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return _rounded(validity_index(z.astype(np.float64), labels, metric="euclidean"))


def silhouette(z: np.ndarray, labels: np.ndarray, seed: int) -> float | None:
    """Cosine silhouette of non-noise patents; None unless 2 ≤ nodes < patents."""
    keep = labels >= 0
    found = len(np.unique(labels[keep]))
    if found < 2 or found >= keep.sum():
        return None
    return _rounded(silhouette_score(z[keep], labels[keep], metric="cosine", random_state=seed))


def agreement_with_classes(
    labels: np.ndarray, classes: Sequence[str | None]
) -> dict[str, float | None]:
    """NMI and AMI between nodes (noise as one group) and main subclasses, where known."""
    known = np.array([c is not None for c in classes])
    if known.sum() < 2:
        return {"nmi": None, "ami": None}
    truth = np.array([c for c in classes if c is not None])
    found = labels[known]
    return {
        "nmi": _rounded(normalized_mutual_info_score(truth, found)),
        "ami": _rounded(adjusted_mutual_info_score(truth, found)),
    }


def stability(first: np.ndarray, second: np.ndarray) -> float | None:
    """ARI between two labellings of the same patents (noise as one group)."""
    return _rounded(adjusted_rand_score(first, second)) if len(first) else None
