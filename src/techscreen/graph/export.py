"""Files a user opens elsewhere: GraphML (Gephi, Cytoscape) and a PNG picture per network."""

from __future__ import annotations

import warnings
from pathlib import Path

import networkx as nx
import pandas as pd

_SCALARS = (str, int, float, bool)


def annotated(graph: nx.Graph, table: pd.DataFrame) -> nx.Graph:
    """A copy of ``graph`` whose vertices carry their row of ``table`` (indexed by vertex).

    Lists become ``;``-joined strings and missing values are left out, because GraphML
    holds only scalars.
    """
    out = graph.copy()
    for vertex, row in table.iterrows():
        attrs = {}
        for name, value in row.items():
            if isinstance(value, list | tuple):
                attrs[name] = ";".join(map(str, value))
            elif value is not None and not (isinstance(value, float) and value != value):
                attrs[name] = value.item() if hasattr(value, "item") else value
        out.nodes[vertex].update({k: v for k, v in attrs.items() if isinstance(v, _SCALARS)})
    return out


def write_graphml(graph: nx.Graph, path: Path) -> Path:
    """Write ``graph`` (scalar attributes only) as GraphML; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nx.write_graphml(graph, path, encoding="utf-8", prettyprint=True)
    return path


def draw(
    graph: nx.Graph,
    table: pd.DataFrame,
    path: Path,
    title: str,
    label_top: int,
    max_vertices: int,
    seed: int = 0,
) -> Path:
    """A PNG of the network: size by PageRank, colour by community, top betweenness labelled.

    Isolated vertices are left out, and graphs over ``max_vertices`` are drawn as the
    subgraph of their strongest vertices (the title says both). ``table`` is indexed by
    vertex with ``degree``, ``strength``, ``pagerank``, ``betweenness``, ``community`` and
    ``label`` columns.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    linked = table.index[table.degree > 0]
    notes = []
    if len(linked) < len(table):
        notes.append(f"{len(table) - len(linked):,} isolated vertices not drawn")
    if len(linked) > max_vertices:
        linked = table.loc[linked].strength.sort_values(ascending=False, kind="stable").index
        linked = linked[:max_vertices]
        notes.append(f"strongest {max_vertices:,} of {graph.number_of_nodes():,} vertices")
    shown = graph.subgraph(linked)
    note = f" ({'; '.join(notes)})" if notes else ""
    vertices = sorted(shown.nodes)
    fig, ax = plt.subplots(figsize=(12, 10), dpi=100)
    if vertices:
        pos = nx.spring_layout(shown, weight="weight", seed=seed)
        rows = table.loc[vertices]
        rank = rows.pagerank.rank(pct=True).fillna(0)
        nx.draw_networkx_edges(shown, pos, ax=ax, alpha=0.15, width=0.5)
        nx.draw_networkx_nodes(
            shown,
            pos,
            nodelist=vertices,
            node_size=(20 + 380 * rank).to_list(),
            node_color=(rows.community % 20).to_list(),
            cmap="tab20",
            vmin=0,
            vmax=19,
            ax=ax,
        )
        top = rows.betweenness.sort_values(ascending=False, kind="stable").index[:label_top]
        labels = {v: _short(v, rows.at[v, "label"]) for v in top}
        with warnings.catch_warnings():  # glyphs a font lacks (e.g. Han) are drawn as boxes
            warnings.simplefilter("ignore")
            nx.draw_networkx_labels(shown, pos, labels=labels, font_size=8, ax=ax)
    ax.set_title(
        f"{title}{note}\nsize = PageRank, colour = community, labels = top betweenness",
        fontsize=10,
    )
    ax.set_axis_off()
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def _short(vertex: str, label: str | None, width: int = 40) -> str:
    text = f"{vertex}: {label}" if label and label != vertex else vertex
    return text if len(text) <= width else text[: width - 1] + "…"
