"""Logging a ``lexical-zh`` model folder to MLflow as a model, with its corpus fingerprint.

MLflow 3 records models as *logged models* of an experiment: this creates one linked to the
run that fitted or used it (``source_run_id``), uploads the model folder (weights, config
and the README model card) as its artifacts, marks it READY and records it as an output of
the run. Params are the fit parameters; tags carry the training-corpus fingerprint and the
embedder id, so a vector partition traces back to the corpus its model was fitted on.

A model is uploaded once per embedder id and experiment: a later run using the same model
records the logged model as its output again, without a second copy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from techscreen.embed.lexical import CARD_JSON, KIND, PARAMS, LexicalEmbedder

MODEL_TYPE = "embedder"
# The tags a logged lexical model carries (and the run gets too).
TAG_CORPUS = "techscreen.corpus_sha256"
TAG_EMBEDDER_ID = "techscreen.embedder_id"


def log_lexical_model(
    client: Any, run_id: str, folder: str | Path, *, max_tokens: int = 256, name: str = KIND
) -> str:
    """Log the model in ``folder`` as an MLflow logged model of run ``run_id`` (once per id).

    Args:
        client: an ``mlflow.tracking.MlflowClient``.
        run_id: the run that fitted or used the model (its experiment holds the model).
        folder: a model folder written by :func:`techscreen.embed.lexical.build_lexical`.
        max_tokens: the embedder's ``max_tokens`` (part of the ``embedder_id`` tagged).
        name: the logged model's name.

    Returns:
        The logged model's id (``m-…``): an earlier READY one of the same embedder id in the
        run's experiment, if there is one.

    Raises:
        FileNotFoundError: if ``folder`` holds no lexical-zh model.
    """
    from mlflow.entities import LoggedModelOutput

    folder = Path(folder)
    embedder = LexicalEmbedder(path=str(folder), max_tokens=max_tokens)
    eid = embedder.embedder_id  # checks the folder first
    card = json.loads((folder / CARD_JSON).read_text(encoding="utf-8"))
    # a card of a model built before a parameter existed lacks its key
    params = {k: str(card.get(k, "")) for k in (*PARAMS, "dim", "features", "fit_docs")}
    corpus = card["corpus"]
    tags = {
        TAG_CORPUS: card["corpus_sha256"],
        TAG_EMBEDDER_ID: eid,
        "techscreen.corpus": str(corpus.get("corpus", "")),
        "techscreen.corpus_docs": str(corpus.get("docs", "")),
        "techscreen.libraries": json.dumps(card["libraries"], sort_keys=True),
    }
    experiment_id = client.get_run(run_id).info.experiment_id
    model_id = _logged_before(client, experiment_id, eid)
    if model_id is None:
        model_id = _upload(client, experiment_id, run_id, folder, name, params, tags)
    client.log_outputs(run_id, [LoggedModelOutput(model_id, step=0)])
    client.set_tag(run_id, f"{KIND}.{TAG_CORPUS}", card["corpus_sha256"])
    client.set_tag(run_id, f"{KIND}.model_id", model_id)
    return model_id


def _logged_before(client: Any, experiment_id: str, embedder_id: str) -> str | None:
    found = client.search_logged_models(
        [experiment_id], filter_string=f"tags.`{TAG_EMBEDDER_ID}` = '{embedder_id}'"
    )
    ready = sorted(m.model_id for m in found if str(m.status).endswith("READY"))
    return ready[0] if ready else None


def _upload(
    client: Any,
    experiment_id: str,
    run_id: str,
    folder: Path,
    name: str,
    params: dict[str, str],
    tags: dict[str, str],
) -> str:
    """A new logged model holding ``folder``, READY (FAILED if the upload fails)."""
    model = client.create_logged_model(
        experiment_id,
        name=name,
        source_run_id=run_id,
        tags=tags,
        params=params,
        model_type=MODEL_TYPE,
    )
    try:
        client.log_model_artifacts(model.model_id, str(folder))
    except BaseException:
        client.finalize_logged_model(model.model_id, "FAILED")
        raise
    client.finalize_logged_model(model.model_id, "READY")
    return model.model_id
