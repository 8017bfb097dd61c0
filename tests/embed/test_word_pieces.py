"""The word cache gives exactly the tokenizer's ids: on real text and on hostile text."""

from __future__ import annotations

import gzip
import random

import pytest
from tokenizers import Tokenizer

from conftest import ROOT
from techscreen.embed.minilm import packaged_minilm
from techscreen.embed.static import plain_tokenizer
from techscreen.embed.word_pieces import WordPieceCache

SAMPLE = ROOT / "data" / "sample"


@pytest.fixture(scope="module")
def tokenizer():
    return plain_tokenizer(Tokenizer.from_file(str(packaged_minilm() / "tokenizer.json")))


def _truth(tokenizer, texts: list[str]) -> list[list[int]]:
    return [e.ids for e in tokenizer.encode_batch_fast(texts, add_special_tokens=False)]


def _sample_lines() -> list[str]:
    """Every line of the bundled sample's text files: English, Chinese, Korean, German, JSON."""
    lines = []
    for path in sorted(SAMPLE.rglob("*")):
        if path.suffix in (".jsonl", ".csv", ".gz") and "xml" not in path.name:
            opener = gzip.open if path.suffix == ".gz" else open
            with opener(path, "rt", encoding="utf-8", errors="replace") as f:
                lines += [line.rstrip("\n") for line in f]
    return lines


def test_real_text_gets_the_tokenizers_ids(tokenizer):
    lines = _sample_lines()
    cache = WordPieceCache(tokenizer)
    assert len(lines) > 4000
    plain = sum(cache.plain(line) for line in lines)
    assert 1000 < plain < len(lines)  # both paths are taken
    for start in range(0, len(lines), 500):  # batches: later ones hit the filled cache
        batch = lines[start : start + 500]
        assert cache.encode(batch) == _truth(tokenizer, batch)


ALPHABET = (
    "abcXYZ09 _-.,;:()[]{}<>/\\|'\"`~!?@#$%^&*+=\t\n\r\x00\x0b\x0c\x1f\x7féßİ中한\u200b\ufffd😀"
)


def _hostile(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(0, 12)):
        kind = rng.random()
        if kind < 0.1:
            parts.append(rng.choice(["[UNK]", "[PAD]", "[unk]", "[CLS]", "##ing", "[ UNK ]"]))
        elif kind < 0.15:
            parts.append("x" * rng.randint(95, 130))  # around WordPiece's 100-character limit
        else:
            parts.append("".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 8))))
    return "".join(parts)


def test_hostile_text_gets_the_tokenizers_ids(tokenizer):
    rng = random.Random(20261203)
    texts = [_hostile(rng) for _ in range(3000)]
    cache = WordPieceCache(tokenizer)
    assert sum(map(cache.plain, texts)) > 300
    assert cache.encode(texts) == _truth(tokenizer, texts)


def test_a_full_cache_is_emptied_and_the_ids_stay_the_same(tokenizer):
    lines = [line for line in _sample_lines() if line.isascii()][:600]
    cache = WordPieceCache(tokenizer, max_words=300)
    for start in range(0, len(lines), 50):
        batch = lines[start : start + 50]
        assert cache.encode(batch) == _truth(tokenizer, batch)
        batch_words = len({w for line in batch for w in line.lower().split()})
        assert len(cache.ids) <= max(300, 3 * batch_words)
