"""Expert rounds on the screening workspace: survey → experts fill → collect → grade → report."""

from __future__ import annotations

import contextlib
import io
import json
import shutil

import pytest
from mlflow.tracking import MlflowClient
from openpyxl import load_workbook
from pyspark.sql import functions as F

from conftest import ROOT
from techscreen.cli import main
from techscreen.grade.survey import EXPERT_CELL, INPUTS, INSTRUCTIONS, META, SUPPLEMENT


def _cli(*args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*args, "--conf-dir", str(ROOT / "conf")])
    lines = out.getvalue().strip().splitlines()
    return code, (json.loads(lines[-1]) if code == 0 else None), out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def workspace(screening, tmp_path_factory):
    """A copy of the screening workspace: the grade runs added here stay out of the original."""
    ws = tmp_path_factory.mktemp("experts") / "ws"
    shutil.copytree(screening[0], ws)
    return ws, screening[1]["stages"]


def _fill(survey, out, expert, score):
    """Fill every node of every domain sheet: ``score(item, patent_score, dimension)``."""
    shutil.copy(survey, out)
    wb = load_workbook(out)
    wb[INSTRUCTIONS][EXPERT_CELL] = expert
    for ws in wb.worksheets:
        if ws.title in (INSTRUCTIONS, SUPPLEMENT, META):
            continue
        columns = {c.value: c.column for c in ws[1]}
        for row in ws.iter_rows(min_row=2):
            item, patent = row[columns["item"] - 1].value, row[columns["patent score"] - 1].value
            for dimension, header in INPUTS.items():
                row[columns[header] - 1].value = score(item, patent, dimension)
    wb.save(out)
    return out


def test_a_panel_round_feeds_the_grade_and_the_report(spark, workspace, tmp_path):
    ws, stages = workspace
    at = f"paths.workspace={ws}"
    code, survey, _, err = _cli("experts", "survey", "--set", at)
    assert code == 0, err
    assert survey["round"] == 1 and survey["grade_run"] == stages["grade"]["run_id"]
    assert survey["items"] == sum(stages["grade"]["tiers"].values()) > 2
    path = ws / "experts" / "survey-round-1.xlsx"
    assert survey["survey"] == str(path.resolve()) and path.is_file()

    grades = spark.read.parquet(str(ws / "grades")).where(F.col("run_id") == survey["grade_run"])
    before = {g.item: g for g in grades.collect()}
    # the node the patents rate lowest; the panel scores it 10 on every dimension
    target = min(before.values(), key=lambda g: (g.patent_score, g.item))
    assert target.tier == "Tier 3"

    def panel(shift):
        def score(item, patent, dimension):
            return 10.0 if item == target.item else round(min(patent + shift, 9.5), 2)

        return score

    returned = tmp_path / "returned"
    returned.mkdir()
    for i, expert in enumerate(("E01", "E02", "E03")):
        _fill(path, returned / f"{expert}.xlsx", expert, panel(0.1 * i))
    code, collected, printed, err = _cli("experts", "collect", str(returned), "--set", at)
    assert code == 0, err
    n = 3 * 3 * survey["items"]
    assert collected["read"] == collected["valid"] == n and collected["rejected"] == 0
    w = collected["rounds"]["1"]["kendall_w"]
    assert set(w) == set(INPUTS) and all(value > 0.9 for value in w.values())
    assert "Kendall's W per round and dimension" in printed and "Not converged: 0" in printed

    alpha = 0.8
    code, graded, _, err = _cli(
        "grade",
        "--set",
        at,
        "--set",
        f"grade.experts.scores={collected['scores']}",
        "--set",
        f"grade.experts.alpha={alpha}",
    )
    assert code == 0, err
    rows = spark.read.parquet(str(ws / "grades")).where(F.col("run_id") == graded["run_id"])
    after = {g.item: g for g in rows.collect()}
    assert set(after) == set(before)  # every item is a node id: nothing expert-only
    fused = after[target.item]
    assert fused.expert_score == 10.0 and fused.experts == 3
    assert fused.final_score == pytest.approx(alpha * 10 + (1 - alpha) * target.patent_score)
    assert fused.final_score > target.final_score and fused.tier in ("Tier 1", "Tier 2")

    code, report, _, err = _cli("report", "--set", at)
    assert code == 0, err
    assert report["grade_run"] == graded["run_id"]
    page = (ws / "report" / "index.html").read_text(encoding="utf-8")
    table = page.split("<table id='expert-agreement'>", 1)[1].split("</table>", 1)[0]
    for dimension in w:
        assert f"<tr><td class='num'>1</td><td>{dimension}</td>" in table
    # the grade stage measured the same agreement on the collected file
    metrics = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}").get_run(graded["run_id"]).data.metrics
    for dimension, value in w.items():
        assert metrics[f"experts.round1.{dimension}.kendall_w"] == pytest.approx(value, abs=1e-4)

    # round 2 from the returned workbooks: the medians come back next to the inputs
    code, second, _, err = _cli("experts", "survey", "--previous", str(returned), "--set", at)
    assert code == 0, err
    assert second["round"] == 2 and second["feedback_round"] == 1
    assert second["grade_run"] == graded["run_id"]  # the newest grade run, as in the report
    sheet = next(s for s in load_workbook(second["survey"]).worksheets if s.title == target.domain)
    columns = {c.value: c.column for c in sheet[1]}
    row = next(r for r in sheet.iter_rows(min_row=2) if r[0].value == target.item)
    assert row[columns["impact round 1 median"] - 1].value == 10.0
    assert row[columns["impact round 1 IQR"] - 1].value == 0.0


def test_round_two_needs_the_round_before_and_collect_needs_workbooks(workspace, tmp_path):
    ws, _ = workspace
    code, _, _, err = _cli("experts", "survey", "--round", "2", "--set", f"paths.workspace={ws}")
    assert code == 1 and err.startswith("techscreen: error: round 2 shows the panel's answers")
    code, _, _, err = _cli("experts", "collect", str(tmp_path))
    assert code == 1 and "no returned questionnaires" in err and err.count("\n") == 1
