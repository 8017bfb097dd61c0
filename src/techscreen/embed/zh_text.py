"""Chinese and mixed-script text → lexical features: jieba words plus Han character n-grams.

What the ``lexical-zh`` embedder counts (:mod:`techscreen.embed.lexical`). A text is first
normalised so that spellings of one string meet: NFKC (full-width ``ＡＢＣ１２３，`` becomes
``ABC123,``), lower case, and traditional Han characters converted to simplified (OpenCC
``t2s``; CNIPA text is simplified, Taiwanese and some Hong Kong text traditional). Then:

* **words**: jieba (precise mode) segments Han runs into dictionary words; Latin-script
  runs give lower-case words (a letter, then letters or digits: ``co2``, ``lithium``).
  Numbers and punctuation are dropped (reference numerals such as ``（１）`` carry no topic).
  Words are the embedder's *tokens*: what ``max_tokens`` counts and truncates;
* **character n-grams** (prefixed ``#``) of each run of consecutive Han characters among the
  kept words: they catch compounds the dictionary lacks and mis-segmentations.

Everything here is deterministic and offline: jieba's dictionary ships in its package and
OpenCC's conversion tables in its own.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

# CJK unified ideographs, extension A and the compatibility block: what counts as Han.
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN_WORD = re.compile(f"[{_HAN}]+")
_LATIN_WORD = re.compile(r"[a-z][a-z0-9]*")
NGRAM_PREFIX = "#"


def versions() -> dict[str, str]:
    """Versions of the libraries whose behaviour the features depend on."""
    from importlib.metadata import version

    return {"jieba": version("jieba"), "opencc": version("opencc")}


@dataclass(frozen=True)
class Analyser:
    """Text → (words, features) as described in the module docstring.

    Args:
        char_ngrams: the character n-gram lengths counted over Han runs (e.g. ``(1, 2)``);
            empty for words only.
        hmm: let jieba's HMM join characters its dictionary does not know into words.
        simplify: convert traditional characters to simplified before segmenting.
        min_word_chars: Latin words shorter than this are dropped (single letters).
    """

    char_ngrams: tuple[int, ...] = (1, 2)
    hmm: bool = False
    simplify: bool = True
    min_word_chars: int = 2

    def get_params(self) -> dict[str, Any]:
        """The parameters (saved with a model: they define its features)."""
        return {
            "char_ngrams": list(self.char_ngrams),
            "hmm": self.hmm,
            "simplify": self.simplify,
            "min_word_chars": self.min_word_chars,
        }

    @cached_property
    def _jieba(self) -> Any:
        # A private tokenizer rather than jieba's global one; its dictionary is the one in
        # the package (the prefix dictionary is cached in the temp folder by jieba itself).
        import jieba

        jieba.setLogLevel(logging.WARNING)  # else it prints "Building prefix dict…" to stderr
        tokenizer = jieba.Tokenizer()
        tokenizer.initialize()
        return tokenizer

    @cached_property
    def _converter(self) -> Any:
        import opencc

        return opencc.OpenCC("t2s")

    def normalise(self, text: str | None) -> str:
        """NFKC, lower case, traditional → simplified (when ``simplify``)."""
        if not text:
            return ""
        text = unicodedata.normalize("NFKC", text).lower()
        if self.simplify and _HAN_WORD.search(text):
            text = self._converter.convert(text)
        return text

    def _pieces(self, text: str) -> Iterator[tuple[str, bool]]:
        """(piece, is_han) in text order; a non-word piece is ``("", False)`` (a break)."""
        for token in self._jieba.cut(text, HMM=self.hmm):
            if _HAN_WORD.fullmatch(token):
                yield token, True
                continue
            found = False
            for part in _HAN_WORD.finditer(token):  # rare: a mixed token such as "co2气体"
                found = True
                yield part.group(), True
            if not found:
                for word in _LATIN_WORD.findall(token):
                    if len(word) >= self.min_word_chars:
                        yield word, False
                yield "", False

    def analyse(self, text: str | None, max_words: int | None = None) -> tuple[list[str], int]:
        """The features of ``text`` and its word count before truncation.

        Args:
            text: any text (None or empty gives no features).
            max_words: keep the features of the first ``max_words`` words only.

        Returns:
            (features, words): word features then ``#``-prefixed character n-grams of the
            kept Han runs; ``words`` counts every word of the text.
        """
        norm = self.normalise(text)
        if not norm:
            return [], 0
        features: list[str] = []
        runs: list[str] = []
        run: list[str] = []
        count = 0
        limit = max_words if max_words is not None else float("inf")
        for piece, han in self._pieces(norm):
            if han and count < limit:
                run.append(piece)
            elif run:
                runs.append("".join(run))
                run = []
            if piece:
                if count < limit:
                    features.append(piece)
                count += 1
        if run:
            runs.append("".join(run))
        for n in self.char_ngrams:
            for r in runs:
                features.extend(NGRAM_PREFIX + r[i : i + n] for i in range(len(r) - n + 1))
        return features, count

    def analyse_all(
        self, texts: Sequence[str | None], max_words: int | None = None
    ) -> tuple[list[list[str]], list[int]]:
        """:meth:`analyse` over ``texts``: (features of each, word count of each)."""
        out = [self.analyse(t, max_words) for t in texts]
        return [f for f, _ in out], [c for _, c in out]
