"""WordPiece ids of plain ASCII text, word by word from a cache: the tokenizer's ids, faster.

A BERT tokenizer (``BertNormalizer`` lowercasing, ``BertPreTokenizer``, ``WordPiece``) cuts
text into words and punctuation marks and tokenises each word on its own, so a word always
gives the same ids. On printable ASCII text the cut is a regular expression: runs of letters
and digits, and each punctuation mark alone. Patent abstracts repeat a small vocabulary, so
looking each word up in a cache (filled by the tokenizer itself, a batch of new words at a
time) gives the same ids as tokenising the whole text, several times faster
(tests/embed/test_word_pieces.py checks the equality on real and hostile text). Any other
text (non-ASCII, control characters, an added token such as ``[UNK]`` written in the text)
goes to the tokenizer whole.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import chain
from typing import Any

# after lowercasing: a run of letters and digits, or one ASCII punctuation mark
_WORD = re.compile(r"[a-z0-9]+|[!-/:-@\[-`{-~]")
_NOT_PLAIN = re.compile(r"[^\t\n\r -~]")  # anything but printable ASCII, tab and line breaks


class WordPieceCache:
    """Ids of texts by ``tokenizer`` (no special tokens), plain ASCII ones by cached words.

    ``max_words``: the cache is emptied when it would grow past this many words (a worker
    embedding millions of texts keeps a bounded dictionary).
    """

    def __init__(self, tokenizer: Any, max_words: int = 500_000) -> None:
        self.tokenizer = tokenizer
        self.max_words = max_words
        self.added = [t.content for t in tokenizer.get_added_tokens_decoder().values()]
        self.ids: dict[str, list[int]] = {}

    def plain(self, text: str) -> bool:
        """Whether ``text`` is cut by the regular expression exactly as by the tokenizer."""
        return _NOT_PLAIN.search(text) is None and not any(a in text for a in self.added)

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's ids, as ``tokenizer.encode_batch_fast(texts, add_special_tokens=False)``."""
        words: list[list[str] | None] = [
            _WORD.findall(t.lower()) if self.plain(t) else None for t in texts
        ]
        seen = set(chain.from_iterable(ws for ws in words if ws))
        new = seen - self.ids.keys()
        if len(self.ids) + len(new) > self.max_words:
            self.ids.clear()
            new = seen
        self._learn(sorted(new))
        hard = [i for i, ws in enumerate(words) if ws is None]
        whole = self._tokenise([texts[i] for i in hard])
        out: list[list[int]] = [
            [] if ws is None else list(chain.from_iterable(map(self.ids.__getitem__, ws)))
            for ws in words
        ]
        for i, ids in zip(hard, whole, strict=True):
            out[i] = ids
        return out

    def _learn(self, words: list[str]) -> None:
        for word, ids in zip(words, self._tokenise(words), strict=True):
            self.ids[word] = ids

    def _tokenise(self, texts: list[str]) -> list[list[int]]:
        if not texts:
            return []
        # encode_batch_fast: Rust, parallel, and skips computing offsets we do not need.
        encodings = self.tokenizer.encode_batch_fast(texts, add_special_tokens=False)
        return [e.ids for e in encodings]
