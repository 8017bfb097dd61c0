"""Units → validated rows on executors: every unit becomes a patent row or a quarantine row."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema

from techscreen.ingest.validate import Rules, validate
from techscreen.io.base import Reader
from techscreen.io.records import FILTERED, Reason, RecordError, RecordFiltered
from techscreen.schema import QUARANTINE, RECORD, VALIDATED

log = logging.getLogger(__name__)

_REPLACEMENT = "\ufffd"  # what undecodable bytes become when text is read as UTF-8
# A UTF-16 surrogate (U+D800-U+DFFF) in a unit, or a JSON escape of one (\ud800): without
# either, no text parsed from it can hold a lone surrogate, and the check is skipped. The
# substring tests go first: a regular expression without a literal prefix scans slowly.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]|[\ud800-\udfff]")


def _may_hold_surrogate(payload: str) -> bool:
    """True if ``payload`` holds a surrogate or its JSON escape (not in ASCII without one)."""
    suspect = "\\ud" in payload or "\\uD" in payload or not payload.isascii()
    return suspect and _SURROGATE_ESCAPE.search(payload) is not None


def validate_unit(
    reader: Reader, rules: Rules, payload: str | None, excerpt_chars: int
) -> dict[str, Any]:
    """Parse and validate one unit; return patent fields, or ``reason``/``detail``/``excerpt``.

    A record its source's row filter leaves out gets the reason ``filtered`` and its rule as
    the detail: neither kept nor quarantined, it is counted apart.
    """
    excerpt = (payload or "")[:excerpt_chars]
    raw: dict[str, Any] = {}
    try:
        if payload is None or not payload.strip():
            raise RecordError(Reason.NO_TEXT, "empty record")
        if _REPLACEMENT in payload:
            raise RecordError(Reason.UNDECODABLE, "bytes that are not valid UTF-8")
        raw = reader.parse(payload)
        row = validate(raw, rules)
        return _encodable(row) if _may_hold_surrogate(payload) else row
    except RecordError as exc:
        return _rejected(exc.reason, exc.detail, raw, excerpt)
    except RecordFiltered as exc:
        return {"reason": FILTERED, "detail": exc.rule}
    except Exception as exc:
        log.warning("parser %s failed unexpectedly: %r", reader.name, exc)
        return _rejected(Reason.PARSER_ERROR, f"{type(exc).__name__}: {exc}", raw, excerpt)


def _encodable(row: dict[str, Any]) -> dict[str, Any]:
    """``row``, if every text in it can be written as UTF-8.

    JSON can spell a lone UTF-16 surrogate (an escape of U+D800–U+DFFF); Python decodes it
    into a string no UTF-8 writer accepts, so one such record would fail its whole Spark task.
    """
    for field, value in row.items():
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str):
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    raise RecordError(
                        Reason.UNDECODABLE, f"{field}: a lone surrogate escape (U+D800–U+DFFF)"
                    ) from None
    return row


def _rejected(reason: Reason, detail: str, raw: dict[str, Any], excerpt: str) -> dict[str, Any]:
    number = raw.get("publication_number")
    return {
        "reason": reason.value,
        "detail": detail[:500] or None,
        "excerpt": excerpt,
        "publication_number": str(number) if number else None,
    }


def validated(units: DataFrame, reader: Reader, rules: Rules, excerpt_chars: int) -> DataFrame:
    """Apply :func:`validate_unit` to every unit, on executors (schema :data:`VALIDATED`)."""
    arrow_schema = to_arrow_schema(VALIDATED)
    names = VALIDATED.fieldNames()

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            cols = batch.to_pydict()
            rows = []
            for source_file, location, payload in zip(
                cols["source_file"], cols["record_location"], cols["payload"], strict=True
            ):
                text = None if payload is None else payload.decode("utf-8", errors="replace")
                row = validate_unit(reader, rules, text, excerpt_chars)
                row.update(
                    source_format=reader.name, source_file=source_file, record_location=location
                )
                rows.append({n: row.get(n) for n in names})
            yield pa.RecordBatch.from_pylist(rows, schema=arrow_schema)

    # As bytes: a text source keeps bytes that are not UTF-8 as read (they become U+FFFD here).
    return units.withColumn("payload", F.col("payload").cast("binary")).mapInArrow(run, VALIDATED)


def kept(rows: DataFrame) -> DataFrame:
    """The rows that passed validation, as patent columns (content hash not yet set)."""
    return rows.where(F.col("reason").isNull()).select(*RECORD.fieldNames())


def quarantined(rows: DataFrame) -> DataFrame:
    """The rejected rows, as the quarantine table (filtered rows are not rejected)."""
    return rows.where(F.col("reason") != FILTERED).select(*QUARANTINE.fieldNames())
