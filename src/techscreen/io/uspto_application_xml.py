"""Reader for USPTO weekly pre-grant publication XML ("ipaYYMMDD", ICE DTD v4.0 to v4.6).

A weekly application file is built like a grant file: a plain concatenation of complete XML
documents, each with its own ``<?xml ...?>`` declaration and ``<!DOCTYPE
us-patent-application SYSTEM "...dtd" [ ]>``; a single application split from it (as in
the ``raw_xml_examples`` fixture) is one such document. Units, safety (defusedxml, no
entity declarations, no DTD fetched, named references from the HTML5 table) and the
shared pieces (numbers, classifications, parties) come from
:mod:`techscreen.io.uspto_xml`; only the document's own layout is read here.

Layout (v4.0 2005 to v4.6 2022): the root is ``us-patent-application`` and the
bibliographic data ``us-bibliographic-data-application``. Applicants are
``parties/applicants/applicant`` up to v4.2 (before the AIA these are the inventors) and
``us-parties/us-applicants/us-applicant`` from v4.3 (the applicant is then usually the
owner; inventors are listed apart). Classifications are ``classifications-ipcr`` (v4.0
documents may carry ``classification-ipc`` strings) and, from v4.4, ``classifications-cpc``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any, ClassVar

from pyspark.sql import DataFrame, SparkSession

from techscreen.io.base import Reader, delimited_units
from techscreen.io.uspto_xml import (
    ADDRESS_COUNTRY,
    DELIMITER,
    abstract_text,
    all_text,
    applicant_country,
    applicant_parties,
    cited_publications,
    cpc_codes,
    earliest_priority,
    element_text,
    extract_guarded,
    ipc_codes,
    parse_document,
    party_country,
    party_name,
    priority_claims,
    references,
    unique,
)

_ROOT = "us-patent-application"
_BIBLIO = "us-bibliographic-data-application"
_DOCTYPE = re.compile(rb"<!DOCTYPE\s+us-patent-application\b")


class UsptoApplicationXmlReader(Reader):
    """USPTO pre-grant publication full-text XML, ICE DTD v4.0 (2005) to v4.6.

    Field choices:
        * ``publication_number``: country + doc-number + kind of the publication reference
          (``US20230000001A1``); ``application_number`` country + doc-number
          (``US17364781``).
        * ``applicants``: the assignees, then the applicants, each name once (an
          application's applicant is usually its owner, often also listed as assignee);
          ``applicant_countries`` likewise (assignees' address countries, applicants'
          residence else address countries). This is the rule of the
          ``uspto_applications_jsonl`` mapping, so both forms of one week agree.
        * ``priority_date``: the earliest ``priority-claim`` date; ``priority_countries``
          the claims' countries, in claim order.
        * ``cited_publications``: patent citations where a document lists any (most
          applications list none); ``forward_citations``: not in the format.
    """

    name: ClassVar[str] = "uspto-application-xml"

    def detect(self, path: str, head: bytes) -> bool:
        """Return True if ``head`` starts an application XML file.

        Like the grant reader: text that starts like markup and names the
        ``us-patent-application`` root or DOCTYPE (never ``us-patent-grant``, so the two
        readers cannot both claim a file).
        """
        start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if not start.startswith(b"<"):
            return False
        return b"<us-patent-application" in head or _DOCTYPE.search(head) is not None

    def units(self, spark: SparkSession, files: Sequence[str]) -> DataFrame:
        """Cut each file into one unit per XML document (split at ``<?xml``)."""
        return delimited_units(spark, files, DELIMITER)

    def parse(self, payload: str) -> dict[str, Any]:
        """Parse one application document into a raw record.

        Raises:
            RecordError: ``UNDECODABLE`` (U+FFFD: bytes that were not UTF-8),
                ``FORBIDDEN_XML`` (entity declarations), ``BROKEN_XML`` (not well-formed),
                ``NOT_A_PATENT`` when the root is not ``us-patent-application`` (a
                sequence listing shipped in the same weekly file, or a grant).
        """
        root = parse_document(payload, _ROOT)
        return extract_guarded(_extract, root, "pre-grant application")


def _extract(root: ET.Element) -> dict[str, Any]:
    biblio = root.find(_BIBLIO)
    if biblio is None:
        biblio = ET.Element(_BIBLIO)  # validation then reports the missing number
    assignees = biblio.findall("assignees/assignee")
    applicants = applicant_parties(biblio)
    return {
        **references(root, biblio),
        "title": all_text(biblio.find("invention-title")),
        "abstract": abstract_text(root.find("abstract")),
        "priority_date": earliest_priority(biblio),
        "priority_countries": unique(
            party_country(element_text(c, "country")) for c in priority_claims(biblio)
        ),
        "jurisdiction": "US",
        "ipc_codes": ipc_codes(biblio),
        "cpc_codes": cpc_codes(biblio),
        "applicants": unique(party_name(p) for p in [*assignees, *applicants]),
        "applicant_countries": unique(
            [party_country(element_text(a, ADDRESS_COUNTRY)) for a in assignees]
            + [applicant_country(a) for a in applicants]
        ),
        "cited_publications": cited_publications(biblio),
        "forward_citations": None,
    }
