"""Synthetic titles and abstracts from real phrasing: a phrase bank and theme vocabularies.

The phrase bank is derived at run time from a real sample of abstracts and titles (by default
the bundled ``data/sample/ipa_week`` file, USPTO public domain) — nothing is shipped:

* words are *generic* when they are English stop words, patent boilerplate, or frequent
  (in at least 3 % of abstracts) and spread evenly over the IPC sections of the sample (no
  section uses the word more than 1.8 times as often as the whole sample does);
* every real sentence becomes a *template*: its generic words and punctuation stay verbatim,
  each run of other (topical) words becomes a slot that remembers its length, e.g.
  ``"A {2} includes a {1} and a {3} configured to {1} the {1}."``; sentences with digits,
  quotes or brackets, or without a slot, are dropped;
* the topical runs themselves, cut into 1–3 word n-grams seen at least twice, are the
  *background* vocabulary (real technical words from every field: the noise of an abstract).

A theme's own vocabulary is the n-grams of content words in the English titles of its IPC
main groups (and, with less weight, of its subclass): see :func:`title_phrases`.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from techscreen.normalize import class_code, main_group

_TOKEN = re.compile(r"e\.g\.|i\.e\.|[A-Za-z][A-Za-z'\-]*|\d+(?:[.,]\d+)*|\S")
_SENTENCE = re.compile(r"(?<=[.;])\s+(?=[A-Z])")
_NO_SPACE_BEFORE = {",", ".", ";", ":", ")"}
_REJECT = re.compile(r"[\d\"\[\]{}/\\*=<>+%&#@]")
SLOT = "\x00"
_GOOD_WORD = re.compile(r"[a-z]{3,}(?:-[a-z]{2,})*")

# Patent and classification boilerplate: never a theme word, always literal in templates.
# fmt: off
BOILERPLATE = frozenset({
    "e.g.", "i.e.", "present", "invention", "disclosure", "relates", "relate", "related",
    "provides", "provided", "providing", "thereof", "therefor", "herein", "embodiment",
    "embodiments", "method", "methods", "use", "using", "used", "wherein", "comprising",
    "comprises", "include", "includes", "including", "described", "disclosed", "according",
    "specially", "adapted", "particular", "purposes", "general", "details", "means",
    "characterised", "characterized", "specific", "similar", "kind", "type", "like", "covered",
    "subclass", "group", "groups", "main", "arrangements", "devices", "apparatus", "processes",
    "elements", "features"
})
# fmt: on
MIN_SHARE = 0.03  # a frequent word is in at least this share of the sample's abstracts
MAX_SECTION_RATIO = 1.8  # and no IPC section uses it more than this much more often
MAX_SLOT_WORDS = 3


def _stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) | BOILERPLATE


def tokens(text: str) -> list[str]:
    """Split text into words, numbers and punctuation (``e.g.`` stays one token)."""
    return _TOKEN.findall(text)


def render(parts: Iterable[str]) -> str:
    """Join tokens with English spacing (no space before ``,.;:)``, none after ``(``)."""
    out: list[str] = []
    for tok in parts:
        if out and tok not in _NO_SPACE_BEFORE and out[-1] != "(":
            out.append(" ")
        out.append(tok)
    return "".join(out)


@dataclass(frozen=True)
class Template:
    """A sentence skeleton: ``literals[0] slot literals[1] slot … literals[-1]``."""

    literals: tuple[str, ...]
    slots: tuple[int, ...]  # words each slot held in the real sentence (capped)

    def fill(self, phrases: Sequence[str]) -> str:
        """The sentence with one phrase per slot (a slot at the start is capitalised)."""
        out = [self.literals[0]]
        for i, phrase in enumerate(phrases):
            if i == 0 and not self.literals[0]:
                phrase = phrase[:1].upper() + phrase[1:]
            out.append(phrase)
            out.append(self.literals[i + 1])
        return "".join(out)


def _template(words: list[str], generic: frozenset[str], *, lower: bool) -> Template | None:
    skeleton: list[str] = []
    slots: list[int] = []
    for tok in words:
        topical = tok[0].isalpha() and tok.lower() not in generic
        if topical:
            if skeleton and skeleton[-1] == SLOT:
                slots[-1] = min(slots[-1] + 1, MAX_SLOT_WORDS)
            else:
                skeleton.append(SLOT)
                slots.append(1)
        else:
            skeleton.append(tok.lower() if lower else tok)
    if not slots:
        return None
    literals = render(skeleton).split(SLOT)
    return Template(tuple(literals), tuple(slots))


def _usable(words: list[str], min_tokens: int, max_tokens: int) -> bool:
    text = " ".join(words)
    return (
        min_tokens <= len(words) <= max_tokens
        and not _REJECT.search(text)
        and text.count("(") == text.count(")")
    )


class PhraseBank:
    """Sentence and title templates and background n-grams learnt from real abstracts.

    Attributes:
        openers: templates of first sentences of real abstracts.
        body: templates of the other sentences.
        titles: templates of real titles (lower case; the writer chooses the casing).
        background: real topical n-grams by length (1, 2, 3 words).
        generic: the words kept literal in templates.
        code_counts: records of the sample per IPC subclass and per main group.
    """

    def __init__(
        self,
        openers: list[Template],
        body: list[Template],
        titles: list[Template],
        background: dict[int, list[str]],
        generic: frozenset[str],
        code_counts: Counter[str] | None = None,
    ) -> None:
        self.openers = openers
        self.body = body
        self.titles = titles
        self.background = background
        self.generic = generic
        self.code_counts = code_counts or Counter()

    @classmethod
    def from_records(cls, records: Iterable[tuple[str, str, Sequence[str]]]) -> PhraseBank:
        """Learn the bank from ``(title, abstract, IPC codes)`` triples (deterministic)."""
        rows: list[tuple[str, str, str]] = []
        code_counts: Counter[str] = Counter()
        for title, abstract, codes in records:
            groups = set()
            for code in codes or ():
                try:
                    norm = class_code(code)
                except ValueError:
                    continue
                groups.update({norm[:4], main_group(norm)})
            code_counts.update(groups)
            if abstract:
                first = (codes or [""])[0]
                rows.append((title or "", abstract, first[:1]))
        if len(rows) < 50:
            raise ValueError(f"need at least 50 abstracts to learn phrasing, got {len(rows)}")
        stop = _stop_words()
        generic = stop | _dispersed_frequent_words(rows)
        openers: dict[str, Template] = {}
        body: dict[str, Template] = {}
        titles: dict[str, Template] = {}
        counts: Counter[str] = Counter()
        for title, abstract, _ in rows:
            for k, sentence in enumerate(_SENTENCE.split(abstract.strip())):
                words = tokens(sentence)
                _count_ngrams(words, generic, counts)
                if not words or words[-1] != "." or not _usable(words, 5, 40):
                    continue
                tpl = _template(words, generic, lower=False)
                if tpl is not None and len(tpl.slots) <= 5 and tpl.literals[-1] == ".":
                    (openers if k == 0 else body)[SLOT.join(tpl.literals)] = tpl
            words = tokens(title)
            if title and _usable(words, 1, 15):
                tpl = _template(words, generic, lower=True)
                if tpl is not None and len(tpl.slots) <= 3:
                    titles[SLOT.join(tpl.literals)] = tpl
        background: dict[int, list[str]] = defaultdict(list)
        for gram, count in sorted(counts.items()):
            if count >= 2:
                background[gram.count(" ") + 1].append(gram)
        return cls(
            [openers[k] for k in sorted(openers)],
            [body[k] for k in sorted(body)],
            [titles[k] for k in sorted(titles)],
            dict(background),
            generic,
            code_counts,
        )

    @classmethod
    def from_jsonl(cls, path: str | Path) -> PhraseBank:
        """Learn from a USPTO applications JSON Lines file (``title``, ``abstract``, ``ipcr``)."""
        path = Path(path)
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as f:
            records = [json.loads(line) for line in f if line.strip()]
        return cls.from_records(
            (r.get("title"), r.get("abstract"), r.get("ipcr") or []) for r in records
        )

    def summary(self) -> dict[str, int]:
        """Sizes, for logs and the dataset note."""
        return {
            "opener_templates": len(self.openers),
            "body_templates": len(self.body),
            "title_templates": len(self.titles),
            "background_ngrams": sum(len(v) for v in self.background.values()),
        }


def _dispersed_frequent_words(rows: Sequence[tuple[str, str, str]]) -> frozenset[str]:
    df: Counter[str] = Counter()
    by_section: dict[str, Counter[str]] = defaultdict(Counter)
    docs: Counter[str] = Counter()
    for _, abstract, section in rows:
        words = {t.lower() for t in tokens(abstract) if t[0].isalpha()}
        df.update(words)
        by_section[section].update(words)
        docs[section] += 1
    n = len(rows)
    big = [s for s, c in docs.items() if s and c >= max(30, n // 20)]
    keep = set()
    for word, count in df.items():
        share = count / n
        if share < MIN_SHARE:
            continue
        ratio = max((by_section[s][word] / docs[s] for s in big), default=share) / share
        if ratio <= MAX_SECTION_RATIO:
            keep.add(word)
    return frozenset(keep)


def _norm_word(word: str) -> str:
    # Acronyms keep their case (RNA, LED); other words are lower-cased.
    return word if len(word) > 1 and word.isupper() and len(word) <= 5 else word.lower()


def _count_ngrams(words: list[str], generic: frozenset[str], counts: Counter[str]) -> None:
    run: list[str] = []
    for tok in [*words, "."]:
        if _GOOD_WORD.fullmatch(tok.lower()) and tok.lower() not in generic:
            run.append(_norm_word(tok))
            continue
        for n in range(1, MAX_SLOT_WORDS + 1):
            for i in range(len(run) - n + 1):
                counts[" ".join(run[i : i + n])] += 1
        run = []


def title_phrases(title: str, stop: frozenset[str] | None = None) -> list[str]:
    """Content-word n-grams (1–3 words, lower case) of a classification title.

    ``"Electrodes composed of or comprising active material"`` gives ``electrodes``,
    ``composed``, ``active``, ``material``, ``active material`` … (n-grams never cross a
    stop word or punctuation).
    """
    stop = stop if stop is not None else _stop_words()
    phrases: list[str] = []
    run: list[str] = []
    for tok in [*tokens(title), "."]:
        word = tok.lower()
        if _GOOD_WORD.fullmatch(word) and word not in stop:
            run.append(word)
            continue
        for n in range(1, MAX_SLOT_WORDS + 1):
            phrases.extend(" ".join(run[i : i + n]) for i in range(len(run) - n + 1))
        run = []
    return phrases


class Vocabulary:
    """Phrases by word count (1–3), with repeats as weights; draws a phrase of ≤ k words."""

    def __init__(self, phrases: Iterable[str]) -> None:
        by_len: dict[int, list[str]] = defaultdict(list)
        for phrase in phrases:
            by_len[phrase.count(" ") + 1].append(phrase)
        self.by_len = {n: by_len[n] for n in sorted(by_len)}
        if not self.by_len:
            raise ValueError("empty vocabulary")
        self._longest = max(self.by_len)
        # pools[k]: the phrases to draw from for a slot of k words (falls back to shorter)
        self._pools = {
            k: [self.by_len.get(n) or self.by_len[min(self.by_len)] for n in range(1, k + 1)]
            for k in range(1, self._longest + 1)
        }

    def words(self) -> set[str]:
        """The distinct single words."""
        return {w for phrases in self.by_len.values() for p in phrases for w in p.split()}

    def draw(self, rng: random.Random, k: int) -> str:
        """A phrase of at most ``k`` words (the longest available length, sometimes shorter)."""
        pools = self._pools[min(k, self._longest)]
        n = len(pools)
        while n > 1 and rng.random() < 0.3:
            n -= 1
        pool = pools[n - 1]
        return pool[int(rng.random() * len(pool))]
