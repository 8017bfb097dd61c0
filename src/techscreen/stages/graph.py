"""The graph stage: a clustering run's nodes → per-domain networks and centralities.

Per domain two networks are built (see :mod:`techscreen.graph.cooccurrence` and
:mod:`techscreen.graph.node_network`): the IPC/CPC co-occurrence network of the domain's
patents and the network of its technology nodes. Every patent-level step is a Spark
aggregation; only edge lists and vertex lists reach the driver, where networkx or igraph
scores the vertices (:mod:`techscreen.graph.centrality`). A network with more than
``graph.max_edges`` edges keeps each vertex's ``graph.scale_top_k`` strongest ones (logged).

Outputs ``node_edges/`` and ``centrality/`` (partitioned by the graph run's id), and per
domain and network a GraphML file and a PNG, logged as artifacts of the graph run, which
records the clustering run it read (``graph.cluster_run``, else the chosen one).
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from sklearn.metrics import normalized_mutual_info_score

from techscreen.cluster.labels import ClassTitles
from techscreen.config import GraphSettings
from techscreen.experiments import chosen_run
from techscreen.graph.centrality import centralities
from techscreen.graph.cooccurrence import code_occurrences, cooccurrence_edges, patent_codes
from techscreen.graph.export import annotated, draw, write_graphml
from techscreen.graph.node_network import (
    KINDS,
    NodeEdges,
    centroid_neighbours,
    citation_counts,
    code_profiles,
    combine,
    profile_similarity,
)
from techscreen.io.tables import WorkspaceError, append_partition, read_table, table_meta
from techscreen.schema import CENTRALITY, CODE_NETWORK, NODE_EDGES, NOISE_NODE, TECHNOLOGY_NETWORK
from techscreen.stages import Context, chosen_domains

log = logging.getLogger(__name__)


def _cluster_run(ctx: Context) -> str:
    run_id = ctx.settings.graph.cluster_run or chosen_run(
        ctx.tracker.client, ctx.tracker.experiment_id, "cluster"
    )
    if not run_id:
        raise WorkspaceError(
            "no finished cluster run to build networks from: run `techscreen cluster`"
        )
    return run_id


def capped(edges: DataFrame, g: GraphSettings) -> tuple[DataFrame, list[str]]:
    """``edges`` with, in each domain over ``g.max_edges``, only every vertex's strongest k.

    Returns the (lazy) edges and the domains that were capped.
    """
    counts = {
        r["domain"]: r["n"] for r in edges.groupBy("domain").agg(F.count("*").alias("n")).collect()
    }
    over = sorted(d for d, n in counts.items() if n > g.max_edges)
    if not over:
        return edges, []
    rank = {
        end: F.row_number().over(
            Window.partitionBy("domain", end).orderBy(F.desc("weight"), "source", "target")
        )
        for end in ("source", "target")
    }
    keep = (
        ~F.col("domain").isin(over)
        | (rank["source"] <= g.scale_top_k)
        | (rank["target"] <= g.scale_top_k)
    )
    return edges.where(keep), over


def _dominant(profiles: DataFrame, group: str, pick: str) -> dict[tuple[str, str], str]:
    """For each (domain, ``group``): the ``pick`` with the most patents (ties: smallest)."""
    w = Window.partitionBy("domain", group).orderBy(F.desc("patents"), F.asc(pick))
    rows = profiles.withColumn("r", F.row_number().over(w)).where("r = 1").collect()
    return {(r["domain"], r[group]): r[pick] for r in rows}


def _comparison(table: pd.DataFrame, reference: dict[str, str]) -> float | None:
    """NMI between the Louvain communities and a reference grouping of the same vertices."""
    known = [v for v in table.index if v in reference]
    if len(known) < 2:
        return None
    score = normalized_mutual_info_score(
        [reference[v] for v in known], table.loc[known, "community"]
    )
    return round(float(score), 4)


def _network(
    vertices: pd.DataFrame, edges: pd.DataFrame, g: GraphSettings
) -> tuple[nx.Graph, pd.DataFrame, dict[str, Any]]:
    """Graph + centrality table (indexed by vertex, with label and patents) + notes."""
    graph = nx.Graph()
    graph.add_nodes_from(vertices.vertex)
    graph.add_weighted_edges_from(edges[["source", "target", "weight"]].itertuples(index=False))
    result = centralities(graph, g.centrality, g.seed)
    table = result.table.set_index("vertex").join(vertices.set_index("vertex"))
    return graph, table, result.notes


def _sizes(graph: nx.Graph, table: pd.DataFrame) -> dict[str, Any]:
    return {
        "vertices": graph.number_of_nodes(),
        "edges": graph.number_of_edges(),
        "components": int(table.component.nunique()) if len(table) else 0,
        "isolates": nx.number_of_isolates(graph),
        "density": round(nx.density(graph), 6) if graph.number_of_nodes() > 1 else 0.0,
    }


@dataclass
class _Inputs:
    """What the driver holds of a clustering run: node-level and edge-level rows only."""

    nodes: pd.DataFrame  # domain, node_id, size, label, centroid, space
    code_edges: pd.DataFrame  # domain, source, target, count, patents, weight
    occurrences: pd.DataFrame  # domain, code, patents
    profile_similarity: pd.DataFrame  # domain, source, target, similarity
    citations: pd.DataFrame  # domain, source, target, citations
    cited_where: pd.DataFrame  # domain, where, citations
    node_of_code: dict[tuple[str, str], str]  # the node most patents with the code are in
    code_of_node: dict[tuple[str, str], str]  # the node's most frequent code
    capped: list[str]  # domains whose code network was capped


def _read(ctx: Context, domains: list[str], cluster_run: str) -> _Inputs:
    s, g = ctx.settings, ctx.settings.graph
    patents = read_table(ctx.spark, s, "patents")
    of_run = (F.col("run_id") == cluster_run) & F.col("domain").isin(domains)
    assignments = read_table(ctx.spark, s, "assignments").where(of_run)
    if not assignments.limit(1).count():
        raise WorkspaceError(
            f"cluster run {cluster_run} has no assignments for {domains} in this workspace"
        )
    nodes = (
        read_table(ctx.spark, s, "nodes")
        .where(of_run)
        .select("domain", "node_id", "size", "label", "centroid", "space")
        .toPandas()
    )
    # Every patent of each domain as the clustering saw it, by its codes or placed there by
    # its text (assignments hold each patent of a clustered domain once, noise included):
    # joined to the patents once, read by the code network (all) and the node network
    # (members of a node).
    in_domains = assignments.select("domain", "publication_number", "node", "node_id").join(
        patents.select("publication_number", "ipc_codes", "cpc_codes", "cited_publications"),
        "publication_number",
    )
    in_domains = in_domains.withColumn("codes", patent_codes(in_domains, g)).persist()
    code_edges, capped_domains = capped(cooccurrence_edges(in_domains, g), g)
    members = in_domains.where(F.col("node") != NOISE_NODE)
    profiles = code_profiles(members).persist()
    try:
        pairs, where = citation_counts(members, patents.select("publication_number"))
        return _Inputs(
            nodes=nodes,
            code_edges=code_edges.toPandas(),
            occurrences=code_occurrences(in_domains.select("domain", "codes")).toPandas(),
            profile_similarity=profile_similarity(profiles).toPandas(),
            citations=pairs,
            cited_where=where,
            node_of_code=_dominant(profiles, "code", "node_id"),
            code_of_node=_dominant(profiles, "node_id", "code"),
            capped=capped_domains,
        )
    finally:
        profiles.unpersist()
        in_domains.unpersist()


def _of(frame: pd.DataFrame, domain: str) -> pd.DataFrame:
    return frame[frame.domain == domain]


@dataclass
class _Network:
    """One network of one domain, ready to score: vertices, edges, reference grouping."""

    vertices: pd.DataFrame  # vertex, label, patents
    edges: pd.DataFrame  # source, target, weight + the evidence columns
    evidence: tuple[str, ...]
    reference: dict[str, str]  # vertex → the cluster-side group its community is compared to


def _networks(
    domain: str, x: _Inputs, g: GraphSettings, titles: dict[str, str]
) -> tuple[dict[str, _Network], NodeEdges]:
    nodes = _of(x.nodes, domain)
    sizes = dict(zip(nodes.node_id, nodes["size"].astype(int), strict=True))
    parts = {
        "codes": _of(x.profile_similarity, domain),
        "citations": _of(x.citations, domain),
        "centroids": centroid_neighbours(nodes, g.centroid_neighbours),
    }
    made = combine(parts, sizes, g)
    occ = _of(x.occurrences, domain)
    technology = _Network(
        pd.DataFrame(
            {"vertex": nodes.node_id, "label": nodes.label, "patents": nodes["size"].astype(int)}
        ),
        made.edges,
        KINDS,
        _known({v: x.code_of_node.get((domain, v)) for v in nodes.node_id}),
    )
    codes = _Network(
        pd.DataFrame(
            {"vertex": occ.code, "label": occ.code.map(titles), "patents": occ.patents.astype(int)}
        ),
        _of(x.code_edges, domain),
        ("count", "patents"),
        _known({c: x.node_of_code.get((domain, c)) for c in occ.code}),
    )
    return {TECHNOLOGY_NETWORK: technology, CODE_NETWORK: codes}, made


def _known(mapping: dict[str, str | None]) -> dict[str, str]:
    return {k: v for k, v in mapping.items() if v is not None}


def run_graph(ctx: Context) -> dict[str, Any]:
    """Build both networks of every chosen domain, score their vertices, export them."""
    s, g = ctx.settings, ctx.settings.graph
    domains = chosen_domains(s, g.domains, "graph.domains")
    cluster_run = _cluster_run(ctx)
    upstream = {"cluster": cluster_run, "patents": table_meta(s, "patents").get("run_id", "")}
    with ctx.tracker.stage("graph", upstream=upstream) as run:
        started = time.perf_counter()
        run.log(params={"graph": g.model_dump()}, tags={"techscreen.cluster_run": cluster_run})
        x = _read(ctx, domains, cluster_run)
        titles = ClassTitles.load(s.cluster.labels.ipc_titles, s.cluster.labels.cpc_titles)
        edge_rows: list[tuple] = []
        vertex_rows: list[tuple] = []
        metrics: dict[str, float] = {}
        per_domain: dict[str, dict[str, Any]] = {}
        with tempfile.TemporaryDirectory() as tmp:
            for domain in domains:
                networks, made = _networks(domain, x, g, titles.table("en"))
                summary: dict[str, Any] = {}
                for name, net in networks.items():
                    graph, table, notes = _network(net.vertices, net.edges, g)
                    summary[name] = {
                        **_sizes(graph, table),
                        "communities": int(table.community.nunique()) if len(table) else 0,
                        "modularity": notes.get("modularity"),
                        "nmi_communities_vs_clusters": _comparison(table, net.reference),
                    }
                    run.log(params={f"{domain}.{name}.centrality": notes})
                    vertex_rows += [
                        _vertex_row(domain, name, r) for r in table.reset_index().itertuples()
                    ]
                    edge_rows += [
                        (
                            domain,
                            name,
                            e.source,
                            e.target,
                            float(e.weight),
                            {k: float(getattr(e, k)) for k in net.evidence},
                        )
                        for e in net.edges.itertuples(index=False)
                    ]
                    if len(table):
                        _export(run, graph, table, Path(tmp), f"{domain}.{name}", g)
                cited = _of(x.cited_where, domain)
                summary["citations"] = dict(
                    zip(cited["where"], cited.citations.astype(int), strict=True)
                )
                summary["node_edges"] = {"weights": made.weights, **made.stats}
                per_domain[domain] = summary
                metrics.update(_numeric(summary, domain))

        meta = {"run_id": run.run_id, "cluster_run": cluster_run, "upstream": upstream}
        for table_name, rows, schema in (
            ("node_edges", edge_rows, NODE_EDGES),
            ("centrality", vertex_rows, CENTRALITY),
        ):
            frame = ctx.spark.createDataFrame(rows, schema)
            append_partition(frame, s, table_name, "run_id", run.run_id, meta)
        metrics["seconds"] = round(time.perf_counter() - started, 1)
        run.log(params={"capped_code_networks": x.capped}, metrics=metrics)
    return {
        "run_id": run.run_id,
        "cluster_run": cluster_run,
        "seconds": metrics["seconds"],
        "domains": per_domain,
    }


def _numeric(values: dict[str, Any], prefix: str) -> dict[str, float]:
    """The numbers of a nested summary as flat ``prefix.key.key`` metrics."""
    out: dict[str, float] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update(_numeric(value, f"{prefix}.{key}"))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[f"{prefix}.{key}"] = value
    return out


def _export(
    run, graph: nx.Graph, table: pd.DataFrame, out: Path, name: str, g: GraphSettings
) -> None:
    """GraphML and PNG of one network, logged as artifacts of ``run``."""
    graphml = write_graphml(annotated(graph, table), out / f"{name}.graphml")
    picture = draw(
        graph,
        table,
        out / f"{name}.png",
        name.replace(".", ": ") + " network",
        g.label_top,
        g.picture_vertices,
        g.seed,
    )
    run.artifact(graphml, "graphml")
    run.artifact(picture, "pictures")


def _vertex_row(domain: str, network: str, r: Any) -> tuple:
    """One row of :data:`~techscreen.schema.CENTRALITY` from a centrality table row."""
    return (
        domain,
        network,
        str(r.vertex),
        r.label if isinstance(r.label, str) else None,
        int(r.patents),
        int(r.degree),
        float(r.strength),
        float(r.betweenness),
        float(r.closeness),
        float(r.eigenvector),
        float(r.pagerank),
        int(r.core_number),
        float(r.constraint),
        float(r.effective_size),
        int(r.community),
        int(r.component),
        [str(f) for f in r.flags],
    )
