"""Locally built model artifacts: build on request, or once when a stage needs one."""

from __future__ import annotations

import logging
from pathlib import Path

from techscreen.config import EmbedSettings

log = logging.getLogger(__name__)


def build(kind: str, settings: EmbedSettings) -> Path:
    """Build the artifact of embedder ``kind`` (``static``, ``minilm-int8``) at its path."""
    source = Path(settings.minilm.model_path) if settings.minilm.model_path else None
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
    raise ValueError(f"embedder {kind!r} has no artifact to build")


def ensure_built(settings: EmbedSettings) -> None:
    """Build the configured embedder's artifact if it is missing (a one-off, logged)."""
    folder = {"static": settings.static.path, "minilm-int8": settings.int8.path}.get(
        settings.embedder
    )
    if folder and not Path(folder).exists():
        log.info("embedder %s: %s is missing, building it once", settings.embedder, folder)
        build(settings.embedder, settings)
