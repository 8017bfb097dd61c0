"""The small interface every embedder implements.

An embedder follows the scikit-learn contract: ``__init__`` stores parameters only (cheap,
picklable, nothing loaded), :meth:`Embedder.load` loads the model and returns ``self``,
learned/loaded state ends in ``_``, and :meth:`Embedder.get_params` is what MLflow logs.
Executors build an embedder from settings and load it once per Python worker
(``techscreen.embed.registry``); it is never shipped loaded through a closure.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np


class Embedder(ABC):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    kind: ClassVar[str]
    # True when a batch is padded to its longest text (transformers): the job then sorts texts
    # by length before batching. A static embedder pads nothing and skips the sorting.
    length_sorted: ClassVar[bool] = True
    # True for models that read English only: the stage warns about the other texts it gets.
    english_only: ClassVar[bool] = True

    def __init__(self, *, max_tokens: int = 256, batch_size: int = 64) -> None:
        self.max_tokens = max_tokens
        self.batch_size = batch_size

    def get_params(self) -> dict[str, Any]:
        """The parameters that define this embedder (what MLflow logs)."""
        return {"kind": self.kind, "max_tokens": self.max_tokens, "batch_size": self.batch_size}

    @cached_property
    def embedder_id(self) -> str:
        """A stable id: kind plus a digest of the model files and of what changes vectors.

        Vectors of different ids are never mixed; a re-built model gets a new id, so the
        incremental embed recomputes its vectors.
        """
        digest = hashlib.sha256(self.model_fingerprint().encode())
        digest.update(str(self.max_tokens).encode())
        return f"{self.kind}-{digest.hexdigest()[:12]}"

    @abstractmethod
    def model_fingerprint(self) -> str:
        """A string that changes whenever the model's weights or tokenizer change."""

    @abstractmethod
    def load(self) -> Embedder:
        """Load the model (once per process) and return ``self``."""

    @property
    @abstractmethod
    def dim(self) -> int:
        """The vector dimension (available after :meth:`load`)."""

    @abstractmethod
    def token_counts(self, texts: Sequence[str]) -> np.ndarray:
        """Number of model tokens of each text before truncation (int array)."""

    @abstractmethod
    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        """Raw vectors of ``texts`` (one batch, texts already cleaned), float32 ``(n, dim)``."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of ``texts``, in batches of ``batch_size``: float32, L2-normalised, finite."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [
            self._encode(texts[i : i + self.batch_size])
            for i in range(0, len(texts), self.batch_size)
        ]
        return self.normalised(np.concatenate(parts))

    def encode_counted(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`encode` and :meth:`token_counts` together (one tokenisation where possible)."""
        return self.encode(texts), self.token_counts(texts)

    def normalised(self, raw: np.ndarray) -> np.ndarray:
        """``raw`` as float32 rows of unit length (rows of zeros stay zero).

        Raises:
            FloatingPointError: if the model produced NaN or infinite values (a model bug:
                failing loudly beats writing a vector that poisons every neighbour search).
        """
        vectors = np.ascontiguousarray(raw.astype(np.float32, copy=False))
        if not np.isfinite(vectors).all():
            raise FloatingPointError(f"{self.embedder_id} produced non-finite values")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, np.float32(1e-12))


class FolderEmbedder(Embedder):
    """An embedder whose model is one folder built by techscreen (``models/<name>``).

    The path is a parameter (logged), so the same class serves any build of the model.
    """

    def __init__(self, *, path: str, max_tokens: int = 256, batch_size: int = 64) -> None:
        super().__init__(max_tokens=max_tokens, batch_size=batch_size)
        self.path = path

    def get_params(self) -> dict[str, Any]:
        """Parameters, with the model folder."""
        return {**super().get_params(), "path": str(self.path)}

    @property
    def folder(self) -> Path:
        """The model folder."""
        return Path(self.path)


def files_fingerprint(folder: Path) -> str:
    """A digest of the names, sizes and contents of every file under ``folder``."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        with path.open("rb") as f:
            for block in iter(lambda f=f: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
