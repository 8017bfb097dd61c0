"""The IPC/CPC co-occurrence network of a domain: one Spark aggregation over its patents.

Vertices are classification codes at ``graph.code_level`` (subclass ``H01M`` or main group
``H01M 10/00``; a code given only to the subclass stays a subclass). Each patent adds to
the edge of every pair of its distinct codes:

* **full** counting: 1 per pair, so ``c_ij`` = patents that carry both codes;
* **fractional** counting (Perianes-Rodriguez, Waltman & van Eck 2016): ``1/(n−1)`` per pair
  for a patent with ``n`` codes, so every patent adds the same total link weight to each of
  its codes whatever its number of codes (a patent with one code adds none).

With ``o_i`` the patents carrying code ``i`` and ``s_i = Σ_j c_ij`` its total link weight,
``m = Σ_{i<j} c_ij``, the edge weight is normalised (``graph.normalisation``):

* ``association`` strength (van Eck & Waltman 2009): ``2m·c_ij / (s_i·s_j)`` — 1 where two
  codes co-occur as often as their link totals predict, above 1 where more often;
* ``cosine`` (Salton): ``c_ij / √(o_i·o_j)``;
* ``jaccard``: ``c_ij / (o_i + o_j − c_ij)``;
* ``none``: ``c_ij`` itself.

Pairs whose count ``c_ij`` is below ``graph.min_cooccurrence`` are dropped first. Only the
(code, code) aggregates leave the executors, so a domain of millions of patents is fine as
long as its code vocabulary is (a main-group network has at most ~75,000 vertices).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from techscreen.cluster.labels import main_groups
from techscreen.config import GraphSettings


def patent_codes(patents: DataFrame, settings: GraphSettings) -> Column:
    """The distinct codes of each patent at the configured scheme and level, sorted."""
    empty = F.array().cast("array<string>")
    ipc, cpc = F.coalesce("ipc_codes", empty), F.coalesce("cpc_codes", empty)
    codes = {"ipc": ipc, "cpc": cpc, "both": F.concat(ipc, cpc)}[settings.code_scheme]
    if settings.code_level == "subclass":
        return F.array_sort(F.array_distinct(F.transform(codes, lambda c: F.substring(c, 1, 4))))
    return F.array_sort(main_groups(codes))


def code_occurrences(frame: DataFrame) -> DataFrame:
    """``(domain, code, patents)`` from ``(domain, codes)`` rows: ``o_i`` per domain."""
    return (
        frame.select("domain", F.explode("codes").alias("code"))
        .groupBy("domain", "code")
        .agg(F.count(F.lit(1)).alias("patents"))
    )


def code_pairs(frame: DataFrame, counting: str) -> DataFrame:
    """``(domain, source, target, count, patents)``: ``c_ij`` and the patents with both.

    ``frame`` holds ``(domain, codes)`` with ``codes`` sorted and distinct, so each pair is
    generated once per patent with ``source < target``.
    """
    n = F.size("codes")
    pairs = F.filter(
        F.flatten(
            F.transform(
                "codes",
                lambda a: F.transform(
                    "codes", lambda b: F.struct(a.alias("source"), b.alias("target"))
                ),
            )
        ),
        lambda p: p["source"] < p["target"],
    )
    weight = F.lit(1.0) if counting == "full" else F.lit(1.0) / (n - 1)
    return (
        frame.where(n >= 2)
        .select("domain", weight.alias("w"), F.inline(pairs))
        .groupBy("domain", "source", "target")
        .agg(F.sum("w").alias("count"), F.count(F.lit(1)).alias("patents"))
    )


def cooccurrence_edges(domain_patents: DataFrame, settings: GraphSettings) -> DataFrame:
    """The weighted co-occurrence edges of every domain in ``domain_patents``.

    Args:
        domain_patents: ``(domain, ipc_codes, cpc_codes)``, one row per patent and domain.
        settings: the graph settings (scheme, level, counting, normalisation, threshold).

    Returns:
        ``(domain, source, target, count, patents, weight)`` with ``source < target``:
        ``count`` = ``c_ij`` (full or fractional), ``patents`` = patents with both codes,
        ``weight`` = the normalised strength (see the module docstring). Lazy.
    """
    coded = domain_patents.select("domain", patent_codes(domain_patents, settings).alias("codes"))
    pairs = code_pairs(coded, settings.counting).where(F.col("count") >= settings.min_cooccurrence)
    occ = code_occurrences(coded)
    links = (
        pairs.select("domain", F.col("source").alias("code"), "count")
        .unionByName(pairs.select("domain", F.col("target").alias("code"), "count"))
        .groupBy("domain", "code")
        .agg(F.sum("count").alias("links"))
    )
    total = pairs.groupBy("domain").agg(F.sum("count").alias("m"))
    side = {
        end: occ.join(links, ["domain", "code"], "left").select(
            "domain",
            F.col("code").alias(end),
            F.col("patents").alias(f"o_{end}"),
            F.col("links").alias(f"s_{end}"),
        )
        for end in ("source", "target")
    }
    c = F.col("count")
    weight = {
        "association": 2 * F.col("m") * c / (F.col("s_source") * F.col("s_target")),
        "cosine": c / F.sqrt(F.col("o_source") * F.col("o_target")),
        "jaccard": c / (F.col("o_source") + F.col("o_target") - c),
        "none": c,
    }[settings.normalisation]
    return (
        pairs.join(side["source"], ["domain", "source"])
        .join(side["target"], ["domain", "target"])
        .join(total, "domain")
        .select("domain", "source", "target", "count", "patents", weight.alias("weight"))
    )
