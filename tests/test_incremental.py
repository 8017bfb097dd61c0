"""Incremental screening on the bundled sample split in two halves: real Spark, FAISS, HDBSCAN
and MLflow, in-process, as a user runs it.

Two real sources of two domains (nuclear applications → energy, coronavirus patents →
medicine; 240 records each, a small subset so the test stays short) are cut into halves A and
B by a hash of each record (``scripts/split_sample.py``). Then, as the README's commands:

1. ``pipelines/screening.yaml`` on A;
2. ``pipelines/update.yaml`` on A + B: energy keeps its nodes (its drift is under the
   threshold) and takes the new patents, medicine is re-clustered
   (``cluster.update.force_recluster=[medicine]``); the grade stage writes ``tier_changes/``;
3. ``pipelines/update.yaml`` again with every domain re-clustered
   (``force_recluster=true``);
4. ``pipelines/screening.yaml`` on A + B, a fresh clustering.

Steps 1, 3 and 4 stop after grading; in steps 3 and 4 ingest, domains and embedding find
nothing to do (completion markers): the data are those of step 2, so step 4 is the fresh
run on A + B from its clustering on. Every step embeds with the session's static embedder
(``static_embed``): what is checked is the bookkeeping of an update (kept nodes, drift, tier
changes), not the embedding, and it embeds the 480 texts in seconds. That incremental
embedding equals a fresh one is shown by ``tests/test_resume.py`` (an embed killed midway,
then resumed).

Checked: the kept domain's earlier patents stay in their nodes and the logged drift is what
the assignments say; the log lists every item whose tier or score changed — against an
independent pairing of the two gradings' items — each with a reason, and nothing else; the
report shows the section; and with every domain re-clustered the grades equal the fresh
run's: items, labels, tiers and scores.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from conftest import ROOT, run_cli

sys.path.insert(0, str(ROOT / "scripts"))
from split_sample import halves

SOURCES = ["nuclear_g21/applications_G21.csv", "lens/Coronavirus-CPC-based-patents.jsonl"]
PER_SOURCE = 240
MIN_CHANGE = 0.01  # grade.changes.min_score_change (default)
MIN_OVERLAP = 0.3  # grade.changes.min_overlap (default)
FAST = [
    "embed.routes={}",  # one English corpus, one embedder
    "cluster.domains=[energy, medicine]",
    "graph.domains=[energy, medicine]",
    "grade.domains=[energy, medicine]",
    "cluster.update.max_growth=2",  # each domain doubles: let the drift decide
]


def until_grade(pipeline: str, folder: Path) -> Path:
    """A copy of a shipped pipeline file without its report stage."""
    spec = yaml.safe_load((ROOT / "pipelines" / f"{pipeline}.yaml").read_text(encoding="utf-8"))
    spec["stages"] = [s for s in spec["stages"] if s != "report"]
    path = folder / f"{pipeline}-until-grade.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def _run(ws: Path, pipeline: str | Path, inputs: list[Path], embed: list[str], *sets: str) -> dict:
    if isinstance(pipeline, str):
        pipeline = ROOT / "pipelines" / f"{pipeline}.yaml"
    overrides = [
        f"paths.workspace={ws}",
        f"paths.input=[{', '.join(map(str, inputs))}]",
        *FAST,
        *embed,
        *sets,
    ]
    return run_cli(["run", str(pipeline)], overrides)["stages"]


@pytest.fixture(scope="module")
def runs(spark, static_embed, tmp_path_factory):
    root = tmp_path_factory.mktemp("incremental")
    a, b = halves(ROOT / "data" / "sample", root / "input", SOURCES, PER_SOURCE)
    ws = root / "ws"
    out = {"ws": ws}
    out["first"] = _run(ws, until_grade("screening", root), [a], static_embed)
    recluster = "cluster.update.force_recluster=[medicine]"
    out["update"] = _run(ws, "update", [a, b], static_embed, recluster)
    out["page"] = Path(out["update"]["report"]["html"]).read_text(encoding="utf-8")
    out["csv"] = pd.read_csv(out["update"]["report"]["tier_changes"], encoding="utf-8-sig")
    forced = "cluster.update.force_recluster=true"
    out["forced"] = _run(ws, until_grade("update", root), [a, b], static_embed, forced)
    out["fresh"] = _run(ws, until_grade("screening", root), [a, b], static_embed)
    return out


def _rows(spark, ws: Path, table: str, run_id: str) -> pd.DataFrame:
    frame = spark.read.parquet(str(ws / table))
    return frame.where(frame.run_id == run_id).drop("run_id").toPandas()


def _members(spark, ws: Path, cluster_run: str) -> pd.DataFrame:
    rows = _rows(spark, ws, "assignments", cluster_run)
    return rows[rows.node >= 0][["domain", "publication_number", "node_id"]]


def test_the_kept_domain_keeps_its_nodes_and_logs_its_drift(spark, runs):
    ws, first, update = runs["ws"], runs["first"]["cluster"], runs["update"]["cluster"]
    before = _rows(spark, ws, "assignments", first["run_id"])
    after = _rows(spark, ws, "assignments", update["run_id"])
    for frame in (before, after):
        frame.set_index(["domain", "publication_number"], inplace=True)
    energy, now = before.loc["energy"], after.loc["energy"]
    assert now.loc[energy.index, "node"].tolist() == energy.node.tolist()  # same nodes
    new = now.drop(energy.index).query("status != 'no_vector'")
    assert len(new) > 50 and (new.node >= 0).sum() > 0.5 * len(new)
    old = energy.query("status != 'no_vector'")
    drift = (new.node < 0).mean() - (old.node < 0).mean()
    figures = update["domains"]["energy"]["update"]
    assert figures["new_patents"] == len(new) and figures["assigned"] == (new.node >= 0).sum()
    assert figures["drift"] == pytest.approx(drift, abs=1e-4) and figures["reclustered"] == 0
    assert update["domains"]["medicine"]["update"]["reclustered"] == 1
    assert set(update["reclustered"]) == {"medicine"}
    run = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}").get_run(update["run_id"])
    assert run.data.metrics["energy.update.drift"] == pytest.approx(drift, abs=1e-4)
    assert run.data.tags["techscreen.model.energy"] == first["run_id"]  # fitted in run 1
    assert run.data.tags["techscreen.model.medicine"] == update["run_id"]
    nodes = _rows(spark, ws, "nodes", update["run_id"])
    assert sorted(nodes[nodes.domain == "energy"].node_id) == sorted(
        _rows(spark, ws, "nodes", first["run_id"]).query("domain == 'energy'").node_id
    )


def _pairs(spark, ws: Path, before: dict, after: dict) -> dict[str, str]:
    """Previous item → current item, computed here from the two runs' tables: the same id in
    the kept domain (energy), one-to-one greedy by Jaccard ≥ 0.3 in the re-clustered one."""
    old, new = (
        _members(spark, ws, s["cluster"]["run_id"]).query("domain == 'medicine'")
        for s in (before, after)
    )
    shared = old.merge(new, on=["domain", "publication_number"]).groupby(["node_id_x", "node_id_y"])
    sizes_old, sizes_new = old.node_id.value_counts(), new.node_id.value_counts()
    scored = sorted(
        (n / (sizes_old[o] + sizes_new[c] - n), o, c) for (o, c), n in shared.size().items()
    )
    pairs: dict[str, str] = {}
    for jaccard, o, c in sorted(scored, key=lambda s: (-s[0], s[1], s[2])):
        if jaccard >= MIN_OVERLAP and o not in pairs and c not in pairs.values():
            pairs[o] = c
    energy = _rows(spark, ws, "grades", before["grade"]["run_id"]).query("domain == 'energy'")
    current = set(_rows(spark, ws, "grades", after["grade"]["run_id"]).item)
    pairs.update({i: i for i in energy.item if i in current})
    return pairs


def test_the_log_lists_every_change_with_a_reason(spark, runs):
    ws, first, update = runs["ws"], runs["first"], runs["update"]
    grade_run = update["grade"]["run_id"]
    old = _rows(spark, ws, "grades", first["grade"]["run_id"]).set_index("item")
    new = _rows(spark, ws, "grades", grade_run).set_index("item")
    changes = _rows(spark, ws, "tier_changes", grade_run)
    pairs = _pairs(spark, ws, first, update)
    expected = set()  # (item, change); a dissolved node is named by its previous id
    for o, c in pairs.items():
        a, b = old.loc[o], new.loc[c]
        if a.tier != b.tier or abs(b.final_score - a.final_score) >= MIN_CHANGE:
            expected.add((c, "tier" if a.tier != b.tier else "score"))
    expected |= {(c, "new") for c in new.index if c not in pairs.values()}
    expected |= {(o, "dissolved") for o in old.index if o not in pairs}
    assert set(zip(changes.item, changes.change, strict=True)) == expected
    assert len(changes) == len(expected) >= 5
    assert any(change == "new" for _, change in expected)  # medicine was re-clustered
    for r in changes.itertuples():
        assert r.why and r.previous_run == first["grade"]["run_id"]
        if r.change in ("tier", "score"):
            a, b = old.loc[r.previous_item], new.loc[r.item]
            assert pairs[r.previous_item] == r.item
            assert (r.previous_tier, r.tier) == (a.tier, b.tier)
            assert r.score - r.previous_score == pytest.approx(b.final_score - a.final_score)
            assert len(r.moved) > 0 and r.moved[0] in r.why
            moved = {d: abs(b[d] - a[d]) for d in ("necessity", "feasibility", "impact")}
            assert max(moved, key=moved.get) in r.why  # the dimension that moved most
            assert r.matched_by == ("id" if r.domain == "energy" else "overlap")
            if r.matched_by == "overlap":
                assert r.jaccard >= MIN_OVERLAP and "re-clustered" in r.why
    summary = update["grade"]["tier_changes"]
    assert summary["listed"] == len(changes) and summary["previous_run"] == first["grade"]["run_id"]


def test_the_report_shows_the_changes(runs):
    page, exported = runs["page"], runs["csv"]
    assert "Changes since the previous screening" in page and "id='tier-changes'" in page
    assert "id='cluster-update'" in page and "clustered afresh" in page and "nodes kept" in page
    assert len(exported) == runs["update"]["grade"]["tier_changes"]["listed"]
    assert {"item", "previous_tier", "tier", "previous_score", "score", "why"} <= set(exported)


def test_with_every_domain_reclustered_the_grades_equal_a_fresh_run(spark, runs):
    forced, fresh = runs["forced"], runs["fresh"]
    for run in (forced, fresh):
        assert all(run[s].get("resumed") for s in ("ingest", "domains", "embed"))
    assert set(forced["cluster"]["reclustered"]) == {"energy", "medicine"}
    assert "reclustered" not in fresh["cluster"]  # not in update mode
    mine = _rows(spark, runs["ws"], "grades", forced["grade"]["run_id"]).set_index("item")
    theirs = _rows(spark, runs["ws"], "grades", fresh["grade"]["run_id"]).set_index("item")
    assert sorted(mine.index) == sorted(theirs.index) and len(mine) >= 10
    for item, a in mine.iterrows():
        b = theirs.loc[item]
        assert (a.tier, a.patents, a.label) == (b.tier, b.patents, b.label), item
        for column in ("final_score", "patent_score", "necessity", "feasibility", "impact"):
            assert a[column] == pytest.approx(b[column], abs=1e-9), (item, column)
        scores_a, scores_b = dict(a.scores), dict(b.scores)
        assert scores_a.keys() == scores_b.keys()
        assert all(math.isclose(scores_a[k], scores_b[k], abs_tol=1e-9) for k in scores_a)
    # graded against the forced run (nodes matched by overlap: two fits), nothing changed
    assert fresh["grade"]["tier_changes"]["listed"] == 0
    assert _rows(spark, runs["ws"], "tier_changes", fresh["grade"]["run_id"]).empty
