"""``lexical-zh`` fitted on the workspace it embeds (``embed.lexical.fit_corpus: workspace``).

A lexical model only knows the words of its fit corpus, so the default is to fit it on the
patents being screened: the workspace's patents that the routing sends to ``lexical-zh``
(within ``embed.domains``), less the held-out fifth (:func:`~techscreen.embed.static_fit.held_out`),
at most ``fit_max_docs`` of them chosen by a hash. A fit lives in
``<workspace>/models/lexical-zh/<key>/``, where the key digests the corpus fingerprint
(sha256 of the fit texts) and the fit settings, and ``current.json`` beside it names the
fit the workspace's vectors come from. So two workspaces never share or overwrite a fit, an
unchanged corpus reuses its fit (same files, same ``embedder_id``, nothing re-embedded), and
a changed one is refitted — a new ``embedder_id``, so every routed record is embedded again
in the new space, and the cluster stage re-clusters that space — unless
``embed.lexical.keep_fit`` keeps the current fit (``pipelines/update.yaml``: new records are
embedded in the space of the old ones). Older fits are removed once a new one is current
(MLflow keeps each as a logged model of the run that used it).

When no record is routed to ``lexical-zh`` nothing is fitted: its (empty) vectors partition
is :data:`~techscreen.embed.lexical.NO_FIT_ID`, unless the workspace has a fit from before.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from techscreen.config import LEXICAL_FIT_WORKSPACE, EmbedSettings, Settings, workspace
from techscreen.embed.lexical import KIND, MODEL_FILES, build_lexical, corpus_sha256
from techscreen.embed.static_fit import HOLDOUT_BUCKETS, held_out_column
from techscreen.embed.text import patent_texts
from techscreen.io.files import staging_file
from techscreen.io.handoff import sample_to_pandas

log = logging.getLogger(__name__)

CURRENT = "current.json"
MIN_HELD_OUT_FIT = 20
"""Fewer fit texts than this after holding out a fifth: the fit takes every routed text."""


def fits_workspace(settings: EmbedSettings) -> bool:
    """Whether ``lexical-zh`` is fitted on the workspace's own patents."""
    return settings.lexical.fit_corpus == LEXICAL_FIT_WORKSPACE


def fits_folder(settings: Settings) -> Path:
    """``<workspace>/models/lexical-zh``: the workspace's fits and ``current.json``."""
    return workspace(settings) / "models" / KIND


def current_fit(settings: Settings) -> dict[str, Any] | None:
    """What ``current.json`` says (folder, key, corpus facts), if its fit is still there."""
    pointer = fits_folder(settings) / CURRENT
    if not pointer.is_file():
        return None
    current = json.loads(pointer.read_text(encoding="utf-8"))
    folder = fits_folder(settings) / current["key"]
    if not all((folder / name).is_file() for name in MODEL_FILES):
        log.warning("lexical-zh: %s names %s, which is gone", pointer, folder)
        return None
    return {**current, "folder": str(folder)}


def resolved(settings: Settings) -> EmbedSettings:
    """``settings.embed`` with ``lexical.path`` at the workspace's current fit, if it fits one.

    Every reader of the workspace's ``lexical-zh`` vectors (the embed and cluster stages, the
    resume fingerprints) resolves the embedder this way, so all name one fit. Empty when the
    workspace has none yet: its embedder id is then
    :data:`~techscreen.embed.lexical.NO_FIT_ID`.
    """
    e = settings.embed
    if not fits_workspace(e):
        return e
    current = current_fit(settings)
    path = current["folder"] if current else ""
    return e.model_copy(update={"lexical": e.lexical.model_copy(update={"path": path})})


def fit_key(texts_sha256: str, options: dict[str, Any]) -> str:
    """The folder name of a fit: a digest of its corpus fingerprint and fit settings."""
    text = json.dumps({"corpus": texts_sha256, "options": options}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def workspace_corpus(
    part: DataFrame, *, recipe: str, max_docs: int, source: str
) -> tuple[list[str], dict[str, Any]]:
    """The fit texts among ``part`` (the rows routed to ``lexical-zh``) and facts about them.

    Held-out patents are left out; of the rest at most ``max_docs`` are taken (a hash of the
    publication number chooses them, whatever the partitioning) through the size-guarded
    hand-off, and ordered by publication number, so the same rows give the same texts and
    fingerprint. A corpus with fewer than :data:`MIN_HELD_OUT_FIT` texts after holding out
    is fitted on all of its texts.
    """
    marked = part.withColumn("_held_out", held_out_column("publication_number"))
    row = marked.agg(
        F.count(F.lit(1)).alias("routed"),
        F.count(F.when(~F.col("_held_out"), 1)).alias("usable"),
    ).first()
    routed, usable = int(row["routed"]), int(row["usable"])
    hold_out = usable >= MIN_HELD_OUT_FIT
    chosen = marked.where(~F.col("_held_out")) if hold_out else marked
    columns = ["publication_number", "title", "abstract", "language"]
    present = [c for c in columns if c in part.columns]
    rows = sample_to_pandas(chosen.select(*present), max_docs, order_by="publication_number")
    rows = rows.sort_values("publication_number", kind="stable", ignore_index=True)
    texts = patent_texts(
        pa.array(rows["title"], pa.string()), pa.array(rows["abstract"], pa.string()), recipe
    ).to_pylist()
    keep = [bool(t) for t in texts]
    texts = [t for t, k in zip(texts, keep, strict=True) if k]
    languages = (
        rows["language"][keep].fillna("und").value_counts().sort_index().to_dict()
        if "language" in rows
        else {}
    )
    facts = {
        "corpus": source,
        "docs": len(texts),
        "routed_docs": routed,
        "available_docs": usable if hold_out else routed,
        "recipe": recipe,
        "held_out": (
            f"sha256(publication_number) % {HOLDOUT_BUCKETS} == 0 never fitted on"
            if hold_out
            else "none (too few texts to hold a fifth out)"
        ),
        "languages": ", ".join(f"{k} {v}" for k, v in languages.items()),
        "texts_sha256": corpus_sha256(texts),
    }
    return texts, facts


def fit_on_workspace(
    settings: Settings, part: DataFrame, options: dict[str, Any], *, force: bool = False
) -> dict[str, Any]:
    """Fit ``lexical-zh`` on the workspace's routed texts, or reuse a fit; what was done.

    Args:
        settings: the run's settings (workspace, ``embed.lexical``, text recipe).
        part: the workspace's rows routed to ``lexical-zh`` (``routing.routed``).
        options: the fit parameters (``models.lexical_options``).
        force: fit even when the current fit is of the same corpus and settings, or kept.

    Returns:
        ``action`` (``fitted``, ``reused``: the current fit is of this corpus; ``kept``:
        ``keep_fit`` kept it although the corpus changed; ``none``: nothing routed and no
        fit), ``folder`` (the fit's folder, "" for ``none``), ``corpus`` (the facts of the
        corpus the fit in ``folder`` was made on) and ``routed_docs``.

    Raises:
        ValueError: if the routed texts are too few to fit on (fewer than 3 texts or 3
            features: see :class:`~techscreen.embed.lexical.LexicalModel`).
    """
    lx = settings.embed.lexical
    source = f"workspace {workspace(settings) / 'patents'} (routed to {KIND})"
    texts, facts = workspace_corpus(
        part, recipe=settings.embed.text_recipe, max_docs=lx.fit_max_docs, source=source
    )
    current = current_fit(settings)
    key = fit_key(facts["texts_sha256"], options)
    base = {"routed_docs": facts["routed_docs"], "key": key}
    if not texts:
        if current is None:
            log.info("%s: no patent is routed to it: nothing fitted", KIND)
            return {**base, "action": "none", "folder": "", "corpus": facts}
        return {**base, "action": "reused", **_facts_of(current)}
    if not force and current is not None:
        if current["key"] == key:
            return {**base, "action": "reused", **_facts_of(current)}
        if lx.keep_fit and current["options"] == options:
            log.info(
                "%s: the workspace's patents changed (%d texts, sha256 %s…), but "
                "embed.lexical.keep_fit keeps the fit on %d texts (sha256 %s…): new records "
                "are embedded in the space of the earlier ones",
                KIND,
                facts["docs"],
                facts["texts_sha256"][:12],
                current["corpus"]["docs"],
                current["corpus"]["texts_sha256"][:12],
            )
            return {**base, "action": "kept", **_facts_of(current)}
    folder = fits_folder(settings) / key
    build_lexical(folder, texts, corpus=facts, **options)
    _point_to(settings, key, facts, options)
    _prune(fits_folder(settings), keep=key)
    return {**base, "action": "fitted", "folder": str(folder), "corpus": facts}


def _facts_of(current: dict[str, Any]) -> dict[str, Any]:
    return {"folder": current["folder"], "corpus": current["corpus"]}


def _point_to(settings: Settings, key: str, facts: dict[str, Any], options: dict[str, Any]) -> None:
    """Make fit ``key`` the workspace's current one (``current.json``, written atomically)."""
    pointer = fits_folder(settings) / CURRENT
    body = {
        "key": key,
        "corpus": facts,
        "options": options,
        "fitted_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    tmp = staging_file(pointer)
    tmp.write_text(json.dumps(body, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, pointer)


def _prune(folder: Path, keep: str) -> None:
    """Remove the fits (and leftovers of interrupted ones) other than ``keep``."""
    for entry in sorted(folder.iterdir()):
        if entry.name in (keep, CURRENT) or not entry.is_dir():
            continue
        shutil.rmtree(entry, ignore_errors=True)
        log.info("%s: removed the earlier fit %s", KIND, entry)


def describe(fit: dict[str, Any]) -> str:
    """One line naming the corpus a fit was made on (for the log)."""
    corpus = fit["corpus"]
    if fit["action"] == "none":
        return f"{KIND}: no patent is routed to it; nothing fitted"
    verb = {"fitted": "fitted", "reused": "reusing the fit", "kept": "keeping the fit"}
    return (
        f"{KIND}: {verb[fit['action']]} on {corpus['corpus']}: {corpus['docs']} texts of "
        f"{corpus['routed_docs']} routed (held out: {corpus['held_out']}; languages "
        f"{corpus.get('languages') or '-'}), corpus sha256 {corpus['texts_sha256'][:16]}…, "
        f"model {fit['folder']}"
    )
