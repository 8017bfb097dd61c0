"""Absolute anchors: each indicator's raw value → 0–10 without ranking it against other nodes.

With ``grade.normalisation: anchored`` (the default) a score says where a node stands against
a fixed reference — parity with the strongest other country, the domain's world average —
rather than where it ranks among the nodes of its domain, so a domain of strong nodes can
hold many high scores and a weak one none, and the study's tier thresholds (8.5, 6.5) mean
the same in every domain. One :class:`Anchor` per indicator, of one of these kinds:

``absolute``
    Already 0–10 by construction: ``clip(x, 0, 10)``.
``share``
    A share or index on 0–1: ``10·x``, clipped.
``ratio``
    A ratio with its parity at 1, on a log scale around it:
    ``5 + 5·ln(x)/ln(F)``, clipped to 0–10, so ``x = 1`` scores 5, ``x ≥ F`` 10 and
    ``x ≤ 1/F`` 0 (``F`` = ``grade.anchor_ratio``, e.g. 4: two doublings to a full 10).
``relative``
    A quantity against the domain's reference ``r`` (column ``ref_<indicator>`` of the
    indicators table): the ratio kind on ``x / r``.
``log_relative``
    A quantity that is already a natural log of a ratio, against the domain's value ``r`` of
    the same log: the ratio kind on ``e^(x − r)``, i.e. ``5 + 5·(x − r)/ln(F)``.

A missing value — or a ratio that cannot be formed (``0/0``, a negative value, a missing
reference) — stays NaN: scoring gives it the neutral 5 and lists it in ``neutral``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

KINDS = ("absolute", "share", "ratio", "relative", "log_relative")
REFERENCE_PREFIX = "ref_"
"""Prefix of the indicators table's reference columns: ``ref_<indicator>``."""


@dataclass(frozen=True)
class Anchor:
    """How one indicator's raw value is put on 0–10.

    Attributes:
        name: the indicator (a column of the indicators table).
        kind: one of :data:`KINDS`.
        reference: what the scale is anchored on (what scores 5, or 0 and 10).
        reason: why this anchor, in one line.
    """

    name: str
    kind: str
    reference: str
    reason: str

    @property
    def needs_reference(self) -> bool:
        """Whether the score needs the domain's reference column ``ref_<name>``."""
        return self.kind in ("relative", "log_relative")


ANCHORS: dict[str, Anchor] = {
    a.name: a
    for a in (
        Anchor(
            "centrality",
            "share",
            "within-domain percentile 0–1 → 10·x (relative by construction: 5 = the median node)",
            "a node's place in its domain's technology network has no outside yardstick",
        ),
        Anchor(
            "growth",
            "log_relative",
            "the domain's own growth over the same windows → 5",
            "growing faster than its domain is what marks a rising technology; the domain's "
            "recent-years publication-lag dip hits every node alike and cancels",
        ),
        Anchor(
            "strategic_weight",
            "absolute",
            "the configured 0–10 weight, as is",
            "already an expert's 0–10 judgement of the domain's strategic value",
        ),
        Anchor(
            "cn_share",
            "share",
            "CN's share of the node's world filings → 10·x",
            "a share of the world's filings is comparable across nodes and domains as it is",
        ),
        Anchor(
            "cn_rta",
            "ratio",
            "RTA 1 = CN as specialised in the node as in its domain → 5",
            "RTA is a ratio with parity at 1; above it China is specialised in the node",
        ),
        Anchor(
            "cn_lead",
            "ratio",
            "CN ÷ strongest other country: 1 = running alongside (并跑) → 5, ≥ F leading (领跑) "
            "→ 10, ≤ 1/F following (跟跑) → 0",
            "the study's following / running alongside / leading stages, read off the filings",
        ),
        Anchor(
            "substitutes",
            "share",
            "Herfindahl index of the other countries (0–1) → 10·x",
            "a concentrated rest of the world (few foreign sources) offers few substitutes",
        ),
        Anchor(
            "maturity",
            "share",
            "cumulative filings ÷ the logistic saturation level (0–1) → 10·x",
            "the share of its S-curve a technology has already climbed is its maturity",
        ),
        Anchor(
            "forward_citations",
            "relative",
            "the domain's mean forward citations over all its patents → 5",
            "citation counts differ by field and age; relative citation impact does not",
        ),
        Anchor(
            "family_size",
            "relative",
            "the domain's mean family size over all its patents → 5",
            "family size (markets protected) varies by field; only the excess signals value",
        ),
        Anchor(
            "generality",
            "share",
            "1 − Σ share² over the node's subclasses (0–1) → 10·x",
            "breadth across subclasses is an index on 0–1 already",
        ),
        Anchor(
            "size",
            "relative",
            "the domain's mean node size → 5",
            "node sizes depend on the clustering's granularity; only size against the "
            "domain's typical node says a node is large",
        ),
    )
}
"""The anchor of every indicator :mod:`techscreen.grade.indicators` computes."""


def reference_column(name: str) -> str:
    """The indicators table's column holding the domain reference of indicator ``name``."""
    return f"{REFERENCE_PREFIX}{name}"


def anchor_of(name: str) -> Anchor:
    """The anchor of indicator ``name``.

    Raises:
        ValueError: no anchor is defined for ``name``.
    """
    try:
        return ANCHORS[name]
    except KeyError:
        raise ValueError(
            f"indicator {name!r} has no anchor (known: {', '.join(ANCHORS)}); grade it with "
            "grade.normalisation rank, minmax or zscore"
        ) from None


def full_ratio(name: str, default: float, overrides: Mapping[str, float]) -> float:
    """``F`` of indicator ``name``: ``overrides[name]`` where given, else ``default``.

    Raises:
        ValueError: ``F ≤ 1`` or not finite.
    """
    ratio = float(overrides.get(name, default))
    if not math.isfinite(ratio) or ratio <= 1.0:
        raise ValueError(f"anchor ratio of {name!r} must be finite and > 1, got {ratio:g}")
    return ratio


def log_scale(log_ratio: np.ndarray, ratio: float) -> np.ndarray:
    """``5 + 5·l/ln(F)`` clipped to 0–10 (``l = ±inf`` → 10 or 0; NaN stays NaN)."""
    with np.errstate(invalid="ignore"):
        return np.clip(5.0 + 5.0 * log_ratio / math.log(ratio), 0.0, 10.0)


def anchored(
    values: pd.Series, anchor: Anchor, ratio: float, reference: pd.Series | None = None
) -> pd.Series:
    """The 0–10 scores of one indicator's raw values by its anchor (see the module doc).

    Args:
        values: raw values (NaN = missing).
        anchor: the indicator's anchor.
        ratio: ``F``, the ratio that scores 10 (``ratio``, ``relative`` and ``log_relative``
            kinds; ignored by the others).
        reference: the domain reference of each value, aligned with ``values`` (the
            ``relative`` and ``log_relative`` kinds).

    Returns:
        Scores 0–10 with the index and name of ``values``; NaN where the value, or the
        ratio it needs, is missing or undefined.

    Raises:
        ValueError: an unknown kind, or a missing reference where the kind needs one.
    """
    if anchor.kind not in KINDS:
        raise ValueError(f"anchor {anchor.name!r}: unknown kind {anchor.kind!r}")
    x = values.to_numpy(dtype=float)
    if anchor.needs_reference:
        if reference is None:
            raise ValueError(f"anchor {anchor.name!r} needs its domain reference")
        r = reference.to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if anchor.kind == "absolute":
            out = np.clip(x, 0.0, 10.0)
        elif anchor.kind == "share":
            out = np.clip(10.0 * x, 0.0, 10.0)
        elif anchor.kind == "ratio":
            out = log_scale(_log(x), ratio)
        elif anchor.kind == "relative":
            out = log_scale(_log(x / r), ratio)
        else:
            out = log_scale(x - r, ratio)
    return pd.Series(out, index=values.index, name=values.name, dtype=float)


def _log(x: np.ndarray) -> np.ndarray:
    """``ln x``; 0 → −inf, a negative value or NaN (e.g. 0/0) → NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(x)
