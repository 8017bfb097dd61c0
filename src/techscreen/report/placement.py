"""The report's section on patents placed in a domain by their text, not their codes.

Reads the clustering run's ``placement.*`` metrics (:mod:`techscreen.stages.placement`),
each domain's ``placement`` figures and the graded items' ``text_placed_share``. Clustering
runs from before placement have none of them, and the section says so.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import pandas as pd

from techscreen.report.data import domain_of, finite

PLACED_SHARE = 0.2
"""A node with at least this share of its patents placed by text is listed and noted: a
fifth of a node is enough to move its indicators, less rarely is."""

_REASONS = {
    "below_floor": "the classifier's confidence was under the floor",
    "no_vector": "no text to embed",
    "no_classifier": "their vector space had no classifier (fewer than two domains to learn)",
}


def _esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _pct(value: object) -> str:
    return f"{float(value):.0%}" if finite(value) else "—"


def _int(value: object) -> int:
    return int(value) if finite(value) else 0


def placement_figures(metrics: Mapping[str, float]) -> dict[str, Any]:
    """A clustering run's ``placement.*`` metrics as a dict (``space`` → per space figures)."""
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        if not key.startswith("placement."):
            continue
        parts = key.split(".")[1:]
        if parts[0] == "space" and len(parts) == 3:
            out.setdefault("space", {}).setdefault(parts[1], {})[parts[2]] = value
        else:
            out[".".join(parts)] = value
    return out


def placed_note(stats: Mapping[str, Any], items: pd.DataFrame) -> list[str]:
    """A domain's notes on the patents placed in it by text (none when nothing was)."""
    placement = stats.get("placement") or {}
    placed, patents = _int(placement.get("placed")), stats.get("patents")
    if not placed or not finite(patents) or not patents:
        return []
    precision = placement.get("precision")
    right = (
        f"; {_pct(precision)} of the held-out patents the classifier put here belong here "
        "by their codes"
        if finite(precision)
        else ""
    )
    notes = [
        f"{placed} of the domain's {int(patents)} patents ({placed / patents:.0%}) match no "
        f"domain by their codes and were placed here by their text{right}."
    ]
    if "text_placed_share" in items:
        heavy = items[items["text_placed_share"].fillna(0) >= PLACED_SHARE]
        if len(heavy):
            names = ", ".join(f"{r.item} ({r.text_placed_share:.0%})" for r in heavy.itertuples())
            notes.append(
                f"Nodes where {PLACED_SHARE:.0%} or more of the patents were placed by text: "
                f"{names}."
            )
    return notes


def placement_section(
    figures: Mapping[str, Any],
    stats: Mapping[str, Mapping[str, Any]],
    grades: pd.DataFrame,
    domains: list[str],
) -> str:
    """The section: what was placed where, how accurate the classifier is, what was left.

    Args:
        figures: :func:`placement_figures` of the clustering run.
        stats: per domain the cluster run's figures (``patents``, ``placement``).
        grades: the grade run's rows (``text_placed_share``).
        domains: the report's domains, in order.
    """
    head = "<h2 id='placement'>Patents placed by text</h2>"
    if not figures:
        return head + (
            "<p class='missing'>The clustering run records no placement of patents whose "
            "codes match no domain (it was made before placement existed).</p>"
        )
    unassigned = _int(figures.get("unassigned"))
    if not _int(figures.get("enabled")):
        return head + (
            f"<p id='placement-off'>Placement by text was off "
            f"(<code>domains.placement.enabled</code>): {unassigned} patents whose IPC/CPC "
            "codes match no domain were not clustered, graded or reported.</p>"
        )
    if not unassigned:
        return head + (
            "<p id='placement-none'>Every patent's IPC/CPC codes put it in a domain: none "
            "needed placing by its text, and no classifier was fitted.</p>"
        )
    placed = _int(figures.get("placed"))
    left = {k[len("left.") :]: _int(v) for k, v in figures.items() if k.startswith("left.")}
    left_text = "; ".join(f"{n} because {_REASONS.get(k, k)}" for k, n in left.items() if n)
    floor = figures.get("min_confidence")
    intro = (
        f"<p>{unassigned} patents have IPC/CPC codes that match none of the domains. Rather "
        "than leave them unscreened, a classifier reads the same text vectors the clustering "
        "reads (a logistic regression per vector space, fitted on the patents whose codes do "
        "assign them) and places each in its likeliest domain, where it is clustered and "
        f"graded like any other patent. <b>{placed}</b> were placed; "
        f"<b>{sum(left.values())}</b> stay unassigned"
        + (f" ({_esc(left_text)})" if left_text else "")
        + "."
        + (
            f" A patent is placed when the classifier's probability for its domain is at "
            f"least {float(floor):.2f}."
            if finite(floor)
            else ""
        )
        + "</p>"
    )
    held = (
        f"<p id='placement-accuracy'>On {_int(figures.get('held_out'))} held-out patents whose "
        "codes do assign them, the classifier chose one of their codes' domains for "
        f"<b>{_pct(figures.get('accuracy'))}</b>; for "
        f"{_pct(figures.get('accuracy_above_floor'))} of the "
        f"{_pct(figures.get('held_out_above_floor'))} it was confident enough to place. "
        "Patents whose codes fall outside every domain are less typical than these, so read "
        "it as an upper bound on how often a placement is right.</p>"
    )
    rows = []
    for domain in domains:
        s = stats.get(domain, {})
        p = s.get("placement") or {}
        n, by_text = s.get("patents"), _int(p.get("placed"))
        total = int(n) if finite(n) else None
        rows.append(
            f"<tr><td>{_esc(domain)}</td>"
            f"<td class='num'>{total if total is not None else '—'}</td>"
            f"<td class='num'>{total - by_text if total is not None else '—'}</td>"
            f"<td class='num'>{by_text}</td>"
            f"<td class='num'>{_pct(by_text / total) if total else '—'}</td>"
            f"<td class='num'>{_pct(p.get('precision'))}</td>"
            f"<td class='num'>{_pct(p.get('recall'))}</td></tr>"
        )
    per_domain = (
        "<table id='placement-domains'><thead><tr><th>domain</th><th>patents</th>"
        "<th>by codes</th><th>placed by text</th><th>share</th>"
        "<th title='of the held-out patents placed in the domain, those whose codes put them "
        "there'>held-out precision</th><th title='of the held-out patents whose codes put "
        "them in the domain, those placed there'>held-out recall</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    spaces = "".join(
        f"<tr><td>{_esc(name)}</td><td class='num'>{_int(f.get('train'))}</td>"
        f"<td class='num'>{_int(f.get('held_out'))}</td>"
        f"<td class='num'>{_pct(f.get('accuracy'))}</td>"
        f"<td class='num'>{_int(f.get('placed'))}</td></tr>"
        for name, f in sorted((figures.get("space") or {}).items())
    )
    per_space = (
        "<table id='placement-spaces'><thead><tr><th>vector space</th><th>trained on</th>"
        "<th>held out</th><th>accuracy</th><th>placed</th></tr></thead>"
        f"<tbody>{spaces}</tbody></table>"
    )
    return head + intro + held + per_domain + per_space + _nodes(grades)


def _nodes(grades: pd.DataFrame) -> str:
    """The graded nodes with at least :data:`PLACED_SHARE` of their patents placed by text."""
    if "text_placed_share" not in grades:
        return ""
    heavy = grades[grades["text_placed_share"].fillna(0) >= PLACED_SHARE].sort_values(
        ["text_placed_share", "item"], ascending=[False, True]
    )
    if heavy.empty:
        return (
            f"<p id='placement-nodes'>No graded node has {PLACED_SHARE:.0%} or more of its "
            "patents placed by text.</p>"
        )
    rows = "".join(
        f"<tr><td>{_esc(domain_of(r.domain))}</td><td><code>{_esc(r.item)}</code></td>"
        f"<td>{_esc(r.label)}</td><td>{_esc(r.tier)}</td><td class='num'>{int(r.patents)}</td>"
        f"<td class='num'>{_pct(r.text_placed_share)}</td></tr>"
        for r in heavy.itertuples()
    )
    return (
        f"<p>Graded nodes where {PLACED_SHARE:.0%} or more of the patents were placed by "
        "text (their grades rest on that placement):</p>"
        "<table id='placement-nodes'><thead><tr><th>domain</th><th>node</th><th>label</th>"
        "<th>tier</th><th>patents</th><th>placed by text</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )
