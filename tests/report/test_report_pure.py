"""The report's pure parts on small hand-made frames: tier table, escaping, exports, notes."""

from __future__ import annotations

import csv
import itertools
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from techscreen.io.exports import write_csv
from techscreen.report import ReportInputs, ReportOptions, export_frame, render
from techscreen.report.data import NO_DOMAIN, grading_settings
from techscreen.report.figures import cluster_map, network, packed_layout
from techscreen.report.notes import domain_notes

LINEAGE = {"ingest": "i1", "embed": "e1", "cluster": "c1", "graph": "g1"}
GRADING = {
    "tier1_above": 8.5,
    "tier3_below": 6.5,
    "alpha": 0.5,
    "normalisation": "rank",
    "experts_file": "",
    "dimension_weights": {"necessity": 0.5, "feasibility": 0.25, "impact": 0.25},
    "indicator_weights": {
        "necessity": {"centrality": 1.0},
        "feasibility": {"cn_share": 1.0},
        "impact": {"size": 1.0},
    },
}


def _grade(item, domain, label, final, tier, kind="node", **extra):
    is_node = kind == "node"
    row = {
        "domain": domain,
        "item": item,
        "kind": kind,
        "node_ids": [item] if is_node else [],
        "label": label,
        "patents": 40 if is_node else 0,
        "indicators": {"centrality": 0.2, "cn_share": 0.1, "size": 40.0} if is_node else {},
        "scores": {"centrality": 6.0, "cn_share": 4.0, "size": 5.0} if is_node else {},
        "necessity": 6.0 if is_node else None,
        "feasibility": 4.0 if is_node else None,
        "impact": 5.0 if is_node else None,
        "patent_score": final if is_node else None,
        "expert_score": None if is_node else final,
        "experts": 0 if is_node else 2,
        "final_score": final,
        "tier": tier,
        "p_tier1": 1.0 if tier == "Tier 1" else 0.0,
        "p_tier2": 1.0 if tier == "Tier 2" else 0.0,
        "p_tier3": 1.0 if tier == "Tier 3" else 0.0,
        "score_p05": final - 0.2,
        "score_p95": final + 0.2,
        "near_threshold": False,
        "neutral": [],
        "top_patents": ["US-1-B2"] if is_node else [],
        "lineage": dict(LINEAGE),
    }
    row.update(extra)
    return row


def _node(node_id, domain, label, size, centroid, countries=None):
    return {
        "domain": domain,
        "node_id": node_id,
        "size": size,
        "label": label,
        "filing_years": {2019: size // 2, 2021: size - size // 2},
        "countries": countries or {"US": size - 1, "CN": 1},
        "centroid": np.asarray(centroid, dtype=np.float32),
    }


def _inputs(grades: list[dict], domains: list[str], **kw) -> ReportInputs:
    nodes = kw.pop("nodes", None)
    if nodes is None:
        nodes = [
            _node(g["item"], g["domain"], g["label"], 40, [1.0, i, 0.5 * i])
            for i, g in enumerate(grades)
            if g["kind"] == "node"
        ]
    node_frame = pd.DataFrame(nodes)
    centrality = (
        pd.DataFrame(
            {
                "domain": node_frame["domain"],
                "vertex": node_frame["node_id"],
                "label": node_frame["label"],
                "patents": node_frame["size"],
                "pagerank": np.linspace(0.5, 0.1, len(node_frame)),
                "betweenness": 0.0,
                "degree": 1,
            }
        )
        if len(node_frame)
        else pd.DataFrame()
    )
    ids = list(node_frame["node_id"]) if len(node_frame) else []
    edges = pd.DataFrame(
        [
            {"domain": "energy", "source": a, "target": b, "weight": 0.5}
            for a, b in itertools.pairwise(ids)
        ]
    )
    return ReportInputs(
        grades=pd.DataFrame(grades),
        domains=domains,
        lineage={**LINEAGE, "grade": "r1"},
        grading=GRADING,
        nodes=node_frame,
        centrality=centrality,
        edges=edges,
        **kw,
    )


class _Table(HTMLParser):
    """Rows of ``<table id="tier-table">``: per tbody, the class and cell texts of each row."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = False
        self.bodies: dict[str, list[tuple[str, list[str]]]] = {}
        self._body = self._cell = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and a.get("id") == "tier-table":
            self.inside = True
        if not self.inside:
            return
        if tag == "tbody":
            self._body = a.get("data-domain")
            self.bodies[self._body] = []
        elif tag == "tr" and self._body is not None:
            self._row = []
            self.bodies[self._body].append((a.get("class", ""), self._row))
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table" and self.inside:
            self.inside = False
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _parse(page: str) -> _Table:
    parser = _Table()
    parser.feed(page)
    return parser


def _items(table: _Table, domain: str) -> list[list[str]]:
    return [cells for cls, cells in table.bodies[domain] if "item" in cls.split()]


def test_tier_table_has_one_row_per_graded_item_in_score_order():
    grades = [
        _grade("energy:0", "energy", "battery cell", 5.0, "Tier 3"),
        _grade("energy:1", "energy", "fuel cell", 7.2, "Tier 2"),
        _grade("energy:2", "energy", "wind rotor", 8.9, "Tier 1", near_threshold=True),
        _grade("medicine:0", "medicine", "vaccine", 6.0, "Tier 3"),
    ]
    table = _parse(render(_inputs(grades, ["energy", "medicine"])))
    energy = _items(table, "energy")
    assert [row[1] for row in energy] == ["energy:2", "energy:1", "energy:0"]
    assert [row[6] for row in energy] == ["Tier 1", "Tier 2", "Tier 3"]
    assert energy[0][-1] == "≈" and energy[1][-1] == ""
    assert energy[0][3] == "8.90" and energy[0][7] == "100%"
    assert [row[1] for row in _items(table, "medicine")] == ["medicine:0"]
    assert sum(len(_items(table, d)) for d in table.bodies) == len(grades)


def test_labels_from_the_data_are_escaped_everywhere():
    evil = "<script>alert(1)</script> & <b>bold</b>"
    grades = [
        _grade("energy:0", "energy", evil, 5.0, "Tier 3"),
        _grade("energy:1", "energy", "fine", 6.0, "Tier 3"),
    ]
    page = render(_inputs(grades, ["energy"]))
    assert "<script>alert(1)" not in page and "<b>bold</b>" not in page
    assert "alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # The browser shows the label as it is written in the data.
    labels = [row[0] for row in _items(_parse(page), "energy")]
    assert evil in labels


def test_empty_domain_gets_a_row_and_a_section_saying_so():
    grades = [_grade("energy:0", "energy", "battery", 5.0, "Tier 3")]
    inputs = _inputs(
        grades,
        ["energy", "machinery"],
        domain_stats={"machinery": {"patents": 7.0, "min_cluster_size": 10.0, "n_nodes": 0.0}},
    )
    page = render(inputs)
    table = _parse(page)
    assert _items(table, "machinery") == []
    assert [cls for cls, _ in table.bodies["machinery"]] == ["domain-head", "empty"]
    assert "id='domain-machinery'" in page
    assert "no technology node was formed" in page
    assert "Thin data" in page


def test_expert_only_item_without_node_is_listed_and_exported(tmp_path):
    grades = [
        _grade("energy:0", "energy", "battery", 5.0, "Tier 3"),
        _grade("solid-state battery", None, "solid-state battery", 8.7, "Tier 1", "expert_only"),
    ]
    agreement = pd.DataFrame(
        {
            "round": [1, 2],
            "dimension": ["overall"] * 2,
            "experts": [3, 3],
            "items": [4, 4],
            "w": [0.41, 0.77],
            "p_value": [0.2, 0.01],
        }
    )
    page = render(_inputs(grades, ["energy"], agreement=agreement))
    rows = _items(_parse(page), NO_DOMAIN)
    assert len(rows) == 1
    label, node, patents, _, patent, expert, tier = rows[0][:7]
    assert label.startswith("solid-state battery") and "expert only" in label
    assert (node, patents, patent, expert, tier) == ("—", "—", "—", "8.70", "Tier 1")
    assert "id='expert-agreement'" in page and "0.770" in page
    flat = export_frame(pd.DataFrame(grades), "r1")
    only = flat[flat["kind"] == "expert_only"].iloc[0]
    assert only["node_ids"] == [] and np.isnan(only["patent_score"])
    assert only["lineage.graph"] == "g1" and only["grade_run"] == "r1"
    flat.to_parquet(tmp_path / "g.parquet", index=False)
    back = pd.read_parquet(tmp_path / "g.parquet")
    assert list(back["item"]) == list(flat["item"])


def test_expert_rounds_without_a_measurable_w_say_so():
    agreement = pd.DataFrame(
        {"round": [1], "dimension": ["overall"], "experts": [2], "items": [1], "w": [np.nan]}
    )
    grades = [_grade("energy:0", "energy", "battery", 5.0, "Tier 3")]
    page = render(_inputs(grades, ["energy"], agreement=agreement))
    assert "agreement cannot be measured" in page and "id='expert-agreement'" in page


def test_no_expert_scores_says_so():
    page = render(_inputs([_grade("energy:0", "energy", "battery", 5.0, "Tier 3")], ["energy"]))
    assert "No expert scores were given" in page


def test_csv_export_escapes_a_formula_label(tmp_path):
    grades = [
        _grade("energy:0", "energy", '=HYPERLINK("http://x")', 5.0, "Tier 3"),
        _grade("energy:1", "energy", "plain", 4.0, "Tier 3", necessity=-1.5),
    ]
    path = write_csv(export_frame(pd.DataFrame(grades), "r1"), tmp_path / "grades.csv")
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    by_item = {r["item"]: r for r in rows}
    assert by_item["energy:0"]["label"] == '\'=HYPERLINK("http://x")'
    assert by_item["energy:1"]["necessity"] == "-1.5"  # numbers stay numbers
    assert by_item["energy:0"]["score.centrality"] == "6.0"
    assert by_item["energy:0"]["lineage.ingest"] == "i1"
    assert by_item["energy:0"]["top_patents"] == "US-1-B2"


def test_page_is_self_contained_with_plotly_inlined_once():
    grades = [_grade(f"energy:{i}", "energy", f"tech {i}", 4.0 + i, "Tier 3") for i in range(3)]
    page = render(_inputs(grades, ["energy"]))
    assert page.count("window.PlotlyConfig") == 1  # the inlined plotly.js bundle, once
    assert page.count('class="plotly-graph-div"') >= 5
    # Nothing is loaded from elsewhere: no script or style by URL, no link, no frame.
    assert not re.search(r"<(script|img|iframe)[^>]*\bsrc=|<link\b", page)
    assert "<meta charset='utf-8'>" in page and "Content-Security-Policy" in page


def test_grading_settings_come_from_the_grade_run_params():
    params = {
        "grade.tier1_above": "9.0",
        "grade.tier3_below": "5.0",
        "grade.experts.alpha": "0.7",
        "grade.normalisation": "minmax",
        "dimension_weights_used.necessity": "0.6",
        "grade.indicator_weights.impact.size": "1.0",
    }
    got = grading_settings(params, {**GRADING, "dimension_weights": {}})
    assert (got["tier1_above"], got["tier3_below"], got["alpha"]) == (9.0, 5.0, 0.7)
    assert got["normalisation"] == "minmax"
    assert got["dimension_weights"] == {"necessity": 0.6, "feasibility": 0.0, "impact": 0.0}
    assert got["indicator_weights"] == {"impact": {"size": 1.0}}


def test_notes_name_one_sided_and_missing_data():
    items = pd.DataFrame(
        [
            _grade("energy:0", "energy", "a", 5.0, "Tier 3", neutral=["family_size"]),
            _grade(
                "energy:1",
                "energy",
                "b",
                6.4,
                "Tier 3",
                neutral=["family_size", "growth"],
                p_tier2=0.4,
                p_tier3=0.6,
                near_threshold=True,
            ),
        ]
    )
    nodes = pd.DataFrame([_node("energy:0", "energy", "a", 50, [1, 0], {"CN": 50})])
    stats = {"patents": 50.0, "citation_evidence": False}
    notes = " | ".join(domain_notes(items, nodes, stats, GRADING, ReportOptions(thin_patents=100)))
    assert "Thin data" in notes
    assert "100% of the patents come from one country (CN)" in notes
    assert "No data for family_size" in notes and "growth: no data for 1 of 2" in notes
    assert "No citations between the domain's patents" in notes
    assert "1 technology within the sensitivity margin" in notes
    assert "1 technology changes tier" in notes


def test_network_layout_is_seeded_and_keeps_components_apart():
    import networkx as nx

    g = nx.Graph()
    g.add_weighted_edges_from([("a", "b", 0.5), ("b", "c", 0.9), ("c", "a", 0.2), ("d", "e", 1.0)])
    g.add_node("f")
    one, two = packed_layout(g, 3), packed_layout(g, 3)
    assert all(np.array_equal(one[v], two[v]) for v in g)
    boxes = []
    for comp in nx.connected_components(g):
        xy = np.array([one[v] for v in comp])
        boxes.append((xy.min(axis=0), xy.max(axis=0)))
    for i, (lo1, hi1) in enumerate(boxes):
        for lo2, hi2 in boxes[i + 1 :]:
            assert (hi1 < lo2).any() or (hi2 < lo1).any()  # separated on some axis


def test_network_and_map_figures():
    grades = [_grade(f"energy:{i}", "energy", f"tech {i}", 4.0 + i, "Tier 3") for i in range(4)]
    inputs = _inputs(grades, ["energy"], options=ReportOptions(label_top=2))
    fig = network(inputs.centrality, inputs.edges, inputs.grades, inputs.options, "t")
    labelled = [t for trace in fig.data[1:] for t in (trace.text or ()) if t]
    assert len(labelled) == 2  # only the label_top highest-PageRank nodes carry a label
    markers = sum(len(trace.x) for trace in fig.data[1:])
    assert markers == 4
    assert cluster_map(inputs.nodes.head(1), inputs.grades, "t") is None
    two = cluster_map(inputs.nodes, inputs.grades, "t")
    xs = np.concatenate([np.asarray(t.x) for t in two.data])
    assert len(xs) == 4 and np.ptp(xs) > 0


@pytest.mark.parametrize("domains", [[], ["energy"]])
def test_nothing_graded_still_renders(domains):
    inputs = _inputs([], domains, nodes=[])
    inputs.grades = pd.DataFrame(columns=list(_grade("x", "energy", "x", 1.0, "Tier 3")))
    page = render(inputs)
    assert "id='tier-table'" in page and "Nothing was graded." in page


def test_notes_give_the_seed_stability_and_name_oversized_nodes_kept_whole():
    items = pd.DataFrame([_grade(f"energy:{i}", "energy", "a", 5.0, "Tier 3") for i in range(2)])
    nodes = pd.DataFrame(
        [
            _node("energy:0", "energy", "a", 30, [1, 0], {"CN": 10}),
            _node("energy:1", "energy", "b", 20, [1, 0], {"US": 10}),
        ]
    )
    nodes["split_note"] = ["no stable split: one blob", None]
    stats = {"patents": 100.0, "stability_ari": 0.62}
    notes = domain_notes(items, nodes, stats, GRADING, ReportOptions(thin_patents=10))
    assert any("ARI 0.62" in n and "boundaries between near nodes move" in n for n in notes)
    kept = [n for n in notes if "kept whole" in n]
    assert kept == [
        "energy:0 holds 30% of the domain's patents, more than the node-size cap, and was kept "
        "whole: no stable split: one blob."
    ]
    stats["stability_ari"] = 0.1
    assert any(
        "depend on the seed" in n
        for n in domain_notes(items, nodes, stats, GRADING, ReportOptions(thin_patents=10))
    )
