"""Scores 0–10, tiers, expert fusion and weight sensitivity of technology nodes (SMSSEV "V").

The chain, per item (a technology node of one domain):

1. every raw indicator is put on 0–10: by default (``anchored``) against its absolute
   anchor (:mod:`techscreen.grade.anchors`: a share ×10, a ratio on a log scale around
   parity, a quantity against its domain's reference column ``ref_<indicator>``), or
   **within its domain** by :func:`normalise` (``rank``, ``minmax`` or ``zscore``; higher
   raw value = higher score), except the indicators in :data:`ABSOLUTE`, which are 0–10 by
   construction and only clipped; a missing raw value gets the neutral 5 and its indicator
   name in the row's ``neutral`` list;
2. each dimension (necessity, feasibility, impact) is the weighted mean of its indicators'
   scores, ``D_k = Σ_i w_ki·s_i`` with :func:`indicator_weights_of` (summing to 1);
3. ``patent_score = Σ_k W_k·D_k`` with :func:`dimension_weights` (AHP or configured);
4. ``final = α·expert + (1−α)·patent`` where an expert scored the item (:func:`fuse`);
5. :func:`tier`: Tier 1 above ``tier1_above``, Tier 3 below ``tier3_below``, Tier 2 between,
   both thresholds inclusive in Tier 2;
6. :func:`sensitivity`: Monte Carlo over the weights and α, giving each item's probability
   of each tier;
7. :func:`to_next_tier`: the smallest change of one dimension score that moves the item
   across the nearest threshold it can cross.

Everything is numpy/pandas on the driver: the grading tables hold one row per technology
node (thousands at most), so no Spark is needed here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from techscreen.config import DIMENSIONS, GradeSettings
from techscreen.grade import anchors

ABSOLUTE: set[str] = {a.name for a in anchors.ANCHORS.values() if a.kind == "absolute"}
"""Indicators already on 0–10 by construction: clipped to 0–10, never re-normalised."""

NEUTRAL = 5.0
"""The score of a missing indicator value, of a lone item, and of a constant indicator."""

MAX_CR = 0.1
"""Saaty's rule: a pairwise comparison matrix with consistency ratio ≥ 0.1 is rejected."""

RANDOM_INDEX = (0.0, 0.0, 0.58, 0.90, 1.12, 1.24, 1.32, 1.41, 1.45, 1.49)
"""Saaty's random consistency index RI for n = 1..10."""

METHODS = ("rank", "minmax", "zscore")
"""The within-domain normalisations of :func:`normalise`."""
ANCHORED = "anchored"
"""The normalisation by each indicator's absolute anchor (:mod:`techscreen.grade.anchors`)."""
TIERS = ("Tier 1", "Tier 2", "Tier 3")
SENSITIVITY_COLUMNS = ("p_tier1", "p_tier2", "p_tier3", "score_p05", "score_p95")
NEXT_TIER_COLUMNS = ("next_tier", "next_tier_dimensions", "next_tier_change")
KEYS = ("domain", "item")

_RECIPROCAL_TOL = 1e-6
_CELLS_PER_BLOCK = 4_000_000  # items × draws held at once in sensitivity (≈32 MB per array)


def normalise(values: pd.Series, method: str) -> pd.Series:
    """Put one indicator of one domain on 0–10; higher raw value = higher score.

    Indicators where a lower raw value is better must be turned around by the caller
    (e.g. negated) before this. Over the ``n`` non-missing values ``x``:

    * ``rank``: ``(r − 1)/(n − 1)·10`` with ``r`` the average rank (ties share the mean of
      their ranks), i.e. the percentile of the item in its domain; ``n = 1`` gives 5;
    * ``minmax``: ``(x − min)/(max − min)·10``; all values equal gives 5;
    * ``zscore``: ``(clip((x − μ)/σ, −3, 3) + 3)/6·10`` with ``μ``, ``σ`` the mean and the
      population standard deviation (``ddof = 0``, as ``scipy.stats.zscore``); ``σ = 0``
      gives 5.

    ``±inf`` are extreme values, not errors: ``rank`` orders them like any value; ``minmax``
    and ``zscore`` take min, max, ``μ`` and ``σ`` over the finite values and give ``+inf``
    10 and ``−inf`` 0. NaN stays NaN: the caller substitutes the neutral 5 and flags it.

    Args:
        values: raw values of one indicator for the items of one domain.
        method: ``"rank"``, ``"minmax"`` or ``"zscore"``.

    Returns:
        Scores 0–10 (float) with the index and name of ``values``.

    Raises:
        ValueError: unknown method or non-numeric values.
    """
    if method not in METHODS:
        raise ValueError(f"unknown normalisation {method!r}; expected one of {', '.join(METHODS)}")
    x = pd.to_numeric(values, errors="raise").astype(float)
    out = pd.Series(np.nan, index=x.index, name=values.name, dtype=float)
    present = x.notna().to_numpy()
    n = int(present.sum())
    if n == 0:
        return out
    if method == "rank":
        if n == 1:
            out[present] = NEUTRAL
        else:
            out[present] = (x[present].rank(method="average") - 1.0) / (n - 1) * 10.0
        return out
    arr = x.to_numpy()
    finite = np.isfinite(arr)
    result = np.full(arr.shape, np.nan)
    if finite.any():
        f = arr[finite]
        if method == "minmax":
            span = f.max() - f.min()
            result[finite] = NEUTRAL if span == 0 else (f - f.min()) / span * 10.0
        else:
            sigma = f.std(ddof=0)
            if sigma == 0:
                result[finite] = NEUTRAL
            else:
                z = np.clip((f - f.mean()) / sigma, -3.0, 3.0)
                result[finite] = (z + 3.0) / 6.0 * 10.0
    result[arr == np.inf] = 10.0
    result[arr == -np.inf] = 0.0
    out[:] = result
    return out


def ahp_weights(matrix: Sequence[Sequence[float]] | np.ndarray) -> tuple[np.ndarray, float]:
    """Weights and consistency ratio of a Saaty pairwise comparison matrix.

    ``a_ij`` says how much more important criterion ``i`` is than ``j``. The weights are the
    principal right eigenvector ``A·w = λ_max·w`` normalised to ``Σ w = 1``; the consistency
    index is ``CI = (λ_max − n)/(n − 1)`` and the ratio ``CR = CI/RI(n)`` with Saaty's random
    index :data:`RANDOM_INDEX` (0, 0, 0.58, 0.90, 1.12, 1.24, 1.32, 1.41, 1.45, 1.49 for
    n = 1..10). ``n ≤ 2`` is always consistent: ``CR = 0``.

    Args:
        matrix: an ``n × n`` matrix, ``1 ≤ n ≤ 10``, positive, ``a_ii = 1`` and
            ``a_ji = 1/a_ij`` (within 1e-6: write 1/3 as 0.3333333, not 0.333).

    Returns:
        ``(weights, CR)``.

    Raises:
        ValueError: a malformed matrix (saying what is wrong), or ``CR ≥ 0.1`` (naming it).
    """
    a = np.asarray(matrix, dtype=float)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] == 0:
        raise ValueError(f"AHP matrix must be square and non-empty, got shape {a.shape}")
    n = a.shape[0]
    if n > len(RANDOM_INDEX):
        raise ValueError(f"AHP matrix is {n}×{n}; Saaty's random index is tabled up to 10")
    if not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise ValueError("AHP matrix entries must be positive and finite")
    if not np.allclose(np.diag(a), 1.0, rtol=0.0, atol=_RECIPROCAL_TOL):
        raise ValueError(f"AHP matrix diagonal must be 1, got {np.diag(a).tolist()}")
    bad = np.argwhere(np.abs(a.T - 1.0 / a) > _RECIPROCAL_TOL)
    if bad.size:
        i, j = (int(v) for v in bad[0])
        raise ValueError(
            f"AHP matrix is not reciprocal: a[{j}][{i}] = {a[j, i]:g} but 1/a[{i}][{j}] = "
            f"{1.0 / a[i, j]:g} (within {_RECIPROCAL_TOL:g}; write 1/3 as 0.3333333)"
        )
    eigenvalues, eigenvectors = np.linalg.eig(a)
    k = int(np.argmax(eigenvalues.real))
    lam = float(eigenvalues[k].real)
    # Perron–Frobenius: the principal eigenvector of a positive matrix has one sign.
    w = np.abs(eigenvectors[:, k].real)
    w = w / w.sum()
    if n <= 2:
        return w, 0.0
    cr = max(0.0, (lam - n) / (n - 1) / RANDOM_INDEX[n - 1])
    if cr >= MAX_CR:
        raise ValueError(
            f"AHP matrix is inconsistent: consistency ratio CR = {cr:.3f} ≥ {MAX_CR} "
            f"(λ_max = {lam:.4f}, n = {n}); revise the pairwise comparisons"
        )
    return w, cr


def _check_names(names: Sequence[str], what: str) -> None:
    unknown = sorted(set(names) - set(DIMENSIONS))
    missing = [d for d in DIMENSIONS if d not in names]
    if unknown or missing:
        raise ValueError(
            f"grade.{what}: dimensions must be exactly {', '.join(DIMENSIONS)}"
            + (f"; unknown: {unknown}" if unknown else "")
            + (f"; missing: {missing}" if missing else "")
        )


def _normalised(weights: Mapping[str, float], what: str) -> dict[str, float]:
    values = np.array(list(weights.values()), dtype=float)
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(f"grade.{what}: weights must be finite and ≥ 0, got {dict(weights)}")
    total = values.sum()
    if total <= 0:
        raise ValueError(f"grade.{what}: weights are all zero")
    return {name: float(v / total) for name, v in zip(weights, values, strict=True)}


def dimension_weights(settings: GradeSettings) -> dict[str, float]:
    """The weights ``W_k`` of necessity, feasibility and impact, summing to 1.

    From ``settings.ahp`` when it is given (a 3×3 matrix in :data:`DIMENSIONS` order, see
    :func:`ahp_weights`; CR ≥ 0.1 is an error), else ``W_k = d_k / Σ_j d_j`` with ``d`` the
    configured ``dimension_weights``.

    Raises:
        ValueError: unknown or missing dimension names, negative or all-zero weights, a
            malformed or inconsistent AHP matrix.
    """
    _check_names(list(settings.dimension_weights), "dimension_weights")
    if settings.ahp:
        n = len(DIMENSIONS)
        if len(settings.ahp) != n or any(len(row) != n for row in settings.ahp):
            raise ValueError(f"grade.ahp must be {n}×{n} in the order {', '.join(DIMENSIONS)}")
        w, _ = ahp_weights(settings.ahp)
        return {d: float(v) for d, v in zip(DIMENSIONS, w, strict=True)}
    weights = _normalised(settings.dimension_weights, "dimension_weights")
    return {d: weights[d] for d in DIMENSIONS}


def indicator_weights_of(settings: GradeSettings, dimension: str) -> dict[str, float]:
    """The weights ``w_ki`` of the indicators of one dimension: ``w_ki = v_ki / Σ_j v_kj``.

    A zero weight leaves its indicator out (its raw column is then not required).

    Raises:
        ValueError: unknown or missing dimension names, negative or all-zero weights.
    """
    _check_names(list(settings.indicator_weights), "indicator_weights")
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}; expected one of {DIMENSIONS}")
    weights = settings.indicator_weights[dimension]
    if not weights:
        raise ValueError(f"grade.indicator_weights.{dimension}: no indicators")
    return _normalised(weights, f"indicator_weights.{dimension}")


def _all_weights(settings: GradeSettings) -> dict[str, dict[str, float]]:
    return {d: indicator_weights_of(settings, d) for d in DIMENSIONS}


def _unique(names: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(names))


def _numeric(raw: pd.Series, name: str) -> pd.Series:
    try:
        return pd.to_numeric(raw, errors="raise").astype(float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"indicator column {name!r} is not numeric: {exc}") from None


def _indicator_score(
    table: pd.DataFrame, domains: pd.Series, name: str, settings: GradeSettings
) -> pd.Series:
    """0–10 scores of indicator ``name`` (NaN where missing) by ``settings.normalisation``."""
    x = _numeric(table[name], name)
    if settings.normalisation == ANCHORED:
        anchor = anchors.anchor_of(name)
        reference = None
        if anchor.needs_reference:
            column = anchors.reference_column(name)
            if column not in table.columns:
                raise ValueError(
                    f"indicators table lacks the column {column!r}: the anchored score of "
                    f"{name!r} compares it with its domain's reference"
                )
            reference = _numeric(table[column], column)
        ratio = anchors.full_ratio(name, settings.anchor_ratio, settings.anchor_ratios)
        return anchors.anchored(x, anchor, ratio, reference)
    if name in ABSOLUTE:
        return x.clip(0.0, 10.0)
    if x.empty:
        return x
    return x.groupby(domains, sort=False, dropna=False).transform(
        lambda s: normalise(s, settings.normalisation)
    )


def score(indicators: pd.DataFrame, settings: GradeSettings) -> pd.DataFrame:
    """Scores 0–10 of each item: per indicator, per dimension, and the patent score.

    For indicator ``i`` with raw value ``x``: with ``normalisation: anchored``,
    ``s_i = anchored(x)`` by the indicator's anchor (:func:`techscreen.grade.anchors.anchored`,
    ``F`` from ``anchor_ratio`` / ``anchor_ratios``); else ``s_i = normalise(x within the
    item's domain)``, or ``clip(x, 0, 10)`` for the indicators in :data:`ABSOLUTE`. A
    missing ``x`` (or a missing reference, or a ratio that cannot be formed) gets
    ``s_i = 5`` and ``i`` in the row's ``neutral`` list. Then ``D_k = Σ_i w_ki·s_i`` for each
    dimension ``k`` (:func:`indicator_weights_of`) and ``patent_score = Σ_k W_k·D_k``
    (:func:`dimension_weights`).

    Args:
        indicators: one row per item with ``domain``, ``item`` and one raw column per
            indicator named in ``settings.indicator_weights`` (NaN = missing), plus, when
            anchored, the reference column ``ref_<indicator>`` of each indicator anchored on
            its domain. An indicator of weight 0 may lack its column; other columns pass
            through.
        settings: the grade settings (normalisation and weights).

    Returns:
        The input rows (same index and order) plus ``score.<indicator>`` for every named
        indicator that has a column, ``neutral`` (list of indicator names), ``necessity``,
        ``feasibility``, ``impact`` and ``patent_score``.

    Raises:
        ValueError: no ``domain``/``item`` column, a weighted indicator without a column (or,
            anchored, without an anchor or its reference column), a non-numeric indicator
            column, an anchor ratio ≤ 1 or for an indicator without an anchor, or invalid
            weights.
    """
    weights = _all_weights(settings)
    dim_w = dimension_weights(settings)
    absent = [k for k in KEYS if k not in indicators.columns]
    if absent:
        raise ValueError(f"indicators table lacks the column(s) {absent}")
    named = _unique([i for d in DIMENSIONS for i in weights[d]])
    weighted = _unique([i for d in DIMENSIONS for i, w in weights[d].items() if w > 0])
    missing = [i for i in weighted if i not in indicators.columns]
    if missing:
        raise ValueError(
            f"indicators table lacks the column(s) {missing} weighted in "
            "grade.indicator_weights (set a weight to 0 to leave an indicator out)"
        )
    present = [i for i in named if i in indicators.columns]

    out = indicators.copy()
    unknown = sorted(set(settings.anchor_ratios) - set(anchors.ANCHORS))
    if unknown:
        raise ValueError(f"grade.anchor_ratios names indicators without an anchor: {unknown}")
    table = indicators.reset_index(drop=True)
    domains = table["domain"]
    flags = np.zeros((len(out), len(present)), dtype=bool)
    for j, name in enumerate(present):
        s = _indicator_score(table, domains, name, settings)
        flags[:, j] = s.isna().to_numpy()
        out[f"score.{name}"] = s.fillna(NEUTRAL).to_numpy(dtype=float)
    names = np.array(present, dtype=object)
    out["neutral"] = [list(names[row]) for row in flags]
    patent = np.zeros(len(out))
    for d in DIMENSIONS:
        dim = np.zeros(len(out))
        for name, w in weights[d].items():
            if w > 0:
                dim += w * out[f"score.{name}"].to_numpy()
        out[d] = dim
        patent += dim_w[d] * dim
    out["patent_score"] = patent
    return out


def _thresholds(settings: GradeSettings) -> tuple[float, float]:
    hi, lo = float(settings.tier1_above), float(settings.tier3_below)
    if not hi > lo:
        raise ValueError(f"grade.tier1_above ({hi:g}) must be greater than tier3_below ({lo:g})")
    return hi, lo


def _tier_codes(values: np.ndarray, hi: float, lo: float) -> np.ndarray:
    # 0 = Tier 1, 1 = Tier 2, 2 = Tier 3; both thresholds themselves are Tier 2.
    return np.where(values > hi, 0, np.where(values < lo, 2, 1))


def tier(score: float | np.ndarray, settings: GradeSettings) -> str | np.ndarray:
    """The tier of a score, with both thresholds inclusive in Tier 2.

    "Tier 1" if ``score > tier1_above``, "Tier 3" if ``score < tier3_below``, else "Tier 2"
    (``tier3_below ≤ score ≤ tier1_above``). Comparisons are exact, with no tolerance: with
    the defaults 8.5 is Tier 2 and 8.5001 Tier 1, 6.5 is Tier 2 and 6.4999 Tier 3.

    Args:
        score: one score or an array of scores.
        settings: the grade settings (thresholds).

    Returns:
        A string for a scalar, else an array of strings of the same shape.

    Raises:
        ValueError: ``tier1_above ≤ tier3_below``, or a NaN score.
    """
    hi, lo = _thresholds(settings)
    values = np.asarray(score, dtype=float)
    if np.isnan(values).any():
        raise ValueError("cannot tier a NaN score")
    labels = np.array(TIERS)[_tier_codes(values, hi, lo)]
    return str(labels) if values.ndim == 0 else labels


def fuse(patent: np.ndarray, expert: np.ndarray, alpha: float | np.ndarray) -> np.ndarray:
    """Final score: ``α·expert + (1 − α)·patent`` where an expert scored the item, else ``patent``.

    Args:
        patent: patent scores 0–10.
        expert: expert scores 0–10, NaN where no expert scored the item.
        alpha: the expert's share, in [0, 1]; a scalar or anything broadcasting with the
            scores (e.g. one α per Monte Carlo draw).

    Raises:
        ValueError: α outside [0, 1], or an expert score outside 0–10.
    """
    p = np.asarray(patent, dtype=float)
    e = np.asarray(expert, dtype=float)
    a = np.asarray(alpha, dtype=float)
    if np.any(np.isnan(a)) or np.any((a < 0) | (a > 1)):
        raise ValueError(f"expert weight alpha must be in [0, 1], got {alpha}")
    scored = ~np.isnan(e)
    if np.any((e[scored] < 0) | (e[scored] > 10)):
        raise ValueError("expert scores must be within 0–10")
    return np.where(scored, a * np.where(scored, e, 0.0) + (1.0 - a) * p, p)


def _dirichlet(
    rng: np.random.Generator, base: np.ndarray, concentration: float, runs: int
) -> np.ndarray:
    """``runs`` draws ~ Dirichlet(concentration·base) over the positive entries of ``base``."""
    out = np.zeros((runs, base.size))
    positive = base > 0
    if np.isinf(concentration):
        out[:] = base
    else:
        out[:, positive] = rng.dirichlet(concentration * base[positive], size=runs)
    return out


def sensitivity(
    scored: pd.DataFrame, expert: np.ndarray | None, settings: GradeSettings
) -> pd.DataFrame:
    """Monte Carlo over the weights and α: each item's probability of each tier.

    Each of ``R = sensitivity.runs`` draws takes dimension weights
    ``W ~ Dirichlet(c·W₀)`` around the configured ones (:func:`dimension_weights`), the
    indicator weights of each dimension likewise ``w_k ~ Dirichlet(c·w_k0)``
    (``c = sensitivity.concentration``; larger = tighter, mean = the configured weights;
    zero-weight entries stay 0), and ``α ~ U[α₀ − δ, α₀ + δ]`` clipped to [0, 1]
    (``δ = alpha_spread``). The patent score is recomputed from the ``score.<indicator>``
    columns (``Σ_k W_k Σ_i w_ki s_i``; the normalisation does not depend on weights), fused
    with ``expert`` (:func:`fuse`) and tiered (:func:`tier`). Draws are taken once, in a fixed
    order, from ``numpy.random.default_rng(sensitivity.seed)``: the same seed gives the same
    table.

    Args:
        scored: the output of :func:`score` (at least the ``score.<indicator>`` columns of
            every weighted indicator).
        expert: expert scores aligned with the rows, NaN where none; ``None`` = no experts.
        settings: the grade settings.

    Returns:
        One row per item (same index; ``domain`` and ``item`` when ``scored`` has them) with
        ``p_tier1``, ``p_tier2``, ``p_tier3`` (summing to 1), ``score_p05`` and ``score_p95``
        (5th and 95th percentiles of the final score over the draws, linear interpolation)
        and ``near_threshold``: the final score at the configured weights and α lies within
        ``margin`` of either threshold (``|final − t| ≤ margin``).

    Raises:
        ValueError: a missing or NaN score column, an expert array of the wrong length, or
            invalid settings.
    """
    cfg = settings.sensitivity
    hi, lo = _thresholds(settings)
    weights = _all_weights(settings)
    dim_w = dimension_weights(settings)
    n = len(scored)
    expert_arr = np.full(n, np.nan) if expert is None else np.asarray(expert, dtype=float)
    if expert_arr.shape != (n,):
        raise ValueError(f"expert scores have shape {expert_arr.shape}, expected ({n},)")
    columns: dict[str, np.ndarray] = {}
    for d in DIMENSIONS:
        for name, w in weights[d].items():
            col = f"score.{name}"
            if w > 0 and name not in columns:
                if col not in scored.columns:
                    raise ValueError(f"scored table lacks the column {col!r}")
                values = scored[col].to_numpy(dtype=float)
                if np.isnan(values).any():
                    raise ValueError(f"column {col!r} has NaN scores")
                columns[name] = values

    rng = np.random.default_rng(cfg.seed)
    runs = cfg.runs
    base_dim = np.array([dim_w[d] for d in DIMENSIONS])
    draws_dim = _dirichlet(rng, base_dim, cfg.concentration, runs)  # runs × 3
    # One (items × indicators) block and one (runs × indicators) weight draw per dimension.
    blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for d in DIMENSIONS:
        names = list(weights[d])
        base = np.array([weights[d][i] for i in names])
        draws = _dirichlet(rng, base, cfg.concentration, runs)
        keep = base > 0
        s = np.column_stack([columns[i] for i, k in zip(names, keep, strict=True) if k])
        blocks.append((s, draws[:, keep], base[keep]))
    alpha0 = settings.experts.alpha
    spread = cfg.alpha_spread
    alphas = np.clip(rng.uniform(alpha0 - spread, alpha0 + spread, size=runs), 0.0, 1.0)

    base_patent = sum(
        w_dim * (s @ base) for w_dim, (s, _, base) in zip(base_dim, blocks, strict=True)
    )
    base_final = fuse(np.asarray(base_patent, dtype=float) * np.ones(n), expert_arr, alpha0)

    counts = np.zeros((n, 3))
    p05 = np.zeros(n)
    p95 = np.zeros(n)
    step = max(1, _CELLS_PER_BLOCK // runs)
    for start in range(0, n, step):  # bounded memory; each block is fully vectorised
        rows = slice(start, min(n, start + step))
        patent = np.zeros((rows.stop - rows.start, runs))
        for k, (s, draws, _) in enumerate(blocks):
            patent += (s[rows] @ draws.T) * draws_dim[:, k]
        final = fuse(patent, expert_arr[rows, None], alphas[None, :])
        codes = _tier_codes(final, hi, lo)
        for t in range(3):
            counts[rows, t] = (codes == t).sum(axis=1)
        p05[rows], p95[rows] = np.percentile(final, [5.0, 95.0], axis=1)

    out = pd.DataFrame(index=scored.index)
    for key in KEYS:
        if key in scored.columns:
            out[key] = scored[key]
    probs = counts / runs
    for t, col in enumerate(SENSITIVITY_COLUMNS[:3]):
        out[col] = probs[:, t]
    out["score_p05"] = p05
    out["score_p95"] = p95
    near = (np.abs(base_final - hi) <= cfg.margin) | (np.abs(base_final - lo) <= cfg.margin)
    out["near_threshold"] = near.astype(bool)
    return out


def to_next_tier(
    scored: pd.DataFrame, expert: np.ndarray | None, settings: GradeSettings
) -> pd.DataFrame:
    """What moves each item across a tier threshold: the smallest change of one dimension.

    The final score moves with dimension ``k`` at the rate ``c_k = W_k``
    (:func:`dimension_weights`), or ``(1 − α)·W_k`` where an expert scored the item
    (:func:`fuse`), so reaching a threshold ``t`` from the final score ``f`` takes
    ``Δ_k = (t − f)/c_k``. The candidates are the thresholds next to the item's tier — up
    from Tier 3 to ``tier3_below``, up from Tier 2 to ``tier1_above`` and down to
    ``tier3_below``, down from Tier 1 to ``tier1_above`` — for every dimension whose score
    stays within 0–10 after the change (strictly inside where the crossing itself is strict:
    Tier 1 needs ``f > tier1_above``, Tier 3 ``f < tier3_below``). The smallest ``|Δ_k|``
    wins; every dimension that reaches it (equal weights: all that have the room) is named.
    ``Δ`` brings the final score *onto* the threshold: where the crossing is strict, any
    change beyond it crosses.

    Args:
        scored: the output of :func:`score` (the dimension columns).
        expert: expert scores aligned with the rows, NaN where none; ``None`` = no experts.
        settings: the grade settings (weights, α, thresholds).

    Returns:
        One row per item (same index) with ``next_tier`` (the tier reached or ``None``),
        ``next_tier_dimensions`` (list of the dimensions, in :data:`DIMENSIONS` order, that
        cross with that change; empty where none) and ``next_tier_change`` (signed ``Δ`` in
        points of a dimension's 0–10 score, NaN where none): no single dimension can cross a
        threshold, or the item has no dimension scores.

    Raises:
        ValueError: an expert array of the wrong length, or invalid settings.
    """
    hi, lo = _thresholds(settings)
    dim_w = dimension_weights(settings)
    alpha = float(settings.experts.alpha)
    n = len(scored)
    expert_arr = np.full(n, np.nan) if expert is None else np.asarray(expert, dtype=float)
    if expert_arr.shape != (n,):
        raise ValueError(f"expert scores have shape {expert_arr.shape}, expected ({n},)")
    weights = np.array([dim_w[d] for d in DIMENSIONS])
    dims = np.column_stack([scored[d].to_numpy(dtype=float) for d in DIMENSIONS])
    dims = dims.reshape(n, len(DIMENSIONS))
    final = fuse(dims @ weights, expert_arr, alpha)
    rates = np.where(np.isnan(expert_arr), 1.0, 1.0 - alpha)[:, None] * weights[None, :]
    codes = _tier_codes(np.nan_to_num(final, nan=0.0), hi, lo)
    # Per current tier code: (threshold, tier code reached, crossing is strict).
    moves = {0: [(hi, 1, False)], 1: [(hi, 0, True), (lo, 2, True)], 2: [(lo, 1, False)]}
    best = np.full(n, np.inf)
    reached = np.full(n, -1)
    change = np.full(n, np.nan)
    crossing = np.zeros((n, len(DIMENSIONS)), dtype=bool)
    rows = np.arange(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        for code, candidates in moves.items():
            mine = (codes == code) & ~np.isnan(final)
            for target, to, strict in candidates:
                delta = (target - final[:, None]) / rates  # items × dimensions
                after = dims + delta
                inside = (after > 0) & (after < 10) if strict else (after >= 0) & (after <= 10)
                ok = mine[:, None] & (rates > 0) & inside & np.isfinite(delta)
                size = np.where(ok, np.abs(delta), np.inf)
                smallest = size.min(axis=1)
                better = smallest < best
                best[better] = smallest[better]
                reached[better] = to
                change[better] = delta[rows, np.argmin(size, axis=1)][better]
                ties = np.isclose(size, smallest[:, None], rtol=1e-9, atol=1e-12) & ok
                crossing[better] = ties[better]
    found = reached >= 0
    names = np.array(DIMENSIONS, dtype=object)
    out = pd.DataFrame(index=scored.index)
    out["next_tier"] = [TIERS[t] if f else None for t, f in zip(reached, found, strict=True)]
    out["next_tier_dimensions"] = [list(names[c]) for c in crossing]
    out["next_tier_change"] = np.where(found, change, np.nan)
    return out
