"""PatentsView bulk tables (granted US patents), joined per patent in Spark.

PatentsView publishes one table per file (``g_patent``, ``g_patent_abstract``,
``g_cpc_current``, ...), keyed by ``patent_id``. This reader accepts the downloaded form
(tab-separated, header row, every field in double quotes, after unzipping the ``.tsv.zip``)
and comma-separated extracts with the same column names (e.g. ``nvidia_patent.csv``).

A file's table is recognised from its header columns, never from its name, because extracts
are renamed freely. Supported tables (all optional except ``g_patent``):

============================  ===============================================================
table                         columns used
============================  ===============================================================
g_patent                      patent_id, patent_type, patent_date, patent_title, wipo_kind
                              (older releases also carry patent_abstract)
g_patent_abstract             patent_id, patent_abstract
g_cpc_current                 patent_id, cpc_sequence, cpc_group (``G06F21/10``)
g_ipc_at_issue                patent_id, ipc_sequence, section, ipc_class, subclass,
                              main_group, subgroup
g_assignee_disambiguated      patent_id, assignee_sequence, disambig_assignee_organization,
                              disambig_assignee_individual_name_first/_last, location_id
g_location_disambiguated      location_id, disambig_country (joined to assignees)
g_us_patent_citation          patent_id, citation_sequence, citation_patent_id
g_application                 patent_id, application_id, filing_date
g_inventor_disambiguated      recognised, then skipped (no raw field takes inventors)
============================  ===============================================================

:meth:`PatentsViewReader.units` joins the tables on ``patent_id`` and emits one unit per
``g_patent`` row; the payload is the joined row as JSON, with the child tables aggregated
into arrays ordered by their sequence columns so the output is deterministic.
"""

from __future__ import annotations

import csv
import logging
import zlib
from collections import defaultdict
from collections.abc import Sequence
from functools import reduce
from typing import Any, ClassVar

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from techscreen.io.base import Reader, rows_as_units, with_source_file
from techscreen.io.records import Reason, json_object, listed
from techscreen.schema import UNITS

logger = logging.getLogger(__name__)

# Column sets that identify each table; checked in order, first match wins. g_patent comes
# first because its older releases also carry patent_abstract; the citation table also has a
# wipo_kind column, so g_patent is identified by patent_title/patent_date, not by wipo_kind.
TABLE_SIGNATURES: tuple[tuple[str, frozenset[str]], ...] = (
    ("patent", frozenset({"patent_id", "patent_date", "patent_title"})),
    ("abstract", frozenset({"patent_id", "patent_abstract"})),
    ("cpc", frozenset({"patent_id", "cpc_group"})),
    ("ipc", frozenset({"patent_id", "section", "ipc_class", "subclass", "main_group"})),
    ("assignee", frozenset({"patent_id", "disambig_assignee_organization"})),
    ("location", frozenset({"location_id", "disambig_country"})),
    ("citation", frozenset({"patent_id", "citation_patent_id"})),
    ("application", frozenset({"patent_id", "application_id", "filing_date"})),
    # Recognised so that a folder of PatentsView tables ingests without an unknown-format
    # error, but nothing in them maps to a raw field: units() skips them.
    ("inventor", frozenset({"patent_id", "inventor_id", "inventor_sequence"})),
)
_UNUSED_TABLES = frozenset({"inventor"})

# Tables with free text (titles, abstracts, organisation names) may hold quoted newlines and
# need multiLine parsing; that makes each file one task. The code tables (CPC, IPC,
# citations, locations, applications) are by far the largest and hold only ids, codes and
# dates, so they are read line by line, which Spark splits across tasks.
_MULTILINE_TABLES = frozenset({"patent", "abstract", "assignee"})

_PATENT_COLUMNS = ("patent_id", "patent_type", "patent_date", "patent_title", "wipo_kind")
_LAST = 2**31 - 1  # sort key for rows without a sequence number: after every numbered row


def decode_head(head: bytes) -> str:
    """Return the first bytes of a file as text, inflating a gzip stream and dropping a BOM."""
    if head[:2] == b"\x1f\x8b":
        try:
            # A partial gzip stream inflates as far as it goes: enough for a header line.
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head)
        except zlib.error:
            return ""
    return head.decode("utf-8", errors="replace").lstrip("\ufeff")


def header_columns(first_line: str) -> tuple[str, list[str]]:
    """Split a header line into ``(delimiter, lower-cased column names)``.

    The downloaded TSVs quote every header field, so the line is split with the csv module
    rather than on the bare delimiter.
    """
    line = first_line.lstrip("\ufeff").rstrip("\r\n")
    delimiter = "\t" if "\t" in line else ","
    fields = next(csv.reader([line], delimiter=delimiter, quotechar='"'), [])
    return delimiter, [f.strip().lower() for f in fields]


def table_kind(columns: Sequence[str]) -> str | None:
    """Return which PatentsView table has these header columns, or None."""
    names = {c.strip().lstrip("\ufeff").lower() for c in columns}
    for kind, required in TABLE_SIGNATURES:
        if required <= names:
            return kind
    return None


class PatentsViewReader(Reader):
    """Reads PatentsView ``g_*`` tables (TSV download or CSV extract) as one unit per patent."""

    name: ClassVar[str] = "patentsview"

    def detect(self, path: str, head: bytes) -> bool:
        """Return True if the file's header row is that of a supported PatentsView table."""
        text = decode_head(head)
        if not text.strip():
            return False
        _, columns = header_columns(text.splitlines()[0])
        return table_kind(columns) is not None

    def units(self, spark: SparkSession, files: Sequence[str]) -> DataFrame:
        """Join the tables in ``files`` per patent; one unit per ``g_patent`` row.

        Files that are not a supported table are skipped with a warning. Patents without
        rows in a child table still produce a unit (left joins).

        Raises:
            ValueError: if none of the files is a ``g_patent`` table, since nothing can be
                emitted without it.
        """
        if not files:
            return spark.createDataFrame([], UNITS)
        tables: dict[str, list[DataFrame]] = defaultdict(list)
        for path in files:
            kind, frame = _read_table(spark, path)
            if kind in _UNUSED_TABLES:
                logger.info("skipping %s: PatentsView table %s maps to no raw field", path, kind)
                continue
            if kind is None or frame is None:
                logger.warning("skipping %s: header is not a supported PatentsView table", path)
                continue
            logger.info("reading %s as PatentsView table %s", path, kind)
            tables[kind].append(frame)
        if not tables["patent"]:
            raise ValueError(
                "PatentsView input has no g_patent table (patent_id, patent_date, "
                f"patent_title columns) among {len(files)} file(s)"
            )
        return rows_as_units(_join(tables), "patent_id")

    def parse(self, payload: str) -> dict[str, Any]:
        """Map one joined patent row to raw fields.

        The publication number is ``US`` + ``patent_id`` (``US10001996``, ``USD515086``,
        ``USRE39501``): with the office written in, reissue and plant prefixes (``RE``,
        ``PP``) cannot be mistaken for an office code.
        """
        row = json_object(payload, Reason.BROKEN_ROW)
        patent_id = _text(row.get("patent_id"))
        assignees = [a for a in listed(row.get("assignees"), "assignees") if isinstance(a, dict)]
        return {
            "publication_number": f"US{patent_id}" if patent_id else None,
            "jurisdiction": "US",
            "kind": _text(row.get("wipo_kind")),
            "title": _text(row.get("patent_title")),
            "abstract": _text(row.get("patent_abstract")),
            "publication_date": _text(row.get("patent_date")),
            "filing_date": _text(row.get("filing_date")),
            "application_number": _text(row.get("application_id")),
            "cpc_codes": [c for c in map(_text, listed(row.get("cpc_codes"), "cpc_codes")) if c],
            "ipc_codes": [
                c
                for c in map(
                    ipc_symbol, (p for p in listed(row.get("ipc"), "ipc") if isinstance(p, dict))
                )
                if c
            ],
            "applicants": [a for a in map(_assignee_name, assignees) if a],
            "applicant_countries": _distinct(_text(a.get("country")) for a in assignees),
            "cited_publications": [
                f"US{c}"
                for c in map(_text, listed(row.get("cited_patent_ids"), "cited_patent_ids"))
                if c
            ],
            # Forward citations would need the whole citation table, not a subset of it.
            "forward_citations": None,
        }


def ipc_symbol(parts: dict[str, Any]) -> str | None:
    """Build ``G06F 21/10`` from the split columns of ``g_ipc_at_issue``.

    PatentsView stores the section (``G``), the two-digit class (``06``), the subclass
    letter (``F``), the main group and the subgroup in separate columns. Rows where the
    class or subclass already carries the higher levels (``G06``, ``G06F``) are accepted
    too. Returns None when no subclass can be built; validation checks the result.
    """
    section = _text(parts.get("section")) or ""
    klass = _text(parts.get("ipc_class")) or ""
    sub = _text(parts.get("subclass")) or ""
    if len(sub) == 4:
        head = sub
    elif len(klass) == 3 and klass[0].isalpha():
        head = klass + sub
    elif section and klass and sub:
        head = section + klass.zfill(2) + sub
    else:
        return None
    main = _text(parts.get("main_group"))
    if not main:
        return head.upper()
    subgroup = _text(parts.get("subgroup")) or "00"
    return f"{head.upper()} {main}/{subgroup}"


def _assignee_name(assignee: dict[str, Any]) -> str | None:
    organization = _text(assignee.get("organization"))
    if organization:
        return organization
    person = " ".join(
        p for p in (_text(assignee.get("name_first")), _text(assignee.get("name_last"))) if p
    )
    return person or None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _distinct(values: Any) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        if value:
            seen.setdefault(value, None)
    return list(seen)


# --- Spark side ---------------------------------------------------------------------------


def _read_table(spark: SparkSession, path: str) -> tuple[str | None, DataFrame | None]:
    """Recognise ``path``'s table from its header line and read it with string columns."""
    # One header line per file goes to the driver: the table kind and delimiter decide how
    # the file is read, and a file's first line is the only way to learn them.
    first = spark.read.text(path).head()
    if first is None or not first[0]:
        return None, None
    delimiter, columns = header_columns(first[0])
    kind = table_kind(columns)
    if kind is None or kind in _UNUSED_TABLES:
        return kind, None
    frame = spark.read.csv(
        path,
        sep=delimiter,
        header=True,
        quote='"',
        escape='"',
        multiLine=kind in _MULTILINE_TABLES,
        inferSchema=False,
        mode="PERMISSIVE",
        encoding="UTF-8",
    )
    if kind == "patent":
        frame = with_source_file(frame)
    # Header names may carry a BOM or stray case; the joins below use the canonical names.
    for column in frame.columns:
        canonical = column.lstrip("\ufeff").strip().lower()
        if canonical != column:
            frame = frame.withColumnRenamed(column, canonical)
    return kind, frame


def _pick(frame: DataFrame, names: Sequence[str]) -> DataFrame:
    """Select ``names``, as null strings where a file lacks them, so files union by position."""
    return frame.select(
        [F.col(n) if n in frame.columns else F.lit(None).cast("string").alias(n) for n in names]
    )


def _union(frames: Sequence[DataFrame], names: Sequence[str]) -> DataFrame:
    return reduce(DataFrame.unionAll, [_pick(f, names) for f in frames])


def _seq(column: str) -> Column:
    return F.coalesce(F.col(column).cast("int"), F.lit(_LAST))


def _ordered(sort_key: Column, *fields: Column) -> Column:
    """collect_list of structs sorted by (sequence, fields...): deterministic order."""
    return F.array_sort(F.collect_list(F.struct(sort_key.alias("seq"), *fields)))


def _join(tables: dict[str, list[DataFrame]]) -> DataFrame:
    patents = _union(tables["patent"], (*_PATENT_COLUMNS, "patent_abstract", "source_file"))
    patents = patents.withColumnRenamed("patent_abstract", "inline_abstract")

    if tables["abstract"]:
        abstracts = (
            _union(tables["abstract"], ("patent_id", "patent_abstract"))
            .where(F.col("patent_abstract").isNotNull())
            .groupBy("patent_id")
            .agg(F.max("patent_abstract").alias("table_abstract"))
        )
        patents = patents.join(abstracts, "patent_id", "left")
    else:
        patents = patents.withColumn("table_abstract", F.lit(None).cast("string"))
    patents = patents.withColumn(
        "patent_abstract", F.coalesce("table_abstract", "inline_abstract")
    ).drop("table_abstract", "inline_abstract")

    if tables["cpc"]:
        cpc = (
            _union(tables["cpc"], ("patent_id", "cpc_sequence", "cpc_group"))
            .where(F.col("cpc_group").isNotNull())
            .groupBy("patent_id")
            .agg(_ordered(_seq("cpc_sequence"), F.col("cpc_group").alias("code")).alias("c"))
            .select(
                "patent_id",
                F.array_distinct(F.transform("c", lambda x: x["code"])).alias("cpc_codes"),
            )
        )
        patents = patents.join(cpc, "patent_id", "left")

    if tables["ipc"]:
        parts = ("section", "ipc_class", "subclass", "main_group", "subgroup")
        ipc = (
            _union(tables["ipc"], ("patent_id", "ipc_sequence", *parts))
            .groupBy("patent_id")
            .agg(_ordered(_seq("ipc_sequence"), *[F.col(p) for p in parts]).alias("ipc"))
        )
        patents = patents.join(ipc, "patent_id", "left")

    if tables["assignee"]:
        assignees = _union(
            tables["assignee"],
            (
                "patent_id",
                "assignee_sequence",
                "disambig_assignee_organization",
                "disambig_assignee_individual_name_first",
                "disambig_assignee_individual_name_last",
                "location_id",
            ),
        )
        if tables["location"]:
            # One country per location id, so the join cannot multiply assignee rows.
            locations = (
                _union(tables["location"], ("location_id", "disambig_country"))
                .groupBy("location_id")
                .agg(F.max("disambig_country").alias("country"))
            )
            assignees = assignees.join(locations, "location_id", "left")
        else:
            assignees = assignees.withColumn("country", F.lit(None).cast("string"))
        grouped = assignees.groupBy("patent_id").agg(
            _ordered(
                _seq("assignee_sequence"),
                F.col("disambig_assignee_organization").alias("organization"),
                F.col("disambig_assignee_individual_name_first").alias("name_first"),
                F.col("disambig_assignee_individual_name_last").alias("name_last"),
                F.col("country"),
            ).alias("assignees")
        )
        patents = patents.join(grouped, "patent_id", "left")

    if tables["citation"]:
        cited = (
            _union(tables["citation"], ("patent_id", "citation_sequence", "citation_patent_id"))
            .where(F.col("citation_patent_id").isNotNull())
            .groupBy("patent_id")
            .agg(
                _ordered(_seq("citation_sequence"), F.col("citation_patent_id").alias("id")).alias(
                    "c"
                )
            )
            .select(
                "patent_id",
                F.array_distinct(F.transform("c", lambda x: x["id"])).alias("cited_patent_ids"),
            )
        )
        patents = patents.join(cited, "patent_id", "left")

    if tables["application"]:
        # min over (date, id) keeps the date and the number of the same application row.
        first = (
            _union(tables["application"], ("patent_id", "application_id", "filing_date"))
            .groupBy("patent_id")
            .agg(F.min(F.struct("filing_date", "application_id")).alias("a"))
            .select("patent_id", F.col("a.filing_date"), F.col("a.application_id"))
        )
        patents = patents.join(first, "patent_id", "left")

    return patents
