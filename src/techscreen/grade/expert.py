"""Expert consultation (Delphi rounds): the score file, agreement, item scores, nominations.

The SMSSEV method fuses the patent-based score of each technology node with the scores
experts give it over one or more Delphi rounds. This module holds the pure logic:

* :func:`read_expert_scores` — the CSV described in ``conf/experts/README.md``, one row per
  (round, expert, item, dimension); every data row ends up either valid or rejected with a
  reason, so ``read = valid + rejected`` always holds;
* :func:`kendalls_w` / :func:`kendalls_w_test` — Kendall's coefficient of concordance with
  the tie correction, and its chi-square test;
* :func:`agreement` — W per round and dimension, and the spread (coefficient of variation)
  of each item's scores, the usual Delphi convergence checks;
* :func:`expert_item_scores` — the expert score of each item from its final round;
* :func:`match_nominations` — items are node ids or the names of technologies the experts
  nominate; a name is matched to the most similar node by character n-gram TF-IDF.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from techscreen.config import DIMENSIONS
from techscreen.grade.text_match import char_similarity, field_texts

log = logging.getLogger(__name__)

COLUMNS = ("round", "expert", "item", "dimension", "score", "comment")
REQUIRED = COLUMNS[:-1]  # a file without comments is fine
OVERALL = "overall"
SCORE_DIMENSIONS = (*DIMENSIONS, OVERALL)
SCORE_RANGE = (0.0, 10.0)
ENCODINGS = ("utf-8-sig", "gbk")

# Plain decimal notation only: Python's float() would also take "nan", "inf" and "1_0".
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_SCORES = {
    "line": "int64",
    "round": "int64",
    "expert": object,
    "item": object,
    "dimension": object,
    "score": "float64",
    "comment": object,
}
_REJECTED = ("line", "raw", *COLUMNS, "reason")
_CONCORDANCE = (
    "round",
    "dimension",
    "experts",
    "items",
    "complete_items",
    "w",
    "chi2",
    "df",
    "p_value",
)
_ITEM_SCORES = ("item", "round", "experts", *SCORE_DIMENSIONS, "expert")
_MATCHES = ("item", "node_id", "domain", "how", "similarity")


@dataclass(frozen=True)
class ExpertScores:
    """An expert score file read: the valid rows, typed, and the rejected ones with a reason.

    Attributes:
        scores: ``line, round (int), expert, item, dimension, score (float), comment``, one
            row per distinct (round, expert, item, dimension); ``line`` is the line of the
            file the row starts on (the header is line 1).
        rejected: ``line, raw, round, expert, item, dimension, score, comment, reason`` — the
            cells as text, ``raw`` the whole record as CSV, ``reason`` the problems found,
            joined by ``"; "``: ``extra_fields``, ``bad_round``, ``empty_expert``,
            ``empty_item``, ``unknown_dimension``, ``missing_score``, ``non_numeric_score``,
            ``score_out_of_range``, or ``duplicate`` (the same (round, expert, item,
            dimension) as an earlier valid row).
        encoding: how the file was decoded: ``utf-8``, ``utf-8-sig`` (UTF-8 with a byte-order
            mark) or ``gbk``.
    """

    scores: pd.DataFrame
    rejected: pd.DataFrame
    encoding: str

    @property
    def read(self) -> int:
        """Data rows read: ``len(scores) + len(rejected)``."""
        return len(self.scores) + len(self.rejected)


def read_expert_scores(path: str | Path) -> ExpertScores:
    """Read an expert score CSV (``conf/experts/README.md``); bad rows are data, not errors.

    The bytes are decoded as UTF-8 (a byte-order mark is dropped) or, failing that, as GBK.
    The header is matched ignoring case and surrounding spaces; columns beyond
    ``round,expert,item,dimension,score,comment`` are ignored and ``comment`` may be absent.
    Cells are stripped of surrounding spaces and kept as text — nothing is evaluated, so a
    spreadsheet formula such as ``=1+1`` is a non-numeric score and a comment stays as typed.
    Numbers are read after NFKC normalisation, so full-width digits (``８．５``) are numbers.
    Rows whose cells are all empty (blank lines, a spreadsheet's trailing ``,,,,,``) carry
    no data and are not counted; every other row is valid or rejected with its reasons:

    * ``round`` — an integer ≥ 1 (``2`` or ``2.0``);
    * ``expert``, ``item`` — not empty;
    * ``dimension`` — one of ``necessity``, ``feasibility``, ``impact``, ``overall`` (any case);
    * ``score`` — a decimal number with ``0 ≤ score ≤ 10``;
    * no non-empty cells beyond the header's (an unquoted comma in a comment);
    * the first valid row of a (round, expert, item, dimension) wins; later ones are
      rejected as ``duplicate``.

    Args:
        path: the CSV file.

    Returns:
        The valid rows, the rejected rows and the encoding used.

    Raises:
        ValueError: the file is empty, neither UTF-8 nor GBK, or its header lacks a column
            (the message names the missing ones).
    """
    path = Path(path)
    text, encoding = _decode(path.read_bytes(), path)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [name.strip().lower() for name in next(reader, [])]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise ValueError(
            f"{path}: missing column(s) {', '.join(missing)}; "
            f"the header must be {','.join(COLUMNS)}"
        )
    repeated = sorted({name for name in header if name in COLUMNS and header.count(name) > 1})
    if repeated:
        raise ValueError(f"{path}: repeated column(s) {', '.join(repeated)}")
    where = {name: header.index(name) for name in COLUMNS if name in header}
    if ignored := [name for name in header if name not in COLUMNS]:
        log.info("%s: ignoring column(s) %s", path, ", ".join(ignored))

    scores: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    seen: set[tuple[int, str, str, str]] = set()
    start = reader.line_num + 1
    for record in reader:
        line, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in record):
            continue
        cells = {name: record[i].strip() if i < len(record) else "" for name, i in where.items()}
        cells.setdefault("comment", "")
        row, reasons = _parse(cells)
        if any(cell.strip() for cell in record[len(header) :]):
            reasons.insert(0, "extra_fields")
        if not reasons:
            key = (row["round"], row["expert"], row["item"], row["dimension"])
            reasons = ["duplicate"] if key in seen else []
            seen.add(key)
        if reasons:
            rejected.append(
                {"line": line, "raw": _as_csv(record), **cells, "reason": "; ".join(reasons)}
            )
        else:
            scores.append({"line": line, **row})

    result = ExpertScores(
        scores=pd.DataFrame(scores, columns=list(_SCORES)).astype(_SCORES),
        rejected=pd.DataFrame(rejected, columns=list(_REJECTED)).astype({"line": "int64"}),
        encoding=encoding,
    )
    log.info(
        "%s (%s): %d rows read = %d valid + %d rejected",
        path,
        encoding,
        result.read,
        len(result.scores),
        len(result.rejected),
    )
    if len(result.rejected):
        log.warning(
            "%s: rejected rows: %s", path, result.rejected["reason"].value_counts().to_dict()
        )
    return result


def _decode(data: bytes, path: Path) -> tuple[str, str]:
    """The text of a file and its encoding: UTF-8 (with or without BOM), else GBK."""
    for encoding in ENCODINGS:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding == "utf-8-sig" and not data.startswith(codecs.BOM_UTF8):
            encoding = "utf-8"
        return text, encoding
    raise ValueError(f"{path}: not UTF-8 nor GBK text; save the file as UTF-8 CSV")


def _number(text: str) -> float | None:
    """A decimal number written in plain notation (full-width digits allowed), else None."""
    text = unicodedata.normalize("NFKC", text)
    return float(text) if _NUMBER.fullmatch(text) else None


def _parse(cells: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """The typed row and the list of its problems (empty when valid)."""
    reasons = []
    round_ = _number(cells["round"])
    if round_ is None or round_ < 1 or not round_.is_integer():
        reasons.append("bad_round")
    if not cells["expert"]:
        reasons.append("empty_expert")
    if not cells["item"]:
        reasons.append("empty_item")
    dimension = cells["dimension"].lower()
    if dimension not in SCORE_DIMENSIONS:
        reasons.append("unknown_dimension")
    score = _number(cells["score"])
    if not cells["score"]:
        reasons.append("missing_score")
    elif score is None:
        reasons.append("non_numeric_score")
    elif not SCORE_RANGE[0] <= score <= SCORE_RANGE[1]:
        reasons.append("score_out_of_range")
    row = {
        "round": None if "bad_round" in reasons else int(round_),
        "expert": cells["expert"],
        "item": cells["item"],
        "dimension": dimension,
        "score": score,
        "comment": cells["comment"],
    }
    return row, reasons


def _as_csv(record: Sequence[str]) -> str:
    """One record written back as a CSV line (the ``raw`` column of a rejected row)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(record)
    return out.getvalue()


def kendalls_w_test(ratings: pd.DataFrame) -> dict[str, float]:
    """Kendall's coefficient of concordance W, tie-corrected, and its chi-square test.

    ``ratings`` has one row per item and one column per expert (scores; higher or lower is
    only an order). Experts with no score at all are dropped, then every item some expert
    did not score, so W is computed on the complete block of ``n`` items × ``m`` experts.
    Each expert's scores are ranked across the items, ties sharing their average rank; with
    ``R_i`` the rank sum of item ``i`` and ``S = Σ_i (R_i − R̄)²``,

        W = 12·S / (m²·(n³ − n) − m·Σ_j T_j),   T_j = Σ (t³ − t) over expert j's tie groups

    (Kendall & Babington Smith 1939; tie correction as in Siegel & Castellan 1988).
    W is 1 when all experts order the items alike and 0 when their rank sums are all equal.
    The test: ``chi2 = m·(n − 1)·W`` against χ² with ``n − 1`` degrees of freedom (large
    ``n`` approximation, the same statistic as Friedman's test), ``p_value`` its upper tail.

    W and the test are NaN with fewer than 2 items or 2 experts in the complete block, and
    when every expert gave all items the same score (the denominator is then 0).

    Args:
        ratings: items × experts, numeric, NaN where an expert did not score an item.

    Returns:
        ``w``, ``chi2``, ``df``, ``p_value``, and ``experts`` (m) and ``items`` (n) used.
    """
    block = ratings.astype(float).dropna(axis=1, how="all").dropna(axis=0, how="any")
    n, m = block.shape
    result = {"w": np.nan, "chi2": np.nan, "df": max(n - 1, 0), "p_value": np.nan}
    result |= {"experts": m, "items": n}
    if n < 2 or m < 2:
        return result
    ranks = block.rank(axis=0, method="average")
    sums = ranks.sum(axis=1).to_numpy()
    s = float(((sums - sums.mean()) ** 2).sum())
    ties = sum(float((t**3 - t).sum()) for t in (ranks[c].value_counts().to_numpy() for c in ranks))
    denominator = m**2 * (n**3 - n) - m * ties
    if denominator <= 0:
        return result
    w = 12.0 * s / denominator
    chi2 = m * (n - 1) * w
    return result | {"w": w, "chi2": chi2, "p_value": float(stats.chi2.sf(chi2, n - 1))}


def kendalls_w(ratings: pd.DataFrame) -> float:
    """Kendall's W of an items × experts table (see :func:`kendalls_w_test`)."""
    return kendalls_w_test(ratings)["w"]


def agreement(scores: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """How far the experts agree, per round: concordance and the spread of each item's scores.

    Args:
        scores: valid score rows (``round, expert, item, dimension, score``), as in
            :attr:`ExpertScores.scores`.

    Returns:
        ``(concordance, spread)``. ``concordance``: one row per (round, dimension) with
        ``experts`` and ``items`` (all who scored / all scored), ``complete_items`` (the items
        every one of those experts scored, the ones W uses), ``w``, ``chi2``, ``df`` and
        ``p_value`` from :func:`kendalls_w_test`. ``spread``: one row per (round, item,
        dimension) with ``n`` scores, their ``mean``, ``std`` (ddof = 1) and coefficient of
        variation ``cv = std / mean`` — NaN when ``n < 2`` or the mean is 0.
    """
    rows = []
    for (round_, dimension), group in scores.groupby(["round", "dimension"], sort=True):
        test = kendalls_w_test(group.pivot(index="item", columns="expert", values="score"))
        rows.append(
            {
                "round": round_,
                "dimension": dimension,
                "experts": group["expert"].nunique(),
                "items": group["item"].nunique(),
                "complete_items": test["items"],
                **{k: test[k] for k in ("w", "chi2", "df", "p_value")},
            }
        )
    concordance = pd.DataFrame(rows, columns=list(_CONCORDANCE))
    spread = (
        scores.groupby(["round", "item", "dimension"], sort=True)["score"]
        .agg(n="count", mean="mean", std="std")
        .reset_index()
    )
    usable = (spread["n"] >= 2) & (spread["mean"] != 0)
    spread["cv"] = (spread["std"] / spread["mean"]).where(usable)
    return concordance, spread


def expert_item_scores(scores: pd.DataFrame, final_round: int | None = None) -> pd.DataFrame:
    """The experts' score of each item, from its final round.

    With ``final_round`` only that round counts (items not scored in it are absent);
    without, each item's own latest round does, so an item nominated late or dropped early
    keeps the last scores it was given. Per item: the mean score per dimension
    (``necessity``, ``feasibility``, ``impact``, ``overall``; NaN where nobody scored it),
    and the expert score

        expert = mean(overall)                       if any overall score exists,
                 mean of the dimension means present  otherwise

    with ``experts`` the number of experts who scored the item in that round.

    Args:
        scores: valid score rows, as in :attr:`ExpertScores.scores`.
        final_round: the round to use; None = each item's latest.

    Returns:
        ``item, round, experts, necessity, feasibility, impact, overall, expert``, by item.
    """
    if final_round is None:
        chosen = scores[scores["round"] == scores.groupby("item")["round"].transform("max")]
    else:
        chosen = scores[scores["round"] == final_round]
    if chosen.empty:
        return pd.DataFrame(columns=list(_ITEM_SCORES))
    by_item = chosen.groupby("item", sort=True)
    means = (
        chosen.pivot_table(index="item", columns="dimension", values="score", aggfunc="mean")
        .reindex(columns=list(SCORE_DIMENSIONS))
        .rename_axis(columns=None)
    )
    means["expert"] = means[OVERALL].fillna(means[list(DIMENSIONS)].mean(axis=1))
    means["round"] = by_item["round"].first()
    means["experts"] = by_item["expert"].nunique()
    return means.reset_index()[list(_ITEM_SCORES)]


def match_nominations(items: Sequence[str], nodes: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Find the technology node each expert item stands for.

    An item equal to a ``node_id`` is that node (``how = "node_id"``, similarity 1). Any
    other item is the name of a technology an expert nominated (English or Chinese): it is
    compared with each node's two texts — its label with its keyword terms, and its
    class-code titles; the closer of the two counts, so long English code titles do not
    drown a short Chinese label — by
    TF-IDF over character n-grams within words (``char_wb``, 2–4 characters, lower-cased and
    NFKC-normalised, so Chinese needs no tokenizer) fitted on the node texts alone, and
    cosine similarity. Fitting on the nodes alone makes a name's match independent of the
    other names in the file; n-grams no node has are left out of the name's vector, so the
    similarity measures how much of a node's text the name covers. (Fitted on nodes and
    names together, a short Chinese name such as 固态锂电池 against a node labelled
    固态电池 · 锂金属负极 scored under 0.2, below the default threshold of 0.35; fitted on
    the nodes it scores about 0.4, while unrelated names stay near 0.25 or below.) The
    most similar node is the match
    (``how = "text"``) when its similarity is positive and at least ``threshold``; otherwise
    the item is ``expert_only`` (no node; ``similarity`` is still the best one found). Ties
    go to the smallest ``node_id`` (string order), so the result does not depend on row order.

    Args:
        items: the item column of the expert scores (node ids or nominated names).
        nodes: ``node_id``, ``domain``, ``label``, ``keywords`` (terms, as strings or as
            ``{term, score}`` structs) and ``codes`` (code titles, as strings or as
            ``{code, …, title}`` structs: the title, else the code).
        threshold: the least cosine similarity of a match (``experts.match_threshold``).

    Returns:
        One row per item, in the given order: ``item, node_id, domain, how, similarity``.
    """
    nodes = nodes.sort_values("node_id", kind="stable").reset_index(drop=True)
    domains = dict(zip(nodes["node_id"], nodes["domain"], strict=True))
    names = [item for item in dict.fromkeys(items) if item not in domains]
    best: dict[str, tuple[str, float]] = {}
    if names and len(nodes):
        node_rows = list(nodes.itertuples(index=False))
        texts = [_node_text(node, fields) for fields in _NODE_FIELDS for node in node_rows]
        # a node's similarity is that of its closer text (its terms, or its class titles)
        per_text = char_similarity(names, texts).reshape(len(names), len(_NODE_FIELDS), -1)
        similarity = per_text.max(axis=1)
        for name, row in zip(names, similarity, strict=True):
            j = int(np.argmax(row))  # the first maximum: the smallest node_id
            best[name] = (nodes["node_id"][j], float(row[j]))

    rows = []
    for item in items:
        if item in domains:
            rows.append((item, item, domains[item], "node_id", 1.0))
            continue
        node, similarity = best.get(item, (None, 0.0))
        if node is not None and similarity > 0 and similarity >= threshold:
            rows.append((item, node, domains[node], "text", similarity))
        else:
            rows.append((item, None, None, "expert_only", similarity))
    return pd.DataFrame(rows, columns=list(_MATCHES))


# A node's two texts: what it is about (label and keyword terms), and its classes' titles
# (a code without a title stands for itself). Each: (column, struct fields tried in order).
_NODE_FIELDS = ((("keywords", ("term",)),), (("codes", ("title", "code")),))


def _node_text(node: Any, fields: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    """The node's label and keyword terms, or its code titles, as one text."""
    parts = [node.label or ""] if fields[0][0] == "keywords" else []
    for column, names in fields:
        parts += field_texts(getattr(node, column), names)
    return " ".join(parts)
