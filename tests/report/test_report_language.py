"""The report's language (``report.language: en | zh``): node labels and class titles."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from pyspark.sql import functions as F
from test_report_pure import _grade, _inputs, _items, _node, _parse

from conftest import ROOT
from techscreen.cluster.labels import ClassTitles, keywords_in, label_text, short_title
from techscreen.config import load_settings, workspace
from techscreen.report import ReportOptions, export_frame, render
from techscreen.report.data import localise, node_labels
from techscreen.stages import Context
from techscreen.stages.report import run_report
from techscreen.tracking import Tracker, tracking_uri

HAN = re.compile("[\u3400-\u9fff]")


@pytest.fixture(scope="module")
def titles() -> ClassTitles:
    ref = ROOT / "data" / "reference"
    return ClassTitles.load(ref / "ipc_titles.tsv.gz", ref / "cpc_titles.tsv.gz")


def _code(titles: ClassTitles, code: str, count: int) -> dict:
    zh = titles.ipc_zh.get(code)
    return {"code": code, "count": count, "share": count / 40, "title": titles.title(code)} | {
        "title_zh": zh
    }


def _language_inputs(titles: ClassTitles, language: str):
    grades = [
        _grade("energy:0", "energy", "heat pump", 7.0, "Tier 2"),
        _grade("energy:1", "energy", "余热 · 烟气", 6.0, "Tier 3"),
        _grade("energy:2", "energy", "wind", 5.0, "Tier 3"),
        _grade("solar roofs", "energy", "solar roofs", 9.0, "Tier 1", kind="expert_only"),
    ]
    # English keywords (from English text and translations) and Chinese ones, per node
    kw = {
        "energy:0": ["heat pump", "heat", "pump", "refrigerant"],
        "energy:1": ["waste heat", "flue gas"],
        "energy:2": ["wind", "rotor"],
    }
    kw_zh = {"energy:0": [], "energy:1": ["余热", "回收", "余热 回收", "烟气"], "energy:2": []}
    codes = {
        "energy:0": [_code(titles, "F25B 30/00", 30), _code(titles, "F25B", 3)],
        "energy:1": [_code(titles, "F27D 17/00", 35)],
        "energy:2": [_code(titles, "Y02E 10/00", 20)],  # CPC only: no Chinese title
    }
    nodes = [
        _node(g["item"], "energy", g["label"], 40, [1.0, i, 0.5 * i])
        | {"keywords": [{"term": t, "score": 1.0} for t in kw[g["item"]]]}
        | {"keywords_zh": [{"term": t, "score": 1.0} for t in kw_zh[g["item"]]]}
        | {"codes": codes[g["item"]], "languages": {"en": 40}}
        for i, g in enumerate(grades[:3])
    ]
    inputs = _inputs(
        grades,
        ["energy"],
        nodes=nodes,
        options=ReportOptions(language=language),
        codes=pd.DataFrame(
            [
                {
                    "domain": "energy",
                    "vertex": "F27D",
                    "label": titles.title("F27D"),
                    "patents": 35,
                    "degree": 3,
                    "strength": 2.0,
                    "pagerank": 0.3,
                    "betweenness": 0.1,
                }
            ]
        ),
        domain_stats={"energy": {"patents": 120.0, "languages": {"en": 120}}},
    )
    code_titles = {"F27D": titles.title("F27D", "zh")} if language == "zh" else None
    return localise(inputs, code_titles)


def test_a_chinese_report_shows_chinese_class_titles(titles):
    inputs = _language_inputs(titles, "zh")
    page = render(inputs)
    assert page.startswith("<!DOCTYPE html>\n<html lang='zh-Hans'>")
    rows = _items(_parse(page), "energy")
    labels = {row[1]: row[0] for row in rows}
    # no Chinese text in the node: its class's Chinese title alone, no English keyword
    assert labels["energy:0"] == "热泵"
    assert labels["energy:1"] == "余热回收 · 烟气 — 利用余热的装置"
    y02e = short_title(titles.title("Y02E 10/00"))
    assert labels["energy:2"] == y02e  # no Chinese text nor title: the English title alone
    assert rows[0][0].startswith("solar roofs")  # an expert-only item is untouched
    # the label and title columns are headed in Chinese; the code table has Chinese titles
    assert "<th>技术</th>" in page and "<th>标签</th>" in page and "<th>分类名称</th>" in page
    assert f"<td>{titles.title('F27D', 'zh')}</td>" in page
    # the node tables and the network vertices carry the same labels as the tier table
    assert "<td>余热回收 · 烟气 — 利用余热的装置</td>" in page  # the node-languages table
    assert set(inputs.centrality["label"]) == {labels[f"energy:{i}"] for i in range(3)}
    assert set(inputs.nodes["label"]) == set(inputs.centrality["label"])
    # the exports say what the page says
    flat = export_frame(inputs.grades, "r1").set_index("item")["label"]
    assert flat["energy:1"] == labels["energy:1"]


def test_an_english_report_shows_english_class_titles(titles):
    page = render(_language_inputs(titles, "en"))
    assert page.startswith("<!DOCTYPE html>\n<html lang='en'>")
    labels = {row[1]: row[0] for row in _items(_parse(page), "energy")}
    assert labels["energy:0"] == "heat pump · refrigerant — Heat pumps"
    assert labels["energy:1"] == "waste heat · flue gas — Arrangement for using waste heat"
    assert "利用余热的装置" not in page and "热泵" not in page and "余热" not in page
    assert "<th>Technology</th>" in page and "<th>Title</th>" in page


def test_render_localises_by_itself_and_twice_is_the_same(titles):
    once = _language_inputs(titles, "zh")
    raw = _inputs(
        list(once.grades.to_dict("records")),
        ["energy"],
        nodes=list(once.nodes.to_dict("records")),
        options=ReportOptions(language="zh"),
    )
    assert node_labels(raw.nodes, "zh", 3) == node_labels(once.nodes, "zh", 3)
    labels = {row[1]: row[0] for row in _items(_parse(render(raw)), "energy")}
    assert labels["energy:1"] == "余热回收 · 烟气 — 利用余热的装置"


def test_a_table_without_chinese_keywords_still_gives_one_language_labels(titles):
    """Older runs held every language in ``keywords``: each label keeps its own script."""
    nodes = pd.DataFrame(
        [
            {
                "node_id": "energy:1",
                "keywords": [{"term": t, "score": 1.0} for t in ("replikin", "牵引", "peptides")],
                "codes": [_code(titles, "F27D 17/00", 35)],
            }
        ]
    )
    en, zh = node_labels(nodes, "en", 3), node_labels(nodes, "zh", 3)
    assert en["energy:1"] == "replikin · peptides — Arrangement for using waste heat"
    assert zh["energy:1"] == "牵引 — 利用余热的装置"


def test_nodes_without_keywords_and_codes_keep_their_labels():
    grades = [_grade("energy:0", "energy", "stored label", 7.0, "Tier 2")]
    inputs = _inputs(grades, ["energy"], options=ReportOptions(language="zh"))
    assert node_labels(inputs.nodes, "zh", 3) == {}
    assert localise(inputs) is inputs
    assert _items(_parse(render(inputs)), "energy")[0][0] == "stored label"
    # keywords and codes present but empty: what the cluster stage calls "unlabelled"
    nodes = [_node("energy:0", "energy", "x", 4, [1, 0]) | {"keywords": [], "codes": None}]
    assert node_labels(pd.DataFrame(nodes), "zh", 3) == {"energy:0": "unlabelled"}


# --- the report stage on the sample screening -------------------------------------------------


def test_the_report_stage_in_chinese(spark, screening):
    ws, summary = screening
    settings = load_settings(ROOT / "conf", None, [f"paths.workspace={ws}", "report.language=zh"])
    ctx = Context(settings, spark, Tracker.from_settings(settings.mlflow, workspace(settings)))
    with ctx.tracker.parent("report"):
        out = run_report(ctx)
    page = Path(out["html"]).read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>\n<html lang='zh-Hans'>")
    nodes = (
        spark.read.parquet(str(ws / "nodes"))
        .where(F.col("run_id") == summary["stages"]["cluster"]["run_id"])
        .select("node_id", "label", "keywords", "keywords_zh", "codes")
        .collect()
    )
    flat = pd.read_parquet(out["parquet"]).set_index("item")
    graded = [n for n in nodes if n["node_id"] in flat.index]
    assert graded
    chinese_titles = 0
    for n in graded:
        own = keywords_in("zh", n["keywords"], n["keywords_zh"])
        expected = label_text(own, n["codes"], 3, lang="zh", with_title=True)
        if own:  # Chinese keywords only, never an English one
            assert not re.search("[A-Za-z]", expected.split(" — ")[0]), expected
        assert flat.loc[n["node_id"], "label"] == expected  # the export, as on the page
        assert f"<td>{html.escape(expected)}</td>" in page  # its tier-table cell
        top = n["codes"][0] if n["codes"] else None
        if top is not None and top["title_zh"] and n["keywords_zh"]:
            assert expected.endswith(short_title(top["title_zh"]))
            chinese_titles += 1
    assert chinese_titles > 0 and HAN.search(page)
    run = MlflowClient(tracking_uri(settings.mlflow, workspace(settings))).get_run(out["run_id"])
    assert run.data.params["report.language"] == "zh"
