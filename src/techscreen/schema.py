"""Canonical table schemas and column names: the one place they are defined.

Every stage reads and writes the tables declared here. Readers produce :data:`RAW_FIELDS`
dictionaries; validation turns them into rows of :data:`PATENTS`; rejected records become
rows of :data:`QUARANTINE`.
"""

from __future__ import annotations

from pyspark.sql import types as T

# Fields a format parser may fill in (all optional; strings are raw, unnormalised values).
# List-valued fields hold lists of raw strings.
RAW_SCALARS = (
    "publication_number",
    "kind",
    "application_number",
    "family_id",
    "title",
    "abstract",
    "language",
    "priority_date",
    "filing_date",
    "publication_date",
    "filing_year",
    "jurisdiction",
    "forward_citations",
)
RAW_LISTS = (
    "ipc_codes",
    "cpc_codes",
    "applicants",
    "applicant_countries",
    "cited_publications",
)
RAW_FIELDS = RAW_SCALARS + RAW_LISTS

_STR = T.StringType()
_STRS = T.ArrayType(T.StringType(), containsNull=False)

# One validated record, before duplicates are merged.
RECORD = T.StructType(
    [
        T.StructField("publication_number", _STR, False),
        T.StructField("application_number", _STR, True),
        T.StructField("family_id", _STR, True),
        T.StructField("title", _STR, True),
        T.StructField("abstract", _STR, True),
        T.StructField("language", _STR, True),
        T.StructField("ipc_codes", _STRS, False),
        T.StructField("cpc_codes", _STRS, False),
        T.StructField("priority_date", T.DateType(), True),
        T.StructField("filing_date", T.DateType(), True),
        T.StructField("publication_date", T.DateType(), True),
        T.StructField("filing_year", T.IntegerType(), True),
        T.StructField("applicants", _STRS, False),
        T.StructField("applicant_countries", _STRS, False),
        T.StructField("jurisdiction", _STR, True),
        T.StructField("cited_publications", _STRS, False),
        T.StructField("forward_citations", T.IntegerType(), True),
        T.StructField("source_format", _STR, False),
        T.StructField("source_file", _STR, False),
        T.StructField("record_location", _STR, False),
        T.StructField("warnings", _STRS, False),
        T.StructField("content_hash", _STR, False),
    ]
)

# The patents table: one row per publication number; merged_from holds the file@location
# of every other record merged into it.
PATENTS = T.StructType([*RECORD.fields, T.StructField("merged_from", _STRS, False)])

QUARANTINE = T.StructType(
    [
        T.StructField("source_format", _STR, False),
        T.StructField("source_file", _STR, False),
        T.StructField("record_location", _STR, False),
        T.StructField("reason", _STR, False),
        T.StructField("detail", _STR, True),
        T.StructField("publication_number", _STR, True),
        T.StructField("excerpt", _STR, True),
    ]
)

# Output of the combined parse + validate pass: a patent row, or a quarantine reason.
VALIDATED = T.StructType(
    [
        *RECORD.fields,
        T.StructField("reason", _STR, True),
        T.StructField("detail", _STR, True),
        T.StructField("excerpt", _STR, True),
    ]
)
# In VALIDATED every patent column must be nullable: a quarantined row has no publication number.
VALIDATED = T.StructType([T.StructField(f.name, f.dataType, True) for f in VALIDATED.fields])

PATENT_DOMAINS = T.StructType(
    [
        T.StructField("publication_number", _STR, False),
        T.StructField("domain", _STR, False),
        T.StructField("matched_codes", _STRS, False),
    ]
)

# One unit of raw input handed to a parser: a document, a line, or a row.
UNITS = T.StructType(
    [
        T.StructField("source_file", _STR, False),
        T.StructField("record_location", _STR, False),
        T.StructField("payload", _STR, True),
    ]
)

UNASSIGNED_DOMAIN = "unassigned"
