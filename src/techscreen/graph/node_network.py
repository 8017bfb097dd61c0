"""The technology-node network of a domain: which nodes are close, by three kinds of evidence.

Every similarity lies in [0, 1]:

* **codes** — cosine of the two nodes' classification profiles (patents of the node per
  code at ``graph.code_level``); computed in Spark by joining the (node, code) counts on the
  code, so only node-pair sums leave the executors;
* **citations** — citations between the two nodes' patents (either direction), as
  ``c_ij / √(n_i·n_j)`` for nodes of ``n`` patents, divided by the domain's largest such
  value. Publication numbers are matched without their kind code (``US-7654321`` cites
  ``US-7654321-B2``). Citations of patents outside the domain's nodes are counted, not
  linked;
* **centroids** — cosine of the node centroids, clipped at 0, for each node's
  ``graph.centroid_neighbours`` nearest nodes (either end's list is enough).

The edge weight is ``Σ_c w_c·s_c`` with ``graph.edge_weights``; a kind of evidence a
domain does not have at all (no citations between its nodes, say) gives its weight to the
others in proportion, and the domain's metrics say so. Edges under
``graph.min_edge_weight`` are pruned, then (if ``graph.top_k_edges``) all but each node's
``k`` strongest, where either end keeping an edge keeps it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from techscreen.config import GraphSettings

KINDS = ("codes", "citations", "centroids")
_SERIAL = r"^([A-Z]{2}-[^-]+)"  # CC-SERIAL of a canonical publication number


@dataclass
class NodeEdges:
    """A domain's node network: the kept edges and how they were made."""

    edges: pd.DataFrame  # source, target, weight, codes, citations, centroids (source < target)
    weights: dict[str, float]  # the weights used, after the missing kinds gave theirs away
    stats: dict[str, Any] = field(default_factory=dict)


def code_profiles(members: DataFrame, codes_column: str = "codes") -> DataFrame:
    """``(domain, node_id, code, patents)``: patents of each node carrying each code."""
    return (
        members.select("domain", "node_id", F.explode(codes_column).alias("code"))
        .groupBy("domain", "node_id", "code")
        .agg(F.count(F.lit(1)).alias("patents"))
    )


def profile_similarity(profiles: DataFrame) -> DataFrame:
    """``(domain, source, target, similarity)``: cosine of code profiles, source < target."""
    norms = profiles.groupBy("domain", "node_id").agg(
        F.sqrt(F.sum(F.col("patents") * F.col("patents"))).alias("norm")
    )
    a = profiles.select(
        "domain", "code", F.col("node_id").alias("source"), F.col("patents").alias("pa")
    )
    b = profiles.select(
        "domain", "code", F.col("node_id").alias("target"), F.col("patents").alias("pb")
    )
    dots = (
        a.join(b, ["domain", "code"])
        .where(F.col("source") < F.col("target"))
        .groupBy("domain", "source", "target")
        .agg(F.sum(F.col("pa") * F.col("pb")).alias("dot"))
    )
    na = norms.select("domain", F.col("node_id").alias("source"), F.col("norm").alias("na"))
    nb = norms.select("domain", F.col("node_id").alias("target"), F.col("norm").alias("nb"))
    return (
        dots.join(na, ["domain", "source"])
        .join(nb, ["domain", "target"])
        .select(
            "domain",
            "source",
            "target",
            (F.col("dot") / (F.col("na") * F.col("nb"))).alias("similarity"),
        )
    )


def citation_counts(members: DataFrame, corpus: DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Citations between nodes, and where every citation of a node member points.

    One Spark aggregation (citing node, cited node, where) is collected; both tables are cut
    from it on the driver, so the citations are exploded and joined once.

    Args:
        members: ``(domain, node_id, publication_number, cited_publications)`` of the node
            members (noise excluded).
        corpus: ``(publication_number)`` of every patent in the workspace.

    Returns:
        ``(domain, source, target, citations)`` with source < target (both directions
        summed, a node citing itself left out), and ``(domain, where, citations)`` with
        ``where`` one of ``between_nodes``, ``within_node``, ``outside_nodes`` (in the corpus
        but not a member of a node of this domain) and ``outside_corpus``.
    """
    serial = lambda c: F.regexp_extract(c, _SERIAL, 1)  # noqa: E731
    cites = members.select(
        "domain",
        F.col("node_id").alias("citing"),
        F.explode("cited_publications").alias("cited_number"),
    ).select("domain", "citing", serial("cited_number").alias("serial"))
    targets = members.select(
        "domain", F.col("node_id").alias("cited"), serial("publication_number").alias("serial")
    )
    known = corpus.select(serial("publication_number").alias("serial")).distinct()
    located = cites.join(targets, ["domain", "serial"], "left").join(
        known.withColumn("in_corpus", F.lit(True)), "serial", "left"
    )
    between = F.col("cited").isNotNull() & (F.col("cited") != F.col("citing"))
    where = (
        F.when(F.col("cited").isNull() & F.col("in_corpus").isNull(), "outside_corpus")
        .when(F.col("cited").isNull(), "outside_nodes")
        .when(F.col("cited") == F.col("citing"), "within_node")
        .otherwise("between_nodes")
    )
    counts = (
        located.select(
            "domain",
            where.alias("where"),
            F.when(between, F.least("citing", "cited")).alias("source"),
            F.when(between, F.greatest("citing", "cited")).alias("target"),
        )
        .groupBy("domain", "where", "source", "target")
        .agg(F.count(F.lit(1)).alias("citations"))
        .toPandas()
    )
    pairs = counts[counts["where"] == "between_nodes"][["domain", "source", "target", "citations"]]
    summary = counts.groupby(["domain", "where"], as_index=False)["citations"].sum()
    return pairs.reset_index(drop=True), summary


def centroid_neighbours(nodes: pd.DataFrame, k: int) -> pd.DataFrame:
    """``(source, target, similarity)``: each node's ``k`` nearest nodes by centroid cosine.

    Only nodes of one vector space (``space``, when the frame has it) are compared: a cosine
    between centroids of two embedders' spaces means nothing.
    """
    columns = ["source", "target", "similarity"]
    if "space" not in nodes:
        return _nearest_centroids(nodes, k, columns)
    parts = [
        _nearest_centroids(group, k, columns)
        for _, group in nodes.groupby(nodes.space.fillna(""), sort=True)
    ]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def _nearest_centroids(nodes: pd.DataFrame, k: int, columns: list[str]) -> pd.DataFrame:
    if len(nodes) < 2:
        return pd.DataFrame(columns=columns)
    ids = nodes.node_id.to_numpy()
    x = np.stack(nodes.centroid.to_numpy()).astype(np.float64)
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    k = min(k, len(ids) - 1)
    nearest = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    rows = {}
    for i, row in enumerate(nearest):
        for j in row:
            a, b = sorted((ids[i], ids[j]))
            rows[a, b] = max(float(sims[i, j]), 0.0)
    return pd.DataFrame([(a, b, s) for (a, b), s in sorted(rows.items())], columns=columns)


def combine(
    parts: Mapping[str, pd.DataFrame], sizes: Mapping[str, int], settings: GraphSettings
) -> NodeEdges:
    """Merge one domain's similarities into weighted, pruned edges.

    Args:
        parts: per kind, ``(source, target, similarity)`` (``citations``: raw counts in
            ``citations``, normalised here).
        sizes: patents per node (for the citation normalisation).
        settings: weights, threshold, top-k.
    """
    frames = []
    for kind in KINDS:
        part = parts.get(kind)
        if part is None or part.empty:
            continue
        part = part.copy()
        if kind == "citations":
            n = np.sqrt(
                part.source.map(sizes).to_numpy(float) * part.target.map(sizes).to_numpy(float)
            )
            value = part.citations.to_numpy(float) / n
            part["similarity"] = value / value.max()
        frames.append(part.set_index(["source", "target"])["similarity"].rename(kind))
    present = [f.name for f in frames]
    total = sum(settings.edge_weights.get(k, 0.0) for k in present)
    weights = {k: (settings.edge_weights.get(k, 0.0) / total if total else 0.0) for k in present}
    stats: dict[str, Any] = {"missing_evidence": [k for k in KINDS if k not in present]}
    columns = ["source", "target", "weight", *KINDS]
    if not frames or not total:
        return NodeEdges(pd.DataFrame(columns=columns), weights, {**stats, "pruned": 0})
    merged = pd.concat(frames, axis=1).fillna(0.0).reset_index()
    for kind in KINDS:
        if kind not in merged:
            merged[kind] = 0.0
    merged["weight"] = sum(merged[k] * w for k, w in weights.items())
    candidates = len(merged)
    kept = merged[merged.weight >= max(settings.min_edge_weight, 1e-12)]
    if settings.top_k_edges:
        rank = lambda end: kept.groupby(end).weight.rank(method="first", ascending=False)  # noqa: E731
        kept = kept[
            (rank("source") <= settings.top_k_edges) | (rank("target") <= settings.top_k_edges)
        ]
    kept = kept.sort_values(["source", "target"]).reset_index(drop=True)[columns]
    return NodeEdges(
        kept, weights, {**stats, "candidates": candidates, "pruned": candidates - len(kept)}
    )
