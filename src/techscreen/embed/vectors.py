"""Embedding on executors: patents' texts → rows of the ``vectors/`` table.

Each Python worker loads its model once (``registry.loaded``). Within a partition, texts are
taken ``sort_window`` at a time and sorted by token count before batching, so a batch holds
texts of similar length and is padded little (``batch_tokens`` records what each text's batch
was padded to; the stage logs padded ÷ real tokens).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from techscreen.embed.base import Embedder
from techscreen.embed.registry import loaded
from techscreen.embed.text import patent_texts
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


def _vector_column(vectors: np.ndarray, present: np.ndarray) -> pa.Array:
    """A list column from the rows of ``vectors``; rows where ``present`` is False are null."""
    dim = vectors.shape[1]
    offsets = np.zeros(len(present) + 1, dtype=np.int32)
    np.cumsum(present * dim, out=offsets[1:])
    flat = np.ascontiguousarray(vectors[present], dtype=np.float32).reshape(-1)
    return pa.ListArray.from_arrays(
        pa.array(offsets), pa.array(flat, pa.float32()), mask=pa.array(~present)
    )


def _strings(values: Sequence[str] | pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values.cast(pa.string())
    return pa.array(values, pa.string())


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
    model: Embedder,
    pns: Sequence[str] | pa.Array,
    hashes: Sequence[str] | pa.Array,
    docs: list[str],
    max_padding: float,
) -> pa.RecordBatch:
    """Embed one window of texts: sort by length, batch, unsort; skip empty texts with a reason."""
    n = len(docs)
    present = [i for i, d in enumerate(docs) if d]
    has = np.zeros(n, dtype=bool)
    has[present] = True
    counts = np.zeros(n, dtype=np.int64)
    batch_tokens = np.zeros(n, dtype=np.int64)
    vectors = np.zeros((n, model.dim), dtype=np.float32)
    if present and not model.length_sorted:
        vectors[present], counts[present] = model.encode_counted([docs[i] for i in present])
        batch_tokens[present] = np.minimum(counts[present], model.max_tokens)
    elif present:
        counts[present] = model.token_counts([docs[i] for i in present])
        clipped = np.minimum(counts, model.max_tokens)
        order = sorted(present, key=lambda i: (clipped[i], i))
        for batch in length_batches(order, clipped, model.batch_size, max_padding):
            vectors[batch] = model.encode([docs[i] for i in batch])
            batch_tokens[batch] = clipped[batch].max()
    schema = to_arrow_schema(VECTORS)
    skip = pc.if_else(pa.array(has), pa.scalar(None, pa.string()), pa.scalar(SKIP_NO_TEXT))
    return pa.RecordBatch.from_arrays(
        [
            _strings(pns),
            _strings(hashes),
            _vector_column(vectors, has).cast(schema.field("vector").type),
            pa.array(np.minimum(counts, model.max_tokens).astype(np.int32)),
            pa.array(counts > model.max_tokens),
            pa.array(batch_tokens.astype(np.int32)),
            skip,
        ],
        schema=schema,
    )


def _embed_table(
    model: Embedder, table: pa.Table, recipe: str, max_padding: float
) -> pa.RecordBatch:
    """:func:`embed_window` over a window of patents rows, the texts assembled by Arrow."""
    docs = patent_texts(table["title"], table["abstract"], recipe).to_pylist()
    return embed_window(
        model, table["publication_number"], table["content_hash"], docs, max_padding
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
        pending: list[pa.RecordBatch] = []
        rows = 0
        for batch in batches:
            pending.append(batch)
            rows += batch.num_rows
            while rows >= sort_window:
                table = pa.Table.from_batches(pending)
                yield _embed_table(model, table.slice(0, sort_window), recipe, max_padding)
                pending, rows = table.slice(sort_window).to_batches(), rows - sort_window
        if rows:
            yield _embed_table(model, pa.Table.from_batches(pending), recipe, max_padding)

    frame = patents.select("publication_number", "content_hash", "title", "abstract")
    return frame.mapInArrow(run, VECTORS)
