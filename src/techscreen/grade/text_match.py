"""Text similarity shared by the grade stage's matchers (expert nominations, control lists).

Both match short technology names (a nominated technology, a list entry) to technology
nodes described by a label, keyword terms and titles, in English, Chinese or both. The
measure is TF-IDF over character n-grams within words (``char_wb``, 2–4 characters,
lower-cased, NFKC-normalised): Chinese needs no tokenizer, English tolerates inflection,
and a Chinese text meets a Chinese text and an English one an English one.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

NGRAMS = (2, 4)


def normal(text: str) -> str:
    """NFKC form: full-width Latin letters and digits become ASCII."""
    return unicodedata.normalize("NFKC", text)


def char_similarity(
    queries: Sequence[str], documents: Sequence[str], background: Sequence[str] = ()
) -> np.ndarray:
    """Cosine similarity of each query to each document, fitted on the documents.

    The vocabulary comes from ``documents`` only, so n-grams no document has are left out
    of a query's vector; the IDF from ``documents`` and ``background``, so n-grams common
    among them (``技术``, ``tion``) weigh little. Without a background a query's
    similarities do not depend on the other queries. Empty texts have similarity 0.

    Args:
        queries: texts to look up.
        documents: texts to compare them with.
        background: more texts for the IDF only (a short list is a thin sample of how
            common an n-gram is).

    Returns:
        ``len(queries) × len(documents)`` array of cosines in [0, 1].
    """
    if not len(queries) or not any(text.strip() for text in documents):
        return np.zeros((len(queries), len(documents)))
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=NGRAMS)
    vocabulary = TfidfVectorizer(analyzer="char_wb", ngram_range=NGRAMS)
    vocabulary.fit([normal(text) for text in documents])
    vectorizer.set_params(vocabulary=sorted(vocabulary.vocabulary_))
    vectorizer.fit([normal(text) for text in [*documents, *background]])
    fitted = vectorizer.transform([normal(text) for text in documents])
    asked = vectorizer.transform([normal(text) for text in queries])
    # rows are L2-normalised, so the dot product is the cosine
    return (asked @ fitted.T).toarray()


def field_texts(values: Any, names: Sequence[str]) -> list[str]:
    """The texts of a list column: strings as they are, structs by their first set field.

    Args:
        values: a list of strings or of structs (mappings or pyspark Rows); None or NaN
            (a missing list) gives no text.
        names: the struct fields tried in order (``("term",)``, ``("title", "code")``).

    Returns:
        One text per value (empty where a struct has none of the fields set).
    """
    if values is None or isinstance(values, float):
        return []
    return [value if isinstance(value, str) else _first_set(value, names) for value in values]


def _first_set(value: Any, names: Sequence[str]) -> str:
    """The first non-empty of ``names`` in a struct (a mapping, or a pyspark Row)."""
    get = value.get if isinstance(value, Mapping) else lambda name: getattr(value, name, None)
    return next((text for text in map(get, names) if text), "")
