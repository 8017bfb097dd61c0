"""The ``nodes/`` rows: what each technology node is, computed from its members in Spark.

Every aggregate here is node-level (a node's size, its keywords, its top codes, its five
nearest patents, its years and countries), so only node-sized results reach the driver,
where they are put together with the node centroids of the fitted models.

Countries are the applicants' countries, counted once per patent; a patent without any
applicant country counts its publication jurisdiction instead.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from techscreen.cluster.assign import node_id
from techscreen.cluster.labels import ClassTitles, label_text, node_codes, node_keywords
from techscreen.cluster.spaces import DomainModel
from techscreen.config import LabelSettings
from techscreen.schema import UNDETERMINED


def _by_node(frame: DataFrame, key: str, value: str) -> dict[str, dict[Any, int]]:
    out: dict[str, dict[Any, int]] = defaultdict(dict)
    for row in frame.collect():
        out[row["node_id"]][row[key]] = int(row[value])
    return out


def node_rows(
    members: DataFrame,
    models: dict[str, DomainModel],
    settings: LabelSettings,
    titles: ClassTitles,
) -> list[dict[str, Any]]:
    """One dict per node, in the column order of :data:`techscreen.schema.NODES`.

    ``members`` holds the node members (not noise) of every domain: the assignments columns
    joined with the patents' title, abstract, codes, filing year, applicant countries,
    jurisdiction and language.
    """
    stats = {
        r["node_id"]: r
        for r in members.groupBy("domain", "node", "node_id")
        .agg(F.count("*").alias("size"), F.avg("strength").alias("mean_strength"))
        .collect()
    }
    years = _by_node(
        members.where(F.col("filing_year").isNotNull()).groupBy("node_id", "filing_year").count(),
        "filing_year",
        "count",
    )
    country = F.explode(
        F.when(
            F.size("applicant_countries") > 0, F.array_distinct("applicant_countries")
        ).otherwise(F.array(F.col("jurisdiction")))
    )
    countries = _by_node(
        members.select("node_id", country.alias("country"))
        .where(F.col("country").isNotNull())
        .groupBy("node_id", "country")
        .count(),
        "country",
        "count",
    )
    language = F.coalesce(F.col("language"), F.lit(UNDETERMINED)).alias("language")
    languages = _by_node(
        members.select("node_id", language).groupBy("node_id", "language").count(),
        "language",
        "count",
    )
    nearest = Window.partitionBy("node_id").orderBy("distance", "publication_number")
    representatives: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in (
        members.withColumn("_n", F.row_number().over(nearest))
        .where(F.col("_n") <= settings.representatives)
        .orderBy("node_id", "_n")
        .select("node_id", F.struct("publication_number", "title", "distance").alias("rep"))
        .collect()
    ):
        representatives[r["node_id"]].append(r["rep"].asDict())
    keyed = members.withColumnRenamed("node_id", "node_key")
    keywords = {
        r["node_key"]: [t.asDict() for t in r["keywords"]]
        for r in node_keywords(keyed.select("node_key", "title", "abstract"), settings).collect()
    }
    codes = {
        r["node_key"]: [c.asDict() for c in r["codes"]]
        for r in node_codes(
            keyed.select("node_key", "ipc_codes", "cpc_codes"), titles, settings.codes
        ).collect()
    }
    rows = []
    for domain, model in sorted(models.items()):
        for node, space, centroid in model.nodes():
            key = node_id(domain, node)
            stat = stats.get(key)
            words, top = keywords.get(key, []), codes.get(key, [])
            rows.append(
                {
                    "domain": domain,
                    "node": node,
                    "node_id": key,
                    "size": int(stat["size"]) if stat else 0,
                    "label": label_text(words, top, settings.label_terms),
                    "keywords": words,
                    "codes": top,
                    "representatives": representatives.get(key, []),
                    "filing_years": years.get(key, {}),
                    "countries": countries.get(key, {}),
                    "languages": languages.get(key, {}),
                    "mean_strength": float(stat["mean_strength"]) if stat else None,
                    "centroid": centroid.tolist(),
                    "space": space,
                }
            )
    return rows
