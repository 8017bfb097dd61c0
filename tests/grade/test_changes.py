"""The tier-change log on hand-made gradings: pairing, what is listed, and the reasons."""

from __future__ import annotations

import pandas as pd
import pytest

from techscreen.config import TierChangeSettings
from techscreen.grade.changes import change_counts, match_by_overlap, pair_items, tier_changes

DIMS = {"necessity": 1 / 3, "feasibility": 1 / 3, "impact": 1 / 3}
INDICATORS = {
    "necessity": {"centrality": 0.5, "growth": 0.5},
    "feasibility": {"cn_share": 1.0},
    "impact": {"size": 1.0},
}


def _item(item, final, tier, domain="energy", kind="node", patents=10, **scores):
    dims = {"necessity": 5.0, "feasibility": 5.0, "impact": 5.0}
    dims.update({k: v for k, v in scores.items() if k in dims})
    indicator = {"centrality": 5.0, "growth": 5.0, "cn_share": 5.0, "size": 5.0}
    indicator.update({k: v for k, v in scores.items() if k in indicator})
    return {
        "domain": domain,
        "item": item,
        "kind": kind,
        "label": f"label of {item}",
        "patents": patents,
        "scores": indicator,
        **dims,
        "expert_score": None,
        "final_score": final,
        "tier": tier,
    }


def test_overlap_pairs_are_one_to_one_from_the_largest_and_above_the_floor():
    overlaps = pd.DataFrame(
        [
            ("m", "m:0", "m:1", 8, 10, 10),  # Jaccard 8/12
            ("m", "m:0", "m:0", 9, 10, 10),  # 9/11: taken first
            ("m", "m:1", "m:1", 5, 10, 10),  # 5/15: m:1 still free, above 0.3
            ("m", "m:2", "m:2", 1, 10, 10),  # 1/19: below the floor
        ],
        columns=["domain", "previous_item", "item", "shared", "previous_size", "size"],
    )
    pairs = match_by_overlap(overlaps, 0.3)
    assert list(zip(pairs.previous_item, pairs.item, strict=True)) == [
        ("m:0", "m:0"),
        ("m:1", "m:1"),
    ]
    assert pairs.jaccard.tolist() == pytest.approx([9 / 11, 5 / 15])
    shuffled = match_by_overlap(overlaps.iloc[::-1], 0.3)
    pd.testing.assert_frame_equal(pairs, shuffled)  # row order does not matter


def test_every_change_is_listed_with_what_moved_it():
    previous = pd.DataFrame(
        [
            _item("energy:0", 6.40, "Tier 3", feasibility=6.0, cn_share=6.0),
            _item("energy:1", 5.00, "Tier 3"),
            _item("energy:2", 5.00, "Tier 3"),
            _item("energy:3", 4.00, "Tier 3"),  # gone
            _item("medicine:0", 5.00, "Tier 3", domain="medicine", size=4.0),
        ]
    )
    current = pd.DataFrame(
        [
            _item("energy:0", 6.70, "Tier 2", feasibility=6.9, cn_share=6.9, patents=14),
            _item("energy:1", 5.004, "Tier 3"),  # below min_score_change: not listed
            _item("energy:2", 4.50, "Tier 3", necessity=3.5, growth=2.0),
            _item("energy:4", 3.00, "Tier 3"),  # new
            _item("medicine:7", 5.50, "Tier 3", domain="medicine", size=5.5),
        ]
    )
    overlap = pd.DataFrame(
        [("medicine:0", "medicine:7", "overlap", 0.8)],
        columns=["previous_item", "item", "matched_by", "jaccard"],
    )
    pairs = pair_items(previous, current, {"energy"}, overlap)
    changes = tier_changes(
        previous,
        current,
        pairs,
        DIMS,
        INDICATORS,
        TierChangeSettings(),
        "grade-run-1",
        {"medicine"},
    )
    listed = dict(zip(changes["item"], changes["change"], strict=True))
    assert listed == {
        "energy:0": "tier",
        "energy:2": "score",
        "medicine:7": "score",
        "energy:4": "new",
        "energy:3": "dissolved",
    }
    assert list(changes["change"]) == ["tier", "score", "score", "new", "dissolved"]
    up = changes.set_index("item").loc["energy:0"]
    assert (up.previous_tier, up.tier, up.patents, up.previous_patents) == (
        "Tier 3",
        "Tier 2",
        14,
        10,
    )
    assert up.score_change == pytest.approx(0.30)
    assert list(up.moved) == ["feasibility", "cn_share"]
    assert "Tier 3→Tier 2" in up.why and "feasibility 6.00→6.90" in up.why
    assert "cn_share 6.00→6.90" in up.why and "patents 10→14" in up.why
    down = changes.set_index("item").loc["energy:2"]
    assert list(down.moved) == ["necessity", "growth"] and "growth 5.00→2.00" in down.why
    matched = changes.set_index("item").loc["medicine:7"]
    assert matched.previous_item == "medicine:0" and matched.matched_by == "overlap"
    assert "re-clustered" in matched.why and "Jaccard 0.80" in matched.why
    assert set(changes["previous_run"]) == {"grade-run-1"}
    assert change_counts(changes) == {
        "listed": 5,
        "tier": 1,
        "score": 2,
        "new": 1,
        "dissolved": 1,
        "up": 1,
        "down": 0,
    }


def test_nothing_changed_lists_nothing():
    same = pd.DataFrame(
        [_item("energy:0", 5.0, "Tier 3"), _item("x", 7.0, "Tier 2", kind="expert_only")]
    )
    pairs = pair_items(
        same,
        same,
        {"energy"},
        match_by_overlap(
            pd.DataFrame(
                columns=["domain", "previous_item", "item", "shared", "previous_size", "size"]
            ),
            0.3,
        ),
    )
    assert set(pairs.matched_by) == {"id", "name"}
    changes = tier_changes(same, same, pairs, DIMS, INDICATORS, TierChangeSettings(), "r")
    assert changes.empty and change_counts(changes)["listed"] == 0
