"""The record generator: one synthetic USPTO application record at a time, in filing order.

Record ``i`` of ``n`` (0-based) is filed at position ``(i + 0.5) / n`` of a filing-volume curve
that grows by :attr:`SynthParams.volume_growth` a year, so filing dates never decrease with
``i`` and a citation to an earlier record is a citation to an earlier filing. Randomness comes
from one :class:`random.Random` per internal block of :data:`BLOCK` records, seeded with
``(seed, block)``: the records do not depend on how the output is split into files.

State that lives across records is small and independent of text: one citation urn (an
``array('i')`` of record indices, 4 bytes an entry) per theme, holding each record once and
once more for every citation it received — ``n × (1 + mean citations)`` integers in all
(≈ 28 MB for a million records), plus the fixed catalogue (themes, applicants).
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import math
import random
from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from techscreen.synth.text import PhraseBank, Template, Vocabulary
from techscreen.synth.themes import Theme

BLOCK = 1000  # records per random stream; a constant, so files can be split anywhere
OFFICE = "XS"  # ISO 3166-1 user-assigned code: no country, no patent office (see __init__)
KIND = "A1"
MIN_WORDS, MAX_WORDS = 100, 250
PUBLICATION_DELAY_DAYS = 548  # 18 months from filing; published on the following Thursday
MARKER = "synthetic"
MAX_TREND = 10.0  # a theme grows or shrinks at most tenfold against its start

# Applicant countries at the first filing year, their yearly log-growth, and per-domain tilts:
# a rough picture of PCT/USPTO filing origins (US, JP strong early; CN rising from ~5 % in
# the first year to ~54 % in the last; KR, IN growing), not a fit to any statistic.
COUNTRY_SHARES: Mapping[str, float] = {
    "US": 0.34, "JP": 0.24, "DE": 0.09, "KR": 0.07, "CN": 0.05, "FR": 0.04, "GB": 0.03,
    "TW": 0.03, "CH": 0.02, "NL": 0.02, "SE": 0.02, "IT": 0.015, "CA": 0.015, "IN": 0.01,
    "IL": 0.01,
}  # fmt: skip
COUNTRY_GROWTH: Mapping[str, float] = {
    "CN": 0.15, "KR": 0.03, "IN": 0.06, "JP": -0.03, "US": -0.01, "DE": -0.01, "GB": -0.01,
}  # fmt: skip
DOMAIN_TILT: Mapping[str, Mapping[str, float]] = {
    "agriculture": {"CN": 3.0, "NL": 2.0, "IN": 2.0, "US": 1.2, "JP": 0.6, "KR": 0.6, "TW": 0.3},
    "machinery": {"DE": 1.8, "IT": 1.6, "SE": 1.5, "JP": 1.4, "CN": 1.3, "US": 0.8},
    "chemistry_materials": {"CH": 1.5, "DE": 1.4, "JP": 1.3, "FR": 1.2, "CN": 1.2},
    "information_technology": {"TW": 2.0, "KR": 1.5, "IL": 1.5, "US": 1.3, "CN": 1.2},
    "energy": {"KR": 1.6, "CN": 1.4, "JP": 1.3, "DE": 1.2},
    "medicine": {"CH": 2.0, "US": 1.5, "GB": 1.5, "IL": 1.5, "FR": 1.2, "KR": 0.8, "TW": 0.5},
}
DOMAIN_SHARES: Mapping[str, float] = {
    "information_technology": 0.30, "medicine": 0.17, "machinery": 0.17,
    "chemistry_materials": 0.15, "energy": 0.12, "agriculture": 0.09,
}  # fmt: skip

_SYLLABLES = {
    "CN": "hua xin zhong tian long feng sheng jia kang rui yuan bo hai ming heng tai cheng",
    "TW": "tai chen wei hsin yuan li hung chia kuo ming",
    "JP": "ta ka mi no shi ma ku ra yo hi su fu to ya ki ne sa ri wa",
    "KR": "han sung jin hyun dong min woo seo kwang young il ho jae",
    "DE": "berg stein wald feld hof bach linden kraft werk rhein au burg mark",
    "": "ver ion tek nova cor lex star tri gen path quant ax ly ra vita sol neo arc zen fin tel",
}
_SUFFIXES = {
    "US": ("INC.", "LLC", "CORPORATION"), "CN": ("CO., LTD.",),
    "JP": ("CO., LTD.", "CORPORATION", "KABUSHIKI KAISHA"), "KR": ("CO., LTD.",),
    "DE": ("GMBH", "AG"), "FR": ("SAS", "S.A."), "GB": ("LIMITED", "PLC"),
    "TW": ("CORPORATION", "INC."), "CH": ("AG", "SA"), "NL": ("B.V.", "N.V."), "SE": ("AB",),
    "IT": ("S.P.A.", "S.R.L."), "CA": ("INC.", "LTD."), "IN": ("PVT. LTD.", "LIMITED"),
    "IL": ("LTD.",),
}  # fmt: skip
_TRADES = {
    "information_technology": ("ELECTRONICS", "SEMICONDUCTOR", "NETWORKS", "DIGITAL", "TELECOM"),
    "medicine": ("PHARMACEUTICAL", "BIOTECH", "THERAPEUTICS", "MEDICAL", "BIOSCIENCES"),
    "chemistry_materials": ("CHEMICAL", "MATERIALS", "POLYMERS", "METALS", "CHEMICALS"),
    "machinery": ("MACHINERY", "HEAVY INDUSTRIES", "ENGINEERING", "PRECISION", "AUTOMATION"),
    "energy": ("ENERGY", "POWER", "BATTERY", "NEW ENERGY", "ELECTRIC"),
    "agriculture": ("AGRICULTURAL", "FOODS", "SEED", "AGRITECH", "FEED"),
}
_CONGLOMERATE = ("INDUSTRIES", "GROUP", "HOLDINGS", "TECHNOLOGIES")
_CODES_PER_RECORD = ((1, 2, 3, 4, 5), (0.2, 0.3, 0.25, 0.15, 0.1))


@dataclass(frozen=True)
class SynthParams:
    """What the generator plants (defaults: 60 themes, 2004–2023, six domains)."""

    themes: int = 60
    first_year: int = 2004
    last_year: int = 2023
    volume_growth: float = 0.07  # filings grow 7 % a year
    theme_words: float = 0.3  # share of slot words from the record's theme (the signal)
    domain_words: float = 0.3  # from other themes of its domain; the rest: real background
    hybrid_share: float = 0.15  # records mixing a second theme (codes and words)
    sibling_codes: float = 0.2  # an extra code comes from a sibling theme in the domain
    cross_codes: float = 0.07  # … or from any theme (co-classification across domains)
    citations_mean: float = 6.0
    citations_in_theme: float = 0.8  # the rest: 15 % same domain, 5 % any earlier record
    citations_in_domain: float = 0.15
    applicants_per_pool: int = 40  # per country and domain, Zipf-sized
    conglomerate_share: float = 0.2  # applications by a country's cross-domain groups
    foreign_priority: float = 0.8  # non-US applicants claim a home priority this often
    domain_shares: Mapping[str, float] = field(default_factory=lambda: dict(DOMAIN_SHARES))

    def __post_init__(self) -> None:
        """Check the shares.

        Raises:
            ValueError: if a share is outside [0, 1] or the word shares exceed 1.
        """
        shares = ("theme_words", "domain_words", "hybrid_share", "sibling_codes", "cross_codes")
        for name in shares:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {getattr(self, name)}")
        if self.theme_words + self.domain_words > 1.0:
            raise ValueError("theme_words + domain_words must not exceed 1")

    def get_params(self) -> dict[str, Any]:
        """The parameters, for the dataset note."""
        return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in vars(self).items()}


class Truth(NamedTuple):
    """What was planted in one record (a row of ``_themes.parquet``)."""

    publication_number: str
    theme: int
    secondary_theme: int  # -1: none
    domain: str
    filing_year: int
    country: str


def _cumulative(weights: Sequence[float]) -> list[float]:
    return list(itertools.accumulate(weights))


def _pick(rng: random.Random, cum: Sequence[float]) -> int:
    return bisect.bisect_right(cum, rng.random() * cum[-1])


def _index(rng: random.Random, n: int) -> int:
    # rng.randrange(n), about twice as fast (n is always far below 2**53).
    return int(rng.random() * n)


def _zipf(n: int, s: float) -> list[float]:
    return [1.0 / (k + 1) ** s for k in range(n)]


class Synthesizer:
    """Generates ``n`` records for a seed from a theme catalogue and a phrase bank."""

    def __init__(
        self,
        n: int,
        seed: int,
        themes: Sequence[Theme],
        bank: PhraseBank,
        params: SynthParams | None = None,
    ) -> None:
        """Fix the catalogue: yearly theme and country mixes, applicant pools, vocabularies.

        Raises:
            ValueError: on a non-positive ``n`` or an empty year range.
        """
        if n < 1:
            raise ValueError(f"n must be positive, got {n}")
        self.n = n
        self.seed = seed
        self.params = p = params or SynthParams()
        if p.last_year < p.first_year:
            raise ValueError("last_year before first_year")
        self.themes = list(themes)
        self.bank = bank
        self.width = max(7, len(str(n)))
        rng = random.Random(f"techscreen.synth:{seed}:catalogue")
        self.domains = list(dict.fromkeys(t.domain for t in self.themes))
        self.by_domain = {d: [t.index for t in self.themes if t.domain == d] for d in self.domains}
        self.years = list(range(p.first_year, p.last_year + 1))
        volumes = [(1 + p.volume_growth) ** k for k in range(len(self.years))]
        total = sum(volumes)
        self._year_cum = [c / total for c in _cumulative(volumes)]
        self._year_share = [v / total for v in volumes]
        self.trends = self._theme_trends(rng)
        self._theme_cum = [_cumulative(self._theme_weights(y)) for y in self.years]
        self.countries = list(COUNTRY_SHARES)
        self._country_cum = {
            d: [
                _cumulative(
                    [
                        COUNTRY_SHARES[c]
                        * math.exp(COUNTRY_GROWTH.get(c, 0.0) * (y - p.first_year))
                        * DOMAIN_TILT.get(d, {}).get(c, 1.0)
                        for c in self.countries
                    ]
                )
                for y in self.years
            ]
            for d in self.domains
        }
        self.pools, self.conglomerates = self._applicants(rng)
        self._pool_cum = _cumulative(_zipf(p.applicants_per_pool, 1.1))
        self._big_cum = _cumulative(_zipf(len(next(iter(self.conglomerates.values()))), 1.0))
        self._domain_vocab = {
            d: Vocabulary(
                ph
                for i in self.by_domain[d]
                for phrases in self.themes[i].vocabulary.by_len.values()
                for ph in phrases
            )
            for d in self.domains
        }
        self._background = Vocabulary(ph for phrases in bank.background.values() for ph in phrases)
        self._urns = [array("i") for _ in self.themes]
        self._pub_years = self._publication_years()

    # -- catalogue -------------------------------------------------------------------------

    def _theme_trends(self, rng: random.Random) -> list[dict[str, float]]:
        p = self.params
        span = p.last_year - p.first_year
        trends = []
        for domain in self.domains:
            members = self.by_domain[domain]
            ranks = list(range(len(members)))
            rng.shuffle(ranks)
            zipf = _zipf(len(members), 0.9)
            for _, rank in zip(members, ranks, strict=True):
                kind = rng.random()
                if kind < 0.25 and span >= 4:  # emerging: born late, growing fast
                    birth, rate = p.first_year + rng.randint(2, span // 2), rng.uniform(0.15, 0.3)
                elif kind < 0.4:  # declining
                    birth, rate = p.first_year, rng.uniform(-0.15, -0.05)
                else:
                    birth, rate = p.first_year, rng.uniform(-0.03, 0.05)
                trends.append({"weight": zipf[rank], "birth": birth, "rate": rate})
        order = [i for d in self.domains for i in self.by_domain[d]]
        return [trends[order.index(t.index)] for t in self.themes]

    def _theme_weights(self, year: int) -> list[float]:
        # Within a domain themes compete (an emerging theme takes share from the others, its
        # growth capped at MAX_TREND×); the domain's share of the year stays domain_shares.
        raw = []
        for theme in self.themes:
            trend = self.trends[theme.index]
            growth = math.exp(trend["rate"] * (year - trend["birth"]))
            raw.append(0.0 if year < trend["birth"] else trend["weight"] * min(growth, MAX_TREND))
        shares = self.params.domain_shares
        out = []
        for theme, weight in zip(self.themes, raw, strict=True):
            total = sum(raw[i] for i in self.by_domain[theme.domain])
            share = shares.get(theme.domain, 1.0 / len(self.domains))
            out.append(share * weight / total if total else 0.0)
        return out

    def _applicants(
        self, rng: random.Random
    ) -> tuple[dict[tuple[str, str], list[str]], dict[str, list[str]]]:
        taken: set[str] = set()

        def name(country: str, trade: str) -> str:
            syllables = _SYLLABLES.get(country, _SYLLABLES[""]).split()
            while True:
                stem = "".join(rng.choice(syllables) for _ in range(rng.randint(2, 3))).upper()
                full = f"{stem} {trade} {rng.choice(_SUFFIXES[country])}"
                if full not in taken:
                    taken.add(full)
                    return full

        def institute(country: str, domain: str) -> str:
            syllables = _SYLLABLES.get(country, _SYLLABLES[""]).split()
            while True:
                place = "".join(rng.choice(syllables) for _ in range(2)).upper()
                subject = _TRADES[domain][0] if domain in _TRADES else "TECHNOLOGY"
                full = rng.choice(
                    (f"{place} UNIVERSITY OF TECHNOLOGY", f"{place} INSTITUTE OF {subject}")
                )
                if full not in taken:
                    taken.add(full)
                    return full

        pools: dict[tuple[str, str], list[str]] = {}
        conglomerates: dict[str, list[str]] = {}
        for country in self.countries:
            conglomerates[country] = [name(country, rng.choice(_CONGLOMERATE)) for _ in range(5)]
            for domain in self.domains:
                trades = _TRADES.get(domain, ("TECHNOLOGY",))
                pools[(country, domain)] = [
                    institute(country, domain)
                    if rng.random() < 0.1
                    else name(country, rng.choice(trades))
                    for _ in range(self.params.applicants_per_pool)
                ]
        return pools, conglomerates

    # -- per record ------------------------------------------------------------------------

    def filing_date(self, i: int) -> dt.date:
        """The filing date of record ``i``: non-decreasing in ``i``."""
        u = (i + 0.5) / self.n
        k = min(bisect.bisect_right(self._year_cum, u), len(self.years) - 1)
        start = self._year_cum[k] - self._year_share[k]
        frac = min(max((u - start) / self._year_share[k], 0.0), 1.0 - 1e-12)
        year = self.years[k]
        days = (dt.date(year + 1, 1, 1) - dt.date(year, 1, 1)).days
        return dt.date(year, 1, 1) + dt.timedelta(days=int(frac * days))

    def publication_date(self, i: int) -> dt.date:
        """Filing + 18 months, on the next Thursday (the USPTO's publication day)."""
        day = self.filing_date(i) + dt.timedelta(days=PUBLICATION_DELAY_DAYS)
        return day + dt.timedelta(days=(3 - day.weekday()) % 7)

    def _publication_years(self) -> list[tuple[int, int]]:
        # (first record, year) of each publication year: dates never decrease with i, so each
        # boundary is found by bisection and a number costs no date arithmetic.
        starts = []
        year = self.publication_date(0).year
        last = self.publication_date(self.n - 1).year
        while year <= last:
            lo, hi = 0, self.n - 1
            while lo < hi:
                mid = (lo + hi) // 2
                if self.publication_date(mid).year >= year:
                    hi = mid
                else:
                    lo = mid + 1
            starts.append((lo, year))
            year += 1
        return starts

    def publication_number(self, i: int) -> str:
        """``XS<publication year><serial>A1``, serial = i + 1 (unique within the data set)."""
        k = bisect.bisect_right(self._pub_years, (i, 10_000)) - 1
        return f"{OFFICE}{self._pub_years[k][1]}{i + 1:0{self.width}d}{KIND}"

    def records(self) -> Iterator[tuple[dict[str, Any], Truth]]:
        """Yield ``(record, truth)`` for records 0 … n−1, one at a time."""
        for block in range(math.ceil(self.n / BLOCK)):
            rng = random.Random(f"techscreen.synth:{self.seed}:{block}")
            for i in range(block * BLOCK, min(self.n, (block + 1) * BLOCK)):
                yield self._record(i, rng)

    def _record(self, i: int, rng: random.Random) -> tuple[dict[str, Any], Truth]:
        p = self.params
        filed = self.filing_date(i)
        y = filed.year - p.first_year
        theme = self.themes[_pick(rng, self._theme_cum[y])]
        domain = theme.domain
        second = None
        if rng.random() < p.hybrid_share:
            second = self.themes[_pick(rng, self._theme_cum[y])]
            second = None if second.index == theme.index else second
        country = self.countries[_pick(rng, self._country_cum[domain][y])]
        codes = self._codes(rng, theme, second)
        title = self._title(rng, theme)
        abstract = self._abstract(rng, theme, second)
        cited = self._citations(rng, i, theme)
        pubnum = self.publication_number(i)
        applicants = [self._applicant(rng, country, domain)]
        if rng.random() < 0.1:
            other = self._applicant(rng, country, domain)
            if other != applicants[0]:
                applicants.append(other)
        inventors = [
            country if rng.random() < 0.9 else rng.choice(self.countries)
            for _ in range(rng.randint(1, 4))
        ]
        priority = []
        if country != "US" and rng.random() < p.foreign_priority:
            before = filed - dt.timedelta(days=rng.randint(60, 365))
            priority.append(
                {
                    "country": country,
                    "doc_number": f"SYN{before.year}{i + 1:0{self.width}d}",
                    "date": before.strftime("%Y%m%d"),
                    "kind": "national",
                }
            )
        record = {
            "publication_number": pubnum,
            "publication_date": self.publication_date(i).strftime("%Y%m%d"),
            "application_number": f"{OFFICE}A{i + 1:0{self.width}d}",
            "filing_date": filed.strftime("%Y%m%d"),
            "appl_type": "utility",
            "title": title,
            "abstract": abstract,
            "ipcr": codes,
            "cpc_main": codes[:1],
            "cpc_further": codes[1:],
            "priority_claims": priority,
            "applicants": [
                {"name": a, "country": country, "residence_country": country, "type": "applicant"}
                for a in applicants
            ],
            "inventors": [{"country": c} for c in inventors],
            "assignees": [{"name": a, "country": country} for a in applicants],
            "citations": [
                {
                    "publication_number": self.publication_number(j),
                    "category": "cited by examiner" if rng.random() < 0.6 else "cited by applicant",
                }
                for j in cited
            ],
            "source": MARKER,
        }
        truth = Truth(
            pubnum, theme.index, second.index if second else -1, domain, filed.year, country
        )
        return record, truth

    def _applicant(self, rng: random.Random, country: str, domain: str) -> str:
        if rng.random() < self.params.conglomerate_share:
            return self.conglomerates[country][_pick(rng, self._big_cum)]
        return self.pools[(country, domain)][_pick(rng, self._pool_cum)]

    def _codes(self, rng: random.Random, theme: Theme, second: Theme | None) -> list[str]:
        p = self.params
        k = rng.choices(*_CODES_PER_RECORD)[0]
        codes = [theme.codes[_index(rng, len(theme.codes))]]
        if second is not None:
            codes.append(second.codes[_index(rng, len(second.codes))])
        for _ in range(3 * k):
            if len(codes) >= k:
                break
            r = rng.random()
            if r < p.cross_codes:
                source = self.themes[_index(rng, len(self.themes))]
            elif r < p.cross_codes + p.sibling_codes:
                siblings = self.by_domain[theme.domain]
                source = self.themes[siblings[_index(rng, len(siblings))]]
            else:
                source = theme
            code = source.codes[_index(rng, len(source.codes))]
            if code not in codes:
                codes.append(code)
        return codes

    def _phrase(self, rng: random.Random, k: int, theme: Theme, second: Theme | None) -> str:
        p = self.params
        r = rng.random()
        if r < p.theme_words:
            source = second if second is not None and rng.random() < 0.4 else theme
            return source.vocabulary.draw(rng, k)
        if r < p.theme_words + p.domain_words:
            return self._domain_vocab[theme.domain].draw(rng, k)
        return self._background.draw(rng, k)

    def _fill(self, rng: random.Random, tpl: Template, theme: Theme, second: Theme | None) -> str:
        return tpl.fill([self._phrase(rng, k, theme, second) for k in tpl.slots])

    def _title(self, rng: random.Random, theme: Theme) -> str:
        titles = self.bank.titles
        tpl = titles[_index(rng, len(titles))]
        text = tpl.fill([theme.vocabulary.draw(rng, k) for k in tpl.slots]).strip()
        if rng.random() < 0.7:
            return text.upper()
        return " ".join(w if w in {"and", "of", "for", "or", "the"} else w[:1].upper() + w[1:]
                        for w in text.split())  # fmt: skip

    def _abstract(self, rng: random.Random, theme: Theme, second: Theme | None) -> str:
        openers, body = self.bank.openers, self.bank.body
        target = int(rng.triangular(MIN_WORDS, MAX_WORDS, 140))
        sentences = [self._fill(rng, openers[_index(rng, len(openers))], theme, second)]
        words = len(sentences[0].split())
        while words < target:
            for _ in range(6):
                sentence = self._fill(rng, body[_index(rng, len(body))], theme, second)
                n = len(sentence.split())
                if words + n <= MAX_WORDS:
                    break
            else:
                if words >= MIN_WORDS:
                    break
                continue
            sentences.append(sentence)
            words += n
        return " ".join(sentences)

    def _citations(self, rng: random.Random, i: int, theme: Theme) -> list[int]:
        p = self.params
        urns = self._urns
        m = min(i, round(rng.gammavariate(2.0, p.citations_mean / 2.0)))
        cited: dict[int, int] = {}  # record → theme whose urn gets the new entry
        for _ in range(3 * m):
            if len(cited) >= m:
                break
            r = rng.random()
            if r < p.citations_in_theme and urns[theme.index]:
                source = theme.index
            elif r < p.citations_in_theme + p.citations_in_domain:
                options = [t for t in self.by_domain[theme.domain] if urns[t]]
                if not options:
                    continue
                source = options[_index(rng, len(options))]
            else:
                sizes = _cumulative([len(u) for u in urns])
                if not sizes[-1]:
                    continue
                source = _pick(rng, sizes)
            urn = urns[source]
            cited.setdefault(urn[_index(rng, len(urn))], source)
        for j, source in cited.items():
            urns[source].append(j)  # preferential attachment: cited records get likelier
        urns[theme.index].append(i)
        return sorted(cited)
