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
    frame: DataFrame, max_rows: int, seed: int = 0, order_by: str | None = None
) -> pd.DataFrame:
    """At most ``max_rows`` rows of ``frame`` on the driver, chosen deterministically by ``seed``.

    Rows are ranked by a hash of ``order_by`` (or of the whole row) with the seed, and the
    first ``max_rows`` are taken: the same input gives the same sample whatever its
    partitioning.
    """
    key = F.col(order_by) if order_by else F.to_json(F.struct(*frame.columns))
    ranked = frame.withColumn("_rank", F.xxhash64(F.lit(seed), key)).orderBy(
        "_rank", *frame.columns[:1]
    )
    return ranked.limit(max_rows).drop("_rank").toPandas()


def sample_groups_to_pandas(
    frame: DataFrame, group: str, limits: dict[str, int], seed: int, order_by: str
) -> pd.DataFrame:
    """At most ``limits[g]`` rows of each group ``g`` on the driver, chosen as above.

    Groups missing from ``limits`` contribute nothing. The rows come back ordered by group,
    then by rank, so a prefix of a group's rows is itself a random sample of it.
    """
    if not limits:
        return frame.limit(0).toPandas()
    wanted = F.create_map(*[F.lit(x) for kv in sorted(limits.items()) for x in kv])
    ranked = frame.withColumn("_rank", F.xxhash64(F.lit(seed), F.col(order_by))).withColumn(
        "_n",
        F.row_number().over(Window.partitionBy(group).orderBy("_rank", order_by)),
    )
    chosen = ranked.where(F.col("_n") <= F.coalesce(wanted[F.col(group)], F.lit(0)))
    return chosen.orderBy(group, "_n").drop("_rank", "_n").toPandas()
