"""Screening domains from IPC/CPC codes: WIPO technology fields plus prefix rules.

A code is first placed in one of WIPO's 35 technology fields with the IPC8-Technology
concordance (Schmoch 2008; ``data/reference/wipo_ipc_technology.csv``). The concordance
patterns are SQL ``LIKE`` patterns over PATSTAT-padded symbols (``H04N  21/%``: subclass,
main group right-aligned in four characters, then the subgroup), so a pattern with a main
group names that main group exactly: ``G01N  33/%`` covers ``G01N 33/53`` and not
``G01N 3/08``. When several patterns cover a code, the longest (most specific) one decides
the field.

A domain (:class:`techscreen.config.Domain`) then holds a code when

1. the code starts with one of the domain's ``exclude`` prefixes → **never** (exclude wins
   over everything, so a domain can carve a subgroup out of a field or out of a broad
   include);
2. otherwise, the code's WIPO field is in ``wipo_fields`` **or** the code starts with one
   of the ``include`` prefixes → yes.

Include and exclude prefixes are compared with normalised codes (``C22C 38/02``); a prefix
that names a main group (``H01L 31`` or ``H01L 31/``) is read as ``H01L 31/`` so that it
does not also catch ``H01L 310/…``. The same rules serve IPC and CPC codes: CPC-only
symbols (``Y02E 10/50``, ``A61K 2039/505``) reach a domain through include prefixes or the
subclass-level concordance patterns.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from techscreen.config import Domain, DomainSettings
from techscreen.normalize import class_code
from techscreen.schema import PATENT_DOMAINS, UNASSIGNED_DOMAIN

# A concordance pattern once '%' and padding are removed: subclass, optional main group,
# optional '/' and the start of a subgroup.
_PATTERN = re.compile(r"(?P<sub>[A-HY]\d{2}[A-Z])(?:(?P<main>\d{1,4})(?:/(?P<sg>\d*))?)?")
# Prefixes shorter than a subclass: a section ("A") or a class ("A01").
_SHORT_PREFIX = re.compile(r"[A-HY](?:\d{2}[A-Z]?)?")
# Codes already in the canonical form of techscreen.normalize.class_code.
_NORMALISED = re.compile(r"[A-HY]\d{2}[A-Z](?: \d{1,4}/\d+)?")
# Codes are few and repeat a lot (a CPC table has ~260k symbols), so per-code results are
# cached; the bound keeps a pathological input from growing the cache without limit.
_CACHE_LIMIT = 500_000


def _pattern_key(pattern: str) -> str:
    """Turn a concordance LIKE pattern into the prefix of normalised codes it matches.

    ``C22C%`` → ``C22C``; ``H04N  21/%`` and ``H04N  21%`` → ``H04N 21/`` (padding makes the
    main group exact, so both forms stop at the slash); ``A61K  31/4%`` → ``A61K 31/4``.

    Raises:
        ValueError: if the pattern uses other wildcards or is not a class symbol prefix.
    """
    text = pattern.strip()
    if text.endswith("%"):
        text = text[:-1]
    if "%" in text or "_" in text:
        raise ValueError(f"concordance pattern {pattern!r}: only a trailing '%' is supported")
    m = _PATTERN.fullmatch("".join(text.split()).upper())
    if not m:
        raise ValueError(f"concordance pattern {pattern!r} is not a class symbol prefix")
    if m.group("main") is None:
        return m.group("sub")
    return f"{m.group('sub')} {int(m.group('main'))}/{m.group('sg') or ''}"


def normalise_prefix(prefix: str) -> str:
    """Return an include/exclude prefix in the form of normalised codes.

    ``A01`` and ``Y02E`` stay as they are; ``H01L31``, ``H01L 31`` and ``H01L  31/`` become
    ``H01L 31/``; ``H01L 31/04`` stays (it matches ``H01L 31/04``, ``H01L 31/042`` …).

    Raises:
        ValueError: if ``prefix`` is not the start of a class symbol.
    """
    text = "".join(prefix.split()).upper()
    if _SHORT_PREFIX.fullmatch(text):
        return text
    m = _PATTERN.fullmatch(text)
    if not m:
        raise ValueError(f"domain prefix {prefix!r} is not the start of a class symbol")
    if m.group("main") is None:
        return m.group("sub")
    return f"{m.group('sub')} {int(m.group('main'))}/{m.group('sg') or ''}"


def load_concordance(path: str | Path) -> dict[str, int]:
    """Read the WIPO IPC–technology concordance into ``{code prefix: field number}``.

    Args:
        path: the CSV (UTF-8, possibly with BOM) with columns ``Field_number`` and
            ``IPC_code``.

    Raises:
        FileNotFoundError: if the file is missing.
        ValueError: on a bad field number or pattern, or a pattern given two fields.
    """
    lookup: dict[str, int] = {}
    with Path(path).open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"Field_number", "IPC_code"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: concordance lacks columns {sorted(missing)}")
        for line, row in enumerate(reader, start=2):
            try:
                field = int(row["Field_number"])
            except (TypeError, ValueError):
                bad = row["Field_number"]
                raise ValueError(f"{path}:{line}: bad Field_number {bad!r}") from None
            if not 1 <= field <= 35:
                raise ValueError(f"{path}:{line}: WIPO field {field} outside 1..35")
            key = _pattern_key(row["IPC_code"] or "")
            if lookup.get(key, field) != field:
                raise ValueError(
                    f"{path}:{line}: pattern {row['IPC_code']!r} given fields "
                    f"{lookup[key]} and {field}"
                )
            lookup[key] = field
    if not lookup:
        raise ValueError(f"{path}: concordance is empty")
    return lookup


def _canonical(code: str) -> str | None:
    """Return ``code`` in normalised form, or ``None`` if it is not a class symbol."""
    if _NORMALISED.fullmatch(code):
        return code
    try:
        return class_code(code)
    except ValueError:
        # Malformed codes were quarantined or warned about upstream; here they match nothing.
        return None


class DomainRules:
    """The concordance lookup and the domain definitions, applied code by code.

    Small (a few hundred patterns) and picklable, so Spark ships it to executors in the
    closure of :func:`assign_domains`.
    """

    def __init__(self, fields_by_prefix: Mapping[str, int], definitions: Mapping[str, Domain]):
        """Build the rules.

        Args:
            fields_by_prefix: concordance lookup from :func:`load_concordance`.
            definitions: domain name → :class:`Domain`, in reporting order.

        Raises:
            ValueError: if a domain is called ``unassigned`` or has a malformed prefix.
        """
        if UNASSIGNED_DOMAIN in definitions:
            raise ValueError(f"{UNASSIGNED_DOMAIN!r} is reserved for patents matching no domain")
        self._fields = dict(fields_by_prefix)
        self._max_key = max((len(k) for k in self._fields), default=0)
        self.definitions: dict[str, Domain] = dict(definitions)
        # Per domain: (WIPO fields, include prefixes, exclude prefixes), prefixes as tuples so
        # str.startswith tests them all in one call.
        self._compiled: list[tuple[str, frozenset[int], tuple[str, ...], tuple[str, ...]]] = [
            (
                name,
                frozenset(d.wipo_fields),
                tuple(normalise_prefix(p) for p in d.include),
                tuple(normalise_prefix(p) for p in d.exclude),
            )
            for name, d in self.definitions.items()
        ]
        self._cache: dict[str, tuple[str, ...]] = {}

    @classmethod
    def from_settings(cls, settings: DomainSettings) -> DomainRules:
        """Build the rules from settings, reading the concordance relative to the cwd."""
        path = Path(settings.concordance).expanduser().resolve()
        return cls(load_concordance(path), settings.definitions)

    @property
    def domains(self) -> list[str]:
        """The domain names, in configuration order."""
        return list(self.definitions)

    def field_of(self, code: str) -> int | None:
        """Return the WIPO field of a code by its longest matching concordance pattern.

        Tries the code's prefixes from the longest to the subclass, so the cost is a few
        dict lookups whatever the size of the concordance.
        """
        norm = _canonical(code)
        if norm is None:
            return None
        for end in range(min(len(norm), self._max_key), 3, -1):
            field = self._fields.get(norm[:end])
            if field is not None:
                return field
        return None

    def _domains_of_code(self, norm: str) -> tuple[str, ...]:
        hit = self._cache.get(norm)
        if hit is not None:
            return hit
        field = self.field_of(norm)
        found = tuple(
            name
            for name, fields, include, exclude in self._compiled
            if not norm.startswith(exclude) and (field in fields or norm.startswith(include))
        )
        if len(self._cache) < _CACHE_LIMIT:
            self._cache[norm] = found
        return found

    def domains_for(self, codes: Iterable[str]) -> dict[str, list[str]]:
        """Return domain → sorted matched codes for one patent's IPC and/or CPC codes.

        Codes are normalised first (already-normalised codes pass unchanged); codes that are
        not class symbols are ignored. Domains without a match are absent, so an empty dict
        means the patent is unassigned.
        """
        hits: dict[str, set[str]] = {}
        for code in codes:
            if not code:
                continue
            norm = _canonical(code)
            if norm is None:
                continue
            for name in self._domains_of_code(norm):
                hits.setdefault(name, set()).add(norm)
        # Configuration order, so output is stable and readable.
        return {name: sorted(hits[name]) for name in self.definitions if name in hits}

    def __getstate__(self) -> dict[str, Any]:
        # The cache is rebuilt on each executor; shipping it would only enlarge the closure.
        state = self.__dict__.copy()
        state["_cache"] = {}
        return state


def _as_list(value: Any) -> list[str]:
    """Arrow hands array cells to pandas as numpy arrays, lists or None."""
    if value is None or isinstance(value, float):  # NaN for a null cell in some paths
        return []
    return [str(v) for v in value if v is not None]


def assign_domains(patents: DataFrame, rules: DomainRules) -> DataFrame:
    """Give every patent its domains: one row per patent × domain (schema ``PATENT_DOMAINS``).

    Runs on executors with ``mapInPandas``; nothing is collected. A patent whose codes match
    no domain gets a single ``unassigned`` row with no matched codes.

    Args:
        patents: rows with ``publication_number``, ``ipc_codes`` and ``cpc_codes`` (arrays).
        rules: the domain rules (shipped to executors in the closure; it is small).
    """

    def per_batch(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            pubs: list[str] = []
            names: list[str] = []
            matched: list[list[str]] = []
            for pub, ipc, cpc in zip(
                pdf["publication_number"], pdf["ipc_codes"], pdf["cpc_codes"], strict=True
            ):
                found = rules.domains_for(_as_list(ipc) + _as_list(cpc))
                if not found:
                    found = {UNASSIGNED_DOMAIN: []}
                for name, codes in found.items():
                    pubs.append(pub)
                    names.append(name)
                    matched.append(codes)
            if pubs:
                yield pd.DataFrame(
                    {"publication_number": pubs, "domain": names, "matched_codes": matched}
                )

    # publication_number is non-null in PATENTS; the filter only guards the output schema.
    return (
        patents.select("publication_number", "ipc_codes", "cpc_codes")
        .where(F.col("publication_number").isNotNull())
        .mapInPandas(per_batch, schema=PATENT_DOMAINS)
    )


def domain_counts(
    patent_domains: DataFrame, domains: Iterable[str] | None = None
) -> dict[str, int]:
    """Return the number of distinct patents per domain, ``unassigned`` included.

    Only the per-domain totals (a handful of rows) reach the driver.

    Args:
        patent_domains: output of :func:`assign_domains`.
        domains: names to report even when no patent falls in them (count 0), e.g.
            ``rules.domains``; ``unassigned`` is always reported.
    """
    rows = (
        patent_domains.groupBy("domain")
        .agg(F.countDistinct("publication_number").alias("n"))
        .collect()
    )
    counts = {name: 0 for name in (*(domains or ()), UNASSIGNED_DOMAIN)}
    counts.update({row["domain"]: int(row["n"]) for row in rows})
    return counts
