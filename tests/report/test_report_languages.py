"""Languages in the report: per-domain and per-node counts, and nodes one language formed."""

from __future__ import annotations

import pandas as pd
from test_report_pure import GRADING, _grade, _inputs, _node

from techscreen.report import ReportOptions, render
from techscreen.report.languages import (
    driven_nodes,
    is_mixed,
    language_driven,
    share_text,
    shares,
)
from techscreen.report.notes import domain_notes


def test_shares_ignore_undetermined_and_order_by_size_then_code():
    assert shares({"zh": 30, "en": 60, "ko": 30, "und": 500}) == {"en": 0.5, "ko": 0.25, "zh": 0.25}
    assert shares({"und": 4}) == {} and shares({}) == {}
    assert share_text({"zh": 30, "en": 60, "ko": 30, "und": 5}, most=2) == (
        "en 50% · ko 25% · + 1 more · 5 undetermined"
    )


def test_a_node_is_flagged_only_in_a_mixed_domain():
    mixed = {"en": 700, "zh": 300}
    assert is_mixed(mixed) and not is_mixed({"en": 800, "zh": 200}) and not is_mixed({})
    assert language_driven({"zh": 95, "en": 5}, mixed) == "zh"
    assert language_driven({"zh": 79, "en": 21}, mixed) is None
    assert language_driven({"zh": 95, "en": 5}, {"en": 900, "zh": 100}) is None  # not mixed


def test_routed_spaces_judge_a_node_against_its_own_space():
    mixed = {"en": 600, "zh": 400}
    nodes = pd.DataFrame(
        {
            "node_id": ["e:0", "e:1", "e:2", "e:3"],
            "languages": [{"en": 300}, {"en": 250, "ko": 50}, {"zh": 390}, {"en": 50, "zh": 10}],
        }
    )
    # one space (no routing): every one-language node of the mixed domain is flagged
    assert driven_nodes(nodes, mixed) == {"e:0": "en", "e:1": "en", "e:2": "zh", "e:3": "en"}
    # routed: zh has a space of its own on purpose; the MiniLM space is 86% English in all,
    # so its nodes are not flagged, and the lexical-zh node is judged in its one-language space
    routed = nodes.assign(space=["minilm-1", "minilm-1", "lexical-zh-2", "minilm-1"])
    assert driven_nodes(routed, mixed) == {}
    # a space that still mixes languages flags the node that one language formed
    mixed_space = nodes.assign(
        languages=[{"en": 300}, {"ko": 250}, {"zh": 390}, {"ko": 40, "en": 20}],
        space=["minilm-1", "minilm-1", "lexical-zh-2", "minilm-1"],
    )
    assert driven_nodes(mixed_space, mixed) == {"e:0": "en", "e:1": "ko"}
    assert driven_nodes(nodes.iloc[:0], mixed) == {}


def _page_and_notes(domain_languages: dict[str, int]):
    grades = [
        _grade("energy:0", "energy", "heat pump", 7.0, "Tier 2"),
        _grade("energy:1", "energy", "余热 回收", 6.0, "Tier 3"),
    ]
    nodes = [
        {
            **_node("energy:0", "energy", "heat pump", 60, [1, 0, 0]),
            "languages": {"en": 55, "zh": 5},
        },
        {
            **_node("energy:1", "energy", "余热 回收", 40, [0, 1, 0]),
            "languages": {"zh": 38, "und": 2},
        },
    ]
    stats = {"energy": {"patents": 100.0, "languages": domain_languages}}
    inputs = _inputs(grades, ["energy"], nodes=nodes, domain_stats=stats)
    notes = domain_notes(
        inputs.grades, inputs.nodes, stats["energy"], GRADING, ReportOptions(thin_patents=10)
    )
    return render(inputs), " | ".join(notes)


def test_the_report_counts_languages_and_flags_nodes_of_a_mixed_domain():
    page, notes = _page_and_notes({"en": 55, "zh": 43, "und": 2})
    assert "<h3>Languages</h3>" in page
    assert "<td>en</td><td>55</td>" in page and "<td>zh</td><td>43</td>" in page
    assert page.count("⚑ zh ≥ 80%") == 1 and page.count("⚑ en ≥ 80%") == 1
    assert "zh 100% · 2 undetermined" in page
    assert "2 nodes of this mixed-language domain are 80% or more one language" in notes


def test_a_one_language_domain_flags_nothing():
    page, notes = _page_and_notes({"en": 95, "zh": 5})
    assert "⚑" not in page.split("<h3>Languages</h3>", 1)[1]
    assert "nodes are not flagged" in page and "mixed-language" not in notes
    empty, _ = _page_and_notes({})
    assert "No languages recorded." in empty


def test_nodes_without_a_languages_column_still_render():
    inputs = _inputs([_grade("energy:0", "energy", "a", 7.0, "Tier 2")], ["energy"])
    assert "languages" not in pd.DataFrame([_node("energy:0", "energy", "a", 4, [1, 0])])
    assert "<h3>Languages</h3>" in render(inputs)
