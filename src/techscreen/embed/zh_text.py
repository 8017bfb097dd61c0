"""Patent text in any script → lexical features: jieba words, words of other scripts, n-grams.

What the ``lexical-zh`` embedder counts (:mod:`techscreen.embed.lexical`). A text is first
normalised so that spellings of one string meet: NFKC (full-width ``ＡＢＣ１２３，`` becomes
``ABC123,``), lower case, and traditional Han characters converted to simplified (OpenCC
``t2s``; CNIPA text is simplified, Taiwanese and some Hong Kong text traditional). Then:

* **words**: jieba (precise mode) segments Han runs into dictionary words; ASCII runs give
  lower-case words (a letter, then letters or digits: ``co2``, ``lithium``). With analyser
  version 2 (the default) a word with letters of any other script is read whole — German
  ``wärmetauscher``, Russian ``теплообменник``, Korean ``열교환기``, Japanese katakana
  ``タービン``; hiragana (Japanese inflections and particles) is a break, not a word.
  Version 1 (models built before it) dropped those letters, so a Korean or Russian text had
  no feature and German words lost their umlauts' neighbours. Numbers and punctuation are
  dropped (reference numerals such as ``（１）`` carry no topic). Words are the embedder's
  *tokens*: what ``max_tokens`` counts and truncates;
* **character n-grams** (prefixed ``#``) of each run of consecutive Han characters among the
  kept words, and (version 2) of each kept Hangul or katakana word: they catch compounds the
  dictionary lacks, mis-segmentations and Korean words with their particles attached
  (``발명은`` shares ``#발명`` with ``발명``).

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
ANALYSER_VERSION = 2
"""The analyser of new models; a model records the version it was fitted with."""
# Version 2: a run of letters and digits (no Han) with a letter outside ASCII is read whole,
# never through jieba (which splits "wärme" at the "ä"): an ASCII prefix joins it.
_FOREIGN_WORD = re.compile(rf"[a-z0-9]*[^\W\d_a-z{_HAN}][^\W_{_HAN}]*")
_HIRAGANA = "\u3040-\u309f"
_KATAKANA = "\u30a0-\u30ff\u31f0-\u31ff"
_HANGUL = "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"
# Within such a run: hiragana (a break), katakana or Hangul words (also cut into n-grams),
# or a word of any other script (a letter, then letters or digits).
_SYLLABARIES = f"{_HIRAGANA}{_KATAKANA}{_HANGUL}"
_SCRIPT_PIECE = re.compile(
    rf"(?P<hiragana>[{_HIRAGANA}]+)|(?P<syllabic>[{_KATAKANA}]+|[{_HANGUL}]+)"
    rf"|(?P<word>[^\W\d_{_HAN}{_SYLLABARIES}][^\W_{_HAN}{_SYLLABARIES}]*)"
)


def versions() -> dict[str, str]:
    """Versions of the libraries whose behaviour the features depend on."""
    from importlib.metadata import version

    return {"jieba": version("jieba"), "opencc": version("opencc")}


# What a piece of text is to :meth:`Analyser.analyse`.
_BREAK, _HAN_PIECE, _WORD, _SYLLABIC = "break", "han", "word", "syllabic"


@dataclass(frozen=True)
class Analyser:
    """Text → (words, features) as described in the module docstring.

    Args:
        char_ngrams: the character n-gram lengths counted over Han runs (and, version 2,
            Hangul and katakana words), e.g. ``(1, 2)``; empty for words only.
        hmm: let jieba's HMM join characters its dictionary does not know into words.
        simplify: convert traditional characters to simplified before segmenting.
        min_word_chars: alphabetic words (Latin, Cyrillic, Greek …) shorter than this are
            dropped (single letters); Han, Hangul and katakana words are kept at any length.
        version: 2 reads words of every script; 1 (models built before version 2) only Han
            and ASCII text. A model's features depend on it, so it is saved with the model.
    """

    char_ngrams: tuple[int, ...] = (1, 2)
    hmm: bool = False
    simplify: bool = True
    min_word_chars: int = 2
    version: int = ANALYSER_VERSION

    def get_params(self) -> dict[str, Any]:
        """The parameters (saved with a model: they define its features)."""
        return {
            "char_ngrams": list(self.char_ngrams),
            "hmm": self.hmm,
            "simplify": self.simplify,
            "min_word_chars": self.min_word_chars,
            "version": self.version,
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

    def _pieces(self, text: str) -> Iterator[tuple[str, str]]:
        """(piece, kind) in text order; a non-word piece is ``("", _BREAK)``."""
        if self.version < 2:
            yield from self._jieba_pieces(text)
            return
        start = 0
        for found in _FOREIGN_WORD.finditer(text):
            yield from self._jieba_pieces(text[start : found.start()])
            yield from self._script_pieces(found.group())
            start = found.end()
        yield from self._jieba_pieces(text[start:])

    def _jieba_pieces(self, text: str) -> Iterator[tuple[str, str]]:
        """Han words and ASCII words of ``text`` (jieba's segmentation)."""
        for token in self._jieba.cut(text, HMM=self.hmm):
            if _HAN_WORD.fullmatch(token):
                yield token, _HAN_PIECE
                continue
            found = False
            for part in _HAN_WORD.finditer(token):  # rare: a mixed token such as "co2气体"
                found = True
                yield part.group(), _HAN_PIECE
            if not found:
                for word in _LATIN_WORD.findall(token):
                    if len(word) >= self.min_word_chars:
                        yield word, _WORD
                yield "", _BREAK

    def _script_pieces(self, run: str) -> Iterator[tuple[str, str]]:
        """The words of a run of letters with some outside ASCII and Han (version 2)."""
        for found in _SCRIPT_PIECE.finditer(run):
            piece = found.group()
            if found.lastgroup == "syllabic":
                yield piece, _SYLLABIC
            elif found.lastgroup == "word" and len(piece) >= self.min_word_chars:
                yield piece, _WORD
            else:
                yield "", _BREAK
        yield "", _BREAK

    def analyse(self, text: str | None, max_words: int | None = None) -> tuple[list[str], int]:
        """The features of ``text`` and its word count before truncation.

        Args:
            text: any text (None or empty gives no features).
            max_words: keep the features of the first ``max_words`` words only.

        Returns:
            (features, words): word features then ``#``-prefixed character n-grams of the
            kept Han runs (and Hangul/katakana words); ``words`` counts every word of the
            text.
        """
        norm = self.normalise(text)
        if not norm:
            return [], 0
        features: list[str] = []
        runs: list[str] = []
        run: list[str] = []
        count = 0
        limit = max_words if max_words is not None else float("inf")
        for piece, kind in self._pieces(norm):
            if kind == _HAN_PIECE and count < limit:
                run.append(piece)
            elif run:
                runs.append("".join(run))
                run = []
            if piece:
                if count < limit:
                    features.append(piece)
                    if kind == _SYLLABIC:
                        runs.append(piece)
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
