"""Delphi feedback and convergence: how the panel's scores of each item spread, round by round.

A Delphi round shows every expert the panel's answers of the round before — here the median
and interquartile range (IQR) of each item's scores per dimension — and the rounds stop when
the scores have converged. Two spreads are used, both per (round, item, dimension):

* the IQR, ``q3 − q1`` (quartiles by linear interpolation, pandas' default): robust to one
  outlying expert; on a 0–10 scale an IQR of at most 2 points is the usual consensus rule,
  the 10-point form of "IQR ≤ 1 on a 5-point scale" (von der Gracht 2012, *Consensus
  measurement in Delphi studies*, Technol. Forecast. Soc. Change 79:1525–1536);
* the coefficient of variation ``cv = std / mean`` from :func:`techscreen.grade.expert.agreement`
  (≤ 0.5 is acceptable and lower is better in the Delphi literature; 0.3 is a stricter,
  common choice). A CV is large for items scored low even when the experts agree within a
  point (scores 1 and 2: CV 0.47), which is why it is paired with the IQR and configurable.

An item is ``not_converged`` when either spread is over its threshold, ``too_few`` when fewer
than ``min_experts`` experts scored it (no spread to judge), else ``converged``.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from techscreen.grade.expert import agreement

log = logging.getLogger(__name__)

CONVERGED, NOT_CONVERGED, TOO_FEW = "converged", "not_converged", "too_few"
_DISPERSION = (
    "round",
    "item",
    "dimension",
    "n",
    "median",
    "q1",
    "q3",
    "iqr",
    "mean",
    "std",
    "cv",
)


def dispersion(scores: pd.DataFrame) -> pd.DataFrame:
    """The spread of each item's scores per round and dimension.

    Args:
        scores: valid score rows (``round, expert, item, dimension, score``), as in
            :attr:`techscreen.grade.expert.ExpertScores.scores`.

    Returns:
        One row per (round, item, dimension): ``n`` scores, ``median``, quartiles ``q1`` and
        ``q3``, ``iqr = q3 − q1``, and ``mean``, ``std`` (ddof = 1) and ``cv`` as computed by
        :func:`techscreen.grade.expert.agreement` (NaN when ``n < 2`` or the mean is 0).
    """
    if scores.empty:
        return pd.DataFrame(columns=list(_DISPERSION))
    _, spread = agreement(scores)
    grouped = scores.groupby(["round", "item", "dimension"], sort=True)["score"]
    quartiles = grouped.quantile([0.25, 0.5, 0.75]).unstack()
    quartiles.columns = ["q1", "median", "q3"]
    quartiles["iqr"] = quartiles["q3"] - quartiles["q1"]
    out = spread.merge(quartiles.reset_index(), on=["round", "item", "dimension"], how="left")
    return out[list(_DISPERSION)]


def convergence(
    scores: pd.DataFrame, max_iqr: float, max_cv: float, min_experts: int
) -> pd.DataFrame:
    """Which items' scores have converged, per round and dimension.

    Args:
        scores: valid score rows, as for :func:`dispersion`.
        max_iqr: the largest IQR (in score points) of a converged item.
        max_cv: the largest coefficient of variation of a converged item (a NaN CV — mean 0 —
            is judged by the IQR alone).
        min_experts: the fewest scores whose spread is judged.

    Returns:
        :func:`dispersion`'s rows with ``status`` (``converged``, ``not_converged``,
        ``too_few``) and ``why`` (which threshold was passed, e.g. ``iqr 3 > 2``; empty when
        converged).
    """
    out = dispersion(scores)
    few = out["n"] < min_experts
    wide = out["iqr"] > max_iqr
    varied = out["cv"].fillna(0.0) > max_cv
    out["status"] = np.select(
        [few, wide | varied], [TOO_FEW, NOT_CONVERGED], default=CONVERGED
    ).astype(object)
    reasons = []
    for r in out.itertuples(index=False):
        if r.n < min_experts:
            reasons.append(f"n {r.n} < {min_experts}")
            continue
        parts = [f"iqr {r.iqr:g} > {max_iqr:g}"] if r.iqr > max_iqr else []
        if not np.isnan(r.cv) and r.cv > max_cv:
            parts.append(f"cv {r.cv:.2f} > {max_cv:g}")
        reasons.append("; ".join(parts))
    out["why"] = pd.Series(reasons, index=out.index, dtype=object)
    counts = out["status"].value_counts().to_dict()
    log.info("convergence (iqr ≤ %g, cv ≤ %g, n ≥ %d): %s", max_iqr, max_cv, min_experts, counts)
    return out


def feedback(scores: pd.DataFrame, round_: int) -> pd.DataFrame:
    """The panel's answers of one round, to show in the next: median and IQR per item.

    Args:
        scores: valid score rows of any rounds.
        round_: the round whose scores are fed back (the next questionnaire's round − 1).

    Returns:
        ``item, dimension, n, median, iqr`` of that round.
    """
    rows = dispersion(scores[scores["round"] == round_])
    return rows[["item", "dimension", "n", "median", "iqr"]].reset_index(drop=True)
