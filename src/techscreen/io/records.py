"""The contract between format parsers and validation: raw records and rejection reasons."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any


class Reason(StrEnum):
    """Why a record was quarantined. The values are what the quarantine table stores."""

    NO_PUBLICATION_NUMBER = "no_publication_number"
    BAD_PUBLICATION_NUMBER = "bad_publication_number"
    NO_TEXT = "no_usable_text"
    OVERSIZE_TEXT = "oversize_text"
    BAD_DATE = "bad_date"
    MALFORMED_CODE = "malformed_class_code"
    MALFORMED_LIST = "malformed_list"  # a mapping's list_literals cell that is no list literal
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


# The outcome of a record a mapping's ``where`` leaves out: counted, not quarantined.
FILTERED = "filtered"


class RecordFiltered(Exception):
    """Raised by a parser for a record its source's row filter leaves out (not a fault)."""

    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule


def listed(value: Any, field: str) -> list[Any]:
    """A parsed field that should hold a list: a list as is, absent as [], one string as [it].

    Raises:
        RecordError: ``bad_value`` for anything else (a number, a boolean, an object), so a
            record whose structure is wrong is quarantined with the field's name.
    """
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        return [value]
    raise RecordError(Reason.BAD_VALUE, f"{field}: expected a list, got {type(value).__name__}")


def json_object(payload: str, reason: Reason = Reason.BROKEN_JSON) -> dict[str, Any]:
    """``payload`` parsed as a JSON object.

    Raises:
        RecordError: ``reason`` if it is not JSON, or is JSON but not an object.
    """
    try:
        value = json.loads(payload)
    except (TypeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise RecordError(reason, f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise RecordError(reason, f"expected a JSON object, got {type(value).__name__}")
    return value
