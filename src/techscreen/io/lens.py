"""Lens.org patent exports: JSON (Lines or array) and the CSV export.

Two JSON record shapes are read by :class:`LensJsonReader`:

* the flat export shape (``lensId``, ``displayKey``, ``publicationDate``, ``applicants``,
  ``cpcClassifications``, ...), as in the Lens COVID-19 collections;
* the nested shape of the Lens Patent API and its bulk JSONL (``lens_id``, ``doc_number``,
  ``biblio.invention_title[]``, ``biblio.parties.applicants[].extracted_name.value``,
  ``abstract[]``, ...), as documented in ``response-patent.md`` of
  github.com/cambialens/lens-api-doc.

:class:`LensCsvReader` reads the CSV export of the Lens web interface (columns ``#``,
``Jurisdiction``, ``Kind``, ``Display Key``, ``Lens ID``, ..., multi-values joined by
``;;``).
"""

from __future__ import annotations

import json
import logging
import re
import zlib
from collections.abc import Iterable, Iterator, Sequence
from functools import reduce
from typing import Any, ClassVar

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from techscreen.io.base import Reader, line_units, rows_as_units, union_units, with_source_file
from techscreen.io.records import Reason, RecordError, json_object, listed
from techscreen.schema import UNITS

logger = logging.getLogger(__name__)

_JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")
_LENS_JSON_MARKERS = ('"lensId"', '"lens_id"')
# Search-report keys carry the publication date: WO_2009_085025_A3_20091029.
_KEY_DATE = re.compile(r"_\d{8}$")
MULTI_SEPARATOR = ";;"


def _decode_head(head: bytes) -> str:
    if head[:2] == b"\x1f\x8b":
        try:
            # A partial gzip stream inflates as far as it goes: enough to see the first record.
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head)
        except zlib.error:
            return ""
    return head.decode("utf-8", errors="replace").lstrip("\ufeff")


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def _distinct(values: Iterable[str | None]) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        if value:
            seen.setdefault(value, None)
    return list(seen)


def _count(value: Any) -> str | None:
    # Counts stay raw strings like every other scalar; bool is an int in Python, not a count.
    if value is None or isinstance(value, bool):
        return None
    return _text(value)


# --- JSON ---------------------------------------------------------------------------------


class LensJsonReader(Reader):
    """Lens JSON: JSON Lines (the bulk form) or one JSON array document.

    JSON Lines files are cut into one unit per line by Hadoop's splittable text input, so a
    large export is spread across tasks. A JSON array (or an API response object
    ``{"data": [...]}``) is one document: it cannot be split, so each such file is read whole
    by a single task and its elements become the units (located by ``index=<n>``). Array
    files are fine for small exports; use JSON Lines for bulk data. A document that is not
    valid JSON becomes a single unit that :meth:`parse` quarantines as broken JSON.
    """

    name: ClassVar[str] = "lens-json"

    def detect(self, path: str, head: bytes) -> bool:
        """Return True for JSON (Lines or array) whose first bytes look like Lens patents.

        A Lens id field alone is not enough: Lens scholarly-work exports carry ``lens_id``
        too; patent records (both shapes) also carry ``jurisdiction``.
        """
        text = _decode_head(head).lstrip()
        if not text.startswith(("{", "[")):
            return False
        has_id = any(marker in text for marker in _LENS_JSON_MARKERS)
        return has_id and '"jurisdiction"' in text

    def units(self, spark: SparkSession, files: Sequence[str]) -> DataFrame:
        """One unit per JSONL line, or per element of an array document."""
        lines, documents = [], []
        for path in files:
            (documents if _is_document(spark, path) else lines).append(path)
        frames = []
        if lines:
            frames.append(line_units(spark, lines))
        if documents:
            logger.info("reading %d Lens JSON document(s) whole (not splittable)", len(documents))
            frames.append(_document_units(spark, documents))
        return union_units(spark, frames)

    def parse(self, payload: str) -> dict[str, Any]:
        """Parse one Lens record (flat export or nested API shape) into raw fields.

        Raises:
            RecordError: ``BROKEN_JSON`` if the payload is not a JSON object.
        """
        record = json_object(payload)
        if "biblio" in record or "lens_id" in record:
            return _parse_api(record)
        return _parse_flat(record)


def _is_document(spark: SparkSession, path: str) -> bool:
    """Whether ``path`` is one JSON document (array, or pretty-printed object), not JSONL."""
    if path.lower().endswith(_JSONL_SUFFIXES):
        return False
    # The first non-blank line decides; only that line comes to the driver.
    first = spark.read.text(path).where(F.length(F.trim("value")) > 0).head()
    if first is None:
        return False
    line = first[0].lstrip("\ufeff").strip()
    return line.startswith("[") or line == "{"


def _split_document(item: tuple[str, str]) -> Iterator[tuple[str, str, str]]:
    """Turn one whole JSON document into ``(file, location, element JSON)`` units."""
    path, text = item
    try:
        document = json.loads(text)
    except ValueError:
        # Keep the broken document as one unit so that parse() quarantines it with a reason.
        yield path, "document", text
        return
    if isinstance(document, dict) and isinstance(document.get("data"), list):
        document = document["data"]  # Lens API response: {"total": n, "data": [...]}
    elements = document if isinstance(document, list) else [document]
    for index, element in enumerate(elements):
        yield path, f"index={index}", json.dumps(element, ensure_ascii=False)


def _document_units(spark: SparkSession, files: Sequence[str]) -> DataFrame:
    sc = spark.sparkContext
    # Each file separately so that source_file is the path as given, like line_units.
    rdds = [sc.wholeTextFiles(p).map(lambda kv, p=p: (p, kv[1])) for p in files]
    return spark.createDataFrame(sc.union(rdds).flatMap(_split_document), UNITS)


def _publication_key(record: dict[str, Any]) -> str | None:
    display = _text(record.get("displayKey"))
    if display:
        return display
    key = _text(record.get("publicationKey"))
    return _KEY_DATE.sub("", key) if key else None


def _names(values: Any, field: str) -> list[str]:
    """Names from a list of strings or of objects with a ``name``."""
    out = []
    for value in listed(values, field):
        name = _text(value.get("name")) if isinstance(value, dict) else _text(value)
        if name:
            out.append(name)
    return out


def _abstract_text(value: Any) -> str | None:
    if isinstance(value, list):
        text, _ = _pick_language(value)
        return text
    return _text(value)


def _parse_flat(record: dict[str, Any]) -> dict[str, Any]:
    publication = _publication_key(record)
    title = _text(record.get("title"))
    if title and publication and title == publication:
        # Lens shows the display key where a document has no title (e.g. JP 2008500379 A).
        title = None
    return {
        "publication_number": publication,
        "jurisdiction": _text(record.get("jurisdiction")),
        "kind": _text(record.get("kindCode")),
        "application_number": _text(record.get("filingNumber")),
        "title": title,
        "abstract": _abstract_text(record.get("abstract")),
        "publication_date": _text(record.get("publicationDate")),
        "filing_date": _text(record.get("filingDate")),
        "priority_date": _text(record.get("earliestPriorityDate")),
        "applicants": _names(record.get("applicants"), "applicants"),
        # The flat export names applicants without their countries.
        "applicant_countries": [],
        "cpc_codes": _distinct(
            map(_text, listed(record.get("cpcClassifications"), "cpcClassifications"))
        ),
        "ipc_codes": _distinct(
            map(_text, listed(record.get("ipcrClassifications"), "ipcrClassifications"))
        ),
        # The flat export lists only non-patent citations.
        "cited_publications": [],
        "forward_citations": _count(record.get("citedByPatentCount")),
    }


def _get(node: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _pick_language(entries: Sequence[Any]) -> tuple[str | None, str | None]:
    """Return (text, lang) of the English entry of ``[{text, lang}]``, else the first one."""
    usable = [e for e in entries if isinstance(e, dict) and _text(e.get("text"))]
    if not usable:
        return None, None
    chosen = next((e for e in usable if str(e.get("lang", "")).lower() == "en"), usable[0])
    return _text(chosen.get("text")), _text(chosen.get("lang"))


def _document_id(doc: Any) -> str | None:
    """``{jurisdiction, doc_number, kind}`` → ``"EP 10197481 A"``."""
    if not isinstance(doc, dict):
        return None
    parts = [_text(doc.get(k)) for k in ("jurisdiction", "doc_number", "kind")]
    return " ".join(p for p in parts if p) if parts[1] else None


def _symbols(block: Any) -> list[str]:
    classifications = listed(_get(block, "classifications"), "classifications")
    return _distinct(_text(c.get("symbol")) for c in classifications if isinstance(c, dict))


def _parse_api(record: dict[str, Any]) -> dict[str, Any]:
    biblio = record.get("biblio") or {}
    title, title_lang = _pick_language(listed(_get(biblio, "invention_title"), "invention_title"))
    abstract, abstract_lang = _pick_language(listed(record.get("abstract"), "abstract"))
    applicants = [
        a
        for a in listed(_get(biblio, "parties", "applicants"), "applicants")
        if isinstance(a, dict)
    ]
    cited = listed(_get(biblio, "references_cited", "citations"), "citations")
    forward = _get(biblio, "cited_by", "patent_count")
    if forward is None and isinstance(_get(biblio, "cited_by", "patents"), list):
        forward = len(biblio["cited_by"]["patents"])
    application = _get(biblio, "application_reference")
    return {
        # Bare number with office and kind alongside; validation composes the canonical form.
        "publication_number": _text(record.get("doc_number"))
        or _text(_get(biblio, "publication_reference", "doc_number")),
        "jurisdiction": _text(record.get("jurisdiction")),
        "kind": _text(record.get("kind")),
        "application_number": _document_id(application),
        "title": title,
        "abstract": abstract,
        # The language of the text handed on (English when Lens has it), not of the filing.
        "language": abstract_lang or title_lang,
        "publication_date": _text(record.get("date_published"))
        or _text(_get(biblio, "publication_reference", "date")),
        "filing_date": _text(_get(application, "date")),
        "priority_date": _text(_get(biblio, "priority_claims", "earliest_claim", "date")),
        "applicants": [
            n for n in (_text(_get(a, "extracted_name", "value")) for a in applicants) if n
        ],
        "applicant_countries": _distinct(_text(a.get("residence")) for a in applicants),
        "cpc_codes": _symbols(_get(biblio, "classifications_cpc")),
        "ipc_codes": _symbols(_get(biblio, "classifications_ipcr")),
        # Lens lists a citation once per phase (search, examination, ...): keep it once.
        "cited_publications": _distinct(
            _document_id(_get(c, "patcit", "document_id")) for c in cited if isinstance(c, dict)
        ),
        "forward_citations": _count(forward),
    }


# --- CSV ----------------------------------------------------------------------------------

# Raw field -> CSV column names, current name first. Older exports used "Publication Number"
# where newer ones have "Display Key"; matching is case-insensitive.
_CSV_SCALARS: dict[str, tuple[str, ...]] = {
    "publication_number": ("Display Key", "Publication Number"),
    "jurisdiction": ("Jurisdiction",),
    "kind": ("Kind",),
    "application_number": ("Application Number",),
    "title": ("Title",),
    "abstract": ("Abstract",),
    "publication_date": ("Publication Date",),
    "filing_date": ("Application Date",),
    "priority_date": ("Earliest Priority Date",),
    "forward_citations": ("Cited by Patent Count",),
}
_CSV_LISTS: dict[str, tuple[str, ...]] = {
    "applicants": ("Applicants",),
    "cpc_codes": ("CPC Classifications", "CPC Classification"),
    "ipc_codes": ("IPCR Classifications", "IPCR Classification"),
}
LENS_CSV_KEY = "Lens ID"


def split_multi(value: str | None) -> list[str]:
    """Split a Lens multi-value cell (``A;;B``) into its non-empty parts."""
    if not value:
        return []
    return [part.strip() for part in str(value).split(MULTI_SEPARATOR) if part.strip()]


class LensCsvReader(Reader):
    """The Lens.org patent CSV export: one unit per row, keyed by ``Lens ID``."""

    name: ClassVar[str] = "lens-csv"

    def detect(self, path: str, head: bytes) -> bool:
        """Return True if the header row has the Lens export's identifying columns."""
        text = _decode_head(head)
        if not text.strip():
            return False
        header = {c.strip().strip('"').lower() for c in text.splitlines()[0].split(",")}
        return {"lens id", "jurisdiction", "kind"} <= header

    def units(self, spark: SparkSession, files: Sequence[str]) -> DataFrame:
        """Read each export with multi-line quoting (abstracts span lines) as row units."""
        if not files:
            return spark.createDataFrame([], UNITS)
        frames = []
        for path in files:
            frame = spark.read.csv(
                path,
                header=True,
                multiLine=True,
                quote='"',
                escape='"',
                inferSchema=False,
                mode="PERMISSIVE",
                encoding="UTF-8",
            )
            frames.append(with_source_file(frame))
        # Exports differ in their chosen columns, so files are matched by column name.
        frame = reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), frames)
        if LENS_CSV_KEY not in frame.columns:
            raise ValueError(f"Lens CSV input has no {LENS_CSV_KEY!r} column")
        return rows_as_units(frame, LENS_CSV_KEY)

    def parse(self, payload: str) -> dict[str, Any]:
        """Map one export row to raw fields (the export has no applicant countries).

        Raises:
            RecordError: ``BROKEN_ROW`` if the row is not an object or has no values at all.
        """
        row = json_object(payload, Reason.BROKEN_ROW)
        cells = {str(k).lstrip("\ufeff").strip().lower(): v for k, v in row.items()}
        if not any(_text(v) for v in cells.values()):
            raise RecordError(Reason.BROKEN_ROW, "row has no values")

        def cell(names: tuple[str, ...]) -> str | None:
            return next((t for t in (_text(cells.get(n.lower())) for n in names) if t), None)

        out: dict[str, Any] = {field: cell(names) for field, names in _CSV_SCALARS.items()}
        for field, names in _CSV_LISTS.items():
            values = split_multi(cell(names))
            out[field] = values if field == "applicants" else _distinct(values)
        if out["title"] and out["title"] == out["publication_number"]:
            out["title"] = None  # Lens puts the display key where a document has no title
        out["applicant_countries"] = []
        out["cited_publications"] = []
        return out
