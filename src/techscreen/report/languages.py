"""Languages in the report: patents per language per domain and node, and suspect nodes.

A domain is *mixed* when no language holds 80 % of its patents whose language was detected.
In a mixed domain, a node whose members are 80 % or more one language is flagged: one
language rather than one technology may have formed it. Embedders that see characters rather
than meaning (MiniLM on Chinese) group texts by script first, and such a node says more about
the corpus than about a technology. Undetermined languages (``und``: too little text) are
counted but never decide a share.

With routing (``embed.routes``) each language's patents may sit in a vector space of their
own on purpose: a node is then judged against the members of its own space, so only a
space that still mixes languages can have a node formed by language.

The counts are of the language of the text each patent was embedded from (the cluster
stage counts them, see :func:`techscreen.embed.routing.with_text_language`): with
``embed.prefer_english`` a Chinese record embedded from its English translation counts as
``en``, so an English space holding translations is not mistaken for a mixed one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import pandas as pd

from techscreen.report.data import as_dict
from techscreen.schema import UNDETERMINED

DOMINANT = 0.8


def shares(counts: Mapping[str, int]) -> dict[str, float]:
    """Each detected language's share of the detected ones, largest first (ties by code)."""
    detected = {k: int(v) for k, v in counts.items() if k != UNDETERMINED and v}
    total = sum(detected.values())
    ordered = sorted(detected.items(), key=lambda kv: (-kv[1], kv[0]))
    return {k: v / total for k, v in ordered} if total else {}


def is_mixed(domain_counts: Mapping[str, int]) -> bool:
    """True when no detected language holds ``DOMINANT`` of the domain's patents."""
    top = next(iter(shares(domain_counts).values()), None)
    return top is not None and top < DOMINANT


def language_driven(node_counts: Mapping[str, int], domain_counts: Mapping[str, int]) -> str | None:
    """The language that dominates a node of a mixed domain (≥ ``DOMINANT``), else None."""
    if not is_mixed(domain_counts):
        return None
    node = shares(node_counts)
    language, share = next(iter(node.items()), (None, 0.0))
    return language if share >= DOMINANT else None


def driven_nodes(nodes: pd.DataFrame, domain_counts: Mapping[str, int]) -> dict[str, str]:
    """node_id → the language that formed it, for the flagged nodes of one domain.

    ``nodes`` has ``node_id``, ``languages`` and, from routed runs, ``space``. When the
    domain's nodes lie in more than one space, each node is judged against the summed
    languages of its space's nodes instead of the whole domain.
    """
    if nodes.empty or "languages" not in nodes:
        return {}
    own = [as_dict(v) for v in nodes["languages"]]
    spaces = nodes["space"].fillna("") if "space" in nodes else pd.Series([""] * len(nodes))
    context: dict[str, Mapping[str, int]] = {}
    if spaces.nunique() > 1:
        for space, counts in zip(spaces, own, strict=True):
            context[space] = context.get(space, Counter()) + Counter(counts)
    out = {}
    for node, space, counts in zip(nodes["node_id"], spaces, own, strict=True):
        language = language_driven(counts, context.get(space, domain_counts))
        if language:
            out[node] = language
    return out


def share_text(counts: Mapping[str, int], most: int = 3) -> str:
    """E.g. ``zh 62% · en 35% · ko 3%`` (and ``+ 2 more``); ``und`` counts are added last."""
    parts = [f"{k} {v:.0%}" for k, v in list(shares(counts).items())[:most]]
    rest = len(shares(counts)) - most
    if rest > 0:
        parts.append(f"+ {rest} more")
    if counts.get(UNDETERMINED):
        parts.append(f"{int(counts[UNDETERMINED])} undetermined")
    return " · ".join(parts) or "no language detected"
