"""Node keywords and labels in one language at a time (English, Chinese), on the real sample."""

from __future__ import annotations

import csv
import gzip
import json
import re

import pandas as pd
import pytest

from conftest import ROOT
from techscreen.cluster.labels import (
    ClassTitles,
    keywords_in,
    label_docs,
    label_text,
    node_keywords,
    short_title,
)
from techscreen.config import LabelSettings

HAN = re.compile("[\u3400-\u9fff]")
HANGUL = re.compile("[\uac00-\ud7af]")
LATIN = re.compile("[A-Za-z]")
SAMPLE = ROOT / "data" / "sample"
MEMBERS = (
    "node_key string, language string, title string, abstract string, title_en string, "
    "abstract_en string"
)


@pytest.fixture(scope="module")
def titles() -> ClassTitles:
    ref = ROOT / "data" / "reference"
    return ClassTitles.load(ref / "ipc_titles.tsv.gz", ref / "cpc_titles.tsv.gz")


def _docs(spark, rows) -> dict[tuple[str, str], tuple]:
    got = label_docs(spark.createDataFrame(rows, MEMBERS)).collect()
    return {(r.node_key, r.lang): (r.title, r.abstract) for r in got}


def test_each_member_gives_its_text_in_each_label_language(spark):
    got = _docs(
        spark,
        [
            ("us", "en", "Heat pump", "A heat pump.", None, None),
            ("cn", "zh", "热泵", "一种热泵。", "Heat pump", "A heat pump."),
            ("cn_only", "zh-Hans", "热泵", "一种热泵。", None, " "),
            ("kr", "ko", "열교환기", "열교환기는", None, None),
            ("kr_en", "ko", "열교환기", "열교환기는", "Heat exchanger", None),
            ("und", None, "Vaccine", None, None, None),
        ],
    )
    assert got == {
        ("us", "en"): ("Heat pump", "A heat pump."),
        # a translated Chinese record: its English for English keywords, its Chinese for
        # Chinese ones
        ("cn", "en"): ("Heat pump", "A heat pump."),
        ("cn", "zh"): ("热泵", "一种热泵。"),
        ("cn_only", "zh"): ("热泵", "一种热泵。"),
        # Korean gives no label text, but its translation is English
        ("kr_en", "en"): ("Heat exchanger", None),
        # too short to detect: both tokenisers read it, each its own script
        ("und", "en"): ("Vaccine", None),
        ("und", "zh"): ("Vaccine", None),
    }


def _cn_agri() -> list[dict[str, str]]:
    with (SAMPLE / "cn_agri" / "cn_agri_a01_abstracts.csv").open(encoding="utf-8") as f:
        return [r for r in csv.DictReader(f) if r["ipc_subclass"] == "A01B"]


def _aviation() -> pd.DataFrame:
    return pd.read_csv(SAMPLE / "patsnap" / "green_aviation_patsnap_export.csv", dtype=str)


def _waste_heat() -> list[dict]:
    path = SAMPLE / "waste_heat" / "waste_heat_recovery_abstracts.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return [r for r in rows if "F27D 17/00" in r["ipc_groups"] or "F24F 12/00" in r["ipc_groups"]]


def _language(record: dict) -> str:
    lang = record["abstract_lang"]
    if lang != "latin":
        return lang
    return "en" if record["country"] in ("US", "GB", "CA", "AU") else "de"


@pytest.fixture(scope="module")
def by_language(spark):
    """(node, lang) → keyword terms of three real nodes: Chinese, translated, mixed."""
    agri = [("agri", "zh", r["title"], r["abstract"], None, None) for r in _cn_agri()]
    zh_title, zh_abstract = "标题(译)(简体中文)", "摘要(译)(简体中文)"
    en_title, en_abstract = "标题(译)(English)", "摘要(译)(English)"
    aviation = [
        ("aviation", "zh", r[zh_title], r[zh_abstract], r[en_title], r[en_abstract])
        for r in _aviation().to_dict("records")
    ]
    heat = [
        ("heat", _language(r), None, r["abstract"], None, r.get("abstract_en_translated"))
        for r in _waste_heat()
    ]
    untranslated = [(*row[:4], None, None) for row in aviation]
    untranslated = [("aviation_zh_only", *row[1:]) for row in untranslated]
    assert len(agri) > 50 and len(aviation) > 100 and len(heat) > 100
    members = spark.createDataFrame(agri + aviation + heat + untranslated, MEMBERS)
    assert {"zh", "en", "ko", "de"} <= {r[1] for r in heat}
    got = node_keywords(label_docs(members), LabelSettings(keywords=10, min_term_count=2))
    return {(r.node_key, r.lang): [k.term for k in r.keywords] for r in got}


def test_chinese_keywords_are_chinese_and_english_ones_have_no_han(by_language):
    for (node, lang), terms in by_language.items():
        if lang == "zh":
            assert all(HAN.search(t) and not LATIN.search(t) for t in terms), (node, terms)
        else:
            assert not [t for t in terms if HAN.search(t) or HANGUL.search(t)], (node, terms)


def test_a_node_of_untranslated_chinese_records_has_chinese_keywords_only(by_language):
    assert len(by_language["agri", "zh"]) == 10
    assert ("agri", "en") not in by_language


def test_translated_records_give_english_keywords(by_language):
    english = by_language["aviation", "en"]
    assert len(english) == 10 and {"aircraft", "engine", "rotor"} & set(english), english
    assert by_language["aviation", "zh"]  # and their Chinese text Chinese ones
    # the same records without their translation: no English keyword at all
    assert ("aviation_zh_only", "en") not in by_language


def test_a_mixed_node_has_keywords_in_both_languages(by_language):
    english, chinese = by_language["heat", "en"], by_language["heat", "zh"]
    assert english and chinese
    assert {"heat", "waste heat", "air", "exhaust"} & set(english), english
    assert {"余热", "烟气", "换热器", "空气"} & set(chinese), chinese


def test_labels_are_in_one_language(by_language, titles):
    codes = [
        {
            "code": "A01B 1/00",
            "count": 60,
            "share": 1.0,
            "title": titles.title("A01B 1/00"),
            "title_zh": titles.title("A01B 1/00", "zh"),
        }
    ]
    en, zh = by_language.get(("agri", "en")), by_language["agri", "zh"]
    # untranslated Chinese members: a Chinese label under zh, the code title alone under en
    chinese = label_text(keywords_in("zh", en, zh), codes, 3, lang="zh", with_title=True)
    words, title = chinese.split(" — ")
    assert HAN.search(words) and not LATIN.search(chinese)
    assert title == short_title(titles.title("A01B 1/00", "zh"))
    english = label_text(keywords_in("en", en, zh), codes, 3, lang="en", with_title=True)
    assert english == short_title(titles.title("A01B 1/00")) and not HAN.search(english)
    # a mixed node's English label has no Han character, its Chinese one no Latin letter
    heat = by_language["heat", "en"], by_language["heat", "zh"]
    label_en = label_text(keywords_in("en", *heat), [], 3, lang="en")
    label_zh = label_text(keywords_in("zh", *heat), [], 3, lang="zh")
    assert len(label_en.split(" · ")) == 3 and not HAN.search(label_en)
    assert len(label_zh.split(" · ")) == 3 and not LATIN.search(label_zh)
