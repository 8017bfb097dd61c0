"""The contract between format parsers and validation: raw records and rejection reasons."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why a record was quarantined. The values are what the quarantine table stores."""

    NO_PUBLICATION_NUMBER = "no_publication_number"
    BAD_PUBLICATION_NUMBER = "bad_publication_number"
    NO_TEXT = "no_usable_text"
    OVERSIZE_TEXT = "oversize_text"
    BAD_DATE = "bad_date"
    MALFORMED_CODE = "malformed_class_code"
    BAD_COUNTRY = "bad_country"
    BROKEN_XML = "broken_xml"
    FORBIDDEN_XML = "forbidden_xml_construct"
    BROKEN_JSON = "broken_json"
    BROKEN_ROW = "broken_row"
    UNDECODABLE = "undecodable_bytes"
    NOT_A_PATENT = "not_a_patent_document"
    BAD_VALUE = "bad_value"
    PARSER_ERROR = "parser_error"  # an unexpected fault in a parser: a bug, but never a lost record


class RecordError(Exception):
    """Raised by a parser or validator for a record that must be quarantined."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail
