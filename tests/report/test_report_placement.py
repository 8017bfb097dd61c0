"""The report's section on patents placed by text, on small hand-made inputs."""

from __future__ import annotations

import re

import pandas as pd

from techscreen.report.placement import (
    PLACED_SHARE,
    placed_note,
    placement_figures,
    placement_section,
)

METRICS = {
    "placement.enabled": 1.0,
    "placement.unassigned": 40.0,
    "placement.placed": 31.0,
    "placement.left.below_floor": 7.0,
    "placement.left.no_vector": 2.0,
    "placement.min_confidence": 0.3,
    "placement.held_out": 500.0,
    "placement.accuracy": 0.88,
    "placement.space.minilm-int8.accuracy": 0.86,
    "placement.space.minilm-int8.held_out": 400.0,
    "placement.space.lexical-zh.accuracy": 0.96,
    "energy.placement.placed": 12.0,  # a domain's figure, not the run's
    "n_nodes": 20.0,
}
GRADES = pd.DataFrame(
    {
        "domain": ["energy", "energy", "machinery"],
        "item": ["energy:0", "energy:1", "machinery:0"],
        "kind": ["node", "node", "node"],
        "label": ["solar cells", "wind rotors", "gears"],
        "tier": ["Tier 3", "Tier 2", "Tier 3"],
        "patents": [30, 40, 50],
        "text_placed_share": [PLACED_SHARE + 0.1, PLACED_SHARE / 2, None],
    }
)
STATS = {
    "energy": {"patents": 70.0, "placement": {"placed": 12.0, "precision": 0.9, "recall": 0.8}},
    "machinery": {"patents": 50.0, "placement": {"placed": 0.0}},
}


def test_the_run_s_metrics_become_figures_with_spaces_apart():
    figures = placement_figures(METRICS)
    assert figures["placed"] == 31 and figures["left.below_floor"] == 7
    assert figures["space"]["minilm-int8"] == {"accuracy": 0.86, "held_out": 400.0}
    assert "energy.placement.placed" not in figures and "n_nodes" not in figures


def test_the_section_counts_per_domain_and_lists_nodes_resting_on_placed_patents():
    page = placement_section(placement_figures(METRICS), STATS, GRADES, ["energy", "machinery"])
    assert "<b>31</b> were placed" in page and "<b>9</b> stay unassigned" in page
    table = re.search(r"<table id='placement-domains'>.*?</table>", page, re.S).group(0)
    energy = re.findall(r"<td class='num'>([^<]*)</td>", table.split("<td>energy</td>")[1])
    assert energy[:3] == ["70", "58", "12"]  # patents, by codes, by text
    nodes = re.search(r"<table id='placement-nodes'>.*?</table>", page, re.S).group(0)
    assert "energy:0" in nodes and "energy:1" not in nodes and "machinery:0" not in nodes
    spaces = re.search(r"<table id='placement-spaces'>.*?</table>", page, re.S).group(0)
    assert "lexical-zh" in spaces and "minilm-int8" in spaces


def test_off_none_to_place_and_older_runs_say_so():
    off = placement_section({"enabled": 0.0, "unassigned": 40.0}, STATS, GRADES, ["energy"])
    assert "id='placement-off'" in off and "40 patents" in off
    none = placement_section({"enabled": 1.0, "unassigned": 0.0}, STATS, GRADES, ["energy"])
    assert "id='placement-none'" in none and "held-out" not in none
    older = placement_section({}, STATS, GRADES.drop(columns="text_placed_share"), ["energy"])
    assert "before placement existed" in older


def test_a_domain_note_gives_the_placed_share_and_the_nodes_resting_on_it():
    notes = placed_note(STATS["energy"], GRADES[GRADES.domain == "energy"])
    assert notes[0].startswith("12 of the domain's 70 patents (17%)") and "90%" in notes[0]
    assert "energy:0" in notes[1] and "energy:1" not in notes[1]
    assert placed_note(STATS["machinery"], GRADES[GRADES.domain == "machinery"]) == []
