"""The report's score distribution per domain and the near-threshold moves (grade.to_next_tier)."""

from __future__ import annotations

import re

from report.test_report_pure import _grade, _inputs
from techscreen.report import render
from techscreen.report.figures import next_tier_text, score_distribution


def test_next_tier_text():
    assert next_tier_text("Tier 2", ["feasibility"], 0.4213) == "+0.42 on feasibility → Tier 2"
    assert (
        next_tier_text("Tier 3", ["necessity", "feasibility", "impact"], -1.5)
        == "-1.50 on necessity, feasibility or impact → Tier 3"
    )
    assert next_tier_text(None, [], float("nan")) == ""


def _grades():
    return [
        _grade(
            "energy:1",
            "energy",
            "<b>solar</b> cells",
            6.4,
            "Tier 3",
            near_threshold=True,
            next_tier="Tier 2",
            next_tier_dimensions=["feasibility"],
            next_tier_change=0.4,
        ),
        _grade(
            "energy:2",
            "energy",
            "wind",
            3.0,
            "Tier 3",
            next_tier=None,
            next_tier_dimensions=[],
            next_tier_change=float("nan"),
        ),
        _grade(
            "energy:3",
            "energy",
            "grid",
            8.6,
            "Tier 1",
            near_threshold=True,
            next_tier=None,
            next_tier_dimensions=[],
            next_tier_change=float("nan"),
        ),
    ]


def test_score_distribution_draws_both_strips_and_the_thresholds():
    import pandas as pd

    items = pd.DataFrame(_grades())
    fig = score_distribution(items, 8.5, 6.5, "Energy")
    assert {t.name for t in fig.data} == {"Tier 1", "Tier 3"}
    xs = sorted(x for t in fig.data for x in t.x)
    assert xs == sorted([6.4, 6.4, 3.0, 3.0, 8.6, 8.6])  # final and patent strip each
    hovers = " ".join(h for t in fig.data for h in t.hovertext)
    assert "+0.40 on feasibility → Tier 2" in hovers and "&lt;b&gt;solar" in hovers
    assert sorted(s["x0"] for s in fig.layout.shapes) == [6.5, 8.5]
    assert score_distribution(items.head(0), 8.5, 6.5, "Energy") is None


def test_the_domain_section_lists_what_moves_each_near_threshold_item():
    page = render(_inputs(_grades(), ["energy"]))
    table = re.search(r"<table class='next-tier'>.*?</table>", page, re.S).group(0)
    assert "+0.40 on feasibility → Tier 2" in table
    assert "no single dimension can move it across" in table  # energy:3 (none given)
    assert "energy:2" not in table  # not near a threshold
    assert "&lt;b&gt;solar&lt;/b&gt; cells" in table
    # Grades of older runs have no next-tier columns: the section still renders.
    older = [{k: v for k, v in g.items() if not k.startswith("next_tier")} for g in _grades()]
    assert "no single dimension can move it across" in render(_inputs(older, ["energy"]))


def test_the_export_carries_the_move_and_older_runs_export_without_one():
    import pandas as pd

    from techscreen.report import export_frame

    flat = export_frame(pd.DataFrame(_grades()), "r1").set_index("item")
    assert flat.loc["energy:1", "next_tier"] == "Tier 2"
    assert flat.loc["energy:1", "next_tier_dimensions"] == ["feasibility"]
    assert flat.loc["energy:1", "next_tier_change"] == 0.4
    older = [{k: v for k, v in g.items() if not k.startswith("next_tier")} for g in _grades()]
    assert export_frame(pd.DataFrame(older), "r1")["next_tier_dimensions"].tolist() == [[]] * 3
