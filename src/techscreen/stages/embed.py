"""The embed stage: ``patents/`` → ``vectors/`` (incremental per embedder), tracked."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from techscreen.embed.models import ensure_built
from techscreen.embed.quality import knn_agreement, main_subclass
from techscreen.embed.registry import make_embedder
from techscreen.embed.vectors import embed
from techscreen.io.handoff import sample_to_pandas
from techscreen.io.tables import append_partition, read_table, table_meta, table_path
from techscreen.stages import Context

log = logging.getLogger(__name__)
KEY = ["publication_number", "content_hash"]


def _in_domains(ctx: Context, patents: DataFrame, domains: list[str]) -> DataFrame:
    if not domains:
        return patents
    chosen = read_table(ctx.spark, ctx.settings, "patent_domains").where(
        F.col("domain").isin(domains)
    )
    return patents.join(
        chosen.select("publication_number").distinct(), "publication_number", "left_semi"
    )


def existing_vectors(ctx: Context, embedder_id: str) -> DataFrame | None:
    """The vectors an embedder already made, or None if it has made none."""
    if not (table_path(ctx.settings, "vectors") / f"embedder_id={embedder_id}").exists():
        return None
    return read_table(ctx.spark, ctx.settings, "vectors").where(F.col("embedder_id") == embedder_id)


def run_embed(ctx: Context) -> dict[str, Any]:
    """Embed the patents that this embedder has not embedded yet (same content hash)."""
    s = ctx.settings
    if s.embed.routes or s.embed.prefer_english:
        # techscreen.embed.routing decides per record; the stages do not apply it yet (the
        # cluster stage must first cluster each vector space apart). Refuse rather than
        # silently embed everything with embed.embedder.
        raise ValueError(
            "embed.routes / embed.prefer_english are not applied by the embed stage yet: "
            "leave them empty, or set embed.embedder (e.g. lexical-zh) for the whole corpus"
        )
    ensure_built(s.embed)
    embedder = make_embedder(s.embed)
    eid = embedder.embedder_id
    upstream = table_meta(s, "patents")
    patents = _in_domains(ctx, read_table(ctx.spark, s, "patents"), s.embed.domains)
    done = existing_vectors(ctx, eid)
    todo = patents if done is None else patents.join(done.select(*KEY), KEY, "left_anti")

    with ctx.tracker.stage("embed", upstream={"patents": upstream.get("run_id", "")}) as run:
        run.log(
            params={
                "embedder": embedder.get_params(),
                "embedder_id": eid,
                "text_recipe": s.embed.text_recipe,
                "domains": ",".join(s.embed.domains) or "all",
                "sort_window": s.embed.sort_window,
            }
        )
        pending = todo.count()
        summary: dict[str, Any] = {
            "embedder_id": eid,
            "docs_pending": pending,
            "run_id": run.run_id,
        }
        if pending == 0:
            log.info("embed: every patent already has a %s vector: nothing to do", eid)
            summary.update(docs_embedded=0, docs_skipped=0)
            run.log(metrics={"docs_embedded": 0, "docs_skipped": 0})
            return summary
        started = time.perf_counter()
        meta = {
            "run_id": run.run_id,
            "embedder_id": eid,
            "data_version": upstream.get("data_version", ""),
        }
        if embedder.length_sorted:
            todo = fixed_batches(todo, pending, s.embed.sort_window)
        vectors = embed(
            todo, embedder, s.embed.text_recipe, s.embed.sort_window, s.embed.max_padding
        )
        files = append_partition(vectors, s, "vectors", "embedder_id", eid, meta)
        seconds = time.perf_counter() - started
        summary.update(batch_stats(ctx, [str(f) for f in files], patents))
        summary["docs_per_s"] = round(summary["docs_embedded"] / seconds, 2)
        summary["seconds"] = round(seconds, 1)
        summary["ipc_knn_agreement_at_10"] = ipc_knn_agreement(ctx, eid, patents)
        run.log(metrics={k: v for k, v in summary.items() if isinstance(v, int | float)})
    return summary


def fixed_batches(todo: DataFrame, rows: int, window: int) -> DataFrame:
    """``todo`` in partitions and an order that depend on its rows only, not on its layout.

    A padded batch gives a text a vector that differs in the last bits from the same text in
    another batch (the padding changes the summation order). Hash-partitioning by patent key
    into ``ceil(rows / window)`` parts, sorted by key, makes every batch the same whatever
    the input order, Spark's partition count or the cluster, so the vectors are identical.
    """
    parts = max(1, -(-rows // window))
    return todo.repartition(parts, *KEY).sortWithinPartitions(*KEY)


def batch_stats(ctx: Context, files: list[str], patents: DataFrame) -> dict[str, Any]:
    """Counts and rates of one embed batch, read back from the files it wrote."""
    new = ctx.spark.read.parquet(*files)
    row = (
        new.join(patents.select("publication_number", "language"), "publication_number", "left")
        .agg(
            F.count(F.when(F.col("vector").isNotNull(), 1)).alias("embedded"),
            F.count(F.when(F.col("skip_reason").isNotNull(), 1)).alias("skipped"),
            F.avg(F.when(F.col("vector").isNotNull(), F.col("truncated").cast("double"))).alias(
                "truncation"
            ),
            (F.sum("batch_tokens") / F.sum("n_tokens")).alias("padding"),
            F.count(
                F.when(
                    F.col("vector").isNotNull() & (F.coalesce("language", F.lit("?")) != "en"), 1
                )
            ).alias("non_en"),
        )
        .first()
    )
    if row["non_en"]:
        log.warning(
            "embed: %d texts are not English (or undetected): English models embed them poorly",
            row["non_en"],
        )
    return {
        "docs_embedded": int(row["embedded"]),
        "docs_skipped": int(row["skipped"]),
        "truncation_rate": round(float(row["truncation"] or 0.0), 4),
        "padding_ratio": round(float(row["padding"] or 1.0), 4),
        "docs_not_english": int(row["non_en"]),
    }


def ipc_knn_agreement(
    ctx: Context, embedder_id: str, patents: DataFrame, k: int = 10
) -> float | None:
    """``ipc_knn_agreement@10`` of this embedder's vectors on a deterministic sample."""
    vectors = existing_vectors(ctx, embedder_id)
    joined = vectors.where(F.col("vector").isNotNull()).join(
        patents.select(*KEY, "ipc_codes", "cpc_codes"), KEY
    )
    sample = sample_to_pandas(
        joined.select("publication_number", "vector", "ipc_codes", "cpc_codes"),
        ctx.settings.embed.knn_sample,
        order_by="publication_number",
    )
    labels = [main_subclass(i, c) for i, c in zip(sample.ipc_codes, sample.cpc_codes, strict=True)]
    if sum(label is not None for label in labels) <= k:
        return None
    return round(knn_agreement(np.stack(sample.vector.to_numpy()), labels, k), 4)
