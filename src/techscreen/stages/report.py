"""The report stage: a grade run → ``report/index.html`` + ``grades.csv`` + ``grades.parquet``.

Reads the grade run (``report.grade_run``, else the chosen or newest finished one; inside a
pipeline the one the pipeline just made), its rows of ``grades/``, and the node-level tables
of the runs behind it: ``nodes/`` of its clustering, ``centrality/`` and ``node_edges/`` of
its graph run. Only node-level rows reach the driver — filing trends and country shares come
from the nodes' own histograms, never from ``patents/``. Per-domain facts (patents, noise,
whether citations shaped the network) come from the cluster and graph runs' MLflow metrics,
the expert concordance from the grade run's artifacts (or metrics).

Node labels are composed again from the nodes' keywords and codes in ``report.language``
(``en`` or ``zh``: the top code's English or Chinese title), for the page and the exports
alike; a Chinese report also titles the most connected codes in Chinese.

The page is built by :mod:`techscreen.report` from pandas frames; the stage writes the report
folder atomically (a staging folder renamed into place), logs its files as artifacts of an
MLflow run tagged with the grade run and everything upstream of it, and returns the page's
absolute path.
"""

from __future__ import annotations

import ast
import json
import logging
import re
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.exceptions import MlflowException
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from techscreen.cluster.labels import ClassTitles
from techscreen.config import workspace
from techscreen.experiments import chosen_run
from techscreen.grade.scoring import TIERS
from techscreen.io.exports import write_csv
from techscreen.io.files import staged_dir
from techscreen.io.tables import META_FILE, WorkspaceError, read_table
from techscreen.report import ReportInputs, ReportOptions, export_frame, render
from techscreen.report.data import (
    GRADE_COLUMNS,
    NODE_COLUMNS,
    as_dict,
    grading_settings,
    localise,
)
from techscreen.report.placement import placement_figures
from techscreen.schema import CODE_NETWORK, TECHNOLOGY_NETWORK
from techscreen.stages import Context
from techscreen.stages.tier_changes import CSV_NAME as CHANGES_CSV
from techscreen.stages.tier_changes import read_tier_changes

log = logging.getLogger(__name__)

REPORT_FOLDER = "report"
PAGE, CSV, PARQUET = "index.html", "grades.csv", "grades.parquet"
AGREEMENT_ARTIFACT = "experts/experts_per_round.csv"
TOP_CODES = 10
_UPSTREAM = ("ingest", "embed", "cluster", "graph")
_CLUSTER_STATS = ("patents", "n_nodes", "noise_fraction", "min_cluster_size", "stability_ari")
_KENDALL = re.compile(r"experts\.round(\d+)\.(.+)\.kendall_w")


def _setting(ctx: Context, key: str, default: Any) -> Any:
    # The ``report`` settings section may not exist yet in every configuration: read it
    # defensively, with the same defaults as ReportOptions.
    return getattr(getattr(ctx.settings, "report", None), key, default)


def _options(ctx: Context) -> ReportOptions:
    base, g = ReportOptions(), ctx.settings.graph
    return ReportOptions(
        top_nodes=int(_setting(ctx, "top_nodes", base.top_nodes)),
        breakdown_items=int(_setting(ctx, "breakdown_items", base.breakdown_items)),
        thin_patents=int(_setting(ctx, "thin_patents", base.thin_patents)),
        label_top=g.label_top,
        max_vertices=g.picture_vertices,
        seed=g.seed,
        language=str(_setting(ctx, "language", base.language)),
        label_terms=ctx.settings.cluster.labels.label_terms,
    )


def _grade_run(ctx: Context) -> str:
    run_id = _setting(ctx, "grade_run", "") or chosen_run(
        ctx.tracker.client, ctx.tracker.experiment_id, "grade"
    )
    if not run_id:
        raise WorkspaceError("no finished grade run to report: run `techscreen grade` first")
    return run_id


def _metrics(ctx: Context, run_id: str) -> dict[str, float]:
    if not run_id:
        return {}
    try:
        return dict(ctx.tracker.client.get_run(run_id).data.metrics)
    except MlflowException as exc:
        log.warning(
            "report: run %s not readable (%s); its per-domain facts are left out", run_id, exc
        )
        return {}


def _domains(ctx: Context, params: dict[str, str], grades: pd.DataFrame) -> list[str]:
    """The grade run's domains (its setting, else every defined one), then any others seen."""
    try:
        declared = list(ast.literal_eval(params.get("grade.domains") or "[]"))
    except (ValueError, SyntaxError):
        declared = []
    declared = declared or list(ctx.settings.domains.definitions)
    seen = {d for d in grades["domain"] if isinstance(d, str) and d}
    return declared + sorted(seen - set(declared))


def _domain_stats(ctx: Context, lineage: dict[str, str], domains: list[str]) -> dict[str, dict]:
    cluster, graph = _metrics(ctx, lineage["cluster"]), _metrics(ctx, lineage["graph"])
    stats: dict[str, dict] = {}
    for d in domains:
        found = {k: cluster[f"{d}.{k}"] for k in _CLUSTER_STATS if f"{d}.{k}" in cluster}
        weights = {k: v for k, v in graph.items() if k.startswith(f"{d}.node_edges.weights.")}
        if weights:  # the graph run logs the evidence weights it used; citations absent = none
            found["citation_evidence"] = weights.get(f"{d}.node_edges.weights.citations", 0) > 0
        prefix = f"{d}.languages."
        found["languages"] = {
            k[len(prefix) :]: int(v) for k, v in cluster.items() if k.startswith(prefix)
        }
        prefix = f"{d}.update."  # an updated clustering: what it did with the new patents
        found["update"] = {k[len(prefix) :]: v for k, v in cluster.items() if k.startswith(prefix)}
        prefix = f"{d}.placement."  # patents placed in the domain by their text
        found["placement"] = {
            k[len(prefix) :]: v for k, v in cluster.items() if k.startswith(prefix)
        }
        stats[d] = found
    return stats


def _agreement(ctx: Context, run_id: str, params: dict[str, str]) -> pd.DataFrame | None:
    """Kendall's W per round and dimension, or ``None`` when no expert scores were given."""
    if not params.get("grade.experts.scores"):
        return None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = ctx.tracker.client.download_artifacts(run_id, AGREEMENT_ARTIFACT, tmp)
            return pd.read_csv(path, encoding="utf-8-sig")
    except (MlflowException, OSError) as exc:
        log.info("report: no %s in grade run (%s); using its metrics", AGREEMENT_ARTIFACT, exc)
    rows = []
    for key, value in _metrics(ctx, run_id).items():
        if m := _KENDALL.fullmatch(key):
            rows.append({"round": int(m[1]), "dimension": m[2], "w": float(value)})
    frame = pd.DataFrame(rows, columns=["round", "dimension", "w"])
    return frame.sort_values(["round", "dimension"]).reset_index(drop=True)


def _top_codes(centrality: DataFrame) -> pd.DataFrame:
    """The code network's most connected vertices per domain (at most TOP_CODES each)."""
    rank = Window.partitionBy("domain").orderBy(F.desc("degree"), F.desc("strength"), "vertex")
    return (
        centrality.where(F.col("network") == CODE_NETWORK)
        .withColumn("_rank", F.row_number().over(rank))
        .where(F.col("_rank") <= TOP_CODES)
        .select(
            "domain", "vertex", "label", "patents", "degree", "strength", "pagerank", "betweenness"
        )
        .toPandas()
    )


def _code_titles(ctx: Context, codes: pd.DataFrame, language: str) -> dict[str, str]:
    """Titles of the code network's vertices in ``language``; none needed for English.

    The graph stage labels code vertices with English titles; a Chinese report looks the
    codes up in the bundled tables (Chinese IPC title, else the English one).
    """
    if language == "en" or codes.empty:
        return {}
    labels = ctx.settings.cluster.labels
    titles = ClassTitles.load(labels.ipc_titles, labels.cpc_titles)
    found = {code: titles.title(code, language) for code in codes["vertex"].dropna().unique()}
    return {code: title for code, title in found.items() if title}


def _inputs(ctx: Context, grade_run: str) -> tuple[ReportInputs, pd.DataFrame]:
    """Everything the page needs, as node-level pandas frames; and the grade rows.

    Node labels (and code titles) are in the report's language: composed here from the
    nodes' keywords and codes, so the page and the exports say the same.
    """
    s = ctx.settings
    run = ctx.tracker.client.get_run(grade_run)
    params, tags = dict(run.data.params), run.data.tags
    grade_table = read_table(ctx.spark, s, "grades")
    grades = (
        grade_table.where(F.col("run_id") == grade_run)
        .select(*[c for c in GRADE_COLUMNS if c in grade_table.columns])  # older runs lack some
        .toPandas()  # one row per graded technology
        .reindex(columns=list(GRADE_COLUMNS))
    )
    if grades.empty:
        raise WorkspaceError(f"grade run {grade_run} has no rows in grades/")
    first = as_dict(grades["lineage"].iloc[0])
    lineage = {k: tags.get(f"techscreen.upstream.{k}") or first.get(k, "") for k in _UPSTREAM}
    domains = _domains(ctx, params, grades)
    node_table = read_table(ctx.spark, s, "nodes")
    nodes = (
        node_table.where((F.col("run_id") == lineage["cluster"]) & F.col("domain").isin(domains))
        .select(*[c for c in NODE_COLUMNS if c in node_table.columns])  # older runs lack some
        .toPandas()  # one row per technology node
    )
    in_graph = (F.col("run_id") == lineage["graph"]) & F.col("domain").isin(domains)
    centrality = read_table(ctx.spark, s, "centrality").where(in_graph)
    vertices = (
        centrality.where(F.col("network") == TECHNOLOGY_NETWORK)
        .select("domain", "vertex", "label", "patents", "pagerank", "betweenness", "degree")
        .toPandas()
    )
    edges = (
        read_table(ctx.spark, s, "node_edges")
        .where(in_graph & (F.col("network") == TECHNOLOGY_NETWORK))
        .select("domain", "source", "target", "weight")
        .toPandas()
    )
    g = s.grade
    defaults = {
        "tier1_above": g.tier1_above,
        "tier3_below": g.tier3_below,
        "alpha": g.experts.alpha,
        "normalisation": g.normalisation,
        "experts_file": g.experts.scores,
        "dimension_weights": g.dimension_weights,
        "indicator_weights": g.indicator_weights,
        "control_controlled": g.control_lists.controlled,
        "control_adjacent": g.control_lists.adjacent,
    }
    options = _options(ctx)
    top_codes = _top_codes(centrality)
    inputs = ReportInputs(
        grades=grades,
        domains=domains,
        lineage={**lineage, "grade": grade_run},
        grading=grading_settings(params, defaults),
        nodes=nodes,
        centrality=vertices,
        edges=edges,
        codes=top_codes,
        domain_stats=_domain_stats(ctx, lineage, domains),
        agreement=_agreement(ctx, grade_run, params),
        changes=read_tier_changes(ctx, grade_run),
        placement=placement_figures(_metrics(ctx, lineage["cluster"])),
        options=options,
    )
    inputs = localise(inputs, _code_titles(ctx, top_codes, options.language))
    return inputs, inputs.grades


def _write(
    folder: Path, page: str, export: pd.DataFrame, meta: dict[str, str], inputs: ReportInputs
) -> dict[str, Path]:
    """Write the report folder atomically: built beside it, then renamed into place."""
    names = [PAGE, CSV, PARQUET]
    with staged_dir(folder) as tmp:
        (tmp / META_FILE).write_text(json.dumps(meta, sort_keys=True), encoding="utf-8")
        (tmp / PAGE).write_text(page, encoding="utf-8")
        write_csv(export, tmp / CSV)
        export.to_parquet(tmp / PARQUET, index=False)
        if inputs.changes is not None:
            write_csv(inputs.changes.rows, tmp / CHANGES_CSV)
            names.append(CHANGES_CSV)
    return {name: folder / name for name in names}


def run_report(ctx: Context) -> dict[str, Any]:
    """Write the screening report of a grade run and the graded list's exports."""
    grade_run = _grade_run(ctx)
    tags = ctx.tracker.client.get_run(grade_run).data.tags
    upstream = {k: tags.get(f"techscreen.upstream.{k}", "") for k in _UPSTREAM}
    with ctx.tracker.stage("report", upstream={**upstream, "grade": grade_run}) as run:
        started = time.perf_counter()
        inputs, grades = _inputs(ctx, grade_run)
        options = inputs.options
        run.log(
            params={"report": {**asdict(options), "grade_run": grade_run}},
            tags={f"techscreen.{k}_run": v for k, v in inputs.lineage.items()},
        )
        page = render(inputs)
        export = export_frame(grades, grade_run)
        meta = {"run_id": run.run_id, "grade_run": grade_run}
        files = _write(workspace(ctx.settings) / REPORT_FOLDER, page, export, meta, inputs)
        for path in files.values():
            run.artifact(path, REPORT_FOLDER)
        summary = {
            "graded": len(grades),
            "domains": len(inputs.domains),
            "figures": page.count('class="plotly-graph-div"'),
            "tiers": {t: int((grades["tier"] == t).sum()) for t in TIERS},
            "html_bytes": len(page.encode("utf-8")),
            "seconds": round(time.perf_counter() - started, 1),
        }
        run.log(
            metrics={
                k: v for k, v in summary.items() if isinstance(v, int | float) and k != "tiers"
            }
        )
    return {
        "run_id": run.run_id,
        "grade_run": grade_run,
        "html": str(files[PAGE].resolve()),
        "csv": str(files[CSV].resolve()),
        "parquet": str(files[PARQUET].resolve()),
        **({"tier_changes": str(files[CHANGES_CSV].resolve())} if CHANGES_CSV in files else {}),
        **summary,
    }
