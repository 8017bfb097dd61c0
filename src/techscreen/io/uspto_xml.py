"""Reader for USPTO weekly grant full-text XML ("ipgYYMMDD", ICE DTD v4.0 to v4.5).

A weekly file is a plain concatenation of complete XML documents, each starting with its
own ``<?xml ...?>`` declaration and ``<!DOCTYPE us-patent-grant SYSTEM "...dtd" [ ]>``, so
units are cut at ``<?xml`` with Hadoop's splittable text input and every unit is parsed on
its own. Parsing is pure Python on executors and never touches the network or the disk.

Safety (the input is untrusted):
    Documents are parsed with :mod:`defusedxml` over the stdlib expat parser. Any entity
    declaration in an internal DTD subset (general or parameter, internal or external) is
    refused as ``FORBIDDEN_XML``: that covers XXE (``<!ENTITY x SYSTEM "file:///...">``),
    billion laughs and quadratic blow-up, because nothing is ever expanded. The external DTD
    named by the DOCTYPE is never fetched (expat does not load external subsets unless asked
    to, and parameter-entity parsing stays off), so the real
    ``<!DOCTYPE us-patent-grant SYSTEM "us-patent-grant-v42-2006-08-23.dtd" [ ]>`` parses.

Named entities:
    The USPTO DTDs import the ISO 8879 character entity sets, but the real documents (all
    seven sample weeks, 2005-2012) use only numeric character references (``&#x2014;``) and
    the five XML built-ins. Without fetching the DTD a named reference such as ``&mdash;``
    would be undefined, so names are resolved from the HTML5 named-character table of the
    standard library (a superset of the ISO sets' common names); a name that is in neither is
    ``BROKEN_XML``. These are fixed one-character (or two-character) strings, so they cannot
    expand into anything large.

DTD versions:
    v4.0 (2005) has ``classification-ipc`` with fixed-width strings (``"A45F  504"`` is
    subclass, 3-character main group, subgroup: ``A45F 5/04``); v4.1/v4.2 have
    ``classifications-ipcr``; v4.4+ add ``classifications-cpc``. Citations move from
    ``references-cited/citation`` (to v4.2) to ``us-references-cited/us-citation`` (v4.3+),
    and applicants from ``parties/applicants/applicant`` to ``us-parties/us-applicants/
    us-applicant``; both layouts are read.
"""

from __future__ import annotations

import html.entities
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser
from pyspark.sql import DataFrame, SparkSession

from techscreen.io.base import Reader, delimited_units, restore_prefix
from techscreen.io.records import Reason, RecordError

log = logging.getLogger(__name__)

DELIMITER = "<?xml"  # each document of a weekly file starts with its own declaration
_ROOT = "us-patent-grant"
_REPLACEMENT = "\ufffd"
# "<!DOCTYPE us-patent-grant" with any whitespace; the root tag itself is checked separately.
_DOCTYPE = re.compile(rb"<!DOCTYPE\s+us-patent-grant\b")
_EXCERPT = 80

# Named character references resolvable without the DTD (see module docstring). The HTML5
# table keys carry the trailing ";" (some legacy names also appear without it; skip those).
_ENTITIES: dict[str, str] = {
    name[:-1]: value for name, value in html.entities.html5.items() if name.endswith(";")
}

# Placeholders the USPTO writes where a country is not known; they are absence, not a country,
# and passing them on would quarantine the whole patent as BAD_COUNTRY.
_NO_COUNTRY = {"unknown", "omitted", "xx", "--"}

_YYYYMMDD = re.compile(r"^(?!0000)\d{8}$")
_SUBCLASS = re.compile(r"^[A-HY]\d{2}[A-Z]$")
_EDITION_PREFIX = re.compile(r"^\d{1,2}(?=[A-HY]\d{2}[A-Z])")
_SLASHED = re.compile(r"^(?P<sub>[A-HY]\d{2}[A-Z])\s*(?P<main>\d{1,4})\s*/\s*(?P<sg>\d{1,6})$")


class UsptoGrantXmlReader(Reader):
    """USPTO grant full-text XML, ICE DTD v4.0 (2005) to v4.5.

    Field choices:
        * ``publication_number``: country + doc-number + kind of the publication reference,
          as written (``US06836899B1``, ``USD0534463S1``); ``application_number`` likewise
          country + doc-number of the application reference (``US10339710``).
        * ``applicants``: the **assignees** (orgname, else "first-name last-name"), since
          they are the owners; only when a grant has no assignee are the applicants used
          (before v4.3 these are nearly always the inventors).
        * ``applicant_countries``: the assignees' address countries; when no assignee gives
          one, the applicants' residence (else address) countries. ``unknown`` is dropped.
        * ``priority_date``: the earliest ``priority-claim`` date (foreign priority);
          domestic continuity data (``us-related-documents``) is not a priority claim.
        * ``cited_publications``: patent citations only (``patcit``); ``nplcit`` skipped.
        * ``forward_citations``: not in the format, always ``None``.

    All values are raw strings (dates as ``YYYYMMDD``); validation normalises them.
    """

    name: ClassVar[str] = "uspto-grant-xml"

    def detect(self, path: str, head: bytes) -> bool:
        """Return True if ``head`` (decompressed first bytes) starts a grant XML file.

        The text must start like markup (so a JSON or CSV file merely mentioning the name
        is not taken) and name the ``us-patent-grant`` root or DOCTYPE.
        """
        start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if not start.startswith(b"<"):
            return False
        return b"<us-patent-grant" in head or _DOCTYPE.search(head) is not None

    def units(self, spark: SparkSession, files: Sequence[str]) -> DataFrame:
        """Cut each file into one unit per XML document (split at ``<?xml``)."""
        return delimited_units(spark, files, DELIMITER)

    def parse(self, payload: str) -> dict[str, Any]:
        """Parse one grant document into a raw record.

        Raises:
            RecordError: ``UNDECODABLE`` if the text holds U+FFFD (bytes that were not
                UTF-8), ``FORBIDDEN_XML`` for entity declarations, ``BROKEN_XML`` for text
                that is not well-formed XML (truncated, undefined entity, empty unit),
                ``NOT_A_PATENT`` when the root is not ``us-patent-grant`` (e.g. a
                ``sequence-cwu`` sequence listing shipped in the same weekly file).
        """
        root = parse_document(payload, _ROOT)
        return extract_guarded(_extract, root, "grant")


def parse_document(payload: str | None, root_tag: str) -> ET.Element:
    """Parse one unit cut at ``<?xml`` into its root element, checked to be ``root_tag``.

    Raises:
        RecordError: as described for :meth:`UsptoGrantXmlReader.parse`.
    """
    if payload is None or not payload.strip(" \t\r\n\ufeff"):
        raise RecordError(Reason.BROKEN_XML, "empty unit")
    if _REPLACEMENT in payload:
        # Checked before parsing: the record may also be broken, but the root cause that
        # an operator must fix is the encoding of the file.
        at = payload.index(_REPLACEMENT)
        raise RecordError(Reason.UNDECODABLE, f"U+FFFD at character {at}")
    text = restore_prefix(payload, DELIMITER).lstrip(" \t\r\n\ufeff")
    root = parse_xml(text)
    if root.tag != root_tag:
        raise RecordError(Reason.NOT_A_PATENT, f"root element <{root.tag}>")
    return root


def extract_guarded(
    extract: Callable[[ET.Element], dict[str, Any]], root: ET.Element, what: str
) -> dict[str, Any]:
    """Run ``extract(root)``; an unexpected fault quarantines the record instead of the job."""
    try:
        return extract(root)
    except RecordError:
        raise
    except Exception as exc:  # a parser must never crash the job: quarantine instead
        log.warning("unexpected error extracting a %s: %r", what, exc, exc_info=True)
        raise RecordError(Reason.BROKEN_XML, f"{type(exc).__name__}: {exc}") from None


def parse_xml(text: str) -> ET.Element:
    """Parse one XML document with defusedxml: no entity declarations, nothing fetched.

    Raises:
        RecordError: ``FORBIDDEN_XML``, ``BROKEN_XML`` or ``UNDECODABLE``.
    """
    parser = DefusedXMLParser(
        target=ET.TreeBuilder(),
        forbid_dtd=False,  # every real document has a DOCTYPE
        forbid_entities=True,
        forbid_external=True,
    )
    parser.entity.update(_ENTITIES)
    try:
        parser.feed(text)
        return parser.close()
    except DefusedXmlException as exc:
        raise RecordError(Reason.FORBIDDEN_XML, repr(exc)) from None
    except ET.ParseError as exc:
        raise RecordError(Reason.BROKEN_XML, str(exc)) from None
    except UnicodeError as exc:
        # Lone surrogates cannot be encoded for expat: the text was not valid Unicode.
        raise RecordError(Reason.UNDECODABLE, str(exc)[:_EXCERPT]) from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise RecordError(Reason.BROKEN_XML, f"{type(exc).__name__}: {exc}"[:200]) from None


def _extract(root: ET.Element) -> dict[str, Any]:
    biblio = root.find("us-bibliographic-data-grant")
    if biblio is None:
        # Keep going with an empty element: validation then reports the missing number.
        biblio = ET.Element("us-bibliographic-data-grant")
    assignees = biblio.findall("assignees/assignee")
    applicants = applicant_parties(biblio)
    names = unique(party_name(a) for a in assignees)
    if not names:
        names = unique(party_name(a) for a in applicants)
    countries = unique(party_country(element_text(a, ADDRESS_COUNTRY)) for a in assignees)
    if not countries:
        countries = unique(applicant_country(a) for a in applicants)
    return {
        **references(root, biblio),
        "title": all_text(biblio.find("invention-title")),
        "abstract": abstract_text(root.find("abstract")),
        "priority_date": earliest_priority(biblio),
        "jurisdiction": "US",
        "ipc_codes": ipc_codes(biblio),
        "cpc_codes": cpc_codes(biblio),
        "applicants": names,
        "applicant_countries": countries,
        "cited_publications": cited_publications(biblio),
        "forward_citations": None,
    }


# --- pieces shared with the pre-grant application reader ----------------------------------

ADDRESS_COUNTRY = "addressbook/address/country"


def references(root: ET.Element, biblio: ET.Element) -> dict[str, str | None]:
    """Publication and application numbers, kind, dates and language, as written.

    The publication number is country + doc-number + kind (``US06836899B1``), the
    application number country + doc-number (``US10339710``); dates are ``YYYYMMDD``.
    """
    pub = biblio.find("publication-reference/document-id")
    app = biblio.find("application-reference/document-id")
    pub_number = element_text(pub, "doc-number")
    kind = element_text(pub, "kind")
    app_number = element_text(app, "doc-number")
    return {
        "publication_number": join_parts(element_text(pub, "country"), pub_number, kind)
        if pub_number
        else None,
        "kind": kind,
        "application_number": join_parts(element_text(app, "country"), app_number)
        if app_number
        else None,
        "filing_date": element_text(app, "date"),
        "publication_date": element_text(pub, "date") or root.get("date-publ"),
        # The document's own lang="EN": a declared language is not guessed again.
        "language": (root.get("lang") or "").lower() or None,
    }


def applicant_parties(biblio: ET.Element) -> list[ET.Element]:
    """The applicant elements of both layouts.

    v4.0-v4.2: ``parties/applicants/applicant``; v4.3+: ``us-parties/us-applicants/
    us-applicant``.
    """
    return biblio.findall("parties/applicants/applicant") + biblio.findall(
        "us-parties/us-applicants/us-applicant"
    )


def applicant_country(applicant: ET.Element) -> str | None:
    """An applicant's residence country, else its address country (placeholders dropped)."""
    return party_country(
        element_text(applicant, "residence/country") or element_text(applicant, ADDRESS_COUNTRY)
    )


def priority_claims(biblio: ET.Element) -> list[ET.Element]:
    """The ``priority-claims/priority-claim`` elements (foreign priority)."""
    return biblio.findall("priority-claims/priority-claim")


def earliest_priority(biblio: ET.Element) -> str | None:
    """The earliest priority-claim date (``YYYYMMDD``), or None without a claim.

    YYYYMMDD strings sort as dates; a malformed one is passed on only when it is the sole
    claim (validation then flags it), so one odd claim cannot hide the real earliest date.
    """
    claimed = [d for d in (element_text(p, "date") for p in priority_claims(biblio)) if d]
    well_formed = sorted(d for d in claimed if _YYYYMMDD.match(d))
    return well_formed[0] if well_formed else (claimed[0] if claimed else None)


def cpc_codes(biblio: ET.Element) -> list[str]:
    """CPC symbols, the main one first (v4.4+ ``classifications-cpc``)."""
    return unique(
        structured_code(c)
        for c in biblio.findall("classifications-cpc/main-cpc/classification-cpc")
        + biblio.findall("classifications-cpc/further-cpc/classification-cpc")
    )


def cited_publications(biblio: ET.Element) -> list[str]:
    """Cited patents (``patcit`` only; ``nplcit`` skipped), as written.

    Up to v4.2 citations are references-cited/citation, from v4.3 us-references-cited/
    us-citation; a document never has both, reading both costs nothing.
    """
    cited = [
        citation_number(d)
        for d in biblio.findall("references-cited/citation/patcit/document-id")
        + biblio.findall("us-references-cited/us-citation/patcit/document-id")
    ]
    return [c for c in cited if c]


def element_text(element: ET.Element | None, path: str) -> str | None:
    """Return the stripped text of the first ``path`` under ``element`` (None if absent/blank)."""
    if element is None:
        return None
    found = element.find(path)
    if found is None:
        return None
    value = "".join(found.itertext()).strip()
    return value or None


def all_text(element: ET.Element | None) -> str | None:
    """All text under ``element``, whitespace collapsed (None if absent or blank)."""
    # Inline markup (<sub>, <i>) is part of a word ("H<sub>2</sub>O"), so pieces join bare.
    if element is None:
        return None
    value = " ".join("".join(element.itertext()).split())
    return value or None


def abstract_text(element: ET.Element | None) -> str | None:
    """Text of ``<abstract>``: its paragraphs joined with a space, whitespace collapsed."""
    if element is None:
        return None
    paragraphs = element.findall("p")
    if not paragraphs:
        return all_text(element)
    value = " ".join(t for t in (all_text(p) for p in paragraphs) if t)
    return value or None


def join_parts(*parts: str | None) -> str:
    """Concatenate the parts that are present (``US`` + ``06836899`` + ``B1``)."""
    return "".join(p for p in parts if p)


def citation_number(doc: ET.Element) -> str | None:
    """Country + doc-number + kind of a cited patent, as written.

    Foreign doc-numbers often repeat the office already (``<country>WO</country>
    <doc-number>WO 9839984</doc-number>``); the country is then not prefixed a second time.
    """
    country, number, kind = (
        element_text(doc, "country"),
        element_text(doc, "doc-number"),
        element_text(doc, "kind"),
    )
    if not number:
        return None
    if country and number.upper().startswith(country.upper()):
        country = None
    return join_parts(country, number, kind)


def unique(values: Iterable[str | None]) -> list[str]:
    """The non-empty values, first occurrences, in order."""
    return list(dict.fromkeys(v for v in values if v))


def party_name(party: ET.Element) -> str | None:
    """A party's organisation name, else "first-name last-name"."""
    book = party.find("addressbook")
    if book is None:
        return None
    org = element_text(book, "orgname")
    if org:
        return org
    person = " ".join(
        p for p in (element_text(book, "first-name"), element_text(book, "last-name")) if p
    )
    return person or None


def party_country(value: str | None) -> str | None:
    """A country as written, or None for the USPTO's placeholders (``unknown``, ``omitted``)."""
    if value is None or value.strip().lower() in _NO_COUNTRY:
        return None
    return value


def ipc_codes(biblio: ET.Element) -> list[str]:
    """IPC symbols: ``classifications-ipcr`` and the v4.0 ``classification-ipc`` strings."""
    codes = [structured_code(c) for c in biblio.findall("classifications-ipcr/classification-ipcr")]
    # v4.0 (and the odd later document) carries the pre-reform IPC as fixed-width strings.
    for ipc in biblio.findall("classification-ipc"):
        for tag in ("main-classification", "further-classification"):
            codes.extend(_legacy_ipc(e.text) for e in ipc.findall(tag))
    return unique(codes)


def structured_code(element: ET.Element) -> str | None:
    """``H01L 21/67`` from an ipcr/cpc element's section, class, subclass, groups."""
    head = join_parts(
        element_text(element, "section"),
        element_text(element, "class"),
        element_text(element, "subclass"),
    )
    if not head:
        return None
    main, sub = element_text(element, "main-group"), element_text(element, "subgroup")
    if main and sub:
        return f"{head} {main}/{sub}"
    # Incomplete symbols are passed on as they are: validation decides whether they are usable.
    return f"{head} {main}" if main else head


def _legacy_ipc(raw: str | None) -> str | None:
    """Convert a v4.0 ``classification-ipc`` string to ``A45F 5/04`` form.

    The USPTO writes the subclass (4 characters), the main group right-aligned in 3
    characters and then the subgroup: ``"A45F  504"`` → ``A45F 5/04``, ``"C07C24900"`` →
    ``C07C 249/00``, ``"H01L 21302"`` → ``H01L 21/302``. A leading edition number
    (``"7H01L 21/67"``) and slashed forms are accepted too. Anything else is returned
    stripped, unchanged, so that validation flags it rather than it vanishing here.
    """
    if raw is None or not raw.strip():
        return None
    text = _EDITION_PREFIX.sub("", raw.strip())
    slashed = _SLASHED.match(text)
    if slashed:
        return f"{slashed['sub']} {int(slashed['main'])}/{slashed['sg']}"
    sub, main, group = text[:4], text[4:7].strip(), text[7:].strip()
    if _SUBCLASS.match(sub) and (not main or main.isdigit()) and (not group or group.isdigit()):
        if not main:
            return sub if not group else raw.strip()
        return f"{sub} {int(main)}/{group}" if group else f"{sub} {int(main)}"
    return raw.strip()
