"""The one Spark → driver hand-off: an explicit, size-guarded sample of a DataFrame.

Driver-side libraries (FAISS, HDBSCAN, numpy neighbour search) need data on the driver;
everything that crosses goes through :func:`sample_to_pandas`, which never collects more rows
than the caller names, so no stage can quietly pull a patent-level table.
"""

from __future__ import annotations

import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def sample_to_pandas(
    frame: DataFrame,
    max_rows: int,
    seed: int = 0,
    order_by: str | None = None,
    size: int | None = None,
) -> pd.DataFrame:
    """At most ``max_rows`` rows of ``frame`` on the driver, chosen deterministically by ``seed``.

    Rows are ranked by a hash of ``order_by`` (or of the whole row) with the seed, and the
    first ``max_rows`` are taken: the same input gives the same sample whatever its
    partitioning. ``size`` (about how many rows ``frame`` has) lets the rows be cut by their
    rank first, as in :func:`sample_groups_to_pandas`: the same sample, less to join and sort.
    """
    key = F.col(order_by) if order_by else F.to_json(F.struct(*frame.columns))
    ranked = frame.withColumn("_rank", F.xxhash64(F.lit(seed), key))

    def first(share: float) -> pd.DataFrame:
        cut = ranked.where(_uniform() < share) if share < 1.0 else ranked
        return cut.orderBy("_rank", *frame.columns[:1]).limit(max_rows).drop("_rank").toPandas()

    share = _share(max_rows, size or 0)
    if share < 1.0:
        sample = first(share)
        if len(sample) >= min(max_rows, size or 0):
            return sample
    return first(1.0)


def _uniform() -> F.Column:
    """The ``_rank`` hash (signed 64-bit) as a share of its range: uniform on [0, 1)."""
    return F.col("_rank").cast("double") / float(2**64) + 0.5


def sample_groups_to_pandas(
    frame: DataFrame,
    group: str,
    limits: dict[str, int],
    seed: int,
    order_by: str,
    sizes: dict[str, int] | None = None,
) -> pd.DataFrame:
    """At most ``limits[g]`` rows of each group ``g`` on the driver, chosen as above.

    Groups missing from ``limits`` contribute nothing. The rows come back ordered by group,
    then by rank, so a prefix of a group's rows is itself a random sample of it.

    ``sizes`` (rows per group, when the caller has counted them) lets a large group be cut
    to a little over its limit by its rank before anything is sorted: the rank is a uniform
    hash, so the rows below a threshold are a prefix of the rank order, and the sample is
    the same as without ``sizes``. A group the cut left short (a few standard deviations
    away; or a size that was wrong) is sampled again without it.
    """
    if not limits:
        return frame.limit(0).toPandas()
    ranked = frame.withColumn("_rank", F.xxhash64(F.lit(seed), F.col(order_by)))
    if sizes:
        shares = {g: _share(limit, sizes.get(g, 0)) for g, limit in limits.items()}
        cut = {g: share for g, share in shares.items() if share < 1.0}  # so g is in sizes
        if cut:
            sample = _first_by_rank(ranked, group, limits, order_by, cut)
            got = sample.groupby(group).size().to_dict() if len(sample) else {}
            short = {g: limits[g] for g in cut if got.get(g, 0) < min(limits[g], sizes[g])}
            if not short:
                return sample
            kept = sample[~sample[group].isin(list(short))]
            again = _first_by_rank(ranked, group, short, order_by, {})
            both = pd.concat([kept, again], ignore_index=True)
            return both.sort_values([group], kind="stable", ignore_index=True)
    return _first_by_rank(ranked, group, limits, order_by, {})


def _share(limit: int, size: int) -> float:
    """The share of a group of ``size`` rows to keep so that ``limit`` pass, with margin."""
    if size <= 0:
        return 1.0
    return min(1.0, (limit + 6 * limit**0.5 + 50) / size)


def _first_by_rank(
    ranked: DataFrame, group: str, limits: dict[str, int], order_by: str, cut: dict[str, float]
) -> pd.DataFrame:
    wanted = F.create_map(*[F.lit(x) for kv in sorted(limits.items()) for x in kv])
    ranked = ranked.where(wanted[F.col(group)].isNotNull())
    if cut:
        share = F.create_map(*[F.lit(x) for kv in sorted(cut.items()) for x in kv])
        ranked = ranked.where(_uniform() < F.coalesce(share[F.col(group)], F.lit(1.0)))
    numbered = ranked.withColumn(
        "_n", F.row_number().over(Window.partitionBy(group).orderBy("_rank", order_by))
    )
    chosen = numbered.where(F.col("_n") <= F.coalesce(wanted[F.col(group)], F.lit(0)))
    return chosen.orderBy(group, "_n").drop("_rank", "_n").toPandas()
