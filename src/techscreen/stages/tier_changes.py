"""The grade stage's tier-change log: ``tier_changes/`` against the previous grade run.

Called by :func:`techscreen.stages.grade.run_grade` once its grades are written. The previous
grade run is ``grade.changes.previous_run``, else the chosen (else newest) finished one —
the grading the report showed before this one. Per domain the two gradings' node ids are
comparable when both clustering runs used the model fitted in the same run (the tags
``techscreen.model.<domain>`` that :func:`techscreen.stages.cluster_update.save_models`
writes); otherwise the nodes are matched by the patents they share, counted in one Spark
aggregation over the two runs' assignments (only node pairs reach the driver). The pure
comparison is :mod:`techscreen.grade.changes`.
"""

from __future__ import annotations

import logging
import math
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.exceptions import MlflowException
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from techscreen.config import DIMENSIONS
from techscreen.experiments import chosen_run
from techscreen.grade import scoring
from techscreen.grade.changes import (
    OVERLAP_COLUMNS,
    change_counts,
    match_by_overlap,
    pair_items,
    tier_changes,
)
from techscreen.io.exports import write_csv
from techscreen.io.tables import append_partition, read_table, table_path
from techscreen.report.data import ChangeLog
from techscreen.schema import NOISE_NODE, TIER_CHANGES
from techscreen.stages import Context
from techscreen.stages.cluster_update import MODEL_TAG

log = logging.getLogger(__name__)

PREVIOUS_TAG = "techscreen.tier_changes.previous_run"
CSV_NAME = "tier_changes.csv"
_COMPARED = (
    "domain",
    "item",
    "kind",
    "label",
    "patents",
    "scores",
    *DIMENSIONS,
    "expert_score",
    "final_score",
    "tier",
)


def _previous_grading(ctx: Context) -> str:
    """The grade run to compare with, if it has rows in this workspace ("" if none)."""
    run = ctx.settings.grade.changes.previous_run or chosen_run(
        ctx.tracker.client, ctx.tracker.experiment_id, "grade"
    )
    here = run and (table_path(ctx.settings, "grades") / f"run_id={run}").is_dir()
    return run if here else ""


def _models(ctx: Context, cluster_run: str, domains: list[str]) -> dict[str, str]:
    """Domain → the run its model was fitted in ("" when the run is unknown to MLflow).

    A run from before models were saved has no such tags: its models were its own.
    """
    try:
        tags = ctx.tracker.client.get_run(cluster_run).data.tags if cluster_run else None
    except MlflowException:
        tags = None
    if tags is None:
        return dict.fromkeys(domains, "")
    return {d: tags.get(f"{MODEL_TAG}{d}", cluster_run) for d in domains}


def _members(ctx: Context, cluster_run: str, domains: list[str], item: str) -> DataFrame:
    return (
        read_table(ctx.spark, ctx.settings, "assignments")
        .where((F.col("run_id") == cluster_run) & F.col("domain").isin(domains))
        .where(F.col("node") != NOISE_NODE)
        .select("domain", "publication_number", F.col("node_id").alias(item))
    )


def _overlaps(ctx: Context, before: str, now: str, domains: list[str]) -> pd.DataFrame:
    """Patents shared by each pair of nodes of two clustering runs, and each node's size."""
    if not domains:
        return pd.DataFrame(columns=list(OVERLAP_COLUMNS))
    old = _members(ctx, before, domains, "previous_item")
    new = _members(ctx, now, domains, "item")
    shared = (
        old.join(new, ["domain", "publication_number"])
        .groupBy("domain", "previous_item", "item")
        .agg(F.count("*").alias("shared"))
        .join(
            old.groupBy("previous_item").agg(F.count("*").alias("previous_size")), "previous_item"
        )
        .join(new.groupBy("item").agg(F.count("*").alias("size")), "item")
    )
    return pd.DataFrame([r.asDict() for r in shared.collect()], columns=list(OVERLAP_COLUMNS))


def _grades(ctx: Context, grade_run: str) -> tuple[pd.DataFrame, str]:
    """A grade run's items (maps as dicts) and the clustering run behind them."""
    rows = (
        read_table(ctx.spark, ctx.settings, "grades")
        .where(F.col("run_id") == grade_run)
        .select(*_COMPARED, "lineage")
        .collect()
    )
    frame = pd.DataFrame([r.asDict() for r in rows], columns=[*_COMPARED, "lineage"])
    cluster = next((r["lineage"].get("cluster", "") for r in rows if r["lineage"]), "")
    return frame.drop(columns="lineage"), cluster


def write_tier_changes(
    ctx: Context, run, current: pd.DataFrame, cluster_run: str, domains: list[str]
) -> dict[str, Any]:
    """Compare this grading with the previous one; write ``tier_changes/`` and log it.

    Args:
        ctx: the grade stage's context.
        run: the grade run (its id partitions the table).
        current: this run's grade rows (``grades/`` columns).
        cluster_run: the clustering this run graded.
        domains: the domains this run graded.

    Returns:
        ``{}`` without a previous grading (or with ``grade.changes.enabled`` false), else
        the previous run's id and counts of the changes by kind.
    """
    g = ctx.settings.grade
    previous_run = _previous_grading(ctx) if g.changes.enabled else ""
    if not previous_run:
        return {}
    previous, previous_cluster = _grades(ctx, previous_run)
    previous = previous[previous["domain"].isin(domains) | previous["domain"].isna()]
    before, now = _models(ctx, previous_cluster, domains), _models(ctx, cluster_run, domains)
    same = {d for d in domains if before[d] and before[d] == now[d]}
    reclustered = set(domains) - same
    overlaps = _overlaps(ctx, previous_cluster, cluster_run, sorted(reclustered))
    pairs = pair_items(previous, current, same, match_by_overlap(overlaps, g.changes.min_overlap))
    weights = scoring.dimension_weights(g)
    changes = tier_changes(
        previous,
        current[list(_COMPARED)],
        pairs,
        weights,
        {d: scoring.indicator_weights_of(g, d) for d in weights},
        g.changes,
        previous_run,
        reclustered,
    )
    meta = {"run_id": run.run_id, "previous_run": previous_run}
    frame = ctx.spark.createDataFrame(_records(changes), TIER_CHANGES)
    append_partition(frame, ctx.settings, "tier_changes", "run_id", run.run_id, meta)
    summary = change_counts(changes)
    run.log(
        metrics={f"tier_changes.{k}": v for k, v in summary.items()},
        tags={PREVIOUS_TAG: previous_run},
    )
    with tempfile.TemporaryDirectory() as tmp:
        run.artifact(write_csv(changes, Path(tmp) / CSV_NAME))
    log.info("grade: against grade run %s: %s", previous_run, summary)
    return {"previous_run": previous_run, **summary}


def _records(changes: pd.DataFrame) -> list[tuple]:
    """Rows of :data:`~techscreen.schema.TIER_CHANGES`: missing values null, counts int."""

    def plain(value: Any, kind: T.DataType) -> Any:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        if isinstance(kind, T.LongType):
            return int(value)
        return float(value) if isinstance(kind, T.DoubleType) else value

    return [
        tuple(plain(r[f.name], f.dataType) for f in TIER_CHANGES.fields)
        for r in changes.to_dict("records")
    ]


def read_tier_changes(ctx: Context, grade_run: str) -> ChangeLog | None:
    """The tier changes a grade run wrote, or ``None`` when it compared with nothing."""
    previous = ctx.tracker.client.get_run(grade_run).data.tags.get(PREVIOUS_TAG)
    if not previous:
        return None
    columns = list(TIER_CHANGES.fieldNames())
    if not (table_path(ctx.settings, "tier_changes") / f"run_id={grade_run}").is_dir():
        return ChangeLog(previous, pd.DataFrame(columns=columns))  # nothing changed
    rows = (
        read_table(ctx.spark, ctx.settings, "tier_changes")
        .where(F.col("run_id") == grade_run)
        .drop("run_id")
        .collect()
    )
    return ChangeLog(previous, pd.DataFrame([r.asDict() for r in rows], columns=columns))
