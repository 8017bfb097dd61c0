"""Duplicates by publication number are merged into one patent by a recorded rule.

Rule ``most_complete`` (the only one): records of one publication number are ranked by
(has an abstract, abstract length, number of class codes, source file, record location);
scalar fields come from the best-ranked record that has them, list fields (codes,
applicants, countries, citations, warnings) are the sorted union over all records, and the
forward-citation count is the largest seen. ``merged_from`` lists the other records'
``file@location``, so every merged record stays traceable.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from techscreen.schema import PATENTS, RECORD

MERGE_RULE = "most_complete"
KEY = "publication_number"
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
)
_LISTS = [f.name for f in RECORD.fields if f.dataType.typeName() == "array"]
_SOURCE = ("source_format", "source_file", "record_location")


def content_hash() -> F.Column:
    """SHA-256 of a patent's content fields (not where it came from)."""
    return F.sha2(F.to_json(F.struct(*[F.col(c) for c in CONTENT])), 256)


def merge_duplicates(rows: DataFrame) -> DataFrame:
    """One row per publication number, by the ``most_complete`` rule (see module doc).

    Returns patent columns plus ``merged_from`` and ``versions`` (distinct content hashes
    among the merged records; above 1 means the duplicates disagreed).
    """
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
        F.max("forward_citations").over(group).alias("_max_citations"),
        F.array_sort(F.collect_list(located).over(group)).alias("_locations"),
        F.size(F.collect_set("_hash").over(group)).alias("versions"),
        F.row_number().over(order).alias("_rank"),
        located.alias("_self"),
    )
    merged = (
        filled.where(F.col("_rank") == 1)
        .withColumn("forward_citations", F.col("_max_citations"))
        .withColumn("merged_from", F.array_remove("_locations", F.col("_self")))
    )
    return merged.withColumn("content_hash", content_hash()).select(
        *PATENTS.fieldNames(), "versions"
    )
