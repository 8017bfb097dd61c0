"""The cluster stage in update mode: which domains keep the previous run's models.

:func:`plan_update` reads the previous clustering run (``cluster.update.previous_run``, else
the chosen or newest finished one): its saved models (MLflow artifacts
``models/<domain>.npz``, see :mod:`techscreen.cluster.model_files`) and its assignments.
Per domain it counts the new patents, assigns them with the saved model on the executors
and decides from the drift whether the domain is clustered afresh
(:mod:`techscreen.cluster.update`). Only per-domain counts reach the driver.

:func:`save_models` logs every domain's model of a clustering run, so the next update can
start from it.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow.exceptions import MlflowException
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from techscreen.cluster.assign import assign_nodes
from techscreen.cluster.model_files import SavedModel, load_domain_model, save_domain_model
from techscreen.cluster.spaces import DomainModel
from techscreen.cluster.update import DomainDrift, fit_fingerprint, recluster_reason
from techscreen.config import ClusterSettings
from techscreen.experiments import chosen_run
from techscreen.io.tables import read_table, table_path
from techscreen.schema import NO_VECTOR, NOISE_NODE
from techscreen.stages import Context, chosen_domains

log = logging.getLogger(__name__)

MODELS_ARTIFACT = "models"
MODEL_TAG = "techscreen.model."  # + domain: the run its model was fitted in
# Per-domain metrics of a run that describe its data, not its fit: recomputed every run.
_DATA_METRICS = ("patents", "noise_fraction", "languages.", "update.", "placement.")


@dataclass
class UpdatePlan:
    """What update mode keeps and what it clusters afresh.

    Attributes:
        previous_run: the clustering run whose models were read ("" when there was none).
        kept: domain → the previous model, for the domains that keep it.
        fitted_in: domain → the run a kept model was fitted in.
        refit: the domains to cluster afresh, in the stage's order.
        domains: domain → its figures: new patents, assigned, drift, growth, re-clustered.
        reasons: domain → why it was clustered afresh ("" when its model was kept).
        scores: kept domain → the fit's metrics as the run that fitted it logged them.
        split_notes: node id → why a kept domain's oversized node was kept whole.
    """

    previous_run: str
    kept: dict[str, DomainModel] = field(default_factory=dict)
    fitted_in: dict[str, str] = field(default_factory=dict)
    refit: list[str] = field(default_factory=list)
    domains: dict[str, dict[str, float]] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    split_notes: dict[str, str] = field(default_factory=dict)

    def explained(self) -> dict[str, dict[str, Any]]:
        """Per domain its figures and the reason, as ``update.json`` holds them."""
        return {d: {**row, "reason": self.reasons[d]} for d, row in self.domains.items()}


def _saved_models(ctx: Context, run_id: str) -> dict[str, SavedModel]:
    """The models a clustering run saved, by domain (none for runs from before saving)."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            folder = Path(ctx.tracker.client.download_artifacts(run_id, MODELS_ARTIFACT, tmp))
        except (MlflowException, OSError) as exc:
            log.warning("cluster update: run %s saved no models (%s)", run_id, exc)
            return {}
        return {path.stem: load_domain_model(path) for path in sorted(folder.glob("*.npz"))}


def _unusable(
    saved: SavedModel | None, spaces: set[str], fingerprint: str, previous_run: str
) -> str:
    """Why a saved model cannot assign the domain's patents, or ""."""
    if saved is None:
        return f"no saved model in cluster run {previous_run}"
    if saved.settings != fingerprint:
        return "fitted with other cluster settings"
    missing = sorted(spaces - set(saved.model.spaces))
    if missing:
        return f"new vector space {', '.join(missing)} (a new language route or embedder)"
    return ""


def _counts(frame: DataFrame) -> dict[str, tuple[int, int]]:
    """Per domain: rows, and rows in no node (``node`` −1)."""
    noise = F.count(F.when(F.col("node") == NOISE_NODE, 1)).alias("noise")
    rows = frame.groupBy("domain").agg(F.count("*").alias("n"), noise).collect()
    return {r["domain"]: (int(r["n"]), int(r["noise"])) for r in rows}


def _drift(
    ctx: Context,
    frame: DataFrame,
    previous_run: str,
    domains: list[str],
    models: dict[str, DomainModel],
) -> dict[str, DomainDrift]:
    """Per domain: earlier patents and their noise, new patents and their noise.

    A new patent of a domain without a usable model (not in ``models``) counts as noise.
    """
    previous = (
        read_table(ctx.spark, ctx.settings, "assignments")
        .where((F.col("run_id") == previous_run) & F.col("domain").isin(domains))
        .where(F.col("status") != NO_VECTOR)
    )
    new = frame.where(F.col("domain").isin(domains) & F.col("vector").isNotNull()).join(
        previous.select("domain", "publication_number"),
        ["domain", "publication_number"],
        "left_anti",
    )
    before = _counts(previous)
    arrived = {r["domain"]: int(r["count"]) for r in new.groupBy("domain").count().collect()}
    usable = new.where(F.col("domain").isin(list(models)))
    placed = _counts(assign_nodes(usable, models)) if models else {}
    out = {}
    for d in domains:
        n_new = arrived.get(d, 0)
        noise = placed.get(d, (0, 0))[1] if d in models else n_new
        out[d] = DomainDrift(*before.get(d, (0, 0)), n_new, noise)
    return out


def _carried_scores(ctx: Context, run_id: str, models: dict[str, DomainModel]) -> dict[str, dict]:
    """The fit metrics a run logged for the domains of ``models`` (n_nodes, stability_ari …)."""
    metrics = ctx.tracker.client.get_run(run_id).data.metrics
    out: dict[str, dict[str, float]] = {d: {} for d in models}
    for key, value in metrics.items():
        domain, _, name = key.partition(".")
        if domain in out and name and not name.startswith(_DATA_METRICS):
            out[domain][name] = int(value) if float(value).is_integer() else value
    for d, model in models.items():
        out[d]["n_nodes"] = model.n_nodes
    return out


def _split_notes(ctx: Context, run_id: str, domains: list[str]) -> dict[str, str]:
    """Why a node of ``domains`` over the size cap was kept whole, by node id."""
    rows = (
        read_table(ctx.spark, ctx.settings, "nodes")
        .where((F.col("run_id") == run_id) & F.col("domain").isin(domains))
        .where(F.col("split_note").isNotNull())
        .select("node_id", "split_note")
        .collect()
    )
    return {r["node_id"]: r["split_note"] for r in rows}


def _previous_run(ctx: Context) -> str:
    """The clustering to update: the setting, else the chosen (else newest) finished one."""
    c = ctx.settings.cluster
    run = c.update.previous_run or chosen_run(
        ctx.tracker.client, ctx.tracker.experiment_id, "cluster"
    )
    here = run and (table_path(ctx.settings, "assignments") / f"run_id={run}").is_dir()
    return run if here else ""


def plan_update(
    ctx: Context, frame: DataFrame, domains: list[str], spaces: dict[str, set[str]]
) -> UpdatePlan:
    """Decide per domain: keep the previous run's model, or cluster afresh.

    Args:
        ctx: the stage's context (``cluster.update`` settings).
        frame: every patent of the domains: ``domain, publication_number, space, vector``.
        domains: the domains this run clusters, in order.
        spaces: domain → the vector spaces its patents with a vector are in.
    """
    c = ctx.settings.cluster
    if isinstance(c.update.force_recluster, list):  # a misspelt domain is an error, not a no-op
        chosen_domains(ctx.settings, c.update.force_recluster, "cluster.update.force_recluster")
    previous = _previous_run(ctx)
    if not previous:
        log.warning("cluster update: no earlier clustering in this workspace: clustering afresh")
        return UpdatePlan(
            "",
            refit=list(domains),
            domains={d: {"reclustered": 1} for d in domains},
            reasons=dict.fromkeys(domains, "no earlier clustering in this workspace"),
        )
    saved = _saved_models(ctx, previous)
    fingerprint = fit_fingerprint(c)
    reasons = {
        d: _unusable(saved.get(d), spaces.get(d, set()), fingerprint, previous) for d in domains
    }
    usable = {d: saved[d].model for d in domains if not reasons[d]}
    drifts = _drift(ctx, frame, previous, domains, usable)
    plan = UpdatePlan(previous)
    for d in domains:
        x = drifts[d]
        reason = reasons[d] or recluster_reason(d, x, c.update)
        plan.reasons[d] = reason
        plan.domains[d] = {
            "new_patents": x.new_patents,
            "assigned": x.assigned if d in usable else 0,
            "drift": round(x.drift, 4) if d in usable else None,
            "growth": round(x.growth, 4) if x.previous_patents else None,
            "reclustered": int(bool(reason)),
        }
        if reason:
            plan.refit.append(d)
        else:
            plan.kept[d] = usable[d]
            plan.fitted_in[d] = saved[d].fitted_in
        log.info("cluster update %s: %s; %s", d, plan.domains[d], reason or "model kept")
    if plan.kept:
        plan.scores = _carried_scores(ctx, previous, plan.kept)
        plan.split_notes = _split_notes(ctx, previous, list(plan.kept))
    return plan


def save_models(
    run, models: dict[str, DomainModel], fitted_in: dict[str, str], c: ClusterSettings
) -> None:
    """Log each domain's model (``models/<domain>.npz``) and tag the run it was fitted in."""
    fingerprint = fit_fingerprint(c)
    origin = {d: fitted_in.get(d, run.run_id) for d in models}
    with tempfile.TemporaryDirectory() as tmp:
        for domain, model in models.items():
            saved = SavedModel(model, origin[domain], fingerprint)
            run.artifact(save_domain_model(saved, Path(tmp) / f"{domain}.npz"), MODELS_ARTIFACT)
    run.log(tags={f"{MODEL_TAG}{d}": run_id for d, run_id in origin.items()})
