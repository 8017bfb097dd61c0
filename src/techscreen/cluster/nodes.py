"""The ``nodes/`` rows: what each technology node is, computed from its members in Spark.

Every aggregate here is node-level (a node's size, its keywords, its top codes, its five
nearest patents, its years and countries), so only node-sized results reach the driver,
where they are put together with the node centroids of the fitted models.

Countries are the applicants' countries, counted once per patent; a patent without any
applicant country counts its publication jurisdiction instead. Languages are the languages of
the text each patent was embedded from (:func:`techscreen.embed.routing.with_text_language`):
a Chinese record embedded from its English translation counts as ``en``.

Keywords are made per label language (:func:`techscreen.cluster.labels.label_docs`): English
ones in ``keywords``, Chinese ones in ``keywords_zh``; the stored ``label`` is composed in
``report.language`` from that language's keywords alone.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from techscreen.cluster.assign import node_id
from techscreen.cluster.labels import (
    CHINESE,
    ClassTitles,
    keyword_members,
    keywords_in,
    label_docs,
    label_text,
    node_codes,
    node_keywords,
)
from techscreen.cluster.spaces import DomainModel
from techscreen.config import LabelSettings
from techscreen.embed.routing import ENGLISH, TEXT_LANGUAGE, RoutePlan, with_text_language
from techscreen.schema import BY_TEXT

# The columns of the patents table that node_rows reads (with TEXT_LANGUAGE added).
PATENT_COLUMNS = (
    "title",
    "abstract",
    "title_en",
    "abstract_en",
    "ipc_codes",
    "cpc_codes",
    "filing_year",
    "applicant_countries",
    "jurisdiction",
    "language",
)


def node_patents(patents: DataFrame, routes: RoutePlan) -> DataFrame:
    """The patent columns :func:`node_rows` reads, with the language of the embedded text.

    Join it to the node members on ``publication_number``. ``routes`` is the embed stage's
    routing (``ClusterPlan.routes``): it says which records were embedded from their English
    translation (:data:`~techscreen.embed.routing.TEXT_LANGUAGE` ``en``). A patents table
    from before translations existed lacks ``title_en``/``abstract_en``: they are null.
    """
    columns = set(patents.columns)
    kept = [
        F.col(c) if c in columns else F.lit(None).cast("string").alias(c) for c in PATENT_COLUMNS
    ]
    return with_text_language(patents.select("publication_number", *kept), routes)


def _by_node(frame: DataFrame, key: str, value: str) -> dict[str, dict[Any, int]]:
    out: dict[str, dict[Any, int]] = defaultdict(dict)
    for row in frame.collect():
        out[row["node_id"]][row[key]] = int(row[value])
    return out


def _count(value: Any) -> int | None:
    return None if value is None else int(value)


def node_rows(
    members: DataFrame,
    models: dict[str, DomainModel],
    settings: LabelSettings,
    titles: ClassTitles,
    language: str = ENGLISH,
) -> list[dict[str, Any]]:
    """One dict per node, in the column order of :data:`techscreen.schema.NODES`.

    ``members`` holds the node members (not noise) of every domain: the assignments columns
    joined with :func:`node_patents`. ``language`` (``report.language``) is the language of
    the stored ``label``: that language's keywords, else the top code's title in it.
    """
    by_text = (  # members placed in the domain by their text (techscreen.stages.placement)
        F.count(F.when(F.col("domain_source") == BY_TEXT, 1))
        if "domain_source" in members.columns
        else F.lit(None).cast("long")
    )
    stats = {
        r["node_id"]: r
        for r in members.groupBy("domain", "node", "node_id")
        .agg(
            F.count("*").alias("size"),
            F.avg("strength").alias("mean_strength"),
            by_text.alias("text_placed"),
        )
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
    languages = _by_node(members.groupBy("node_id", TEXT_LANGUAGE).count(), TEXT_LANGUAGE, "count")
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
    keywords: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(dict)
    sizes = {key: int(stat["size"]) for key, stat in stats.items()}
    drawn = keyword_members(keyed, sizes, settings.max_docs)
    for r in node_keywords(label_docs(drawn), settings):
        keywords[r["node_key"]][r["lang"]] = [t.asDict() for t in r["keywords"]]
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
            words, top = keywords.get(key, {}), codes.get(key, [])
            english, chinese = words.get(ENGLISH, []), words.get(CHINESE, [])
            own = keywords_in(language, english, chinese)
            rows.append(
                {
                    "domain": domain,
                    "node": node,
                    "node_id": key,
                    "size": int(stat["size"]) if stat else 0,
                    "label": label_text(own, top, settings.label_terms, lang=language),
                    "keywords": english,
                    "keywords_zh": chinese,
                    "codes": top,
                    "representatives": representatives.get(key, []),
                    "filing_years": years.get(key, {}),
                    "countries": countries.get(key, {}),
                    "languages": languages.get(key, {}),
                    "mean_strength": float(stat["mean_strength"]) if stat else None,
                    "centroid": centroid.tolist(),
                    "space": space,
                    "split_note": None,  # the cluster stage fills it in
                    "text_placed": _count(stat["text_placed"]) if stat else 0,
                }
            )
    return rows
