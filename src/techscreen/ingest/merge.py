"""Duplicates by publication number are merged into one patent by a recorded rule.

Rule ``most_complete`` (the only one): records of one publication number are ranked by
(has an abstract, abstract length, number of class codes, source file, record location);
scalar fields come from the best-ranked record that has them, list fields (codes,
applicants, countries, citations, warnings) are the sorted union over all records, and the
counts (forward and backward citations, family size) are the largest seen. ``merged_from``
lists the other records' ``file@location``, so every merged record stays traceable.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from techscreen.schema import PATENTS, RECORD

MERGE_RULE = "most_complete"
KEY = "publication_number"
# Up to this many repeated numbers are broadcast to every task (~50 MB); more are joined by
# a shuffle like any large table.
BROADCAST_KEYS = 1_000_000
CONTENT = (
    "title",
    "abstract",
    "language",
    "ipc_codes",
    "cpc_codes",
    "priority_date",
    "filing_date",
    "publication_date",
    "filing_year",
    "applicants",
    "applicant_countries",
    "jurisdiction",
    "cited_publications",
    "forward_citations",
    "family_id",
    "application_number",
    "title_en",
    "abstract_en",
    "main_ipc",
    "priority_countries",
    "backward_citations",
    "family_size",
    "legal_status",
)
# Counts: the largest any merged record gives (sources count at different dates).
_COUNTS = ("forward_citations", "backward_citations", "family_size")
# Lists added to CONTENT after tables were written: an empty one hashes as absent (to_json
# drops nulls, like the new scalars) so that a record without it keeps its hash, and with
# it its vectors.
_HASHED_NULL_WHEN_EMPTY = ("priority_countries",)
_LISTS = [f.name for f in RECORD.fields if f.dataType.typeName() == "array"]
_SOURCE = ("source_format", "source_file", "record_location")


def content_hash() -> F.Column:
    """SHA-256 of a patent's content fields (not where it came from)."""
    fields = [
        F.when(F.size(c) > 0, F.col(c)).alias(c) if c in _HASHED_NULL_WHEN_EMPTY else F.col(c)
        for c in CONTENT
    ]
    return F.sha2(F.to_json(F.struct(*fields)), 256)


def merge_duplicates(rows: DataFrame) -> DataFrame:
    """One row per publication number, by the ``most_complete`` rule (see module doc).

    Returns patent columns plus ``merged_from`` and ``versions`` (distinct content hashes
    among the merged records; above 1 means the duplicates disagreed).

    Only the records of numbers seen more than once are shuffled and ranked; the others
    (nearly all, in a large corpus) pass through with their lists sorted and deduplicated,
    exactly what the rule gives a group of one, and keep their input partitioning. Finding
    the repeated numbers shuffles the numbers alone; up to :data:`BROADCAST_KEYS` of them are
    broadcast, so the records are never shuffled for them.
    """
    repeated = rows.groupBy(KEY).count().where(F.col("count") > 1).select(KEY).persist()
    if repeated.count() <= BROADCAST_KEYS:
        repeated = F.broadcast(repeated)  # so the records themselves are not shuffled
    once = rows.join(repeated, KEY, "left_anti")
    several = _merged_groups(rows.join(repeated, KEY, "left_semi"))
    alone = once.select(
        *[
            F.array_sort(F.array_distinct(F.coalesce(c, F.array()))).alias(c)
            if c in _LISTS
            else F.col(c)
            for c in RECORD.fieldNames()
            if c != "content_hash"
        ],
        F.array().cast("array<string>").alias("merged_from"),
        F.lit(1).alias("versions"),
    )
    merged = alone.unionByName(several.select(*alone.columns))
    return merged.withColumn("content_hash", content_hash()).select(
        *PATENTS.fieldNames(), "versions"
    )


def _merged_groups(rows: DataFrame) -> DataFrame:
    """The rule applied to groups of records sharing a number (window over each number)."""
    ranked_by = [
        F.col("abstract").isNotNull().desc(),
        F.coalesce(F.length("abstract"), F.lit(0)).desc(),
        (F.size("ipc_codes") + F.size("cpc_codes")).desc(),
        F.col("source_file").asc(),
        F.col("record_location").asc(),
    ]
    order = Window.partitionBy(KEY).orderBy(*ranked_by)
    group = order.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    scalars = [
        c
        for c in RECORD.fieldNames()
        if c not in _LISTS and c not in (KEY, "content_hash", *_SOURCE)
    ]
    located = F.concat_ws("@", "source_file", "record_location")
    filled = rows.withColumn("_hash", content_hash()).select(
        KEY,
        *_SOURCE,
        *[F.first(c, ignorenulls=True).over(group).alias(c) for c in scalars],
        *[
            F.array_sort(F.array_distinct(F.flatten(F.collect_list(c).over(group)))).alias(c)
            for c in _LISTS
        ],
        *[F.max(c).over(group).alias(f"_max_{c}") for c in _COUNTS],
        F.array_sort(F.collect_list(located).over(group)).alias("_locations"),
        F.size(F.collect_set("_hash").over(group)).alias("versions"),
        F.row_number().over(order).alias("_rank"),
        located.alias("_self"),
    )
    return filled.where(F.col("_rank") == 1).withColumns(
        {
            **{c: F.col(f"_max_{c}") for c in _COUNTS},
            "merged_from": F.array_remove("_locations", F.col("_self")),
        }
    )
