"""Files users open in spreadsheets: CSV whose cells can never run as formulas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

# A spreadsheet treats a cell starting with one of these as a formula (CSV injection).
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value``, with a leading ``'`` if it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_LEADS):
        return "'" + value
    return value


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` as UTF-8 CSV (with BOM, for spreadsheets) with formula cells escaped.

    Numbers stay numbers (a negative score is not text); lists are written ``;``-joined.
    """
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].map(
                lambda v: safe_cell(";".join(map(str, v)) if isinstance(v, list | tuple) else v)
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, index=False, encoding="utf-8-sig")
    return path
