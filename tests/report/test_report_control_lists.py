"""The report's control-list section and the export's control columns, on real matches."""

from __future__ import annotations

import pandas as pd

from techscreen.config import GradeSettings
from techscreen.grade.control_lists import match_control_lists, read_control_lists
from techscreen.report.control_lists import control_list_section
from techscreen.report.data import matches_text

LISTS = GradeSettings().control_lists


def _grades() -> pd.DataFrame:
    items = pd.DataFrame(
        [
            {"label": "Advanced Manufacturing"},
            {"label": "milking parlour · teat cup"},
        ]
    )
    matched = match_control_lists(
        items,
        read_control_lists(LISTS.files),
        controlled=LISTS.controlled,
        adjacent=LISTS.adjacent,
        top=2,
    )
    base = pd.DataFrame(
        {"domain": ["machinery", "agriculture"], "item": ["m-1", "a-1"], "tier": ["Tier 3"] * 2}
    )
    return pd.concat([base, items[["label"]], matched], axis=1)


def test_the_section_counts_statuses_and_shows_the_covered_item_with_its_entry():
    thresholds = {"controlled": LISTS.controlled, "adjacent": LISTS.adjacent}
    page = control_list_section(_grades(), ["agriculture", "machinery"], thresholds)
    assert "<td>machinery</td><td class='num'>1</td><td class='num'>0</td>" in page
    assert "<td>agriculture</td><td class='num'>0</td><td class='num'>0</td>" in page
    assert "data-item='m-1'" in page and "CET-05 Advanced Manufacturing (1.00)" in page
    assert "data-item='a-1'" not in page
    assert f"≥ {LISTS.controlled:.2f}" in page


def test_an_older_grade_run_without_the_mapping_says_so():
    page = control_list_section(pd.DataFrame({"domain": ["x"], "item": ["x-1"]}), ["x"], {})
    assert "no control-list mapping" in page


def test_matches_flatten_to_one_line_for_the_exports():
    line = matches_text(_grades()["control_matches"][0])
    assert line.count(";") == 3 and "us_cet_2024 CET-05 Advanced Manufacturing (1.00)" in line
