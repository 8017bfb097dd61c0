"""Anchored indicator scales: each raw value against a fixed reference, not its domain's ranks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from techscreen.config import DIMENSIONS, GradeSettings
from techscreen.grade.anchors import ANCHORS, KINDS, anchor_of, anchored, reference_column
from techscreen.grade.scoring import score, to_next_tier

DEFAULT = GradeSettings()


def test_the_default_is_anchored_and_every_default_indicator_has_an_anchor():
    assert DEFAULT.normalisation == "anchored" and DEFAULT.anchor_ratio == 4.0
    weighted = {i for d in DIMENSIONS for i in DEFAULT.indicator_weights[d]}
    assert weighted == set(ANCHORS)
    assert all(a.kind in KINDS and a.reference and a.reason for a in ANCHORS.values())


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("cn_rta", 1.0, 5.0),  # parity: no specialisation
        ("cn_lead", 1.0, 5.0),  # running alongside 并跑
        ("cn_lead", 4.0, 10.0),  # leading 领跑: F = 4 earns the full 10
        ("cn_lead", 9.0, 10.0),  # clipped
        ("cn_lead", 0.25, 0.0),  # following 跟跑
        ("cn_lead", 2.0, 7.5),  # one doubling of two
        ("cn_rta", 0.0, 0.0),  # no Chinese filing in the node
        ("cn_share", 0.37, 3.7),
        ("substitutes", 1.0, 10.0),
        ("centrality", 0.5, 5.0),  # the domain's median node
        ("strategic_weight", 12.0, 10.0),
    ],
)
def test_anchors_without_a_reference(name, raw, expected):
    got = anchored(pd.Series([raw]), ANCHORS[name], ratio=4.0)
    assert got.iloc[0] == pytest.approx(expected)


def test_relative_anchors_compare_with_the_domain_reference():
    citations = ANCHORS["forward_citations"]
    domain_mean = pd.Series([1.5, 1.5, 1.5, 1.5, 0.0, np.nan])
    node_mean = pd.Series([3.0, 1.5, 0.75, 0.0, 0.0, 2.0])
    got = anchored(node_mean, citations, 4.0, domain_mean).tolist()
    # Twice the domain's citation rate: 5 + 5·log 2/log 4 = 7.5; half: 2.5; never cited: 0.
    assert got[:4] == pytest.approx([7.5, 5.0, 2.5, 0.0])
    # No citations anywhere in the domain, or no reference at all: no ratio, missing.
    assert math.isnan(got[4]) and math.isnan(got[5])
    # Growth is already a log ratio: a node one doubling ahead of its domain's growth.
    growth = anchored(
        pd.Series([math.log(6.0)]), ANCHORS["growth"], 4.0, pd.Series([math.log(3.0)])
    )
    assert growth.iloc[0] == pytest.approx(7.5)
    with pytest.raises(ValueError, match="reference"):
        anchored(node_mean, citations, 4.0)


def test_the_full_ratio_is_a_setting():
    # F = 2: one doubling earns the full 10.
    assert anchored(pd.Series([2.0]), ANCHORS["cn_lead"], ratio=2.0).iloc[0] == 10.0
    assert anchor_of("cn_lead").kind == "ratio"
    with pytest.raises(ValueError, match="no anchor"):
        anchor_of("hype")


# --- score() with anchors ----------------------------------------------------------------

ANCHORED = GradeSettings(
    indicator_weights={
        "necessity": {"strategic_weight": 1.0},
        "feasibility": {"cn_lead": 1.0, "cn_rta": 1.0},
        "impact": {"forward_citations": 1.0},
    },
    dimension_weights={"necessity": 1.0, "feasibility": 1.0, "impact": 1.0},
)


def anchored_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "domain": ["A", "A", "B"],
            "item": ["a1", "a2", "b1"],
            "strategic_weight": [8.0, 8.0, 5.0],
            "cn_lead": [4.0, 0.25, np.nan],
            "cn_rta": [1.0, 2.0, 1.0],
            "forward_citations": [3.0, 1.5, 2.0],
            "ref_forward_citations": [1.5, 1.5, np.nan],
        }
    )


def test_score_anchored_hand_computed_and_missing_is_neutral_and_flagged():
    out = score(anchored_table(), ANCHORED)
    assert out["score.cn_lead"].tolist() == pytest.approx([10.0, 0.0, 5.0])
    assert out["score.cn_rta"].tolist() == pytest.approx([5.0, 7.5, 5.0])
    assert out["score.forward_citations"].tolist() == pytest.approx([7.5, 5.0, 5.0])
    # b1: no lead (missing value) and no domain reference for its citations: both neutral.
    assert out["neutral"].tolist() == [[], [], ["cn_lead", "forward_citations"]]
    assert out["feasibility"].tolist() == pytest.approx([7.5, 3.75, 5.0])
    assert out["patent_score"].tolist() == pytest.approx(
        [(8 + 7.5 + 7.5) / 3, (8 + 3.75 + 5) / 3, 5.0]
    )
    # A lone node of domain B is not pushed to 5 by ranking: its anchors decide.
    assert out.loc[2, "score.cn_rta"] == 5.0


def test_anchored_scores_do_not_depend_on_the_other_nodes_but_rank_does():
    table = anchored_table()
    alone = score(table.iloc[[0]], ANCHORED)
    together = score(table, ANCHORED)
    assert alone["patent_score"].iloc[0] == pytest.approx(together["patent_score"].iloc[0])
    ranked = score(table, ANCHORED.model_copy(update={"normalisation": "rank"}))
    # rank: percentiles within domain A (a1 best lead, a2 best rta); lone b1 → 5.
    assert ranked["score.cn_lead"].tolist() == pytest.approx([10.0, 0.0, 5.0])
    assert ranked["score.cn_rta"].tolist() == pytest.approx([0.0, 10.0, 5.0])
    assert ranked["score.forward_citations"].tolist() == pytest.approx([10.0, 0.0, 5.0])


def test_score_anchored_needs_the_reference_column_and_per_indicator_ratios():
    with pytest.raises(ValueError, match="ref_forward_citations"):
        score(anchored_table().drop(columns=reference_column("forward_citations")), ANCHORED)
    wider = ANCHORED.model_copy(update={"anchor_ratios": {"cn_lead": 16.0}})
    # F = 16 for the lead: 4 is half-way up, 7.5.
    assert score(anchored_table(), wider)["score.cn_lead"].iloc[0] == pytest.approx(7.5)
    with pytest.raises(ValueError, match="without an anchor: \\['cn_led'\\]"):
        score(anchored_table(), ANCHORED.model_copy(update={"anchor_ratios": {"cn_led": 2.0}}))
    with pytest.raises(ValueError, match="must be finite and > 1"):
        score(anchored_table(), ANCHORED.model_copy(update={"anchor_ratios": {"cn_lead": 1.0}}))


# --- to_next_tier ----------------------------------------------------------------------------

THRESHOLDS = GradeSettings(
    dimension_weights={"necessity": 0.5, "feasibility": 0.25, "impact": 0.25},
)


def dims(rows):
    return pd.DataFrame(rows, columns=list(DIMENSIONS))


def test_to_next_tier_smallest_move_of_one_dimension():
    table = dims(
        [
            (6.0, 6.0, 6.0),  # 6.0, Tier 3: +0.5 final; necessity (w .5) needs +1.0
            (8.0, 8.0, 8.0),  # 8.0, Tier 2: +0.5 to 8.5 (just beyond for Tier 1) vs −1.5
            (9.0, 9.0, 9.0),  # 9.0, Tier 1: −0.5 → Tier 2 by necessity −1.0
            (9.9, 6.0, 2.0),  # 6.95, Tier 2: down 0.45 → necessity −0.9
            (1.0, 1.0, 1.0),  # 1.0: +5.5 final needs +11 on necessity, +22 on others
        ]
    )
    got = to_next_tier(table, None, THRESHOLDS)
    assert got["next_tier"].tolist() == ["Tier 2", "Tier 1", "Tier 2", "Tier 3", None]
    assert got["next_tier_change"].tolist()[:4] == pytest.approx([1.0, 1.0, -1.0, -0.9])
    assert math.isnan(got["next_tier_change"].iloc[4])
    assert got["next_tier_dimensions"].tolist() == [
        ["necessity"],
        ["necessity"],
        ["necessity"],
        ["necessity"],
        [],
    ]


def test_to_next_tier_respects_the_0_10_range_names_ties_and_weighs_experts():
    equal = GradeSettings()  # equal dimension weights: any dimension with room will do
    table = dims([(10.0, 6.0, 3.0), (7.0, 7.0, 7.0)])
    got = to_next_tier(table, None, equal)
    # 6.333 → 6.5: +0.5 on one dimension, but necessity is already 10.
    assert got["next_tier"].iloc[0] == "Tier 2"
    assert got["next_tier_change"].iloc[0] == pytest.approx(0.5)
    assert got["next_tier_dimensions"].iloc[0] == ["feasibility", "impact"]
    # 7.0: 0.5 to 6.5 is nearer than 1.5 to 8.5 → Tier 3, any of the three by −1.5.
    assert got["next_tier"].iloc[1] == "Tier 3"
    assert got["next_tier_change"].iloc[1] == pytest.approx(-1.5)
    assert got["next_tier_dimensions"].iloc[1] == list(DIMENSIONS)
    # An expert's 9.4 with α = .5: final = 8.2, each dimension moves it at half its weight,
    # so +0.3 takes +1.8 on one dimension (the patent score alone would need +0.9).
    expert = to_next_tier(table.iloc[[1]], np.array([9.4]), equal)
    assert expert["next_tier"].iloc[0] == "Tier 1"
    assert expert["next_tier_change"].iloc[0] == pytest.approx(0.3 / (0.5 / 3))
