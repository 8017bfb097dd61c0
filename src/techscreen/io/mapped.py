"""Column-mapped tables: exports that are just CSV/TSV/JSON Lines with their own headers.

A mapping in ``conf/`` (setting ``ingest.mapped.<name>``) names, for each canonical raw
field, the source column or JSON path that holds it, so a new export is configuration, not
code. Paths: ``col``, ``a.b``, ``list[*].name`` (every element), ``list[0]``; a list of paths
concatenates their values. A list value given for a single-valued field keeps its first
non-empty element (e.g. the first priority claim's date).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from collections.abc import Sequence
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from techscreen.config import MappedSource
from techscreen.io.base import Reader, line_units, rows_as_units, with_source_file
from techscreen.io.records import Reason, RecordError
from techscreen.schema import RAW_LISTS

_STEP = re.compile(r"^(?P<key>[^\[\]]+)(?:\[(?P<index>\*|\d+)\])?$")


def resolve(record: Any, path: str) -> list[Any]:
    """Return every value at ``path`` in a parsed JSON record (empty list if absent)."""
    values = [record]
    for step in path.split("."):
        m = _STEP.match(step)
        if not m:
            raise ValueError(f"bad path step {step!r} in {path!r}")
        nxt: list[Any] = []
        for value in values:
            if not isinstance(value, dict) or value.get(m.group("key")) is None:
                continue
            item = value[m.group("key")]
            index = m.group("index")
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
        """JSON Lines by byte offset; CSV/TSV rows as JSON payloads keyed by the id column."""
        m = self.mapping
        if m.file_type == "jsonl":
            return line_units(spark, files)
        frame = spark.read.csv(
            list(files),
            header=True,
            sep="\t" if m.file_type == "tsv" else ",",
            quote='"',
            escape='"',
            multiLine=True,
            encoding=m.encoding,
            inferSchema=False,
            mode="PERMISSIVE",
        )
        key = m.columns.get("publication_number")
        key_col = key[0] if isinstance(key, list) else key
        return rows_as_units(with_source_file(frame), key_col or frame.columns[0])

    def parse(self, payload: str) -> dict[str, Any]:
        """Map one record's columns to raw canonical fields."""
        try:
            record = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise RecordError(Reason.BROKEN_JSON, str(exc)) from None
        if not isinstance(record, dict):
            raise RecordError(Reason.BROKEN_JSON, "a record must be a JSON object")
        raw: dict[str, Any] = dict(self.mapping.constants)
        for field, paths in self.mapping.columns.items():
            values: list[Any] = []
            for path in [paths] if isinstance(paths, str) else paths:
                values.extend(resolve(record, path))
            sep = self.mapping.separators.get(field)
            if sep:
                values = [p.strip() for v in values for p in str(v).split(sep) if p.strip()]
            if field in RAW_LISTS:
                raw[field] = [str(v) for v in values]
            elif values:
                raw[field] = values[0] if isinstance(values[0], int) else str(values[0])
        number = raw.get("publication_number")
        if self.mapping.country_from_number and number and not raw.get("jurisdiction"):
            raw["jurisdiction"] = str(number)[:2]
        return raw
