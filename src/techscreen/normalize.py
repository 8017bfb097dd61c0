"""Normalisation of identifiers, classification codes, dates and countries.

Pure functions; each raises :class:`ValueError` with a short message on input it cannot
normalise, so that validation can quarantine the record with the reason.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

_PUBNUM = re.compile(
    r"""^(?P<cc>[A-Z]{2})[\s_\-]*
    (?P<prefix>[A-Z]{1,3}(?=[\s_\-]?\d))?[\s_\-]*   # series: D, RE, PP, S/H, PI, I, WO
    (?P<digits>\d(?:[\d\s,/_\-]*\d)?)
    (?P<suffix>[A-Z]??)                                # a serial's own letter (SG ...U)
    (?:[\s_\-]*(?P<kind>[A-Z]\d?))?                   # kind code
    (?:\.[\dX])?                                      # check digit of CN application numbers
    $""",
    re.VERBOSE,
)
# Serials with an office or series code inside, as India (IN1604DELNP2013A: number, filing
# office DEL, PCT national phase NP, year) and Indonesia (ID2020PID02266A) write them.
_PUBNUM_INNER_LETTERS = re.compile(
    r"^(?P<cc>[A-Z]{2})[\s_\-]*(?P<serial>\d+[A-Z]+\d+)(?:[\s_\-]*(?P<kind>[A-Z]\d?))?$"
)
# CNIPA writes a granted patent's number as ZL + application number (ZL200580010012.1).
_CN_ZL = re.compile(r"^(?:CN)?[\s_\-]*ZL[\s_\-]*")
_CN_CHECK_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
_CN_APPLICATION_LENGTHS = (8, 12)  # 1985-2003: YY + type + 5 digits; 2004-: YYYY + type + 7


def publication_number(
    raw: str | None, *, country: str | None = None, kind: str | None = None
) -> str:
    """Return the canonical form ``CC-NUMBER-KIND`` (or ``CC-NUMBER`` when no kind is known).

    Separators and leading zeros of the serial are removed so that ``US07654321B2``,
    ``US 7,654,321 B2`` and ``US-7654321-B2`` agree; Lens keys (``WO_2008_155316_A1``) and
    display forms (``WO 2008/155316 A1``) give ``WO-2008155316-A1``; series letters stay
    (``US-D512345-S1``, ``US-RE45678-E``, ``JP-S60172932-A``, ``TW-I303249-B``).
    Full-width characters are read as their ASCII forms. Serials with letters inside keep
    them (``IN1604DELNP2013A`` → ``IN-1604DELNP2013-A``, ``ID2020PID02266A``).

    Chinese numbers: ``CN1234567A``, ``CN 112345678 B`` and ``CN112345678B`` are
    publication numbers (``CN-112345678-B``). Application numbers (used as the key by
    sources that have no publication number) lose their check digit, written or run on,
    and ``ZL`` means CN: ``CN200580010012.1``, ``ZL200580010012.1``, ``200580010012.1``
    with ``country="CN"`` and ``CN2005800100121`` all give ``CN-200580010012``; an
    application number keeps its leading zero (``CN02123456.7`` → ``CN-02123456``).

    Args:
        raw: the number as it appears in the source.
        country: office to assume when ``raw`` does not start with it (e.g. ``US`` for
            PatentsView ids such as ``7654321`` or ``RE49012``).
        kind: kind code to use when ``raw`` carries none.

    Raises:
        ValueError: if ``raw`` is empty or not a publication number.
    """
    if raw is None or not str(raw).strip():
        raise ValueError("empty publication number")
    # NFKC turns full-width forms (ＣＮ１１２３４５６７８Ｂ, common in CJK sources) into ASCII.
    text = unicodedata.normalize("NFKC", str(raw)).strip().upper()
    office = country.strip().upper() if country else None
    text = _CN_ZL.sub("CN", text) if office in (None, "CN") else text
    if office and not text.startswith(office):
        text = office + text
    m = _PUBNUM.match(text)
    if not m:
        inner = _PUBNUM_INNER_LETTERS.match(text)
        if not inner:
            raise ValueError(f"unparseable publication number {raw!r}")
        k = inner.group("kind") or (kind.strip().upper() if kind and kind.strip() else None)
        return "-".join(p for p in (inner.group("cc"), inner.group("serial"), k) if p)
    digits = re.sub(r"[\s,/_\-]", "", m.group("digits"))
    k = m.group("kind") or (kind.strip().upper() if kind and kind.strip() else None)
    if m.group("cc") == "CN" and not m.group("prefix") and not m.group("suffix"):
        digits = _cn_serial(digits, has_kind=k is not None)
    else:
        digits = digits.lstrip("0") or "0"
    serial = (m.group("prefix") or "") + digits + m.group("suffix")
    return f"{m.group('cc')}-{serial}-{k}" if k else f"{m.group('cc')}-{serial}"


def cn_check_digit(application: str) -> str:
    """The check digit CNIPA appends to an 8- or 12-digit application number (``.1``, ``.X``).

    Digits are weighted 2, 3, …, 9, 2, 3, 4, 5 from the left; the check digit is the sum
    modulo 11, written ``X`` for 10 (``200580010012`` → ``1``).
    """
    total = sum(int(d) * w for d, w in zip(application, _CN_CHECK_WEIGHTS, strict=False))
    check = total % 11
    return "X" if check == 10 else str(check)


def _cn_serial(digits: str, *, has_kind: bool) -> str:
    """A Chinese serial: application numbers keep their fixed width, publications lose zeros.

    Application numbers are 8 or 12 digits whose leading zero is part of the year
    (``02123456`` is 2002), so stripping it would make one look like a 7-digit publication
    number. Publication numbers never start with 0, so zeros in front of them are padding.
    A 13-digit number without a kind is a 12-digit application number with its check
    digit run on (``CN2005800100121``); the run-on digit is dropped only if it is that
    check digit, like the ``.1`` of the dotted form.
    """
    if not has_kind and len(digits) == 13 and cn_check_digit(digits[:12]) == digits[12]:
        return digits[:12]
    if not has_kind and len(digits) in _CN_APPLICATION_LENGTHS:
        return digits
    return digits.lstrip("0") or "0"


_CODE = re.compile(
    r"""^\s*(?P<sub>[A-HY]\s?\d{2}\s?[A-Z])     # subclass, e.g. C22C
    (?:\s*(?P<main>\d{1,4})                      # main group
       (?:\s*/\s*(?P<sg>\d{1,6}))?)?            # subgroup
    \s*$""",
    re.VERBOSE,
)
_IPCR_PACKED = re.compile(r"^(?P<sub>[A-HY]\d{2}[A-Z])(?P<main>\d{4})(?P<sg>\d{6})")


def class_code(raw: str) -> str:
    """Return an IPC or CPC symbol in ``C22C 38/02`` form.

    Accepts ``C22C38/02``, ``C22C  38/02`` (PATSTAT padding), ``C22C 38/2`` is kept as is,
    the packed IPCR form ``C22C0038020000``, a bare main group ``H04N 21`` (given ``/00``),
    a bare subclass ``A01B`` and full-width forms (``Ｂ６４Ｃ２７／１２``).

    Raises:
        ValueError: if ``raw`` is not a class symbol.
    """
    text = unicodedata.normalize("NFKC", raw or "").strip().upper()
    packed = _IPCR_PACKED.match(text.replace(" ", ""))
    if packed:
        main = str(int(packed.group("main")))
        sg = packed.group("sg").rstrip("0").rjust(2, "0")
        return f"{packed.group('sub')} {main}/{sg}"
    m = _CODE.match(text)
    if not m:
        raise ValueError(f"malformed class code {raw!r}")
    sub = m.group("sub").replace(" ", "")
    if m.group("main") is None:
        return sub
    main = str(int(m.group("main")))
    sg = m.group("sg")
    return f"{sub} {main}/{sg if sg is not None else '00'}"


def subclass(code: str) -> str:
    """Return the four-character subclass of a normalised code (``C22C 38/02`` → ``C22C``)."""
    return code[:4]


def main_group(code: str) -> str:
    """Return the main group of a normalised code (``C22C 38/02`` → ``C22C 38/00``)."""
    head = code.split("/")[0]
    return f"{head}/00" if " " in head else head


_DATE_FORMATS = ("%Y%m%d", "%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%d.%m.%Y", "%m/%d/%Y")
EARLIEST_YEAR = 1790  # the first US patent act; nothing in patent data is older


_ISO_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})|(\d{4})-(\d{2})-(\d{2})")


def _iso_date(text: str) -> dt.date:
    """``20230105`` or ``2023-01-05`` without strptime (most dates; strptime is slow).

    Raises:
        ValueError: for any other text, so the other formats are tried in turn.
    """
    m = _ISO_DATE.fullmatch(text)
    if m is None:
        return dt.datetime.strptime(text, "%Y%m%d").date()  # e.g. 2023015: as strptime reads it
    y, mo, d = (g for g in m.groups() if g is not None)
    return dt.date(int(y), int(mo), int(d))


def parse_date(raw: str | None, *, today: dt.date | None = None) -> dt.date | None:
    """Parse a patent-data date (``20230105``, ``2023-01-05``, ``2023/01/05`` …).

    Timestamps (``2023-01-05T00:00:00Z``) keep their date part. Empty input gives ``None``.

    Raises:
        ValueError: if the text is not a date or lies outside 1790 .. next year.
    """
    if raw is None:
        return None
    text = str(raw).strip()
    if not text:
        return None
    text = text.split("T")[0].split(" ")[0]
    for fmt in _DATE_FORMATS:
        try:
            value = _iso_date(text) if fmt == "%Y%m%d" else dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
        limit = (today or dt.date.today()).year + 1
        if not EARLIEST_YEAR <= value.year <= limit:
            raise ValueError(f"date {raw!r} outside {EARLIEST_YEAR}..{limit}")
        return value
    raise ValueError(f"unparseable date {raw!r}")


_COUNTRY_ALIASES = {"UK": "GB", "EL": "GR"}
_ISO2 = re.compile(r"^[A-Z]{2}$")


def country(raw: str | None) -> str | None:
    """Return an ISO 3166 alpha-2 code, or ``None`` for empty input.

    Raises:
        ValueError: if the text is not two letters (after aliasing UK→GB, EL→GR).
    """
    if raw is None or not str(raw).strip():
        return None
    text = str(raw).strip().upper()
    text = _COUNTRY_ALIASES.get(text, text)
    if not _ISO2.match(text):
        raise ValueError(f"not an ISO-2 country {raw!r}")
    return text


def clean_text(raw: str | None) -> str | None:
    """Collapse whitespace; return ``None`` for empty text."""
    if raw is None:
        return None
    text = " ".join(str(raw).split())
    return text or None
