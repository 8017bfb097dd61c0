"""Expert rounds (Delphi) around the grade stage: questionnaires out, scores back in.

* :func:`run_survey` — a grade run (``--grade-run``, else the chosen grade run, else the
  newest finished one: the report's rule) → ``survey-round-N.xlsx``
  (:mod:`techscreen.grade.survey`); from round 2 on with the panel's median and IQR of the
  round before, from the returned workbooks or the scores collected from them.
* :func:`run_collect` — a folder of returned workbooks (:mod:`techscreen.grade.returns`) →
  the expert score CSV that ``grade.experts.scores`` reads, ``rejects.csv`` (every entry that
  is not a score, with its workbook, sheet, cell and reason) and ``convergence.csv``
  (:mod:`techscreen.grade.delphi`), with Kendall's W per round and dimension.

The CLI (``techscreen experts survey|collect``) is a thin wrapper around these two.
"""

from __future__ import annotations

import ast
import logging
import math
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from pyspark.sql import functions as F

from techscreen.config import DIMENSIONS, Settings, workspace
from techscreen.experiments import STAGE_TAG, chosen_run, resolve_run
from techscreen.grade import delphi
from techscreen.grade.expert import agreement, read_expert_scores
from techscreen.grade.returns import read_returns, returned_files
from techscreen.grade.survey import build_survey, nominated_items, survey_items
from techscreen.io.exports import write_csv
from techscreen.io.files import staging_file
from techscreen.io.tables import WorkspaceError, read_table
from techscreen.stages import Context

log = logging.getLogger(__name__)

EXPERTS_FOLDER = "experts"  # in the workspace: the questionnaires, unless --out says otherwise
SCORES_FILE, REJECTS_FILE, CONVERGENCE_FILE = "scores.csv", "rejects.csv", "convergence.csv"
_GRADE_COLUMNS = (
    "domain",
    "item",
    "kind",
    "label",
    "patents",
    "scores",
    *DIMENSIONS,
    "patent_score",
    "lineage",
)


def survey_path(folder: Path, round_: int) -> Path:
    """Where the questionnaire of a round is written."""
    return folder / f"survey-round-{round_}.xlsx"


def previous_scores(path: str | Path) -> pd.DataFrame:
    """The valid scores of earlier rounds: a folder of returned workbooks, or a scores CSV.

    Returns:
        ``round, expert, item, dimension, score, domain`` (``domain`` empty where unknown).
    """
    path = Path(path)
    if path.is_dir():
        workbooks, _ = returned_files(path)
        scores = read_returns(workbooks).scores
    else:
        scores = read_expert_scores(path).scores
        scores["domain"] = scores["item"].map(_item_domains(path)).fillna("")
    return scores[["round", "expert", "item", "dimension", "score", "domain"]]


def _item_domains(path: Path) -> dict[str, str]:
    """Items and domains from a collected CSV (the reader does not keep ``domain``)."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (UnicodeDecodeError, pd.errors.ParserError):
        return {}
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if not {"item", "domain"} <= set(frame.columns):
        return {}
    named = frame[frame["domain"].str.strip() != ""]
    return dict(zip(named["item"].str.strip(), named["domain"].str.strip(), strict=True))


def _grade_run(ctx: Context, wanted: str) -> str:
    tracker = ctx.tracker
    if not wanted:
        found = chosen_run(tracker.client, tracker.experiment_id, "grade")
        if not found:
            raise WorkspaceError("no finished grade run to survey: run `techscreen grade` first")
        return found
    run = resolve_run(tracker.client, tracker.experiment_id, wanted)
    if run.data.tags.get(STAGE_TAG) != "grade":
        raise ValueError(f"run {run.info.run_id} is not a grade run")
    return run.info.run_id


def _round(wanted: int | None, previous: pd.DataFrame | None) -> int:
    if previous is None:
        if wanted and wanted >= 2:
            raise ValueError(
                f"round {wanted} shows the panel's answers of round {wanted - 1}: "
                "give them with --previous (a folder of returned workbooks or their scores CSV)"
            )
        return wanted or 1
    rounds = sorted(set(previous["round"]))
    round_ = wanted or (max(rounds) + 1 if rounds else 2)
    if round_ < 2:
        raise ValueError("round 1 has no round before it: leave out --previous")
    if round_ - 1 not in rounds:
        raise ValueError(f"--previous has no scores of round {round_ - 1} (rounds: {rounds})")
    return round_


def run_survey(
    ctx: Context,
    round_: int | None = None,
    grade_run: str = "",
    out: str | Path | None = None,
    previous: str | Path | None = None,
) -> dict[str, Any]:
    """Write the questionnaire of a Delphi round from a grade run.

    Args:
        ctx: the stage context (settings, Spark, tracker).
        round_: the round; None = 1, or the round after ``previous``'s last.
        grade_run: the grade run (a unique id prefix will do); empty = the chosen one.
        out: the folder; None = ``<workspace>/experts``.
        previous: the round before: a folder of returned workbooks or their scores CSV.

    Returns:
        The summary: round, runs, items per domain, nominated items, the file written.
    """
    s, settings = ctx.settings.grade.experts.survey, ctx.settings
    before = previous_scores(previous) if previous else None
    round_ = _round(round_, before)
    run_id = _grade_run(ctx, grade_run)
    grades = (
        read_table(ctx.spark, settings, "grades")
        .where(F.col("run_id") == run_id)
        .select(*_GRADE_COLUMNS)
        .toPandas()  # one row per graded technology
    )
    if grades.empty:
        raise WorkspaceError(f"grade run {run_id} has no rows in grades/")
    cluster_run = dict(grades["lineage"].iloc[0]).get("cluster", "")
    nodes = (
        read_table(ctx.spark, settings, "nodes")
        .where(F.col("run_id") == cluster_run)
        .select("node_id", "codes", "representatives")
        .toPandas()  # one row per technology node
    )
    items = survey_items(grades, nodes, s.codes, s.patents)
    fed_back, nominated = None, pd.DataFrame(columns=items.columns)
    if before is not None:
        last = before[before["round"] == round_ - 1]
        fed_back = delphi.feedback(last, round_ - 1)
        named = last[~last["item"].isin(set(items["item"]))]
        first_domain = named.groupby("item")["domain"].agg(lambda d: next((x for x in d if x), ""))
        nominated = nominated_items(first_domain.to_dict())
    params = ctx.tracker.client.get_run(run_id).data.params
    try:
        declared = list(ast.literal_eval(params.get("grade.domains") or "[]"))
    except (ValueError, SyntaxError):
        declared = []
    domains = declared or list(settings.domains.definitions)
    info = {
        "survey_id": uuid.uuid4().hex[:12],
        "grade_run": run_id,
        "cluster_run": cluster_run,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    indicators = [n for d in DIMENSIONS for n in settings.grade.indicator_weights.get(d, {})]
    everything = pd.concat([items, nominated], ignore_index=True) if len(nominated) else items
    workbook = build_survey(everything, round_, info, domains, fed_back, indicators)
    folder = Path(out) if out else workspace(settings) / EXPERTS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    path = survey_path(folder, round_)
    tmp = staging_file(path)
    try:
        workbook.save(tmp)
        os.replace(tmp, path)  # a questionnaire lands whole or not at all
    finally:
        tmp.unlink(missing_ok=True)
    log.info("survey round %d of grade run %s: %s", round_, run_id, path)
    return {
        "round": round_,
        "grade_run": run_id,
        "cluster_run": cluster_run,
        "survey_id": info["survey_id"],
        "items": len(items),
        "domains": {d: int((items["domain"] == d).sum()) for d in domains},
        "nominated": len(nominated),
        "feedback_round": round_ - 1 if fed_back is not None else None,
        "survey": str(path.resolve()),
    }


@dataclass(frozen=True)
class Collected:
    """What ``experts collect`` found: its summary and the two tables it prints."""

    summary: dict[str, Any]
    concordance: pd.DataFrame
    flagged: pd.DataFrame


def _write(frame: pd.DataFrame, path: Path) -> Path:
    tmp = staging_file(path)
    try:
        os.replace(write_csv(frame, tmp), path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def run_collect(settings: Settings, folder: str | Path, out: str | Path | None = None) -> Collected:
    """Read the returned questionnaires in ``folder`` into the expert score CSV.

    Args:
        settings: the settings (``grade.experts.survey`` holds the convergence thresholds).
        folder: the returned workbooks (``.xlsx``; sub-folders are not searched).
        out: the scores CSV; None = ``folder/scores.csv``. ``rejects.csv`` and
            ``convergence.csv`` are written beside it.

    Returns:
        The summary (counts, Kendall's W and convergence per round, the files written), the
        concordance per round and dimension, and the items that have not converged.

    Raises:
        ValueError: the folder has no workbooks.
    """
    s = settings.grade.experts.survey
    workbooks, skipped = returned_files(folder)
    if not workbooks:
        raise ValueError(f"{folder}: no returned questionnaires (.xlsx) to collect")
    returns = read_returns(workbooks)
    scores = returns.scores
    converged = delphi.convergence(scores, s.max_iqr, s.max_cv, s.min_experts)
    concordance, _ = agreement(scores)
    scores_path = Path(out) if out else Path(folder) / SCORES_FILE
    scores_path.parent.mkdir(parents=True, exist_ok=True)
    _write(scores, scores_path)
    rejects_path = _write(returns.rejected, scores_path.parent / REJECTS_FILE)
    convergence_path = _write(converged, scores_path.parent / CONVERGENCE_FILE)
    # the contract: what was collected is what the grade stage will read, row for row
    check = read_expert_scores(scores_path)
    if len(check.rejected) or len(check.scores) != len(scores):
        raise RuntimeError(
            f"{scores_path}: {len(check.rejected)} collected rows do not read back "
            f"({check.rejected['reason'].value_counts().to_dict()})"
        )
    for survey_round, group in returns.files.groupby("round"):
        if group["survey_id"].nunique() > 1:
            log.warning(
                "round %s: workbooks of %d different questionnaires (survey ids %s)",
                survey_round,
                group["survey_id"].nunique(),
                ", ".join(sorted(group["survey_id"].unique())),
            )
    summary = {
        "workbooks": len(workbooks),
        "skipped_files": [p.name for p in skipped],
        "read": returns.read,
        "valid": len(scores),
        "rejected": len(returns.rejected),
        "rejected_by_reason": _reasons(returns.rejected),
        "rounds": _rounds(scores, concordance, converged),
        "thresholds": {"max_iqr": s.max_iqr, "max_cv": s.max_cv, "min_experts": s.min_experts},
        "scores": str(scores_path.resolve()),
        "rejects": str(rejects_path.resolve()),
        "convergence": str(convergence_path.resolve()),
    }
    log.info(
        "collected %d workbook(s): %d read = %d valid + %d rejected → %s",
        len(workbooks),
        returns.read,
        len(scores),
        len(returns.rejected),
        scores_path,
    )
    flagged = converged[converged["status"] == delphi.NOT_CONVERGED]
    return Collected(summary, concordance, flagged.reset_index(drop=True))


def _reasons(rejected: pd.DataFrame) -> dict[str, int]:
    """Rejected entries per reason (an entry with two reasons counts under each)."""
    counts: dict[str, int] = {}
    for reasons in rejected["reason"]:
        for reason in reasons.split("; "):
            counts[reason] = counts.get(reason, 0) + 1
    return dict(sorted(counts.items()))


def _rounds(
    scores: pd.DataFrame, concordance: pd.DataFrame, converged: pd.DataFrame
) -> dict[str, dict[str, Any]]:
    out = {}
    for round_, group in scores.groupby("round", sort=True):
        w = concordance[concordance["round"] == round_]
        status = converged.loc[converged["round"] == round_, "status"].value_counts()
        out[str(round_)] = {
            "experts": int(group["expert"].nunique()),
            "items": int(group["item"].nunique()),
            "kendall_w": {r.dimension: _finite(r.w) for r in w.itertuples(index=False)},
            **{k: int(status.get(k, 0)) for k in (delphi.CONVERGED, delphi.NOT_CONVERGED)},
            delphi.TOO_FEW: int(status.get(delphi.TOO_FEW, 0)),
        }
    return out


def _finite(value: Any) -> float | None:
    return round(float(value), 4) if value is not None and math.isfinite(value) else None
