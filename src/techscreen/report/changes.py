"""The report's "Changes since the previous screening" section: the tier-change log.

Shown when the grade run compared itself with an earlier one (``tier_changes/``, see
:mod:`techscreen.grade.changes`): how many items changed tier, moved, appeared or dissolved;
per domain what the clustering update did with the new patents (kept the nodes or clustered
afresh, and the drift that decided it); then the changes themselves with their reasons.
"""

from __future__ import annotations

import html
import math
from typing import Any

import pandas as pd

from techscreen.grade.changes import change_counts
from techscreen.report.data import ChangeLog
from techscreen.schema import DISSOLVED_ITEM, NEW_ITEM, SCORE_CHANGE, TIER_CHANGE

SCORE_MOVES_SHOWN = 40  # the largest score moves in the table; the CSV holds them all
_UPDATE_COLUMNS = (
    ("new_patents", "new patents"),
    ("assigned", "placed in existing nodes"),
    ("drift", "drift"),
    ("growth", "growth"),
)


def _esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _score(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, int | float) and math.isfinite(value) else "—"


def _update_table(domain_stats: dict[str, dict[str, Any]]) -> str:
    """Per domain: new patents, how many the kept nodes took, drift, growth, re-clustered."""
    rows = []
    for domain, stats in domain_stats.items():
        update = stats.get("update") or {}
        if not update:
            continue
        cells = "".join(
            f"<td class='num'>{_esc(_number(update.get(key)))}</td>" for key, _ in _UPDATE_COLUMNS
        )
        done = "clustered afresh" if update.get("reclustered") else "nodes kept"
        rows.append(f"<tr><td>{_esc(domain)}</td>{cells}<td>{done}</td></tr>")
    if not rows:
        return ""
    head = "".join(f"<th class='num'>{title}</th>" for _, title in _UPDATE_COLUMNS)
    return (
        "<p>The clustering was updated: each domain's nodes from the previous run took the new "
        "patents unless too many of them fell outside every node (drift: their noise share "
        "minus the earlier patents') or the domain grew too much (growth: new ÷ earlier "
        "patents); see <code>cluster.update.*</code>. Node ids of a domain clustered afresh "
        "are new; its nodes are matched to the previous ones by the patents they share.</p>"
        f"<table id='cluster-update'><thead><tr><th>domain</th>{head}<th>nodes</th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _number(value: Any) -> str:
    if not isinstance(value, int | float) or not math.isfinite(value):
        return "—"
    return f"{value:.3f}" if not float(value).is_integer() else f"{int(value)}"


def _shown(rows: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The rows the table shows, and how many smaller score moves it leaves to the CSV.

    Tier changes, new and dissolved items first, then the largest score moves.
    """
    moves = rows[rows["change"] == SCORE_CHANGE]
    largest = moves.reindex(moves["score_change"].abs().sort_values(ascending=False).index)
    others = rows[rows["change"] != SCORE_CHANGE]
    return pd.concat([others, largest.head(SCORE_MOVES_SHOWN)]), max(
        0, len(moves) - SCORE_MOVES_SHOWN
    )


def changes_section(
    log: ChangeLog | None, grades: pd.DataFrame, domain_stats: dict[str, dict[str, Any]]
) -> str:
    """The section, or "" when the grade run compared itself with nothing.

    Args:
        log: the grade run's tier-change log.
        grades: the grade run's items, labelled in the report's language (a dissolved
            item keeps its own label).
        domain_stats: per domain, the clustering's ``update`` figures when it was updated.
    """
    if log is None:
        return ""
    rows, n = log.rows, change_counts(log.rows)
    labels = dict(zip(grades["item"], grades["label"], strict=True))
    summary = (
        f"<p>Against grade run <span class='run'>{_esc(log.previous_run)}</span>: "
        f"{n[TIER_CHANGE]} items changed tier ({n['up']} up, {n['down']} down), "
        f"{n[SCORE_CHANGE]} more moved their final score, {n[NEW_ITEM]} are new and "
        f"{n[DISSOLVED_ITEM]} dissolved. "
        "<code>tier_changes.csv</code> beside this page lists every change with what moved "
        "it (dimensions and indicators, old → new).</p>"
    )
    shown, rest = _shown(rows)
    body = []
    for r in shown.to_dict("records"):
        label = labels.get(r["item"], r.get("label"))
        tier = f"{r['previous_tier'] or '—'} → {r['tier'] or '—'}"
        score = f"{_score(r['previous_score'])} → {_score(r['score'])}"
        body.append(
            f"<tr class='change-{_esc(r['change'])}'><td>{_esc(r['domain'])}</td>"
            f"<td>{_esc(r['item'])}</td><td>{_esc(label)}</td><td>{_esc(r['change'])}</td>"
            f"<td>{_esc(tier)}</td><td class='num'>{_esc(score)}</td><td>{_esc(r['why'])}</td>"
            "</tr>"
        )
    more = f"<p class='muted'>… and {rest} smaller score moves (in the CSV).</p>" if rest else ""
    table = (
        "<table id='tier-changes'><thead><tr><th>domain</th><th>item</th><th>label</th>"
        "<th>change</th><th>tier</th><th class='num'>score</th><th>why</th></tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>{more}"
        if body
        else "<p>Nothing changed.</p>"
    )
    return (
        "<h2 id='changes'>Changes since the previous screening</h2>"
        + summary
        + _update_table(domain_stats)
        + table
    )
