"""Delphi rounds on real files: questionnaire out, filled workbooks back, scores, agreement.

The grade rows are built here (the shape of ``grades/``); the workbooks are written, filled
with openpyxl as an expert's spreadsheet would save them, and collected from a folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from techscreen.config import load_settings
from techscreen.grade import delphi
from techscreen.grade.expert import expert_item_scores, read_expert_scores
from techscreen.grade.returns import read_returns
from techscreen.grade.survey import (
    EXPERT_CELL,
    INPUTS,
    INSTRUCTIONS,
    META,
    NOMINATED,
    SUPPLEMENT,
    build_survey,
    nominated_items,
    survey_items,
)
from techscreen.stages.experts import previous_scores, run_collect

ROOT = Path(__file__).resolve().parents[2]
N = 12
DOMAINS = ["energy", "machinery"]
DIVERGENT = "energy:5"  # the impact scores of the two experts are 1 and 9
NOMINATION = "quantum gravimeter for submarines"


def _grades() -> tuple[pd.DataFrame, pd.DataFrame]:
    grades = pd.DataFrame(
        [
            {
                "domain": "energy",
                "item": f"energy:{i}",
                "kind": "node",
                "label": f"lithium cell variant {i}",
                "patents": 10 + i,
                "scores": {"centrality": i / 1.2, "growth": 5.0, "cn_share": 3.0},
                "necessity": 4.0 + i / 10,
                "feasibility": 5.0,
                "impact": 6.0,
                "patent_score": 5.0 + i / 10,
            }
            for i in range(N)
        ]
        + [
            {
                "domain": None,
                "item": "an earlier nomination",
                "kind": "expert_only",
                "label": "an earlier nomination",
                "patents": 0,
                "scores": {},
                "necessity": None,
                "feasibility": None,
                "impact": None,
                "patent_score": None,
            }
        ]
    )
    nodes = pd.DataFrame(
        [
            {
                "node_id": f"energy:{i}",
                "codes": [
                    {"code": "H01M", "share": 0.6, "title": "Batteries", "title_zh": "电池"},
                    {"code": "Y02E", "share": 0.2, "title": None, "title_zh": None},
                ],
                "representatives": [
                    {"publication_number": f"US{1000 + i}", "title": "A cell\x0b with a tab"},
                    {"publication_number": f"CN{2000 + i}", "title": None},
                ],
            }
            for i in range(N)
        ]
    )
    return grades, nodes


INFO = {"survey_id": "s-1", "grade_run": "g-1", "cluster_run": "c-1", "created": "2026-01-01"}


def _survey(tmp_path: Path, round_: int = 1, feedback=None, nominated=None) -> Path:
    grades, nodes = _grades()
    items = survey_items(grades, nodes, codes=2, patents=2)
    if nominated is not None:
        items = pd.concat([items, nominated], ignore_index=True)
    wb = build_survey(items, round_, INFO, DOMAINS, feedback, ["growth", "centrality"])
    path = tmp_path / f"survey-round-{round_}.xlsx"
    wb.save(path)
    return path


def _columns(ws) -> dict[str, str]:
    """Header → column letter, read from row 1 as an expert sees it."""
    return {c.value: c.column_letter for c in ws[1] if c.value}


def _row(ws, item: str) -> int:
    column = _columns(ws)["item"]
    return next(c.row for c in ws[column] if c.value == item)


def _fill(survey: Path, out: Path, expert: str | None, scores, extra=None) -> Path:
    """Save ``survey`` filled in as ``out``: ``scores(i, dimension) → value`` per node."""
    shutil.copy(survey, out)
    wb = load_workbook(out)
    if expert is not None:
        wb[INSTRUCTIONS][EXPERT_CELL] = expert
    ws = wb["energy"]
    columns = _columns(ws)
    for i in range(N):
        row = _row(ws, f"energy:{i}")
        for dimension, header in INPUTS.items():
            ws[f"{columns[header]}{row}"] = scores(i, dimension)
    if extra:
        extra(wb)
    wb.save(out)
    return out


def _nominate(wb, row: int, values: list) -> None:
    """Type a nomination into a row of the Supplement sheet (its rows are laid out already)."""
    for j, value in enumerate(values, start=1):
        wb[SUPPLEMENT].cell(row=row, column=j, value=value)


def _concordant(offset: float):
    def scores(i: int, dimension: str) -> float:
        if dimension == "impact" and i == int(DIVERGENT.split(":")[1]):
            return 1.0 if offset == 0 else 9.0
        return 2.0 + offset + 0.5 * i

    return scores


def test_the_questionnaire_has_a_sheet_per_domain_and_only_validated_inputs_open(tmp_path):
    path = _survey(tmp_path)
    wb = load_workbook(path)
    assert wb.sheetnames == [INSTRUCTIONS, "energy", "machinery", SUPPLEMENT, META]
    assert wb[META].sheet_state == "veryHidden" and wb.security.lockStructure
    ws = wb["energy"]
    columns = _columns(ws)
    assert list(columns)[:3] == ["item", "domain", "technology"]
    assert {"patent score", "necessity (patents)", "comment", "top codes"} <= set(columns)
    # the indicators in the order asked for, then any others
    indicators = [c for c in columns if c.endswith(" (indicator)")]
    assert indicators == [f"{n} (indicator)" for n in ("growth", "centrality", "cn_share")]
    # every node, once, in node order; the expert-only item of the grade run is not surveyed
    items = [ws[f"{columns['item']}{r}"].value for r in range(2, ws.max_row + 1)]
    assert items == [f"energy:{i}" for i in range(N)]
    row = _row(ws, "energy:3")
    assert ws[f"{columns['top codes']}{row}"].value == "H01M (60%) Batteries / 电池\nY02E (20%)"
    # the vertical tab XML forbids is dropped, the patent without a title keeps its number
    patents = ws[f"{columns['representative patents']}{row}"].value
    assert patents == "US1003 — A cell with a tab\nCN2003"
    assert ws[f"{columns['centrality (indicator)']}{row}"].value == pytest.approx(2.5)
    assert ws.protection.sheet and wb[INSTRUCTIONS].protection.sheet
    assert not wb[INSTRUCTIONS][EXPERT_CELL].protection.locked
    for header, cell in ((h, f"{columns[h]}{row}") for h in columns):
        assert ws[cell].protection.locked == (header not in {*INPUTS.values(), "comment"})
    # a decimal from 0 to 10 in exactly the input cells of the node rows
    (validation,) = ws.data_validations.dataValidation
    assert (validation.type, validation.operator) == ("decimal", "between")
    assert (validation.formula1, validation.formula2) == ("0", "10")
    covered = {str(r) for r in validation.sqref.ranges}
    assert covered == {f"{columns[h]}2:{columns[h]}{N + 1}" for h in INPUTS.values()}
    # a domain without nodes still has its sheet, to show it was screened
    assert wb["machinery"].max_row == 1


def test_round_one_collected_agreement_rejects_and_convergence(tmp_path):
    survey = _survey(tmp_path)
    returned = tmp_path / "returned"
    returned.mkdir()

    def nominate(score):
        def extra(wb):
            _nominate(wb, 2, [NOMINATION, "Energy", score, score, score, "missed by the patents"])

        return extra

    def bad(wb):
        ws = wb["energy"]
        columns = _columns(ws)
        ws[f"{columns[INPUTS['necessity']]}{_row(ws, 'energy:0')}"] = "high"
        ws[f"{columns[INPUTS['feasibility']]}{_row(ws, 'energy:1')}"] = 11
        ws[f"{columns[INPUTS['impact']]}{_row(ws, 'energy:2')}"] = "=5+5"
        for header in INPUTS.values():  # energy:4 left unscored, but commented
            ws[f"{columns[header]}{_row(ws, 'energy:4')}"] = None
        ws[f"{columns['comment']}{_row(ws, 'energy:4')}"] = "no idea, no score"
        ws.append({columns["item"]: "energy:99", columns[INPUTS["impact"]]: 7})
        nominate(8.5)(wb)
        _nominate(wb, 3, ["", "", 3, None, None, "forgot the name"])

    _fill(survey, returned / "e1.xlsx", "E01", _concordant(0.0), nominate(8.0))
    _fill(survey, returned / "e2.xlsx", "E02", _concordant(0.5), bad)
    _fill(survey, returned / "e3-again.xlsx", "E01", _concordant(1.0))  # E01 twice
    _fill(survey, returned / "e4.xlsx", None, _concordant(0.0))  # no expert id
    shutil.copy(survey, returned / "blank.xlsx")  # sent back untouched
    (returned / "~$e1.xlsx").write_bytes(b"Excel's lock file")
    (returned / "notes.txt").write_text("not a workbook", encoding="utf-8")

    settings = load_settings(ROOT / "conf", None, [])
    collected = run_collect(settings, returned)
    summary = collected.summary

    scores_file = returned / "scores.csv"
    rejects = pd.read_csv(returned / "rejects.csv", encoding="utf-8-sig", dtype=str)
    # nothing silently dropped: every filled cell is a score row or a rejected entry
    nodes = 3 * N  # three scores per node
    e2_rejected = 3 + 1 + 1 + 1  # bad scores, a comment alone, an unknown item, no name
    assert summary["valid"] == (nodes + 3) + (nodes + 3 - 3 - 3)  # e2: 3 bad, 3 left empty
    assert summary["rejected"] == e2_rejected + nodes + nodes + 1  # e3, e4, the blank
    assert summary["read"] == summary["valid"] + summary["rejected"]
    assert len(rejects) == summary["rejected"]
    assert summary["workbooks"] == 5
    assert sorted(summary["skipped_files"]) == ["notes.txt", "~$e1.xlsx"]

    ws = load_workbook(survey)["energy"]
    columns = _columns(ws)
    e2 = rejects[rejects.file == "e2.xlsx"].set_index("cell")
    necessity, feasibility, impact = (columns[INPUTS[d]] for d in INPUTS)
    expected = {
        f"{necessity}{_row(ws, 'energy:0')}": ("necessity", "non_numeric", "high"),
        f"{feasibility}{_row(ws, 'energy:1')}": ("feasibility", "out_of_range", "11"),
        # the CSV escapes text a spreadsheet would run: the formula is shown, never run
        f"{impact}{_row(ws, 'energy:2')}": ("impact", "formula", "'=5+5"),
        f"{impact}{N + 2}": ("impact", "unknown_item", "7"),
    }
    for cell, (dimension, reason, value) in expected.items():
        assert (e2.loc[cell, "dimension"], e2.loc[cell, "reason"]) == (dimension, reason)
        assert e2.loc[cell, "value"] == value and e2.loc[cell, "sheet"] == "energy"
    comment = f"{columns['comment']}{_row(ws, 'energy:4')}"
    assert e2.loc[comment, "reason"] == "comment_without_score"
    assert e2.loc["C3", ["sheet", "reason"]].tolist() == [SUPPLEMENT, "missing_name"]
    assert e2.loc[f"{impact}{N + 2}", "item"] == "energy:99"
    again = rejects[rejects.file == "e3-again.xlsx"]
    assert len(again) == nodes and set(again.reason) == {"duplicate_expert_round"}
    assert "e1.xlsx" in again.detail.iloc[0]
    assert set(rejects[rejects.file == "e4.xlsx"].reason) == {"missing_expert_id"}
    blank = rejects[rejects.file == "blank.xlsx"]
    assert blank[["sheet", "cell", "reason"]].values.tolist() == [
        [INSTRUCTIONS, EXPERT_CELL, "no_scores; missing_expert_id"]
    ]
    assert summary["rejected_by_reason"] == {
        "comment_without_score": 1,
        "duplicate_expert_round": nodes,
        "formula": 1,
        "missing_expert_id": nodes + 1,
        "missing_name": 1,
        "no_scores": 1,
        "non_numeric": 1,
        "out_of_range": 1,
        "unknown_item": 1,
    }

    # the collected file is the grade stage's input format, row for row
    read = read_expert_scores(scores_file)
    assert len(read.rejected) == 0 and len(read.scores) == summary["valid"]
    assert set(read.scores.expert) == {"E01", "E02"} and set(read.scores["round"]) == {1}
    nominated = read.scores[read.scores.item == NOMINATION]
    assert sorted(nominated.score) == [8.0] * 3 + [8.5] * 3
    assert set(nominated.comment) == {"missed by the patents"}
    written = pd.read_csv(scores_file, encoding="utf-8-sig")
    assert set(written.loc[written.item == NOMINATION, "domain"]) == {"energy"}
    assert written.source.iloc[0].startswith("e1.xlsx:energy!")

    # planted concordant rankings: W = 1; the divergent impact item pulls impact's W below
    w = summary["rounds"]["1"]["kendall_w"]
    assert w["necessity"] == pytest.approx(1.0) and w["feasibility"] == pytest.approx(1.0)
    assert 0.5 < w["impact"] < 0.99
    assert summary["rounds"]["1"]["experts"] == 2
    convergence = pd.read_csv(returned / "convergence.csv", encoding="utf-8-sig")
    flagged = convergence[convergence.status == delphi.NOT_CONVERGED]
    assert flagged[["item", "dimension"]].values.tolist() == [[DIVERGENT, "impact"]]
    row = flagged.iloc[0]
    assert (row["median"], row["iqr"]) == (5.0, 4.0) and "iqr 4 > 2" in row["why"]
    assert summary["rounds"]["1"]["not_converged"] == 1
    # a score only one expert gave (E02's bad and empty cells) is too few to judge
    assert summary["rounds"]["1"]["too_few"] == 3 + 3
    assert collected.flagged[["item", "dimension"]].values.tolist() == [[DIVERGENT, "impact"]]


def test_round_two_shows_the_panel_median_and_iqr_next_to_each_input(tmp_path):
    survey = _survey(tmp_path)
    returned = tmp_path / "round1"
    returned.mkdir()

    def nominate(wb):
        _nominate(wb, 2, [NOMINATION, "energy", 8, 7, 9, "missed"])

    _fill(survey, returned / "e1.xlsx", "E01", _concordant(0.0), nominate)
    _fill(survey, returned / "e2.xlsx", "E02", _concordant(0.5))
    run_collect(load_settings(ROOT / "conf", None, []), returned)

    # the round before, as returned workbooks or as the collected CSV: the same feedback
    from_folder = previous_scores(returned)
    from_csv = previous_scores(returned / "scores.csv")
    key = ["expert", "item", "dimension"]
    assert (
        from_folder.sort_values(key)
        .reset_index(drop=True)
        .equals(from_csv.sort_values(key).reset_index(drop=True))
    )
    feedback = delphi.feedback(from_csv, 1)
    named = from_csv[from_csv.item == NOMINATION]
    nominated = nominated_items(dict(zip(named.item, named.domain, strict=True)))
    path = _survey(tmp_path, 2, feedback, nominated)
    wb = load_workbook(path)
    assert wb.sheetnames == [INSTRUCTIONS, "energy", "machinery", NOMINATED, SUPPLEMENT, META]
    ws = wb["energy"]
    headers = list(_columns(ws))
    for dimension, header in INPUTS.items():
        i = headers.index(header)
        assert headers[i - 2 : i] == [f"{dimension} round 1 median", f"{dimension} round 1 IQR"]
    columns = _columns(ws)
    row = _row(ws, DIVERGENT)
    assert ws[f"{columns['impact round 1 median']}{row}"].value == 5.0
    assert ws[f"{columns['impact round 1 IQR']}{row}"].value == 4.0
    row = _row(ws, "energy:2")  # 3.0 and 3.5
    assert ws[f"{columns['necessity round 1 median']}{row}"].value == 3.25
    assert ws[f"{columns['necessity round 1 IQR']}{row}"].value == 0.25
    # the nominated technology comes back to be scored by everyone, with its own feedback
    nominated = wb[NOMINATED]
    columns = _columns(nominated)
    assert nominated[f"{columns['item']}2"].value == NOMINATION
    assert nominated[f"{columns['domain']}2"].value == "energy"
    assert nominated[f"{columns['impact round 1 median']}2"].value == 9.0
    assert "round 1" in " ".join(str(c.value) for c in wb[INSTRUCTIONS]["A"] if c.value)

    # round 2 answered: the rounds stay apart, each item's latest round is the one fused
    round2 = tmp_path / "round2"
    round2.mkdir()

    def agree(i, dimension):
        return 5.0 if f"energy:{i}" == DIVERGENT and dimension == "impact" else 2.0 + 0.5 * i

    def score_nomination(wb):
        ws = wb[NOMINATED]
        columns = _columns(ws)
        for header in INPUTS.values():
            ws[f"{columns[header]}2"] = 9.5

    _fill(path, round2 / "e1.xlsx", "E01", agree, score_nomination)
    _fill(path, round2 / "e2.xlsx", "E02", agree, score_nomination)
    returns = read_returns(sorted(round2.glob("*.xlsx")))
    assert len(returns.rejected) == 0 and set(returns.scores["round"]) == {2}
    both = pd.concat([from_csv, returns.scores], ignore_index=True)
    converged = delphi.convergence(both, max_iqr=2.0, max_cv=0.3, min_experts=2)
    last = converged[converged["round"] == 2]
    assert set(last.status) == {delphi.CONVERGED}
    fused = expert_item_scores(both).set_index("item")
    assert fused.loc[DIVERGENT, "round"] == 2 and fused.loc[NOMINATION, "expert"] == 9.5
