"""Fitting a domain's nodes: sizes, projection, k-means + HDBSCAN, assignment."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import normalized_mutual_info_score

from techscreen.cluster.model import fit_model, fit_projection, sizing
from techscreen.config import ClusterSettings


def _topics(n=3000, dims=48, centers=6, seed=0):
    x, y = make_blobs(n, n_features=dims, centers=centers, cluster_std=3.0, random_state=seed)
    return x.astype(np.float32), y


def test_automatic_sizes_grow_with_the_domain_and_settings_win():
    small, large = sizing(900, ClusterSettings()), sizing(1_000_000, ClusterSettings())
    assert (small.k, small.sample_size, small.min_cluster_size) == (30, 900, 10)
    assert large.k == 1000 and large.sample_size == 64_000 and large.min_cluster_size == 10_000
    assert large.min_samples == large.min_cluster_size
    fixed = sizing(1_000_000, ClusterSettings(k=100, sample_size=5000, min_cluster_size=50))
    assert (fixed.k, fixed.sample_size, fixed.min_cluster_size) == (100, 5000, 50)
    assert sizing(3, ClusterSettings()).k == 3  # never more micro-clusters than patents


def test_pca_projection_is_deterministic_and_unit_length():
    x, _ = _topics()
    first, second = fit_projection(x, "pca", 16), fit_projection(x[::-1].copy(), "pca", 16)
    z1, z2 = first.apply(x), second.apply(x)
    assert z1.shape == (len(x), 16)
    np.testing.assert_allclose(np.linalg.norm(z1, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(z1, z2, atol=1e-4)  # row order does not matter
    assert fit_projection(x, "none", 16).apply(x).shape == x.shape


@pytest.mark.parametrize("reducer", ["none", "pca", "umap"])
def test_fit_recovers_planted_topics(reducer):
    x, y = _topics()
    model, info = fit_model(x, ClusterSettings(reducer=reducer, dims=8), len(x), seed=0)
    got = model.assign(x)
    assert model.n_nodes == 6 and not info.message
    assert normalized_mutual_info_score(y, got.node) > 0.95
    weights = [np.sum(got.node == i) for i in range(model.n_nodes)]
    assert weights == sorted(weights, reverse=True)  # node 0 is the largest
    assert ((got.distance >= 0) & (got.distance <= 2)).all()


def test_fit_is_deterministic_for_a_seed():
    x, _ = _topics(seed=1)
    a, _ = fit_model(x, ClusterSettings(), len(x), seed=3)
    b, _ = fit_model(x, ClusterSettings(), len(x), seed=3)
    np.testing.assert_array_equal(a.assign(x).node, b.assign(x).node)
    np.testing.assert_array_equal(a.micro, b.micro)


def test_noise_is_reassigned_only_within_the_threshold():
    x, _ = _topics(n=2000, centers=3, seed=2)
    outliers = np.random.default_rng(0).normal(0, 30, size=(60, x.shape[1])).astype(np.float32)
    data = np.vstack([x, outliers])
    kept = ClusterSettings(reducer="none", noise_join_quantile=0)
    base, _ = fit_model(data, kept, len(data), seed=0)
    noise = base.assign(data)
    assert (noise.node == -1).any()
    assert (noise.strength[noise.node == -1] == 0).all()
    threshold = float(np.median(noise.distance[noise.node == -1]))
    lenient, _ = fit_model(
        data, kept.model_copy(update={"reassign_noise": threshold}), len(data), seed=0
    )
    after = lenient.assign(data)
    joined = (noise.node == -1) & (after.node >= 0)
    assert joined.any() and (after.distance[joined] <= threshold).all()
    assert (after.node[(noise.node == -1) & (noise.distance > threshold)] == -1).all()
    assert not after.member[joined].any()


def test_model_pickles_without_its_index():
    x, _ = _topics(n=800)
    model, _ = fit_model(x, ClusterSettings(), len(x), seed=0)
    before = model.assign(x).node  # builds the FAISS index
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(clone.assign(x).node, before)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (np.ones((1, 8), np.float32), "fewer than min_cluster_size"),
        (np.ones((5, 8), np.float32), "fewer than min_cluster_size"),
        (np.ones((40, 8), np.float32), "one node"),
    ],
)
def test_small_and_identical_domains_give_empty_or_single_node(rows, message):
    model, info = fit_model(rows, ClusterSettings(), len(rows), seed=0)
    assert message in info.message
    got = model.assign(rows).node
    assert set(got) == ({-1} if model.n_nodes == 0 else {0})
    assert model.n_nodes in (0, 1)


def test_noise_joins_a_node_within_the_spread_of_its_own_members():
    from techscreen.cluster.micro import normalise
    from techscreen.cluster.model import NodeModel, Projection, join_radii

    e = np.eye(5, dtype=np.float32)
    micro = normalise(np.stack([e[0], e[1], e[0] + 0.6 * e[2], e[3]]))  # 3rd, 4th: noise
    model = NodeModel(Projection(), micro, np.array([0, 1, -1, -1]), np.ones(4), e[:2])
    # members spread away from their node along e4, where no micro-centroid lies
    t = np.linspace(0.0, 0.5, 50)[:, None]
    members = np.vstack([normalise(e[0] + t * e[4]), normalise(e[1] + t / 7 * e[4])])
    radius = join_radii(model, members, ClusterSettings(noise_join_quantile=0.9))
    cosine_distance = 1 - 1 / np.sqrt(1 + t[:, 0] ** 2)
    assert radius[0] == pytest.approx(np.quantile(cosine_distance, 0.9), rel=1e-4)
    assert radius[1] < 0.01
    assert join_radii(model, members, ClusterSettings(noise_join_quantile=0)) is None
    fixed = join_radii(model, members, ClusterSettings(reassign_noise=0.3))
    assert fixed.tolist() == pytest.approx([0.3, 0.3])

    model.join_radius = radius
    fringe = normalise(np.stack([e[0] + 0.4 * e[2], e[0] + 0.7 * e[2], e[1] + 1.5 * e[3]]))
    got = model.assign(fringe)
    # within node 0's spread: joins (not a density member); farther out, or beside the tight
    # node 1: stays noise
    assert got.node.tolist() == [0, -1, -1]
    assert not got.member.any() and (got.strength == 0).all()
