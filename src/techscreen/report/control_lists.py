"""The report's control-list section: which graded items official lists already cover.

Reads the grade run's ``control_status``, ``control_score`` and ``control_matches``
columns (:mod:`techscreen.grade.control_lists`); grade runs made before the mapping have
none, and the section says so.
"""

from __future__ import annotations

import html
import math
from typing import Any

import pandas as pd

from techscreen.grade.control_lists import ADJACENT, CONTROLLED, NOT_LISTED, STATUSES
from techscreen.report.data import as_list, domain_of, match_field, matches_text


def control_list_section(
    grades: pd.DataFrame, domains: list[str], thresholds: dict[str, float]
) -> str:
    """The section: what the statuses mean, counts per domain, the covered items' matches.

    Args:
        grades: the grade run's rows.
        domains: the report's domains, in order.
        thresholds: ``controlled`` and ``adjacent``, the grade run's settings (NaN: unknown).
    """
    head = "<h2 id='control-lists'>Control lists</h2>"
    if "control_status" not in grades or grades["control_status"].isna().all():
        return head + (
            "<p class='missing'>This grade run has no control-list mapping (graded before "
            "it existed, or with <code>grade.control_lists.files</code> empty).</p>"
        )
    controlled, adjacent = thresholds.get("controlled"), thresholds.get("adjacent")
    explain = (
        "<p>Each graded item's label, keywords (English and Chinese) and representative "
        "patents' titles are compared with the entries of official lists: China's Catalogue "
        "of Technologies Prohibited or Restricted from Export (2023) and the US Critical and "
        "Emerging Technologies list (2024). The score is a text similarity (0–1: character "
        "n-grams of the entry's title, English gloss and control points). "
        f"<b>{CONTROLLED}</b>: the best entry scores ≥ {_num(controlled)}; "
        f"<b>{ADJACENT}</b>: ≥ {_num(adjacent)}; <b>{NOT_LISTED}</b>: below. A match is a "
        "pointer for a reader to check, not a legal classification; and the shipped lists "
        "are partial (13 of the catalogue's 134 items, the CET list's 18 areas without their "
        "subfields: <code>data/control_lists/SOURCE.md</code>), so <i>not listed</i> means "
        "no close entry among those shipped.</p>"
    )
    groups = grades.assign(_group=grades["domain"].map(domain_of))
    order = list(domains) + sorted(set(groups["_group"]) - set(domains))
    counts = ["<tr><th>domain</th>" + "".join(f"<th>{s}</th>" for s in STATUSES) + "</tr>"]
    rows = []
    for domain in order:
        items = groups[groups["_group"] == domain]
        n = items["control_status"].value_counts()
        counts.append(
            f"<tr><td>{_esc(domain)}</td>"
            + "".join(f"<td class='num'>{int(n.get(s, 0))}</td>" for s in STATUSES)
            + "</tr>"
        )
        covered = items[items["control_status"].isin([CONTROLLED, ADJACENT])]
        for r in covered.sort_values(
            ["control_score", "item"], ascending=[False, True], kind="mergesort"
        ).itertuples(index=False):
            best = sorted(as_list(r.control_matches), key=lambda m: -match_field(m, "score"))[:2]
            rows.append(
                f"<tr data-item='{_esc(r.item)}'><td>{_esc(domain)}</td><td>{_esc(r.label)}</td>"
                f"<td>{_esc(r.tier)}</td><td>{_esc(r.control_status)}</td>"
                f"<td class='num'>{_num(r.control_score)}</td>"
                f"<td>{_esc(matches_text(best))}</td></tr>"
            )
    table = (
        "<table class='control-items'><thead><tr><th>domain</th><th>technology</th>"
        "<th>tier</th><th>status</th><th class='num'>score</th><th>closest entries</th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        if rows
        else "<p>No item comes close to an entry of the lists.</p>"
    )
    return (
        head
        + explain
        + f"<table class='control-counts'>{''.join(counts)}</table>"
        + "<h3>Items on or near a list</h3>"
        + table
    )


def _esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _num(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, int | float) and math.isfinite(value) else "—"
