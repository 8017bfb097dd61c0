"""Chinese node labels: segmented keywords, Chinese class titles, labels in either language."""

from __future__ import annotations

import csv
import gzip
import json
import re

import pytest
from pyspark.sql import Row
from pyspark.sql import functions as F

from conftest import ROOT
from techscreen.cluster.labels import (
    ZH_STOPWORDS,
    ClassTitles,
    code_title,
    han_terms,
    label_text,
    node_codes,
    node_keywords,
    short_title,
)
from techscreen.config import LabelSettings

IPC = ROOT / "data" / "reference" / "ipc_titles.tsv.gz"
CPC = ROOT / "data" / "reference" / "cpc_titles.tsv.gz"
HAN = re.compile("[\u3400-\u9fff]")
ONE_HAN = re.compile("[\u3400-\u9fff]")


def _cn_agri() -> list[dict[str, str]]:
    path = ROOT / "data" / "sample" / "cn_agri" / "cn_agri_a01_abstracts.csv"
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _waste_heat_cn() -> list[dict]:
    path = ROOT / "data" / "sample" / "waste_heat" / "waste_heat_recovery_abstracts.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return [r for r in rows if r["country"] == "CN"]


@pytest.fixture(scope="module")
def titles() -> ClassTitles:
    return ClassTitles.load(IPC, CPC)


# --- segmentation (pure Python, what the executors run) -------------------------------------


def test_a_real_chinese_abstract_gives_words_not_characters():
    # CN03103699.6 "耕耘机" (a tiller) of the bundled cn_agri sample
    (row,) = [r for r in _cn_agri() if r["application_number"] == "CN03103699.6"]
    terms = han_terms(row["title"] + "。" + row["abstract"])
    words = [t for t in terms if " " not in t]
    assert {"耕耘机", "发动机", "螺栓", "转轴", "传动"} <= set(words)
    assert all(len(w) >= 2 and HAN.search(w) for w in words)  # no single characters
    assert not set(words) & {"包括", "所说", "一种", "这些", "从而", "使得"}  # stopwords
    assert words.count("螺栓") == 5  # repeats are kept: they are counted
    # two kept words side by side make a phrase; a dropped word or punctuation breaks it
    assert "传动 机构" in terms and "保护 元件" in terms
    assert "耕耘机 发动机" not in terms  # "耕耘机，它包括：一发动机": not adjacent


def test_traditional_characters_give_the_simplified_words():
    terms = han_terms("一種熱交換器，所述換熱器包括餘熱回收裝置。")
    assert terms == ["热交换器", "换热器", "余热", "回收", "余热 回收"]
    assert han_terms("餘熱回收") == han_terms("余热回收")


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "   ",
        "，。；：（）【】！？、“”",  # full-width punctuation only
        "（１）（２）１２３４",  # full-width digits and brackets
        "的了和与及或其",  # single function characters
        "本发明所述一种装置",  # boilerplate only
        "lithium-ion battery, ＣＯ２",  # no Han at all
    ],
)
def test_text_without_chinese_words_gives_no_terms(text):
    assert han_terms(text) == []


def test_mixed_script_keeps_only_chinese_words_and_never_empty_strings():
    terms = han_terms("ＣＯ２气体经过锂离子电池（Li-ion battery）；ＰＬＣ控制器控制阀门。")
    assert {"气体", "锂离子", "电池", "控制器", "阀门"} <= set(terms)
    assert all(t and t == t.strip() and HAN.search(t) for t in terms)
    assert all(len(w) >= 2 for t in terms for w in t.split())
    assert not any(re.search("[A-Za-z0-9Ａ-Ｚａ-ｚ０-９]", t) for t in terms)


# --- keywords in Spark --------------------------------------------------------------------


@pytest.fixture(scope="module")
def zh_keywords(spark):
    heat = [r for r in _waste_heat_cn() if any(g.startswith("F27D") for g in r["ipc_groups"])]
    brake = [r for r in _waste_heat_cn() if any(g.startswith("B60L") for g in r["ipc_groups"])]
    soil = [r for r in _cn_agri() if r["ipc_subclass"] == "A01B"]
    rows = (
        [("heat", "zh", None, r["abstract"]) for r in heat]
        + [("brake", "zh", None, r["abstract"]) for r in brake]
        + [("soil", "zh", r["title"], r["abstract"]) for r in soil]
        # traditional script and bad input in a node of their own
        + [("odd", "zh", "餘熱回收裝置", "一種換熱器，所述換熱器包括餘熱回收裝置。")] * 2
        + [("odd", "zh", "", "，。；：（）"), ("odd", "zh", None, "")]
        + [("odd", "zh", "ＣＯ２", "ＰＬＣ（１）")]
        + [("english", "en", "Heat exchanger", "A heat exchanger recovers waste heat.")] * 2
    )
    assert len(heat) > 50 and len(brake) > 20 and len(soil) > 50
    docs = spark.createDataFrame(
        rows, "node_key string, lang string, title string, abstract string"
    )
    got = node_keywords(docs, LabelSettings(keywords=10, min_term_count=2))
    return {r["node_key"]: [k["term"] for k in r["keywords"]] for r in got}


def test_chinese_nodes_get_word_keywords(zh_keywords):
    heat, brake, soil = zh_keywords["heat"], zh_keywords["brake"], zh_keywords["soil"]
    assert len(heat) == len(brake) == len(soil) == 10
    assert {"余热", "烟气"} & set(heat[:5]), heat
    assert "制动" in brake[:3], brake
    assert {"耕作", "旋耕", "土壤", "整地", "耕整"} & set(soil[:5]), soil
    for node in ("heat", "brake", "soil"):
        for term in zh_keywords[node]:
            parts = term.split(" ")
            assert all(len(p) >= 2 and HAN.search(p) for p in parts), (node, term)
            assert not set(parts) & ZH_STOPWORDS, (node, term)


def test_traditional_and_bad_input_in_spark(zh_keywords):
    odd = zh_keywords["odd"]
    assert {"余热", "换热器", "余热 回收"} <= set(odd)
    assert not any(HAN.search(t) and re.search("[餘熱換裝]", t) for t in odd)  # simplified
    every = [t for terms in zh_keywords.values() for t in terms]
    assert all(t and t.strip() == t for t in every)  # no empty or padded terms
    assert not [t for t in every if len(t) == 1 and ONE_HAN.match(t)]
    # English text is tokenised as before: words and bigrams, no Chinese
    assert {"heat", "exchanger", "heat exchanger"} <= set(zh_keywords["english"])


def test_a_chinese_node_label_is_chinese_words(zh_keywords):
    label = label_text(zh_keywords["heat"], [], 3, lang="zh")
    parts = label.split(" · ")
    assert len(parts) == 3 and all(HAN.search(p) and len(p) >= 2 for p in parts)
    assert " " not in label.replace(" · ", "")  # phrases are shown without the inner space


# --- Chinese class titles on node codes ------------------------------------------------------


def test_node_codes_carry_english_and_chinese_titles(spark, titles):
    patents = spark.createDataFrame(
        [
            ("a", ["A01B 1/02"], []),
            ("a", ["A01B 1/04", "A01B 99/00"], []),
            ("a", ["F27D 17/00"], ["Y02E 10/00"]),
            ("b", ["A01B"], None),
        ],
        "node_key string, ipc_codes array<string>, cpc_codes array<string>",
    )
    got = {r["node_key"]: r["codes"] for r in node_codes(patents, titles, top_n=5).collect()}
    a = {c["code"]: c for c in got["a"]}
    # looked up by eye in the CNIPA table: A01B 1/00 手动工具 (Hand tools)
    assert (a["A01B 1/00"]["title"], a["A01B 1/00"]["title_zh"]) == ("Hand tools", "手动工具")
    assert a["F27D 17/00"]["title_zh"].startswith("利用余热的装置")
    assert "renewable" in a["Y02E 10/00"]["title"].lower()
    assert a["Y02E 10/00"]["title_zh"] is None  # CPC-only: no Chinese title
    (b,) = got["b"]
    assert b["title_zh"] == "农业或林业的整地；一般农业机械或农具的部件、零件或附件"
    assert b["title"].startswith("SOIL WORKING IN AGRICULTURE OR FORESTRY")


# --- labels in either language -------------------------------------------------------------


CODES = [
    {"code": "F27D 17/00", "count": 9, "share": 0.9, "title": "Arrangement for using waste heat"}
    | {"title_zh": "利用余热的装置；利用或处理废气的装置"},
    {"code": "A01B", "count": 1, "share": 0.1, "title": "SOIL WORKING", "title_zh": "整地"},
]


def test_label_with_title_in_each_language():
    kw = ["余热", "回收", "余热 回收", "烟气"]
    assert label_text(kw, CODES, 3, lang="zh") == "余热回收 · 烟气"  # stored label: no title
    assert (
        label_text(kw, CODES, 3, lang="zh", with_title=True) == "余热回收 · 烟气 — 利用余热的装置"
    )
    # Chinese keywords never enter an English label: the code title alone
    assert label_text(kw, CODES, 3) == "Arrangement for using waste heat"
    assert label_text(kw, CODES, 3, with_title=True) == "Arrangement for using waste heat"
    # nor English ones a Chinese label
    mixed = ["heat pump", "余热", "refrigerant", "烟气"]
    assert label_text(mixed, CODES, 3, lang="zh") == "余热 · 烟气"
    assert label_text(mixed, CODES, 3, lang="en") == "heat pump · refrigerant"
    assert label_text([], CODES, 3, lang="zh") == "利用余热的装置；利用或处理废气的装置"
    assert label_text(None, None, 3, lang="zh", with_title=True) == "unlabelled"


def test_code_title_falls_back_from_chinese_to_english_to_code():
    assert code_title(CODES[0], "zh") == "利用余热的装置；利用或处理废气的装置"
    no_zh = {"code": "Y02E 10/00", "title": "Energy generation", "title_zh": None}
    assert code_title(no_zh, "zh") == code_title(no_zh) == "Energy generation"
    assert code_title({"code": "Q99Q 1/00", "title": None, "title_zh": None}, "zh") == "Q99Q 1/00"
    # a Row of an older nodes/ table, without the title_zh field
    old = Row(code="H01M 10/00", count=3, share=0.5, title="Secondary cells; Manufacture")
    assert code_title(old, "zh") == "Secondary cells; Manufacture"
    # Chinese keywords keep their label Chinese: a class without a Chinese title adds none
    assert label_text(["电池"], [old], 3, lang="zh", with_title=True) == "电池"
    # without keywords in the language a node still needs a name: the English title
    assert label_text([], [old], 3, lang="zh", with_title=True) == "Secondary cells"


def test_a_chinese_label_takes_the_first_class_with_a_chinese_title(titles):
    """A CPC-only top code (Y02T: no Chinese title) gives way to the next class in Chinese."""
    codes = [
        {"code": "Y02T 10/00", "title": titles.title("Y02T 10/00"), "title_zh": None},
        {"code": "B60L 7/00", "title": titles.title("B60L 7/00")}
        | {"title_zh": titles.title("B60L 7/00", "zh")},
    ]
    zh_title = short_title(titles.title("B60L 7/00", "zh"))
    assert HAN.search(zh_title)
    assert label_text([], codes, 3, lang="zh", with_title=True) == zh_title
    assert label_text(["制动"], codes, 3, lang="zh", with_title=True) == f"制动 — {zh_title}"
    # in English the top code's own title
    assert label_text([], codes, 3, with_title=True) == short_title(titles.title("Y02T 10/00"))


def test_short_titles(titles):
    assert short_title(titles.title("A01B")) == "Soil working in agriculture or forestry"
    assert short_title(titles.title("A01B", "zh")) == "农业或林业的整地"
    assert short_title(titles.title("F28D", "zh")) == "热交换设备，其中热交换介质不直接接触的"
    assert short_title(titles.title("C22C 38/00")) == "Ferrous alloys"  # "e.g." tail cut
    assert titles.title("F27D 17/00").startswith("Arrangement for using waste heat (heat-")
    assert short_title(titles.title("F27D 17/00")) == "Arrangement for using waste heat"
    long = short_title(titles.title("F28D 7/00", "zh"))
    assert long.endswith("…") and len(long) <= 24
    assert short_title("H01M 10/00") == "H01M 10/00" and short_title(None) == ""


# --- the sample screening: Chinese nodes of a real clustering --------------------------------


def test_sample_nodes_have_chinese_word_keywords_and_chinese_titles(spark, screening):
    ws, summary = screening
    nodes = spark.read.parquet(str(ws / "nodes")).where(
        F.col("run_id") == summary["stages"]["cluster"]["run_id"]
    )
    rows = nodes.select("node_id", "languages", "keywords", "keywords_zh", "codes").collect()
    chinese = [r for r in rows if r["languages"].get("zh", 0) > 0.5 * sum(r["languages"].values())]
    assert chinese, "the sample has Chinese-majority nodes"
    for r in chinese:
        terms = [k["term"] for k in r["keywords_zh"]]
        assert terms, r["node_id"]
        assert all(HAN.search(t) and not re.search("[A-Za-z]", t) for t in terms), terms
        assert all(len(p) >= 2 for t in terms for p in t.split(" ")), (r["node_id"], terms)
    # English keywords are English: no Han character in any node's
    assert not [k["term"] for r in rows for k in r["keywords"] if HAN.search(k["term"])]
    codes = [c for r in rows for c in r["codes"]]
    assert any(c["title_zh"] and HAN.search(c["title_zh"]) for c in codes)
    assert all(c["title_zh"] is None or HAN.search(c["title_zh"]) for c in codes)
