"""The embed stage: ``patents/`` → ``vectors/`` (incremental per embedder, routed by language)."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from techscreen.config import EmbedSettings, Settings
from techscreen.embed.base import Embedder
from techscreen.embed.lexical import KIND as LEXICAL_KIND
from techscreen.embed.lexical import NO_FIT_ID
from techscreen.embed.lexical_log import log_lexical_model
from techscreen.embed.lexical_workspace import (
    describe,
    fit_on_workspace,
    fits_workspace,
    resolved,
)
from techscreen.embed.models import ensure_built, lexical_options
from techscreen.embed.quality import knn_agreement, main_subclass
from techscreen.embed.registry import named_embedder
from techscreen.embed.routing import RoutePlan, kind_of, routed
from techscreen.embed.vectors import VECTORS, embed
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


def stage_embedders(settings: EmbedSettings) -> dict[str, Embedder]:
    """Every embedder the routing plan sends records to (built first if need be), by name.

    ``lexical-zh`` fitted on the workspace is not built here: ``settings`` must already name
    its fit (:func:`techscreen.embed.lexical_workspace.resolved`, after
    :func:`fit_lexical`).
    """
    return stage_embedders_named(settings, RoutePlan.from_settings(settings).embedders)


def embedder_inputs(settings: Settings) -> str:
    """What the embed stage reads from outside the workspace: its embedders' ids.

    ``lexical-zh`` fitted on the workspace depends on the workspace's patents and the fit
    settings only, both in the stage's fingerprint already: it stands as one constant, so
    the fingerprint is the same before and after the stage fits it.
    """
    e = settings.embed
    names = RoutePlan.from_settings(e).embedders
    on_workspace = fits_workspace(e) and LEXICAL_KIND in names
    built = stage_embedders_named(
        e, tuple(n for n in names if n != LEXICAL_KIND or not on_workspace)
    )
    return ",".join(
        built[n].embedder_id if n in built else f"{LEXICAL_KIND}@workspace" for n in names
    )


def stage_embedders_named(settings: EmbedSettings, names: tuple[str, ...]) -> dict[str, Embedder]:
    """:func:`stage_embedders` for the embedders ``names`` only."""
    out = {}
    for name in names:
        ensure_built(settings.model_copy(update={"embedder": name}))
        out[name] = named_embedder(settings, name)
    return out


def lexical_part(ctx: Context) -> DataFrame:
    """The workspace's patents (within ``embed.domains``) routed to ``lexical-zh``."""
    s = ctx.settings
    plan = RoutePlan.from_settings(s.embed)
    patents = _in_domains(ctx, read_table(ctx.spark, s, "patents"), s.embed.domains)
    return routed(patents, plan)[LEXICAL_KIND]


def fit_lexical(ctx: Context, part: DataFrame, *, force: bool = False) -> dict[str, Any]:
    """Fit (or reuse) the workspace's ``lexical-zh`` on ``part``; say which corpus, in the log."""
    fit = fit_on_workspace(ctx.settings, part, lexical_options(ctx.settings.embed), force=force)
    log.info("embed: %s", describe(fit))
    return fit


def run_embed(ctx: Context) -> dict[str, Any]:
    """Embed the patents that their routed embedder has not embedded yet (same content hash).

    With ``embed.routes`` (conf/base routes Chinese, Japanese, Korean and Russian to
    ``lexical-zh``) each record goes to the embedder of its language, or its translation to
    the English one (see :mod:`techscreen.embed.routing`), and each embedder writes its own
    partition (empty when no record is routed to it); with ``embed.routes={}`` every patent
    goes to ``embed.embedder``.
    """
    s = ctx.settings
    plan = RoutePlan.from_settings(s.embed)
    upstream = table_meta(s, "patents")
    patents = _in_domains(ctx, read_table(ctx.spark, s, "patents"), s.embed.domains)
    parts = routed(patents, plan)
    fit = None
    if LEXICAL_KIND in parts and fits_workspace(s.embed):
        fit = fit_lexical(ctx, parts[LEXICAL_KIND])
    embedders = stage_embedders(resolved(s))

    with ctx.tracker.stage("embed", upstream={"patents": upstream.get("run_id", "")}) as run:
        if fit is not None:
            run.log(params=_fit_params(fit))
        run.log(
            params={
                "embedders": {n: e.get_params() for n, e in embedders.items()},
                "embedder_ids": ",".join(e.embedder_id for e in embedders.values()),
                "routes": dict(plan.routes) or "none",
                "default": plan.default,
                "prefer_english": plan.prefer_english,
                "text_recipe": s.embed.text_recipe,
                "domains": ",".join(s.embed.domains) or "all",
                "sort_window": s.embed.sort_window,
            }
        )
        meta = {"run_id": run.run_id, "data_version": upstream.get("data_version", "")}
        results = {
            e.embedder_id: _embed_part(ctx, run, e, parts[name], meta)
            for name, e in embedders.items()
        }
        totals = {
            k: sum(r[k] for r in results.values())
            for k in ("docs_routed", "docs_pending", "docs_embedded", "docs_skipped")
        }
        run.log(
            metrics={
                **totals,
                **{
                    f"{kind_of(eid)}.{k}": v
                    for eid, r in results.items()
                    for k, v in r.items()
                    if isinstance(v, int | float)
                },
            }
        )
    return {"run_id": run.run_id, "embedder_ids": list(results), **totals, "embedders": results}


def _fit_params(fit: dict[str, Any]) -> dict[str, Any]:
    """The MLflow params naming the corpus the workspace's ``lexical-zh`` was fitted on."""
    corpus = fit["corpus"]
    return {
        f"{LEXICAL_KIND}.fit": fit["action"],
        f"{LEXICAL_KIND}.fit_corpus": corpus["corpus"],
        f"{LEXICAL_KIND}.fit_docs": corpus["docs"],
        f"{LEXICAL_KIND}.fit_routed_docs": corpus["routed_docs"],
        f"{LEXICAL_KIND}.fit_languages": corpus.get("languages") or "-",
        f"{LEXICAL_KIND}.corpus_sha256": corpus["texts_sha256"],
        f"{LEXICAL_KIND}.fit_folder": fit["folder"] or "-",
    }


def _embed_part(
    ctx: Context, run: Any, embedder: Embedder, part: DataFrame, meta: dict[str, str]
) -> dict[str, Any]:
    """Embed one embedder's routed rows not embedded yet; its counts, rates and quality."""
    s, eid = ctx.settings, embedder.embedder_id
    if embedder.kind == LEXICAL_KIND and eid != NO_FIT_ID:
        log_lexical_model(run.client, run.run_id, embedder.path, max_tokens=embedder.max_tokens)
    done = existing_vectors(ctx, eid)
    todo = part if done is None else part.join(done.select(*KEY), KEY, "left_anti")
    routed_rows, pending = _routed_and_pending(part, done)
    summary: dict[str, Any] = {"docs_routed": routed_rows, "docs_pending": pending}
    if pending == 0 and done is None:
        # No record of this corpus is in the embedder's languages (lexical-zh on an English
        # corpus): an empty partition says it was run, so the cluster stage reads its space.
        log.info("embed: no patent is routed to %s: its partition is empty", eid)
        empty = ctx.spark.createDataFrame([], VECTORS)
        append_partition(empty, s, "vectors", "embedder_id", eid, {**meta, "embedder_id": eid})
    if pending == 0:
        log.info("embed: every patent routed to %s already has a vector: nothing to do", eid)
        return {**summary, "docs_embedded": 0, "docs_skipped": 0}
    started = time.perf_counter()
    if embedder.length_sorted:
        todo = fixed_batches(todo, pending, s.embed.sort_window)
    vectors = embed(todo, embedder, s.embed.text_recipe, s.embed.sort_window, s.embed.max_padding)
    files = append_partition(
        vectors, s, "vectors", "embedder_id", eid, {**meta, "embedder_id": eid}
    )
    seconds = time.perf_counter() - started
    summary.update(batch_stats(ctx, [str(f) for f in files], part, embedder.english_only))
    summary["docs_per_s"] = round(summary["docs_embedded"] / seconds, 2)
    summary["seconds"] = round(seconds, 1)
    summary["ipc_knn_agreement_at_10"] = ipc_knn_agreement(ctx, eid, part, size=routed_rows)
    return summary


def _routed_and_pending(part: DataFrame, done: DataFrame | None) -> tuple[int, int]:
    """Rows routed to an embedder, and those of them it has no vector for: one pass."""
    if done is None:
        n = part.count()
        return n, n
    marked = part.select(*KEY).join(done.select(*KEY, F.lit(True).alias("_done")), KEY, "left")
    row = marked.agg(F.count("*").alias("n"), F.count("_done").alias("done")).first()
    return int(row["n"]), int(row["n"]) - int(row["done"])


def fixed_batches(todo: DataFrame, rows: int, window: int) -> DataFrame:
    """``todo`` in partitions and an order that depend on its rows only, not on its layout.

    A padded batch gives a text a vector that differs in the last bits from the same text in
    another batch (the padding changes the summation order). Hash-partitioning by patent key
    into ``ceil(rows / window)`` parts, sorted by key, makes every batch the same whatever
    the input order, Spark's partition count or the cluster, so the vectors are identical.
    """
    parts = max(1, -(-rows // window))
    return todo.repartition(parts, *KEY).sortWithinPartitions(*KEY)


def batch_stats(
    ctx: Context, files: list[str], patents: DataFrame, english_only: bool = True
) -> dict[str, Any]:
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
    if english_only and row["non_en"]:
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
    ctx: Context, embedder_id: str, patents: DataFrame, k: int = 10, size: int | None = None
) -> float | None:
    """``ipc_knn_agreement@10`` of this embedder's vectors on a deterministic sample.

    ``size``: about how many of ``patents`` have vectors (lets the sample be cut first).
    """
    vectors = existing_vectors(ctx, embedder_id)
    joined = vectors.where(F.col("vector").isNotNull()).join(
        patents.select(*KEY, "ipc_codes", "cpc_codes"), KEY
    )
    sample = sample_to_pandas(
        joined.select("publication_number", "vector", "ipc_codes", "cpc_codes"),
        ctx.settings.embed.knn_sample,
        order_by="publication_number",
        size=size,
    )
    labels = [main_subclass(i, c) for i, c in zip(sample.ipc_codes, sample.cpc_codes, strict=True)]
    if sum(label is not None for label in labels) <= k:
        return None
    return round(knn_agreement(np.stack(sample.vector.to_numpy()), labels, k), 4)
