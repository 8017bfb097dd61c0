"""Control-list mapping: each graded item against official lists of controlled technologies.

Users compare a screening with the lists that already exist — China's Catalogue of
Technologies Prohibited or Restricted from Export, the US Critical and Emerging
Technologies list — so each item gets its closest entries on each list and a status:

* ``already controlled`` — its best entry scores at least ``controlled``;
* ``adjacent`` — at least ``adjacent``;
* ``not listed`` — below.

A list is a UTF-8 CSV (``data/control_lists/``, described in its ``SOURCE.md``), one entry
per row. An item's texts — its label with its English keyword terms, its Chinese keyword
terms, its representative patents' titles — are compared with an entry's texts — its title,
English gloss, control points and their gloss — by character n-gram TF-IDF fitted on the
list (:func:`~techscreen.grade.text_match.char_similarity`, as expert nominations are
matched to nodes), which meets Chinese with Chinese and English with English; optionally
also by the cosine of MiniLM sentence vectors between the English texts on both sides,
which sees meaning beyond shared letters (``neural network`` near ``Artificial
Intelligence``). The item–entry score is the largest over those text pairs and measures.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from techscreen.grade.text_match import char_similarity, field_texts

log = logging.getLogger(__name__)

REQUIRED = ("list", "entry_id", "entry", "language")
OPTIONAL = ("part", "area", "entry_en", "description", "description_en", "source")
CONTROLLED, ADJACENT, NOT_LISTED = "already controlled", "adjacent", "not listed"
STATUSES = (CONTROLLED, ADJACENT, NOT_LISTED)
MATCH_FIELDS = ("list", "entry_id", "entry", "score")
# An entry's texts, each compared on its own: its title, gloss, control points, their gloss.
_ENTRY_TEXTS = ("entry", "entry_en", "description", "description_en")
_TITLES = 5  # representative patents' titles used per item
_HAN = re.compile(r"[\u3400-\u9fff]")


class Encoder(Protocol):
    """What the semantic comparison needs: L2-normalised sentence vectors."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised row per text."""
        ...


def read_control_list(path: str | Path) -> pd.DataFrame:
    """Read one control list (UTF-8 CSV) and check it.

    Args:
        path: the CSV; columns ``list, entry_id, entry, language`` are required, and
            ``part, area, entry_en, description, description_en, source`` are optional.

    Returns:
        The entries, every column as text (missing optional columns empty).

    Raises:
        ValueError: naming the file — it is empty, not UTF-8, lacks a required column, has
            no entries, an entry without ``list``, ``entry_id`` or ``entry``, or an
            ``entry_id`` twice within a list.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"control list {path}: no such file")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"control list {path}: not UTF-8 ({error.reason})") from None
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise ValueError(f"control list {path}: empty file, expected a header {','.join(REQUIRED)}")
    header = [name.strip().lower() for name in rows[0]]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise ValueError(f"control list {path}: missing column(s) {', '.join(missing)}")
    records = [r for r in rows[1:] if any(cell.strip() for cell in r)]
    if not records:
        raise ValueError(f"control list {path}: no entries")
    columns = [*REQUIRED, *OPTIONAL]
    entries = pd.DataFrame(
        [
            {name: (r[i].strip() if i < len(r) else "") for i, name in enumerate(header)}
            for r in records
        ]
    ).reindex(columns=columns, fill_value="")
    entries = entries.fillna("")
    for name in ("list", "entry_id", "entry"):
        blank = entries.index[entries[name] == ""]
        if len(blank):
            raise ValueError(f"control list {path}: row {blank[0] + 2} has no {name}")
    twice = entries[entries.duplicated(["list", "entry_id"])]
    if len(twice):
        raise ValueError(f"control list {path}: entry_id {twice['entry_id'].iloc[0]} repeated")
    return entries


def read_control_lists(paths: Sequence[str | Path]) -> pd.DataFrame:
    """All entries of the given lists, in file order (see :func:`read_control_list`)."""
    frames = [read_control_list(path) for path in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=REQUIRED)


def item_texts(items: pd.DataFrame) -> list[list[str]]:
    """Each item's texts: label with English terms, Chinese terms, representative titles.

    ``items`` has ``label`` and, where known, ``keywords`` and ``keywords_zh`` (terms as
    strings or ``{term, score}`` structs) and ``titles`` (strings).
    """
    out = []
    for row in items.to_dict("records"):
        english = [row.get("label") or "", *field_texts(row.get("keywords"), ("term",))]
        chinese = field_texts(row.get("keywords_zh"), ("term",))
        titles = [t for t in (row.get("titles") if _listlike(row.get("titles")) else []) if t]
        out.append([" ".join(english), " ".join(chinese), " ".join(titles[:_TITLES])])
    return out


def match_control_lists(
    items: pd.DataFrame,
    entries: pd.DataFrame,
    *,
    controlled: float,
    adjacent: float,
    top: int,
    encoder: Encoder | None = None,
) -> pd.DataFrame:
    """Each item's closest list entries and its status.

    Args:
        items: one row per item, columns as for :func:`item_texts`.
        entries: list entries, as :func:`read_control_lists` returns them.
        controlled: least best score of an ``already controlled`` item.
        adjacent: least best score of an ``adjacent`` item.
        top: matches kept per item and list.
        encoder: sentence vectors for the English texts (MiniLM); None = letters only.

    Returns:
        One row per item, in order: ``control_status``, ``control_score`` (its best score,
        0 when no list has entries) and ``control_matches`` — per list, in the lists' order,
        its ``top`` entries by score (ties by entry order) as ``{list, entry_id, entry,
        score}``.
    """
    texts = item_texts(items)
    n = len(texts)
    per_list: list[tuple[str, pd.DataFrame, np.ndarray]] = []
    for name, group in entries.groupby("list", sort=False):
        group = group.reset_index(drop=True)
        per_list.append((name, group, _scores(texts, group, encoder)))
    rows = []
    for i in range(n):
        matches = []
        for name, group, scores in per_list:
            order = np.argsort(-scores[i], kind="stable")[:top]
            matches += [
                {
                    "list": name,
                    "entry_id": group["entry_id"][j],
                    "entry": group["entry"][j],
                    "score": round(float(scores[i, j]), 4),
                }
                for j in order
            ]
        best = max((m["score"] for m in matches), default=0.0)
        status = CONTROLLED if best >= controlled else ADJACENT if best >= adjacent else NOT_LISTED
        rows.append({"control_status": status, "control_score": best, "control_matches": matches})
    return pd.DataFrame(rows, columns=["control_status", "control_score", "control_matches"])


def _scores(texts: list[list[str]], entries: pd.DataFrame, encoder: Encoder | None) -> np.ndarray:
    """Item × entry scores: the largest similarity over the item's and the entry's texts."""
    n, m, k = len(texts), len(entries), len(_ENTRY_TEXTS)
    documents = [str(entries[c][j]) for j in range(m) for c in _ENTRY_TEXTS]
    queries = [text for item in texts for text in item]
    lexical = char_similarity(queries, documents, background=queries)
    lexical = lexical.reshape(n, -1, m, k).max(axis=(1, 3))
    if encoder is None or not n:
        return lexical
    return np.maximum(lexical, _semantic(texts, entries, encoder))


def _semantic(texts: list[list[str]], entries: pd.DataFrame, encoder: Encoder) -> np.ndarray:
    """Item × entry MiniLM cosine between English texts (0 where a side has none).

    MiniLM is an English model: on Chinese it sees characters, and two Chinese texts come
    out close whatever they say, so only texts without Han characters are compared.
    """
    n, m = len(texts), len(entries)
    entry_texts = [
        [t for t in (entries[c][j] for c in _ENTRY_TEXTS) if _english(t)] for j in range(m)
    ]
    item_english = [[t for t in item if _english(t)] for item in texts]
    left = [t for item in item_english for t in item]
    right = [t for entry in entry_texts for t in entry]
    out = np.zeros((n, m))
    if not left or not right:
        return out
    cosine = np.clip(encoder.encode(left) @ encoder.encode(right).T, 0.0, 1.0)
    rows = np.repeat(np.arange(n), [len(item) for item in item_english])
    cols = np.repeat(np.arange(m), [len(entry) for entry in entry_texts])
    np.maximum.at(out, (rows[:, None], cols[None, :]), cosine)
    return out


def _english(text: str) -> bool:
    return bool(text.strip()) and not _HAN.search(text)


def _listlike(value: Any) -> bool:
    return value is not None and not isinstance(value, float | str)
