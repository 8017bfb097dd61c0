"""The expert questionnaire of a Delphi round: one xlsx workbook, built from a grade run.

The workbook (:func:`build_survey`) holds

* an ``Instructions`` sheet: the scale, what each dimension means, and the one cell the
  expert fills in there, their identifier (:data:`EXPERT_CELL`);
* one sheet per domain, one row per graded technology node: its id, label, patents, top
  class codes, representative patents, patent score, dimension and indicator scores, and the
  input cells — ``necessity``, ``feasibility`` and ``impact`` 0–10 (Excel data validation:
  a decimal between 0 and 10) and a comment. From round 2 on, the panel's median and IQR of
  the round before sit next to each input cell (the Delphi feedback);
* a ``Nominated`` sheet (round 2 on, when experts nominated technologies) laid out the same;
* a ``Supplement`` sheet where experts add technologies the patents missed: name, domain,
  the three scores and the reason;
* a very hidden sheet ``_survey`` with the round, the grade run and the list of items, which
  :mod:`techscreen.grade.returns` reads back to check what comes back.

Every sheet is protected without a password (a guard against slips, not a lock): only the
input cells can be edited. The header texts below are the contract with the reader.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Alignment, Font, PatternFill, Protection
from openpyxl.utils import get_column_letter
from openpyxl.workbook.protection import WorkbookProtection
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from techscreen.config import DIMENSIONS
from techscreen.grade.expert import SCORE_RANGE
from techscreen.schema import NODE_ITEM

log = logging.getLogger(__name__)

FORMAT = "techscreen-expert-survey/1"
INSTRUCTIONS, SUPPLEMENT, NOMINATED, META = "Instructions", "Supplement", "Nominated", "_survey"
EXPERT_CELL = "B3"  # on INSTRUCTIONS
ITEM, DOMAIN, COMMENT = "item", "domain", "comment"
INPUTS = {d: f"{d} 0–10" for d in DIMENSIONS}
TECHNOLOGY, REASON = "technology", "reason"
SUPPLEMENT_HEADERS = (TECHNOLOGY, DOMAIN, *INPUTS.values(), REASON)
SUPPLEMENT_ROWS = 200  # unlocked, validated rows on the Supplement sheet
NOMINATED_KIND = "nominated"
# The meta sheet: key/value pairs in A:B, the items in D:F.
META_KEYS = (
    "format",
    "round",
    "survey_id",
    "grade_run",
    "cluster_run",
    "created",
    "domains",  # one per line
    "sheets",  # the item sheets, one per line
)
META_ITEMS = ("item", "domain", "sheet")
META_ITEM_COLUMN = 4

DEFINITIONS = {
    "necessity": "strategic value to China's industrial system and national security",
    "feasibility": "technical maturity, and how hard the technology is for others to get "
    "from anyone else (foreign substitutes)",
    "impact": "effects on innovation, industry, employment and trade if it were restricted",
}

_INPUT_FILL = PatternFill("solid", start_color="FFF2CC")
_FEEDBACK_FILL = PatternFill("solid", start_color="DDEBF7")
_BOLD = Font(bold=True)
_WRAP = Alignment(wrap_text=True, vertical="top")
_UNLOCKED = Protection(locked=False)
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


def survey_items(
    grades: pd.DataFrame, nodes: pd.DataFrame, codes: int, patents: int
) -> pd.DataFrame:
    """The technology nodes of a grade run, with what an expert needs to judge each.

    Args:
        grades: rows of ``grades/`` of one run (``domain, item, kind, label, patents,
            scores, necessity, feasibility, impact, patent_score``); only ``kind = node``
            rows are surveyed (expert-only items come back through the experts' own
            nominations).
        nodes: ``node_id, codes, representatives`` of the clustering behind it.
        codes: class codes shown per node (the most frequent first).
        patents: representative patents shown per node.

    Returns:
        One row per node, by domain and node number: ``domain, item, label, patents,
        patent_score, necessity, feasibility, impact, scores`` (indicator → 0–10),
        ``codes`` and ``representatives`` (text, one per line), ``kind = node``.
    """
    graded = grades[grades["kind"] == NODE_ITEM]
    by_node = nodes.set_index("node_id")
    rows = []
    for r in graded.to_dict("records"):
        node = by_node.loc[r["item"]] if r["item"] in by_node.index else None
        rows.append(
            {
                "domain": r["domain"],
                "item": r["item"],
                "label": r["label"],
                "patents": r["patents"],
                "patent_score": r["patent_score"],
                **{d: r[d] for d in DIMENSIONS},
                "scores": dict(r["scores"] or {}),
                "codes": _codes(node["codes"], codes) if node is not None else "",
                "representatives": (
                    _patents(node["representatives"], patents) if node is not None else ""
                ),
                "kind": NODE_ITEM,
            }
        )
    out = pd.DataFrame(rows, columns=[*_ITEM_COLUMNS])
    return out.sort_values(["domain", "item"], key=_natural, kind="stable").reset_index(drop=True)


_ITEM_COLUMNS = (
    "domain",
    "item",
    "label",
    "patents",
    "patent_score",
    *DIMENSIONS,
    "scores",
    "codes",
    "representatives",
    "kind",
)


def nominated_items(names: Mapping[str, str]) -> pd.DataFrame:
    """Items the experts nominated in an earlier round, to score again: name → domain."""
    rows = [
        {"domain": domain or "", "item": name, "label": name, "kind": NOMINATED_KIND}
        for name, domain in sorted(names.items())
    ]
    return pd.DataFrame(rows, columns=list(_ITEM_COLUMNS))


def _natural(column: pd.Series) -> pd.Series:
    """Sort key: ``energy:10`` after ``energy:9``."""
    return column.map(lambda v: re.sub(r"\d+", lambda m: m[0].zfill(12), str(v)))


def _get(value: Any, name: str) -> Any:
    """A field of a struct (a mapping, or a pyspark Row)."""
    return value.get(name) if isinstance(value, Mapping) else getattr(value, name, None)


def _codes(codes: Any, n: int) -> str:
    lines = []
    for code in list(codes if codes is not None else [])[:n]:
        titles = " / ".join(t for t in (_get(code, "title"), _get(code, "title_zh")) if t)
        share = _get(code, "share")
        share_text = f" ({share:.0%})" if isinstance(share, int | float) else ""
        lines.append(f"{_get(code, 'code')}{share_text}" + (f" {titles}" if titles else ""))
    return "\n".join(lines)


def _patents(representatives: Any, n: int) -> str:
    lines = []
    for patent in list(representatives if representatives is not None else [])[:n]:
        title = _get(patent, "title")
        number = _get(patent, "publication_number")
        lines.append(f"{number} — {title}" if title else str(number))
    return "\n".join(lines)


def build_survey(
    items: pd.DataFrame,
    round_: int,
    info: Mapping[str, str],
    domains: Sequence[str],
    feedback: pd.DataFrame | None = None,
    indicators: Sequence[str] = (),
) -> Workbook:
    """The questionnaire of one Delphi round.

    Args:
        items: :func:`survey_items` rows, and :func:`nominated_items` rows from round 2 on.
        round_: the round (1, 2, …).
        info: ``survey_id``, ``grade_run``, ``cluster_run``, ``created`` — written to the
            meta sheet and shown on the instructions sheet.
        domains: the domains, in sheet order (a domain without nodes still gets its sheet,
            so experts can see it was screened and nominate into it).
        feedback: the panel's answers of round ``round_ − 1`` (:func:`techscreen.grade.delphi
            .feedback`: ``item, dimension, median, iqr``); required from round 2 on.
        indicators: indicator names in column order; others found in ``scores`` follow.

    Returns:
        The workbook, not yet saved.

    Raises:
        ValueError: round 2 or later without feedback.
    """
    if round_ >= 2 and feedback is None:
        raise ValueError(f"round {round_} needs the scores of round {round_ - 1} as feedback")
    listed_nodes = items.loc[items["kind"] != NOMINATED_KIND, "domain"].dropna()
    domains = list(dict.fromkeys([*domains, *sorted(set(listed_nodes))]))  # none left out
    wb = Workbook()
    _instructions(wb.active, round_, info, domains, feedback is not None)
    found = [k for scores in items["scores"].dropna() for k in scores]
    columns = list(dict.fromkeys([*[i for i in indicators if i in found], *sorted(set(found))]))
    sheets: dict[str, str] = {}  # item → sheet
    names = _sheet_names(domains)
    for domain in domains:
        rows = items[(items["domain"] == domain) & (items["kind"] != NOMINATED_KIND)]
        _item_sheet(wb.create_sheet(names[domain]), rows, round_, feedback, columns)
        sheets.update(dict.fromkeys(rows["item"], names[domain]))
    nominated = items[items["kind"] == NOMINATED_KIND]
    if len(nominated):
        _item_sheet(wb.create_sheet(NOMINATED), nominated, round_, feedback, [])
        sheets.update(dict.fromkeys(nominated["item"], NOMINATED))
    _supplement(wb.create_sheet(SUPPLEMENT), domains)
    item_sheets = [names[d] for d in domains] + ([NOMINATED] if len(nominated) else [])
    listed = {"domains": "\n".join(domains), "sheets": "\n".join(item_sheets)}
    _meta(wb.create_sheet(META), round_, {**info, **listed}, items, sheets)
    wb.security = WorkbookProtection(lockStructure=True)
    log.info(
        "survey round %d: %d items on %d sheets, %d nominated, feedback: %s",
        round_,
        len(items),
        len(domains),
        len(nominated),
        "yes" if feedback is not None else "no",
    )
    return wb


def _sheet_names(domains: Sequence[str]) -> dict[str, str]:
    """A valid, unique sheet name per domain (≤ 31 characters, no ``[]:*?/`` or backslash)."""
    taken = {INSTRUCTIONS.lower(), SUPPLEMENT.lower(), NOMINATED.lower(), META.lower()}
    names = {}
    for domain in domains:
        base = _BAD_SHEET_CHARS.sub("_", domain)[:31] or "domain"
        name, i = base, 2
        while name.lower() in taken:
            name, i = f"{base[:28]}~{i}", i + 1
        taken.add(name.lower())
        names[domain] = name
    return names


def _protect(ws: Worksheet) -> None:
    ws.protection.sheet = True
    # experts may still widen columns and rows to read long labels
    ws.protection.formatColumns = False
    ws.protection.formatRows = False


def _validation(round_: int) -> DataValidation:
    low, high = SCORE_RANGE
    return DataValidation(
        type="decimal",
        operator="between",
        formula1=f"{low:g}",
        formula2=f"{high:g}",
        allow_blank=True,
        showErrorMessage=True,
        errorTitle="Score 0–10",
        error=f"Enter a number from {low:g} to {high:g} (decimals allowed), or leave it empty.",
        showInputMessage=True,
        promptTitle=f"Round {round_}",
        prompt="0 = none … 10 = highest; empty = not scored",
    )


def _instructions(
    ws: Worksheet, round_: int, info: Mapping[str, str], domains: Sequence[str], feedback: bool
) -> None:
    ws.title = INSTRUCTIONS
    ws["A1"] = f"Technology screening — expert questionnaire, Delphi round {round_}"
    ws["A1"].font = Font(bold=True, size=14)
    ws["A3"] = "Your expert id →"
    ws["A3"].font = _BOLD
    ws[EXPERT_CELL].fill = _INPUT_FILL
    ws[EXPERT_CELL].protection = _UNLOCKED
    ws["C3"] = "an identifier such as E01 (no name needed); the same one in every round"
    ws["A4"], ws["B4"] = "Round", round_
    ws["A5"], ws["B5"] = "Grade run", info.get("grade_run", "")
    ws["A6"], ws["B6"] = "Survey id", info.get("survey_id", "")
    ws["A7"], ws["B7"] = "Created", info.get("created", "")
    lines = [
        "",
        "How to answer",
        "Each domain has a sheet; each row is a technology node found in the patents, with "
        "its class codes, representative patents and the patent-based scores (0–10).",
        "Score each technology in the yellow cells, 0 (none) to 10 (highest), decimals "
        "allowed; leave a cell empty to not score it. Type numbers, not formulas.",
        *(f"  {d}: {DEFINITIONS[d]}" for d in DIMENSIONS),
        "Add a comment where your score departs from the patent evidence.",
        "Technologies the patents missed go on the Supplement sheet: name, domain, the three "
        "scores and why.",
    ]
    if feedback:
        lines += [
            f"The blue columns show the panel's answers of round {round_ - 1}: the median "
            "and the interquartile range (IQR, the spread of the middle half). Reconsider "
            "your score in their light; where you stay far from the median, say why in the "
            "comment.",
        ]
    lines += [
        "Do not add rows to the domain sheets, rename or move sheets; save as .xlsx and "
        "return the file.",
        "",
        "Domains: " + ", ".join(domains),
    ]
    for i, line in enumerate(lines, start=8):
        _put(ws, i, 1, line)
    ws["A9"].font = _BOLD
    ws.column_dimensions["A"].width = 18
    ws.column_dimensions["B"].width = 36
    _protect(ws)


def _item_headers(
    round_: int, feedback: pd.DataFrame | None, indicators: Sequence[str]
) -> list[tuple[str, str]]:
    """(header, role) of each column of an item sheet, left to right."""
    columns = [
        (ITEM, "item"),
        (DOMAIN, "domain"),
        (TECHNOLOGY, "label"),
        ("patents", "patents"),
        ("patent score", "patent_score"),
        *((f"{d} (patents)", d) for d in DIMENSIONS),
    ]
    for d in DIMENSIONS:
        if feedback is not None:
            columns += [
                (f"{d} round {round_ - 1} median", f"median:{d}"),
                (f"{d} round {round_ - 1} IQR", f"iqr:{d}"),
            ]
        columns.append((INPUTS[d], f"input:{d}"))
    columns += [
        (COMMENT, "comment"),
        ("top codes", "codes"),
        ("representative patents", "representatives"),
        *((f"{name} (indicator)", f"indicator:{name}") for name in indicators),
    ]
    return columns


_WIDTHS = {"item": 14, "label": 40, "comment": 40, "codes": 40, "representatives": 60}


def _item_sheet(
    ws: Worksheet,
    rows: pd.DataFrame,
    round_: int,
    feedback: pd.DataFrame | None,
    indicators: Sequence[str],
) -> None:
    headers = _item_headers(round_, feedback, indicators)
    shown = {}
    if feedback is not None and len(feedback):
        shown = feedback.set_index(["item", "dimension"])[["median", "iqr"]].to_dict("index")
    for j, (header, role) in enumerate(headers, start=1):
        cell = ws.cell(row=1, column=j, value=header)
        cell.font, cell.alignment = _BOLD, _WRAP
        kind = role.split(":")[0]
        width = _WIDTHS.get(role, 12 if kind in ("input", "median", "iqr") else 11)
        ws.column_dimensions[get_column_letter(j)].width = width
    validation = _validation(round_)
    ws.add_data_validation(validation)
    for i, r in enumerate(rows.to_dict("records"), start=2):
        for j, (_, role) in enumerate(headers, start=1):
            cell = _put(ws, i, j, _value(r, role, shown))
            kind = role.split(":")[0]
            if kind in ("input", "comment"):
                cell.fill, cell.protection = _INPUT_FILL, _UNLOCKED
            elif kind in ("median", "iqr"):
                cell.fill = _FEEDBACK_FILL
            if isinstance(cell.value, float):
                cell.number_format = "0.0"
            if role in _WIDTHS:
                cell.alignment = _WRAP
    last = len(rows) + 1
    for j, (_, role) in enumerate(headers, start=1):
        if role.startswith("input:") and last >= 2:
            letter = get_column_letter(j)
            validation.add(f"{letter}2:{letter}{last}")
    ws.freeze_panes = "C2"
    _protect(ws)


def _value(row: Mapping[str, Any], role: str, shown: Mapping[tuple[str, str], dict]) -> Any:
    kind, _, name = role.partition(":")
    if kind == "input":
        return None
    if kind in ("median", "iqr"):
        value = shown.get((row["item"], name), {}).get(kind)
    elif kind == "indicator":
        value = (row.get("scores") or {}).get(name)
    elif kind == "comment":
        return None
    else:
        value = row.get(role)
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if hasattr(value, "item"):  # numpy scalars → Python numbers openpyxl can write
        value = value.item()
    return round(value, 2) if isinstance(value, float) else value


def _put(ws: Worksheet, row: int, column: int, value: Any) -> Cell:
    """Write a value as data: text is never a formula, and loses the characters XML forbids."""
    cell = ws.cell(row=row, column=column)
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
    cell.value = value
    if isinstance(value, str) and cell.data_type == "f":
        cell.data_type = "s"  # a label or nominated name starting with "=" stays text
    return cell


def _supplement(ws: Worksheet, domains: Sequence[str]) -> None:
    for j, header in enumerate(SUPPLEMENT_HEADERS, start=1):
        cell = ws.cell(row=1, column=j, value=header)
        cell.font, cell.alignment = _BOLD, _WRAP
    widths = {TECHNOLOGY: 40, DOMAIN: 22, REASON: 60}
    for j, header in enumerate(SUPPLEMENT_HEADERS, start=1):
        ws.column_dimensions[get_column_letter(j)].width = widths.get(header, 12)
    for i in range(2, SUPPLEMENT_ROWS + 2):
        for j in range(1, len(SUPPLEMENT_HEADERS) + 1):
            cell = ws.cell(row=i, column=j)
            cell.fill, cell.protection = _INPUT_FILL, _UNLOCKED
    scores = DataValidation(
        type="decimal",
        operator="between",
        formula1=f"{SCORE_RANGE[0]:g}",
        formula2=f"{SCORE_RANGE[1]:g}",
        allow_blank=True,
        showErrorMessage=True,
        error="Enter a number from 0 to 10, or leave it empty.",
    )
    ws.add_data_validation(scores)
    first = get_column_letter(SUPPLEMENT_HEADERS.index(INPUTS[DIMENSIONS[0]]) + 1)
    last = get_column_letter(SUPPLEMENT_HEADERS.index(INPUTS[DIMENSIONS[-1]]) + 1)
    scores.add(f"{first}2:{last}{SUPPLEMENT_ROWS + 1}")
    listed = ",".join(domains)
    if domains and len(listed) <= 255:  # Excel's limit for an inline list
        choice = DataValidation(type="list", formula1=f'"{listed}"', allow_blank=True)
        ws.add_data_validation(choice)
        letter = get_column_letter(SUPPLEMENT_HEADERS.index(DOMAIN) + 1)
        choice.add(f"{letter}2:{letter}{SUPPLEMENT_ROWS + 1}")
    ws.freeze_panes = "A2"
    _protect(ws)


def _meta(
    ws: Worksheet,
    round_: int,
    info: Mapping[str, str],
    items: pd.DataFrame,
    sheets: Mapping[str, str],
) -> None:
    values = {**info, "format": FORMAT, "round": round_}
    for i, key in enumerate(META_KEYS, start=1):
        ws.cell(row=i, column=1, value=key)
        ws.cell(row=i, column=2, value=values.get(key, ""))
    for j, header in enumerate(META_ITEMS):
        ws.cell(row=1, column=META_ITEM_COLUMN + j, value=header)
    domains = dict(zip(items["item"], items["domain"], strict=True))
    for i, (item, sheet) in enumerate(sheets.items(), start=2):
        for j, value in enumerate((item, domains.get(item) or "", sheet)):
            _put(ws, i, META_ITEM_COLUMN + j, value)
    ws.sheet_state = "veryHidden"
    _protect(ws)
