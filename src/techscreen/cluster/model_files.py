"""A domain's fitted node models as one NumPy ``.npz`` file: saved by every clustering run.

The cluster stage logs each domain's :class:`~techscreen.cluster.spaces.DomainModel` as an
MLflow artifact (``models/<domain>.npz``) so that a later run in update mode can assign new
patents to the same nodes (:mod:`techscreen.cluster.update`). Plain arrays only: the file
is read with ``allow_pickle=False``, so loading it runs no code (see the README's *Safe by
default*). Besides the arrays a file records the run the model was fitted in and a
fingerprint of the settings it was fitted with.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from techscreen.cluster.model import NodeModel, Projection
from techscreen.cluster.spaces import DomainModel

_ARRAYS = ("micro", "micro_node", "micro_strength", "nodes")
_OPTIONAL = ("join_radius",)


@dataclass(frozen=True)
class SavedModel:
    """A domain's model as read back, with where and how it was fitted.

    Attributes:
        model: the node models per vector space, in node-numbering order.
        fitted_in: the MLflow run id of the clustering that fitted it.
        settings: :func:`techscreen.cluster.update.fit_fingerprint` of its fit settings.
    """

    model: DomainModel
    fitted_in: str
    settings: str


def save_domain_model(saved: SavedModel, path: Path) -> Path:
    """Write ``saved`` to ``path`` (``.npz``, no pickles)."""
    arrays: dict[str, np.ndarray] = {
        "spaces": np.array(list(saved.model.spaces), dtype=str),
        "fitted_in": np.array(saved.fitted_in, dtype=str),
        "settings": np.array(saved.settings, dtype=str),
    }
    for i, model in enumerate(saved.model.spaces.values()):
        if model.projection.components is not None:
            arrays[f"{i}.mean"] = model.projection.mean
            arrays[f"{i}.components"] = model.projection.components
        for name in (*_ARRAYS, *_OPTIONAL):
            value = getattr(model, name)
            if value is not None:
                arrays[f"{i}.{name}"] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        np.savez(f, **arrays)
    return path


def load_domain_model(path: Path) -> SavedModel:
    """Read a file written by :func:`save_domain_model`."""
    with np.load(path, allow_pickle=False) as data:
        spaces = {}
        for i, space in enumerate(data["spaces"].tolist()):
            projection = Projection()
            if f"{i}.components" in data:
                projection = Projection(data[f"{i}.mean"], data[f"{i}.components"])
            spaces[space] = NodeModel(
                projection,
                **{name: data[f"{i}.{name}"] for name in _ARRAYS},
                **{name: data[f"{i}.{name}"] for name in _OPTIONAL if f"{i}.{name}" in data},
            )
        return SavedModel(DomainModel(spaces), str(data["fitted_in"]), str(data["settings"]))
