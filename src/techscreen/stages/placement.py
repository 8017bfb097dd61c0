"""The cluster stage's first step: patents whose codes match no domain, placed by text.

:func:`place_unassigned` fits one :class:`~techscreen.domains.placement.DomainClassifier`
per vector space on a bounded sample of the code-assigned patents (the one hand-off, through
:func:`~techscreen.io.handoff.sample_groups_to_pandas`), scores it on their held-out share,
places every ``unassigned`` patent on the executors and writes the outcome, placed or not,
to ``placements/`` (partitioned by the clustering run). The placed patents join their
domain with ``domain_source`` ``text`` for everything downstream: the clustering, its
assignments and nodes (``text_placed``), the graph, the grades (``text_placed_share``) and
the report. Only counts reach the driver besides the training sample.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from techscreen.cluster.spaces import ClusterPlan
from techscreen.domains.placement import DomainClassifier, Evaluation, place
from techscreen.io.handoff import sample_groups_to_pandas
from techscreen.io.tables import append_partition, read_table
from techscreen.schema import BY_TEXT, PLACED, UNASSIGNED_DOMAIN
from techscreen.stages import Context

log = logging.getLogger(__name__)

PLACEMENT_ARTIFACT = "placement.json"
_HELD_OUT_SCALE = 1_000_000  # resolution of the held-out draw


@dataclass
class Placement:
    """What the placement step did.

    Attributes:
        members: the placed patents: ``publication_number, domain, domain_source,
            domain_confidence`` (a Spark frame over ``placements/``).
        figures: overall figures (MLflow ``placement.*``): unassigned patents, placed,
            left by reason, held-out accuracy, and per space under ``space.<name>``.
        domains: per domain placed patents and the held-out precision and recall.
        details: ``placement.json``: the figures, the calibration per confidence bin, the
            classifier's parameters.
    """

    members: DataFrame
    figures: dict[str, Any] = field(default_factory=dict)
    domains: dict[str, dict[str, Any]] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


def space_names(plan: ClusterPlan) -> dict[str, str]:
    """Space id → a name fit for metric keys: its embedders' names joined by ``_``."""
    names: dict[str, list[str]] = {}
    for embedder, space in plan.space.items():
        names.setdefault(space, []).append(embedder)
    return {space: "_".join(sorted(found)) for space, found in names.items()}


def unassigned_count(ctx: Context) -> int:
    """Patents whose codes match no domain (what placement would have placed)."""
    table = read_table(ctx.spark, ctx.settings, "patent_domains")
    return table.where(F.col("domain") == UNASSIGNED_DOMAIN).count()


def _training_sample(ctx: Context, current: DataFrame, plan: ClusterPlan) -> pd.DataFrame:
    """Code-assigned patents with a vector: at most ``max_train`` per space, on the driver.

    Columns ``publication_number, space, vector, domains`` (their codes' domains, sorted)
    and ``held_out`` (a draw by a hash of the publication number, so the same patents are
    held out whatever the partitioning).
    """
    s, p = ctx.settings, ctx.settings.domains.placement
    defined = list(s.domains.definitions)
    labels = (
        read_table(ctx.spark, s, "patent_domains")
        .where(F.col("domain").isin(defined))
        .groupBy("publication_number")
        .agg(F.sort_array(F.collect_set("domain")).alias("domains"))
    )
    draw = F.pmod(
        F.xxhash64(F.lit(p.seed), F.lit("held_out"), "publication_number"), _HELD_OUT_SCALE
    )
    frame = (
        labels.join(current.where(F.col("vector").isNotNull()), "publication_number")
        .withColumn("held_out", draw < int(p.holdout_share * _HELD_OUT_SCALE))
        .select("publication_number", "space", "vector", "domains", "held_out")
    )
    limits = dict.fromkeys(plan.spaces, p.max_train)
    return sample_groups_to_pandas(frame, "space", limits, p.seed, "publication_number")


def _matrix(vectors: pd.Series) -> np.ndarray:
    """Vectors of a sample column as one float32 matrix (no rows: an empty one)."""
    if vectors.empty:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack(vectors.to_numpy()).astype(np.float32)


def _fit(
    sample: pd.DataFrame, plan: ClusterPlan, ctx: Context
) -> tuple[dict[str, DomainClassifier], dict[str, Evaluation], dict[str, dict[str, Any]]]:
    """A classifier per space that has two domains to choose from, and its evaluation."""
    p = ctx.settings.domains.placement
    names = space_names(plan)
    classifiers, scores, spaces = {}, {}, {}
    for space in plan.spaces:
        part = sample[sample.space == space]
        train, test = part[~part.held_out], part[part.held_out]
        row: dict[str, Any] = {"train": len(train)}
        if train.domains.map(tuple).explode().nunique() < 2:
            log.warning(
                "placement %s: %d code-assigned patents in fewer than two domains: "
                "its unassigned patents stay unassigned",
                names[space],
                len(train),
            )
            spaces[names[space]] = row
            continue
        classifier = DomainClassifier(p.regularisation, p.class_balance).fit(
            _matrix(train.vector), list(train.domains)
        )
        scores[space] = Evaluation.of(
            classifier, _matrix(test.vector), list(test.domains), p.min_confidence
        )
        classifiers[space] = classifier
        spaces[names[space]] = {**row, **scores[space].figures()}
    return classifiers, scores, spaces


def place_unassigned(
    ctx: Context, run, current: DataFrame, plan: ClusterPlan, domains: list[str]
) -> Placement:
    """Place every ``unassigned`` patent, write ``placements/``, return the placed ones.

    Args:
        ctx: the stage's context (``domains.placement`` settings).
        run: the clustering's MLflow run (its id partitions ``placements/``).
        current: every patent with its ``space`` and routed ``vector`` (null when none).
        plan: the clustering's vector spaces.
        domains: the domains this clustering covers (per-domain figures are given for them;
            the classifier chooses among every defined domain).
    """
    s, p = ctx.settings, ctx.settings.domains.placement
    unassigned = (
        read_table(ctx.spark, s, "patent_domains")
        .where(F.col("domain") == UNASSIGNED_DOMAIN)
        .select("publication_number")
        .join(current, "publication_number", "left")
    )
    if unassigned_count(ctx):
        sample = _training_sample(ctx, current, plan)
        classifiers, scores, spaces = _fit(sample, plan, ctx)
    else:  # nothing to place: no training sample is drawn, nothing is fitted or scored
        log.info("placement: every patent is in a domain by its codes: no classifier fitted")
        classifiers, scores, spaces = {}, {}, {}
    meta = {"run_id": run.run_id, "upstream": "patent_domains, vectors"}
    append_partition(
        place(unassigned, classifiers, p.min_confidence),
        s,
        "placements",
        "run_id",
        run.run_id,
        meta,
    )
    table = read_table(ctx.spark, s, "placements").where(F.col("run_id") == run.run_id)
    counts = table.groupBy("space", "status", "domain").count().collect()
    total = Evaluation()
    for score in scores.values():
        total = total.merge(score)
    names = space_names(plan)
    by_status: dict[str, int] = {}
    placed_in: dict[str, int] = {}
    for r in counts:
        by_status[r["status"]] = by_status.get(r["status"], 0) + int(r["count"])
        if r["status"] == PLACED:
            placed_in[r["domain"]] = placed_in.get(r["domain"], 0) + int(r["count"])
            row = spaces.setdefault(names.get(r["space"], str(r["space"])), {})
            row["placed"] = row.get("placed", 0) + int(r["count"])
    figures: dict[str, Any] = {
        "enabled": 1,
        "unassigned": sum(by_status.values()),
        "placed": by_status.get(PLACED, 0),
        **{f"left.{k}": v for k, v in sorted(by_status.items()) if k != PLACED},
        "train": sum(row.get("train", 0) for row in spaces.values()),
        "min_confidence": p.min_confidence,
        **total.figures(),
        "space": spaces,
    }
    per_domain = {d: {"placed": placed_in.get(d, 0), **total.of_domain(d)} for d in domains}
    seen = sorted(set(placed_in) | set(total.predicted) | set(total.actual))
    details = {
        "classifier": DomainClassifier(p.regularisation, p.class_balance).get_params(),
        "settings": p.model_dump(),
        "figures": figures,
        "domains": {d: {"placed": placed_in.get(d, 0), **total.of_domain(d)} for d in seen},
        "calibration": total.calibration(),
    }
    log.info(
        "placement: %d of %d unassigned patents placed by text (held-out accuracy %s); %s",
        figures["placed"],
        figures["unassigned"],
        figures["accuracy"],
        placed_in,
    )
    members = table.where((F.col("status") == PLACED) & F.col("domain").isin(domains)).select(
        "publication_number",
        "domain",
        F.lit(BY_TEXT).alias("domain_source"),
        F.col("confidence").cast("float").alias("domain_confidence"),
    )
    return Placement(members, figures, per_domain, details)
