"""``static``: a model2vec static embedder distilled from MiniLM, CPU-only and very fast.

A static embedder is a lookup table: one vector per vocabulary token, computed once by
passing each token through the sentence-transformer (:func:`build_static`), then reduced by
PCA and re-weighted (SIF). Given a corpus of patent texts, the vectors are then refitted so
that a text's static vector regresses onto MiniLM's sentence vector of the text
(:mod:`techscreen.embed.static_fit`). A text's vector is the mean of its tokens' vectors —
no transformer at inference, so it runs at thousands of documents per second on a CPU, at
some cost in quality.

The model folder is built once with ``techscreen models build-static`` and then only read.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from techscreen.embed.base import FolderEmbedder, files_fingerprint
from techscreen.embed.minilm import packaged_minilm
from techscreen.embed.word_pieces import WordPieceCache
from techscreen.io.files import staged_dir

logger = logging.getLogger(__name__)

REBUILD_COMMAND = "techscreen models build-static"
CARD_JSON = "card.json"
CARD_MD = "MODEL_CARD.md"


def build_static(
    out_dir: Path,
    *,
    source: Path | None = None,
    pca_dims: int | None = 256,
    texts: Sequence[str] | None = None,
    corpus: dict[str, Any] | None = None,
    max_tokens: int = 256,
    fit_prior: float = 2.0,
    fit_sif: float = 3e-3,
    fit_ridge: float = 0.1,
) -> Path:
    """Distil a model2vec static embedder from a local sentence-transformers model, offline.

    Every vocabulary token of ``source`` goes through the transformer once (mean pooling);
    the vectors are reduced to ``pca_dims`` by PCA and weighted by SIF. Given ``texts``, the
    vectors are then fitted so that texts' static vectors regress onto the transformer's
    sentence vectors (:func:`techscreen.embed.static_fit.fit_token_vectors`). The result is
    saved to ``out_dir`` with a model card (``MODEL_CARD.md`` and ``card.json``) naming the
    fit corpus. The folder is written beside ``out_dir`` first and renamed into place, so a
    crash never leaves a half-written model that :class:`StaticEmbedder` would load.

    The build is deterministic: the PCA is an exact eigendecomposition (no random
    solver) and the fit is closed-form, so two builds give the same vectors; the folder
    fingerprint still changes because the card records the build date.

    Args:
        out_dir: the model folder to create (replaced if it exists).
        source: a sentence-transformers model folder; the packaged all-MiniLM-L6-v2 if None.
        pca_dims: the output dimension; None keeps the transformer's dimension without PCA.
        texts: the fit corpus (patent texts); None or empty distils only.
        corpus: facts about ``texts`` for the model card (see ``static_fit.read_corpus``).
        max_tokens: tokens per text the fit reads (as the embedder truncates).
        fit_prior: see ``fit_token_vectors`` (``prior``).
        fit_sif: see ``fit_token_vectors`` (``sif``).
        fit_ridge: see ``fit_token_vectors`` (``ridge``).

    Returns:
        ``out_dir``.
    """
    # Imported here: torch/transformers take seconds to import and only the build needs them.
    import model2vec
    from model2vec.distill import distill_from_model
    from transformers import AutoModel, AutoTokenizer

    source = Path(source) if source is not None else packaged_minilm()
    out_dir = Path(out_dir)
    if not source.is_dir():
        raise FileNotFoundError(f"source model folder {source} does not exist")

    # local_files_only: a missing file must fail here, never trigger a hub download.
    model = AutoModel.from_pretrained(str(source), local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(str(source), local_files_only=True, use_fast=True)

    started = time.perf_counter()
    static = distill_from_model(
        model=model,
        tokenizer=tokenizer,
        device="cpu",  # deterministic and always present; the build is a one-off of ~1 min
        pca_dims=pca_dims,
        # float32 rather than model2vec's float16 default: 2x the size (~30 MB) but no
        # rounding, so rebuilds compare equal to 1e-6 and vectors match the distillation.
        quantize_to="float32",
    )
    seconds = time.perf_counter() - started
    logger.info("distilled %d tokens in %.1f s", len(static.tokens), seconds)
    fit: dict[str, Any] | None = None
    if texts:
        fit_started = time.perf_counter()
        static = _fitted(
            static, list(texts), source, pca_dims, max_tokens, fit_prior, fit_sif, fit_ridge
        )
        fit = {
            **(corpus or {"docs": len(texts)}),
            "teacher": "mean-pooled output states of the source model (fp32, CPU)",
            "max_tokens": max_tokens,
            "prior": fit_prior,
            "sif": fit_sif,
            "ridge": fit_ridge,
            "seconds": round(time.perf_counter() - fit_started, 1),
        }
    vocab_size, dim = len(static.tokens), int(static.dim)

    # str(PoolingMode.MEAN) is "PoolingMode.MEAN"; the card wants the plain "mean".
    pooling = static.config.get("pooling")
    facts: dict[str, Any] = {
        "kind": StaticEmbedder.kind,
        "source_model": str(source),
        "source_fingerprint": files_fingerprint(source),
        "vocab_size": vocab_size,
        "dim": dim,
        "pca_dims": pca_dims,
        "sif_coefficient": static.config.get("sif_coefficient"),
        "pooling": getattr(pooling, "value", pooling),
        "dtype": str(static.embedding.dtype),
        "model2vec_version": model2vec.__version__,
        "build_date": datetime.now(UTC).isoformat(timespec="seconds"),
        "distill_seconds": round(seconds, 1),
        "fit": fit,
        "rebuild_command": REBUILD_COMMAND,
    }

    with staged_dir(out_dir) as tmp:
        # model_name: else model2vec's README names the temporary folder.
        static.save_pretrained(tmp, model_name=out_dir.name)
        (tmp / CARD_JSON).write_text(json.dumps(facts, indent=2) + "\n", encoding="utf-8")
        (tmp / CARD_MD).write_text(_card_markdown(facts), encoding="utf-8")
    logger.info("saved static embedder to %s", out_dir)
    return out_dir


def plain_tokenizer(tokenizer: Any) -> Any:
    """A copy of a model2vec tokenizer without truncation or padding (every token counts)."""
    from tokenizers import Tokenizer

    plain = Tokenizer.from_str(tokenizer.to_str())
    plain.no_truncation()
    plain.no_padding()
    return plain


def static_ids(tokenizer: Any, unk: int | None, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of each text as the model uses them: no special tokens, no [UNK]."""
    ids = WordPieceCache(tokenizer).encode(texts)
    return ids if unk is None else [[i for i in e if i != unk] for e in ids]


def _fitted(
    static: Any,
    texts: list[str],
    source: Path,
    dims: int | None,
    max_tokens: int,
    prior: float,
    sif: float,
    ridge: float,
) -> Any:
    """``static`` with its vectors fitted to the source model on ``texts``."""
    from model2vec import StaticModel

    from techscreen.embed.static_fit import fit_token_vectors, teacher_pass

    if static.token_mapping is not None or static.weights is not None:
        raise ValueError("fitting expects one plain vector per token (no mapping, no weights)")
    vocab = static.tokenizer.get_vocab()
    teacher = teacher_pass(texts, vocab, source=source, max_tokens=max_tokens)
    ids = static_ids(plain_tokenizer(static.tokenizer), static.unk_token_id, texts)
    vectors = fit_token_vectors(
        np.asarray(static.embedding, dtype=np.float32),
        [x[:max_tokens] for x in ids],
        teacher,
        dims=dims,
        prior=prior,
        sif=sif,
        ridge=ridge,
    )
    config = {**static.config, "hidden_dim": int(vectors.shape[1])}
    return StaticModel(
        vectors=vectors,
        tokenizer=static.tokenizer,
        config=config,
        normalize=static.normalize,
        base_model_name=static.base_model_name,
        language=static.language,
    )


def _card_markdown(facts: dict[str, Any]) -> str:
    """The human-readable model card (the same facts as ``card.json``)."""
    pca = facts["pca_dims"] if facts["pca_dims"] is not None else "none (no PCA)"
    fit = facts.get("fit")
    if fit:
        rows = "\n".join(f"| {k} | `{v}` |" for k, v in fit.items())
        fitted = f"""
## Fit to the source model

The distilled vectors were then fitted so that a text's static vector regresses onto the
source model's sentence vector of the same text (contextual token means shrunk toward the
distilled vectors, SIF weights from the corpus, a ridge map, PCA; closed-form,
deterministic). Training corpus and settings:

| fact | value |
|---|---|
{rows}
"""
    else:
        fitted = "\nNo fit: distilled vectors only (no training corpus).\n"
    return f"""# Static embedder (model2vec) for techscreen

Built by distilling the sentence-transformer below: one vector per vocabulary token;
a text's vector is the mean of its tokens' vectors (then L2-normalised by techscreen).

| fact | value |
|---|---|
| source model | `{facts["source_model"]}` |
| source folder fingerprint (sha256) | `{facts["source_fingerprint"]}` |
| vocabulary size | {facts["vocab_size"]} |
| dimensions | {facts["dim"]} |
| pca_dims | {pca} |
| SIF coefficient | {facts["sif_coefficient"]} |
| pooling during distillation | {facts["pooling"]} |
| dtype | {facts["dtype"]} |
| model2vec version | {facts["model2vec_version"]} |
| build date (UTC) | {facts["build_date"]} |
| distillation time | {facts["distill_seconds"]} s |
{fitted}
## Rebuild

```
{facts["rebuild_command"]}
```

The build runs offline from the local source folder and is deterministic (exact PCA,
closed-form fit): a rebuild from the same corpus gives the same vectors, but a new folder
fingerprint (this card's date), hence a new ``embedder_id`` and a re-embedding.
"""


class StaticEmbedder(FolderEmbedder):
    """A model2vec static model folder built by :func:`build_static`.

    Args:
        path: the model folder (``StaticSettings.path``).
        max_tokens: tokens per text kept; the rest is truncated.
        batch_size: texts per :meth:`_encode` call.
    """

    kind = "static"
    length_sorted = False

    def __init__(
        self, *, path: str = "models/static-minilm", max_tokens: int = 256, batch_size: int = 64
    ) -> None:
        super().__init__(path=path, max_tokens=max_tokens, batch_size=batch_size)

    def _check_folder(self) -> None:
        if not (self.folder / "model.safetensors").is_file():
            raise FileNotFoundError(
                f"no static model at {self.folder}: build it with `{REBUILD_COMMAND}`"
            )

    def model_fingerprint(self) -> str:
        """Digest of every file in the model folder (vectors, tokenizer, card)."""
        self._check_folder()
        return files_fingerprint(self.folder)

    def load(self) -> StaticEmbedder:
        """Load the model2vec ``StaticModel`` from the folder (never from the hub).

        Raises:
            FileNotFoundError: if the folder holds no model.
        """
        # Checked first: model2vec treats a missing local path as a hub id and downloads.
        self._check_folder()
        from model2vec import StaticModel

        model = StaticModel.from_pretrained(self.folder)
        # A private copy without truncation or padding: token_counts must see every token,
        # and _encode truncates itself so both agree on what "max_tokens" cuts.
        self.model_ = model
        self.tokenizer_ = plain_tokenizer(model.tokenizer)
        self.pieces_ = WordPieceCache(self.tokenizer_)
        # model2vec drops the unknown token at inference (its vector is not meaningful).
        self.unk_id_ = model.unk_token_id
        self.vectors_ = np.asarray(model.embedding, dtype=np.float32)
        self.weights_ = None if model.weights is None else np.asarray(model.weights, np.float32)
        self.mapping_ = model.token_mapping
        return self

    @property
    def dim(self) -> int:
        """The model's dimension (``pca_dims`` of the build)."""
        return int(self.vectors_.shape[1])

    def _flat_ids(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids of all texts in one int64 array, and each text's count before truncation.

        The ids are those the model averages: no special tokens, no [UNK].
        """
        ids = self.pieces_.encode(texts)
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        flat = np.fromiter(chain.from_iterable(ids), dtype=np.int64, count=int(lengths.sum()))
        if self.unk_id_ is not None:
            known = flat != self.unk_id_
            if not known.all():
                owner = np.repeat(np.arange(len(ids)), lengths)[known]
                flat, lengths = flat[known], np.bincount(owner, minlength=len(ids))
        return flat, lengths

    def token_counts(self, texts: Sequence[str]) -> np.ndarray:
        """Tokens of each text the model would average, before truncation (int64)."""
        return self._flat_ids(texts)[1]

    def encode_counted(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Vectors and token counts from one tokenisation (tokenising is most of the cost)."""
        flat, lengths = self._flat_ids(texts)
        return self.normalised(self._pool(flat, lengths)), lengths

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        return self._pool(*self._flat_ids(texts))

    def _pool(self, flat: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Mean of the first ``max_tokens`` token vectors of each text, float32, not normalised.

        Done here rather than with ``StaticModel.encode``: that one first cuts each text to
        ``max_length * median token length`` characters, so a text could lose tokens before
        ``max_tokens`` and disagree with :meth:`token_counts`. A text without any known
        token gets a zero vector (never NaN). The mean is a sparse (texts × vocabulary)
        matrix times the vectors: no per-token copy of a vector, ~2x faster than gathering.
        """
        from scipy.sparse import csr_matrix

        n = len(lengths)
        used = np.minimum(lengths, self.max_tokens)
        if (used < lengths).any():
            starts = np.cumsum(lengths) - lengths
            position = np.arange(len(flat)) - np.repeat(starts, lengths)
            flat = flat[position < np.repeat(used, lengths)]
        rows = flat if self.mapping_ is None else self.mapping_[flat]
        share = np.repeat((1.0 / np.maximum(used, 1)).astype(np.float32), used)
        if self.weights_ is not None:
            share *= self.weights_[flat]
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(used, out=indptr[1:])
        mean = csr_matrix((share, rows, indptr), shape=(n, len(self.vectors_)))
        return np.asarray(mean @ self.vectors_, dtype=np.float32)
