import math

import numpy as np
import pandas as pd
import pytest

from techscreen.config import GradeSettings, SensitivitySettings
from techscreen.grade.scoring import (
    ahp_weights,
    dimension_weights,
    fuse,
    indicator_weights_of,
    normalise,
    score,
    sensitivity,
    tier,
)

# --- tiers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (8.5, "Tier 2"),
        (8.5001, "Tier 1"),
        (6.5, "Tier 2"),
        (6.4999, "Tier 3"),
        (10.0, "Tier 1"),
        (0.0, "Tier 3"),
        (7.3, "Tier 2"),
    ],
)
def test_tier_boundaries_are_exact(value, expected):
    assert tier(value, GradeSettings()) == expected


def test_tier_custom_thresholds_and_vectorised():
    settings = GradeSettings(tier1_above=7.0, tier3_below=3.0)
    got = tier(np.array([7.0, 7.0001, 3.0, 2.9999, 8.5, 6.4999]), settings)
    assert isinstance(got, np.ndarray)
    assert got.tolist() == ["Tier 2", "Tier 1", "Tier 2", "Tier 3", "Tier 1", "Tier 2"]
    assert isinstance(tier(np.float64(9.0), settings), str)


def test_tier_rejects_crossed_thresholds_and_nan():
    with pytest.raises(ValueError, match="tier1_above"):
        tier(5.0, GradeSettings(tier1_above=6.0, tier3_below=6.0))
    with pytest.raises(ValueError, match="NaN"):
        tier(np.array([5.0, np.nan]), GradeSettings())


# --- AHP -------------------------------------------------------------------------------------

# A textbook 3×3 example (criteria A ≻ B ≻ C with 3, 5, 3), widely quoted with weights
# 0.637, 0.258, 0.105 and CR 0.033. Checked by hand with two exact facts for n = 3: the
# principal eigenvector is the normalised row geometric means, and
# λ_max = 1 + t^(1/3) + t^(−1/3) with t = a13 / (a12·a23) = 5/9, so λ_max = 3.0385,
# CI = 0.01926, CR = CI / 0.58 = 0.0332.
CLASSIC = [[1, 3, 5], [1 / 3, 1, 3], [1 / 5, 1 / 3, 1]]


def test_ahp_textbook_example():
    w, cr = ahp_weights(CLASSIC)
    assert w == pytest.approx([0.637, 0.258, 0.105], abs=5e-4)
    assert cr == pytest.approx(0.033, abs=5e-4)
    geo = np.array([15 ** (1 / 3), 1.0, (1 / 15) ** (1 / 3)])
    assert w == pytest.approx(geo / geo.sum(), rel=1e-9)
    t = 5 / 9
    lam = 1 + t ** (1 / 3) + t ** (-1 / 3)
    assert cr == pytest.approx((lam - 3) / 2 / 0.58, rel=1e-9)


@pytest.mark.parametrize("truth", [[0.5, 0.3, 0.2], [0.1, 0.2, 0.3, 0.4]])
def test_ahp_consistent_matrix_gives_exact_weights(truth):
    truth = np.array(truth)
    matrix = truth[:, None] / truth[None, :]
    w, cr = ahp_weights(matrix)
    assert w == pytest.approx(truth, abs=1e-12)
    assert cr == pytest.approx(0.0, abs=1e-9)


def test_ahp_two_by_two_has_zero_cr():
    w, cr = ahp_weights([[1, 3], [1 / 3, 1]])
    assert w == pytest.approx([0.75, 0.25], abs=1e-12)
    assert cr == 0.0


def test_ahp_inconsistent_matrix_names_cr():
    # A cycle (1 ≻ 2 ≻ 3 ≻ 1, each 3): t = (1/3)/9 = 1/27, λ_max = 1 + 1/3 + 3 = 4.3333,
    # CI = 0.6667, CR = 0.6667 / 0.58 = 1.149.
    cyclic = [[1, 3, 1 / 3], [1 / 3, 1, 3], [3, 1 / 3, 1]]
    with pytest.raises(ValueError, match=r"CR = 1\.149"):
        ahp_weights(cyclic)


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        ([[1, 2, 3], [0.5, 1, 4], [1 / 3, 0.5, 1]], "reciprocal"),
        ([[1, 3, 5], [0.333, 1, 3], [0.2, 1 / 3, 1]], "reciprocal"),
        ([[2, 1], [1, 1]], "diagonal"),
        ([[1, -1], [-1, 1]], "positive"),
        ([[1, 2, 3], [0.5, 1, 2]], "square"),
    ],
)
def test_ahp_rejects_malformed_matrices(matrix, message):
    with pytest.raises(ValueError, match=message):
        ahp_weights(matrix)


# --- weights from settings -------------------------------------------------------------------


def test_dimension_weights_normalised_and_from_ahp():
    settings = GradeSettings(dimension_weights={"necessity": 2, "feasibility": 1, "impact": 1})
    assert dimension_weights(settings) == pytest.approx(
        {"necessity": 0.5, "feasibility": 0.25, "impact": 0.25}
    )
    with_ahp = GradeSettings(ahp=CLASSIC)
    assert list(dimension_weights(with_ahp).values()) == pytest.approx(
        [0.637, 0.258, 0.105], abs=5e-4
    )
    with pytest.raises(ValueError, match="CR"):
        dimension_weights(GradeSettings(ahp=[[1, 3, 1 / 3], [1 / 3, 1, 3], [3, 1 / 3, 1]]))
    with pytest.raises(ValueError, match="3×3"):
        dimension_weights(GradeSettings(ahp=[[1, 2], [0.5, 1]]))


def test_dimension_weights_reject_unknown_missing_and_zero():
    with pytest.raises(ValueError, match=r"unknown.*cost"):
        dimension_weights(
            GradeSettings(
                dimension_weights={"necessity": 1, "feasibility": 1, "impact": 1, "cost": 1}
            )
        )
    with pytest.raises(ValueError, match=r"missing.*impact"):
        dimension_weights(GradeSettings(dimension_weights={"necessity": 1, "feasibility": 1}))
    with pytest.raises(ValueError, match="all zero"):
        dimension_weights(
            GradeSettings(dimension_weights={"necessity": 0, "feasibility": 0, "impact": 0})
        )


def test_indicator_weights_of():
    assert indicator_weights_of(GradeSettings(), "necessity") == pytest.approx(
        {"centrality": 0.5, "growth": 0.3, "strategic_weight": 0.2}
    )
    settings = GradeSettings(
        indicator_weights={
            "necessity": {"a": 3, "b": 1},
            "feasibility": {"c": 1},
            "impact": {"d": 1},
        }
    )
    assert indicator_weights_of(settings, "necessity") == pytest.approx({"a": 0.75, "b": 0.25})
    bad = GradeSettings(
        indicator_weights={
            "necessity": {"a": -1, "b": 2},
            "feasibility": {"c": 1},
            "impact": {"d": 1},
        }
    )
    with pytest.raises(ValueError, match="≥ 0"):
        indicator_weights_of(bad, "necessity")
    zero = GradeSettings(
        indicator_weights={"necessity": {"a": 0}, "feasibility": {"c": 1}, "impact": {"d": 1}}
    )
    with pytest.raises(ValueError, match="all zero"):
        indicator_weights_of(zero, "necessity")


# --- normalisation ---------------------------------------------------------------------------


def test_normalise_rank_average_ties_and_nan():
    got = normalise(pd.Series([3.0, 1.0, 2.0, 2.0]), "rank")
    assert got.tolist() == pytest.approx([10.0, 0.0, 5.0, 5.0])
    got = normalise(pd.Series([3.0, np.nan, 1.0, 2.0], index=[7, 8, 9, 10]), "rank")
    assert got.index.tolist() == [7, 8, 9, 10]
    assert got[7] == pytest.approx(10.0) and got[9] == 0.0 and got[10] == pytest.approx(5.0)
    assert math.isnan(got[8])
    assert normalise(pd.Series([42.0]), "rank").tolist() == [5.0]


def test_normalise_minmax():
    assert normalise(pd.Series([2.0, 4.0, 7.0]), "minmax").tolist() == pytest.approx([0, 4, 10])
    assert normalise(pd.Series([3.0, 3.0]), "minmax").tolist() == [5.0, 5.0]
    got = normalise(pd.Series([1.0, np.nan, 3.0, np.inf]), "minmax")
    assert got[[0, 2, 3]].tolist() == pytest.approx([0.0, 10.0, 10.0])
    assert math.isnan(got[1])


def test_normalise_zscore_with_clipping():
    # μ = 2, σ = √(2/3): z = ∓√1.5, score = 5 ∓ (10/6)·√1.5.
    got = normalise(pd.Series([1.0, 2.0, 3.0]), "zscore")
    half = 10 / 6 * math.sqrt(1.5)
    assert got.tolist() == pytest.approx([5 - half, 5.0, 5 + half], rel=1e-12)
    # fifteen 0s and one 10: the outlier's z = √15 > 3 is clipped to 3 → 10; the others
    # have z = −1/√15.
    got = normalise(pd.Series([0.0] * 15 + [10.0]), "zscore")
    assert got.iloc[-1] == pytest.approx(10.0)
    assert got.iloc[0] == pytest.approx((3 - 1 / math.sqrt(15)) / 6 * 10, rel=1e-12)
    assert normalise(pd.Series([4.0, 4.0, np.nan]), "zscore").tolist()[:2] == [5.0, 5.0]


def test_normalise_rejects_unknown_method():
    with pytest.raises(ValueError, match="unknown normalisation"):
        normalise(pd.Series([1.0]), "softmax")


# --- score -----------------------------------------------------------------------------------

SMALL = GradeSettings(
    normalisation="rank",
    indicator_weights={
        "necessity": {"centrality": 0.5, "strategic_weight": 0.5},
        "feasibility": {"cn_share": 1.0},
        "impact": {"size": 3.0, "forward_citations": 1.0},
    },
    dimension_weights={"necessity": 2.0, "feasibility": 1.0, "impact": 1.0},
)


def small_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "domain": ["A", "A", "A", "B"],
            "item": ["a1", "a2", "a3", "b1"],
            "centrality": [0.1, 0.5, 0.3, 100.0],
            "strategic_weight": [7.0, 7.0, 12.0, np.nan],
            "cn_share": [0.2, np.nan, 0.4, 0.9],
            "size": [10.0, 20.0, 30.0, 1.0],
            "forward_citations": [3.0, 1.0, 2.0, 0.0],
            "note": ["x", "y", "z", "w"],
        },
        index=[10, 11, 12, 13],
    )


def test_score_hand_computed():
    out = score(small_table(), SMALL)
    assert out.index.tolist() == [10, 11, 12, 13]
    assert out["note"].tolist() == ["x", "y", "z", "w"]
    # Domain A (rank): centrality 0, 10, 5; strategic weight as is, clipped: 7, 7, 10;
    # cn_share 0, NaN → 5 (flagged), 10; size 0, 5, 10; forward citations 10, 0, 5.
    # Domain B has one item: every normalised score is 5; its strategic weight is NaN → 5.
    assert out["score.centrality"].tolist() == pytest.approx([0, 10, 5, 5])
    assert out["score.strategic_weight"].tolist() == pytest.approx([7, 7, 10, 5])
    assert out["score.cn_share"].tolist() == pytest.approx([0, 5, 10, 5])
    assert out["neutral"].tolist() == [[], ["cn_share"], [], ["strategic_weight"]]
    # necessity = .5·centrality + .5·strategic; impact = .75·size + .25·citations.
    assert out["necessity"].tolist() == pytest.approx([3.5, 8.5, 7.5, 5.0])
    assert out["feasibility"].tolist() == pytest.approx([0.0, 5.0, 10.0, 5.0])
    assert out["impact"].tolist() == pytest.approx([2.5, 3.75, 8.75, 5.0])
    # patent = .5·necessity + .25·feasibility + .25·impact
    assert out["patent_score"].tolist() == pytest.approx([2.375, 6.4375, 8.4375, 5.0])


def test_score_minmax_and_all_nan_indicator():
    table = small_table()
    table["size"] = np.nan
    out = score(table, SMALL.model_copy(update={"normalisation": "minmax"}))
    # minmax in domain A: centrality (0.1, 0.5, 0.3) → 0, 10, 5; citations (3, 1, 2) → 10, 0, 5.
    assert out["score.centrality"].tolist() == pytest.approx([0, 10, 5, 5])
    assert out["score.size"].tolist() == [5.0] * 4
    assert all("size" in flags for flags in out["neutral"])
    assert out["impact"].tolist() == pytest.approx([6.25, 3.75, 5.0, 5.0])


def test_score_zero_weight_indicator_needs_no_column_but_weighted_one_does():
    weights = {**SMALL.indicator_weights, "feasibility": {"cn_share": 1.0, "maturity": 0.0}}
    out = score(small_table(), SMALL.model_copy(update={"indicator_weights": weights}))
    assert "score.maturity" not in out.columns
    assert out["patent_score"].tolist() == pytest.approx([2.375, 6.4375, 8.4375, 5.0])
    with pytest.raises(ValueError, match="forward_citations"):
        score(small_table().drop(columns="forward_citations"), SMALL)
    with pytest.raises(ValueError, match="domain"):
        score(small_table().drop(columns="domain"), SMALL)


def test_score_empty_table_keeps_columns():
    out = score(small_table().iloc[:0], SMALL)
    assert len(out) == 0
    for col in ("score.centrality", "neutral", "necessity", "feasibility", "impact"):
        assert col in out.columns
    assert "patent_score" in out.columns


# --- fusion ----------------------------------------------------------------------------------


def test_fuse_formula():
    patent = np.array([6.0, 8.0, 4.0])
    expert = np.array([10.0, np.nan, 0.0])
    assert fuse(patent, expert, 0.25).tolist() == pytest.approx([7.0, 8.0, 3.0])
    assert fuse(patent, expert, 1.0).tolist() == pytest.approx([10.0, 8.0, 0.0])
    assert fuse(patent, expert, 0.0).tolist() == pytest.approx([6.0, 8.0, 4.0])
    with pytest.raises(ValueError, match="alpha"):
        fuse(patent, expert, 1.5)


# --- sensitivity -----------------------------------------------------------------------------

DIM_ONLY = GradeSettings(
    indicator_weights={
        "necessity": {"n1": 1.0, "n2": 1.0},
        "feasibility": {"f1": 1.0},
        "impact": {"i1": 1.0, "i2": 1.0},
    },
    sensitivity=SensitivitySettings(runs=2000, seed=7),
)


def scored_table(rows: list[tuple[float, float, float]]) -> pd.DataFrame:
    """Items whose indicators of one dimension share one score: (necessity, feas., impact)."""
    n, f, i = (np.array(col, dtype=float) for col in zip(*rows, strict=True))
    return pd.DataFrame(
        {
            "domain": "A",
            "item": [f"t{k}" for k in range(len(rows))],
            "score.n1": n,
            "score.n2": n,
            "score.f1": f,
            "score.i1": i,
            "score.i2": i,
        }
    )


ROWS = [(10.0, 9.5, 9.9), (9.5, 8.5, 7.5), (6.0, 5.0, 4.0), (7.0, 7.5, 8.0)]


def test_sensitivity_probabilities_and_extremes():
    out = sensitivity(scored_table(ROWS), np.full(len(ROWS), np.nan), DIM_ONLY)
    probs = out[["p_tier1", "p_tier2", "p_tier3"]].to_numpy()
    assert probs.sum(axis=1) == pytest.approx(np.ones(len(ROWS)))
    assert out["p_tier1"].iloc[0] == 1.0  # every draw is a mean of 9.5..10
    assert out["p_tier3"].iloc[2] == 1.0  # every draw is a mean of 4..6
    # exactly 8.5 at equal weights, symmetric spread: both sides get about half
    assert out["near_threshold"].iloc[1]
    assert 0.3 < out["p_tier1"].iloc[1] < 0.7
    assert 0.3 < out["p_tier2"].iloc[1] < 0.7
    assert out["score_p05"].iloc[1] < 8.5 < out["score_p95"].iloc[1]
    assert not out["near_threshold"].iloc[0] and not out["near_threshold"].iloc[3]
    assert out["item"].tolist() == ["t0", "t1", "t2", "t3"]


def test_sensitivity_alpha_spread_moves_expert_items():
    # patent 7 everywhere, expert 10, α = 0.5 ± 0.1: final ~ U[8.2, 8.8], base 8.5.
    table = scored_table([(7.0, 7.0, 7.0), (7.0, 7.0, 7.0)])
    out = sensitivity(table, np.array([10.0, np.nan]), DIM_ONLY)
    assert out["near_threshold"].tolist() == [True, False]
    assert 0.4 < out["p_tier1"].iloc[0] < 0.6
    assert out["p_tier2"].iloc[1] == 1.0
    assert out["score_p05"].iloc[0] == pytest.approx(8.2 + 0.6 * 0.05, abs=0.02)
    assert out["score_p95"].iloc[0] == pytest.approx(8.8 - 0.6 * 0.05, abs=0.02)


def test_sensitivity_is_deterministic_for_a_seed():
    table = scored_table(ROWS)
    first = sensitivity(table, None, DIM_ONLY)
    again = sensitivity(table, None, DIM_ONLY)
    pd.testing.assert_frame_equal(first, again)
    other = DIM_ONLY.model_copy(update={"sensitivity": SensitivitySettings(runs=2000, seed=8)})
    assert not np.array_equal(
        first["score_p05"].to_numpy(), sensitivity(table, None, other)["score_p05"].to_numpy()
    )


def test_sensitivity_zero_spread_reproduces_base_tier():
    rows = [(9.8, 8.0, 9.0), (7.0, 8.0, 6.0), (2.0, 6.0, 4.0), (9.0, 9.0, 9.9)]
    table = scored_table(rows)
    expert = np.array([np.nan, 9.0, np.nan, 3.0])
    settings = DIM_ONLY.model_copy(
        update={
            "sensitivity": SensitivitySettings(runs=200, concentration=1e12, alpha_spread=0.0),
        }
    )
    out = sensitivity(table, expert, settings)
    base = fuse(np.array([sum(r) / 3 for r in rows]), expert, 0.5)  # 8.9333, 8.0, 4.0, 6.15
    expected = tier(base, settings)
    assert expected.tolist() == ["Tier 1", "Tier 2", "Tier 3", "Tier 3"]
    for k, name in enumerate(expected):
        column = {"Tier 1": "p_tier1", "Tier 2": "p_tier2", "Tier 3": "p_tier3"}[name]
        assert out[column].iloc[k] == 1.0
    assert out["score_p05"].to_numpy() == pytest.approx(base, abs=1e-4)
    assert out["score_p95"].to_numpy() == pytest.approx(base, abs=1e-4)


def test_sensitivity_empty_and_errors():
    empty = sensitivity(scored_table(ROWS).iloc[:0], None, DIM_ONLY)
    assert len(empty) == 0
    assert {"p_tier1", "p_tier2", "p_tier3", "score_p05", "score_p95", "near_threshold"} <= set(
        empty.columns
    )
    with pytest.raises(ValueError, match=r"score\.i2"):
        sensitivity(scored_table(ROWS).drop(columns="score.i2"), None, DIM_ONLY)
    with pytest.raises(ValueError, match="shape"):
        sensitivity(scored_table(ROWS), np.array([1.0]), DIM_ONLY)


def test_sensitivity_on_score_output():
    out = score(small_table(), SMALL)
    result = sensitivity(
        out, None, SMALL.model_copy(update={"sensitivity": SensitivitySettings(runs=50)})
    )
    assert result.index.tolist() == out.index.tolist()
    # a2 scores 6.4375 and a3 8.4375: within the 0.25 margin of 6.5 and 8.5
    assert result["near_threshold"].tolist() == [False, True, True, False]
