"""Fitting static token vectors to MiniLM: held-out split, fit corpus, the closed-form fit."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from techscreen.embed.minilm import packaged_minilm
from techscreen.embed.static_fit import (
    HOLDOUT_BUCKETS,
    fit_token_vectors,
    held_out,
    mean_rows,
    read_corpus,
    teacher_pass,
)

ROOT = Path(__file__).resolve().parents[2]
IPA = ROOT / "data" / "sample" / "ipa_week" / "uspto_ipa230105_applications.jsonl.gz"


def sample_texts(n: int) -> list[str]:
    """The first n applications of the bundled sample (title. abstract), read directly."""
    with gzip.open(IPA, "rt", encoding="utf-8") as f:
        records = [json.loads(line) for _, line in zip(range(n), f, strict=False)]
    return [f"{r['title'].capitalize()}. {r['abstract']}" for r in records]


def test_held_out_is_a_stable_fifth():
    numbers = [f"US{2_000_000 + i}B2" for i in range(20_000)]
    share = np.mean([held_out(n) for n in numbers])
    assert abs(share - 1 / HOLDOUT_BUCKETS) < 0.01
    # A pure function of the number (sha256, not Python's salted hash): the same split in
    # every process and on every machine. The bench relies on it: do not change it lightly.
    assert [held_out(f"US2023000000{i}A1") for i in range(1, 9)] == [
        True,
        False,
        False,
        True,
        False,
        False,
        False,
        True,
    ]


def test_read_corpus_from_a_patents_table(tmp_path):
    numbers = [f"US{9_000_000 + i}B1" for i in range(60)]
    kept = [n for n in numbers if not held_out(n)]
    dropped = [n for n in numbers if held_out(n)]
    assert dropped, "the synthetic numbers must include held-out ones"
    rows = {
        "publication_number": [*numbers, kept[0], kept[1]],
        "title": [f"Widget {i}" for i in range(60)] + ["Duplicate", None],
        "abstract": [f"A widget\tnumber {i}." for i in range(60)] + ["again", None],
        "language": ["en"] * 62,
    }
    table = tmp_path / "patents"
    table.mkdir()
    pq.write_table(pa.table(rows), table / "part-0.parquet")

    texts, facts = read_corpus(table, max_docs=1000)
    assert len(texts) == facts["docs"] == facts["available_docs"] == len(kept)
    # one text per number (a duplicate replaces its twin, an empty one is skipped), none
    # held out, cleaned by the recipe
    assert sum(t.startswith("Duplicate. again") for t in texts) == 1
    assert "Widget 1. A widget number 1." in texts
    assert all("\t" not in t and t.startswith(("Widget ", "Duplicate")) for t in texts)
    assert not any(f"Widget {numbers.index(n)}." in texts for n in dropped)
    assert facts["corpus"] == str(table) and len(facts["texts_sha256"]) == 64

    few, few_facts = read_corpus(table, max_docs=10)
    assert len(few) == few_facts["docs"] == 10
    assert few == read_corpus(table, max_docs=10)[0]  # deterministic choice
    assert set(few) <= set(texts)

    with pytest.raises(FileNotFoundError):
        read_corpus(tmp_path / "nowhere")


@pytest.fixture(scope="module")
def fitted():
    """A real MiniLM pass over 40 sample texts; random base vectors stand in for distilled ones."""
    from transformers import AutoTokenizer

    source = packaged_minilm()
    tokenizer = AutoTokenizer.from_pretrained(str(source), local_files_only=True)
    vocab = tokenizer.get_vocab()
    texts = sample_texts(40)
    teacher = teacher_pass(texts, vocab, source=source, max_tokens=128, batch_size=16)
    ids = tokenizer(texts, add_special_tokens=False, truncation=True, max_length=128)
    token_ids = ids["input_ids"]
    base = np.random.default_rng(0).standard_normal((len(vocab), 48)).astype(np.float32)
    vectors = fit_token_vectors(base, token_ids, teacher, dims=32)
    return base, token_ids, teacher, vectors


def test_teacher_pass_matches_minilm_embedder(fitted):
    from techscreen.embed.minilm import MiniLMEmbedder

    _, _, teacher, _ = fitted
    texts = sample_texts(3)
    reference = MiniLMEmbedder(device="cpu", max_tokens=128).load().encode(texts)
    np.testing.assert_allclose(teacher.doc_vectors[:3], reference, atol=1e-4)
    assert teacher.token_counts.sum() > 40 * 20  # tokens of 40 abstracts were collected
    assert teacher.token_sums.shape == (len(teacher.token_counts), 384)


def test_fit_regresses_static_vectors_onto_minilm(fitted):
    base, token_ids, teacher, vectors = fitted
    assert vectors.shape == (len(base), 32) and vectors.dtype == np.float32
    assert np.isfinite(vectors).all()
    # Unseen tokens keep a (mapped) vector: no zero rows, so any text gets a vector.
    unseen = teacher.token_counts == 0
    assert unseen.sum() > 20_000 and (np.abs(vectors[unseen]).sum(1) > 0).all()

    def agreement(doc: np.ndarray) -> np.ndarray:
        # cosine structure: static text-text similarities vs MiniLM's on the corpus
        doc = doc / np.linalg.norm(doc, axis=1, keepdims=True)
        return doc @ doc.T

    fitted_sims = agreement(mean_rows(vectors, token_ids))
    base_sims = agreement(mean_rows(base, token_ids))
    teacher_sims = teacher.doc_vectors @ teacher.doc_vectors.T
    off = ~np.eye(len(token_ids), dtype=bool)
    r_fit = np.corrcoef(fitted_sims[off], teacher_sims[off])[0, 1]
    r_base = np.corrcoef(base_sims[off], teacher_sims[off])[0, 1]
    assert r_fit > 0.9 > r_base + 0.3

    again = fit_token_vectors(base, token_ids, teacher, dims=32)
    np.testing.assert_array_equal(vectors, again)  # closed-form: no seed, same result


def test_fit_needs_corpus_tokens(fitted):
    base, token_ids, teacher, _ = fitted
    empty = type(teacher)(
        teacher.doc_vectors, np.zeros_like(teacher.token_sums), np.zeros_like(teacher.token_counts)
    )
    with pytest.raises(ValueError, match="no token"):
        fit_token_vectors(base, token_ids, empty, dims=32)
