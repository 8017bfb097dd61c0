"""Node labels: c-TF-IDF keywords, dominant class codes and their titles, label text."""

from __future__ import annotations

import gzip
import math
import re
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

from techscreen.cluster.labels import (
    ClassTitles,
    _count_terms,
    english_terms,
    han_terms,
    keyword_members,
    label_text,
    node_codes,
    node_keywords,
    term_counts,
)
from techscreen.config import LabelSettings

ROOT = Path(__file__).resolve().parents[2]
IPC = ROOT / "data" / "reference" / "ipc_titles.tsv.gz"
CPC = ROOT / "data" / "reference" / "cpc_titles.tsv.gz"

BATTERY = [
    (
        "Lithium-ion battery",
        "A lithium-ion battery has a cathode with a nickel-rich oxide and a housing; the "
        "electrode is coated with carbon to extend cycle life. A zeolite filler is optional.",
    ),
    (
        "Battery cathode",
        "The cathode of the lithium-ion battery comprises an oxide layer, and the electrode "
        "sits in a housing filled with a solid electrolyte.",
    ),
    (
        "Electrolyte for a battery",
        "A solid electrolyte separates the cathode and the anode of the battery; the electrode "
        "stack is sealed in a housing.",
    ),
    (
        None,
        "Method wherein the battery electrode is dried, the electrolyte is injected and the "
        "housing is closed, comprising a first and a second step.",
    ),
]
SEEDS = [
    (
        "Seed planter",
        "A seed planting machine opens a furrow, drops each seed at a set depth and closes "
        "the furrow; a housing protects the seed meter.",
    ),
    (
        "Seed planting device",
        "The seed planting device has furrow openers and a seed hopper; the housing of the "
        "hopper keeps the seed dry.",
    ),
    (
        "Precision seeding",
        "Seed spacing in the furrow is controlled by a vacuum seed meter in a housing.",
    ),
    (
        "Planter row unit",
        "The row unit presses soil over the furrow after the seed is placed; the gauge wheel "
        "housing sets the planting depth.",
    ),
]
GRAPHENE = (
    "Graphene anode",
    "graphene anode coating, silicon binder; silicon binder of the graphene anode",
)
LITHIUM_ZH = [
    (None, "本发明公开了一种锂电池正极材料，所述锂电池正极材料包括磷酸铁锂和导电碳。"),
    ("一种锂电池", "锂电池的正极材料由磷酸铁锂制成，导电碳包覆正极颗粒。"),
]


@pytest.fixture(scope="module")
def titles() -> ClassTitles:
    return ClassTitles.load(IPC, CPC)


@pytest.fixture(scope="module")
def keywords(spark):
    rows = (
        [("battery", "en", t, a) for t, a in BATTERY]
        + [("seeds", "en", t, a) for t, a in SEEDS]
        + [("lithium_zh", "zh", t, a) for t, a in LITHIUM_ZH]
        + [("graphene", "en", *GRAPHENE)] * 2
        + [("empty", "en", "The method", "Comprising 12 of the 2023 ab cd.")]
        + [("empty", "en", None, None)]
        + [(None, "en", "Orphan zeolite zeolite zeolite", "zeolite")]
    )
    docs = spark.createDataFrame(
        rows, "node_key string, lang string, title string, abstract string"
    )
    settings = LabelSettings(
        keywords=10, min_term_count=2, extra_stopwords=["Coating", "graphene anode"]
    )
    out = node_keywords(docs, settings)
    assert len({(r["node_key"], r["lang"]) for r in out}) == len(out)
    return {r["node_key"]: r["keywords"] for r in out}


def pairs(keywords, node):
    return [(k["term"], k["score"]) for k in keywords[node]]


def terms(keywords, node):
    return [k["term"] for k in keywords[node]]


def test_every_node_gets_a_row_and_null_keys_are_ignored(keywords):
    assert set(keywords) == {"battery", "seeds", "lithium_zh", "graphene", "empty"}
    assert keywords["empty"] == []


def test_distinguishing_terms_lead_each_node(keywords):
    battery, seeds = terms(keywords, "battery"), terms(keywords, "seeds")
    assert {"battery", "electrode", "cathode"} <= set(battery[:4])
    assert seeds[0] == "seed"
    assert "furrow" in seeds[:4]
    assert not set(battery) & {"seed", "furrow", "planting"}
    assert not set(seeds) & {"battery", "electrode", "cathode"}


def test_term_shared_by_all_nodes_scores_below_an_equally_frequent_own_term(keywords):
    # "housing" and "electrode" both occur 4 times in the battery node, but "housing" also
    # occurs 4 times among the seeds: its inverse class frequency, hence its score, is lower.
    scores = dict(pairs(keywords, "battery"))
    assert scores["electrode"] > scores["housing"] > 0


def test_keywords_are_ordered_by_score_and_capped(keywords):
    for node in ("battery", "seeds", "lithium_zh"):
        ranked = pairs(keywords, node)
        assert 0 < len(ranked) <= 10
        assert ranked == sorted(ranked, key=lambda ts: (-ts[1], ts[0]))


def test_stopwords_numbers_and_short_words_are_dropped(keywords):
    words = {w for node in keywords for t in terms(keywords, node) for w in t.split()}
    assert not words & {"the", "method", "wherein", "comprising", "first", "second", "and"}
    latin = {w for w in words if w.isascii()}
    assert latin and all(len(w) >= 3 and re.search("[a-z]", w) for w in latin)
    assert "lithium-ion" in terms(keywords, "battery")  # hyphenated words stay whole
    assert "lithium-ion battery" in terms(keywords, "battery")  # and make phrases


def test_singletons_are_dropped_with_min_term_count_two(keywords):
    # "zeolite" occurs once in the battery node (and four times in a row without a node)
    assert "zeolite" not in terms(keywords, "battery")


def test_chinese_text_gives_segmented_words(keywords):
    zh = terms(keywords, "lithium_zh")
    assert {"锂电池", "正极", "导电", "正极 材料"} <= set(zh)
    assert all(re.fullmatch(r"[\u4e00-\u9fff]{2,}(?: [\u4e00-\u9fff]{2,})?", t) for t in zh)
    assert not {"一种", "本发明", "公开", "所述", "包括"} & set(zh)  # boilerplate is dropped


def test_scores_follow_the_ctfidf_definition(spark):
    # Node A: "alpha alpha beta" → alpha 2, beta 1, "alpha alpha" 1, "alpha beta" 1 (5 terms).
    # Node B: "beta gamma" → beta 1, gamma 1, "beta gamma" 1 (3 terms). A = (5 + 3) / 2 = 4.
    # f_t: alpha 2, beta 2, each other term 1. Score = tf / class length · ln(1 + A / f_t).
    # Chinese documents are a c-TF-IDF of their own: their terms and class lengths change
    # neither A nor f_t of the English one (nor does a Chinese text in an English document).
    docs = spark.createDataFrame(
        [
            ("A", "en", None, "alpha alpha beta 余热回收"),
            ("B", "en", "beta gamma", None),
            ("C", "zh", "余热回收装置", "余热回收利用烟气余热，烟气经换热器排出"),
            ("A", "zh", "alpha", "换热器"),
        ],
        "node_key string, lang string, title string, abstract string",
    )
    found = node_keywords(docs, LabelSettings(keywords=10, min_term_count=1))
    got = {
        r["node_key"]: [(k["term"], k["score"]) for k in r["keywords"]]
        for r in found
        if r["lang"] == "en"
    }
    assert set(got) == {"A", "B"}
    chinese = {
        r["node_key"]: [k["term"] for k in r["keywords"]] for r in found if r["lang"] == "zh"
    }
    assert "余热" in chinese["C"] and chinese["A"] == ["换热器"]
    ln3, ln5 = math.log(3), math.log(5)
    expected_a = [
        ("alpha", 2 / 5 * ln3),
        ("alpha alpha", 1 / 5 * ln5),
        ("alpha beta", 1 / 5 * ln5),
        ("beta", 1 / 5 * ln3),
    ]
    expected_a.sort(key=lambda ts: (-ts[1], ts[0]))
    assert [t for t, _ in got["A"]] == [t for t, _ in expected_a]
    assert [s for _, s in got["A"]] == pytest.approx([s for _, s in expected_a])
    # ties ("beta gamma", "gamma": both 1/3 · ln 5) are broken by the term
    assert [t for t, _ in got["B"]] == ["beta gamma", "gamma", "beta"]
    assert [s for _, s in got["B"]] == pytest.approx([ln5 / 3, ln5 / 3, ln3 / 3])


def test_phrases_join_adjacent_kept_words_and_extra_stopwords_apply(keywords):
    # GRAPHENE (twice): no phrase across punctuation, title/abstract, a stopword ("of the") or
    # a dropped word ("coating"); the extra stopword phrase "graphene anode" is gone too
    assert set(terms(keywords, "graphene")) == {
        "graphene",
        "anode",
        "silicon",
        "binder",
        "silicon binder",
    }


MIXED_ZH = ("锂电池 lithium battery", "正极材料包括磷酸铁锂。Cathode material.")


def test_term_counts_follow_the_documented_rules_on_hostile_text(spark):
    # Counted by hand from the rules of english_terms: lower case; Latin words (inner
    # hyphens, accents) of >= 3 characters holding a letter and not stopwords; bigrams of
    # two adjacent kept words, any dropped token (punctuation, 2023, 12-34, "the") between
    # them breaking it; " . " between title and abstract, a null part left out.
    docs = spark.createDataFrame(
        [
            (
                "h",
                "en",
                None,
                "Résistance thermique: heat-exchanger tubes, 2023 tubes and the copper tubes.",
            ),
            ("h", "en", "Copper tubes", "Tubes cooling."),
            ("h", "en", "X-ray CO2 sensor 12-34 sensor", None),
            ("m", "zh", *MIXED_ZH),  # Latin words of a zh document are not read
            ("empty", "en", "The method", "12 of 2023."),
            ("empty_zh", "zh", "Only English here", None),
            ("only_extra", "en", "Graphite, graphite", None),
            (None, "en", "Orphan zeolite", None),
            ("h", "de", "Wärmetauscher Rohre", None),
        ],
        "node_key string, lang string, title string, abstract string",
    )
    settings = LabelSettings(extra_stopwords=["Copper tubes", " graphite "])
    rows = term_counts(docs, settings).collect()
    assert len({(r["node_key"], r["lang"], r["term"]) for r in rows}) == len(rows)
    counts = {(r["node_key"], r["lang"]): {} for r in rows}
    for r in rows:
        counts[r["node_key"], r["lang"]][r["term"]] = r["n"]
    assert counts["h", "en"] == {
        None: 3,  # documents
        "résistance": 1,
        "thermique": 1,
        "heat-exchanger": 1,
        "tubes": 5,
        "copper": 2,
        "cooling": 1,
        "x-ray": 1,
        "co2": 1,
        "sensor": 2,
        "résistance thermique": 1,
        "heat-exchanger tubes": 1,
        "tubes cooling": 1,
        "x-ray co2": 1,
        "co2 sensor": 1,
        # not "copper tubes": an extra stopword; not "tubes tubes" (",", 2023, ".", 12-34
        # between), "thermique heat-exchanger" (":") nor "tubes copper" ("and the")
    }
    zh_text = " . ".join(MIXED_ZH)
    assert counts["m", "zh"] == {None: 1, **Counter(han_terms(zh_text))}
    assert {"锂电池", "正极 材料"} <= set(counts["m", "zh"])
    # nodes whose documents yield no term (numbers and stopwords, no Han characters, only
    # extra stopwords) are still present, with their null-term row
    assert counts["empty", "en"] == counts["empty_zh", "zh"] == {None: 1}
    assert counts["only_extra", "en"] == {None: 1}
    nodes = {("h", "en"), ("m", "zh"), ("empty", "en"), ("empty_zh", "zh"), ("only_extra", "en")}
    assert set(counts) == nodes  # no null node_key, no "de" document


def test_ascii_text_is_tokenised_as_the_unicode_pattern_does():
    # ASCII text takes a faster pattern; a trailing "é" (a dropped one-letter word) sends the
    # same text through the Unicode one, which must give the same terms.
    stop = frozenset({"the", "and", "of"})
    for text in [
        "Heat-exchanger tubes, 2023 tubes and the copper tubes.",
        "X-RAY co2 sensor 12-34 sensor; anti--lock brake-- pads (well-known)",
        "tab\tsep\nnew-line\x0bvertical\x0cfeed\rreturn _under_score a_b",
        "C++ ~tilde~ [brackets] {braces} #hash @at 'quoted' \"double\" ab cd",
    ]:
        assert text.isascii()
        ascii_terms = english_terms(text, stop)
        assert ascii_terms and ascii_terms == english_terms(text + " é", stop), text


def test_partial_counts_handed_on_early_add_up_to_the_same_counts():
    batch = pa.RecordBatch.from_pylist(
        [
            {"node_key": f"n{i % 3}", "lang": "en", "title": "Heat pump", "abstract": f"coil {i}"}
            for i in range(30)
        ]
    )
    stop = frozenset({"the"})

    def added(flush_keys):
        out = Counter()
        parts = list(_count_terms(iter([batch] * 4), stop, stop, frozenset(), flush_keys))
        for part in parts:
            for r in part.to_pylist():
                out[r["node_key"], r["term"]] += r["n"]
        return len(parts), out

    (once, whole), (often, split) = added(10**6), added(1)
    assert once == 1 and often == 4  # one batch per input batch once past the bound
    assert split == whole
    assert whole["n0", "heat pump"] == whole["n0", None] == 40 and whole["n1", "coil"] == 40


# --- class titles on the bundled tables ----------------------------------------------------


def test_reference_tables_are_compact_and_clean():
    for path, header in (
        (IPC, ["code", "title_en", "title_zh"]),
        (CPC, ["code", "title_en"]),
    ):
        assert path.stat().st_size < 3_000_000
        with gzip.open(path, "rt", encoding="utf-8") as f:
            lines = f.read().splitlines()
        assert lines[0].split("\t") == header
        codes = [line.split("\t", 1)[0] for line in lines[1:]]
        assert len(codes) == len(set(codes)) > 8000
        assert all(re.fullmatch(r"[A-HY]\d\d[A-Z](?: \d{1,4}/00)?", c) for c in codes)
        body = "\n".join(lines[1:])
        assert not re.search(r"[A-HY]\d\d[A-Z]\d{10}", body)  # packed references rewritten
        assert not re.search("Â[\xa0 ]", body)  # mojibake of a no-break space repaired


def test_titles_of_subclasses_main_groups_and_subgroups(titles):
    h01m = titles.title("H01M")
    assert "CHEMICAL ENERGY INTO ELECTRICAL ENERGY" in h01m and "BATTERIES" in h01m
    assert "(" not in h01m  # references stripped
    assert titles.title("H01M 10/00").startswith("Secondary cells")
    assert titles.title("H01M 10/52") == titles.title("H01M 10/00")
    assert titles.title("H01M10/0525") == titles.title("H01M 10/00")  # raw form normalised
    assert titles.title("H01M 9999/00") == h01m  # unknown main group → subclass
    assert titles.title("not a code") is None
    assert titles.title("Z99Z") is None


def test_cpc_only_codes_and_chinese_titles(titles):
    assert "renewable" in titles.title("Y02E 10/00").lower()
    assert titles.title("Y02E 10/00", lang="zh") == titles.title("Y02E 10/00")  # no zh: English
    a01b_zh = titles.title("A01B", lang="zh")
    assert "整地" in a01b_zh
    assert titles.title("A01B") != a01b_zh and "SOIL WORKING" in titles.title("A01B")
    assert re.search(r"[\u4e00-\u9fff]", titles.title("C22C 38/12", lang="zh"))


def test_missing_table_names_the_build_script(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.tsv\.gz.*scripts/build_reference\.py"):
        ClassTitles.load(tmp_path / "nope.tsv.gz", CPC)


# --- dominant codes ---------------------------------------------------------------------


def test_node_codes_counts_each_main_group_once_per_patent(spark, titles):
    patents = spark.createDataFrame(
        [
            ("a", ["H01M 10/052", "H01M 10/0525"], ["H01M 10/0525", "Y02E 60/10"]),
            ("a", ["H01M 4/13"], ["H01M 10/44"]),
            ("a", ["A01B"], None),  # classified to the subclass only: the subclass counts
            ("a", ["C22C 38/02"], []),
            ("b", [], []),
            ("c", ["H01M 9999/01"], []),
            (None, ["H01M 10/052"], []),
        ],
        "node_key string, ipc_codes array<string>, cpc_codes array<string>",
    )
    got = {r["node_key"]: r["codes"] for r in node_codes(patents, titles, top_n=3).collect()}
    assert set(got) == {"a", "b", "c"}
    a = [(c["code"], c["count"], c["share"]) for c in got["a"]]
    # H01M 10/00 in 2 of 4 patents; then the ones-counts ordered by code, cut at 3
    assert a == [("H01M 10/00", 2, 0.5), ("A01B", 1, 0.25), ("C22C 38/00", 1, 0.25)]
    assert [c["title"] for c in got["a"]] == [
        titles.title(code) for code in ("H01M 10/00", "A01B", "C22C 38/00")
    ]
    assert got["b"] == []
    (c,) = got["c"]
    assert (c["code"], c["count"], c["share"], c["title"]) == (
        "H01M 9999/00",
        1,
        1.0,
        titles.title("H01M"),
    )


# --- label text -----------------------------------------------------------------------------


def test_label_text_drops_words_contained_in_kept_phrases():
    kw = [("fuel cell", 0.9), ("fuel", 0.8), ("membrane", 0.7), ("cell", 0.6), ("stack", 0.5)]
    assert label_text(kw, [], 3) == "fuel cell · membrane · stack"


def test_label_text_phrase_replaces_words_kept_before_it():
    kw = [{"term": "cell", "score": 3.0}, {"term": "fuel", "score": 2.0}]
    kw += [{"term": "fuel cell", "score": 1.0}, {"term": "membrane", "score": 0.5}]
    assert label_text(kw, [], 2) == "fuel cell · membrane"
    assert label_text(["alpha", "beta", "gamma"], [], 2) == "alpha · beta"


def test_label_text_falls_back_to_code_title_then_unlabelled():
    codes = [{"code": "H01M 10/00", "count": 3, "share": 0.5, "title": "Secondary cells"}]
    assert label_text([], codes, 3) == "Secondary cells"
    assert label_text([], [{"code": "Q99Q 1/00", "title": None}], 3) == "Q99Q 1/00"
    assert label_text([], [], 3) == "unlabelled"


def test_label_text_reads_node_keywords_rows(keywords):
    label = label_text(keywords["seeds"], [], 3)
    parts = label.split(" · ")
    assert len(parts) == 3 and parts[0].startswith("seed")
    for i, p in enumerate(parts):  # no part is a word of another part
        assert not any(p in q.split() for j, q in enumerate(parts) if j != i)


def test_a_large_node_counts_keywords_on_a_stable_draw_of_about_max_docs(spark):
    filler = ["housing", "method", "layer", "signal", "sensor", "valve", "frame", "panel"]
    rows = [
        (f"US-{i}-A1", "big", "en", "Lidar scanner", f"A lidar scanner with a {filler[i % 8]}.")
        for i in range(600)
    ] + [
        (f"US-{i}-A1", "small", "en", "Battery cell", f"A battery cell with a {filler[i % 8]}.")
        for i in range(600, 660)
    ]
    members = spark.createDataFrame(
        rows, "publication_number string, node_key string, lang string, title string, "
        "abstract string"
    )  # fmt: skip
    sizes = {"big": 600, "small": 60}

    def drawn(max_docs):
        counts = keyword_members(members, sizes, max_docs).groupBy("node_key").count().collect()
        return {r["node_key"]: r["count"] for r in counts}

    kept = drawn(120)
    assert 80 <= kept["big"] <= 160 and kept["small"] == 60  # 600 × 0.2 ± 4 sd
    first = keyword_members(members, sizes, 120).select("publication_number").collect()
    again = keyword_members(members.repartition(3), sizes, 120).select("publication_number")
    assert sorted(first) == sorted(again.collect())  # the draw is by the number, not the split
    assert drawn(0) == drawn(1000) == {"big": 600, "small": 60}
    keywords = {
        r["node_key"]: [k["term"] for k in r["keywords"]]
        for r in node_keywords(keyword_members(members, sizes, 120), LabelSettings())
    }
    assert keywords["big"][0] in {"lidar", "scanner", "lidar scanner"}
    assert keywords["small"][0] in {"battery", "cell", "battery cell"}
