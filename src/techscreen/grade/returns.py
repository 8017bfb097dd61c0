"""Returned questionnaires: every filled cell of every workbook, valid or rejected with a reason.

:func:`read_returns` reads the workbooks experts send back (built by
:mod:`techscreen.grade.survey`) into the rows of the expert score CSV
(``conf/experts/README.md``: ``round, expert, item, dimension, score, comment``, plus
``domain`` and ``source`` — the cell it came from, which the CSV reader ignores) and the
rejected entries, each with its workbook, sheet, cell (A1) and reason. Nothing is dropped
silently: ``read = valid + rejected``, where an entry is

* a filled score cell (one row of the CSV when valid);
* a row with no score that still carries something: an unknown item id, a comment, a
  nomination without scores — one entry, at its first filled cell;
* a workbook or sheet that cannot be read as a questionnaire — one entry.

Reasons (several are joined by ``"; "``): ``formula`` (formulas are never evaluated),
``non_numeric``, ``out_of_range``, ``unknown_item`` (not an item of this survey),
``empty_item``, ``duplicate_item`` (the same item twice in one workbook), ``missing_name``,
``unknown_domain`` (Supplement), ``comment_without_score``, ``no_score`` (a nomination
without scores), ``missing_expert_id``, ``duplicate_expert_round`` (the same expert and
round in an earlier workbook, by file name: the first one counts), ``no_scores`` (a
workbook with nothing filled in), ``unknown_sheet``, ``bad_layout``, ``not_a_survey``,
``unreadable``.
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet.worksheet import Worksheet

from techscreen.config import DIMENSIONS
from techscreen.grade.expert import COLUMNS, SCORE_RANGE
from techscreen.grade.expert import _number as plain_number
from techscreen.grade.survey import (
    COMMENT,
    DOMAIN,
    EXPERT_CELL,
    FORMAT,
    INPUTS,
    INSTRUCTIONS,
    ITEM,
    META,
    META_ITEM_COLUMN,
    META_ITEMS,
    META_KEYS,
    REASON,
    SUPPLEMENT,
    TECHNOLOGY,
)

log = logging.getLogger(__name__)

SCORES = (*COLUMNS, "domain", "source")
REJECTED = ("file", "sheet", "cell", "round", "expert", "item", "dimension", "value", "reason")
REJECTED_ALL = (*REJECTED, "detail")
FILES = ("file", "expert", "round", "survey_id", "grade_run", "read", "valid", "rejected")
SUFFIXES = (".xlsx", ".xlsm")
_LOGGED = 20  # rejected entries logged one by one; the rest are counted


@dataclass(frozen=True)
class Returns:
    """What a folder of returned questionnaires holds.

    Attributes:
        scores: the valid rows, in the expert score CSV's columns plus ``domain`` and
            ``source`` (``file:sheet!A1``).
        rejected: ``file, sheet, cell, round, expert, item, dimension, value, reason,
            detail`` — ``value`` the cell as read, ``detail`` a sentence per reason.
        files: one row per workbook: ``file, expert, round, survey_id, grade_run, read,
            valid, rejected``.
    """

    scores: pd.DataFrame
    rejected: pd.DataFrame
    files: pd.DataFrame

    @property
    def read(self) -> int:
        """Entries read: ``len(scores) + len(rejected)``."""
        return len(self.scores) + len(self.rejected)


@dataclass
class _Entry:
    """One filled score cell, or one thing that could not become a score."""

    sheet: str
    cell: str
    item: str = ""
    dimension: str = ""
    value: Any = None
    score: float | None = None
    comment: str = ""
    domain: str = ""
    reasons: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)

    def reject(self, reason: str, detail: str) -> None:
        self.reasons.append(reason)
        self.details.append(detail)

    def reject_first(self, reasons: list[tuple[str, str]]) -> None:
        """Put the row's own ``(reason, detail)`` pairs before the cell's."""
        self.reasons[:0] = [r for r, _ in reasons]
        self.details[:0] = [d for _, d in reasons]


@dataclass
class _Workbook:
    """A workbook read: its meta data and entries (workbook-level reasons not yet applied)."""

    expert: str = ""
    round: int | None = None
    survey_id: str = ""
    grade_run: str = ""
    entries: list[_Entry] = field(default_factory=list)


def returned_files(folder: str | Path) -> tuple[list[Path], list[Path]]:
    """The workbooks in ``folder`` (by name) and the files passed over (with why logged).

    Excel's lock files (``~$name.xlsx``, left while a workbook is open) and files that are
    not ``.xlsx``/``.xlsm`` are passed over; sub-folders are not searched.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder of returned questionnaires")
    workbooks, skipped = [], []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        if path.suffix.lower() in SUFFIXES and not path.name.startswith("~$"):
            workbooks.append(path)
        else:
            skipped.append(path)
    if skipped:
        log.info(
            "%s: passed over %d file(s) that are not workbooks: %s",
            folder,
            len(skipped),
            ", ".join(p.name for p in skipped[:10]),
        )
    return workbooks, skipped


def read_returns(paths: Iterable[str | Path]) -> Returns:
    """Read returned questionnaires into score rows and rejected entries.

    Workbooks are read in file-name order (so "the first" is well defined); formulas are
    read as formulas and rejected, never evaluated; a text cell that holds a plain number
    (``7.5``, full-width ``７．５``) is a number, as in the CSV.

    Args:
        paths: the workbooks.

    Returns:
        The valid rows, the rejected entries and a row per workbook.
    """
    scores: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    files: list[dict[str, Any]] = []
    first: dict[tuple[int, str], str] = {}
    for path in sorted(Path(p) for p in paths):
        book = _read_workbook(path)
        if book.round is not None and book.expert:
            key = (book.round, book.expert)
            if key in first:
                for entry in book.entries:
                    entry.reject(
                        "duplicate_expert_round",
                        f"expert {book.expert} round {book.round} already read from {first[key]}",
                    )
            else:
                first[key] = path.name
        valid = 0
        for entry in book.entries:
            base = {"round": book.round, "expert": book.expert, "item": entry.item}
            if entry.reasons:
                rejected.append(
                    {
                        "file": path.name,
                        "sheet": entry.sheet,
                        "cell": entry.cell,
                        **base,
                        "dimension": entry.dimension,
                        "value": "" if entry.value is None else str(entry.value),
                        "reason": "; ".join(entry.reasons),
                        "detail": "; ".join(entry.details),
                    }
                )
                continue
            valid += 1
            scores.append(
                {
                    **base,
                    "dimension": entry.dimension,
                    "score": entry.score,
                    "comment": entry.comment,
                    "domain": entry.domain,
                    "source": f"{path.name}:{entry.sheet}!{entry.cell}",
                }
            )
        files.append(
            {
                "file": path.name,
                "expert": book.expert,
                "round": book.round,
                "survey_id": book.survey_id,
                "grade_run": book.grade_run,
                "read": len(book.entries),
                "valid": valid,
                "rejected": len(book.entries) - valid,
            }
        )
    result = Returns(
        scores=pd.DataFrame(scores, columns=list(SCORES)).astype(
            {"round": "int64", "score": "float64"}
        ),
        rejected=pd.DataFrame(rejected, columns=list(REJECTED_ALL)),
        files=pd.DataFrame(files, columns=list(FILES)),
    )
    _log(result)
    return result


def _log(result: Returns) -> None:
    log.info(
        "%d workbook(s): %d entries read = %d valid + %d rejected",
        len(result.files),
        result.read,
        len(result.scores),
        len(result.rejected),
    )
    for r in result.rejected.head(_LOGGED).itertuples(index=False):
        where = f"{r.file}:{r.sheet}!{r.cell}" if r.cell else f"{r.file}:{r.sheet}"
        log.warning("rejected %s: %s (%s)", where.rstrip(":!"), r.reason, r.detail)
    if len(result.rejected) > _LOGGED:
        log.warning(
            "… and %d more rejected; all rejected by reason: %s",
            len(result.rejected) - _LOGGED,
            result.rejected["reason"].value_counts().to_dict(),
        )


def _read_workbook(path: Path) -> _Workbook:
    """Every entry of one workbook, with the reasons found inside it."""
    book = _Workbook()
    try:
        wb = load_workbook(path, data_only=False)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        book.entries.append(_failed("", "unreadable", f"not a readable xlsx workbook: {exc}"))
        return book
    if META not in wb.sheetnames or _text(wb[META]["B1"].value) != FORMAT:
        book.entries.append(_failed("", "not_a_survey", f"no {META} sheet of format {FORMAT}"))
        return book
    cells = wb[META].iter_rows(max_row=len(META_KEYS), max_col=2, values_only=True)
    meta = {_text(key): value for key, value in cells}
    round_ = plain_number(_text(meta.get("round")))
    if round_ is None or round_ < 1 or not round_.is_integer():
        book.entries.append(_failed(META, "not_a_survey", f"bad round {meta.get('round')!r}"))
        return book
    book.round = int(round_)
    book.survey_id, book.grade_run = _text(meta.get("survey_id")), _text(meta.get("grade_run"))
    items = _items(wb[META])
    sheets, domains = (set(_text(meta.get(k)).splitlines()) for k in ("sheets", "domains"))
    seen: set[str] = set()
    for ws in wb.worksheets:
        if ws.title in (INSTRUCTIONS, META):
            continue
        if ws.title == SUPPLEMENT:
            book.entries += _supplement(ws, seen, domains)
        elif ws.title in sheets:
            book.entries += _item_sheet(ws, items, seen)
        elif _filled(ws):
            book.entries.append(_failed(ws.title, "unknown_sheet", "not a sheet of this survey"))
    expert_cell = wb[INSTRUCTIONS][EXPERT_CELL] if INSTRUCTIONS in wb.sheetnames else None
    book.expert = _expert(expert_cell)
    if not book.entries:
        book.entries.append(
            _failed(INSTRUCTIONS, "no_scores", "nothing filled in", EXPERT_CELL, book.expert)
        )
    if not book.expert:
        value = None if expert_cell is None else expert_cell.value
        for entry in book.entries:
            entry.reject(
                "missing_expert_id",
                f"no expert id in {INSTRUCTIONS}!{EXPERT_CELL}"
                + (f" (a formula: {value})" if _is_formula(expert_cell) else ""),
            )
    return book


def _failed(sheet: str, reason: str, detail: str, cell: str = "", value: Any = None) -> _Entry:
    entry = _Entry(sheet=sheet, cell=cell, value=value)
    entry.reject(reason, detail)
    return entry


def _items(ws: Worksheet) -> dict[str, str]:
    """The items listed on the meta sheet, with their domains."""
    items = {}
    last = META_ITEM_COLUMN + len(META_ITEMS) - 1
    for row in ws.iter_rows(min_row=2, min_col=META_ITEM_COLUMN, max_col=last, values_only=True):
        item, domain, _ = (_text(v) for v in row)
        if item:
            items[item] = domain
    return items


def _header(ws: Worksheet, wanted: Sequence[str]) -> tuple[dict[str, int], list[str]]:
    """Column (1-based) of each wanted header in row 1, and the headers missing."""
    found = {_text(c.value): c.column for c in ws[1] if c.value is not None}
    return {h: found[h] for h in wanted if h in found}, [h for h in wanted if h not in found]


def _item_sheet(ws: Worksheet, items: dict[str, str], seen: set[str]) -> list[_Entry]:
    columns, missing = _header(ws, [ITEM, *INPUTS.values(), COMMENT])
    if missing := [m for m in missing if m != COMMENT]:
        return [_failed(ws.title, "bad_layout", f"missing column(s) {', '.join(missing)}", "A1")]
    entries = []
    for row in ws.iter_rows(min_row=2):
        at = {name: row[j - 1] for name, j in columns.items() if j <= len(row)}
        item_cell, comment_cell = at.get(ITEM), at.get(COMMENT)
        item = _text(item_cell.value) if item_cell is not None else ""
        comment = _text(comment_cell.value) if comment_cell is not None else ""
        filled = [(d, at[INPUTS[d]]) for d in DIMENSIONS if not _blank(at.get(INPUTS[d]))]
        if not item and not filled and not comment:
            continue
        reasons = []
        if _is_formula(item_cell):
            reasons.append(("formula", f"the item cell holds a formula: {item_cell.value}"))
        elif not item:
            reasons.append(("empty_item", "a row with scores but no item id"))
        elif item not in items:
            reasons.append(("unknown_item", f"{item!r} is not an item of this survey"))
        elif item in seen:
            reasons.append(("duplicate_item", f"{item!r} appears twice in this workbook"))
        seen.add(item)
        domain = items.get(item, "")
        if not filled and not reasons and not comment:
            continue  # an item the expert did not score
        if not filled:
            where = item_cell if reasons else comment_cell
            entry = _Entry(ws.title, where.coordinate, item, value=where.value, domain=domain)
            for reason in reasons or [("comment_without_score", "a comment but no score")]:
                entry.reject(*reason)
            entries.append(entry)
            continue
        for dimension, cell in filled:
            entry = _score_entry(ws.title, cell, item, dimension, comment, domain)
            entry.reject_first(reasons)
            entries.append(entry)
    return entries


def _supplement(ws: Worksheet, seen: set[str], domains: set[str]) -> list[_Entry]:
    columns, missing = _header(ws, list((TECHNOLOGY, DOMAIN, *INPUTS.values(), REASON)))
    if missing:
        return [_failed(ws.title, "bad_layout", f"missing column(s) {', '.join(missing)}", "A1")]
    entries = []
    for row in ws.iter_rows(min_row=2):
        at = {name: row[j - 1] for name, j in columns.items() if j <= len(row)}
        name_cell, domain_cell = at.get(TECHNOLOGY), at.get(DOMAIN)
        name = _text(name_cell.value) if name_cell is not None else ""
        domain = (_text(domain_cell.value) if domain_cell is not None else "").lower()
        reason = _text(at[REASON].value) if REASON in at else ""
        filled = [(d, at[INPUTS[d]]) for d in DIMENSIONS if not _blank(at.get(INPUTS[d]))]
        if not (name or domain or reason or filled):
            continue
        reasons = []
        if _is_formula(name_cell):
            reasons.append(("formula", f"the name cell holds a formula: {name_cell.value}"))
        elif not name:
            reasons.append(("missing_name", "a nomination without a technology name"))
        elif name in seen:
            reasons.append(("duplicate_item", f"{name!r} is scored twice in this workbook"))
        if domain and domain not in domains:
            known = ", ".join(sorted(domains))
            reasons.append(("unknown_domain", f"domain {domain!r} is not one of {known}"))
        seen.add(name)
        if not filled:
            first = next(c for c in (name_cell, domain_cell, at.get(REASON)) if not _blank(c))
            entry = _Entry(ws.title, first.coordinate, name, value=first.value, domain=domain)
            for r in [*reasons, ("no_score", "a nomination without scores")]:
                entry.reject(*r)
            entries.append(entry)
            continue
        for dimension, cell in filled:
            entry = _score_entry(ws.title, cell, name, dimension, reason, domain)
            entry.reject_first(reasons)
            entries.append(entry)
    return entries


def _score_entry(sheet: str, cell, item: str, dimension: str, comment: str, domain: str) -> _Entry:
    """One filled score cell, checked: a number from 0 to 10, typed (not a formula)."""
    entry = _Entry(sheet, cell.coordinate, item, dimension, cell.value, None, comment, domain)
    low, high = SCORE_RANGE
    value = cell.value
    if _is_formula(cell):
        entry.reject("formula", f"a formula ({value}); type the number")
        return entry
    if isinstance(value, bool) or cell.data_type == "e":
        number = None
    elif isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        number = plain_number(value.strip())
    else:  # a date, a time
        number = None
    if number is None:
        entry.reject("non_numeric", f"{value!r} is not a number")
    elif not low <= number <= high:
        entry.reject("out_of_range", f"{value!r} is outside {low:g}–{high:g}")
    else:
        entry.score = number
    return entry


def _expert(cell) -> str:
    """The expert id: the cell's text (a whole number without ``.0``); empty if a formula."""
    if cell is None or _is_formula(cell):
        return ""
    value = cell.value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return _text(value)


def _is_formula(cell) -> bool:
    return cell is not None and cell.data_type == "f"


def _blank(cell) -> bool:
    return (
        cell is None
        or cell.value is None
        or (isinstance(cell.value, str) and not cell.value.strip())
    )


def _filled(ws: Worksheet) -> bool:
    return any(v is not None for row in ws.iter_rows(values_only=True) for v in row)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()
