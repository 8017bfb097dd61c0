"""Update mode's pure parts: a saved model assigns as the fitted one, and the drift rules."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from techscreen.cluster.model import fit_model
from techscreen.cluster.model_files import SavedModel, load_domain_model, save_domain_model
from techscreen.cluster.spaces import DomainModel
from techscreen.cluster.update import DomainDrift, fit_fingerprint, recluster_reason
from techscreen.config import ClusterSettings, ClusterUpdateSettings


def _fitted(dims: int, reducer: str, seed: int) -> tuple[np.ndarray, DomainModel]:
    x, _ = make_blobs(600, n_features=dims, centers=4, cluster_std=2.0, random_state=seed)
    x = x.astype(np.float32)
    model, _ = fit_model(x, ClusterSettings(reducer=reducer, dims=8), len(x), seed=0)
    return x, model


def test_a_saved_model_assigns_exactly_as_the_fitted_one(tmp_path):
    x, projected = _fitted(16, "pca", 1)  # a PCA projection and join radii
    y, plain = _fitted(8, "none", 2)  # no projection
    model = DomainModel({"minilm-int8-a": projected, "lexical-zh-b": plain})
    path = save_domain_model(SavedModel(model, "run1", "print"), tmp_path / "energy.npz")
    back = load_domain_model(path)
    assert (back.fitted_in, back.settings) == ("run1", "print")
    assert list(back.model.spaces) == ["minilm-int8-a", "lexical-zh-b"]
    assert back.model.n_nodes == model.n_nodes
    for space, vectors in (("minilm-int8-a", x), ("lexical-zh-b", y)):
        want, got = model.assign(vectors, space), back.model.assign(vectors, space)
        np.testing.assert_array_equal(got.node, want.node)
        np.testing.assert_array_equal(got.distance, want.distance)
        np.testing.assert_array_equal(got.strength, want.strength)
    assert back.model.spaces["lexical-zh-b"].projection.components is None
    with np.load(path, allow_pickle=False) as data:  # plain arrays: nothing to unpickle
        assert all(data[k].dtype != object for k in data.files)


def test_the_settings_print_ignores_what_does_not_change_a_fit():
    base = ClusterSettings()
    assert fit_fingerprint(base) == fit_fingerprint(
        ClusterSettings(domains=["energy"], update=ClusterUpdateSettings(enabled=True))
    )
    assert fit_fingerprint(base) != fit_fingerprint(ClusterSettings(dims=32))
    assert fit_fingerprint(base) != fit_fingerprint(ClusterSettings(seed=1))


def test_drift_is_the_excess_of_noise_among_the_new_patents():
    drift = DomainDrift(previous_patents=200, previous_noise=40, new_patents=50, new_noise=20)
    assert drift.assigned == 30
    assert drift.drift == pytest.approx(20 / 50 - 40 / 200)  # 0.4 - 0.2
    assert drift.growth == pytest.approx(0.25)
    assert DomainDrift(100, 10, 0, 0).drift == 0.0  # nothing new, nothing drifts


@pytest.mark.parametrize(
    ("drift", "settings", "why"),
    [
        (DomainDrift(200, 40, 50, 10), ClusterUpdateSettings(), ""),  # 0.0 excess
        (DomainDrift(200, 40, 50, 16), ClusterUpdateSettings(), "drift 0.120 >"),
        (DomainDrift(200, 40, 50, 16), ClusterUpdateSettings(max_drift=0.15), ""),
        (DomainDrift(200, 40, 120, 24), ClusterUpdateSettings(), "growth 0.600 >"),
        (DomainDrift(200, 40, 50, 10), ClusterUpdateSettings(force_recluster=True), "forced"),
        (DomainDrift(200, 40, 50, 10), ClusterUpdateSettings(force_recluster=["energy"]), "forced"),
        (DomainDrift(200, 40, 50, 10), ClusterUpdateSettings(force_recluster=["medicine"]), ""),
    ],
)
def test_a_domain_is_reclustered_only_when_a_rule_says_so(drift, settings, why):
    got = recluster_reason("energy", drift, settings)
    assert got.startswith(why) if why else got == ""
