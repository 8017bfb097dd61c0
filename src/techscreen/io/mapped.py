"""Column-mapped tables: exports that are just CSV/TSV/XLSX/JSON with their own headers.

A mapping in ``conf/`` (setting ``ingest.mapped.<name>``) names, for each canonical raw
field, the source column or JSON path that holds it, so a new export is configuration, not
code. Paths: ``col``, ``a.b``, ``list[*].name`` (every element), ``list[0]``; a list of paths
concatenates their values. A list value given for a single-valued field keeps its first
non-empty element (e.g. the first priority claim's date).

File types: ``jsonl`` (one record per line, split across tasks), ``json`` (one document
whose array at ``records`` holds the records; read whole, one task per file), ``csv``/
``tsv`` (header row; any ``encoding`` Java and Python both know, e.g. ``gbk``) and
``xlsx`` (first sheet, or ``sheet``; see :mod:`techscreen.io.xlsx`).

Options for what real exports look like: ``skip_lines`` (csv/tsv lines before the header,
e.g. the ``search URL:`` line of a Google Patents export), ``list_literals`` (cells holding a
list as text, ``['G06F3/013', 'G02B27/01']`` or ``["A"]``: parsed as JSON, else as a Python
literal by :func:`ast.literal_eval`, never evaluated; a cell that is no list of plain values
is quarantined as ``malformed_list``) and ``where`` (a row filter: records whose column
holds none of the listed values are counted as ``filtered`` under the rule, not
quarantined).

Encodings: a wrong declared encoding must not lose text silently. A CSV declared in a
legacy encoding whose bytes are in fact UTF-8 (decoding it as GBK would "succeed" with
mojibake) is refused with an error before Spark reads it; a header that does not hold the
mapped id column (what a wrong encoding does to Chinese headers) is refused naming the
encoding; and bytes the declared encoding cannot decode arrive as U+FFFD, which ingest
quarantines as ``undecodable_bytes`` with the row's excerpt.
"""

from __future__ import annotations

import ast
import csv
import fnmatch
import io
import json
import logging
import os
import re
from collections.abc import Iterator, Sequence
from functools import lru_cache, partial, reduce
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from techscreen.config import MappedSource
from techscreen.io.base import Reader, line_units, rows_as_units, with_source_file
from techscreen.io.encodings import (
    EncodingError,
    allow_charset,
    check_declared_encoding,
    read_head,
)
from techscreen.io.records import Reason, RecordError, RecordFiltered, json_object
from techscreen.io.xlsx import any_header, find_header, raise_if_unreadable, xlsx_units
from techscreen.schema import RAW_LISTS, UNITS

log = logging.getLogger(__name__)

_NO_RECORDS = "__no_records__"  # payload key of a JSON document without its record array


_STEP = re.compile(r"^(?P<key>[^\[\]]+)(?:\[(?P<index>\*|\d+)\])?$")


@lru_cache(maxsize=1024)
def _steps(path: str) -> tuple[tuple[str, str | None], ...]:
    """``path`` as (key, index) steps, parsed once per path (every record reads the same)."""
    steps = []
    for step in path.split("."):
        m = _STEP.match(step)
        if not m:
            raise ValueError(f"bad path step {step!r} in {path!r}")
        steps.append((m.group("key"), m.group("index")))
    return tuple(steps)


def resolve(record: Any, path: str) -> list[Any]:
    """Return every value at ``path`` in a parsed JSON record (empty list if absent)."""
    values = [record]
    for key, index in _steps(path):
        nxt: list[Any] = []
        for value in values:
            if not isinstance(value, dict) or value.get(key) is None:
                continue
            item = value[key]
            if index is None:
                nxt.append(item)
            elif isinstance(item, list):
                nxt.extend(item if index == "*" else item[int(index) : int(index) + 1])
        values = nxt
    flat: list[Any] = []
    for value in values:
        flat.extend(value if isinstance(value, list) else [value])
    return [v for v in flat if v is not None and str(v).strip() != ""]


class MappedReader(Reader):
    """Reads the files one mapping matches, by that mapping."""

    def __init__(self, mapping_name: str, mapping: MappedSource) -> None:
        self.mapping_name = mapping_name
        self.mapping = mapping
        self.name = f"mapped:{mapping_name}"  # type: ignore[misc]

    def detect(self, path: str, head: bytes) -> bool:
        """True if the file name matches one of the mapping's glob patterns."""
        base = os.path.basename(path)
        return any(fnmatch.fnmatch(base, pattern) for pattern in self.mapping.match)

    def units(self, spark: SparkSession, files: Sequence[str]) -> DataFrame:
        """Units by file type: lines, document elements, or table rows keyed by the id column.

        Raises:
            EncodingError: a csv/tsv file whose bytes contradict the declared encoding, or
                whose header lacks the mapped id column (naming the encoding it was read in).
        """
        m = self.mapping
        if not files:
            return spark.createDataFrame([], UNITS)
        if m.file_type == "jsonl":
            return line_units(spark, files)
        if m.file_type == "json":
            return _document_units(spark, files, m.records or "")
        key = self._key_column()
        if m.file_type == "xlsx":
            for path in files:
                found = find_header(path, any_header, m.sheet)
                self._check_key(path, key, found[2] if found else [], "xlsx")
            return xlsx_units(spark, files, any_header, key, m.sheet)
        # Each file on its own, matched by column name: a union of files read together
        # takes the first file's header for all and would misalign a file whose columns differ.
        frames = [self._table(spark, path, key) for path in files]
        frame = reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), frames)
        return rows_as_units(frame, key or frame.columns[0])

    def _key_column(self) -> str | None:
        key = self.mapping.columns.get("publication_number")
        return key[0] if isinstance(key, list) else key

    def _table(self, spark: SparkSession, path: str, key: str | None) -> DataFrame:
        m = self.mapping
        check_declared_encoding(path, m.encoding)
        allow_charset(spark, m.encoding)
        sep = "\t" if m.file_type == "tsv" else ","
        options = {
            "sep": sep,
            "quote": '"',
            "escape": '"',
            "multiLine": True,
            "encoding": m.encoding,
            "inferSchema": False,
            "mode": "PERMISSIVE",
        }
        if m.skip_lines:
            frame = self._after_preamble(spark, path, options)
        else:
            frame = with_source_file(spark.read.csv(path, header=True, **options))
        header = [c.lstrip("\ufeff").strip() for c in frame.columns[:-1]]  # source_file last
        frame = frame.toDF(*header, "source_file")
        self._check_key(path, key, header, m.encoding)
        wanted = {p.split(".")[0].split("[")[0] for p in _paths(m.columns) + list(m.where)}
        missing = sorted(wanted - set(header))
        if missing:
            log.warning(
                "mapping %s: %s lacks columns %s", self.mapping_name, path, ", ".join(missing)
            )
        return frame

    def _after_preamble(self, spark: SparkSession, path: str, options: dict) -> DataFrame:
        """The rows after ``skip_lines`` lines and the header line (read here, on the driver).

        Spark's CSV source has no option to skip lines: the header is named from the file's
        head and the first ``skip_lines + 1`` records are dropped by position (a multi-line
        CSV file is one partition read in order, so Spark's row ids count its records).
        """
        skip = self.mapping.skip_lines
        text = read_head(path).decode(self.mapping.encoding, errors="replace")
        lines = csv.reader(io.StringIO(text, newline=""), delimiter=options["sep"])
        header = next((row for n, row in enumerate(lines) if n == skip), [])
        names: list[str] = []
        for i, name in enumerate(header):
            name = name.lstrip("\ufeff").strip() or f"_c{i}"
            names.append(name if name not in names else f"{name}_{i}")
        schema = T.StructType([T.StructField(n, T.StringType()) for n in names or ["_c0"]])
        frame = with_source_file(spark.read.csv(path, header=False, schema=schema, **options))
        line = F.monotonically_increasing_id()
        return frame.withColumn("_line", line).where(F.col("_line") > skip).drop("_line")

    def _check_key(self, path: str, key: str | None, header: Sequence[str], read_as: str) -> None:
        if key is None or key in header:
            return
        shown = ", ".join(header[:8]) or "none"
        raise EncodingError(
            f"mapping {self.mapping_name}: {os.path.basename(path)} has no column {key!r} "
            f"(its header, read as {read_as}: {shown}); check the mapping's columns, match "
            "and encoding"
        )

    def parse(self, payload: str) -> dict[str, Any]:
        """Map one record's columns to raw canonical fields."""
        record = json_object(payload)
        raise_if_unreadable(record)
        if _NO_RECORDS in record:
            raise RecordError(Reason.BROKEN_JSON, str(record[_NO_RECORDS]))
        self._filter(record)
        raw: dict[str, Any] = dict(self.mapping.constants)
        for field, paths in self.mapping.columns.items():
            values: list[Any] = []
            for path in [paths] if isinstance(paths, str) else paths:
                values.extend(resolve(record, path))
            if field in self.mapping.list_literals:
                values = [v for value in values for v in list_literal(value, field)]
            sep = self.mapping.separators.get(field)
            if sep:
                values = [p.strip() for v in values for p in str(v).split(sep) if p.strip()]
            prefix = self.mapping.prefixes.get(field)
            if prefix:
                values = [v if str(v).startswith(prefix) else f"{prefix}{v}" for v in values]
            if field in RAW_LISTS:
                raw[field] = [str(v) for v in values]
            elif values:
                raw[field] = values[0] if isinstance(values[0], int) else str(values[0])
        number = raw.get("publication_number")
        if self.mapping.country_from_number and number and not raw.get("jurisdiction"):
            raw["jurisdiction"] = str(number)[:2]
        return raw

    def _filter(self, record: dict[str, Any]) -> None:
        """Raise :class:`RecordFiltered` if ``record`` fails one of the ``where`` rules."""
        for column, wanted in self.mapping.where.items():
            held = {_compared(v) for v in resolve(record, column)}
            if not held & {_compared(w) for w in wanted}:
                raise RecordFiltered(f"{self.name} where {column} in [{', '.join(wanted)}]")


def _compared(value: Any) -> str:
    return str(value).strip().lower()


def list_literal(value: Any, field: str) -> list[Any]:
    """The elements of a list written as text, JSON ``["A"]`` or Python ``['A', 'B']``.

    Parsed by :func:`json.loads`, else :func:`ast.literal_eval` (literals only: nothing in
    the cell is ever run). Empty elements are left out; an empty cell is an empty list.

    Raises:
        RecordError: ``malformed_list`` for a cell that is not a list of plain values.
    """
    if not isinstance(value, str):
        value = str(value)
    text = value.strip()
    if not text:
        return []
    try:
        parsed = json.loads(text)
    except ValueError:
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            parsed = None
    if not isinstance(parsed, list | tuple) or any(
        isinstance(v, list | tuple | dict | set) for v in parsed
    ):
        raise RecordError(Reason.MALFORMED_LIST, f"{field}: not a list literal: {text[:80]!r}")
    return [v for v in parsed if v is not None and str(v).strip()]


def _paths(columns: dict[str, str | list[str]]) -> list[str]:
    return [p for v in columns.values() for p in ([v] if isinstance(v, str) else v)]


def _document_units(spark: SparkSession, files: Sequence[str], records: str) -> DataFrame:
    sc = spark.sparkContext
    # Each file separately so that source_file is the path as given, like line_units.
    rdds = [
        sc.wholeTextFiles(p, minPartitions=1).flatMap(partial(_elements, path=p, records=records))
        for p in files
    ]
    return spark.createDataFrame(sc.union(rdds), UNITS)


def _elements(item: tuple[str, str], path: str, records: str) -> Iterator[tuple[str, str, str]]:
    """One JSON document → ``(file, index=<n>, element)`` units; runs on an executor."""
    _, text = item
    try:
        document = json.loads(text)
    except ValueError:
        # The broken document stays one unit so that parse() quarantines it with a reason.
        yield path, "document", text
        return
    node = document
    for key in records.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, list):
        detail = f"no record array at {records!r} in the document"
        yield path, "document", json.dumps({_NO_RECORDS: detail})
        return
    for index, element in enumerate(node):
        yield path, f"index={index}", json.dumps(element, ensure_ascii=False)
