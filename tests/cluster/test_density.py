"""Weighted HDBSCAN: equal to the hdbscan library at unit weights, and weights count."""

from __future__ import annotations

import hdbscan
import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from techscreen.cluster.density import core_distances, weighted_hdbscan


@pytest.mark.parametrize(
    ("seed", "min_cluster_size", "min_samples"),
    [(0, 10, 10), (1, 25, 5), (2, 40, 40), (4, 10, 10), (4, 25, 5)],
)
def test_unit_weights_reproduce_the_library(seed, min_cluster_size, min_samples):
    x, _ = make_blobs(600, centers=6, cluster_std=[0.5, 1, 1.5, 0.8, 2, 0.3], random_state=seed)
    reference = hdbscan.HDBSCAN(
        min_cluster_size=min_cluster_size, min_samples=min_samples, algorithm="generic"
    ).fit(x)
    # The library's min_samples excludes the point itself; ours counts its own weight.
    ours = weighted_hdbscan(x, np.ones(len(x)), min_cluster_size, min_samples + 1)
    # The library may select a cluster of zero stability (born and split at one density); by
    # design ours never does (see density.py): those points are noise on both sides.
    flat = np.flatnonzero(reference.cluster_persistence_ == 0)
    expected = np.where(np.isin(reference.labels_, flat), -1, reference.labels_)
    assert len(set(ours.labels) - {-1}) == len(set(expected) - {-1})
    assert adjusted_rand_score(expected, ours.labels) > 0.99
    assert np.mean((expected == -1) == (ours.labels == -1)) > 0.995


def test_weights_decide_what_is_big_enough():
    rng = np.random.default_rng(0)
    groups = [rng.normal(centre, 0.05, size=(3, 2)) for centre in ((0, 0), (5, 5), (60, 60))]
    points = np.vstack(groups)
    weights = np.array([100.0] * 6 + [1.0] * 3)  # two heavy groups, one light group
    result = weighted_hdbscan(points, weights, min_cluster_size=150, min_samples=50)
    assert len(set(result.labels[:3])) == 1 and len(set(result.labels[3:6])) == 1
    assert result.labels[0] != result.labels[3] and result.labels[0] >= 0
    assert (result.labels[6:] == -1).all()  # 3 patents are not a node of 150
    unweighted = weighted_hdbscan(points, np.ones(9), min_cluster_size=150, min_samples=50)
    assert (unweighted.labels == -1).all()


def test_core_distance_counts_weight_and_respects_the_radius():
    distances = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 1.5], [2.0, 1.5, 0.0]])
    weights = np.array([5.0, 3.0, 10.0])
    core = core_distances(distances, weights, min_samples=8, radii=np.zeros(3))
    assert core.tolist() == [1.0, 1.0, 0.0]  # point 2 alone weighs 10 ≥ 8
    floored = core_distances(distances, weights, min_samples=8, radii=np.array([0, 0, 0.4]))
    assert floored[2] == pytest.approx(0.4)


def test_strengths_are_in_unit_range_and_noise_is_zero():
    x, _ = make_blobs(300, centers=3, random_state=3)
    result = weighted_hdbscan(x, np.ones(len(x)), 15, 5)
    assert ((result.strengths >= 0) & (result.strengths <= 1)).all()
    assert (result.strengths[result.labels == -1] == 0).all()
    for label in set(result.labels) - {-1}:
        assert result.strengths[result.labels == label].max() == pytest.approx(1.0)


@pytest.mark.parametrize("n", [0, 1, 2])
def test_tiny_inputs(n):
    result = weighted_hdbscan(np.zeros((n, 2)), np.full(n, 20.0), min_cluster_size=10)
    assert len(result.labels) == n
    if n:
        assert (result.labels == 0).all()  # heavy enough together: one node


def test_identical_points_form_one_cluster_without_infinities():
    result = weighted_hdbscan(np.ones((50, 4)), np.ones(50), min_cluster_size=5)
    assert set(result.labels) == {0}
    assert np.isfinite(result.strengths).all()
