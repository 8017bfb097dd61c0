"""Files users open in spreadsheets or join with their own lists: CSV and Parquet exports.

CSV cells can never run as formulas. ``techscreen export TABLE`` writes any workspace table
with the source's own publication number (``source_number``, e.g. ``CN117151122A``) beside
the normalised one (``CN-117151122-A``), so that labels kept outside techscreen join.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame, SparkSession

from techscreen.config import Settings, workspace
from techscreen.io.files import staging_dir, staging_file
from techscreen.io.tables import read_table, table_path

# A spreadsheet treats a cell starting with one of these as a formula (CSV injection).
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
EXPORT_FORMATS = ("csv", "parquet")
_CHUNK_ROWS = 50_000  # rows of a table on the driver at a time while a CSV is written


def safe_cell(value: Any) -> Any:
    """``value``, with a leading ``'`` if it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_LEADS):
        return "'" + value
    return value


def write_csv(frame: pd.DataFrame | Iterable[pd.DataFrame], path: Path) -> Path:
    """Write ``frame`` as UTF-8 CSV (with BOM, for spreadsheets) with formula cells escaped.

    Numbers stay numbers (a negative score is not text); lists are written ``;``-joined.
    ``frame`` may also be chunks with the same columns, written in turn under one header.
    """
    chunks = [frame] if isinstance(frame, pd.DataFrame) else frame
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        for n, chunk in enumerate(chunks):
            _escaped(chunk).to_csv(f, index=False, header=n == 0)
    return path


def _escaped(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].map(
                lambda v: safe_cell(";".join(map(str, v)) if isinstance(v, list | tuple) else v)
            )
    return out


def with_source_numbers(spark: SparkSession, settings: Settings, frame: DataFrame) -> DataFrame:
    """``frame`` with ``source_number`` right after ``publication_number``.

    A frame without it gets it from patents/; a frame without publication numbers, or whose
    patents table predates the column (ingest again to add it), is returned as it is.
    """
    if "publication_number" not in frame.columns:
        return frame
    before = [c for c in frame.columns if c != "source_number"]
    if "source_number" not in frame.columns:
        patents = read_table(spark, settings, "patents")
        if "source_number" not in patents.columns:
            return frame
        numbers = patents.select("publication_number", "source_number")
        frame = frame.join(numbers, "publication_number", "left")
    at = before.index("publication_number") + 1
    return frame.select(*before[:at], "source_number", *before[at:])


def export_table(
    spark: SparkSession, settings: Settings, name: str, out: Path | None = None, fmt: str = ""
) -> dict[str, Any]:
    """Write workspace table ``name`` to one CSV or Parquet file, with the source's numbers.

    ``fmt`` defaults to ``out``'s suffix, else CSV; ``out`` to ``<workspace>/exports/<name>.
    <fmt>``. The file is written beside its place and renamed into it. A CSV streams the
    table to the driver a partition at a time (``toLocalIterator``): an export is the whole
    table by definition, so it is bounded by one partition, not by a sample size.
    """
    table_path(settings, name)  # an unknown name is an error naming the known ones
    fmt = fmt or (out.suffix.lstrip(".").lower() if out and out.suffix else "csv")
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"export format {fmt!r}: one of {', '.join(EXPORT_FORMATS)}")
    out = out or workspace(settings) / "exports" / f"{name}.{fmt}"
    out.parent.mkdir(parents=True, exist_ok=True)
    frame = read_table(spark, settings, name)
    if name != "quarantine":  # whose publication_number is already the source's, unparsed
        frame = with_source_numbers(spark, settings, frame)
    if fmt == "csv":
        os.replace(write_csv(_chunks(frame), staging_file(out)), out)
    else:
        folder = staging_dir(out)
        frame.coalesce(1).write.parquet(str(folder))
        (part,) = folder.glob("part-*.parquet")
        os.replace(part, out)
        shutil.rmtree(folder, ignore_errors=True)
    return {"table": name, "format": fmt, "path": str(out), "rows": frame.count()}


def _chunks(frame: DataFrame) -> Iterator[pd.DataFrame]:
    """The frame's rows as pandas chunks (the last one may be empty: it carries the header)."""
    batch: list[Any] = []
    for row in frame.toLocalIterator():
        batch.append(tuple(row))
        if len(batch) == _CHUNK_ROWS:
            yield pd.DataFrame(batch, columns=frame.columns)
            batch = []
    yield pd.DataFrame(batch, columns=frame.columns)
