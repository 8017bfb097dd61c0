"""Excel workbooks (``.xlsx``) as units: rows streamed with openpyxl on executors.

An xlsx file is a zip archive, so it cannot be split: each file is read whole by one task
(``binaryFiles``: any Hadoop file system, nothing through the driver), and its rows are
streamed with openpyxl's read-only mode there. Each data row becomes a unit whose payload
is the row as a JSON object ``{header: cell text}``, like the CSV readers'
:func:`techscreen.io.base.rows_as_units`, and whose location is ``<key>=<value>;sheet=<name>;
row=<n>`` with ``n`` the row number Excel shows.

Cells are passed on as text, as a CSV export of the same sheet would hold them: numbers
without a spurious ``.0``, dates as ISO dates. A workbook that cannot be opened, or has no
header row, becomes one unit that :func:`raise_if_unreadable` turns into a quarantine
record, so the file is accounted for rather than silently skipped.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import zipfile
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from techscreen.io.records import Reason, RecordError
from techscreen.schema import UNITS

log = logging.getLogger(__name__)

ZIP_MAGIC = b"PK\x03\x04"
XLSX_SUFFIXES = (".xlsx", ".xlsm")
HEADER_SCAN_ROWS = 20  # exports may put a title or query line above the header
UNREADABLE = "__unreadable_workbook__"  # payload key of a workbook that could not be read

HeaderTest = Callable[[Sequence[str]], bool]


def is_xlsx(path: str, head: bytes) -> bool:
    """True for a file named ``.xlsx``/``.xlsm`` that is a zip archive."""
    return path.lower().endswith(XLSX_SUFFIXES) and head.startswith(ZIP_MAGIC)


def any_header(names: Sequence[str]) -> bool:
    """Header test that takes the first non-empty row."""
    return any(names)


def cell_text(value: Any) -> str | None:
    """A cell's value as the text a CSV export would hold (None for an empty cell)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def header_names(row: Sequence[Any]) -> list[str]:
    """Header cells as names: stripped, blanks named by position, repeats numbered."""
    names: list[str] = []
    for i, value in enumerate(row):
        name = (cell_text(value) or "").strip().lstrip("\ufeff") or f"column_{i + 1}"
        base, n = name, 2
        while name in names:
            name, n = f"{base} ({n})", n + 1
        names.append(name)
    return names


def find_header(
    source: str | io.BytesIO, is_header: HeaderTest, sheet: str | None = None
) -> tuple[str, int, list[str]] | None:
    """Return ``(sheet, row number, names)`` of the first header row ``is_header`` accepts.

    Looks at the first :data:`HEADER_SCAN_ROWS` rows of ``sheet`` (default: every sheet in
    order). Returns None if the file is not a readable workbook or has no such row.
    """
    try:
        book = _open(source)
    except RecordError:
        return None
    try:
        return _header(book, is_header, sheet)
    finally:
        book.close()


def xlsx_units(
    spark: SparkSession,
    files: Sequence[str],
    is_header: HeaderTest,
    key_column: str | None,
    sheet: str | None = None,
) -> DataFrame:
    """One unit per data row of each workbook, read whole by one task per file.

    Args:
        spark: the session.
        files: the workbooks.
        is_header: accepts the header row (see :func:`find_header`).
        key_column: the column named in each record location (the record's id).
        sheet: the sheet to read (default: the first with a header row).
    """
    if not files:
        return spark.createDataFrame([], UNITS)
    sc = spark.sparkContext
    rdds = [
        sc.binaryFiles(path, minPartitions=1).flatMap(
            partial(_units_of, path=path, is_header=is_header, key=key_column, sheet=sheet)
        )
        for path in files
    ]
    return spark.createDataFrame(sc.union(rdds), UNITS)


def raise_if_unreadable(record: dict[str, Any]) -> None:
    """Quarantine the placeholder unit of a workbook that could not be read.

    Raises:
        RecordError: ``BROKEN_ROW`` naming why the workbook could not be read.
    """
    if UNREADABLE in record:
        raise RecordError(Reason.BROKEN_ROW, f"unreadable workbook: {record[UNREADABLE]}")


def _open(source: str | io.BytesIO) -> Any:
    import openpyxl  # imported here: only xlsx readers need it, on executors
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        return openpyxl.load_workbook(source, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise RecordError(Reason.BROKEN_ROW, f"{type(exc).__name__}: {exc}") from None


def _header(
    book: Any, is_header: HeaderTest, sheet: str | None
) -> tuple[str, int, list[str]] | None:
    if sheet is not None and sheet not in book.sheetnames:
        return None
    for ws in [book[sheet]] if sheet is not None else book.worksheets:
        # Exporters often write wrong sheet dimensions; read-only mode trusts them unless reset.
        ws.reset_dimensions()
        for n, row in enumerate(ws.iter_rows(max_row=HEADER_SCAN_ROWS, values_only=True), 1):
            names = header_names(row)
            if any(cell_text(v) for v in row) and is_header(names):
                return ws.title, n, names
    return None


def _units_of(
    item: tuple[str, bytes],
    path: str,
    is_header: HeaderTest,
    key: str | None,
    sheet: str | None,
) -> Iterator[tuple[str, str, str]]:
    """Rows of one workbook as ``(file, location, payload)``; runs on an executor."""
    _, data = item
    try:
        book = _open(io.BytesIO(data))
    except RecordError as exc:
        yield path, "workbook", json.dumps({UNREADABLE: exc.detail})
        return
    try:
        found = _header(book, is_header, sheet)
        if found is None:
            where = f"sheet {sheet!r}" if sheet else "any sheet"
            detail = f"no header row in the first {HEADER_SCAN_ROWS} rows of {where}"
            yield path, "workbook", json.dumps({UNREADABLE: detail})
            return
        title, header_row, names = found
        rows = book[title].iter_rows(min_row=header_row + 1, values_only=True)
        for n, row in enumerate(rows, header_row + 1):
            cells = [cell_text(v) for v in row]
            if not any(c is not None and c.strip() for c in cells):
                continue
            record = dict(zip(names, cells, strict=False))
            # Cells beyond the header are kept under their position rather than dropped.
            for i in range(len(names), len(cells)):
                if cells[i] is not None:
                    record[f"column_{i + 1}"] = cells[i]
            where = f"sheet={title};row={n}"
            if key is not None:
                where = f"{key}={record.get(key) or ''};{where}"
            yield path, where, json.dumps(record, ensure_ascii=False)
    finally:
        book.close()
