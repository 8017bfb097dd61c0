"""The grade stage: a graph run's nodes → indicators, 0–10 scores, expert fusion, tiers.

Reads the graph run (``grade.graph_run``, else the chosen one; inside a pipeline the one
the pipeline just made) and the clustering it was built from. Per technology node:
raw indicators and their domain references (:mod:`techscreen.grade.indicators`), scores
0–10 by the indicators' anchors (:mod:`techscreen.grade.anchors`) or within the domain, and
combined (:mod:`techscreen.grade.scoring`), fused with expert scores where experts scored the
node (:mod:`techscreen.grade.expert`), a tier, tier probabilities from a Monte Carlo over
the weights, and the smallest change of one dimension that moves the item to another tier.
Technologies experts nominated that match no node are graded on their expert scores alone
and marked ``expert_only``.

Writes ``indicators/`` and ``grades/`` (partitioned by the grade run's id); every grade row
carries the MLflow run ids of the ingest, embed, cluster and graph runs behind it and its
node's representative patents, so a grade leads back to patents in one query.
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import functions as F

from techscreen.config import DIMENSIONS, GradeSettings, Settings
from techscreen.experiments import chosen_run
from techscreen.grade import control_lists, scoring
from techscreen.grade import expert as experts
from techscreen.grade.anchors import REFERENCE_PREFIX
from techscreen.grade.indicators import node_aggregates, node_indicators
from techscreen.grade.registry import log_grader
from techscreen.grade.scoring import TIERS
from techscreen.io.exports import write_csv
from techscreen.io.tables import WorkspaceError, append_partition, read_table, table_meta
from techscreen.schema import EXPERT_ONLY_ITEM, GRADES, NODE_ITEM, NOISE_NODE, TECHNOLOGY_NETWORK
from techscreen.stages import Context, chosen_domains
from techscreen.stages.tier_changes import write_tier_changes

log = logging.getLogger(__name__)


def _runs(ctx: Context) -> dict[str, str]:
    """The run ids behind this grading: ingest, embed, cluster, graph."""
    s = ctx.settings
    graph_run = s.grade.graph_run or chosen_run(
        ctx.tracker.client, ctx.tracker.experiment_id, "graph"
    )
    if not graph_run:
        raise WorkspaceError("no finished graph run to grade: run `techscreen graph` first")
    tags = ctx.tracker.client.get_run(graph_run).data.tags
    return {
        "ingest": table_meta(s, "patents").get("run_id", ""),
        "embed": table_meta(s, "vectors").get("run_id", ""),
        "cluster": tags.get("techscreen.cluster_run", ""),
        "graph": graph_run,
    }


def _expert_scores(g: GradeSettings, nodes: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Expert scores per item, matched to nodes; and what to log about the consultation.

    Returns ``(domain, item, node_id, how, expert, experts)`` rows: one per scored item.
    """
    columns = ["domain", "item", "node_id", "how", "similarity", "expert", "experts"]
    if not g.experts.scores:
        return pd.DataFrame(columns=columns), {}
    read = experts.read_expert_scores(g.experts.scores)
    per_round, per_item = experts.agreement(read.scores)
    items = experts.expert_item_scores(read.scores)
    matched = experts.match_nominations(list(items["item"]), nodes, g.experts.match_threshold)
    joined = items.merge(matched, on="item", how="left")
    info = {
        "rows": len(read.scores),
        "rejected": read.rejected,
        "per_round": per_round,
        "per_item": per_item,
        "matched": matched,
    }
    return joined[columns], info


def _graded(indicators: pd.DataFrame, expert_rows: pd.DataFrame, g: GradeSettings) -> pd.DataFrame:
    """Scores, fusion, tiers and sensitivity for the nodes and the expert-only items."""
    scored = scoring.score(indicators, g)
    by_node = expert_rows[expert_rows.how.isin(["node_id", "text"])]
    node_expert = by_node.groupby("node_id").agg(
        expert=("expert", "mean"), experts=("experts", "sum")
    )
    scored["expert_score"] = scored["item"].map(node_expert.expert)
    scored["experts"] = scored["item"].map(node_expert.experts).fillna(0).astype(int)
    scored["kind"] = NODE_ITEM
    only = expert_rows[expert_rows.how == EXPERT_ONLY_ITEM]
    extra = pd.DataFrame(
        {
            "domain": only.domain,
            "item": only["item"],
            "expert_score": only.expert,
            "experts": only.experts.astype(int),
            "kind": EXPERT_ONLY_ITEM,
        }
    )
    nodes_sens = scoring.sensitivity(scored, scored.expert_score.to_numpy(float), g)
    moves = scoring.to_next_tier(scored, scored.expert_score.to_numpy(float), g)
    # An expert-only item's score is the experts' mean: the weights and α do not move it.
    fixed = extra.expert_score.to_numpy(float)
    tiers = scoring.tier(fixed, g) if len(extra) else np.array([], dtype=str)
    extra_sens = pd.DataFrame(
        {
            "p_tier1": (tiers == TIERS[0]).astype(float),
            "p_tier2": (tiers == TIERS[1]).astype(float),
            "p_tier3": (tiers == TIERS[2]).astype(float),
            "score_p05": fixed,
            "score_p95": fixed,
            "near_threshold": _near(fixed, g),
        }
    )
    graded = pd.concat([scored, extra], ignore_index=True)
    sens = pd.concat([nodes_sens, extra_sens], ignore_index=True)
    patent = graded.patent_score.to_numpy(float)
    expert = graded.expert_score.to_numpy(float)
    fused = scoring.fuse(np.nan_to_num(patent, nan=0.0), expert, g.experts.alpha)
    graded["final_score"] = np.where(np.isnan(patent), expert, fused)
    graded["tier"] = scoring.tier(graded.final_score.to_numpy(float), g)
    for column in (*scoring.SENSITIVITY_COLUMNS, "near_threshold"):
        graded[column] = sens[column].to_numpy()
    # Expert-only items have no dimension scores to move: their rows stay empty.
    moves = moves.reset_index(drop=True).reindex(range(len(graded)))
    for column in scoring.NEXT_TIER_COLUMNS:
        graded[column] = moves[column].to_numpy()
    return graded


def _control_lists(
    graded: pd.DataFrame, nodes: pd.DataFrame, entries: pd.DataFrame, s: Settings
) -> pd.DataFrame:
    """``graded`` with each item's control-list status, best score and closest entries.

    A node is described by its label, keyword terms (English and Chinese) and its
    representative patents' titles; an expert-only item by its name. No list configured:
    the columns stay empty.
    """
    c = s.grade.control_lists
    if entries.empty:
        return graded.assign(control_status=None, control_score=np.nan, control_matches=None)
    node = nodes.set_index("node_id")
    texts = []
    for item, kind in zip(graded["item"], graded["kind"], strict=True):
        if kind != NODE_ITEM:
            texts.append({"label": item})
            continue
        found = node.loc[item]
        texts.append(
            {
                "label": found["label"],
                "keywords": found["keywords"],
                "keywords_zh": found.get("keywords_zh"),
                "titles": [p["title"] for p in found["representatives"] if p["title"]],
            }
        )
    encoder = None
    if c.semantic:
        from techscreen.embed.registry import loaded, named_embedder

        encoder = loaded(named_embedder(s.embed, "minilm"))
    matched = control_lists.match_control_lists(
        pd.DataFrame(texts),
        entries,
        controlled=c.controlled,
        adjacent=c.adjacent,
        top=c.top,
        encoder=encoder,
    )
    log.info(
        "control lists: %s over %d entries of %s",
        matched["control_status"].value_counts().to_dict(),
        len(entries),
        ", ".join(entries["list"].unique()),
    )
    return pd.concat([graded.reset_index(drop=True), matched], axis=1)


def _near(score: np.ndarray, g: GradeSettings) -> np.ndarray:
    margin = g.sensitivity.margin
    return (np.abs(score - g.tier1_above) <= margin) | (np.abs(score - g.tier3_below) <= margin)


def run_grade(ctx: Context) -> dict[str, Any]:
    """Grade every technology node of the chosen domains into three tiers."""
    s, g = ctx.settings, ctx.settings.grade
    domains = chosen_domains(s, g.domains, "grade.domains")
    runs = _runs(ctx)
    with ctx.tracker.stage("grade", upstream=runs) as run:
        started = time.perf_counter()
        weights = scoring.dimension_weights(g)  # an inconsistent AHP matrix fails here, early
        lists = control_lists.read_control_lists(g.control_lists.files)  # so does a bad list
        run.log(
            params={"grade": g.model_dump(), "dimension_weights_used": weights},
            tags={f"techscreen.{k}_run": v for k, v in runs.items()},
        )
        patents = read_table(ctx.spark, s, "patents")
        in_run = (F.col("run_id") == runs["cluster"]) & F.col("domain").isin(domains)
        node_table = read_table(ctx.spark, s, "nodes")
        # older runs' node tables lack keywords_zh (their keywords hold both languages)
        zh = ["keywords_zh"] if "keywords_zh" in node_table.columns else []
        # and text_placed (patents placed in the domain by their text) before placement
        placed = ["text_placed"] if "text_placed" in node_table.columns else []
        columns = ["domain", "node_id", "size", "label", "keywords", *zh, *placed, "codes"]
        nodes = node_table.where(in_run).select(*columns, "representatives").toPandas()
        if nodes.empty:
            raise WorkspaceError(f"cluster run {runs['cluster']} has no nodes in {domains}")
        assignments = read_table(ctx.spark, s, "assignments").where(in_run)
        members = assignments.where(F.col("node") != NOISE_NODE).select(
            "domain", "node_id", "publication_number"
        )
        centrality = (
            read_table(ctx.spark, s, "centrality")
            .where((F.col("run_id") == runs["graph"]) & (F.col("network") == TECHNOLOGY_NETWORK))
            .toPandas()
        )
        # The domain's references are over all its patents, noise included.
        aggregates = node_aggregates(members, patents, assignments)
        indicators = node_indicators(
            nodes, aggregates, centrality, g.strategic_weights, g.recent_years
        )
        expert_rows, consultation = _expert_scores(
            g, nodes[["node_id", "domain", "label", "keywords", "codes"]]
        )
        graded = _graded(indicators, expert_rows, g)
        graded = _control_lists(graded, nodes, lists, s)
        rows = _rows(graded, nodes, runs)
        meta = {"run_id": run.run_id, "upstream": runs}
        indicator_frame = ctx.spark.createDataFrame(indicators.astype({"item": str}))
        append_partition(indicator_frame, s, "indicators", "run_id", run.run_id, meta)
        append_partition(
            ctx.spark.createDataFrame(rows, GRADES), s, "grades", "run_id", run.run_id, meta
        )
        summary = _summary(graded, domains)
        current = pd.DataFrame(rows, columns=GRADES.fieldNames())
        if changes := write_tier_changes(ctx, run, current, runs["cluster"], domains):
            summary["tier_changes"] = changes
        summary["seconds"] = round(time.perf_counter() - started, 1)
        run.log(metrics=_metrics(summary, consultation))
        _artifacts(run, graded, consultation)
        version = log_grader(ctx.tracker.client, run.run_id, g)
        if version:
            run.log(tags={"techscreen.grader_version": f"{g.registered_model}/{version}"})
            summary["grader"] = f"models:/{g.registered_model}/{version}"
    return {"run_id": run.run_id, **runs, **summary}


def _rows(graded: pd.DataFrame, nodes: pd.DataFrame, runs: dict[str, str]) -> list[tuple]:
    """Rows of :data:`~techscreen.schema.GRADES`."""
    node = nodes.set_index("node_id")
    indicator_names = [c for c in graded.columns if c.startswith("score.")]
    raw_names = [c[len("score.") :] for c in indicator_names]
    # The domain references travel with the raw values they anchor.
    raw_names += [c for c in graded.columns if c.startswith(REFERENCE_PREFIX)]
    out = []
    for r in graded.to_dict("records"):
        is_node = r["kind"] == NODE_ITEM
        found = node.loc[r["item"]] if is_node else None
        out.append(
            (
                r["domain"] if isinstance(r["domain"], str) else None,
                r["item"],
                r["kind"],
                [r["item"]] if is_node else [],
                found["label"] if is_node else r["item"],
                int(found["size"]) if is_node else 0,
                {k: float(r[k]) for k in raw_names if is_node and _finite(r.get(k))},
                {k[len("score.") :]: float(r[k]) for k in indicator_names if _finite(r.get(k))},
                *(_number(r.get(d)) for d in (*DIMENSIONS, "patent_score", "expert_score")),
                int(r["experts"]),
                float(r["final_score"]),
                r["tier"],
                float(r["p_tier1"]),
                float(r["p_tier2"]),
                float(r["p_tier3"]),
                float(r["score_p05"]),
                float(r["score_p95"]),
                bool(r["near_threshold"]),
                list(r.get("neutral") or []) if is_node else [],
                [p["publication_number"] for p in found["representatives"]] if is_node else [],
                runs,
                r["next_tier"] if isinstance(r.get("next_tier"), str) else None,
                list(r["next_tier_dimensions"]) if is_node else [],
                _number(r.get("next_tier_change")),
                r.get("control_status"),
                _number(r.get("control_score")),
                list(r.get("control_matches") or []),
                _text_placed_share(found) if is_node else None,
            )
        )
    return out


def _text_placed_share(node: pd.Series) -> float | None:
    """The node's share of patents placed in the domain by their text (None: not recorded)."""
    placed, size = node.get("text_placed"), node["size"]
    if placed is None or pd.isna(placed) or not size:
        return None
    return float(placed) / float(size)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _number(value: Any) -> float | None:
    return float(value) if _finite(value) else None


def _summary(graded: pd.DataFrame, domains: list[str]) -> dict[str, Any]:
    counts = graded.groupby(["domain", "tier"]).size()
    return {
        "graded": len(graded),
        "expert_only": int((graded.kind == EXPERT_ONLY_ITEM).sum()),
        "near_threshold": int(graded.near_threshold.sum()),
        "tiers": {t: int((graded.tier == t).sum()) for t in TIERS},
        "control_lists": {
            status: int((graded["control_status"] == status).sum())
            for status in control_lists.STATUSES
        },
        "domains": {d: {t: int(counts.get((d, t), 0)) for t in TIERS} for d in domains},
    }


def _metrics(summary: dict[str, Any], consultation: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {
        "graded": summary["graded"],
        "expert_only": summary["expert_only"],
        "near_threshold": summary["near_threshold"],
        **{f"tier{i + 1}": summary["tiers"][t] for i, t in enumerate(TIERS)},
        **{
            f"control_lists.{status.replace(' ', '_')}": count
            for status, count in summary["control_lists"].items()
        },
    }
    for domain, tiers in summary["domains"].items():
        for i, t in enumerate(TIERS):
            out[f"{domain}.tier{i + 1}"] = tiers[t]
    if consultation:
        out["experts.rows"] = consultation["rows"]
        out["experts.rejected"] = len(consultation["rejected"])
        for r in consultation["per_round"].to_dict("records"):
            if _finite(r.get("w")):
                out[f"experts.round{r['round']}.{r.get('dimension', 'all')}.kendall_w"] = r["w"]
    return out


def _artifacts(run, graded: pd.DataFrame, consultation: dict[str, Any]) -> None:
    """The graded list (CSV, formula-safe) and the expert consultation's tables."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        run.artifact(write_csv(graded, out / "grades.csv"))
        for name in ("rejected", "per_round", "per_item", "matched"):
            if name in consultation and len(consultation[name]):
                run.artifact(write_csv(consultation[name], out / f"experts_{name}.csv"), "experts")
