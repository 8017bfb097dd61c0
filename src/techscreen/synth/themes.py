"""Planted technology themes: sets of real IPC main groups, each inside one screening domain.

A theme is 2–4 consecutive main groups of one IPC subclass (neighbouring groups are related
subjects: ``H01M 4/00`` electrodes, ``H01M 6/00`` primary cells …) whose codes the configured
domain rules put in exactly one domain, so a record's primary code decides its domain
unambiguously. Its vocabulary is the content-word n-grams of those groups' English titles
(weight 3) and of the subclass title (weight 1, shared with any sibling theme). Subgroups
(``/02``, ``/04`` …) are drawn from the even numbers 02–40: real-looking, but not checked
against the IPC scheme (labels fall back to the main group's title).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from techscreen.domains.rules import DomainRules
from techscreen.synth.text import Vocabulary, title_phrases

MIN_GROUPS = 2
MAX_GROUPS = 4
MIN_TITLE_WORDS = 2  # a main group whose title has fewer content words is not a theme group
MIN_THEME_WORDS = 8  # a theme keeps adding groups until its titles give this many words
RESIDUAL_GROUP = 99  # "Subject matter not provided for in other groups of this subclass"
SUBGROUPS = tuple(f"{n:02d}" for n in range(2, 41, 2))


@dataclass(frozen=True)
class Theme:
    """One planted theme: its IPC codes and vocabulary.

    Attributes:
        index: position in the catalogue (the ``theme`` column of the truth table).
        key: ``<domain>/<nn>``, stable for a seed.
        domain: the domain its codes fall in.
        subclass: the IPC subclass of its groups.
        groups: main groups, e.g. ``("H01M 4/00", "H01M 6/00")``.
        titles: their English titles.
        codes: the codes records draw from (main groups and a few subgroups).
        vocabulary: phrases records draw from.
    """

    index: int
    key: str
    domain: str
    subclass: str
    groups: tuple[str, ...]
    titles: tuple[str, ...]
    codes: tuple[str, ...]
    vocabulary: Vocabulary

    def catalogue_entry(self) -> dict:
        """A JSON-able description (for ``_themes_catalog.json``)."""
        return {
            "theme": self.index,
            "key": self.key,
            "domain": self.domain,
            "subclass": self.subclass,
            "groups": list(self.groups),
            "titles": list(self.titles),
            "codes": list(self.codes),
            "words": sorted(self.vocabulary.words()),
        }


def read_titles(path: str | Path) -> dict[str, str]:
    """English titles of IPC subclasses and main groups, ``{code: title}`` (empty ones dropped)."""
    import pandas as pd

    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    return {c: t for c, t in zip(frame["code"], frame["title_en"], strict=True) if t.strip()}


def _group_number(code: str) -> int:
    return int(code.split(" ")[1].split("/")[0])


def candidates(titles: dict[str, str], rules: DomainRules) -> dict[str, dict[str, list[str]]]:
    """Main groups usable for themes: ``{domain: {subclass: [groups in number order]}}``.

    A group qualifies when the domain rules put it in exactly one domain and its title has at
    least :data:`MIN_TITLE_WORDS` content words.
    """
    out: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for code, title in titles.items():
        if " " not in code or _group_number(code) == RESIDUAL_GROUP:
            continue
        found = rules.domains_for([code])
        if len(found) != 1 or len(set(title_phrases(title))) < MIN_TITLE_WORDS:
            continue
        (domain,) = found
        out[domain][code[:4]].append(code)
    return {
        d: {s: sorted(g, key=_group_number) for s, g in sorted(subs.items())}
        for d, subs in sorted(out.items())
    }


def _weighted_order(items: Sequence[str], weight: Mapping[str, int], rng: random.Random) -> list:
    # Weighted sampling without replacement (Efraimidis–Spirakis keys), deterministic for rng.
    keys = {item: rng.random() ** (1.0 / (1 + weight.get(item, 0))) for item in items}
    return sorted(items, key=lambda item: (-keys[item], item))


def plan_themes(
    titles: dict[str, str],
    rules: DomainRules,
    n_themes: int,
    rng: random.Random,
    popularity: Mapping[str, int] | None = None,
) -> list[Theme]:
    """Choose ``n_themes`` themes spread evenly over the rules' domains.

    Each theme takes a subclass not yet used in its domain (subclasses are reused, with
    disjoint groups, only when a domain has too few) and a window of consecutive groups.
    ``popularity`` (records per subclass and main group in a real sample) makes common
    subjects likelier: a subclass is drawn with weight 1 + its count, and the window starts
    at a group drawn with weight 1 + its count, so themes look like real patenting (H01M
    batteries, A61K preparations) more often than like obsolete corners (G06C abacus).

    Raises:
        ValueError: if a domain has no usable subclass, or fewer themes than domains are asked.
    """
    domains = rules.domains
    if n_themes < len(domains):
        raise ValueError(f"need at least one theme per domain ({len(domains)}), got {n_themes}")
    pool = candidates(titles, rules)
    themes: list[Theme] = []
    for d_index, domain in enumerate(domains):
        subclasses = {s: g for s, g in pool.get(domain, {}).items() if len(g) >= MIN_GROUPS}
        if not subclasses:
            raise ValueError(f"domain {domain!r}: no IPC subclass with usable main groups")
        wanted = n_themes // len(domains) + (d_index < n_themes % len(domains))
        order = _weighted_order(sorted(subclasses), popularity or {}, rng)
        used: set[str] = set()
        for k in range(wanted):
            subclass = order[k % len(order)]
            free = [g for g in subclasses[subclass] if g not in used]
            if len(free) < MIN_GROUPS:
                subclass = next(
                    (s for s in order if len([g for g in subclasses[s] if g not in used]) >= 2),
                    None,
                )
                if subclass is None:
                    raise ValueError(f"domain {domain!r}: not enough IPC groups for {wanted}")
                free = [g for g in subclasses[subclass] if g not in used]
            size = rng.randint(MIN_GROUPS, MAX_GROUPS)
            first = _weighted_order(free, popularity or {}, rng)[0]
            start = max(0, min(free.index(first), len(free) - size))
            groups = free[start : start + size]
            words = {w for g in groups for p in title_phrases(titles[g]) for w in p.split()}
            for extra in free[start + size :] + free[:start][::-1]:
                if len(words) >= MIN_THEME_WORDS or len(groups) >= MAX_GROUPS + 2:
                    break
                groups.append(extra)
                words |= {w for p in title_phrases(titles[extra]) for w in p.split()}
            used.update(groups)
            themes.append(
                _theme(len(themes), f"{domain}/{k:02d}", domain, subclass, groups, titles, rng)
            )
    return themes


def _theme(
    index: int,
    key: str,
    domain: str,
    subclass: str,
    groups: Sequence[str],
    titles: dict[str, str],
    rng: random.Random,
) -> Theme:
    codes: list[str] = []
    phrases: list[str] = []
    for group in groups:
        head = group.split("/")[0]
        codes.append(group)
        codes.extend(f"{head}/{sg}" for sg in sorted(rng.sample(SUBGROUPS, 2)))
        phrases.extend(title_phrases(titles[group]) * 3)
    phrases.extend(title_phrases(titles.get(subclass, "")))
    return Theme(
        index=index,
        key=key,
        domain=domain,
        subclass=subclass,
        groups=tuple(groups),
        titles=tuple(titles[g] for g in groups),
        codes=tuple(codes),
        vocabulary=Vocabulary(phrases),
    )
