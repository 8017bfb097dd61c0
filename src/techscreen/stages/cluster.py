"""The cluster stage: ``vectors/`` + ``patent_domains/`` → ``nodes/`` and ``assignments/``.

It first places the patents whose codes match no domain in their likeliest domain by their
text (``domains.placement``, :mod:`techscreen.stages.placement`; ``placements/``), so they
are clustered with the domain's other patents and every later stage sees them.

Each patent is clustered with the vector of the embedder it was routed to (see
:mod:`techscreen.embed.routing`). Per domain and vector space, a sample of the vectors comes
to the driver (the only hand-off), a :class:`~techscreen.cluster.model.NodeModel` is fitted
on it (spaces are never mixed: :mod:`techscreen.cluster.spaces`), and one distributed pass
assigns every patent of every domain. Both tables are partitioned by the MLflow run id of
the clustering, so the runs of a sweep sit side by side and later stages read the one that
``techscreen experiments choose`` marked (see :mod:`techscreen.experiments`).
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from techscreen.cluster import metrics
from techscreen.cluster.assign import assign_nodes, node_id
from techscreen.cluster.labels import ClassTitles
from techscreen.cluster.model import FitInfo, NodeModel, fit_model, sizing
from techscreen.cluster.nodes import node_patents, node_rows
from techscreen.cluster.spaces import ClusterPlan, DomainModel
from techscreen.config import ClusterSettings
from techscreen.embed.quality import main_subclass
from techscreen.embed.routing import (
    ROUTE_COLUMN,
    TEXT_LANGUAGE,
    route_columns,
)
from techscreen.io.handoff import sample_groups_to_pandas
from techscreen.io.tables import WorkspaceError, append_partition, read_table, table_meta
from techscreen.schema import BY_CODES, NODES, NOISE_NODE
from techscreen.stages import Context, chosen_domains
from techscreen.stages.cluster_update import plan_update, save_models
from techscreen.stages.embed import KEY, existing_vectors
from techscreen.stages.placement import (
    PLACEMENT_ARTIFACT,
    Placement,
    place_unassigned,
    unassigned_count,
)

log = logging.getLogger(__name__)
_FIT_SEPARATOR = "\t"  # between domain and space in the key of one fit's sample


def _inputs(
    ctx: Context, plan: ClusterPlan, domains: list[str], run
) -> tuple[DataFrame, DataFrame, Placement | None]:
    """Every patent of the domains with its space and the vector of its routed embedder.

    A patent is in a domain by its codes (``patent_domains``) or, when its codes match no
    domain and ``domains.placement`` is on, by its text (:mod:`techscreen.stages.placement`);
    ``domain_source`` says which, ``domain_confidence`` is the placement's probability. A
    patent whose embedder has not embedded it (yet) keeps a null vector.
    """
    s = ctx.settings
    for eid in plan.ids.values():
        if existing_vectors(ctx, eid) is None:
            raise WorkspaceError(
                f"no vectors from embedder {eid}: run `techscreen embed` with that embedder first"
            )
    patents = read_table(ctx.spark, s, "patents")
    names = plan.routes.embedders
    to_id = F.create_map(*[F.lit(x) for n in names for x in (n, plan.ids[n])])
    to_space = F.create_map(*[F.lit(x) for n in names for x in (n, plan.space[n])])
    routes = route_columns(patents, plan.routes).select(
        *KEY,
        to_id[F.col(ROUTE_COLUMN)].alias("embedder_id"),
        to_space[F.col(ROUTE_COLUMN)].alias("space"),
    )
    vectors = read_table(ctx.spark, s, "vectors").where(
        F.col("embedder_id").isin(list(plan.ids.values()))
    )
    current = routes.join(
        vectors.select(*KEY, "embedder_id", "vector"), [*KEY, "embedder_id"], "left"
    ).select("publication_number", "space", "vector")
    members = (
        read_table(ctx.spark, s, "patent_domains")
        .where(F.col("domain").isin(domains))
        .select(
            "publication_number",
            "domain",
            F.lit(BY_CODES).alias("domain_source"),
            F.lit(None).cast("float").alias("domain_confidence"),
        )
    )
    placement = None
    if s.domains.placement.enabled:
        placement = place_unassigned(ctx, run, current, plan, domains)
        members = members.unionByName(placement.members)
    return members.join(current, "publication_number", "left"), patents, placement


def _fit_domain(
    domain: str, sample: pd.DataFrame, n: int, c: ClusterSettings
) -> tuple[NodeModel, FitInfo, dict[str, Any]]:
    x = np.stack(sample.vector.to_numpy())
    model, info = fit_model(x, c, n, c.seed)
    labels = model.assign(x).node
    z = model.projection.apply(x)
    head = slice(0, c.metrics_sample)
    classes = [main_subclass(i, p) for i, p in zip(sample.ipc_codes, sample.cpc_codes, strict=True)]
    scores: dict[str, Any] = {
        "n_nodes": model.n_nodes,
        "micro_clusters": info.micro_clusters,
        "sample": len(x),
        "k": info.sizing.k,
        "min_cluster_size": info.sizing.min_cluster_size,
        "leaf_selection": int(info.selection == "leaf"),
        "sample_noise_fraction": round(float((labels == NOISE_NODE).mean()), 4),
        "largest_node_share": _largest_share(labels),
        "kept_whole": len(info.kept_whole),
        "dbcv": metrics.dbcv(z[head], labels[head]),
        "silhouette": metrics.silhouette(z[head], labels[head], c.seed),
        "stability_ari": info.stability_ari,
        **metrics.agreement_with_classes(labels, classes),
    }
    if info.message:
        log.warning("cluster %s: %s", domain, info.message)
    return model, info, scores


def _capped_by_domain(c: ClusterSettings, n: int, total: int) -> ClusterSettings:
    """Settings for one vector space of ``n`` of a domain's ``total`` patents.

    Each space is fitted on its own, but the node-size cap is a share of the domain: a node
    of a space that holds a quarter of the domain may take up to ``max_node_share × total``
    patents, not ``max_node_share × n``.
    """
    if n >= total:
        return c
    return c.model_copy(update={"max_node_share": min(1.0, c.max_node_share * total / n)})


def _largest_share(labels: np.ndarray) -> float:
    """The largest node's share of the sampled patents (noise included in the total)."""
    members = labels[labels >= 0]
    return round(float(np.bincount(members).max() / len(labels)), 4) if len(members) else 0.0


def _by_space(scores: dict[str, dict[str, Any]], sizes: dict[str, int]) -> dict[str, Any]:
    """One domain's scores: its only space's, or counts summed and scores size-weighted.

    The largest-node share is the domain's largest node over all the domain's patents, not a
    mean of the spaces' shares. A domain clustered in several spaces keeps each space's scores
    under ``spaces``.
    """
    if len(scores) == 1:
        return next(iter(scores.values()))
    counts = ("n_nodes", "micro_clusters", "sample", "kept_whole")
    out: dict[str, Any] = {k: sum(d[k] for d in scores.values()) for k in counts}
    total = sum(sizes[space] for space in scores)
    out["largest_node_share"] = round(
        max(d["largest_node_share"] * sizes[space] for space, d in scores.items()) / total, 4
    )
    for name in {k for d in scores.values() for k in d} - set(out):
        pairs = [
            (d[name], sizes[space])
            for space, d in scores.items()
            if isinstance(d.get(name), int | float)
        ]
        weight = sum(w for _, w in pairs)
        out[name] = round(sum(v * w for v, w in pairs) / weight, 4) if weight else None
    out["spaces"] = scores
    return out


def _overall(per_domain: dict[str, dict[str, Any]], counts: dict[str, dict[str, int]]) -> dict:
    """Totals, and patent-weighted means of the per-domain scores that are defined."""
    out: dict[str, Any] = {"n_nodes": sum(d["n_nodes"] for d in per_domain.values())}
    patents = sum(v["patents"] for v in counts.values())
    noise = sum(v["noise"] for v in counts.values())
    out["noise_fraction"] = round(noise / patents, 4) if patents else None
    for name in ("dbcv", "silhouette", "nmi", "ami", "stability_ari"):
        pairs = [
            (d[name], counts[k]["patents"])
            for k, d in per_domain.items()
            if d.get(name) is not None
        ]
        weight = sum(w for _, w in pairs)
        out[name] = round(sum(v * w for v, w in pairs) / weight, 4) if weight else None
    return out


def assignment_counts(
    annotated: DataFrame,
) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """Per domain: patents and noise, and patents per language of their embedded text.

    ``annotated``: assignments joined to :func:`~techscreen.cluster.nodes.node_patents`. The
    language is that of the text the routed embedder read
    (:func:`~techscreen.embed.routing.with_text_language`): a record embedded from its
    English translation counts as ``en``, any other as its detected language (``und`` when
    none), so an English space holding translated Chinese records is not taken for a mixed
    one. One aggregation; domains × languages rows reach the driver.
    """
    rows = (
        annotated.groupBy("domain", F.col(TEXT_LANGUAGE).alias("language"))
        .agg(
            F.count("*").alias("patents"),
            F.count(F.when(F.col("node") == NOISE_NODE, 1)).alias("noise"),
        )
        .collect()
    )
    counts: dict[str, dict[str, int]] = {}
    languages: dict[str, dict[str, int]] = {}
    for r in sorted(rows, key=lambda r: (r["domain"], r["language"] or "")):
        total = counts.setdefault(r["domain"], {"patents": 0, "noise": 0})
        total["patents"] += int(r["patents"])
        total["noise"] += int(r["noise"])
        languages.setdefault(r["domain"], {})[r["language"]] = int(r["patents"])
    return counts, languages


def run_cluster(ctx: Context) -> dict[str, Any]:
    """Cluster every chosen domain into technology nodes and assign every patent."""
    s, c = ctx.settings, ctx.settings.cluster
    domains = chosen_domains(s, c.domains, "cluster.domains")
    plan = ClusterPlan.from_settings(s)
    ids = ",".join(plan.ids.values())
    upstream = {
        "vectors": table_meta(s, "vectors").get("run_id", ""),
        "patent_domains": table_meta(s, "patent_domains").get("run_id", ""),
    }
    with ctx.tracker.stage("cluster", upstream=upstream) as run:
        started = time.perf_counter()
        run.log(
            params={"cluster": c.model_dump(), "embedder_ids": ids, "spaces": len(plan.spaces)},
            tags={"techscreen.embedder_id": ids},
        )
        frame, patents, placement = _inputs(ctx, plan, domains, run)
        # read by the counts, the fit samples and the assignment: joined once, kept on disk
        # (at 1M patents it holds 1M vectors, more than the executors' memory should)
        frame = frame.persist(StorageLevel.DISK_ONLY)
        with_vectors = {
            (r["domain"], r["space"]): int(r["n"])
            for r in frame.groupBy("domain", "space").agg(F.count("vector").alias("n")).collect()
            if r["n"]
        }
        spaces = {d: {space for dd, space in with_vectors if dd == d} for d in domains}
        update = plan_update(ctx, frame, domains, spaces) if c.update.enabled else None
        refit = update.refit if update else domains
        sample = sample_groups_to_pandas(
            frame.where(F.col("vector").isNotNull())
            .withColumn("fit", F.concat_ws(_FIT_SEPARATOR, "domain", "space"))
            .join(
                patents.select("publication_number", "ipc_codes", "cpc_codes"),
                "publication_number",
            ),
            "fit",
            {
                _FIT_SEPARATOR.join(k): sizing(n, c).sample_size
                for k, n in with_vectors.items()
                if k[0] in refit
            },
            c.seed,
            "publication_number",
            sizes={_FIT_SEPARATOR.join(k): n for k, n in with_vectors.items()},
        )
        models, per_domain, split_notes, sweeps = {}, {}, {}, []
        for domain in refit:
            fits = {}
            total = sum(with_vectors.get((domain, space), 0) for space in plan.spaces)
            for space in plan.spaces:
                part = sample[(sample.domain == domain) & (sample.space == space)]
                if not part.empty:
                    n = with_vectors[domain, space]
                    fits[space] = _fit_domain(domain, part, n, _capped_by_domain(c, n, total))
            if not fits:
                log.warning("cluster %s: no patents with vectors: no node", domain)
                continue
            models[domain] = DomainModel({space: fit[0] for space, fit in fits.items()})
            for space, (_, info, _) in fits.items():
                offset = models[domain].offset(space)
                sweeps += [{"domain": domain, "space": space, **row} for row in info.sweep]
                for kept in info.kept_whole:
                    split_notes[node_id(domain, offset + kept.node)] = kept.reason
            per_domain[domain] = _by_space(
                {space: fit[2] for space, fit in fits.items()},
                {space: with_vectors[domain, space] for space in fits},
            )

        if update:
            models.update(update.kept)
            per_domain.update(update.scores)
            split_notes.update(update.split_notes)
        models = {d: models[d] for d in domains if d in models}
        meta = {"run_id": run.run_id, "embedder_id": ids, "upstream": upstream}
        append_partition(assign_nodes(frame, models), s, "assignments", "run_id", run.run_id, meta)
        frame.unpersist()
        assignments = read_table(ctx.spark, s, "assignments").where(F.col("run_id") == run.run_id)
        # every assigned patent with the columns the counts and node_rows' aggregates read:
        # joined to the patents once, kept on disk (titles and abstracts: at 1M patents a
        # cache in memory held the driver's old generation at 90%); only domain- and
        # node-level rows leave
        annotated = assignments.join(
            node_patents(patents, plan.routes), "publication_number"
        ).persist(StorageLevel.DISK_ONLY)
        titles = ClassTitles.load(c.labels.ipc_titles, c.labels.cpc_titles)
        try:
            counts, languages = assignment_counts(annotated)
            members = annotated.where(F.col("node") != NOISE_NODE)
            rows = node_rows(members, models, c.labels, titles, s.report.language)
        finally:
            annotated.unpersist()
        for row in rows:
            row["split_note"] = split_notes.get(row["node_id"])
        append_partition(
            ctx.spark.createDataFrame(rows, NODES), s, "nodes", "run_id", run.run_id, meta
        )
        for domain, d in per_domain.items():
            d["noise_fraction"] = round(counts[domain]["noise"] / counts[domain]["patents"], 4)
            d["patents"] = counts[domain]["patents"]
            d["languages"] = languages.get(domain, {})
            if update:
                d["update"] = update.domains[domain]
            if placement:
                d["placement"] = placement.domains[domain]
        summary = _overall(per_domain, counts)
        summary["placement"] = (
            placement.figures if placement else {"enabled": 0, "unassigned": unassigned_count(ctx)}
        )
        summary["seconds"] = round(time.perf_counter() - started, 1)
        run.log(
            metrics={
                **{k: v for k, v in summary.items() if v is not None},
                **{
                    f"{domain}.{k}": v
                    for domain, d in per_domain.items()
                    for k, v in d.items()
                    if v is not None
                },
            }
        )
        _log_json(run, "nodes.json", _brief(rows))
        _log_json(run, "granularity.json", sweeps)
        if placement:
            _log_json(run, PLACEMENT_ARTIFACT, placement.details)
        save_models(run, models, update.fitted_in if update else {}, c)
        if update:
            run.log(tags={"techscreen.cluster.updated_from": update.previous_run})
            _log_json(run, "update.json", update.explained())
    embedders = list(plan.ids.values())
    if update:
        summary["reclustered"] = {d: r for d, r in update.reasons.items() if r}
    return {"run_id": run.run_id, "embedder_ids": embedders, **summary, "domains": per_domain}


def _brief(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A readable list of the nodes: id, size, label, top codes, why kept whole if so."""
    return [
        {
            "node_id": r["node_id"],
            "size": r["size"],
            "label": r["label"],
            "codes": [f"{c['code']} {c['title'] or ''}".strip() for c in r["codes"][:3]],
            **({"split_note": r["split_note"]} if r["split_note"] else {}),
        }
        for r in rows
    ]


def _log_json(run, name: str, value: Any) -> None:
    """``value`` as a JSON artifact ``name`` of the run."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_text(json.dumps(value, indent=1, ensure_ascii=False), encoding="utf-8")
        run.artifact(path)
