"""Embedders by name, and the once-per-process cache of loaded models."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from techscreen.config import EmbedSettings
from techscreen.embed.base import Embedder

log = logging.getLogger(__name__)

_LOADED: dict[tuple[str, str], Embedder] = {}
_LOCK = threading.Lock()


def _absolute(path: str) -> str:
    # Executors of a real cluster run in their own working folders: a path relative to the
    # driver's (models/minilm-int8) must be made absolute before the embedder is shipped.
    return str(Path(path).expanduser().resolve()) if path else path


def make_embedder(settings: EmbedSettings) -> Embedder:
    """An unloaded embedder (parameters only: cheap to pickle to executors) from settings."""
    common = {"max_tokens": settings.max_tokens, "batch_size": settings.batch_size}
    if settings.embedder == "minilm":
        from techscreen.embed.minilm import MiniLMEmbedder

        m = settings.minilm
        return MiniLMEmbedder(
            model_path=_absolute(m.model_path), device=m.device, precision=m.precision, **common
        )
    if settings.embedder == "static":
        from techscreen.embed.static import StaticEmbedder

        return StaticEmbedder(path=_absolute(settings.static.path), **common)
    if settings.embedder == "minilm-int8":
        from techscreen.embed.onnx_int8 import OnnxInt8Embedder

        return OnnxInt8Embedder(
            path=_absolute(settings.int8.path), threads=settings.int8.threads, **common
        )
    if settings.embedder == "lexical-zh":
        from techscreen.embed.lexical import LexicalEmbedder

        return LexicalEmbedder(path=_absolute(settings.lexical.path), **common)
    raise ValueError(f"unknown embedder {settings.embedder!r}")


def named_embedder(settings: EmbedSettings, name: str) -> Embedder:
    """:func:`make_embedder` for embedder ``name`` with the other settings of ``settings``."""
    return make_embedder(settings.model_copy(update={"embedder": name}))


def loaded(embedder: Embedder) -> Embedder:
    """The loaded twin of ``embedder`` in this process, loading it on first use only.

    Spark reuses Python workers across tasks, so a model is loaded once per worker, not
    once per task or batch.
    """
    key = (type(embedder).__name__, repr(sorted(embedder.get_params().items())))
    with _LOCK:
        model = _LOADED.get(key)
        if model is None:
            log.info("loading embedder %s", embedder.kind)
            model = _LOADED[key] = embedder.load()
    return model
