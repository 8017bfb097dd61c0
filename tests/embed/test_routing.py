"""Routing records to embedders by language/translation, and the one-space guard."""

from __future__ import annotations

import itertools

import pytest

from conftest import ROOT
from techscreen.config import ConfigError, EmbedSettings, load_settings
from techscreen.embed.routing import (
    ENGLISH_COLUMN,
    ROUTE_COLUMN,
    TEXT_LANGUAGE,
    MixedSpacesError,
    Route,
    RoutePlan,
    check_one_space,
    has_translation,
    kind_of,
    language_key,
    route_columns,
    routed,
    with_text_language,
)
from techscreen.embed.text import RECIPES

ROUTES = {"zh": "lexical-zh", "default": "minilm-int8"}


def plan(prefer_english: bool = False, recipe: str = "title_abstract", **routes) -> RoutePlan:
    settings = EmbedSettings(
        embedder="minilm",
        routes=routes or ROUTES,
        prefer_english=prefer_english,
        text_recipe=recipe,
    )
    return RoutePlan.from_settings(settings)


def test_no_routes_sends_everything_to_the_configured_embedder():
    p = RoutePlan.from_settings(EmbedSettings(embedder="static"))
    assert p.embedders == ("static",)
    for language in ("zh", "en", None, "ko"):
        assert p.route(language, "标题", "摘要", "Title", "Abstract") == Route("static", False)


def test_language_routes_and_default():
    p = plan()
    assert p.embedders == ("minilm-int8", "lexical-zh")
    assert p.route("zh", "标题", "摘要") == Route("lexical-zh", False)
    assert p.route("ZH_cn") == Route("lexical-zh", False)
    assert p.route("zh-Hant") == Route("lexical-zh", False)
    assert p.route("en", "Title", "Abstract") == Route("minilm-int8", False)
    assert p.route("ko") == Route("minilm-int8", False)
    assert p.route(None) == Route("minilm-int8", False)
    assert p.route("  ") == Route("minilm-int8", False)
    # without prefer_english a translation is ignored
    assert p.route("zh", "标题", "摘要", "Title", "Abstract") == Route("lexical-zh", False)


def test_prefer_english_reads_a_complete_translation():
    p = plan(prefer_english=True)
    assert p.route("zh", "标题", "摘要", "Title", "Abstract") == Route("minilm-int8", True)
    # a translated title beside an untranslated abstract: the original text is read
    assert p.route("zh", "标题", "摘要", "Title", None) == Route("lexical-zh", False)
    assert p.route("zh", "标题", "摘要", "Title", "  ") == Route("lexical-zh", False)
    # nothing to translate in the title: the abstract's translation is enough
    assert p.route("zh", None, "摘要", None, "Abstract") == Route("minilm-int8", True)
    # an English record never "prefers" a translation; an undetected one may
    assert p.route("en", "T", "A", "T2", "A2") == Route("minilm-int8", False)
    assert p.route(None, "标题", "摘要", "Title", "Abstract") == Route("minilm-int8", True)
    # only an English text at all
    assert p.route("zh", None, None, "Title", None) == Route("minilm-int8", True)


def test_recipe_decides_what_a_translation_must_cover():
    title_only = plan(prefer_english=True, recipe="title")
    assert title_only.route("zh", "标题", "摘要", "Title", None) == Route("minilm-int8", True)
    either = plan(prefer_english=True, recipe="abstract_or_title")
    assert either.route("zh", "标题", "摘要", "Title", None) == Route("lexical-zh", False)
    assert either.route("zh", "标题", None, "Title", None) == Route("minilm-int8", True)


def test_english_route_overrides_the_default_for_translations():
    p = plan(prefer_english=True, zh="lexical-zh", en="minilm", default="static")
    assert p.embedders == ("static", "lexical-zh", "minilm")
    assert p.route("zh", "标题", "摘要", "Title", "Abstract") == Route("minilm", True)
    assert p.route("de", "Titel", "Zusammenfassung") == Route("static", False)


def test_language_key():
    assert language_key("zh-Hans-CN") == "zh"
    assert language_key("EN") == "en"
    assert language_key("") is None and language_key(None) is None


VALUES = {
    "language": ["zh", "ZH-tw", "en", "ko", "", None],
    "title": ["标题", "", None],
    "abstract": ["摘要", None],
    "title_en": ["Title", " ", None],
    "abstract_en": ["Abstract", None],
}
SCHEMA = ", ".join(f"{k} string" for k in VALUES)


@pytest.mark.parametrize("recipe", RECIPES)
@pytest.mark.parametrize("prefer_english", [True, False])
def test_spark_routes_agree_with_the_reference(spark, recipe, prefer_english):
    rows = list(itertools.product(*VALUES.values()))
    frame = spark.createDataFrame(rows, SCHEMA)
    p = plan(prefer_english=prefer_english, recipe=recipe)
    got = route_columns(frame, p).collect()
    assert len(got) == len(rows)
    for r in got:
        expected = p.route(r.language, r.title, r.abstract, r.title_en, r.abstract_en)
        assert (r[ROUTE_COLUMN], r[ENGLISH_COLUMN]) == (expected.embedder, expected.english), r


@pytest.mark.parametrize("prefer_english", [True, False])
def test_text_language_is_the_language_of_the_text_embedded(spark, prefer_english):
    rows = list(itertools.product(*VALUES.values()))
    frame = spark.createDataFrame(rows, SCHEMA)
    p = plan(prefer_english=prefer_english)
    got = with_text_language(frame, p).collect()
    assert len(got) == len(rows) and ROUTE_COLUMN not in got[0].asDict()
    translated = 0
    for r in got:
        route = p.route(r.language, r.title, r.abstract, r.title_en, r.abstract_en)
        expected = "en" if route.english else (r.language if r.language is not None else "und")
        assert r[TEXT_LANGUAGE] == expected, r
        translated += route.english and r.language == "zh"
    # a Chinese record read from its translation counts as English, only with prefer_english
    assert (translated > 0) == prefer_english


def test_routed_frames_partition_the_rows_and_carry_the_translation(spark):
    rows = [
        ("CN1", "h1", "zh", "标题", "摘要", "Title", "Abstract"),
        ("CN2", "h2", "zh", "标题", "摘要", None, None),
        ("US3", "h3", "en", "Title", "Abstract", None, None),
        ("KR4", "h4", None, "제목", "요약", None, None),
    ]
    schema = (
        "publication_number string, content_hash string, language string, title string, "
        "abstract string, title_en string, abstract_en string"
    )
    frame = spark.createDataFrame(rows, schema)
    parts = routed(frame, plan(prefer_english=True))
    assert set(parts) == {"minilm-int8", "lexical-zh"}
    english = {r.publication_number: r for r in parts["minilm-int8"].collect()}
    chinese = {r.publication_number: r for r in parts["lexical-zh"].collect()}
    assert sorted(english) == ["CN1", "KR4", "US3"] and sorted(chinese) == ["CN2"]
    assert (english["CN1"].title, english["CN1"].abstract) == ("Title", "Abstract")
    # the translation is English text: what the embed stage counts (docs_not_english)
    assert english["CN1"].language == "en" and chinese["CN2"].language == "zh"
    assert (chinese["CN2"].title, chinese["CN2"].abstract) == ("标题", "摘要")
    assert english["KR4"].title == "제목"
    assert ROUTE_COLUMN not in parts["lexical-zh"].columns


def test_routed_without_translation_columns_routes_by_language(spark):
    frame = spark.createDataFrame(
        [("CN1", "h", "zh", "标题", "摘要"), ("US2", "h", "en", "T", "A")],
        "publication_number string, content_hash string, language string, title string, "
        "abstract string",
    )
    parts = routed(frame, plan(prefer_english=True))
    assert [r.publication_number for r in parts["lexical-zh"].collect()] == ["CN1"]
    assert [r.publication_number for r in parts["minilm-int8"].collect()] == ["US2"]


def test_has_translation_needs_text():
    assert not has_translation(None, None, None, None, "title_abstract")
    assert has_translation("标题", None, "Title", None, "title_abstract")


# --- the one-space guard ----------------------------------------------------------------------


def test_one_embedder_is_always_one_space():
    check_one_space([])
    check_one_space(["minilm-int8-0123456789ab"] * 3)


def test_different_embedders_are_refused_unless_declared():
    ids = ["minilm-0123456789ab", "minilm-int8-ba9876543210"]
    with pytest.raises(MixedSpacesError, match=r"embed\.shared_spaces") as info:
        check_one_space(ids)
    assert "\n" not in str(info.value) and all(i in str(info.value) for i in ids)
    check_one_space(ids, [["minilm", "minilm-int8"]])
    with pytest.raises(MixedSpacesError):
        check_one_space(ids, [["minilm", "static"]])


def test_fitted_embedders_never_share_a_space():
    with pytest.raises(MixedSpacesError, match="space of their own"):
        check_one_space(["lexical-zh-0123456789ab", "minilm-int8-ba9876543210"])
    # two fits of lexical-zh have unrelated axes
    with pytest.raises(MixedSpacesError, match="lexical-zh"):
        check_one_space(["lexical-zh-0123456789ab", "lexical-zh-ba9876543210"], [["lexical-zh"]])


def test_kind_of():
    assert kind_of("lexical-zh-0123456789ab") == "lexical-zh"
    assert kind_of("minilm-int8-0123456789ab") == "minilm-int8"
    assert kind_of("minilm-0123456789ab") == "minilm"


def test_spaces_group_shared_embedders_only():
    p = plan(prefer_english=True, zh="lexical-zh", en="minilm", default="minilm-int8")
    assert p.spaces() == [("minilm-int8",), ("lexical-zh",), ("minilm",)]
    assert p.spaces([["minilm", "minilm-int8"]]) == [("minilm-int8", "minilm"), ("lexical-zh",)]


# --- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("embed.routes={chinese: lexical-zh}", "ISO 639"),
        ("embed.routes={zh: bert}", "embed.routes.zh"),
        ("embed.shared_spaces=[[lexical-zh, minilm]]", "space of their own"),
        ("embed.lexical.char_ngrams=[0, 2]", "1..4"),
    ],
)
def test_bad_routing_settings_are_refused(override, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(ROOT / "conf", overrides=[override])


def test_routing_settings_load():
    s = load_settings(
        ROOT / "conf",
        overrides=[
            "embed.routes={zh: lexical-zh, default: minilm-int8}",
            "embed.prefer_english=true",
            "embed.shared_spaces=[[minilm, minilm-int8]]",
        ],
    )
    p = RoutePlan.from_settings(s.embed)
    assert p.routes == {"zh": "lexical-zh"} and p.default == "minilm-int8"
    assert p.prefer_english and s.embed.lexical.path == "models/lexical-zh"


def test_the_committed_settings_route_by_language():
    """conf/base is language-aware: every command routes unless told to use one embedder."""
    s = load_settings(ROOT / "conf")
    p = RoutePlan.from_settings(s.embed)
    assert p.prefer_english and p.default == s.embed.embedder == "minilm-int8"
    assert p.route("zh", "标题", "摘要") == Route("lexical-zh", False)
    assert p.route("zh", "标题", "摘要", "Title", "Abstract") == Route("minilm-int8", True)
    for language in ("ja", "ko", "ru"):  # scripts MiniLM's vocabulary barely covers
        assert p.route(language, "x", "y") == Route("lexical-zh", False)
    for language in ("en", "de", "fr", None):  # English, Latin-script languages, undetected
        assert p.route(language, "x", "y") == Route("minilm-int8", False)
    assert p.embedders == ("minilm-int8", "lexical-zh")


def test_one_embedder_for_everything_is_one_override():
    """``--set embed.routes={}`` replaces the committed routes rather than merging into them."""
    s = load_settings(ROOT / "conf", overrides=["embed.routes={}"])
    assert s.embed.routes == {}
    assert RoutePlan.from_settings(s.embed).embedders == ("minilm-int8",)
    # an override is exactly the table given, not merged with the committed one
    s = load_settings(ROOT / "conf", overrides=["embed.routes={ko: lexical-zh}"])
    assert s.embed.routes == {"ko": "lexical-zh"}
