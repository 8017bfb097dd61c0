"""Micro-clusters: FAISS spherical k-means centroids that stand for many patents each.

HDBSCAN runs over these centroids, not over the patents (:mod:`techscreen.cluster.density`),
so each carries its weight (the patents it stands for), its radius (the spread of its
members, a floor on its density) and which sampled vectors fell into it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import faiss
import numpy as np


def normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as C-contiguous float32."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.where(norms > 0, norms, 1.0), dtype=np.float32)


_SMALL_KMEANS = 5_000_000
"""Below this many vector × centroid products per iteration k-means runs on one thread:
OpenMP's start-up and spin-waits cost more than the work (100× more for 500 × 22 on 2 busy
cores), and the splits and the seed sweep run many such small fits."""


@contextmanager
def _threads(count: int | None) -> Iterator[None]:
    """FAISS's OpenMP threads set to ``count`` for the block (None: unchanged)."""
    if count is None:
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(count)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def spherical_kmeans(z: np.ndarray, k: int, iterations: int, seed: int) -> np.ndarray:
    """FAISS spherical k-means on unit vectors → unit centroids (empty ones dropped)."""
    with _threads(1 if len(z) * k < _SMALL_KMEANS else None):
        return _train(z, k, iterations, seed)


def _train(z: np.ndarray, k: int, iterations: int, seed: int) -> np.ndarray:
    kmeans = faiss.Kmeans(
        z.shape[1],
        k,
        niter=iterations,
        seed=seed,
        spherical=True,
        min_points_per_centroid=1,
        max_points_per_centroid=len(z),  # train on the whole sample: it is already sampled
    )
    kmeans.train(z)
    return normalise(kmeans.centroids)


@dataclass(frozen=True)
class MicroClusters:
    """Unit centroids with the patents they stand for.

    Attributes:
        centroids: (k, dims) unit centroids.
        weights: (k,) patents each centroid stands for (its sampled members × the
            sample's scale).
        radii: (k,) root-mean-square chord distance of the members to their centroid.
        member: (sample,) the micro-cluster of each sampled vector.
    """

    centroids: np.ndarray
    weights: np.ndarray
    radii: np.ndarray
    member: np.ndarray


def micro_clusters(
    z: np.ndarray, k: int, iterations: int, seed: int, scale: float
) -> MicroClusters:
    """Spherical k-means of the unit vectors ``z`` into at most ``k`` non-empty clusters.

    Args:
        z: unit vectors (a sample).
        k: micro-clusters wanted (at most ``len(z)``).
        iterations: k-means iterations.
        seed: k-means seed.
        scale: patents each sampled vector stands for (domain size ÷ sample size).
    """
    micro = spherical_kmeans(z, min(k, len(z)), iterations, seed)
    while True:  # faiss may leave a centroid empty; dropping one can empty no other for long
        sims = z @ micro.T
        member = sims.argmax(axis=1)
        counts = np.bincount(member, minlength=len(micro))
        if (counts > 0).all():
            break
        micro = micro[counts > 0]
    spread = np.sqrt(np.clip(2.0 - 2.0 * sims[np.arange(len(z)), member], 0.0, None))
    radii = np.sqrt(np.bincount(member, weights=spread**2, minlength=len(micro)) / counts)
    return MicroClusters(micro, counts * scale, radii, member)
