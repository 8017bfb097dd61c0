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
    "placements",
    "nodes",
    "assignments",
    "node_edges",
    "centrality",
    "indicators",
    "grades",
    "tier_changes",
)
META_FILE = "_techscreen.json"  # beside a table's (or the report's) files: who wrote it


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
    (tmp / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
    replace_dir(tmp, final)
    return final


def append_partition(
    frame: DataFrame, settings: Settings, name: str, column: str, value: str, meta: dict[str, Any]
) -> list[Path]:
    """Add ``frame``'s rows to partition ``column=value`` of table ``name``; return the new files.

    The rows are written to a temporary folder, then each finished Parquet file is renamed
    into the partition (a rename is atomic); the metadata is written last. A crash leaves
    complete files or none of a part: for the vectors (incremental) a re-run redoes only what
    is missing; a run-partitioned table's partition of a run that did not finish is removed
    by :func:`techscreen.recovery.recover` before the next run.
    """
    final = table_path(settings, name)
    tmp = staging_dir(final)
    frame.write.mode("error").parquet(str(tmp))
    part = final / f"{column}={value}"
    part.mkdir(parents=True, exist_ok=True)
    batch = uuid.uuid4().hex[:8]
    added = []
    (final / "_SUCCESS").touch()  # the table exists: each file below lands whole, or not at all
    for file in sorted(tmp.glob("part-*.parquet")):
        added.append(file.rename(part / f"{batch}-{file.name}"))
    shutil.rmtree(tmp, ignore_errors=True)
    (final / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
    return added


def read_table(spark: SparkSession, settings: Settings, name: str) -> DataFrame:
    """Read table ``name``; a missing table is an error naming the stage that makes it."""
    path = table_path(settings, name)
    if not (path / "_SUCCESS").exists():
        raise WorkspaceError(f"table {name!r} not found at {path}: run the stage that writes it")
    return spark.read.option("mergeSchema", "true").parquet(
        str(path)
    )  # older runs may lack a column


def table_meta(settings: Settings, name: str) -> dict[str, Any]:
    """The metadata written with table ``name`` (empty if none)."""
    path = table_path(settings, name) / META_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
