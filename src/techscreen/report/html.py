"""The report page: one self-contained HTML file (plotly.js inlined once, no network).

Layout: the run lineage and the grading settings, a summary of tiers per domain, the tier
table (``<table id="tier-table">``, one ``<tbody>`` per domain, one ``<tr class="item">``
per graded item), the control lists, the patents placed in a domain by their text, the
expert consultation, then a section per domain with its notes, score
breakdown, technology network, cluster map, filing trends, country shares and most central
codes. Every text taken from the data is HTML-escaped; a Content-Security-Policy forbids the
page any request, so a report opened offline looks the same as online.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pandas as pd
import plotly.graph_objects as go

from techscreen.config import DIMENSIONS
from techscreen.grade.scoring import TIERS
from techscreen.report import figures, languages
from techscreen.report.changes import changes_section
from techscreen.report.control_lists import control_list_section
from techscreen.report.data import (
    LINEAGE_STAGES,
    NO_DOMAIN,
    ReportInputs,
    as_dict,
    domain_of,
    finite,
    localise,
)
from techscreen.report.notes import domain_notes
from techscreen.report.placement import placement_section

CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data: blob:; font-src data:"
)
_PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
_TOP_CODES = 10
# The page in a report language: its lang attribute, and the headings of the columns that
# hold node labels and class titles (the rest of the page is English).
_HTML_LANG = {"en": "en", "zh": "zh-Hans"}
_HEADINGS = {"zh": {"Technology": "技术", "label": "标签", "Title": "分类名称"}}

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", "Noto Sans CJK SC", sans-serif;
       margin: 0 auto; max-width: 1200px; padding: 0 1.5rem 3rem; color: #222; }
h1 { margin-top: 1.5rem; } h2 { border-bottom: 2px solid #ddd; padding-bottom: .2rem;
     margin-top: 2.5rem; } h3 { margin-top: 1.8rem; }
table { border-collapse: collapse; margin: .6rem 0; font-size: .9rem; }
th, td { border: 1px solid #ddd; padding: .25rem .5rem; text-align: left; vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr.domain-head th { background: #f3f3f3; font-size: 1rem; }
tr.tier-1 td.tier { background: #f6d5d1; } tr.tier-2 td.tier { background: #fbe3cc; }
tr.tier-3 td.tier { background: #dde6ef; } td.tier { white-space: nowrap; }
td.near { text-align: center; font-weight: bold; color: #b9770e; }
tr.empty td { color: #777; font-style: italic; }
code, .run { font-family: ui-monospace, monospace; font-size: .85rem; }
.notes li { margin: .2rem 0; } .muted { color: #666; } nav a { margin-right: .8rem; }
.kind { font-size: .75rem; color: #7d3c98; }
"""


def esc(value: object) -> str:
    """``value`` as HTML text (``None`` → empty)."""
    return html.escape("" if value is None else str(value), quote=True)


def heading(text: str, language: str = "en") -> str:
    """A label or title column heading in the report language (English if untranslated)."""
    return _HEADINGS.get(language, {}).get(text, text)


def domain_title(domain: str) -> str:
    """``information_technology`` → ``Information technology``."""
    return domain if domain == NO_DOMAIN else domain.replace("_", " ").capitalize()


def anchor(domain: str) -> str:
    """The element id of a domain's section."""
    return "domain-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", domain).strip("-") or "none")


def _num(value: object, fmt: str = "{:.2f}") -> str:
    return fmt.format(float(value)) if finite(value) else "—"


class _Figures:
    """Turns figures into HTML fragments; the first one carries plotly.js, inlined."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, fig: go.Figure | None, missing: str = "") -> str:
        if fig is None:
            return f'<p class="muted">{esc(missing)}</p>' if missing else ""
        self.count += 1
        return fig.to_html(
            full_html=False,
            include_plotlyjs=self.count == 1,  # inline, once: the page needs no network
            div_id=f"figure-{self.count}",
            config=_PLOTLY_CONFIG,
        )


def _grouped(grades: pd.DataFrame, domains: list[str]) -> list[tuple[str, pd.DataFrame]]:
    """(domain, its items by final score) for every domain, then any other group seen."""
    groups = grades.assign(_group=grades["domain"].map(domain_of))
    order = list(domains) + sorted(set(groups["_group"]) - set(domains))
    out = []
    for domain in order:
        rows = groups[groups["_group"] == domain].sort_values(
            ["final_score", "item"], ascending=[False, True], kind="mergesort"
        )
        out.append((domain, rows.drop(columns="_group")))
    return out


def tier_table(grades: pd.DataFrame, domains: list[str], language: str = "en") -> str:
    """The tier table: per domain a header row, then one row per graded item.

    A domain without graded items gets one ``empty`` row saying so; ``language`` names the
    label column.
    """
    head = (
        f"<thead><tr><th>{esc(heading('Technology', language))}</th><th>Node</th>"
        "<th class='num'>Patents</th>"
        "<th class='num'>Final</th><th class='num'>Patent</th><th class='num'>Expert</th>"
        "<th>Tier</th><th class='num'>P(T1)</th><th class='num'>P(T2)</th>"
        "<th class='num'>P(T3)</th><th class='num'>90% range</th>"
        "<th title='within the sensitivity margin of a tier threshold'>≈</th></tr></thead>"
    )
    bodies = []
    for domain, rows in _grouped(grades, domains):
        lines = [
            f"<tr class='domain-head'><th colspan='12'>"
            f"<a href='#{esc(anchor(domain))}'>{esc(domain_title(domain))}</a> "
            f"<span class='muted'>({len(rows)} graded)</span></th></tr>"
        ]
        if rows.empty:
            lines.append("<tr class='empty'><td colspan='12'>no technology graded</td></tr>")
        for r in rows.itertuples(index=False):
            is_node = r.kind == "node"
            tier_class = f"tier-{TIERS.index(r.tier) + 1}" if r.tier in TIERS else ""
            kind = "" if is_node else " <span class='kind'>expert only</span>"
            near = "≈" if bool(r.near_threshold) else ""
            lines.append(
                f"<tr class='item {tier_class}' data-item='{esc(r.item)}'>"
                f"<td>{esc(r.label)}{kind}</td>"
                f"<td><code>{esc(r.item) if is_node else '—'}</code></td>"
                f"<td class='num'>{int(r.patents) if is_node else '—'}</td>"
                f"<td class='num'><b>{_num(r.final_score)}</b></td>"
                f"<td class='num'>{_num(r.patent_score)}</td>"
                f"<td class='num'>{_num(r.expert_score)}</td>"
                f"<td class='tier'>{esc(r.tier)}</td>"
                + "".join(
                    f"<td class='num'>{_num(p, '{:.0%}')}</td>"
                    for p in (r.p_tier1, r.p_tier2, r.p_tier3)
                )
                + f"<td class='num'>{_num(r.score_p05)}–{_num(r.score_p95)}</td>"
                f"<td class='near'>{near}</td></tr>"
            )
        bodies.append(f"<tbody data-domain='{esc(domain)}'>{''.join(lines)}</tbody>")
    return f"<table id='tier-table'>{head}{''.join(bodies)}</table>"


def _lineage(inputs: ReportInputs) -> str:
    rows = "".join(
        f"<tr><th>{esc(stage)}</th><td class='run'>{esc(inputs.lineage.get(stage) or '—')}</td>"
        "</tr>"
        for stage in LINEAGE_STAGES
    )
    return f"<table id='lineage'>{rows}</table>"


def _settings(inputs: ReportInputs) -> str:
    g = inputs.grading
    hi, lo, alpha = g["tier1_above"], g["tier3_below"], g["alpha"]
    dims = ", ".join(f"{esc(d)} {w:.3f}" for d, w in g["dimension_weights"].items())
    indicators = "".join(
        f"<li>{esc(dim)}: "
        + ", ".join(f"{esc(name)} {w:.2f}" for name, w in weights.items())
        + "</li>"
        for dim, weights in g["indicator_weights"].items()
    )
    experts = (
        f"expert scores from <code>{esc(g['experts_file'])}</code>"
        if g.get("experts_file")
        else "no expert scores given"
    )
    return (
        "<ul id='settings'>"
        f"<li>Tiers: Tier 1 above {hi:g}, Tier 2 from {lo:g} to {hi:g}, Tier 3 below {lo:g}"
        " (final score 0–10).</li>"
        f"<li>Fusion: final = α·expert + (1 − α)·patent with α = {alpha:g} where experts "
        f"scored an item, else the patent score; {experts}.</li>"
        f"<li>Dimension weights: {dims}.</li>"
        f"<li>Indicator weights:<ul>{indicators}</ul></li>"
        f"<li>Indicators put on 0–10 by <code>{esc(g['normalisation'])}</code> (anchored: "
        "against fixed references such as parity or the domain's world average; rank, minmax, "
        "zscore: within each domain).</li></ul>"
    )


def _summary(grades: pd.DataFrame, domains: list[str]) -> str:
    head = "".join(f"<th class='num'>{t}</th>" for t in TIERS)
    rows = []
    for domain, items in _grouped(grades, domains):
        counts = "".join(f"<td class='num'>{int((items['tier'] == t).sum())}</td>" for t in TIERS)
        near = int(items["near_threshold"].astype(bool).sum()) if len(items) else 0
        rows.append(
            f"<tr><th><a href='#{esc(anchor(domain))}'>{esc(domain_title(domain))}</a></th>"
            f"{counts}<td class='num'>{len(items)}</td><td class='num'>{near}</td></tr>"
        )
    return (
        f"<table id='tier-summary'><thead><tr><th>Domain</th>{head}<th class='num'>graded</th>"
        f"<th class='num'>≈ threshold</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _experts(inputs: ReportInputs, fig: _Figures) -> str:
    if inputs.agreement is None:
        return (
            "<p id='no-experts'>No expert scores were given: every grade rests on the patent "
            "evidence alone.</p>"
        )
    table = inputs.agreement
    if table.empty:
        return "<p>Expert scores were given, but no round had enough scores for Kendall's W.</p>"
    rows = "".join(
        f"<tr><td class='num'>{esc(r.get('round'))}</td><td>{esc(r.get('dimension'))}</td>"
        f"<td class='num'>{esc(r.get('experts', '—'))}</td>"
        f"<td class='num'>{esc(r.get('items', '—'))}</td>"
        f"<td class='num'>{_num(r.get('w'), '{:.3f}')}</td>"
        f"<td class='num'>{_num(r.get('p_value'), '{:.3g}')}</td></tr>"
        for r in table.to_dict("records")
    )
    return (
        "<p>Kendall's coefficient of concordance W (0 = no agreement, 1 = identical rankings) "
        "over the items every expert of the round scored.</p>"
        + fig(
            figures.agreement(table),
            "Kendall's W needs at least two items that every expert of a round scored; "
            "no round here had them, so agreement cannot be measured.",
        )
        + "<table id='expert-agreement'><thead><tr><th>Round</th><th>Dimension</th>"
        "<th class='num'>Experts</th><th class='num'>Items</th><th class='num'>W</th>"
        f"<th class='num'>p</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _codes(codes: pd.DataFrame, language: str = "en") -> str:
    if codes.empty:
        return ""
    top = codes.sort_values(
        ["degree", "strength", "vertex"], ascending=[False, False, True], kind="mergesort"
    ).head(_TOP_CODES)
    rows = "".join(
        f"<tr><td><code>{esc(r.vertex)}</code></td><td>{esc(r.label)}</td>"
        f"<td class='num'>{int(r.patents)}</td><td class='num'>{int(r.degree)}</td>"
        f"<td class='num'>{r.pagerank:.4f}</td><td class='num'>{r.betweenness:.3f}</td></tr>"
        for r in top.itertuples(index=False)
    )
    return (
        "<h3>Most connected IPC/CPC codes (co-occurrence network)</h3>"
        "<table class='codes'><thead><tr><th>Code</th>"
        f"<th>{esc(heading('Title', language))}</th><th class='num'>Patents</th>"
        "<th class='num'>Degree</th><th class='num'>PageRank</th>"
        f"<th class='num'>Betweenness</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _rows_of(frame: pd.DataFrame, column: str, value: str) -> pd.DataFrame:
    return frame[frame[column] == value] if len(frame) and column in frame else frame.head(0)


# --- score distribution and what moves an item across a threshold (grade.to_next_tier) ----


def _score_distribution(items: pd.DataFrame, grading: dict, name: str, fig: _Figures) -> str:
    """A domain's patent/final scores against the thresholds, and the near-threshold moves.

    Lists every item flagged near a threshold with the smallest change of one dimension
    score that takes it to another tier (the grade run's ``next_tier*`` columns; older runs
    have none, and the list then says so).
    """
    hi, lo = grading["tier1_above"], grading["tier3_below"]
    graded = items[items["kind"] == "node"] if len(items) else items
    parts = [
        "<h3>Score distribution</h3>",
        fig(
            figures.score_distribution(graded, hi, lo, f"{name}: patent and final scores")
            if len(graded)
            else None,
            "No graded technology node.",
        ),
    ]
    near = graded[graded["near_threshold"].fillna(False).astype(bool)] if len(graded) else graded
    if near.empty:
        return "".join(parts) + "<p class='muted'>No technology is near a tier threshold.</p>"
    rows = []
    for r in near.sort_values(["final_score", "item"], ascending=[False, True]).to_dict("records"):
        move = figures.next_tier_text(
            r.get("next_tier"), r.get("next_tier_dimensions"), r.get("next_tier_change")
        )
        rows.append(
            f"<tr><td>{esc(r['label'])}</td><td><code>{esc(r['item'])}</code></td>"
            f"<td class='num'>{_num(r['final_score'])}</td><td>{esc(r['tier'])}</td>"
            f"<td>{esc(move or 'no single dimension can move it across')}</td></tr>"
        )
    return "".join(parts) + (
        "<p>Near a threshold: the smallest change of one dimension score (0–10 points, at the "
        "dimension weights and α used) that takes the item to another tier; it brings the "
        f"final score onto the threshold (Tier 1 needs more than {hi:g}, Tier 3 less than "
        f"{lo:g}).</p><table class='next-tier'><thead><tr><th>Technology</th><th>Node</th>"
        "<th class='num'>Final</th><th>Tier</th><th>What moves it across</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _domain_section(inputs: ReportInputs, domain: str, items: pd.DataFrame, fig: _Figures) -> str:
    o = inputs.options
    nodes = _rows_of(inputs.nodes, "domain", domain)
    notes = domain_notes(items, nodes, inputs.domain_stats.get(domain, {}), inputs.grading, o)
    parts = [
        f"<section class='domain' id='{esc(anchor(domain))}'>",
        f"<h2>{esc(domain_title(domain))}</h2>",
        "<ul class='notes'>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>",
    ]
    if domain == NO_DOMAIN:
        parts.append("</section>")
        return "".join(parts)
    name = domain_title(domain)
    graded = int((items["kind"] == "node").sum()) if len(items) else 0
    shown = min(graded, o.breakdown_items)
    more = f" (the {shown} highest of {graded})" if graded > shown else ""
    parts += [
        _score_distribution(items, inputs.grading, name, fig),
        f"<h3>Score breakdown{esc(more)}</h3>",
        fig(
            figures.breakdown(items, inputs.grading["indicator_weights"], o.breakdown_items, name)
            if graded
            else None,
            "No graded technology node to break down.",
        ),
        "<h3>Technology network</h3>",
        fig(
            figures.network(
                _rows_of(inputs.centrality, "domain", domain),
                _rows_of(inputs.edges, "domain", domain),
                items,
                o,
                f"{name}: technology network (size = PageRank, colour = tier)",
            ),
            "No technology network for this domain.",
        ),
        "<h3>Cluster map</h3>",
        fig(
            figures.cluster_map(nodes, items, f"{name}: nodes on their centroids' first two PCs")
            if len(nodes)
            else None,
            "Fewer than two technology nodes: no map.",
        ),
        "<h3>Filing trends</h3>",
        fig(
            figures.filing_trends(nodes, o.top_nodes, f"{name}: filings per year")
            if len(nodes)
            else None,
            "No filing years recorded.",
        ),
        "<h3>Applicant countries</h3>",
        fig(
            figures.country_shares(nodes, o.top_nodes, f"{name}: share of patents by country")
            if len(nodes)
            else None,
            "No applicant countries recorded.",
        ),
        _codes(_rows_of(inputs.codes, "domain", domain), o.language),
        _languages(nodes, inputs.domain_stats.get(domain, {}).get("languages") or {}, o.language),
        "</section>",
    ]
    return "".join(parts)


def _languages(nodes: pd.DataFrame, counts: dict[str, int], language: str = "en") -> str:
    """Patents per language in the domain, and each node's languages (flagged ones marked)."""
    head = "<h3>Languages</h3>"
    if not counts:
        return head + "<p class='missing'>No languages recorded.</p>"
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    domain = "".join(f"<tr><td>{esc(k)}</td><td>{int(v):,}</td></tr>" for k, v in ordered)
    mixed = languages.is_mixed(counts)
    rows = []
    flagged = languages.driven_nodes(nodes, counts)
    for node in nodes.sort_values(["size", "node_id"], ascending=[False, True]).itertuples():
        own = as_dict(getattr(node, "languages", None))
        driven = flagged.get(node.node_id)
        flag = f"⚑ {esc(driven)} ≥ {languages.DOMINANT:.0%}" if driven else ""
        marked = " class='flagged'" if driven else ""
        rows.append(
            f"<tr{marked}><td>{esc(node.node_id)}</td>"
            f"<td>{esc(node.label)}</td><td>{int(node.size):,}</td>"
            f"<td>{esc(languages.share_text(own))}</td><td>{flag}</td></tr>"
        )
    verdict = (
        "Mixed domain: a node ⚑ is 80% or more one language, so language rather than "
        "technology may have formed it."
        if mixed
        else "One language holds 80% or more of the domain: nodes are not flagged."
    )
    counted = (
        "Patents count in the language of the text they were embedded from: a record "
        "embedded from its English translation counts as en."
    )
    return (
        head
        + "<table class='languages'><thead><tr><th>language</th><th>patents</th></tr></thead>"
        + f"<tbody>{domain}</tbody></table><p>{esc(verdict)} {esc(counted)}</p>"
        + "<table class='node-languages'><thead><tr><th>node</th>"
        + f"<th>{esc(heading('label', language))}</th><th>patents</th>"
        + "<th>languages</th><th></th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def render(inputs: ReportInputs, generated: datetime | None = None) -> str:
    """The whole report page as one HTML string.

    Node labels and the label/title headings are in ``inputs.options.language``
    (:func:`~techscreen.report.data.localise`); so is the page's ``lang`` attribute.
    """
    inputs = localise(inputs)  # node labels in the report language (the stage did it already)
    fig = _Figures()
    grades = inputs.grades
    grading = inputs.grading
    groups = _grouped(grades, inputs.domains)
    when = (generated or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    nav = "".join(f"<a href='#{esc(anchor(d))}'>{esc(domain_title(d))}</a>" for d, _ in groups)
    overview = (
        figures.score_overview(
            grades,
            [domain_of(d) for d, _ in groups],
            grading["tier1_above"],
            grading["tier3_below"],
        )
        if len(grades)
        else None
    )
    body = [
        f"<h1>{esc(inputs.title)}</h1>",
        f"<p class='muted'>Grade run <span class='run'>{esc(inputs.lineage.get('grade'))}</span>"
        f" · {len(grades)} graded items · generated {esc(when)}</p>",
        f"<nav>{nav}</nav>",
        "<h2 id='lineage-title'>Lineage</h2>",
        "<p>The MLflow runs behind every grade below; each grade row of the exports carries "
        "them too.</p>",
        _lineage(inputs),
        "<h2>Grading settings</h2>",
        _settings(inputs),
        "<h2>Tiers per domain</h2>",
        _summary(grades, inputs.domains),
        fig(overview, "Nothing was graded."),
        changes_section(inputs.changes, grades, inputs.domain_stats),
        "<h2 id='tiers'>Tier table</h2>",
        "<p>Final, patent and expert scores (0–10); P(T·): the share of the weight draws "
        "(dimension weights and α) that put the item in each tier; 90% range: the 5th to 95th "
        "percentile of its score over those draws; ≈: near a tier threshold. "
        f"Dimensions: {', '.join(DIMENSIONS)} (see each domain's breakdown).</p>",
        tier_table(grades, inputs.domains, inputs.options.language),
        control_list_section(grades, inputs.domains, grading.get("control_lists", {})),
        placement_section(inputs.placement, inputs.domain_stats, grades, inputs.domains),
        "<h2 id='experts'>Expert agreement</h2>",
        _experts(inputs, fig),
        *(_domain_section(inputs, d, items, fig) for d, items in groups),
        "<h2>Exports</h2><p><code>grades.csv</code> and <code>grades.parquet</code> beside this "
        "page hold the graded list with every indicator and the run lineage.</p>",
    ]
    lang = _HTML_LANG.get(inputs.options.language, "en")
    return (
        f"<!DOCTYPE html>\n<html lang='{lang}'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{esc(inputs.title)}</title><style>{_STYLE}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )
