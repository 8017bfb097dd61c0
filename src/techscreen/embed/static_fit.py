"""Fitting the static embedder's token vectors to MiniLM on a corpus of patent texts.

The distilled vectors (:func:`techscreen.embed.static.build_static`) come from each token
passed *alone* through MiniLM. Tokenlearn-style, this module refits them so that a text's
static vector (the mean of its token vectors) regresses onto MiniLM's sentence vector of
the same text, in three closed-form, deterministic steps (no gradient descent, no seed):

1. **Contextual token vectors.** One MiniLM pass over the corpus gives every token's
   output state in context; a token's vector becomes the mean of its states, shrunk toward
   a linear map of its distilled vector (``prior`` pseudo-occurrences) — tokens the corpus
   lacks keep that mapped distilled vector.
2. **SIF weights** ``sif / (sif + p(token))`` from the corpus token frequencies.
3. **A ridge map** (with bias) from the texts' mean token vectors to their MiniLM sentence
   vectors, baked into the token vectors; then PCA to ``dims`` (uncentred, token vectors
   weighted by √count), which keeps cosines.

Inference is unchanged: the mean of token vectors. Patents whose publication number falls
in the held-out bucket (:func:`held_out`) are never fitted on, so quality can be measured on
them honestly (``bench/embed.py`` does).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from techscreen.embed.text import patent_texts

logger = logging.getLogger(__name__)

HOLDOUT_BUCKETS = 5  # one patent in five is held out of every fit


def _hash_key(publication_number: str) -> int:
    return int.from_bytes(hashlib.sha256(publication_number.encode()).digest()[:8], "big")


def held_out(publication_number: str) -> bool:
    """True for the patents no fit trains on: one in :data:`HOLDOUT_BUCKETS`, by a hash."""
    return _hash_key(publication_number) % HOLDOUT_BUCKETS == 0


def held_out_column(column: str = "publication_number") -> Any:
    """Spark twin of :func:`held_out` (a boolean column), for fits on a patents table.

    The 64-bit key is the first 16 hex digits of the sha256; it is taken as two 32-bit
    halves, and since 2**32 ≡ 1 (mod 5) the key's remainder is that of the halves' sum.
    """
    from pyspark.sql import functions as F

    assert 2**32 % HOLDOUT_BUCKETS == 1  # what the sum of the halves relies on
    digest = F.sha2(F.col(column).cast("string"), 256)
    high = F.conv(F.substring(digest, 1, 8), 16, 10).cast("long")
    low = F.conv(F.substring(digest, 9, 8), 16, 10).cast("long")
    return F.pmod(high + low, F.lit(HOLDOUT_BUCKETS)) == 0


def _is_table(path: Path) -> bool:
    return path.is_dir() and any(path.rglob("*.parquet"))


def _table_rows(path: Path) -> pa.Table:
    import pyarrow.dataset as ds

    columns = ["publication_number", "title", "abstract"]
    return ds.dataset(str(path), format="parquet", partitioning="hive").to_table(columns=columns)


def _raw_rows(paths: Sequence[str], conf_dir: str | Path) -> pa.Table:
    """Raw patent files → (publication_number, title, abstract), with the ingest readers.

    The same readers and validation as ``techscreen ingest`` (configured from ``conf_dir``
    for the column-mapped sources), but nothing is written and nothing tracked.
    """
    from pyspark.sql import DataFrame

    from techscreen.config import Settings, load_settings
    from techscreen.ingest.parse import kept, validated
    from techscreen.ingest.validate import Rules
    from techscreen.io.formats import expand, plan
    from techscreen.spark import build_session

    conf = Path(conf_dir)
    settings = load_settings(conf) if (conf / "base").is_dir() else Settings()
    spark = build_session(settings.spark)
    groups = plan(expand(paths), settings.ingest)
    rules = Rules(settings.ingest.max_text_chars, settings.ingest.malformed_code_policy)
    parts = [
        kept(validated(reader.units(spark, files), reader, rules, 0)).select(
            "publication_number", "title", "abstract"
        )
        for _, (reader, files) in sorted(groups.items())
    ]
    return reduce(DataFrame.unionByName, parts).toArrow()


def read_corpus(
    corpus: str | Path,
    *,
    recipe: str = "title_abstract",
    max_docs: int = 3000,
    conf_dir: str | Path = "conf",
) -> tuple[list[str], dict[str, Any]]:
    """The texts a fit trains on, and facts about them for the model card.

    Args:
        corpus: a patents table (a Parquet folder such as ``workspace/patents``), or raw
            patent files/folders in any format ``techscreen ingest`` reads.
        recipe: the text recipe (as the embed stage uses).
        max_docs: at most this many texts, a deterministic pseudo-random choice (by hash).
        conf_dir: configuration read for raw files (the column-mapped sources).

    Returns:
        (texts, facts): texts without the held-out patents, empty texts or duplicate
        publication numbers, ordered by publication number.

    Raises:
        FileNotFoundError: if ``corpus`` does not exist.
    """
    path = Path(corpus)
    if not path.exists():
        raise FileNotFoundError(f"fit corpus {path} does not exist")
    rows = _table_rows(path) if _is_table(path) else _raw_rows([str(path)], conf_dir)
    texts = patent_texts(rows["title"], rows["abstract"], recipe).to_pylist()
    first: dict[str, str] = {}
    for number, text in sorted(zip(rows["publication_number"].to_pylist(), texts, strict=True)):
        if text and number not in first and not held_out(number):
            first[number] = text
    chosen = sorted(first, key=_hash_key)[:max_docs]
    texts = [first[n] for n in sorted(chosen)]
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()
    facts = {
        "corpus": str(corpus),
        "docs": len(texts),
        "available_docs": len(first),
        "recipe": recipe,
        "held_out": f"sha256(publication_number) % {HOLDOUT_BUCKETS} == 0 never fitted on",
        "texts_sha256": digest,
    }
    logger.info("fit corpus %s: %d texts (of %d usable)", corpus, len(texts), len(first))
    return texts, facts


@dataclass
class TeacherStates:
    """What one MiniLM pass over a corpus yields for the fit."""

    doc_vectors: np.ndarray  # (texts, 384) L2-normalised sentence vectors (mean pooling)
    token_sums: np.ndarray  # (static vocabulary, 384) float64 sums of output states
    token_counts: np.ndarray  # (static vocabulary,) occurrences in the corpus


def teacher_pass(
    texts: Sequence[str],
    vocab: dict[str, int],
    *,
    source: Path,
    max_tokens: int = 256,
    batch_size: int = 32,
) -> TeacherStates:
    """Run MiniLM (fp32, CPU, offline) over ``texts``: sentence vectors and token states.

    ``vocab`` is the static model's vocabulary (token → row); teacher tokens are matched to
    it by their string. [CLS], [SEP] and tokens outside it are pooled but not collected.
    """
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(source), local_files_only=True, use_fast=True)
    model = AutoModel.from_pretrained(str(source), local_files_only=True).eval()
    to_static = np.full(len(tokenizer), -1, dtype=np.int64)
    for token, i in tokenizer.get_vocab().items():
        if token in vocab and i not in tokenizer.all_special_ids:
            to_static[i] = vocab[token]
    to_static_t = torch.from_numpy(to_static)
    width = int(model.config.hidden_size)
    sums = torch.zeros((len(vocab), width), dtype=torch.float64)
    counts = torch.zeros(len(vocab), dtype=torch.float64)
    vectors = np.zeros((len(texts), width), dtype=np.float32)
    cut = tokenizer(list(texts), truncation=True, max_length=max_tokens)["input_ids"]
    lengths = [len(x) for x in cut]
    order = np.argsort(lengths, kind="stable")  # little padding per batch
    started = time.perf_counter()
    with torch.inference_mode():
        for b in range(0, len(order), batch_size):
            rows = order[b : b + batch_size]
            enc = tokenizer(
                [texts[i] for i in rows],
                padding=True,
                truncation=True,
                max_length=max_tokens,
                return_tensors="pt",
            )
            states = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(states.dtype)
            vectors[rows] = ((states * mask).sum(1) / mask.sum(1)).numpy()
            ids = to_static_t[enc["input_ids"]]
            keep = (ids >= 0) & enc["attention_mask"].bool()
            sums.index_add_(0, ids[keep], states[keep].double())
            counts.index_add_(0, ids[keep], torch.ones(int(keep.sum()), dtype=torch.float64))
    logger.info("MiniLM pass over %d texts: %.1f s", len(texts), time.perf_counter() - started)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return TeacherStates(vectors, sums.numpy(), counts.numpy().astype(np.int64))


def _ridge(x: np.ndarray, y: np.ndarray, strength: float) -> tuple[np.ndarray, np.ndarray]:
    """Least squares ``x @ P + b ≈ y`` with a ridge penalty scaled to ``x``'s variance."""
    x_mean, y_mean = x.mean(0), y.mean(0)
    xc = x - x_mean
    scale = strength * (xc**2).sum() / x.shape[1]
    p = np.linalg.solve(xc.T @ xc + scale * np.eye(x.shape[1]), xc.T @ (y - y_mean))
    return p, y_mean - x_mean @ p


def mean_rows(vectors: np.ndarray, token_ids: Sequence[Sequence[int]]) -> np.ndarray:
    """Each text's mean token vector (zero for a text without tokens), float64."""
    lengths = np.array([len(x) for x in token_ids])
    out = np.zeros((len(token_ids), vectors.shape[1]))
    filled = lengths > 0
    if filled.any():
        flat = np.fromiter((i for x in token_ids for i in x), np.int64, int(lengths.sum()))
        starts = (np.cumsum(lengths) - lengths)[filled]
        sums = np.add.reduceat(vectors[flat].astype(np.float64), starts, axis=0)
        out[filled] = sums / lengths[filled, None]
    return out


def fit_token_vectors(
    base: np.ndarray,
    token_ids: Sequence[Sequence[int]],
    teacher: TeacherStates,
    *,
    dims: int | None,
    prior: float = 2.0,
    sif: float = 3e-3,
    ridge: float = 0.1,
) -> np.ndarray:
    """New token vectors (vocabulary × ``dims``, float32) fitted to the teacher (see module).

    Args:
        base: the distilled token vectors, one row per static token.
        token_ids: each corpus text's static token ids, as the embedder averages them.
        teacher: the MiniLM pass over the same texts.
        dims: output dimension (PCA); None keeps the teacher's.
        prior: pseudo-occurrences of the mapped distilled vector in a token's mean.
        sif: the SIF coefficient ``a`` of the weights ``a / (a + p)``.
        ridge: ridge strength of the final map (relative to the features' variance).
    """
    counts = teacher.token_counts.astype(np.float64)
    seen = counts > 0
    if not seen.any():
        raise ValueError("the fit corpus has no token of the vocabulary")
    context = teacher.token_sums[seen] / counts[seen, None]
    # 1. distilled vectors mapped into the teacher's output space (least squares over the
    # seen tokens, weighted by √count), then each seen token's contextual mean shrunk to it.
    design = np.hstack([base.astype(np.float64), np.ones((len(base), 1))])
    root = np.sqrt(counts[seen])[:, None]
    mapping = np.linalg.lstsq(design[seen] * root, context * root, rcond=None)[0]
    vectors = design @ mapping
    vectors[seen] = (counts[seen, None] * context + prior * vectors[seen]) / (
        counts[seen, None] + prior
    )
    # 2. SIF weights from the corpus frequencies (unseen tokens: p = 0, weight 1).
    vectors *= (sif / (sif + counts / counts.sum()))[:, None]
    # 3. the texts' mean vectors regressed onto the teacher's sentence vectors.
    p, b = _ridge(mean_rows(vectors, token_ids), teacher.doc_vectors.astype(np.float64), ridge)
    vectors = vectors @ p + b
    if dims is not None and dims < vectors.shape[1]:
        _, _, vt = np.linalg.svd(vectors * np.sqrt(counts + 1.0)[:, None], full_matrices=False)
        vectors = vectors @ vt[:dims].T
    return np.ascontiguousarray(vectors, dtype=np.float32)
