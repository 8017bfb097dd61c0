"""Oversized nodes: split when they hold separate topics, kept whole when homogeneous."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from techscreen.cluster.granularity import candidates, choose, fit_candidate, stability
from techscreen.cluster.micro import micro_clusters, normalise
from techscreen.cluster.model import fit_model
from techscreen.cluster.split import Partition, SplitRule, split_oversized
from techscreen.config import ClusterSettings

RULE = SplitRule(max_share=0.15, min_cluster_size=10, min_samples=10)


def _unit_blobs(n, centers, std=3.0, seed=0, dims=32):
    x, y = make_blobs(n, n_features=dims, centers=centers, cluster_std=std, random_state=seed)
    return normalise(x), y


def _one_node(z, seed=0):
    """Every micro-cluster in node 0: the domain-level fit merged everything."""
    micro = micro_clusters(z, 24, 25, seed, 1.0)
    k = len(micro.centroids)
    return Partition(micro, np.zeros(k, dtype=int), np.ones(k))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_node_of_two_planted_topics_is_split_along_them(seed):
    z, topic = _unit_blobs(600, 2, seed=seed)
    result = split_oversized(z, _one_node(z, seed), len(z), RULE, seed)
    labels = result.partition.patent_nodes()
    assert result.splits == 1
    assert adjusted_rand_score(topic, labels) > 0.95
    assert (labels >= 0).all()  # the split node's members stay members
    # each topic is half the domain, over the cap, but one blob: kept whole, with the reason
    assert sorted(k.share for k in result.kept_whole) == [0.5, 0.5]
    assert all("homogeneous" in k.reason for k in result.kept_whole)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_homogeneous_node_is_kept_whole_with_its_reason(seed):
    z, _ = _unit_blobs(600, 1, seed=seed)
    part = _one_node(z, seed)
    result = split_oversized(z, part, len(z), RULE, seed)
    assert result.splits == 0
    (kept,) = result.kept_whole
    assert kept.node == 0 and kept.share == pytest.approx(1.0)
    assert "homogeneous" in kept.reason
    assert (result.partition.patent_nodes() == 0).all()


def test_nodes_under_the_cap_are_left_alone_and_the_cap_can_be_switched_off():
    z, _ = _unit_blobs(600, 2, seed=3)
    part = _one_node(z)
    assert split_oversized(z, part, len(z), SplitRule(0.0, 10, 10), 0).splits == 0
    assert split_oversized(z, part, 10 * len(z), RULE, 0).splits == 0  # 10% of a larger domain


def test_a_node_too_small_for_two_nodes_is_kept_whole():
    z, _ = _unit_blobs(19, 2, seed=0)
    result = split_oversized(z, _one_node(z), len(z), RULE, 0)
    assert result.splits == 0
    assert "cannot hold two nodes" in result.kept_whole[0].reason


def test_splitting_recurses_until_every_node_is_under_the_cap():
    # four tight topics in two far-apart pairs: one split finds the pairs, the next the topics
    rng = np.random.default_rng(0)
    pairs = rng.normal(size=(2, 32)) * 10
    centres = np.vstack([p + rng.normal(size=(2, 32)) * 3 for p in pairs])
    x, topic = make_blobs(800, centers=centres, cluster_std=0.6, random_state=0)
    z = normalise(x)
    result = split_oversized(z, _one_node(z), len(z), SplitRule(0.3, 10, 10), 0)
    labels = result.partition.patent_nodes()
    assert adjusted_rand_score(topic, labels) > 0.95
    weights = [result.partition.node_weight(c) for c in np.unique(labels)]
    assert max(weights) <= 0.3 * len(z)


def test_domain_fit_caps_node_size_unless_a_node_is_kept_whole():
    # one broad topic region of two sub-topics (60%) beside five small topics
    rng = np.random.default_rng(1)
    region = rng.normal(size=32) * 8
    centres = np.vstack([region + rng.normal(size=(2, 32)) * 2.5, rng.normal(size=(5, 32)) * 8])
    sizes = [600, 600] + [160] * 5
    x, topic = make_blobs(sizes, centers=centres, cluster_std=1.0, random_state=1)
    s = ClusterSettings(reducer="none")
    model, info = fit_model(x.astype(np.float32), s, len(x), seed=0)
    nodes = model.assign(x).node
    shares = np.bincount(nodes[nodes >= 0]) / len(x)
    kept = {k.node for k in info.kept_whole}
    assert all(share <= s.max_node_share or i in kept for i, share in enumerate(shares))
    assert adjusted_rand_score(topic, nodes) > 0.9
    capped_off, _ = fit_model(
        x.astype(np.float32), s.model_copy(update={"max_node_share": 0}), len(x), 0
    )
    assert capped_off.n_nodes <= model.n_nodes


def test_the_sweep_grid_follows_the_settings():
    auto = candidates(2000, ClusterSettings())
    assert {c.selection for c in auto} == {"eom", "leaf"}
    assert sorted({c.min_cluster_size for c in auto}) == [10, 20, 40]
    assert [c.min_cluster_size for c in candidates(500, ClusterSettings())][:1] == [10]  # floor
    fixed = candidates(2000, ClusterSettings(min_cluster_size=25, selection="leaf"))
    assert [(c.selection, c.min_cluster_size) for c in fixed] == [("leaf", 25)]
    one_seed = candidates(2000, ClusterSettings(stability_runs=1))
    assert [(c.selection, c.min_cluster_size) for c in one_seed] == [("eom", 20)]


def test_stability_is_one_for_identical_labellings_and_near_zero_for_random_ones():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, 2000)
    assert stability([a, a.copy(), a.copy()]) == 1.0
    assert abs(stability([a, rng.integers(0, 5, 2000)])) < 0.02
    assert stability([a]) is None


def test_choose_prefers_the_candidate_that_reproduces_across_seeds():
    z, _ = _unit_blobs(1200, 4, std=2.0, seed=4)
    s = ClusterSettings(max_node_share=0)
    grid = candidates(len(z), s)
    fits = {c: [] for c in grid}
    for seed in range(3):
        micro = micro_clusters(z, 35, 25, seed, 1.0)
        for c in grid:
            fits[c].append(
                fit_candidate(z, micro, (micro.centroids, micro.radii), c, len(z), s, seed)
            )
    choice = choose(fits, len(z))
    chosen = [r for r in choice.rows if r["chosen"]]
    assert len(chosen) == 1 and len(choice.rows) == len(grid)
    assert chosen[0]["score"] == max(r["score"] for r in choice.rows)
    assert choice.stability_ari == chosen[0]["stability_ari"] > 0.9


def test_the_gaussian_test_tells_one_blob_from_two_and_matches_scipy():
    from scipy import stats

    from techscreen.cluster.split import GAUSSIAN_CRITICAL, main_axis_anderson_darling

    line = np.random.default_rng(0).normal(size=(500, 1))
    expected = stats.anderson(line[:, 0], "norm").statistic * (1 + 4 / 500 - 25 / 500**2)
    assert main_axis_anderson_darling(line) == pytest.approx(expected, rel=1e-6)
    for dims in (8, 64):
        one, _ = _unit_blobs(1000, 1, dims=dims)
        two, _ = _unit_blobs(1000, 2, dims=dims)
        assert main_axis_anderson_darling(one) < GAUSSIAN_CRITICAL < main_axis_anderson_darling(two)


def test_a_skewed_node_without_density_valleys_is_still_cut_in_two():
    # one long, lopsided ridge: not a Gaussian, yet no density gap for HDBSCAN to find
    rng = np.random.default_rng(5)
    t = rng.exponential(1.0, size=(800, 1))
    x = np.hstack([t * 4.0, rng.normal(size=(800, 31)) * 0.3])
    z = normalise(x + np.r_[5.0, np.zeros(31)])
    result = split_oversized(z, _one_node(z), len(z), RULE, 0)
    assert result.splits >= 1
    assert max(result.partition.node_weight(c) for c in set(result.partition.node)) < len(z)


def test_a_domain_in_two_spaces_reports_its_largest_node_over_all_its_patents():
    from techscreen.stages.cluster import _by_space

    # English space: 300 patents, largest node 20% of them (60); Chinese: 100, largest 50 (50%).
    en = {"n_nodes": 5, "micro_clusters": 40, "sample": 300, "kept_whole": 1}
    zh = {"n_nodes": 2, "micro_clusters": 10, "sample": 100, "kept_whole": 0}
    got = _by_space(
        {"en": {**en, "largest_node_share": 0.2}, "zh": {**zh, "largest_node_share": 0.5}},
        {"en": 300, "zh": 100},
    )
    assert got["largest_node_share"] == 0.15  # 60 of 400, not the size-weighted mean 0.275
    assert got["kept_whole"] == 1 and got["n_nodes"] == 7


def test_the_node_size_cap_of_a_vector_space_is_a_share_of_the_whole_domain():
    from techscreen.config import ClusterSettings
    from techscreen.stages.cluster import _capped_by_domain

    c = ClusterSettings(max_node_share=0.15)
    # 100 Chinese patents of a 400-patent domain: a node may hold 60 of them (15% of 400)
    assert _capped_by_domain(c, 100, 400).max_node_share == 0.6
    assert _capped_by_domain(c, 400, 400).max_node_share == 0.15
    assert _capped_by_domain(c, 20, 400).max_node_share == 1.0
