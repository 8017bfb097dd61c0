"""Expert consultation: the score file, Kendall's W, agreement, item scores, nominations."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from techscreen.grade.expert import (
    agreement,
    expert_item_scores,
    kendalls_w,
    kendalls_w_test,
    match_nominations,
    read_expert_scores,
)

ROOT = Path(__file__).resolve().parents[2]
HEADER = "round,expert,item,dimension,score,comment\n"

# The "anxiety" ratings (20 subjects × 3 raters, many ties) of R's irr package, as used in the
# examples of DescTools::KendallW, whose published output with the tie correction is
# W = 0.5396569, Kendall chi-squared = 30.76, df = 19, p-value = 0.04288.
ANXIETY = pd.DataFrame(
    {
        "rater1": [3, 3, 3, 4, 5, 5, 2, 3, 5, 2, 2, 6, 1, 5, 2, 2, 1, 2, 4, 3],
        "rater2": [3, 6, 4, 6, 2, 4, 2, 4, 3, 3, 2, 3, 3, 3, 2, 2, 1, 3, 3, 4],
        "rater3": [2, 1, 4, 4, 3, 2, 1, 6, 1, 1, 1, 2, 3, 3, 1, 1, 3, 3, 2, 2],
    }
)

# Siegel & Castellan (1988), Nonparametric Statistics for the Behavioral Sciences: 3 judges
# rank 8 objects (airfare … interest), no ties; the DescTools::KendallW example reproduces
# it with W = 0.6560847, chi-squared = 13.778, df = 7, p-value = 0.05528.
SIEGEL = pd.DataFrame(
    {
        "id4": [5, 6, 7, 1, 2, 4, 3, 8],
        "id21": [1, 7, 6, 2, 3, 5, 4, 8],
        "id11": [4, 5, 1, 3, 2, 7, 6, 8],
    },
    index=["airfare", "climate", "season", "people", "program", "publicity", "present", "interest"],
)


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def _scores(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["round", "expert", "item", "dimension", "score"])


# --- Kendall's W ----------------------------------------------------------------------------


def test_kendalls_w_reproduces_published_examples():
    anxiety = kendalls_w_test(ANXIETY)
    assert anxiety["w"] == pytest.approx(0.5396569, abs=5e-8)
    assert anxiety["chi2"] == pytest.approx(30.76, abs=5e-3)
    assert anxiety["df"] == 19
    assert anxiety["p_value"] == pytest.approx(0.04288, abs=5e-6)
    assert (anxiety["experts"], anxiety["items"]) == (3, 20)

    siegel = kendalls_w_test(SIEGEL)
    assert siegel["w"] == pytest.approx(0.6560847, abs=5e-8)
    assert siegel["chi2"] == pytest.approx(13.778, abs=5e-4)
    assert siegel["p_value"] == pytest.approx(0.05528, abs=5e-6)
    assert kendalls_w(SIEGEL) == siegel["w"]


def test_tie_correction_by_hand():
    # e1 ties items a and b: ranks (1.5, 1.5, 3); e2 ranks (1, 2, 3). R = (2.5, 3.5, 6),
    # R̄ = 4, S = 2.25 + 0.25 + 4 = 6.5. m = 2, n = 3: m²(n³−n) = 96, T = 2³ − 2 = 6 for e1,
    # so W = 12·6.5 / (96 − 2·6) = 78/84; without the correction it would be 78/96.
    table = pd.DataFrame({"e1": [1, 1, 2], "e2": [1, 2, 3]}, index=["a", "b", "c"])
    assert kendalls_w(table) == pytest.approx(78 / 84)
    assert kendalls_w(table) != pytest.approx(78 / 96)


def test_kendalls_w_extremes():
    scores = np.array([1.0, 4.0, 2.0, 8.0, 5.0])
    agree = pd.DataFrame({"e1": scores, "e2": scores * 2, "e3": scores + 1})
    assert kendalls_w(agree) == pytest.approx(1.0)
    reversed_pair = pd.DataFrame({"e1": scores, "e2": -scores})
    assert kendalls_w(reversed_pair) == pytest.approx(0.0, abs=1e-12)


def test_chi_square_test_matches_scipy():
    result = kendalls_w_test(ANXIETY)
    m, n = 3, 20
    assert result["chi2"] == pytest.approx(m * (n - 1) * result["w"])
    assert result["p_value"] == pytest.approx(stats.chi2.sf(result["chi2"], n - 1))
    # Kendall's chi-square is Friedman's statistic (both with the tie correction)
    friedman = stats.friedmanchisquare(*ANXIETY.to_numpy())
    assert result["chi2"] == pytest.approx(friedman.statistic)


def test_kendalls_w_uses_only_items_every_expert_scored():
    table = SIEGEL.astype(float)
    table.loc["extra"] = [9.0, np.nan, 1.0]  # e.g. a nomination not every expert scored
    table["absent"] = np.nan  # an expert with no score drops out, not every item
    result = kendalls_w_test(table)
    assert (result["items"], result["experts"]) == (8, 3)
    assert result["w"] == pytest.approx(0.6560847, abs=5e-8)


def test_kendalls_w_undefined_cases():
    assert math.isnan(kendalls_w(pd.DataFrame({"e1": [1.0, 2.0, 3.0]})))  # one expert
    assert math.isnan(kendalls_w(pd.DataFrame({"e1": [1.0], "e2": [2.0]})))  # one item
    assert math.isnan(kendalls_w(pd.DataFrame({"e1": [5, 5, 5], "e2": [7, 7, 7]})))  # all tied
    result = kendalls_w_test(pd.DataFrame({"e1": [1.0, np.nan], "e2": [np.nan, 2.0]}))
    assert result["items"] == 0 and math.isnan(result["p_value"])


# --- the score file -------------------------------------------------------------------------


def test_reader_keeps_every_row_valid_or_rejected(tmp_path):
    lines = [
        HEADER.strip(),  # line 1
        "1,e1,energy:0,necessity,7,ok",  # 2 valid
        ' 1 , e1 , energy:0 , Feasibility , 6.5 ,"yields low, cost high"',  # 3 valid, trimmed
        "0,e1,energy:0,impact,5,",  # 4
        "1.5,e1,energy:1,impact,5,",  # 5
        "1,,energy:0,impact,5,",  # 6
        "1,e2,,impact,5,",  # 7
        "1,e2,energy:0,novelty,5,",  # 8
        "1,e2,energy:0,impact,10.5,",  # 9
        "1,e2,energy:0,impact,=1+1,",  # 10: a formula is text, not 2
        "1,e2,energy:0,impact,,",  # 11
        "1,e2,energy:0,impact,nan,",  # 12
        "1,e1,energy:0,necessity,3,again",  # 13 duplicate of line 2
        "",  # 14 blank: not a data row
        "1,e3,energy:1,impact,4,unquoted, comma",  # 15
        '2,e3,energy:1,overall,0,"two',  # 16 valid, its comment spans two lines
        'lines"',  # 17
        "0,,energy:1,impact,12,",  # 18 three problems
        "2,e3,energy:1,impact,=HYPERLINK(x),=SUM(A1:A2)",  # 19
        "2.0,e3,energy:1,necessity,１０,full-width",  # 20 valid
        ",,,,,",  # 21 an empty spreadsheet row
    ]
    read = read_expert_scores(_write(tmp_path / "scores.csv", "\n".join(lines) + "\n"))
    assert read.encoding == "utf-8"

    reasons = dict(zip(read.rejected["line"], read.rejected["reason"], strict=True))
    assert reasons == {
        4: "bad_round",
        5: "bad_round",
        6: "empty_expert",
        7: "empty_item",
        8: "unknown_dimension",
        9: "score_out_of_range",
        10: "non_numeric_score",
        11: "missing_score",
        12: "non_numeric_score",
        13: "duplicate",
        15: "extra_fields",
        18: "bad_round; empty_expert; score_out_of_range",
        19: "non_numeric_score",
    }
    assert list(read.scores["line"]) == [2, 3, 16, 20]
    assert read.read == len(read.scores) + len(read.rejected) == 17  # 20 records, 3 empty

    valid = read.scores.set_index("line")
    assert valid.loc[3, ["expert", "item", "dimension", "score", "comment"]].tolist() == [
        "e1",
        "energy:0",
        "feasibility",
        6.5,
        "yields low, cost high",
    ]
    assert valid.loc[16, "comment"] == "two\nlines"
    assert valid.loc[20, "round"] == 2 and valid.loc[20, "score"] == 10.0
    assert read.scores.dtypes[["round", "score"]].tolist() == [np.int64, np.float64]
    # the first of two (round, expert, item, dimension) rows wins
    assert valid.loc[2, "score"] == 7.0
    rejected = read.rejected.set_index("line")
    assert rejected.loc[19, "comment"] == "=SUM(A1:A2)"
    assert rejected.loc[15, "raw"] == "1,e3,energy:1,impact,4,unquoted, comma"


def test_reader_gbk_and_bom(tmp_path):
    text = HEADER + "1,专家甲,固态锂金属电池,overall,8,国产化程度低\n"
    gbk = read_expert_scores(_write(tmp_path / "gbk.csv", text, "gbk"))
    assert gbk.encoding == "gbk"
    assert gbk.scores[["expert", "item", "comment"]].iloc[0].tolist() == [
        "专家甲",
        "固态锂金属电池",
        "国产化程度低",
    ]
    bom = read_expert_scores(_write(tmp_path / "bom.csv", text, "utf-8-sig"))
    assert bom.encoding == "utf-8-sig"
    assert len(bom.scores) == 1 and bom.rejected.empty
    assert bom.scores["item"].iloc[0] == "固态锂金属电池"


def test_reader_header_order_case_and_optional_comment(tmp_path):
    path = _write(
        tmp_path / "s.csv", "Score, ITEM ,dimension,expert,round\n7,energy:0,impact,e1,1\n"
    )
    read = read_expert_scores(path)
    assert read.scores[["round", "expert", "item", "dimension", "score", "comment"]].iloc[
        0
    ].tolist() == [1, "e1", "energy:0", "impact", 7.0, ""]


def test_reader_missing_columns_is_an_error(tmp_path):
    path = _write(tmp_path / "s.csv", "round,expert,item,comment\n1,e1,energy:0,x\n")
    with pytest.raises(ValueError, match="missing column\\(s\\) dimension, score"):
        read_expert_scores(path)
    with pytest.raises(ValueError, match="missing column"):
        read_expert_scores(_write(tmp_path / "empty.csv", ""))


def test_template_reads_cleanly():
    read = read_expert_scores(ROOT / "conf" / "experts" / "template.csv")
    assert read.rejected.empty
    assert len(read.scores) > 0
    assert set(read.scores["expert"]) <= {"example-1", "example-2"}


# --- agreement and item scores --------------------------------------------------------------


def test_agreement_concordance_and_spread():
    scores = _scores(
        [
            (1, "e1", "a", "impact", 6),
            (1, "e2", "a", "impact", 8),
            (1, "e3", "a", "impact", 10),
            (1, "e1", "b", "impact", 2),
            (1, "e2", "b", "impact", 3),
            (1, "e3", "b", "impact", 4),
            (1, "e1", "c", "impact", 0),
            (1, "e2", "c", "impact", 0),
            (1, "e3", "c", "impact", 0),
            (1, "e1", "d", "impact", 9),  # only e1: no spread, left out of W
            (2, "e1", "a", "impact", 7),
            (2, "e2", "a", "impact", 3),
            (2, "e1", "b", "impact", 3),
            (2, "e2", "b", "impact", 7),
        ]
    )
    concordance, spread = agreement(scores)
    by_round = concordance.set_index("round")
    assert by_round.loc[1, ["experts", "items", "complete_items", "df"]].tolist() == [3, 4, 3, 2]
    assert by_round.loc[1, "w"] == pytest.approx(1.0)  # a > b > c for everyone
    assert by_round.loc[2, "w"] == pytest.approx(0.0)  # two experts in reverse order
    assert by_round.loc[1, "p_value"] == pytest.approx(stats.chi2.sf(3 * 2 * 1.0, 2))

    cell = spread.set_index(["round", "item"])
    # item a, round 1: 6, 8, 10 → mean 8, std 2, cv 0.25
    assert cell.loc[(1, "a"), ["n", "mean", "std", "cv"]].tolist() == pytest.approx([3, 8, 2, 0.25])
    assert cell.loc[(1, "b"), "cv"] == pytest.approx(1 / 3)  # 2, 3, 4: std 1, mean 3
    assert math.isnan(cell.loc[(1, "c"), "cv"])  # mean 0
    assert cell.loc[(1, "d"), "n"] == 1 and math.isnan(cell.loc[(1, "d"), "cv"])
    # round 2, a: 7, 3 → mean 5, std 2√2
    assert cell.loc[(2, "a"), "cv"] == pytest.approx(2 * math.sqrt(2) / 5)
    # a frame not from the reader may hold scores around 0: a zero mean gives NaN, not inf
    _, centred = agreement(_scores([(1, "e1", "z", "impact", -1), (1, "e2", "z", "impact", 1)]))
    assert centred["std"].iloc[0] > 0 and math.isnan(centred["cv"].iloc[0])


def test_expert_item_scores_latest_round_wins():
    scores = _scores(
        [
            (1, "e1", "a", "overall", 2),
            (1, "e2", "a", "overall", 4),
            (2, "e1", "a", "overall", 8),
            (2, "e2", "a", "overall", 9),
            (2, "e3", "a", "necessity", 1),  # overall present: the dimensions do not count
            (1, "e1", "b", "necessity", 6),
            (1, "e2", "b", "necessity", 8),
            (1, "e1", "b", "impact", 4),
        ]
    )
    items = expert_item_scores(scores).set_index("item")
    assert items.loc["a", ["round", "experts", "overall", "necessity", "expert"]].tolist() == [
        2,
        3,
        8.5,
        1.0,
        8.5,
    ]
    # b only in round 1, no overall: mean of the dimension means (7 and 4), feasibility absent
    assert items.loc["b", ["round", "experts", "necessity", "impact"]].tolist() == [1, 2, 7, 4]
    assert math.isnan(items.loc["b", "feasibility"]) and items.loc["b", "expert"] == 5.5

    first = expert_item_scores(scores, final_round=1).set_index("item")
    assert first.loc["a", "expert"] == 3.0 and first.loc["a", "round"] == 1
    assert list(expert_item_scores(scores, final_round=3).columns)[-1] == "expert"
    assert expert_item_scores(scores, final_round=3).empty


# --- nominations ----------------------------------------------------------------------------

NODES = pd.DataFrame(
    {
        "node_id": ["energy:0", "energy:1", "energy:2", "energy:3", "energy:4", "energy:5"],
        "domain": ["energy"] * 6,
        "label": [
            "solid-state battery · lithium metal anode · sulfide electrolyte",
            "wind turbine · blade · rotor pitch control",
            "photovoltaic cell · perovskite · tandem solar module",
            "固态电池 · 锂金属负极 · 硫化物电解质",
            "风力发电机 · 叶片 · 变桨控制",
            "fuel cell · proton exchange membrane · catalyst",
        ],
        "keywords": [
            ["solid-state battery", "lithium metal anode"],
            ["wind turbine", "blade"],
            ["perovskite", "photovoltaic cell"],
            ["固态电池", "锂金属负极"],
            ["风力发电机", "叶片"],
            [{"term": "fuel cell", "score": 0.9}],  # the nodes table's struct form
        ],
        "codes": [
            ["Secondary cells; manufacture thereof"],
            ["Wind motors"],
            ["Devices for the conversion of radiation energy into electrical energy"],
            ["二次电池及其制造"],
            ["风力发动机"],
            [{"code": "H01M 8/00", "title": "Fuel cells; hydrogen storage in metal hydrides"}],
        ],
    }
)


def test_match_nominations():
    items = [
        "energy:2",
        "perovskite solar cells",
        "固态锂电池",
        "quantum gravimeter",
        "量子重力仪",
        "metal hydride hydrogen storage",
    ]
    matched = match_nominations(items, NODES.iloc[::-1], threshold=0.35)
    assert list(matched.columns) == ["item", "node_id", "domain", "how", "similarity"]
    assert matched["item"].tolist() == items
    assert matched["how"].tolist() == [
        "node_id",
        "text",
        "text",
        "expert_only",
        "expert_only",
        "text",
    ]
    assert matched["node_id"].tolist() == [
        "energy:2",
        "energy:2",
        "energy:3",
        None,
        None,
        "energy:5",
    ]
    assert matched["domain"].tolist()[:3] == ["energy"] * 3
    text = matched[matched["how"] == "text"]["similarity"]
    assert (text >= 0.35).all() and (text <= 1).all()
    assert matched["similarity"].iloc[3] < 0.35
    # the match depends on the threshold and on the nodes, not on the other items
    alone = match_nominations(["固态锂电池"], NODES, threshold=0.35)
    assert alone["similarity"].iloc[0] == pytest.approx(matched["similarity"].iloc[2])
    strict = match_nominations(["固态锂电池"], NODES, threshold=0.99)
    assert strict["how"].iloc[0] == "expert_only" and strict["node_id"].iloc[0] is None


def test_match_nominations_ties_go_to_the_smallest_node_id():
    twins = pd.DataFrame(
        {
            "node_id": ["x:2", "x:1", "x:3"],
            "domain": ["b", "a", "c"],
            "label": ["laser radar", "laser radar", "gene editing"],
            "keywords": [["lidar"], ["lidar"], ["crispr"]],
            "codes": [[], [], []],
        }
    )
    matched = match_nominations(["laser radar lidar"], twins, threshold=0.1)
    assert matched[["node_id", "domain", "how"]].iloc[0].tolist() == ["x:1", "a", "text"]
