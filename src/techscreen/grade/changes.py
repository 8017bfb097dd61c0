"""The tier-change log: what moved between two gradings, item by item, and why.

A screening is re-graded when a batch of patents arrives (``pipelines/update.yaml``) or a
setting changes. :func:`tier_changes` lists every item whose tier changed or whose final
score moved by at least ``grade.changes.min_score_change``, every new item and every item
that disappeared, each with the dimensions and indicators that moved its score most, old →
new (``why``).

An item is paired with its previous self (:func:`pair_items`) by its node id where the
domain kept its clustering model (``techscreen.cluster.update``: the same model numbers the
same nodes), by member overlap where the domain was clustered afresh — node ids of two fits
mean nothing to each other, so each new node takes the previous node whose patents it
shares most, Jaccard ≥ ``grade.changes.min_overlap``, one to one, greedily from the largest
overlap (:func:`match_by_overlap`) — and by name for items experts nominated.

Pure pandas on item-level frames, with the columns of ``grades/``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from techscreen.config import TierChangeSettings
from techscreen.schema import (
    DISSOLVED_ITEM,
    MATCHED_BY_ID,
    MATCHED_BY_NAME,
    MATCHED_BY_OVERLAP,
    NEW_ITEM,
    NODE_ITEM,
    SCORE_CHANGE,
    TIER_CHANGE,
    TIER_CHANGES,
)

COLUMNS = tuple(TIER_CHANGES.fieldNames())
PAIR_COLUMNS = ("previous_item", "item", "matched_by", "jaccard")
OVERLAP_COLUMNS = ("domain", "previous_item", "item", "shared", "previous_size", "size")
_MOVED = 0.005  # a score (0–10) that moved less than this did not move at the shown precision


def match_by_overlap(overlaps: pd.DataFrame, min_overlap: float) -> pd.DataFrame:
    """One-to-one pairs of previous and new nodes by the Jaccard index of their patents.

    Args:
        overlaps: ``domain, previous_item, item, shared, previous_size, size``: patents two
            nodes share, and each node's members.
        min_overlap: the smallest Jaccard index that pairs two nodes.

    Returns:
        ``previous_item, item, matched_by, jaccard``, largest overlap first: each node in
        one pair at most (greedy: ties by the ids, so the result does not depend on row
        order).
    """
    jaccard = overlaps["shared"] / (
        overlaps["previous_size"] + overlaps["size"] - overlaps["shared"]
    )
    ranked = overlaps.assign(jaccard=jaccard).sort_values(
        ["jaccard", "previous_item", "item"], ascending=[False, True, True], kind="mergesort"
    )
    taken_old, taken_new, pairs = set(), set(), []
    for r in ranked[ranked.jaccard >= min_overlap].itertuples():
        if r.previous_item not in taken_old and r.item not in taken_new:
            taken_old.add(r.previous_item)
            taken_new.add(r.item)
            pairs.append((r.previous_item, r.item, MATCHED_BY_OVERLAP, float(r.jaccard)))
    return pd.DataFrame(pairs, columns=list(PAIR_COLUMNS))


def pair_items(
    previous: pd.DataFrame,
    current: pd.DataFrame,
    same_nodes: set[str],
    by_overlap: pd.DataFrame,
) -> pd.DataFrame:
    """Which current item each previous item became.

    Args:
        previous: the previous grading's items (``domain, item, kind``).
        current: this grading's items.
        same_nodes: domains whose node ids mean the same nodes in both gradings.
        by_overlap: pairs of :func:`match_by_overlap` for the other domains.

    Returns:
        ``previous_item, item, matched_by, jaccard`` for every pair found.
    """

    def keys(frame: pd.DataFrame, nodes: bool) -> pd.DataFrame:
        is_node = frame["kind"] == NODE_ITEM
        keep = (is_node & frame["domain"].isin(same_nodes)) if nodes else ~is_node
        return frame.loc[keep, ["item"]]

    pairs = [by_overlap[list(PAIR_COLUMNS)]]
    for how, nodes in ((MATCHED_BY_ID, True), (MATCHED_BY_NAME, False)):
        same = keys(previous, nodes).merge(keys(current, nodes), on="item")
        pairs.append(same.assign(previous_item=same["item"], matched_by=how, jaccard=math.nan))
    return pd.concat([p[list(PAIR_COLUMNS)] for p in pairs if len(p)], ignore_index=True).reindex(
        columns=list(PAIR_COLUMNS)
    )


def _moves(
    before: Mapping, after: Mapping, weights: Mapping[str, float]
) -> list[tuple[str, float, float]]:
    """``(name, old, new)`` of the scores that moved, largest weighted move first."""
    moved = []
    for name, weight in weights.items():
        old, new = before.get(name), after.get(name)
        if _finite(old) and _finite(new) and abs(new - old) >= _MOVED:
            moved.append((abs(new - old) * weight, name, old, new))
    return [(name, old, new) for _, name, old, new in sorted(moved, key=lambda m: (-m[0], m[1]))]


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _arrow(moves: list[tuple[str, float, float]]) -> str:
    return ", ".join(f"{name} {old:.2f}→{new:.2f}" for name, old, new in moves)


def explain(
    old: Mapping,
    new: Mapping,
    dimension_weights: Mapping[str, float],
    indicator_weights: Mapping[str, Mapping[str, float]],
    reasons: int,
) -> tuple[list[str], str]:
    """What moved one item's score: ``(names moved most first, readable text)``.

    Dimensions are ranked by their move times their weight in the patent score, indicators
    by their move times their weight within the dimension times the dimension's weight:
    their effect on the patent score. The text names every dimension that moved and the
    ``reasons`` indicators that moved it most, old → new, then the expert score and the
    node's patents if they changed.
    """
    dims = _moves(old, new, dimension_weights)
    per_indicator = {
        name: dimension_weights.get(dim, 0.0) * w
        for dim, weights in indicator_weights.items()
        for name, w in weights.items()
    }
    indicators = _moves(old.get("scores") or {}, new.get("scores") or {}, per_indicator)[:reasons]
    parts = [f"score {old['final_score']:.2f}→{new['final_score']:.2f}"]
    if old["tier"] != new["tier"]:
        parts[0] += f", {old['tier']}→{new['tier']}"
    if dims:
        parts.append(f"dimensions: {_arrow(dims)}")
    if indicators:
        parts.append(f"indicators: {_arrow(indicators)}")
    expert = _moves(old, new, {"expert_score": 1.0})
    if expert:
        parts.append(f"experts: {_arrow(expert)}")
    if old.get("patents") != new.get("patents"):
        parts.append(f"patents {old.get('patents')}→{new.get('patents')}")
    if not (dims or indicators or expert):
        parts.append("no score moved: the weights, α or the thresholds changed")
    return [m[0] for m in (*dims, *indicators, *expert)], "; ".join(parts)


def tier_changes(
    previous: pd.DataFrame,
    current: pd.DataFrame,
    pairs: pd.DataFrame,
    dimension_weights: Mapping[str, float],
    indicator_weights: Mapping[str, Mapping[str, float]],
    settings: TierChangeSettings,
    previous_run: str,
    reclustered: set[str] = frozenset(),
) -> pd.DataFrame:
    """The changed items, with :data:`~techscreen.schema.TIER_CHANGES` columns.

    Args:
        previous: the previous grading's items (``grades/`` columns; maps as dicts).
        current: this grading's items.
        pairs: :func:`pair_items`.
        dimension_weights: this grading's dimension weights (to rank what moved).
        indicator_weights: this grading's indicator weights per dimension.
        settings: ``grade.changes``.
        previous_run: the previous grade run's id (a column of every row).
        reclustered: domains clustered afresh between the two gradings (said in ``why``).

    Rows: tier changes, then score moves, new and dissolved items; by domain and item.
    """
    old = previous.set_index("item", drop=False)
    new = current.set_index("item", drop=False)
    rows = []
    for p in pairs.itertuples():
        a, b = old.loc[p.previous_item].to_dict(), new.loc[p.item].to_dict()
        delta = b["final_score"] - a["final_score"]
        if a["tier"] == b["tier"] and abs(delta) < settings.min_score_change:
            continue
        moved, why = explain(a, b, dimension_weights, indicator_weights, settings.reasons)
        if p.matched_by == MATCHED_BY_OVERLAP:
            why = (
                f"domain re-clustered, matched {p.previous_item} by member overlap "
                f"(Jaccard {p.jaccard:.2f}); {why}"
            )
        kind = TIER_CHANGE if a["tier"] != b["tier"] else SCORE_CHANGE
        rows.append(_row(b, a, kind, p.matched_by, p.jaccard, moved, why))
    for frame, paired, kind in (
        (new, set(pairs["item"]), NEW_ITEM),
        (old, set(pairs["previous_item"]), DISSOLVED_ITEM),
    ):
        for r in frame[~frame["item"].isin(paired)].to_dict("records"):
            why = _unpaired(r, kind, r.get("domain") in reclustered, settings.min_overlap)
            if kind == NEW_ITEM:
                rows.append(_row(r, None, kind, None, math.nan, [], why))
            else:
                rows.append(_row(None, r, kind, None, math.nan, [], why))
    out = pd.DataFrame(rows, columns=list(COLUMNS[:-1]))
    out["previous_run"] = previous_run
    order = {TIER_CHANGE: 0, SCORE_CHANGE: 1, NEW_ITEM: 2, DISSOLVED_ITEM: 3}
    return out.sort_values(
        ["change", "domain", "item"], key=lambda c: c.map(order) if c.name == "change" else c
    ).reset_index(drop=True)


def _unpaired(item: Mapping, kind: str, reclustered: bool, min_overlap: float) -> str:
    """Why an item has no counterpart in the other grading."""
    other = "new" if kind == DISSOLVED_ITEM else "previous"
    if reclustered:
        return (
            f"domain re-clustered: no {other} node shares patents with it at Jaccard "
            f"{min_overlap:.2f} or more"
        )
    if kind == NEW_ITEM:
        return "not graded in the previous run"
    return "not graded in this run"


def _row(
    now: Mapping | None,
    before: Mapping | None,
    change: str,
    matched_by: str | None,
    jaccard: float,
    moved: list[str],
    why: str,
) -> dict:
    either = now if now is not None else before

    def value(r: Mapping | None, key: str) -> object:
        return None if r is None else r.get(key)

    score, previous = value(now, "final_score"), value(before, "final_score")
    return {
        "domain": either.get("domain"),
        "item": either["item"],
        "previous_item": value(before, "item"),
        "label": either.get("label"),
        "change": change,
        "matched_by": matched_by,
        "jaccard": None if not _finite(jaccard) else float(jaccard),
        "previous_tier": value(before, "tier"),
        "tier": value(now, "tier"),
        "previous_score": previous,
        "score": score,
        "score_change": score - previous if _finite(score) and _finite(previous) else None,
        "previous_patents": value(before, "patents"),
        "patents": value(now, "patents"),
        "moved": moved,
        "why": why,
    }


def change_counts(changes: pd.DataFrame) -> dict[str, int]:
    """How many changes of each kind, all of them, and tier changes up and down.

    Keys: ``listed``, ``tier``, ``score``, ``new``, ``dissolved``, ``up`` (towards Tier 1)
    and ``down``.
    """
    tiers = changes[changes["change"] == TIER_CHANGE]
    up = int((tiers["tier"] < tiers["previous_tier"]).sum())  # "Tier 1" < "Tier 2" < "Tier 3"
    kinds = (TIER_CHANGE, SCORE_CHANGE, NEW_ITEM, DISSOLVED_ITEM)
    return {
        "listed": len(changes),
        **{kind: int((changes["change"] == kind).sum()) for kind in kinds},
        "up": up,
        "down": len(tiers) - up,
    }
