"""Workspace tables: every stage output is a Parquet folder written atomically.

A table is written to a temporary folder beside its final place and renamed into it, so a
crash leaves either the old table or the new one, never half of one. Each table folder also
holds ``_techscreen.json``: who wrote it (MLflow run id) and its row count, which later
stages record as the data version they consumed.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from techscreen.config import Settings, workspace
from techscreen.io.files import replace_dir, staging_dir

TABLES = (
    "patents",
    "quarantine",
    "patent_domains",
    "vectors",
    "nodes",
    "assignments",
    "node_edges",
    "centrality",
    "indicators",
    "grades",
)
_META = "_techscreen.json"


class WorkspaceError(ValueError):
    """A workspace table is missing or a path leaves the workspace."""


def table_path(settings: Settings, name: str) -> Path:
    """The folder of table ``name`` in the workspace."""
    if name not in TABLES:
        raise WorkspaceError(f"unknown table {name!r}; known: {', '.join(TABLES)}")
    return workspace(settings) / name


def write_table(frame: DataFrame, settings: Settings, name: str, meta: dict[str, Any]) -> Path:
    """Write ``frame`` as table ``name``, atomically, with its metadata file."""
    final = table_path(settings, name)
    tmp = staging_dir(final)
    frame.write.mode("error").parquet(str(tmp))
    (tmp / _META).write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
    replace_dir(tmp, final)
    return final


def append_partition(
    frame: DataFrame, settings: Settings, name: str, column: str, value: str, meta: dict[str, Any]
) -> list[Path]:
    """Add ``frame``'s rows to partition ``column=value`` of table ``name``; return the new files.

    The rows are written to a temporary folder, then each finished Parquet file is renamed
    into the partition (a rename is atomic), and ``_SUCCESS`` and the metadata are written
    last. A crash leaves complete files or none of a part: a re-run that skips what is
    present redoes only what is missing.
    """
    final = table_path(settings, name)
    part = final / f"{column}={value}"
    part.mkdir(parents=True, exist_ok=True)
    tmp = staging_dir(final)
    frame.write.mode("error").parquet(str(tmp))
    batch = uuid.uuid4().hex[:8]
    added = []
    for file in sorted(tmp.glob("part-*.parquet")):
        added.append(file.rename(part / f"{batch}-{file.name}"))
    shutil.rmtree(tmp, ignore_errors=True)
    (final / _META).write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
    (final / "_SUCCESS").touch()
    return added


def read_table(spark: SparkSession, settings: Settings, name: str) -> DataFrame:
    """Read table ``name``; a missing table is an error naming the stage that makes it."""
    path = table_path(settings, name)
    if not (path / "_SUCCESS").exists():
        raise WorkspaceError(f"table {name!r} not found at {path}: run the stage that writes it")
    return spark.read.parquet(str(path))


def table_meta(settings: Settings, name: str) -> dict[str, Any]:
    """The metadata written with table ``name`` (empty if none)."""
    path = table_path(settings, name) / _META
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
