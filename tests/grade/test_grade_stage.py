"""The grade stage on the bundled sample: provenance back to patents and runs, experts, AHP."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import shutil
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from pyspark.sql import functions as F

from conftest import ROOT
from techscreen.cli import main
from techscreen.config import DIMENSIONS, GradeSettings
from techscreen.grade import scoring
from techscreen.grade.scoring import tier


def _grade(ws, *sets):
    out, err = io.StringIO(), io.StringIO()
    args = ["grade", "--conf-dir", str(ROOT / "conf"), "--set", f"paths.workspace={ws}"]
    for s in sets:
        args += ["--set", s]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    lines = out.getvalue().strip().splitlines()
    return code, (json.loads(lines[-1]) if code == 0 else None), err.getvalue()


@pytest.fixture(scope="module")
def graded(screening):
    ws, summary = screening
    return ws, summary["stages"]


def _rows(spark, ws, table, run_id):
    return spark.read.parquet(str(ws / table)).where(F.col("run_id") == run_id)


def test_every_node_is_graded_once_with_a_consistent_tier(spark, graded):
    ws, stages = graded
    grades = _rows(spark, ws, "grades", stages["grade"]["run_id"]).collect()
    nodes = _rows(spark, ws, "nodes", stages["cluster"]["run_id"]).collect()
    assert sorted(g.item for g in grades) == sorted(n.node_id for n in nodes)
    for g in grades:
        expected = (
            "Tier 1" if g.final_score > 8.5 else "Tier 3" if g.final_score < 6.5 else "Tier 2"
        )
        assert g.tier == expected
        assert 0 <= g.final_score <= 10 and g.final_score == pytest.approx(g.patent_score)
        assert g.p_tier1 + g.p_tier2 + g.p_tier3 == pytest.approx(1.0)
        assert 0 <= g.score_p05 <= g.score_p95 <= 10
        assert set(g.scores) >= {"centrality", "cn_share", "forward_citations", "size"}
        assert all(0 <= v <= 10 for v in g.scores.values())
        # The sample has no family ids: family size is neutral and says so.
        assert "family_size" in g.neutral
        # The domain references travel with the raw values they anchor.
        assert g.indicators["ref_size"] > 0 and "ref_forward_citations" in g.indicators
        # The move to the next tier crosses, on any one of the dimensions it names.
        if g.next_tier is not None:
            assert g.next_tier != g.tier and set(g.next_tier_dimensions) <= set(DIMENSIONS)
            moved = g.final_score + g.next_tier_change / 3 + 1e-9 * (g.next_tier_change > 0 or -1)
            assert tier(moved, GradeSettings()) == g.next_tier
            for d in g.next_tier_dimensions:
                assert 0 <= getattr(g, d) + g.next_tier_change <= 10
        else:
            assert g.next_tier_dimensions == [] and g.next_tier_change is None
    assert sum(stages["grade"]["tiers"].values()) == len(grades)
    assert any(g.next_tier for g in grades)


def test_a_grade_leads_back_to_its_patents_and_to_every_run_behind_it(spark, graded):
    ws, stages = graded
    grade = (
        _rows(spark, ws, "grades", stages["grade"]["run_id"]).orderBy(F.desc("final_score")).first()
    )
    lineage = grade.lineage
    assert lineage["cluster"] == stages["cluster"]["run_id"]
    assert lineage["graph"] == stages["graph"]["run_id"]
    assert lineage["embed"] == stages["embed"]["run_id"]
    assert lineage["ingest"] == stages["ingest"]["run_id"]
    client = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}")
    for stage, run_id in lineage.items():
        run = client.get_run(run_id)
        assert run.data.tags["techscreen.stage"] == stage and run.info.status == "FINISHED"
    # One query from the grade to its patents: the node's members in the clustering run.
    members = (
        _rows(spark, ws, "assignments", lineage["cluster"])
        .where(F.col("node_id").isin(grade.node_ids))
        .join(spark.read.parquet(str(ws / "patents")), "publication_number")
    )
    assert members.count() == grade.patents > 0
    representatives = set(grade.top_patents)
    assert representatives and representatives <= {r.publication_number for r in members.collect()}


def test_experts_are_fused_nominations_matched_and_bad_rows_reported(spark, graded, tmp_path):
    ws = tmp_path / "ws"  # a copy: the screening workspace's newest grade run stays the pipeline's
    shutil.copytree(graded[0], ws)
    stages = graded[1]
    nodes = _rows(spark, ws, "nodes", stages["cluster"]["run_id"]).orderBy("node_id").collect()
    scored, labelled = nodes[0], nodes[1]
    path = tmp_path / "experts.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["round", "expert", "item", "dimension", "score", "comment"])
        for expert, score in (("e1", 9.0), ("e2", 10.0)):
            w.writerow([1, expert, scored.node_id, "overall", score, ""])
        w.writerow([1, "e1", labelled.label.replace(" · ", " "), "overall", 7.0, "by its label"])
        w.writerow([1, "e1", "quantum gravimeter for submarines", "overall", 8.0, "nominated"])
        w.writerow([1, "e2", scored.node_id, "overall", 11, "out of range"])
    code, result, err = _grade(ws, f"grade.experts.scores={path}", "grade.experts.alpha=0.6")
    assert code == 0, err
    grades = {g.item: g for g in _rows(spark, ws, "grades", result["run_id"]).collect()}
    fused = grades[scored.node_id]
    assert fused.expert_score == pytest.approx(9.5) and fused.experts == 2
    assert fused.final_score == pytest.approx(0.6 * 9.5 + 0.4 * fused.patent_score)
    assert grades[labelled.node_id].expert_score == pytest.approx(7.0)
    only = grades["quantum gravimeter for submarines"]
    assert only.kind == "expert_only" and only.final_score == 8.0 and only.tier == "Tier 2"
    assert only.patent_score is None and only.node_ids == []
    client = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}")
    metrics = client.get_run(result["run_id"]).data.metrics
    assert metrics["experts.rows"] == 4 and metrics["experts.rejected"] == 1
    rejected = client.download_artifacts(
        result["run_id"], "experts/experts_rejected.csv", str(tmp_path)
    )
    assert "score_out_of_range" in Path(rejected).read_text(encoding="utf-8-sig")


def test_an_inconsistent_ahp_matrix_fails_before_any_work(graded, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(graded[0], ws)
    before = sorted(p.name for p in (ws / "grades").iterdir())
    code, _, err = _grade(ws, "grade.ahp=[[1, 9, 0.1111111], [0.1111111, 1, 9], [9, 0.1111111, 1]]")
    assert code == 1
    assert "consistency ratio" in err and "techscreen: error:" in err
    assert sorted(p.name for p in (ws / "grades").iterdir()) == before


def test_the_registered_grader_re_grades_the_indicators(spark, graded):
    import mlflow.pyfunc

    ws, stages = graded
    uri = f"sqlite:///{ws / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    run_id = stages["grade"]["run_id"]
    assert stages["grade"]["grader"].startswith("models:/techscreen-grader/")
    model = mlflow.pyfunc.load_model(stages["grade"]["grader"])
    indicators = _rows(spark, ws, "indicators", run_id).drop("run_id").toPandas()
    again = model.predict(indicators).set_index("item")
    grades = {g.item: g for g in _rows(spark, ws, "grades", run_id).collect()}
    assert set(again.index) == set(grades)
    for item, g in grades.items():
        assert again.loc[item, "patent_score"] == pytest.approx(g.patent_score, abs=1e-9)
        assert again.loc[item, "tier"] == g.tier
    assert {"ref_forward_citations", "ref_size", "ref_growth"} <= set(indicators.columns)
    # New indicators, new grades: a node leading (领跑) on every anchor is Tier 1.
    best = indicators[indicators.domain == "energy"].copy()
    top = best.index[best.ref_growth.notna()][0]
    shares = ("centrality", "cn_share", "substitutes", "maturity", "generality")
    best.loc[top, list(shares)] = 1.0
    best.loc[top, ["cn_rta", "cn_lead"]] = 4.0
    best.loc[top, "strategic_weight"] = 10.0
    for name in ("forward_citations", "size"):
        best.loc[top, name] = 4 * best.loc[top, f"ref_{name}"]
    best.loc[top, "growth"] = best.loc[top, "ref_growth"] + math.log(4)
    regraded = model.predict(best).set_index("item").loc[best.loc[top, "item"]]
    # Family size has no data in the sample (neutral 5): impact .3·10 + .2·5 + .2·10 + .3·10.
    assert regraded["patent_score"] == pytest.approx((10 + 10 + 9) / 3)
    assert regraded["tier"] == "Tier 1" and regraded["next_tier"] == "Tier 2"
    # The same node graded by rank instead: only its place in the domain counts.
    ranked = GradeSettings(normalisation="rank")
    assert (
        scoring.score(best, ranked).set_index("item").loc[best.loc[top, "item"], "score.size"] == 10
    )
