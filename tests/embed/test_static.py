"""The model2vec static embedder: offline build, model card, vectors, ids, edge-case texts."""

from __future__ import annotations

import json
import pickle
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from conftest import STATIC_DIMS, static_fit_texts
from techscreen.embed.base import files_fingerprint
from techscreen.embed.minilm import packaged_minilm
from techscreen.embed.static import StaticEmbedder, build_static

PCA_DIMS = STATIC_DIMS

BATTERY_A = (
    "A positive electrode for a lithium-ion secondary battery comprises a current collector "
    "and an active material layer containing lithium nickel manganese cobalt oxide particles "
    "coated with a conductive carbon film to improve cycle life."
)
BATTERY_B = (
    "An anode for a rechargeable lithium battery includes a copper foil current collector and "
    "a silicon-graphite composite active material layer, reducing electrode swelling during "
    "charge and discharge cycles."
)
HARVEST = (
    "A combine harvester comprises a header with a reel and cutter bar for cutting standing "
    "grain crops, a threshing drum separating kernels from straw, and a grain tank for "
    "collecting the harvested wheat in the field."
)


@pytest.fixture(scope="module")
def model_dir(static_model) -> Path:
    """The session's static embedder (tests/conftest.py builds it once for every module)."""
    return static_model


@pytest.fixture(scope="module")
def embedder(model_dir) -> StaticEmbedder:
    return StaticEmbedder(path=str(model_dir), max_tokens=256, batch_size=16).load()


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)  # vectors are L2-normalised


def test_model_card_has_the_facts(model_dir):
    card = json.loads((model_dir / "card.json").read_text())
    source = packaged_minilm()
    assert card["source_model"] == str(source)
    assert card["source_fingerprint"] == files_fingerprint(source)
    assert card["dim"] == card["pca_dims"] == PCA_DIMS
    assert 25_000 < card["vocab_size"] < 31_000  # BERT's 30,522 less the [unused*] tokens
    assert card["model2vec_version"] == "0.10.0"
    assert card["pooling"] == "mean"
    assert card["dtype"] == "float32"
    assert card["build_date"][:2] == "20"
    assert card["distill_seconds"] > 0
    fit = card["fit"]
    assert fit["corpus"] == "ipa head" and fit["max_tokens"] == 256 and fit["seconds"] > 0
    md = (model_dir / "MODEL_CARD.md").read_text()
    for fact in (
        card["source_fingerprint"],
        str(card["vocab_size"]),
        "techscreen models build-static",
        "Training corpus",
        "`ipa head`",
    ):
        assert fact in md
    # Nothing left behind by the atomic write.
    assert [p.name for p in model_dir.parent.iterdir()] == [model_dir.name]


def test_dim_and_vectors(embedder):
    assert embedder.dim == PCA_DIMS
    vectors = embedder.encode([BATTERY_A, BATTERY_B, HARVEST])
    assert vectors.dtype == np.float32
    assert vectors.shape == (3, PCA_DIMS)
    assert np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_encode_is_deterministic(embedder):
    texts = [BATTERY_A, HARVEST] * 20
    first, second = embedder.encode(texts), embedder.encode(texts)
    np.testing.assert_array_equal(first, second)
    # Batching does not change a text's vector.
    np.testing.assert_allclose(first[0], embedder.encode([BATTERY_A])[0], atol=1e-6)


def test_awkward_texts_give_finite_vectors(embedder):
    huge = "lithium electrode separator " * 40_000  # ~1.1 MB
    texts = [
        "一种锂离子电池正极材料及其制备方法",  # Chinese
        "?!... ;;; --- ***",  # punctuation only
        huge,
        "electrode\x00\x07\x1b[31m\tcoating\r\n\x7f\u200b",  # control characters
        "🦄🦄🦄",  # no known token at all
        "",
    ]
    vectors = embedder.encode(texts)
    assert vectors.shape == (len(texts), PCA_DIMS)
    assert np.isfinite(vectors).all()
    counts = embedder.token_counts(texts)
    assert counts.dtype == np.int64
    assert counts[2] > embedder.max_tokens  # the 1 MB text is truncated
    assert counts[0] > 0 and counts[1] > 0
    # Texts with no usable token come out as zero vectors, not NaN.
    assert counts[4] == counts[5] == 0
    assert not vectors[4].any() and not vectors[5].any()
    np.testing.assert_allclose(np.linalg.norm(vectors[:4], axis=1), 1.0, atol=1e-5)


def test_truncation_matches_token_counts(embedder):
    long = BATTERY_A + " " + HARVEST * 20
    assert embedder.token_counts([long])[0] > embedder.max_tokens
    # Only the first max_tokens tokens count: appending more text changes nothing.
    more = embedder.encode([long + " " + BATTERY_B * 5])[0]
    np.testing.assert_allclose(embedder.encode([long])[0], more, atol=1e-6)


def test_semantic_sanity(embedder):
    a, b, crop = embedder.encode([BATTERY_A, BATTERY_B, HARVEST])
    assert cos(a, b) > cos(a, crop)
    assert cos(a, b) > cos(b, crop)


def test_rebuild_is_deterministic_and_id_follows_the_files(model_dir, tmp_path):
    # Rebuilt over an existing folder: the old content is replaced, nothing is left beside.
    again = tmp_path / "again"
    again.mkdir()
    (again / "stale.txt").write_text("old")
    texts = static_fit_texts()
    rebuilt = build_static(again, pca_dims=PCA_DIMS, texts=texts, corpus={"corpus": "x"})
    assert not (again / "stale.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["again"]
    first = load_file(str(model_dir / "model.safetensors"))["embeddings"]
    second = load_file(str(rebuilt / "model.safetensors"))["embeddings"]
    np.testing.assert_allclose(first, second, atol=1e-6)

    original = StaticEmbedder(path=str(model_dir))
    # The id depends on the folder's content, not its location.
    copy = shutil.copytree(model_dir, tmp_path / "copy")
    assert StaticEmbedder(path=str(copy)).embedder_id == original.embedder_id
    # ... and on max_tokens, which changes vectors of long texts.
    assert StaticEmbedder(path=str(copy), max_tokens=128).embedder_id != original.embedder_id
    # Other vectors (here: the first 128 PCA components, as pca_dims=128 would give) -> new id.
    save_file({"embeddings": np.ascontiguousarray(first[:, :128])}, str(copy / "model.safetensors"))
    changed = StaticEmbedder(path=str(copy))
    assert changed.embedder_id != original.embedder_id
    assert changed.load().dim == 128


def test_pickles_before_load(model_dir):
    embedder = StaticEmbedder(path=str(model_dir), max_tokens=128, batch_size=32)
    payload = pickle.dumps(embedder)
    assert len(payload) < 1_000  # parameters only, cheap to ship to executors
    clone = pickle.loads(payload)
    assert clone.get_params() == {
        "kind": "static",
        "max_tokens": 128,
        "batch_size": 32,
        "path": str(model_dir),
    }
    assert clone.load().dim == PCA_DIMS


def test_missing_model_says_how_to_build(tmp_path):
    embedder = StaticEmbedder(path=str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="techscreen models build-static"):
        embedder.load()


def test_card_without_fit_says_so():
    from techscreen.embed.static import _card_markdown

    facts = {
        "source_model": "m",
        "source_fingerprint": "f",
        "vocab_size": 3,
        "dim": 8,
        "pca_dims": None,
        "sif_coefficient": 1e-4,
        "pooling": "mean",
        "dtype": "float32",
        "model2vec_version": "0.10.0",
        "build_date": "2026",
        "distill_seconds": 1.0,
        "fit": None,
        "rebuild_command": "techscreen models build-static",
    }
    assert "No fit: distilled vectors only" in _card_markdown(facts)


def test_arrow_text_recipe_matches_python():
    """The job assembles texts with Arrow (vectorised); it must equal :func:`patent_text`."""
    import pyarrow as pa

    from techscreen.embed.text import RECIPES, patent_text, patent_texts

    rng = random.Random(0)
    odd = [*range(0x21), *range(0x7F, 0xA2), 0x1680, 0x2000, 0x200B, 0x2028, 0x3000, 0x4E00]
    alphabet = [*"ab .?!,-", *map(chr, odd), "\U0001f984"]

    def text() -> str | None:
        if rng.random() < 0.1:
            return None
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))

    titles, abstracts = [text() for _ in range(5000)], [text() for _ in range(5000)]
    clean_rows = [("A battery", "An anode."), ("Cell.", "x  y"), ("", "only abstract")]
    for kind in (pa.string(), pa.large_string()):
        for recipe in RECIPES:
            got = patent_texts(
                pa.chunked_array([pa.array(titles[:2000], kind), pa.array(titles[2000:], kind)]),
                pa.array(abstracts, kind),
                recipe,
            ).to_pylist()
            assert got == [
                patent_text(t, a, recipe) for t, a in zip(titles, abstracts, strict=True)
            ]
            t, a = zip(*clean_rows, strict=True)
            got = patent_texts(pa.array(t, kind), pa.array(a, kind), recipe).to_pylist()
            assert got == [patent_text(x, y, recipe) for x, y in clean_rows]
    with pytest.raises(ValueError, match="unknown text recipe"):
        patent_texts(pa.array(["a"]), pa.array(["b"]), "claims")
