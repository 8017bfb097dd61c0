"""Validation of one raw record into a canonical patent row (pure Python, runs on executors)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from techscreen import normalize
from techscreen.ingest.language import detect_language
from techscreen.io.records import Reason, RecordError


@dataclass(frozen=True)
class Rules:
    """The validation settings that matter on executors (small and picklable)."""

    max_text_chars: int
    malformed_code_policy: str  # "drop" (unless no valid code is left) or "quarantine"


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    return [str(v) for v in value if v is not None and str(v).strip()]


def _codes(raw: Iterable[str], bad: dict[str, str]) -> list[str]:
    """The valid codes of ``raw``, normalised; each malformed one goes into ``bad`` (→ why)."""
    out: set[str] = set()
    for code in raw:
        try:
            out.add(normalize.class_code(code))
        except ValueError as exc:
            bad.setdefault(code.strip(), str(exc))
    return sorted(out)


def _judge_codes(bad: dict[str, str], valid: int, rules: Rules, warnings: list[str]) -> None:
    """Drop the malformed codes (named in ``warnings``), or quarantine the record.

    Policy ``drop`` keeps a record that has at least one valid code besides its malformed
    ones: losing a whole patent to one typo (``G02B/``) costs more than losing the typo. A
    record left with no valid code is quarantined under either policy, as is any record with
    a malformed code under ``quarantine``.
    """
    if not bad:
        return
    if rules.malformed_code_policy == "quarantine" or valid == 0:
        raise RecordError(Reason.MALFORMED_CODE, next(iter(bad.values())))
    warnings.extend(f"dropped_code:{code}" for code in bad)


def _date(raw: Any, field: str) -> dt.date | None:
    try:
        return normalize.parse_date(raw)
    except ValueError as exc:
        raise RecordError(Reason.BAD_DATE, f"{field}: {exc}") from None


def _text(raw: Any, field: str, rules: Rules) -> str | None:
    text = normalize.clean_text(raw)
    if text is not None and len(text) > rules.max_text_chars:
        raise RecordError(
            Reason.OVERSIZE_TEXT,
            f"{field} has {len(text)} characters (limit {rules.max_text_chars})",
        )
    return text


_INT_MAX = 2**31 - 1


def _int(raw: Any, field: str) -> int | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        value = int(float(raw))
    except (TypeError, ValueError, OverflowError):  # OverflowError: "1e999" is infinite
        raise RecordError(Reason.BAD_VALUE, f"{field}: not an integer {str(raw)[:40]!r}") from None
    if value < 0:
        raise RecordError(Reason.BAD_VALUE, f"{field}: negative {value}")
    if value > _INT_MAX:  # the tables store 32-bit integers
        raise RecordError(Reason.BAD_VALUE, f"{field}: {str(value)[:40]} is implausibly large")
    return value


def _countries(raw: Iterable[str]) -> list[str]:
    out: list[str] = []
    for value in raw:
        try:
            code = normalize.country(value)
        except ValueError as exc:
            raise RecordError(Reason.BAD_COUNTRY, str(exc)) from None
        if code and code not in out:
            out.append(code)
    return out


def validate(raw: Mapping[str, Any], rules: Rules) -> dict[str, Any]:
    """Normalise a raw record into the canonical patent fields, or raise ``RecordError``.

    The content hash and the source columns are added by the caller. Order of checks: the
    publication number first (without it nothing can be merged or traced), then text, then
    dates and codes, so the reason names the most fundamental fault.
    """
    warnings: list[str] = []
    jurisdiction = normalize.clean_text(raw.get("jurisdiction"))
    number = raw.get("publication_number")
    if number is None or not str(number).strip():
        raise RecordError(Reason.NO_PUBLICATION_NUMBER)
    try:
        pubnum = normalize.publication_number(
            str(number), country=jurisdiction, kind=normalize.clean_text(raw.get("kind"))
        )
    except ValueError as exc:
        raise RecordError(Reason.BAD_PUBLICATION_NUMBER, str(exc)) from None

    title, abstract, title_en, abstract_en = _texts(raw, rules, warnings)

    dates = {f: _date(raw.get(f), f) for f in ("priority_date", "filing_date", "publication_date")}
    filing_year = _int(raw.get("filing_year"), "filing_year")
    if dates["filing_date"] is not None:
        filing_year = dates["filing_date"].year
    if (
        filing_year is not None
        and not normalize.EARLIEST_YEAR <= filing_year <= dt.date.today().year + 1
    ):
        raise RecordError(Reason.BAD_DATE, f"filing_year {filing_year} out of range")

    language = normalize.clean_text(raw.get("language"))
    bad: dict[str, str] = {}
    ipc_codes = _codes(_as_list(raw.get("ipc_codes")), bad)
    main_ipc = _codes(_as_list(raw.get("main_ipc")), bad)
    cpc_codes = _codes(_as_list(raw.get("cpc_codes")), bad)
    _judge_codes(bad, len(ipc_codes) + len(main_ipc) + len(cpc_codes), rules, warnings)
    return {
        "publication_number": pubnum,
        "source_number": normalize.clean_text(str(number)),
        "application_number": normalize.clean_text(raw.get("application_number")),
        "family_id": normalize.clean_text(raw.get("family_id")),
        "title": title,
        "abstract": abstract,
        "title_en": title_en,
        "abstract_en": abstract_en,
        "language": language.lower() if language else detect_language(abstract or title),
        # The main symbol is one of the codes even where a source lists it only apart.
        "ipc_codes": sorted({*ipc_codes, *main_ipc}),
        "cpc_codes": cpc_codes,
        "main_ipc": main_ipc[0] if main_ipc else None,
        **dates,
        "filing_year": filing_year,
        "applicants": list(
            dict.fromkeys(normalize.clean_text(a) for a in _as_list(raw.get("applicants")))
        ),
        "applicant_countries": _countries(_as_list(raw.get("applicant_countries"))),
        "priority_countries": _countries(_as_list(raw.get("priority_countries"))),
        "jurisdiction": pubnum.split("-")[0],
        "cited_publications": sorted(
            {_cited(c) for c in _as_list(raw.get("cited_publications"))} - {None}
        ),
        "forward_citations": _int(raw.get("forward_citations"), "forward_citations"),
        "backward_citations": _int(raw.get("backward_citations"), "backward_citations"),
        "family_size": _int(raw.get("family_size"), "family_size"),
        "legal_status": normalize.clean_text(raw.get("legal_status")),
        "warnings": warnings,
    }


def _texts(
    raw: Mapping[str, Any], rules: Rules, warnings: list[str]
) -> tuple[str | None, str | None, str | None, str | None]:
    """Title, abstract and their English translations, by the same rules.

    A translation identical to its original says nothing more and is dropped. A record
    whose only text is the translation keeps it as its text (``title``/``abstract`` hold
    the text a record has; ``*_en`` only a second, English one). Without an original
    abstract beside a translated one the warning is ``abstract_en_only``.
    """
    title = _text(raw.get("title"), "title", rules)
    abstract = _text(raw.get("abstract"), "abstract", rules)
    title_en = _text(raw.get("title_en"), "title_en", rules)
    abstract_en = _text(raw.get("abstract_en"), "abstract_en", rules)
    if not title and not abstract:
        title, abstract, title_en, abstract_en = title_en, abstract_en, None, None
    if not title and not abstract:
        raise RecordError(Reason.NO_TEXT, "neither title nor abstract")
    title_en = None if title_en == title else title_en
    abstract_en = None if abstract_en == abstract else abstract_en
    if not abstract:
        warnings.append("abstract_en_only" if abstract_en else "no_abstract")
    return title, abstract, title_en, abstract_en


def _cited(raw: str) -> str | None:
    # A cited number we cannot normalise is kept verbatim: dropping it would lose a citation,
    # and quarantining a whole patent for one odd reference would lose far more.
    try:
        return normalize.publication_number(raw)
    except ValueError:
        text = normalize.clean_text(raw)
        return text.upper() if text else None
