"""Every patent to its technology node, on executors: the distributed half of clustering.

The fitted :class:`~techscreen.cluster.spaces.DomainModel` of each domain (per vector space
a projection and a few thousand centroids at most) is broadcast once; each task assigns its
rows batch by batch with a FAISS index it builds on first use. Nothing patent-level reaches
the driver.
"""

from __future__ import annotations

from collections.abc import Iterator

import faiss
import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema

from techscreen.cluster.spaces import DomainModel
from techscreen.embed.threads import task_cpus
from techscreen.schema import ASSIGNED, ASSIGNMENTS, NO_VECTOR, NOISE, NOISE_NODE, REASSIGNED


def node_id(domain: str, node: int) -> str:
    """The node's id within a run: ``energy:0`` is the heaviest node of energy."""
    return f"{domain}:{node}"


def _assign_batch(batch: pa.RecordBatch, models: dict[str, DomainModel]) -> pa.RecordBatch:
    n = batch.num_rows
    domains = batch.column("domain").to_pylist()
    spaces = np.array(batch.column("space").to_pylist(), dtype=object)
    vectors = batch.column("vector")
    has_vector = np.asarray(vectors.is_valid(), dtype=bool)
    node = np.full(n, NOISE_NODE, dtype=np.int32)
    distance = np.full(n, np.nan, dtype=np.float32)
    strength = np.zeros(n, dtype=np.float32)
    status = np.where(has_vector, NOISE, NO_VECTOR).astype(object)
    for domain, space in set(zip(domains, spaces, strict=True)):
        rows = np.flatnonzero((np.array(domains) == domain) & (spaces == space) & has_vector)
        if not len(rows):
            continue
        x = np.stack(vectors.take(pa.array(rows)).to_numpy(zero_copy_only=False))
        got = models[domain].assign(x, space)
        node[rows], distance[rows], strength[rows] = got.node, got.distance, got.strength
        status[rows] = np.where(got.member, ASSIGNED, np.where(got.node >= 0, REASSIGNED, NOISE))
    ids = [node_id(d, int(k)) if k >= 0 else None for d, k in zip(domains, node, strict=True)]
    return pa.RecordBatch.from_arrays(
        [
            batch.column("domain"),
            batch.column("publication_number"),
            pa.array(node),
            pa.array(ids, pa.string()),
            pa.array(status.tolist(), pa.string()),
            pa.array(distance, mask=~has_vector),
            pa.array(strength, mask=~has_vector),
            batch.column("domain_source"),
            batch.column("domain_confidence"),
        ],
        schema=to_arrow_schema(ASSIGNMENTS),
    )


def assign_nodes(frame: DataFrame, models: dict[str, DomainModel]) -> DataFrame:
    """Rows (domain, publication_number, space, vector) → rows of :data:`ASSIGNMENTS`.

    ``space`` names the vector space of the row's vector (see :mod:`techscreen.cluster.spaces`).
    ``domain_source`` and ``domain_confidence`` (how the patent got its domain, see
    :mod:`techscreen.stages.placement`) pass through; a frame without them gets nulls.

    A patent with no vector (its text was empty) stays in the output with status
    ``no_vector``: every patent of a domain appears exactly once.
    """
    shared = frame.sparkSession.sparkContext.broadcast(models)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        cores = task_cpus()
        if cores:
            faiss.omp_set_num_threads(cores)
        local = shared.value
        for batch in batches:
            yield _assign_batch(batch, local)

    columns = [F.col(c) for c in ("domain", "publication_number", "space", "vector")]
    for name, kind in (("domain_source", "string"), ("domain_confidence", "float")):
        columns.append(
            (F.col(name) if name in frame.columns else F.lit(None)).cast(kind).alias(name)
        )
    return frame.select(*columns).mapInArrow(run, ASSIGNMENTS)
