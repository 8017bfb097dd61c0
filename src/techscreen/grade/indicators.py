"""Raw indicators per technology node: necessity, feasibility, impact (before 0–10 scoring).

Patent-level work is Spark aggregations to node level (node × country, node × year,
node × subclass counts and per-node means, and the same per domain over all its patents);
everything after is node-level pandas. Every indicator is "higher = more": scoring
(:mod:`techscreen.grade.scoring`) puts them on 0–10 by their anchors
(:mod:`techscreen.grade.anchors`) or within the domain. A node whose data cannot give an
indicator gets NaN, which scoring turns into the neutral 5 and lists in the item's
``neutral`` column.

**Domain references.** The indicators anchored on the domain's world average carry that
average in a column ``ref_<indicator>``, computed over *all* the domain's patents in the
clustering run (noise included, not only node members): ``ref_forward_citations`` and
``ref_family_size`` (the domain's mean per patent), ``ref_size`` (the mean size of the
domain's nodes) and ``ref_growth`` (the growth the node would show with its filings split
between the windows as its domain's are, :func:`growth_reference`). Scoring is then a
function of the indicators table alone.

**Country of a patent**: its applicants' countries (each of ``k`` countries counts ``1/k``),
else — where the source names none — the office that published it (``jurisdiction``); the
share of a node's patents counted the second way is ``countries_from_office``.

Necessity
    * ``centrality`` — mean within-domain percentile (0–1) of the node's betweenness,
      PageRank, eigenvector, closeness, effective size and (reversed) Burt's constraint in
      the technology-node network of the graph stage;
    * ``growth`` — ``ln((recent + 1) / (before + 1))``: filings in the domain's last
      ``grade.recent_years`` filing years vs the same number of years before them (the
      windows end at the last filing year of any of the domain's patents);
    * ``strategic_weight`` — the domain's weight from ``grade.strategic_weights`` (0–10,
      5 when not set), used as is.

Feasibility (does China hold an advantage others cannot easily substitute)
    * ``cn_share`` — CN's share of the node's patents;
    * ``cn_rta`` — revealed technological advantage: CN's share in the node ÷ CN's share in
      the domain over all its patents (NaN when CN has no patent in the domain);
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

from techscreen.grade.anchors import reference_column

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


def node_aggregates(
    members: DataFrame, patents: DataFrame, domain_patents: DataFrame
) -> dict[str, pd.DataFrame]:
    """Node-level counts from the node members, and the domain-level ones behind the references.

    Args:
        members: ``domain, node_id, publication_number`` of the nodes' members.
        patents: the patents table.
        domain_patents: ``domain, publication_number`` of every patent of each domain (node
            members and the rest, e.g. noise).

    Returns:
        pandas frames: ``countries`` (domain, node_id, country, patents, from_office),
        ``years`` (domain, node_id, filing_year, patents), ``subclasses`` (domain, node_id,
        subclass, assignments), ``means`` (domain, node_id, size, forward_citations,
        family_size); and per domain over all its patents ``domain_countries`` (domain,
        country, patents), ``domain_years`` (domain, filing_year, patents) and
        ``domain_means`` (domain, patents, forward_citations, family_size).
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
    in_domain = (
        domain_patents.select("domain", "publication_number")
        .distinct()
        .join(patents.select(*cols), "publication_number")
        .join(families, "family_id", "left")
    )
    by_country = patent_countries(patents)
    countries = (
        members.join(by_country, "publication_number")
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
    domain_countries = (
        domain_patents.select("domain", "publication_number")
        .distinct()
        .join(by_country, "publication_number")
        .groupBy("domain", "country")
        .agg(F.sum("weight").alias("patents"))
    )
    domain_years = (
        in_domain.where(F.col("filing_year").isNotNull())
        .groupBy("domain", "filing_year")
        .agg(F.count(F.lit(1)).alias("patents"))
    )
    domain_means = in_domain.groupBy("domain").agg(
        F.count(F.lit(1)).alias("patents"),
        F.avg("forward_citations").alias("forward_citations"),
        F.avg("family_size").alias("family_size"),
    )
    return {
        "countries": countries.toPandas(),
        "years": years.toPandas(),
        "subclasses": subclasses.toPandas(),
        "means": means.toPandas(),
        "domain_countries": domain_countries.toPandas(),
        "domain_years": domain_years.toPandas(),
        "domain_means": domain_means.toPandas(),
    }


def centrality_composite(centrality: pd.DataFrame) -> pd.Series:
    """Mean within-domain percentile of the centrality measures (constraint reversed)."""
    if centrality.empty:
        return pd.Series(dtype=float)
    frame = centrality.set_index("vertex")
    ranks = [frame.groupby("domain")[m].rank(pct=True) for m in _CENTRALITY]
    ranks.append(frame.groupby("domain")["constraint"].rank(pct=True, ascending=False))
    return pd.concat(ranks, axis=1).mean(axis=1)


def window_counts(
    years: pd.DataFrame,
    recent_years: int,
    last: Mapping[str, int] | pd.Series | None = None,
    by: str = "node_id",
) -> pd.DataFrame:
    """Filings per ``by`` group in the growth windows: ``recent`` and ``before``.

    Args:
        years: ``domain``, ``by``, ``filing_year``, ``patents``.
        recent_years: the window length ``n``: recent = the last ``n`` years up to the
            domain's last filing year, before = the ``n`` years before them.
        last: the last filing year of each domain (e.g. over all its patents); default: the
            latest year in ``years`` per domain.
        by: ``node_id`` for nodes, ``domain`` for the domains.
    """
    if years.empty:
        return pd.DataFrame(columns=["recent", "before"], dtype=float)
    own = years.groupby("domain").filing_year.transform("max")
    end = own if last is None else years.domain.map(last).fillna(own)
    recent = years.filing_year > end - recent_years
    before = ~recent & (years.filing_year > end - 2 * recent_years)
    counts = years.assign(
        recent=years.patents.where(recent, 0), before=years.patents.where(before, 0)
    )
    return counts.groupby(by)[["recent", "before"]].sum().astype(float)


def growth(
    years: pd.DataFrame,
    recent_years: int,
    last: Mapping[str, int] | pd.Series | None = None,
    by: str = "node_id",
) -> pd.Series:
    """``ln((recent + 1) / (before + 1))`` per ``by`` group (windows: :func:`window_counts`)."""
    totals = window_counts(years, recent_years, last, by)
    return np.log((totals.recent + 1) / (totals.before + 1))


def growth_reference(
    years: pd.DataFrame,
    domain_years: pd.DataFrame,
    recent_years: int,
    last: Mapping[str, int] | pd.Series | None = None,
) -> pd.Series:
    """Per node: the :func:`growth` it would show if it grew as its domain does.

    The node's ``t = recent + before`` filings in the two windows are split as the domain's
    over all its patents (``q = R / (R + B)``), and the same smoothed log ratio is taken:
    ``ln((t·q + 1) / (t·(1 − q) + 1))``. Comparing a node's growth with this rather than
    with the domain's own ``ln((R + 1)/(B + 1))`` cancels the ``+ 1`` smoothing, which
    would otherwise pull every small node's ratio towards 1 and below a fast-growing domain;
    and, being the domain's split, it cancels the publication-lag dip of the last years,
    which hits the node and its domain alike. NaN where the domain has no filing in either
    window.
    """
    nodes = window_counts(years, recent_years, last)
    if nodes.empty:
        return pd.Series(dtype=float)
    domains = window_counts(domain_years, recent_years, last, by="domain")
    q = domains.recent / (domains.recent + domains.before)
    node_q = years.groupby("node_id").domain.first().map(q).reindex(nodes.index)
    t = nodes.recent + nodes.before
    return np.log((t * node_q + 1) / (t * (1 - node_q) + 1))


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


def country_indicators(countries: pd.DataFrame, domain_countries: pd.DataFrame) -> pd.DataFrame:
    """``cn_share``, ``cn_rta``, ``cn_lead``, ``substitutes`` and ``countries_from_office``.

    Args:
        countries: ``domain, node_id, country, patents, from_office`` of the nodes.
        domain_countries: ``domain, country, patents`` over all the domain's patents (the
            reference of ``cn_rta``).
    """
    columns = ["cn_share", "cn_rta", "cn_lead", "substitutes", "countries_from_office"]
    if countries.empty:
        return pd.DataFrame(columns=columns, dtype=float)
    node_total = countries.groupby("node_id").patents.sum()
    cn = countries[countries.country == CHINA].groupby("node_id").patents.sum()
    cn = cn.reindex(node_total.index, fill_value=0.0)
    domain_of = countries.groupby("node_id").domain.first()
    domain_total = domain_countries.groupby("domain").patents.sum()
    is_cn = domain_countries.country == CHINA
    domain_cn = domain_countries[is_cn].groupby("domain").patents.sum()
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
    """One row per node (``domain``, ``item`` = node id): every raw indicator and reference.

    The references (``ref_<indicator>``, see the module doc) are the domain's values the
    anchored scores compare a node with.

    Args:
        nodes: ``domain``, ``node_id`` of the clustering's nodes.
        aggregates: :func:`node_aggregates`' frames (node and domain level).
        centrality: the graph run's technology-network rows (``domain``, ``vertex`` and
            the measures).
        strategic_weights: 0–10 per domain (others get :data:`NEUTRAL_STRATEGIC_WEIGHT`).
        recent_years: the growth window.
    """
    ids = pd.Index(nodes.node_id, name="node_id")
    means = aggregates["means"].set_index("node_id")
    domain_years = aggregates["domain_years"]
    last = domain_years.groupby("domain").filing_year.max() if len(domain_years) else None
    domain = nodes.set_index("node_id").domain.reindex(ids)
    size = means["size"].reindex(ids).fillna(0).astype(float)
    domain_means = aggregates["domain_means"].set_index("domain")
    references = {
        "forward_citations": domain.map(domain_means.forward_citations),
        "family_size": domain.map(domain_means.family_size),
        "size": size.groupby(domain).transform("mean"),
        "growth": growth_reference(aggregates["years"], domain_years, recent_years, last).reindex(
            ids
        ),
    }
    out = pd.DataFrame(
        {
            "domain": domain,
            "centrality": centrality_composite(centrality).reindex(ids),
            "growth": growth(aggregates["years"], recent_years, last).reindex(ids),
            "strategic_weight": [
                float(strategic_weights.get(d, NEUTRAL_STRATEGIC_WEIGHT)) for d in nodes.domain
            ],
            **country_indicators(aggregates["countries"], aggregates["domain_countries"])
            .reindex(ids)
            .to_dict("series"),
            "maturity": maturity(aggregates["years"]).reindex(ids),
            "forward_citations": means.forward_citations.reindex(ids),
            "family_size": means.family_size.reindex(ids),
            "generality": generality(aggregates["subclasses"]).reindex(ids),
            "size": size,
            **{reference_column(k): v.astype(float) for k, v in references.items()},
        },
        index=ids,
    )
    return out.reset_index().rename(columns={"node_id": "item"})
