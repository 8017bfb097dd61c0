"""The report's plotly figures, each from node-level pandas frames of one domain.

Every function returns a :class:`plotly.graph_objects.Figure`, or ``None`` when the data
cannot make a meaningful one (the page then says why). Text from the data (labels, node
ids) is HTML-escaped before it reaches plotly, which reads a few HTML tags in its texts.
"""

from __future__ import annotations

import html
from collections.abc import Mapping

import networkx as nx
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from techscreen.config import DIMENSIONS
from techscreen.grade.scoring import TIERS
from techscreen.report.data import ReportOptions, as_dict, as_list, domain_of, finite

TIER_COLOURS = {"Tier 1": "#c0392b", "Tier 2": "#e67e22", "Tier 3": "#5d7fa3"}
UNGRADED_COLOUR = "#aaaaaa"
_LABEL_CHARS = 40
_FONT = {"family": "system-ui, sans-serif", "size": 12}


def text(value: object, limit: int | None = None) -> str:
    """``value`` as plotly-safe text: shortened to ``limit`` characters, HTML-escaped."""
    s = "" if value is None else str(value)
    if limit is not None and len(s) > limit:
        s = s[: limit - 1] + "…"
    return html.escape(s, quote=False)


def short_id(node_id: str) -> str:
    """``energy:15`` → ``#15`` (the domain is the section's)."""
    head, sep, tail = str(node_id).rpartition(":")
    return f"#{tail}" if sep and head else str(node_id)


def _layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(
        title={"text": text(title), "x": 0.0, "xanchor": "left"},
        template="simple_white",
        font=_FONT,
        height=height,
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
        hoverlabel={"align": "left"},
    )
    return fig


def _tier_of(grades: pd.DataFrame) -> Mapping[str, tuple[str, float]]:
    """Map each graded node id to its (tier, final score)."""
    nodes = grades[grades["kind"] == "node"]
    return {
        i: (t, s)
        for i, t, s in zip(nodes["item"], nodes["tier"], nodes["final_score"], strict=True)
    }


def score_overview(grades: pd.DataFrame, domains: list[str], hi: float, lo: float) -> go.Figure:
    """Every graded item's final score by domain, coloured by tier, with the thresholds."""
    fig = go.Figure()
    for tier in TIERS:
        rows = grades[grades["tier"] == tier]
        fig.add_trace(
            go.Box(
                x=[text(domain_of(d)) for d in rows["domain"]],
                y=rows["final_score"],
                name=tier,
                boxpoints="all",
                jitter=0.5,
                pointpos=0,
                fillcolor="rgba(0,0,0,0)",
                line={"color": "rgba(0,0,0,0)"},
                marker={"color": TIER_COLOURS[tier], "size": 7},
                hovertext=[
                    f"{text(label, _LABEL_CHARS)}<br>{text(item)}<br>{score:.2f}"
                    for label, item, score in zip(
                        rows["label"], rows["item"], rows["final_score"], strict=True
                    )
                ],
                hoverinfo="text",
            )
        )
    for y, name in ((hi, "Tier 1 above"), (lo, "Tier 3 below")):
        fig.add_hline(
            y=y,
            line={"color": "#555", "dash": "dot", "width": 1.5},
            opacity=1,
            annotation_text=f"{name} {y:g}",
            annotation_position="top left",
        )
    fig.update_layout(boxmode="overlay")
    fig.update_xaxes(categoryorder="array", categoryarray=[text(d) for d in domains])
    fig.update_yaxes(range=[0, 10.2], title="final score (0–10)")
    return _layout(fig, "Final scores by domain", 420)


def network(
    vertices: pd.DataFrame,
    edges: pd.DataFrame,
    grades: pd.DataFrame,
    options: ReportOptions,
    title: str,
) -> go.Figure | None:
    """A domain's technology network: spring layout, size by PageRank, colour by tier.

    Args:
        vertices: the domain's rows of the technology network's centrality (``vertex,
            label, patents, pagerank, betweenness, degree``).
        edges: the domain's edges (``source, target, weight``).
        grades: the domain's graded items (for tiers and scores).
        options: ``max_vertices`` drawn (highest PageRank), ``label_top`` labelled, ``seed``.
        title: the figure title.
    """
    if vertices.empty:
        return None
    shown = vertices.sort_values(["pagerank", "vertex"], ascending=[False, True], kind="mergesort")
    shown = shown.head(options.max_vertices).reset_index(drop=True)
    keep = set(shown["vertex"])
    drawn = edges[edges["source"].isin(keep) & edges["target"].isin(keep)]
    graph = nx.Graph()
    graph.add_nodes_from(sorted(keep))
    graph.add_weighted_edges_from(
        (s, t, float(w))
        for s, t, w in drawn[["source", "target", "weight"]].itertuples(index=False)
    )
    pos = packed_layout(graph, options.seed)
    ex: list[float | None] = []
    ey: list[float | None] = []
    for s, t in sorted(graph.edges()):
        ex += [pos[s][0], pos[t][0], None]
        ey += [pos[s][1], pos[t][1], None]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=ex,
            y=ey,
            mode="lines",
            line={"color": "rgba(120,120,120,0.35)", "width": 1},
            hoverinfo="skip",
            showlegend=False,
        )
    )
    tiers = _tier_of(grades)
    top_pr = max(float(shown["pagerank"].max()), 1e-12)
    labelled = set(shown["vertex"].head(options.label_top))
    shown["_tier"] = [tiers.get(v, ("not graded", np.nan))[0] for v in shown["vertex"]]
    for tier in (*TIERS, "not graded"):
        rows = shown[shown["_tier"] == tier]
        if rows.empty:
            continue
        hover = []
        for r in rows.itertuples(index=False):
            score = tiers.get(r.vertex, (tier, np.nan))[1]
            hover.append(
                f"{text(r.label, _LABEL_CHARS)}<br>{text(r.vertex)} · {int(r.patents)} patents"
                f"<br>PageRank {r.pagerank:.3f} · betweenness {r.betweenness:.3f}"
                f" · degree {int(r.degree)}"
                + (f"<br>{tier} · score {score:.2f}" if finite(score) else "")
            )
        fig.add_trace(
            go.Scatter(
                x=[pos[v][0] for v in rows["vertex"]],
                y=[pos[v][1] for v in rows["vertex"]],
                mode="markers+text",
                name=tier,
                marker={
                    "size": [8 + 32 * np.sqrt(max(p, 0.0) / top_pr) for p in rows["pagerank"]],
                    "color": TIER_COLOURS.get(tier, UNGRADED_COLOUR),
                    "line": {"color": "white", "width": 1},
                    "opacity": 0.9,
                },
                text=[
                    text(label, 28) if v in labelled else ""
                    for v, label in zip(rows["vertex"], rows["label"], strict=True)
                ],
                textposition="top center",
                hovertext=hover,
                hoverinfo="text",
            )
        )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    return _layout(fig, title, 560)


def packed_layout(graph: nx.Graph, seed: int) -> dict[str, np.ndarray]:
    """A spring layout of each connected component, the components packed in rows.

    One spring layout of a disconnected graph pushes the components to the rim and squeezes
    the largest one; laid out apart, each component gets a square whose side grows with the
    square root of its size, largest first, so the picture stays readable.
    """
    components = sorted(
        (sorted(c) for c in nx.connected_components(graph)), key=lambda c: (-len(c), c[0])
    )
    if not components:
        return {}
    sides = [np.sqrt(len(c) / len(components[0])) for c in components]
    width = max(2.0 * sides[0], np.sqrt(sum(4.0 * s * s for s in sides)))
    pos: dict[str, np.ndarray] = {}
    x = y = row_height = 0.0
    for component, side in zip(components, sides, strict=True):
        if x > 0 and x + 2 * side > width + 1e-9:
            x, y, row_height = 0.0, y - row_height - 0.3, 0.0
        sub = graph.subgraph(component)
        if len(component) == 1:
            local = {component[0]: np.zeros(2)}
        else:
            k = 2.0 / np.sqrt(len(component))
            local = nx.spring_layout(sub, weight="weight", seed=seed, k=k, iterations=100)
        for v in component:
            pos[v] = np.array([x + side, y - side]) + side * np.asarray(local[v], dtype=float)
        x += 2 * side + 0.3
        row_height = max(row_height, 2 * side)
    return pos


def cluster_map(nodes: pd.DataFrame, grades: pd.DataFrame, title: str) -> go.Figure | None:
    """The domain's nodes on the first two principal components of their centroids.

    Bubble area is proportional to the node's patents; colour is its tier. ``None`` with
    fewer than two nodes (no spread to show). Centroids of different vector spaces cannot
    share axes: a domain clustered in several spaces shows the space with the most patents.
    """
    rows = nodes[nodes["centroid"].map(lambda c: c is not None and len(c) > 0)]
    if "space" in rows and rows["space"].nunique(dropna=False) > 1:
        main = rows.groupby(rows["space"].fillna(""))["size"].sum().idxmax()
        rows = rows[rows["space"].fillna("") == main]
        title = f"{title} ({main.split('-')[0]} space; other spaces not drawn)"
    if len(rows) < 2:
        return None
    x = np.vstack([np.asarray(c, dtype=float) for c in rows["centroid"]])
    x = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    k = min(2, vt.shape[0])
    # Sign of a component is arbitrary: make its largest loading positive, for stable pictures.
    signs = np.sign(vt[np.arange(k), np.abs(vt[:k]).argmax(axis=1)])
    coords = np.zeros((len(rows), 2))
    coords[:, :k] = x @ (vt[:k].T * np.where(signs == 0, 1.0, signs))
    total = float((s**2).sum()) or 1.0
    explained = [float(v**2 / total) for v in s[:2]] + [0.0] * (2 - min(2, len(s)))
    tiers = _tier_of(grades)
    sizes = rows["size"].astype(float).to_numpy()
    ref = 2.0 * sizes.max() / (45.0**2) if sizes.max() > 0 else 1.0
    tier_col = [tiers.get(v, ("not graded", np.nan))[0] for v in rows["node_id"]]
    fig = go.Figure()
    for tier in (*TIERS, "not graded"):
        pick = np.array([t == tier for t in tier_col])
        if not pick.any():
            continue
        sub = rows[pick]
        fig.add_trace(
            go.Scatter(
                x=coords[pick, 0],
                y=coords[pick, 1],
                mode="markers",
                name=tier,
                marker={
                    "size": sub["size"].astype(float).to_numpy(),
                    "sizemode": "area",
                    "sizeref": ref,
                    "sizemin": 4,
                    "color": TIER_COLOURS.get(tier, UNGRADED_COLOUR),
                    "opacity": 0.7,
                    "line": {"color": "white", "width": 1},
                },
                hovertext=[
                    f"{text(label, _LABEL_CHARS)}<br>{text(node)} · {int(size)} patents"
                    for label, node, size in zip(
                        sub["label"], sub["node_id"], sub["size"], strict=True
                    )
                ],
                hoverinfo="text",
            )
        )
    fig.update_xaxes(title=f"PC1 ({explained[0]:.0%} of centroid variance)", zeroline=False)
    fig.update_yaxes(title=f"PC2 ({explained[1]:.0%})", zeroline=False)
    return _layout(fig, title, 480)


def filing_trends(nodes: pd.DataFrame, top: int, title: str) -> go.Figure | None:
    """Filings per year of the domain's nodes together and of its ``top`` largest nodes."""
    years = [as_dict(v) for v in nodes["filing_years"]]
    every = sorted({int(y) for h in years for y in h})
    if not every:
        return None
    axis = list(range(every[0], every[-1] + 1))
    fig = go.Figure()
    total = {y: sum(int(h.get(y, 0)) for h in years) for y in axis}
    fig.add_trace(
        go.Scatter(
            x=axis,
            y=[total[y] for y in axis],
            name="all nodes",
            mode="lines",
            line={"color": "#222", "width": 3},
        )
    )
    order = nodes.assign(hist=years).sort_values(["size", "node_id"], ascending=[False, True])
    for r in order.head(top).itertuples(index=False):
        hist = {int(k): int(v) for k, v in r.hist.items()}
        fig.add_trace(
            go.Scatter(
                x=axis,
                y=[hist.get(y, 0) for y in axis],
                name=f"{short_id(r.node_id)} {text(r.label, 24)}",
                mode="lines",
                line={"width": 1.5},
            )
        )
    fig.update_xaxes(title="filing year")
    fig.update_yaxes(title="patent filings", rangemode="tozero")
    return _layout(fig, title, 420)


def country_shares(
    nodes: pd.DataFrame, top: int, title: str, countries: int = 6
) -> go.Figure | None:
    """Applicant-country shares of the domain's nodes together and of its largest nodes.

    The ``countries`` commonest countries of the domain are shown, the rest as ``other``.
    """
    maps = [{(k or "unknown"): int(v) for k, v in as_dict(c).items()} for c in nodes["countries"]]
    order = nodes.assign(counts=maps).sort_values(["size", "node_id"], ascending=[False, True])
    overall: dict[str, int] = {}
    for m in maps:
        for k, v in m.items():
            overall[k] = overall.get(k, 0) + v
    if not overall:
        return None
    named = sorted(overall, key=lambda k: (-overall[k], k))[:countries]
    rows = [("all nodes", overall)] + [
        (f"{short_id(r.node_id)} {text(r.label, 24)}", r.counts)
        for r in order.head(top).itertuples(index=False)
    ]
    fig = go.Figure()
    for country in [*named, "other"]:
        shares = []
        for _, counts in rows:
            n = sum(counts.values()) or 1
            value = (
                sum(v for k, v in counts.items() if k not in named)
                if country == "other"
                else counts.get(country, 0)
            )
            shares.append(value / n)
        fig.add_trace(
            go.Bar(
                y=[name for name, _ in rows],
                x=shares,
                name=text(country),
                orientation="h",
                hovertemplate="%{y}: %{x:.0%}<extra>" + text(country) + "</extra>",
            )
        )
    fig.update_layout(barmode="stack")
    fig.update_xaxes(tickformat=".0%", range=[0, 1], title="share of patents")
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, title, 140 + 26 * len(rows))


def breakdown(
    grades: pd.DataFrame, indicator_weights: Mapping[str, Mapping[str, float]], top: int, title: str
) -> go.Figure | None:
    """The three dimension scores and their indicator scores (0–10) of the top items.

    One heatmap row per technology node (highest final score first, at most ``top``), one
    column per dimension followed by its indicators; hovering shows the raw indicator value
    and whether it was missing (neutral 5).
    """
    items = grades[grades["kind"] == "node"].sort_values(
        ["final_score", "item"], ascending=[False, True], kind="mergesort"
    )
    items = items.head(top)
    if items.empty:
        return None
    columns: list[tuple[str, str | None]] = []
    for dim in DIMENSIONS:
        columns.append((dim, None))
        columns += [(dim, name) for name in indicator_weights.get(dim, {})]
    z, hover, cells = [], [], []
    for r in items.itertuples(index=False):
        scores, raw, neutral = as_dict(r.scores), as_dict(r.indicators), set(as_list(r.neutral))
        zr, hr, cr = [], [], []
        for dim, name in columns:
            value = getattr(r, dim) if name is None else scores.get(name)
            value = float(value) if finite(value) else np.nan
            zr.append(value)
            cr.append("" if np.isnan(value) else f"{value:.1f}")
            what = dim.upper() if name is None else f"{name} ({dim})"
            extra = ""
            if name is not None:
                extra = (
                    "<br>no data: neutral 5"
                    if name in neutral
                    else f"<br>raw value {raw[name]:.4g}"
                    if finite(raw.get(name))
                    else ""
                )
            hr.append(
                f"{text(r.label, _LABEL_CHARS)} ({text(r.item)})<br>{what}: "
                f"{'—' if np.isnan(value) else f'{value:.2f}'}{extra}"
            )
        z.append(zr)
        hover.append(hr)
        cells.append(cr)
    x = [dim.upper() if name is None else name for dim, name in columns]
    y = [
        f"{short_id(i)} {text(label, 30)}"
        for i, label in zip(items["item"], items["label"], strict=True)
    ]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=x,
            y=y,
            zmin=0,
            zmax=10,
            colorscale="YlOrRd",
            text=cells,
            texttemplate="%{text}",
            hovertext=hover,
            hoverinfo="text",
            colorbar={"title": {"text": "0–10"}},
            xgap=1,
            ygap=1,
        )
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(side="top", tickangle=-35)
    return _layout(fig, title, 170 + 24 * len(items))


def agreement(per_round: pd.DataFrame) -> go.Figure | None:
    """Kendall's W of the experts per consultation round, one line per dimension."""
    rows = per_round[per_round["w"].map(finite)]
    if rows.empty:
        return None
    fig = go.Figure()
    for dim, group in rows.groupby("dimension", sort=True):
        group = group.sort_values("round")
        fig.add_trace(
            go.Scatter(
                x=group["round"].astype(int),
                y=group["w"].astype(float),
                name=text(dim),
                mode="lines+markers",
            )
        )
    fig.update_xaxes(title="round", dtick=1)
    fig.update_yaxes(title="Kendall's W", range=[0, 1.02])
    return _layout(fig, "Expert agreement per round (Kendall's W)", 360)


def next_tier_text(next_tier: object, dimensions: object, change: object) -> str:
    """``+0.42 on feasibility → Tier 2`` from a grade row's ``next_tier*`` columns; "" if none.

    Several dimensions that would each do it are joined with "or" (equal weights).
    """
    names = [str(d) for d in as_list(dimensions)]
    if not isinstance(next_tier, str) or not names or not finite(change):
        return ""
    which = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    return f"{float(change):+.2f} on {which} → {next_tier}"


def score_distribution(items: pd.DataFrame, hi: float, lo: float, title: str) -> go.Figure | None:
    """A domain's patent and final scores, one point per technology, with both thresholds.

    Two strips (final above, patent below; they differ only where experts scored an item),
    points coloured by the item's tier and jittered apart (a fixed seed: the same page every
    time); hovering shows the item, its score and the smallest change of one dimension that
    moves it to another tier (:func:`next_tier_text`). ``None`` without graded items.
    """
    if items.empty:
        return None
    rng = np.random.default_rng(0)
    jitter = rng.uniform(-0.28, 0.28, size=len(items))
    moves = [
        next_tier_text(t, d, c)
        for t, d, c in zip(
            items.get("next_tier", pd.Series([None] * len(items))),
            items.get("next_tier_dimensions", pd.Series([None] * len(items))),
            items.get("next_tier_change", pd.Series([None] * len(items))),
            strict=True,
        )
    ]
    fig = go.Figure()
    strips = (("final", "final_score", 1.0), ("patent", "patent_score", 0.0))
    for tier in TIERS:
        mine = (items["tier"] == tier).to_numpy()
        for row, column, y in strips:
            values = pd.to_numeric(items[column], errors="coerce").to_numpy(dtype=float)
            keep = mine & np.isfinite(values)
            if not keep.any():
                continue
            labels = items["label"].to_numpy()[keep]
            ids = items["item"].to_numpy()[keep]
            fig.add_trace(
                go.Scatter(
                    x=values[keep],
                    y=y + jitter[keep],
                    mode="markers",
                    name=tier,
                    legendgroup=tier,
                    showlegend=row == "final",
                    marker={"color": TIER_COLOURS[tier], "size": 8, "opacity": 0.85},
                    hovertext=[
                        f"{text(label, _LABEL_CHARS)}<br>{text(item)}<br>{row} {v:.2f}"
                        + (f"<br>{text(move)}" if move else "")
                        for label, item, v, move in zip(
                            labels,
                            ids,
                            values[keep],
                            np.array(moves, dtype=object)[keep],
                            strict=True,
                        )
                    ],
                    hoverinfo="text",
                )
            )
    for x, name in ((hi, "Tier 1 above"), (lo, "Tier 3 below")):
        fig.add_vline(
            x=x,
            line={"color": "#555", "dash": "dot", "width": 1.5},
            annotation_text=f"{name} {x:g}",
            annotation_position="top",
        )
    fig.update_xaxes(range=[0, 10.2], title="score (0–10)")
    fig.update_yaxes(
        tickvals=[1.0, 0.0], ticktext=["final", "patent"], range=[-0.5, 1.5], showgrid=False
    )
    return _layout(fig, title, 260)
