"""Plain-language notes on how far each domain's grades can be trusted.

The notes say what a reader of a tier table cannot see: thin or one-sided data, indicators
that had no data and were set neutral, technologies whose tier depends on the weights.
They are plain text; the page escapes them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import pandas as pd

from techscreen.report import languages
from techscreen.report.data import ReportOptions, as_dict, as_list, finite
from techscreen.report.placement import placed_note

CONCENTRATED = 0.9
"""A domain whose commonest applicant country has at least this share is called one-sided."""
UNSTABLE = 0.8
"""An item whose likeliest tier has less than this probability is called weight-sensitive."""
FEW_ITEMS = 10
"""Fewer graded nodes than this make rank-normalised scores coarse."""
STABILITY = (
    (0.8, "the nodes are stable"),
    (0.5, "the large nodes are stable, boundaries between near nodes move"),
    (0.0, "node boundaries depend on the seed; read single nodes with care"),
    (float("-inf"), "the partition is no better than chance"),
)
"""What a seed-stability ARI says, from the highest floor down."""


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def domain_notes(
    items: pd.DataFrame,
    nodes: pd.DataFrame,
    stats: Mapping[str, Any],
    grading: Mapping[str, Any],
    options: ReportOptions,
) -> list[str]:
    """The notes of one domain.

    Args:
        items: the domain's graded items (rows of ``grades/``).
        nodes: the domain's technology nodes (``node_id``, ``size``, ``countries``,
            ``languages``, ``split_note``: why a node over the size cap was kept whole).
        stats: numbers from the cluster and graph runs (``patents``, ``n_nodes``,
            ``noise_fraction``, ``min_cluster_size``, ``stability_ari``, ``citation_evidence``,
            ``languages``, ``placement``: patents placed here by text); any may be absent.
        grading: the grading settings (``normalisation``).
        options: ``thin_patents``.
    """
    notes: list[str] = []
    patents = stats.get("patents")
    graded_nodes = items[items["kind"] == "node"] if len(items) else items
    if finite(patents):
        n = int(patents)
        nodes_part = f", {_plural(len(nodes), 'technology node')}" if len(nodes) else ""
        notes.append(f"{_plural(n, 'patent')} in the domain{nodes_part}.")
        notes += placed_note(stats, items)
        if n < options.thin_patents:
            notes.append(
                f"Thin data: fewer than {options.thin_patents} patents. The scores rank few "
                "technologies on little evidence; read the tiers as indicative only."
            )
    if graded_nodes.empty:
        smallest = stats.get("min_cluster_size")
        if finite(patents) and finite(smallest) and patents < smallest:
            notes.append(
                f"Fewer patents than the smallest allowed node ({int(smallest)}): no technology "
                "node was formed, so nothing here was graded from patents."
            )
        else:
            notes.append("No technology node of this domain was graded.")
    elif len(graded_nodes) < FEW_ITEMS and grading.get("normalisation") == "rank":
        n = len(graded_nodes)
        step = 10 / (n - 1) if n > 1 else 10
        notes.append(
            f"Only {_plural(n, 'technology node')}: indicators are ranked within the domain, "
            f"so each indicator score moves in steps of about {step:.1f} points."
        )
    stable = stats.get("stability_ari")
    if finite(stable):
        verdict = next(text for floor, text in STABILITY if stable >= floor)
        notes.append(
            f"Stability: refitted under other k-means seeds, the nodes agree with ARI "
            f"{stable:.2f} (1 = the same partition, 0 = chance): {verdict}."
        )
    if finite(patents) and patents and "split_note" in nodes:
        for row in nodes[nodes["split_note"].notna()].itertuples():
            notes.append(
                f"{row.node_id} holds {row.size / patents:.0%} of the domain's patents, more "
                f"than the node-size cap, and was kept whole: {row.split_note}."
            )
    noise = stats.get("noise_fraction")
    if finite(noise) and noise >= 0.1:
        notes.append(
            f"{noise:.0%} of the domain's patents fell in no technology node (noise) and are "
            "not part of any grade."
        )
    totals: Counter[str] = Counter()
    for countries in nodes.get("countries", pd.Series(dtype=object)):
        totals.update({(k or "unknown"): int(v) for k, v in as_dict(countries).items()})
    if totals:
        country, count = max(totals.items(), key=lambda kv: (kv[1], kv[0]))
        share = count / sum(totals.values())
        if share >= CONCENTRATED:
            notes.append(
                f"{share:.0%} of the patents come from one country ({country}): the country-share "
                "indicators (cn_share, cn_rta, cn_lead) have little variation to work with."
            )
    driven = languages.driven_nodes(nodes, stats.get("languages") or {})
    if driven:
        notes.append(
            f"{_plural(len(driven), 'node')} of this mixed-language domain "
            f"{'is' if len(driven) == 1 else 'are'} {languages.DOMINANT:.0%} or more one "
            "language: language rather than technology may have formed "
            f"{'it' if len(driven) == 1 else 'them'} (flagged ⚑ under Languages)."
        )
    if len(graded_nodes):
        neutral = Counter(n for v in graded_nodes["neutral"] for n in as_list(v))
        everywhere = sorted(k for k, c in neutral.items() if c == len(graded_nodes))
        partly = sorted(k for k, c in neutral.items() if c < len(graded_nodes))
        if everywhere:
            notes.append(
                f"No data for {', '.join(everywhere)}: every technology got the neutral score 5 "
                "on it, so it does not separate them."
            )
        for name in partly:
            notes.append(
                f"{name}: no data for {neutral[name]} of {len(graded_nodes)} technologies "
                "(scored neutral 5)."
            )
    if stats.get("citation_evidence") is False:
        notes.append(
            "No citations between the domain's patents: its technology network rests on shared "
            "IPC/CPC codes and centroid similarity only."
        )
    if len(items):
        near = int(items["near_threshold"].fillna(False).astype(bool).sum())
        if near:
            notes.append(
                f"{_plural(near, 'technology', 'technologies')} within the sensitivity margin "
                "of a tier threshold (marked ≈ in the tier table)."
            )
        likeliest = items[["p_tier1", "p_tier2", "p_tier3"]].max(axis=1)
        unstable = int((likeliest < UNSTABLE).sum())
        if unstable:
            verb = "changes" if unstable == 1 else "change"
            notes.append(
                f"{_plural(unstable, 'technology', 'technologies')} {verb} tier in more than "
                f"{1 - UNSTABLE:.0%} of the weight draws: the tier depends on the weights."
            )
        scored = int((items["experts"].fillna(0) > 0).sum())
        only = int((items["kind"] != "node").sum())
        if scored or only:
            notes.append(
                f"Expert scores: {_plural(scored, 'item')} scored by experts"
                + (f", {only} of them nominated by experts and matching no node." if only else ".")
            )
        else:
            notes.append("No expert scored a technology of this domain: patent evidence only.")
    return notes
