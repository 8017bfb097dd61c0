"""Locally built model artifacts: build on request, or once when a stage needs one."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from techscreen.config import LEXICAL_FIT_WORKSPACE, EmbedSettings

log = logging.getLogger(__name__)


def build(kind: str, settings: EmbedSettings) -> Path:
    """Build the artifact of embedder ``kind`` (``static``, ``minilm-int8``, ``lexical-zh``)."""
    source = Path(settings.minilm.model_path) if settings.minilm.model_path else None
    if source is not None and kind in ("static", "minilm-int8"):
        from techscreen.embed.minilm import MiniLMEmbedder

        MiniLMEmbedder(model_path=str(source)).check_folder()  # one clear line, not a trace
    if kind == "static":
        from techscreen.embed.static import build_static

        st = settings.static
        texts, corpus = None, None
        if st.fit_corpus:
            from techscreen.embed.static_fit import read_corpus

            texts, corpus = read_corpus(
                st.fit_corpus, recipe=settings.text_recipe, max_docs=st.fit_max_docs
            )
        return build_static(
            Path(st.path),
            source=source,
            pca_dims=st.pca_dims,
            texts=texts,
            corpus=corpus,
            max_tokens=settings.max_tokens,
            fit_prior=st.fit_prior,
            fit_sif=st.fit_sif,
            fit_ridge=st.fit_ridge,
        )
    if kind == "minilm-int8":
        from techscreen.embed.onnx_int8 import build_int8

        i = settings.int8
        return build_int8(
            Path(i.path), source=source, per_channel=i.per_channel, op_types=list(i.op_types)
        )
    if kind == "lexical-zh":
        return build_lexical_zh(settings)
    raise ValueError(f"embedder {kind!r} has no artifact to build")


def build_lexical_zh(settings: EmbedSettings) -> Path:
    """Fit ``lexical-zh`` on the path ``embed.lexical.fit_corpus`` and save it at its path.

    A fit on the workspace (``fit_corpus: workspace``) is the embed stage's, or
    ``techscreen models build-lexical-zh``'s with a workspace: see
    :mod:`techscreen.embed.lexical_workspace`.
    """
    from techscreen.embed.lexical import build_lexical
    from techscreen.embed.lexical_workspace import fits_workspace
    from techscreen.embed.static_fit import read_corpus

    lx = settings.lexical
    if not lx.fit_corpus:
        raise ValueError(
            "lexical-zh is fitted on a corpus: set embed.lexical.fit_corpus (workspace, or "
            "a folder of patent files or a patents table)"
        )
    if fits_workspace(settings):
        raise ValueError(
            "embed.lexical.fit_corpus is 'workspace': the fit is made on a workspace's patents "
            "(techscreen embed, or techscreen models build-lexical-zh with its paths.workspace)"
        )
    texts, corpus = read_corpus(
        lx.fit_corpus, recipe=settings.text_recipe, max_docs=lx.fit_max_docs
    )
    return build_lexical(Path(lx.path), texts, corpus=corpus, **lexical_options(settings))


def lexical_options(settings: EmbedSettings) -> dict[str, Any]:
    """The fitting parameters of ``lexical-zh`` from the settings (``build_lexical`` keywords)."""
    lx = settings.lexical
    return {
        "dims": lx.dims,
        "char_ngrams": lx.char_ngrams,
        "hmm": lx.hmm,
        "simplify": lx.simplify,
        "min_df": lx.min_df,
        "max_df": lx.max_df,
        "max_features": lx.max_features,
        "max_words": settings.max_tokens,
        # only the title_abstract recipe puts a title first, before ". "
        "title_weight": lx.title_weight if settings.text_recipe == "title_abstract" else 1,
        "center": lx.center,
        "neighbours": lx.neighbours,
        "neighbour_weight": lx.neighbour_weight,
        "seed": lx.seed,
    }


# The settings section (embed.<section>.path) of each embedder that :func:`build` builds.
_SECTIONS = {"static": "static", "minilm-int8": "int8", "lexical-zh": "lexical"}


def artifact_path(kind: str, settings: EmbedSettings) -> Path | None:
    """The folder :func:`build` writes for embedder ``kind``; None if it builds nothing.

    None for ``lexical-zh`` fitted on the workspace: its fits live in the workspace
    (:mod:`techscreen.embed.lexical_workspace`), made by the embed stage.
    """
    if kind == "lexical-zh" and settings.lexical.fit_corpus == LEXICAL_FIT_WORKSPACE:
        return None
    section = _SECTIONS.get(kind)
    folder = getattr(settings, section).path if section else ""
    return Path(folder) if folder else None


def model_folders(settings: EmbedSettings, kinds: Iterable[str]) -> dict[str, Path]:
    """The folders building embedders ``kinds`` would write, by setting key."""
    return {
        f"embed.{_SECTIONS[kind]}.path": folder
        for kind in kinds
        if (folder := artifact_path(kind, settings)) is not None
    }


def ensure_built(settings: EmbedSettings) -> None:
    """Build the configured embedder's artifact if it is missing (a one-off, logged)."""
    folder = artifact_path(settings.embedder, settings)
    if folder and not folder.exists():
        log.info("embedder %s: %s is missing, building it once", settings.embedder, folder)
        build(settings.embedder, settings)
