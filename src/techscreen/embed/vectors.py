"""Embedding on executors: patents' texts → rows of the ``vectors/`` table.

Each Python worker loads its model once (``registry.loaded``). Within a partition, texts are
taken ``sort_window`` at a time and sorted by token count before batching, so a batch holds
texts of similar length and is padded little (``batch_tokens`` records what each text's batch
was padded to; the stage logs padded ÷ real tokens).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from techscreen.embed.base import Embedder
from techscreen.embed.registry import loaded
from techscreen.embed.text import patent_text
from techscreen.embed.threads import task_cpus

# The vectors table (embedder_id is its partition column, added by the writer).
VECTORS = T.StructType(
    [
        T.StructField("publication_number", T.StringType(), False),
        T.StructField("content_hash", T.StringType(), False),
        T.StructField("vector", T.ArrayType(T.FloatType(), containsNull=False), True),
        T.StructField("n_tokens", T.IntegerType(), False),
        T.StructField("truncated", T.BooleanType(), False),
        T.StructField("batch_tokens", T.IntegerType(), False),
        T.StructField("skip_reason", T.StringType(), True),
    ]
)
SKIP_NO_TEXT = "no_text"


def _vector_column(vectors: list[np.ndarray | None], dim: int) -> pa.Array:
    mask = np.array([v is None for v in vectors])
    flat = np.concatenate(
        [v if v is not None else np.zeros(0, np.float32) for v in vectors]
        or [np.zeros(0, np.float32)]
    )
    lengths = np.array([0 if v is None else dim for v in vectors], dtype=np.int32)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    return pa.ListArray.from_arrays(
        pa.array(offsets), pa.array(flat, pa.float32()), mask=pa.array(mask)
    )


def length_batches(
    order: list[int], lengths: np.ndarray, size: int, max_padding: float
) -> list[list[int]]:
    """Cut texts already sorted by length into batches of at most ``size`` similar lengths.

    A batch is padded to its longest text; a new batch starts when a text is more than
    ``max_padding`` times (and 8 tokens) longer than the batch's first, so within a batch
    padded ÷ real tokens stays near ``max_padding`` however few texts a window holds.
    """
    batches: list[list[int]] = []
    for i in order:
        if batches:
            current = batches[-1]
            first = lengths[current[0]]
            if len(current) < size and lengths[i] <= max(first * max_padding, first + 8):
                current.append(i)
                continue
        batches.append([i])
    return batches


def embed_window(
    model: Embedder, pns: list[str], hashes: list[str], docs: list[str], max_padding: float
) -> pa.RecordBatch:
    """Embed one window of texts: sort by length, batch, unsort; skip empty texts with a reason."""
    n = len(docs)
    present = [i for i, d in enumerate(docs) if d]
    counts = np.zeros(n, dtype=np.int64)
    batch_tokens = np.zeros(n, dtype=np.int64)
    vectors: list[np.ndarray | None] = [None] * n
    if present and not model.length_sorted:
        encoded, counts[present] = model.encode_counted([docs[i] for i in present])
        batch_tokens[present] = np.minimum(counts[present], model.max_tokens)
        for row, i in enumerate(present):
            vectors[i] = encoded[row]
    elif present:
        counts[present] = model.token_counts([docs[i] for i in present])
        clipped = np.minimum(counts, model.max_tokens)
        order = sorted(present, key=lambda i: (clipped[i], i))
        for batch in length_batches(order, clipped, model.batch_size, max_padding):
            encoded = model.encode([docs[i] for i in batch])
            batch_tokens[batch] = clipped[batch].max()
            for row, i in enumerate(batch):
                vectors[i] = encoded[row]
    schema = to_arrow_schema(VECTORS)
    return pa.RecordBatch.from_arrays(
        [
            pa.array(pns, pa.string()),
            pa.array(hashes, pa.string()),
            _vector_column(vectors, model.dim).cast(schema.field("vector").type),
            pa.array(np.minimum(counts, model.max_tokens).astype(np.int32)),
            pa.array(counts > model.max_tokens),
            pa.array(batch_tokens.astype(np.int32)),
            pa.array([None if v is not None else SKIP_NO_TEXT for v in vectors], pa.string()),
        ],
        schema=schema,
    )


def limit_threads() -> None:
    """Give torch only the cores Spark gave this task (see :func:`task_cpus`)."""
    cores = task_cpus()
    if cores:
        import torch

        torch.set_num_threads(cores)


def embed(
    patents: DataFrame, embedder: Embedder, recipe: str, sort_window: int, max_padding: float
) -> DataFrame:
    """Embed each patent's text (by ``recipe``) on executors → rows of :data:`VECTORS`.

    Only the unloaded embedder (its parameters) travels in the closure; each worker loads
    the model once.
    """

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        limit_threads()
        model = loaded(embedder)
        pns: list[str] = []
        hashes: list[str] = []
        docs: list[str] = []
        for batch in batches:
            cols = batch.to_pydict()
            pns += cols["publication_number"]
            hashes += cols["content_hash"]
            docs += [
                patent_text(t, a, recipe)
                for t, a in zip(cols["title"], cols["abstract"], strict=True)
            ]
            while len(docs) >= sort_window:
                yield embed_window(
                    model, pns[:sort_window], hashes[:sort_window], docs[:sort_window], max_padding
                )
                pns, hashes, docs = pns[sort_window:], hashes[sort_window:], docs[sort_window:]
        if docs:
            yield embed_window(model, pns, hashes, docs, max_padding)

    frame = patents.select("publication_number", "content_hash", "title", "abstract")
    return frame.mapInArrow(run, VECTORS)
