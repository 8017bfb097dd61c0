"""Raw indicators per technology node: necessity, feasibility, impact (before 0–10 scoring).

Patent-level work is Spark aggregations to node level (node × country, node × year,
node × subclass counts and per-node means); everything after is node-level pandas. Every
indicator is "higher = more": scoring (:mod:`techscreen.grade.scoring`) normalises them
within the domain. A node whose data cannot give an indicator gets NaN, which scoring turns
into the neutral 5 and lists in the item's ``neutral`` column.

**Country of a patent**: its applicants' countries (each of ``k`` countries counts ``1/k``),
else — where the source names none — the office that published it (``jurisdiction``); the
share of a node's patents counted the second way is ``countries_from_office``.

Necessity
    * ``centrality`` — mean within-domain percentile (0–1) of the node's betweenness,
      PageRank, eigenvector, closeness, effective size and (reversed) Burt's constraint in
      the technology-node network of the graph stage;
    * ``growth`` — ``ln((recent + 1) / (before + 1))``: filings in the domain's last
      ``grade.recent_years`` filing years vs the same number of years before them;
    * ``strategic_weight`` — the domain's weight from ``grade.strategic_weights`` (0–10,
      5 when not set), used as is.

Feasibility (does China hold an advantage others cannot easily substitute)
    * ``cn_share`` — CN's share of the node's patents;
    * ``cn_rta`` — revealed technological advantage: CN's share in the node ÷ CN's share in
      the domain (NaN when CN has no patent in the domain);
    * ``cn_lead`` — ``(CN + 1) / (strongest other country + 1)`` in patents;
    * ``substitutes`` — Herfindahl index of the other countries' shares: concentrated (few
      other countries could substitute) scores high; 1 when no other country has a patent;
    * ``maturity`` — cumulative filings now ÷ the saturation level ``K`` of a logistic
      ``K / (1 + e^(−r(t − t0)))`` fitted to the node's cumulative filings by year (NaN with
      fewer than ``MIN_YEARS`` distinct filing years or a failed fit). ``K`` is bounded by
      100× the current total, so a node still growing exponentially gets about 0.01.

Impact
    * ``forward_citations`` — mean forward citations of the node's patents that report them;
    * ``family_size`` — mean number of the corpus's publications in the patent's family
      (NaN where the sources give no family ids);
    * ``generality`` — breadth of IPC/CPC subclasses: ``1 − Σ s²`` over the subclasses'
      shares of the node's code assignments;
    * ``size`` — patents in the node.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from scipy.optimize import curve_fit

log = logging.getLogger(__name__)

CHINA = "CN"
MIN_YEARS = 4
NEUTRAL_STRATEGIC_WEIGHT = 5.0
_CENTRALITY = ("betweenness", "pagerank", "eigenvector", "closeness", "effective_size")


def patent_countries(patents: DataFrame) -> DataFrame:
    """``(publication_number, country, weight, from_office)``: 1/k per applicant country."""
    named = F.size(F.coalesce("applicant_countries", F.array())) > 0
    countries = F.when(named, F.array_distinct("applicant_countries")).otherwise(
        F.array(F.coalesce("jurisdiction", F.lit("??")))
    )
    return patents.select(
        "publication_number",
        (~named).alias("from_office"),
        countries.alias("countries"),
    ).select(
        "publication_number",
        "from_office",
        F.explode("countries").alias("country"),
        (F.lit(1.0) / F.size("countries")).alias("weight"),
    )


def node_aggregates(members: DataFrame, patents: DataFrame) -> dict[str, pd.DataFrame]:
    """Node-level counts from the node members (``domain, node_id, publication_number``).

    Returns pandas frames: ``countries`` (domain, node_id, country, patents, from_office),
    ``years`` (domain, node_id, filing_year, patents), ``subclasses`` (domain, node_id,
    subclass, assignments) and ``means`` (domain, node_id, size, forward_citations,
    family_size).
    """
    cols = ["publication_number", "filing_year", "forward_citations", "family_id"]
    families = (
        patents.where(F.col("family_id").isNotNull())
        .groupBy("family_id")
        .agg(F.count(F.lit(1)).alias("family_size"))
    )
    rows = members.join(patents.select(*cols, "ipc_codes", "cpc_codes"), "publication_number").join(
        families, "family_id", "left"
    )
    countries = (
        members.join(patent_countries(patents), "publication_number")
        .groupBy("domain", "node_id", "country")
        .agg(
            F.sum("weight").alias("patents"),
            F.sum(F.when(F.col("from_office"), F.col("weight")).otherwise(0.0)).alias(
                "from_office"
            ),
        )
    )
    years = (
        rows.where(F.col("filing_year").isNotNull())
        .groupBy("domain", "node_id", "filing_year")
        .agg(F.count(F.lit(1)).alias("patents"))
    )
    codes = F.concat(F.coalesce("ipc_codes", F.array()), F.coalesce("cpc_codes", F.array()))
    subclasses = (
        rows.select(
            "domain",
            "node_id",
            F.explode(F.array_distinct(F.transform(codes, lambda c: F.substring(c, 1, 4)))).alias(
                "subclass"
            ),
        )
        .groupBy("domain", "node_id", "subclass")
        .agg(F.count(F.lit(1)).alias("assignments"))
    )
    means = rows.groupBy("domain", "node_id").agg(
        F.count(F.lit(1)).alias("size"),
        F.avg("forward_citations").alias("forward_citations"),
        F.avg("family_size").alias("family_size"),
    )
    return {
        "countries": countries.toPandas(),
        "years": years.toPandas(),
        "subclasses": subclasses.toPandas(),
        "means": means.toPandas(),
    }


def centrality_composite(centrality: pd.DataFrame) -> pd.Series:
    """Mean within-domain percentile of the centrality measures (constraint reversed)."""
    if centrality.empty:
        return pd.Series(dtype=float)
    frame = centrality.set_index("vertex")
    ranks = [frame.groupby("domain")[m].rank(pct=True) for m in _CENTRALITY]
    ranks.append(frame.groupby("domain")["constraint"].rank(pct=True, ascending=False))
    return pd.concat(ranks, axis=1).mean(axis=1)


def growth(years: pd.DataFrame, recent_years: int) -> pd.Series:
    """``ln((recent + 1) / (before + 1))`` per node, windows ending at the domain's last year."""
    if years.empty:
        return pd.Series(dtype=float)
    last = years.groupby("domain").filing_year.transform("max")
    recent = years.filing_year > last - recent_years
    before = ~recent & (years.filing_year > last - 2 * recent_years)
    counts = years.assign(
        recent=years.patents.where(recent, 0), before=years.patents.where(before, 0)
    )
    totals = counts.groupby("node_id")[["recent", "before"]].sum()
    return np.log((totals.recent + 1) / (totals.before + 1))


def maturity(years: pd.DataFrame) -> pd.Series:
    """Cumulative filings ÷ the fitted logistic saturation level, per node."""
    out = {}
    for node, group in years.groupby("node_id"):
        out[node] = _saturation(group.sort_values("filing_year"))
    return pd.Series(out, dtype=float)


def _logistic(t: np.ndarray, k: float, r: float, t0: float) -> np.ndarray:
    return k / (1.0 + np.exp(-r * (t - t0)))


def _saturation(group: pd.DataFrame) -> float:
    if len(group) < MIN_YEARS:
        return math.nan
    t = group.filing_year.to_numpy(float)
    cumulative = group.patents.cumsum().to_numpy(float)
    total = cumulative[-1]
    start = (total * 2, 0.5, float(np.median(t)))
    bounds = ([total, 1e-3, t.min() - 50], [total * 100, 5.0, t.max() + 50])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (k, _, _), _ = curve_fit(_logistic, t, cumulative, p0=start, bounds=bounds, maxfev=5000)
    except (RuntimeError, ValueError):
        return math.nan
    return float(total / k)


def country_indicators(countries: pd.DataFrame) -> pd.DataFrame:
    """``cn_share``, ``cn_rta``, ``cn_lead``, ``substitutes`` and ``countries_from_office``."""
    columns = ["cn_share", "cn_rta", "cn_lead", "substitutes", "countries_from_office"]
    if countries.empty:
        return pd.DataFrame(columns=columns, dtype=float)
    node_total = countries.groupby("node_id").patents.sum()
    cn = countries[countries.country == CHINA].groupby("node_id").patents.sum()
    cn = cn.reindex(node_total.index, fill_value=0.0)
    domain_of = countries.groupby("node_id").domain.first()
    domain_total = countries.groupby("domain").patents.sum()
    domain_cn = countries[countries.country == CHINA].groupby("domain").patents.sum()
    domain_share = (domain_cn / domain_total).reindex(domain_total.index)
    others = countries[countries.country != CHINA]
    strongest = others.groupby("node_id").patents.max().reindex(node_total.index, fill_value=0.0)
    other_shares = others.patents / others.groupby("node_id").patents.transform("sum")
    # No other country at all: nobody could substitute (1, the most concentrated).
    hhi = (other_shares**2).groupby(others.node_id).sum().reindex(node_total.index, fill_value=1.0)
    share = cn / node_total
    rta = share / domain_of.map(domain_share)
    return pd.DataFrame(
        {
            "cn_share": share,
            "cn_rta": rta.where(rta.notna() & np.isfinite(rta)),
            "cn_lead": (cn + 1) / (strongest + 1),
            "substitutes": hhi,
            "countries_from_office": countries.groupby("node_id").from_office.sum() / node_total,
        }
    )


def generality(subclasses: pd.DataFrame) -> pd.Series:
    """``1 − Σ s²`` over the shares of the node's subclass assignments."""
    if subclasses.empty:
        return pd.Series(dtype=float)
    share = subclasses.assignments / subclasses.groupby("node_id").assignments.transform("sum")
    return 1.0 - (share**2).groupby(subclasses.node_id).sum()


def node_indicators(
    nodes: pd.DataFrame,
    aggregates: Mapping[str, pd.DataFrame],
    centrality: pd.DataFrame,
    strategic_weights: Mapping[str, float],
    recent_years: int,
) -> pd.DataFrame:
    """One row per node (``domain``, ``item`` = node id) with every raw indicator.

    Args:
        nodes: ``domain``, ``node_id`` of the clustering's nodes.
        aggregates: :func:`node_aggregates`' frames.
        centrality: the graph run's technology-network rows (``domain``, ``vertex`` and
            the measures).
        strategic_weights: 0–10 per domain (others get :data:`NEUTRAL_STRATEGIC_WEIGHT`).
        recent_years: the growth window.
    """
    ids = pd.Index(nodes.node_id, name="node_id")
    means = aggregates["means"].set_index("node_id")
    out = pd.DataFrame(
        {
            "domain": nodes.set_index("node_id").domain.reindex(ids),
            "centrality": centrality_composite(centrality).reindex(ids),
            "growth": growth(aggregates["years"], recent_years).reindex(ids),
            "strategic_weight": [
                float(strategic_weights.get(d, NEUTRAL_STRATEGIC_WEIGHT)) for d in nodes.domain
            ],
            **country_indicators(aggregates["countries"]).reindex(ids).to_dict("series"),
            "maturity": maturity(aggregates["years"]).reindex(ids),
            "forward_citations": means.forward_citations.reindex(ids),
            "family_size": means.family_size.reindex(ids),
            "generality": generality(aggregates["subclasses"]).reindex(ids),
            "size": means["size"].reindex(ids).fillna(0).astype(float),
        },
        index=ids,
    )
    return out.reset_index().rename(columns={"node_id": "item"})
