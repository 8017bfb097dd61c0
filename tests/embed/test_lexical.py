"""lexical-zh: real jieba, real fits on a small mixed corpus, files, ids, Spark, MLflow."""

from __future__ import annotations

import csv
import gzip
import json
import pickle
import re
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from mlflow.tracking import MlflowClient

from conftest import ROOT
from techscreen.config import EmbedSettings, LexicalSettings
from techscreen.embed.lexical import (
    CARD_MD,
    COMPONENTS,
    CONFIG,
    MEAN,
    NEIGHBOURS,
    LexicalEmbedder,
    LexicalModel,
    build_lexical,
    corpus_sha256,
)
from techscreen.embed.lexical_log import TAG_CORPUS, TAG_EMBEDDER_ID, log_lexical_model
from techscreen.embed.models import artifact_path, build, ensure_built
from techscreen.embed.quality import knn_agreement
from techscreen.embed.registry import loaded, make_embedder
from techscreen.embed.text import patent_text
from techscreen.embed.vectors import SKIP_NO_TEXT, embed
from techscreen.embed.zh_text import Analyser

DIMS = 32
SAMPLE = ROOT / "data" / "sample"


def _agri(n: int) -> list[dict[str, str]]:
    with (SAMPLE / "cn_agri" / "cn_agri_a01_abstracts.csv").open(encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["abstract"]]
    return rows[:n]


def _english(n: int) -> list[str]:
    path = SAMPLE / "ipa_week" / "uspto_ipa230105_applications.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        records = [json.loads(line) for _, line in zip(range(n), f, strict=False)]
    return [patent_text(r["title"], r["abstract"], "title_abstract") for r in records]


AGRI = _agri(440)  # 200 fitted on, 240 held out
CHINESE = [patent_text(r["title"], r["abstract"], "title_abstract") for r in AGRI]
LABELS = [r["ipc_subclass"] for r in AGRI]
CORPUS = CHINESE[:200] + _english(60)  # mixed, as real corpora are


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("lexical") / "lexical-zh"
    return build_lexical(out, CORPUS, corpus={"corpus": "sample head"}, dims=DIMS)


@pytest.fixture(scope="module")
def embedder(model_dir) -> LexicalEmbedder:
    return LexicalEmbedder(path=str(model_dir)).load()


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


# --- the analyser ---------------------------------------------------------------------------


def test_jieba_words_and_character_ngrams():
    features, words = Analyser().analyse("一种余热回收装置")
    assert words == 4 and features[:4] == ["一种", "余热", "回收", "装置"]
    assert "#余热" in features and "#热" in features  # character bigrams and unigrams


def test_mixed_script_keeps_both_scripts_and_drops_numbers():
    features, words = Analyser().analyse(
        "锂离子电池 Lithium-ion battery（１２）with CO2 capture 3.5"
    )
    assert {"锂离子", "电池", "lithium", "ion", "battery", "co2", "capture"} <= set(features)
    assert not any(f.isdigit() for f in features) and "3" not in features
    assert words == 8  # 锂离子 电池 lithium ion battery with co2 capture


def test_full_width_and_traditional_meet_their_plain_forms():
    a = Analyser()
    assert a.analyse("ＬＥＤ灯，ＡＢＣ１２３")[0] == a.analyse("LED灯,ABC123")[0]
    assert a.analyse("熱交換器與廢熱回收裝置")[0] == a.analyse("热交换器与废热回收装置")[0]
    assert Analyser(simplify=False).analyse("熱交換器")[0] != a.analyse("熱交換器")[0]


@pytest.mark.parametrize("text", [None, "", "   ", "（１）２３。，", "\u3000\u3000"])
def test_empty_and_punctuation_only_texts_have_no_features(text):
    assert Analyser().analyse(text) == ([], 0)


def test_truncation_keeps_the_first_words_only():
    features, words = Analyser().analyse("一种余热回收装置和方法", max_words=2)
    assert words == 6
    assert features == ["一种", "余热", "#一", "#种", "#余", "#热", "#一种", "#种余", "#余热"]


def test_words_of_every_script():
    """Version 2 reads German, Korean, Russian and Japanese words whole; version 1 dropped them."""
    a, legacy = Analyser(), Analyser(version=1)
    german = "Die Erfindung betrifft einen Wärmetauscher für Abgase"
    assert {"erfindung", "wärmetauscher", "für", "abgase"} <= set(a.analyse(german)[0])
    assert "rmetauscher" in legacy.analyse(german)[0]  # version 1 cut words at the umlaut
    korean = "본 발명은 폐열 회수 장치에 관한 것이다"
    features, words = a.analyse(korean)
    assert words == 7 and {"발명은", "폐열", "회수", "#발명", "#폐열"} <= set(features)
    assert legacy.analyse(korean) == ([], 0)  # no feature at all: a zero vector
    russian = "Изобретение относится к теплоэнергетике"
    assert a.analyse(russian) == (["изобретение", "относится", "теплоэнергетике"], 3)
    japanese = "ガスタービン排熱回収プラントを提供する。"
    features, _ = a.analyse(japanese)
    assert {"ガスタービン", "プラント", "提供"} <= set(features)
    assert not {"を", "する"} & set(features)  # hiragana is grammar, not a word
    assert "#ガス" in features  # katakana words are cut into n-grams like Han runs


def test_chinese_features_are_those_of_version_1():
    """Chinese sample texts give the same Chinese features in both versions.

    Only units in Greek letters differ (``μm`` was ``m``), in a few texts.
    """
    a, legacy = Analyser(), Analyser(version=1)
    han = re.compile("[\u4e00-\u9fff]")
    pairs = [(a.analyse(t, 256), legacy.analyse(t, 256)) for t in CHINESE]
    for (new, _), (old, _) in pairs:
        assert [f for f in new if han.search(f)] == [f for f in old if han.search(f)]
    assert sum(new == old for new, old in pairs) >= 0.95 * len(CHINESE)


# --- fitting, files, ids ----------------------------------------------------------------------


def test_model_folder_and_card(model_dir):
    names = {p.name for p in model_dir.iterdir()}
    assert names == {"README.md", "card.json", "config.json", "vocabulary.json"} | {
        "idf.npy",
        COMPONENTS,
        MEAN,
        NEIGHBOURS,
    }
    config = json.loads((model_dir / CONFIG).read_text())
    assert config["corpus_sha256"] == corpus_sha256(CORPUS)
    assert config["dim"] == DIMS and config["fit_docs"] == len(CORPUS)
    assert config["format_version"] == 2 and config["title_weight"] == 3
    # the fit texts' unit vectors, for the neighbours a vector is pulled toward
    fitted = np.load(model_dir / NEIGHBOURS)
    assert fitted.shape == (len(CORPUS), DIMS) and fitted.dtype == np.float32
    assert np.allclose(np.linalg.norm(fitted, axis=1), 1.0, atol=1e-5)
    assert config["libraries"]["jieba"] == "0.42.1"
    card = (model_dir / CARD_MD).read_text()
    assert "lexical, not semantic" in card
    assert corpus_sha256(CORPUS) in card and "sample head" in card
    assert "techscreen models build-lexical-zh" in card
    assert np.load(model_dir / COMPONENTS).shape == (config["features"], DIMS)


def test_vectors_are_unit_float32_and_empty_text_is_zero(embedder):
    vectors, counts = embedder.encode_counted(["一种余热回收装置", "", "medical fluid device"])
    assert vectors.dtype == np.float32 and vectors.shape == (3, DIMS)
    assert np.allclose(np.linalg.norm(vectors[[0, 2]], axis=1), 1.0, atol=1e-5)
    assert not vectors[1].any() and counts.tolist() == [4, 0, 3]
    assert embedder.token_counts(["一种余热回收装置"]).tolist() == [4]


def test_awkward_texts_give_finite_vectors(embedder):
    texts = [
        "熱交換器與廢熱回收裝置",  # traditional
        "ＬＥＤ灯，全角（１）标点",  # full-width
        "混合 mixed 文本 text ™ © 😀",
        "\x00\x07控制字符",
        "字" * 5000,
        "zzqx qqzv",  # only words the corpus never saw: a zero vector, not NaN
    ]
    vectors = embedder.encode(texts)
    assert np.isfinite(vectors).all()
    assert np.linalg.norm(vectors[0]) > 0.99 and np.linalg.norm(vectors[1]) > 0.99
    assert not vectors[5].any()


def test_traditional_and_full_width_embed_like_their_plain_forms(embedder):
    v = embedder.encode(
        ["熱交換器與廢熱回收裝置", "热交换器与废热回收装置", "ＣＯ２捕集", "CO2捕集"]
    )
    assert cosine(v[0], v[1]) > 0.999 and cosine(v[2], v[3]) > 0.999


def test_neighbours_follow_ipc_subclasses(embedder):
    """Held-out texts (never fitted on): neighbours share the subclass far above chance."""
    held = CHINESE[200:]
    labels = LABELS[200:]
    agreement = knn_agreement(embedder.encode(held), labels, k=5)
    chance = sum((labels.count(x) / len(labels)) ** 2 for x in set(labels))
    assert len(held) == 240 and chance < 0.3
    assert agreement > chance + 0.3, (agreement, chance)


def test_truncation_follows_max_tokens(model_dir, embedder):
    text = CHINESE[0]
    short = LexicalEmbedder(path=str(model_dir), max_tokens=5).load()
    v_short, n_short = short.encode_counted([text])
    v_long, n_long = embedder.encode_counted([text])
    assert n_short[0] == n_long[0] > 5
    first = embedder.model_.features([text], max_words=5)[0]
    assert np.allclose(v_short, embedder.normalised(embedder.model_.project(first)))
    # the title counts three times, within the words read
    title = Analyser().analyse(text.split(". ", 1)[0], max_words=5)[0]
    assert first[0] == Analyser().analyse(text, max_words=5)[0] + title * 2
    assert cosine(v_short[0], v_long[0]) < 0.99


def test_fit_is_deterministic_and_save_load_round_trips(model_dir, embedder, tmp_path):
    again = build_lexical(tmp_path / "again", CORPUS, corpus={"corpus": "sample head"}, dims=DIMS)
    for name in ("vocabulary.json", "idf.npy", COMPONENTS, MEAN, NEIGHBOURS, CONFIG):
        assert (again / name).read_bytes() == (model_dir / name).read_bytes(), name
    reloaded = LexicalEmbedder(path=str(again)).load()
    assert reloaded.embedder_id == embedder.embedder_id
    fitted = LexicalModel(dims=DIMS).fit(CORPUS)
    texts = CHINESE[200:210]
    assert np.allclose(reloaded.model_.transform(texts), fitted.transform(texts), atol=1e-5)
    assert np.array_equal(reloaded.encode(texts), embedder.encode(texts))


def test_refit_on_other_texts_or_seed_changes_the_id(model_dir, embedder, tmp_path):
    other = build_lexical(tmp_path / "other", CORPUS[:-10], dims=DIMS)
    seeded = build_lexical(tmp_path / "seeded", CORPUS, dims=DIMS, seed=1)
    ids = {
        embedder.embedder_id,
        LexicalEmbedder(path=str(other)).embedder_id,
        LexicalEmbedder(path=str(seeded)).embedder_id,
    }
    assert len(ids) == 3 and all(i.startswith("lexical-zh-") for i in ids)
    # a refit in place (same folder) gets the new id too
    moved = tmp_path / "in-place"
    shutil.copytree(model_dir, moved)
    before = LexicalEmbedder(path=str(moved)).embedder_id
    build_lexical(moved, CORPUS[:-10], dims=DIMS)
    assert LexicalEmbedder(path=str(moved)).embedder_id != before


def test_analyser_version_is_part_of_the_model_and_its_id(model_dir, embedder, tmp_path):
    config = json.loads((model_dir / CONFIG).read_text())
    assert config["analyser_version"] == 2
    # a model built before the version existed reads as version 1 and keeps its features
    old = tmp_path / "old"
    shutil.copytree(model_dir, old)
    del config["analyser_version"]
    (old / CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    legacy = LexicalEmbedder(path=str(old)).load()
    assert legacy.model_.analyser.version == 1 and embedder.model_.analyser.version == 2
    assert legacy.embedder_id != embedder.embedder_id  # other files: another id
    korean = ["본 발명은 폐열 회수 장치에 관한 것이다"]
    assert not legacy.encode(korean).any()  # version 1 saw nothing in Korean text
    # a version-1 refit of the same corpus is another model
    v1 = build_lexical(tmp_path / "v1", CORPUS, dims=DIMS, analyser_version=1)
    assert LexicalEmbedder(path=str(v1)).embedder_id != embedder.embedder_id


def test_a_format_1_model_still_loads_and_embeds_as_it_did(model_dir, embedder, tmp_path):
    """A model built before format 2: no title weight, centring or neighbours."""
    old = tmp_path / "format-1"
    shutil.copytree(model_dir, old)
    config = json.loads((old / CONFIG).read_text())
    for key in ("title_weight", "center", "neighbours", "neighbour_weight"):
        del config[key]
    config["format_version"] = 1
    (old / CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (old / MEAN).unlink()
    (old / NEIGHBOURS).unlink()
    legacy = LexicalEmbedder(path=str(old)).load()
    m = legacy.model_
    assert (m.title_weight, m.center, m.neighbours) == (1, False, 0)
    texts = CHINESE[200:210]
    features = Analyser().analyse_all(texts, 256)[0]
    plain = np.asarray(m._tfidf(features) @ m.components_)  # what format 1 computed
    assert np.allclose(legacy.encode(texts), legacy.normalised(plain), atol=1e-6)
    assert legacy.embedder_id != embedder.embedder_id


def test_title_weight_centring_and_neighbours_each_change_the_vectors(model_dir, embedder):
    texts = CHINESE[200:220]
    base = embedder.encode(texts)
    for change in ({"title_weight": 1}, {"center": False}, {"neighbours": 0}):
        model, _ = LexicalModel.read(model_dir)
        for key, value in change.items():
            setattr(model, key, value)
        if change.get("center") is False:
            model.mean_ = np.zeros_like(model.mean_)
        other = embedder.normalised(model.transform(texts))
        assert np.isfinite(other).all()
        assert np.abs(other - base).max() > 1e-3, change


def test_small_corpus_gives_fewer_dims_and_tiny_one_fails(tmp_path):
    few = LexicalModel(dims=DIMS).fit(CHINESE[:12])
    assert few.components_.shape[1] == 11
    with pytest.raises(ValueError, match="too small"):
        LexicalModel().fit(["一种", "装置"])


def test_missing_model_says_how_to_build(tmp_path):
    e = LexicalEmbedder(path=str(tmp_path / "nothing"))
    with pytest.raises(FileNotFoundError, match="techscreen models build-lexical-zh") as info:
        e.load()
    assert str(tmp_path / "nothing") in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(FileNotFoundError):
        _ = e.embedder_id


def test_pickles_before_load(model_dir):
    e = LexicalEmbedder(path=str(model_dir))
    clone = pickle.loads(pickle.dumps(e))
    assert clone.get_params() == e.get_params()
    assert not hasattr(clone, "model_")


# --- settings, build, registry ----------------------------------------------------------------


def test_build_from_settings_with_a_patents_table(tmp_path):
    table = tmp_path / "patents"
    table.mkdir()
    pq.write_table(
        pa.table(
            {
                "publication_number": [f"CN{100000 + i}A" for i in range(len(AGRI))],
                "title": [r["title"] for r in AGRI],
                "abstract": [r["abstract"] for r in AGRI],
            }
        ),
        table / "part-0.parquet",
    )
    lexical = LexicalSettings(path=str(tmp_path / "lx"), fit_corpus=str(table), dims=16)
    settings = EmbedSettings(embedder="lexical-zh", lexical=lexical)
    assert artifact_path("lexical-zh", settings) == tmp_path / "lx"
    ensure_built(settings)
    config = json.loads((tmp_path / "lx" / CONFIG).read_text())
    # read_corpus leaves out the held-out fifth: fewer than all rows are fitted on
    assert 0.6 * len(AGRI) < config["fit_docs"] < len(AGRI)
    assert config["hmm"] is False and config["char_ngrams"] == [1, 2]
    e = make_embedder(settings)
    assert isinstance(e, LexicalEmbedder) and Path(e.path).is_absolute()
    assert loaded(e).dim == 16
    with pytest.raises(ValueError, match="fit_corpus"):
        build("lexical-zh", settings.model_copy(update={"lexical": LexicalSettings(fit_corpus="")}))


# --- Spark and MLflow -------------------------------------------------------------------------


def test_spark_map_in_arrow_matches_in_process(spark, model_dir, embedder):
    rows = [
        ("CN1A", "h1", "余热回收装置", CHINESE[0]),
        ("CN2A", "h2", "熱交換器", "廢熱回收裝置，用於水泥窯"),
        ("CN3A", "h3", None, ""),  # an empty Chinese abstract and no title: skipped, not lost
        ("US4A", "h4", "Heat exchanger", "A heat exchanger with fins."),
        ("CN5A", "h5", "ＬＥＤ灯", "全角（ＡＢＣ）标点，混合 text"),
    ]
    frame = spark.createDataFrame(
        rows, "publication_number string, content_hash string, title string, abstract string"
    ).repartition(2)
    e = LexicalEmbedder(path=str(model_dir))
    out = {r.publication_number: r for r in embed(frame, e, "title_abstract", 2048, 1.1).collect()}
    assert sorted(out) == sorted(r[0] for r in rows)
    assert out["CN3A"].vector is None and out["CN3A"].skip_reason == SKIP_NO_TEXT
    texts = {r[0]: patent_text(r[2], r[3], "title_abstract") for r in rows}
    for number in ("CN1A", "CN2A", "US4A", "CN5A"):
        got = np.array(out[number].vector, dtype=np.float32)
        assert got.shape == (DIMS,) and out[number].skip_reason is None
        assert np.allclose(got, embedder.encode([texts[number]])[0], atol=1e-6)
        assert out[number].n_tokens == embedder.token_counts([texts[number]])[0]


def test_logged_to_mlflow_with_corpus_fingerprint(model_dir, embedder, tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("lexical", artifact_location=str(tmp_path / "art"))
    run = client.create_run(experiment)
    model_id = log_lexical_model(client, run.info.run_id, model_dir)
    model = client.get_logged_model(model_id)
    assert str(model.status) in ("READY", "LoggedModelStatus.READY")
    assert model.source_run_id == run.info.run_id
    assert model.tags[TAG_CORPUS] == corpus_sha256(CORPUS)
    assert model.tags[TAG_EMBEDDER_ID] == embedder.embedder_id
    assert model.params["dim"] == str(DIMS)
    outputs = client.get_run(run.info.run_id).outputs.model_outputs
    assert [o.model_id for o in outputs] == [model_id]
    assert client.get_run(run.info.run_id).data.tags["lexical-zh.model_id"] == model_id
    stored = Path(model.artifact_location.removeprefix("file://"))
    assert (stored / CARD_MD).read_text() == (model_dir / CARD_MD).read_text()
    assert (stored / COMPONENTS).read_bytes() == (model_dir / COMPONENTS).read_bytes()
    # a later run with the same model links the logged model, it does not upload a copy
    second = client.create_run(experiment)
    assert log_lexical_model(client, second.info.run_id, model_dir) == model_id
    assert len(client.search_logged_models([experiment])) == 1
    linked = client.get_run(second.info.run_id).outputs.model_outputs
    assert [o.model_id for o in linked] == [model_id]
