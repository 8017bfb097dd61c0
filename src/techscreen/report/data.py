"""What the report is built from, and the flat table of the graded list it exports."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from techscreen.cluster.labels import keywords_in, label_text
from techscreen.config import DIMENSIONS
from techscreen.schema import GRADES

NO_DOMAIN = "(no domain)"
"""The group of expert-only items whose nomination named no domain."""

LINEAGE_STAGES = ("ingest", "embed", "cluster", "graph", "grade")

GRADE_COLUMNS = tuple(GRADES.fieldNames())
"""The columns of ``grades/`` the report uses (see :data:`techscreen.schema.GRADES`)."""


@dataclass(frozen=True)
class ReportOptions:
    """How much the report shows; the stage fills it from the settings.

    Attributes:
        top_nodes: largest nodes of a domain drawn one by one in filing trends and countries.
        breakdown_items: highest-scored items of a domain in the score breakdown.
        thin_patents: a domain with fewer patents than this is flagged as thin data.
        label_top: nodes with the highest PageRank labelled in a network picture.
        max_vertices: vertices drawn at most in a network picture (highest PageRank kept).
        seed: seed of the spring layout of the network pictures.
        language: ``en`` or ``zh``: the language of node labels, class titles and the
            label/title column headings (:func:`localise`); the rest of the page is English.
        label_terms: keywords in a node's label.
    """

    top_nodes: int = 12
    breakdown_items: int = 40
    thin_patents: int = 500
    label_top: int = 10
    max_vertices: int = 1500
    seed: int = 0
    language: str = "en"
    label_terms: int = 3


@dataclass(frozen=True)
class ChangeLog:
    """A grade run's comparison with the previous one.

    Attributes:
        previous_run: the grade run compared with.
        rows: its ``tier_changes/`` rows (none: nothing changed).
    """

    previous_run: str
    rows: pd.DataFrame


@dataclass
class ReportInputs:
    """Node-level frames and run facts that the report page is rendered from.

    Attributes:
        grades: one row per graded item, columns as in ``grades/`` (maps as dicts or pairs).
        domains: the domains the grading covered, in report order (empty ones included).
        lineage: stage → MLflow run id (``ingest``, ``embed``, ``cluster``, ``graph``,
            ``grade``).
        grading: the settings the grade run used (:func:`grading_settings`).
        nodes: one row per technology node: ``domain, node_id, size, label, filing_years,
            countries, languages, centroid`` and, from ``nodes/``, ``keywords``,
            ``keywords_zh`` and ``codes`` (what :func:`localise` composes labels from).
        centrality: the technology network's vertices: ``domain, vertex, label, patents,
            pagerank, betweenness, degree, community``.
        edges: the technology network's edges: ``domain, source, target, weight``.
        codes: the most central IPC/CPC codes of each domain's code network: ``domain,
            vertex, label, patents, pagerank``.
        domain_stats: per domain, numbers from the cluster and graph runs (``patents``,
            ``n_nodes``, ``noise_fraction``, ``min_cluster_size``, ``citation_weight``,
            ``languages``: patents per language of the text they were embedded from;
            ``update``: what an updated clustering did with the new patents).
        agreement: expert concordance per round and dimension (``round, dimension, experts,
            items, w, p_value``); ``None`` when no expert scores were given.
        changes: the grade run's comparison with the previous grading (``tier_changes/``);
            ``None`` when it had none to compare with.
        placement: the clustering's placement of patents whose codes match no domain, as
            its MLflow ``placement.*`` metrics (``enabled``, ``unassigned``, ``placed``,
            ``left.<reason>``, ``accuracy`` …, ``space`` → per vector space figures); empty
            for runs from before placement. Per domain figures are in ``domain_stats``
            (``placement``: ``placed``, ``precision``, ``recall``).
        options: what to show (:class:`ReportOptions`).
        title: the page title.
    """

    grades: pd.DataFrame
    domains: list[str]
    lineage: dict[str, str]
    grading: dict[str, Any]
    nodes: pd.DataFrame = field(default_factory=pd.DataFrame)
    centrality: pd.DataFrame = field(default_factory=pd.DataFrame)
    edges: pd.DataFrame = field(default_factory=pd.DataFrame)
    codes: pd.DataFrame = field(default_factory=pd.DataFrame)
    domain_stats: dict[str, dict[str, float]] = field(default_factory=dict)
    agreement: pd.DataFrame | None = None
    changes: ChangeLog | None = None
    placement: dict[str, Any] = field(default_factory=dict)
    options: ReportOptions = ReportOptions()
    title: str = "Technology screening report"

    def __post_init__(self) -> None:
        # An empty frame may come without columns (nothing of that kind in the run): give it
        # the columns the page reads, so every part can treat "no rows" the same way.
        for name, columns in _COLUMNS.items():
            frame = getattr(self, name)
            missing = [c for c in columns if c not in frame.columns]
            if missing and frame.empty:
                setattr(self, name, frame.reindex(columns=[*frame.columns, *missing]))


NODE_COLUMNS = (
    "domain",
    "node_id",
    "size",
    "label",
    "filing_years",
    "countries",
    "languages",
    "centroid",
    "space",
    "keywords",
    "keywords_zh",
    "codes",
    "split_note",
    "text_placed",
)
"""The columns of ``nodes/`` the report uses."""

_COLUMNS = {
    "grades": GRADE_COLUMNS,
    "nodes": NODE_COLUMNS,
    "centrality": ("domain", "vertex", "label", "patents", "pagerank", "betweenness", "degree"),
    "edges": ("domain", "source", "target", "weight"),
    "codes": ("domain", "vertex", "label", "patents", "degree", "strength", "pagerank"),
}


def as_dict(value: Any) -> dict:
    """A map column's value as a dict: Spark gives dicts, Parquet via pyarrow gives pairs."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    return {k: v for k, v in value}


def as_list(value: Any) -> list:
    """An array column's value as a list (``None`` → empty)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    return list(value)


def node_labels(nodes: pd.DataFrame, language: str, n_terms: int) -> dict[str, str]:
    """node_id → the node's label in ``language``: its keywords in it and top code's title.

    Composed by :func:`techscreen.cluster.labels.label_text` (``with_title``) from the
    ``keywords`` (English) or ``keywords_zh`` (Chinese) and ``codes`` columns, so one
    clustering serves a report in either language and every label is in one language: a
    node without keywords in ``language`` is named by its top code's title alone. A table
    without ``keywords_zh`` (older runs: both languages in ``keywords``) gives each label
    the terms of ``keywords`` written in ``language``. Empty when ``nodes`` lacks those
    columns (hand-made frames).
    """
    if nodes.empty or not {"node_id", "keywords", "codes"} <= set(nodes.columns):
        return {}
    chinese = nodes["keywords_zh"] if "keywords_zh" in nodes else [None] * len(nodes)
    return {
        node: label_text(
            keywords_in(language, kw, zh), as_list(codes), n_terms, lang=language, with_title=True
        )
        for node, kw, zh, codes in zip(
            nodes["node_id"], nodes["keywords"], chinese, nodes["codes"], strict=True
        )
    }


def localise(inputs: ReportInputs, code_titles: Mapping[str, str] | None = None) -> ReportInputs:
    """``inputs`` with node labels, and code titles, in the report's language.

    Node labels (:func:`node_labels`, ``options.language``) replace the stored ones wherever
    a node is shown: the nodes, the graded node items (``kind == "node"``, ``item`` = node
    id) and the technology network's vertices. ``code_titles`` (code → title) replaces the
    labels of the code network's vertices it names. Nothing else changes; a node without
    keywords and codes keeps its label.
    """
    o = inputs.options
    labels = node_labels(inputs.nodes, o.language, o.label_terms)
    changes: dict[str, pd.DataFrame] = {}
    if labels:
        changes["nodes"] = _relabel(inputs.nodes, "node_id", labels)
        changes["centrality"] = _relabel(inputs.centrality, "vertex", labels)
        grades = inputs.grades
        if len(grades) and {"kind", "item", "label"} <= set(grades.columns):
            is_node = grades["kind"] == "node"
            new = grades["item"].map(labels).where(is_node)
            changes["grades"] = grades.assign(label=new.fillna(grades["label"]))
    if code_titles:
        changes["codes"] = _relabel(inputs.codes, "vertex", code_titles)
    return dataclasses.replace(inputs, **changes) if changes else inputs


def _relabel(frame: pd.DataFrame, key: str, labels: Mapping[str, str]) -> pd.DataFrame:
    if frame.empty or key not in frame.columns or "label" not in frame.columns:
        return frame
    return frame.assign(label=frame[key].map(labels).fillna(frame["label"]))


def matches_text(matches: Any) -> str:
    """An item's matches as one line: ``list entry_id entry (score); …`` (exports, tables)."""
    parts = []
    for m in as_list(matches):
        name, entry_id, entry = (match_field(m, k) for k in ("list", "entry_id", "entry"))
        parts.append(f"{name} {entry_id} {entry} ({match_field(m, 'score'):.2f})")
    return "; ".join(parts)


def match_field(match: Any, name: str) -> Any:
    """A field of a control-list match (a dict, or a pyspark Row)."""
    return match.get(name) if isinstance(match, dict) else getattr(match, name)


def finite(value: Any) -> bool:
    """Whether ``value`` is a real, finite number."""
    return isinstance(value, int | float | np.integer | np.floating) and math.isfinite(value)


def domain_of(value: Any) -> str:
    """The report group of a grade row's domain (expert-only items may have none)."""
    return value if isinstance(value, str) and value else NO_DOMAIN


def grading_settings(params: Mapping[str, str], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The grading settings that matter to a reader, from the grade run's logged params.

    Args:
        params: the grade run's MLflow params (flattened, e.g. ``grade.tier1_above``).
        defaults: the same keys' values to use where the run logged none (the settings).

    Returns:
        ``tier1_above``, ``tier3_below``, ``alpha``, ``normalisation``, ``experts_file``,
        ``dimension_weights`` (dimension → weight actually used), ``indicator_weights``
        (dimension → indicator → weight) and ``control_lists`` (its two thresholds).
    """

    def number(key: str, fallback: Any) -> float:
        try:
            return float(params[key])
        except (KeyError, ValueError):
            return float(fallback)

    dims = {
        d: number(f"dimension_weights_used.{d}", defaults["dimension_weights"].get(d, 0.0))
        for d in DIMENSIONS
    }
    indicators: dict[str, dict[str, float]] = {}
    prefix = "grade.indicator_weights."
    for key in sorted(params):
        if key.startswith(prefix) and key.count(".") == 3:
            dim, name = key[len(prefix) :].split(".")
            indicators.setdefault(dim, {})[name] = number(key, 0.0)
    if not indicators:
        indicators = {d: dict(w) for d, w in defaults["indicator_weights"].items()}
    ordered = {d: indicators[d] for d in DIMENSIONS if d in indicators}
    return {
        "tier1_above": number("grade.tier1_above", defaults["tier1_above"]),
        "tier3_below": number("grade.tier3_below", defaults["tier3_below"]),
        "alpha": number("grade.experts.alpha", defaults["alpha"]),
        "normalisation": params.get("grade.normalisation", defaults["normalisation"]),
        "experts_file": params.get("grade.experts.scores", defaults["experts_file"]),
        "dimension_weights": dims,
        "indicator_weights": ordered,
        "control_lists": {
            k: number(f"grade.control_lists.{k}", defaults.get(f"control_{k}", float("nan")))
            for k in ("controlled", "adjacent")
        },
    }


def export_frame(grades: pd.DataFrame, grade_run: str) -> pd.DataFrame:
    """The graded list as a flat table: one row per item, maps spread into columns.

    Columns: ``grade_run``, the item's identity and scores, ``score.<indicator>`` (0–10),
    ``indicator.<indicator>`` (raw value, and the domain references ``ref_<indicator>``),
    ``next_tier*`` (the smallest move to another tier), ``control_*`` (control lists; the
    matches as ``list entry_id entry (score); …``), ``text_placed_share`` (the node's
    patents placed in the domain by text), ``neutral`` and ``top_patents``
    (lists) and ``lineage.<stage>`` (run ids). Rows are sorted by domain, then final score,
    highest first.
    """
    base = [
        "domain",
        "item",
        "kind",
        "label",
        "node_ids",
        "patents",
        "final_score",
        "tier",
        "p_tier1",
        "p_tier2",
        "p_tier3",
        "score_p05",
        "score_p95",
        "near_threshold",
        "next_tier",
        "next_tier_dimensions",
        "next_tier_change",
        "control_status",
        "control_score",
        "control_matches",
        "text_placed_share",
        "patent_score",
        "expert_score",
        "experts",
        *DIMENSIONS,
    ]
    grades = grades.reset_index(drop=True)
    out = grades.reindex(columns=base)
    out.insert(0, "grade_run", grade_run)
    out["node_ids"] = grades["node_ids"].map(as_list)
    for source, prefix in (("scores", "score."), ("indicators", "indicator.")):
        maps = list(grades[source].map(as_dict))
        for name in sorted({k for m in maps for k in m}):
            out[prefix + name] = [m.get(name, np.nan) for m in maps]
    for column in ("neutral", "top_patents"):
        out[column] = grades[column].map(as_list)
    out["next_tier_dimensions"] = out["next_tier_dimensions"].map(as_list)  # older runs: none
    out["control_matches"] = out["control_matches"].map(matches_text)  # older runs: none
    lineage = list(grades["lineage"].map(as_dict))
    for stage in LINEAGE_STAGES[:-1]:
        out[f"lineage.{stage}"] = [m.get(stage, "") for m in lineage]
    order = out.assign(_d=out["domain"].fillna("~")).sort_values(
        ["_d", "final_score", "item"], ascending=[True, False, True], kind="mergesort"
    )
    return order.drop(columns="_d").reset_index(drop=True)
