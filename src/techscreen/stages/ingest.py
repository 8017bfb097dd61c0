"""The ingest stage: raw files → ``patents/`` + ``quarantine/``, reconciled and tracked."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from functools import reduce
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from techscreen.ingest.merge import MERGE_RULE, merge_duplicates
from techscreen.ingest.parse import kept, quarantined, validated
from techscreen.ingest.rejections import check, file_outcomes
from techscreen.ingest.validate import Rules
from techscreen.io.formats import expand, plan
from techscreen.io.tables import read_table, write_table
from techscreen.stages import Context

log = logging.getLogger(__name__)


class ReconciliationError(RuntimeError):
    """read ≠ kept + quarantined + merged: a record went missing or was counted twice."""


def data_version(files: Sequence[str]) -> str:
    """A fingerprint of the input files: names, sizes and their first and last MiB.

    Cheap on multi-GB inputs and changes whenever a file is added, removed, grown or edited
    at either end; a full content hash is left to the catalogue (issue of resume).
    """
    digest = hashlib.sha256()
    for path in sorted(files):
        size = os.path.getsize(path)
        digest.update(f"{os.path.basename(path)}:{size}".encode())
        with open(path, "rb") as f:
            digest.update(f.read(1 << 20))
            if size > 2 << 20:
                f.seek(-(1 << 20), os.SEEK_END)
                digest.update(f.read())
    return digest.hexdigest()[:16]


def run_ingest(ctx: Context, inputs: Sequence[str] | None = None) -> dict[str, Any]:
    """Read ``inputs`` (default ``paths.input``), validate, merge, write, reconcile.

    Raises:
        ReconciliationError: if the counts do not add up (the tables are written first, so
            they can be inspected).
        IngestRejected: no record kept, or a file quarantined beyond
            ``ingest.max_quarantine_share`` (after the tables and the run are written).
    """
    s = ctx.settings
    files = expand(inputs or s.paths.input)
    groups = plan(files, s.ingest)
    rules = Rules(s.ingest.max_text_chars, s.ingest.malformed_code_policy)
    version = data_version(files)
    log.info("ingest: %d files in %d formats (%s)", len(files), len(groups), ", ".join(groups))

    with ctx.tracker.stage("ingest", upstream={"data_version": version}) as run:
        parts = [
            validated(reader.units(ctx.spark, reader_files), reader, rules, s.ingest.excerpt_chars)
            for reader, reader_files in (groups[name] for name in sorted(groups))
        ]
        rows = reduce(DataFrame.unionByName, parts).persist(StorageLevel.DISK_ONLY)
        # Units are read once: validation turns each into exactly one row (patent, quarantine
        # or filtered), so the rows per format are the records read; the tables written
        # below are counted apart, so the reconciliation can still fail.
        outcomes, filtered = file_outcomes(rows)
        read = {name: 0 for name in groups}
        for outcome in outcomes:
            read[outcome.format] += outcome.read
        merged = merge_duplicates(kept(rows)).persist(StorageLevel.DISK_ONLY)
        meta = {"run_id": run.run_id, "data_version": version, "merge_rule": MERGE_RULE}
        write_table(merged.drop("versions"), s, "patents", meta)
        write_table(quarantined(rows), s, "quarantine", meta)
        conflicts = merged.where(F.col("versions") > 1).count()
        rows.unpersist()
        merged.unpersist()

        summary = reconcile(ctx, read, sum(filtered.values()))
        summary.update(conflicting_duplicates=conflicts, data_version=version, files=len(files))
        run.log(
            params={
                "inputs": ",".join(map(str, inputs or s.paths.input)),
                "ingest": s.ingest.model_dump(exclude={"mapped"}),
                "merge_rule": MERGE_RULE,
                "filtered_by_rule": json.dumps(filtered) if filtered else "none",
            },
            metrics={k: v for k, v in summary.items() if isinstance(v, int | dict)},
            tags={"techscreen.data_version": version},
        )
        summary.update(run_id=run.run_id, filtered_by_rule=filtered)
    if not summary["reconciled"]:
        raise ReconciliationError(
            f"read {summary['read']} != kept {summary['kept']} + quarantined "
            f"{summary['quarantined']} + merged {summary['merged']} + filtered "
            f"{summary['filtered']}"
        )
    check(outcomes, summary["kept"], s.ingest.max_quarantine_share)
    return summary


def reconcile(ctx: Context, read: dict[str, int], filtered: int) -> dict[str, Any]:
    """Count what the written tables hold; check ``read = kept + quarantined + merged + filtered``.

    ``filtered``: the records a mapping's row filter left out (they are in no table).
    """
    patents = read_table(ctx.spark, ctx.settings, "patents")
    quarantine = read_table(ctx.spark, ctx.settings, "quarantine")
    kept_n, merged_n = patents.select(F.count("*"), F.sum(F.size("merged_from"))).first()
    merged_n = int(merged_n or 0)
    reasons = {r["reason"]: r["count"] for r in quarantine.groupBy("reason").count().collect()}
    quarantined_n = sum(reasons.values())
    total = sum(read.values())
    return {
        "read": total,
        "kept": int(kept_n),
        "quarantined": quarantined_n,
        "merged": merged_n,
        "filtered": filtered,
        "reconciled": total == kept_n + quarantined_n + merged_n + filtered,
        "read_by_format": read,
        "quarantined_by_reason": dict(sorted(reasons.items())),
    }
