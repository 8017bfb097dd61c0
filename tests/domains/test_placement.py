"""Patents whose codes match no domain, placed by their text: real Spark, vectors, MLflow.

Most checks read the README's screening run of the bundled sample (the shared ``screening``
fixture, default settings: placement on): every patent in no domain is placed or counted as
left, the placed ones are clustered, graded and reported like the others, and the
classifier's held-out accuracy is logged.

One fixture goes further on a copy of that workspace: eight patents on crops (soil working,
planting, harvesting, plant breeding; in the sample, Chinese abstracts) get a measurement
code that no domain holds (``G01N 21/25``, optical analysis), the domains stage makes them
``unassigned``, and the cluster stage must put them back into agriculture by their text
alone. The same copy clustered with ``domains.placement.enabled=false``
reproduces the behaviour before placement: the patents are in no domain.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from pyspark.sql import functions as F

from conftest import ROOT
from techscreen.cli import main
from techscreen.config import load_settings
from techscreen.io.tables import write_table
from techscreen.schema import BY_CODES, BY_TEXT, PLACED, UNASSIGNED_DOMAIN

FLOOR = load_settings(ROOT / "conf").domains.placement.min_confidence
FOREIGN_CODE = "G01N 21/25"  # optical analysis of materials: WIPO field 10, in no domain
MOVED = 8
CROPS = {"A01B", "A01C", "A01D", "A01G", "A01H"}


def _cli(ws, *args: str) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([*args, "--conf-dir", str(ROOT / "conf"), "--set", f"paths.workspace={ws}"])
    assert code == 0, args
    return json.loads(out.getvalue().strip().splitlines()[-1])


def _of_run(spark, ws, table: str, run_id: str) -> pd.DataFrame:
    frame = spark.read.option("mergeSchema", "true").parquet(str(ws / table))
    return frame.where(F.col("run_id") == run_id).drop("run_id").toPandas()


def _metrics(ws, run_id: str) -> dict[str, float]:
    return MlflowClient(f"sqlite:///{ws / 'mlflow.db'}").get_run(run_id).data.metrics


# --- the sample screening ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def screened(spark, screening):
    ws, summary = screening
    stages = summary["stages"]
    run = stages["cluster"]["run_id"]
    return {
        "ws": ws,
        "stages": stages,
        "placements": _of_run(spark, ws, "placements", run),
        "assignments": _of_run(spark, ws, "assignments", run),
        "nodes": _of_run(spark, ws, "nodes", run),
        "grades": _of_run(spark, ws, "grades", stages["grade"]["run_id"]),
        "unassigned": set(
            spark.read.parquet(str(ws / "patent_domains"))
            .where(F.col("domain") == UNASSIGNED_DOMAIN)
            .toPandas()
            .publication_number
        ),
        "metrics": _metrics(ws, run),
    }


def test_every_patent_in_no_domain_is_placed_or_counted_as_left(screened):
    placements, metrics = screened["placements"], screened["metrics"]
    assert len(screened["unassigned"]) > 100  # the sample has patents in no domain
    assert sorted(placements.publication_number) == sorted(screened["unassigned"])
    placed = placements[placements.status == PLACED]
    left = placements[placements.status != PLACED]
    assert len(placed) > 0.5 * len(placements)
    assert (placed.confidence >= FLOOR).all() and placed.domain.notna().all()
    below = left[left.status == "below_floor"]
    assert (below.confidence < FLOOR).all()
    assert left[left.status != "below_floor"].confidence.isna().all()
    assert metrics["placement.unassigned"] == len(placements)
    assert metrics["placement.placed"] == len(placed)
    for status, n in left.status.value_counts().items():
        assert metrics[f"placement.left.{status}"] == n
    summary = screened["stages"]["cluster"]["placement"]
    assert summary["placed"] == len(placed) and summary["enabled"] == 1


def test_placed_patents_are_clustered_graphed_graded_and_reported(spark, screened):
    placements, assignments = screened["placements"], screened["assignments"]
    placed = placements[placements.status == PLACED]
    by_text = assignments[assignments.domain_source == BY_TEXT]
    # each placed patent is in its domain once, with the placement's confidence
    assert sorted(zip(by_text.domain, by_text.publication_number, strict=True)) == sorted(
        zip(placed.domain, placed.publication_number, strict=True)
    )
    confidence = placed.set_index("publication_number").confidence
    assert (
        by_text.set_index("publication_number")
        .domain_confidence.sub(confidence.loc[by_text.publication_number].values)
        .abs()
        .max()
        < 1e-6
    )
    assert set(assignments.domain_source) == {BY_CODES, BY_TEXT}
    assert by_text.domain_confidence.notna().all()
    assert assignments[assignments.domain_source == BY_CODES].domain_confidence.isna().all()
    # nodes count their text-placed members, grades carry the share
    members = by_text[by_text.node >= 0]
    assert len(members) > 0.5 * len(by_text)
    counted = members.groupby("node_id").size()
    nodes = screened["nodes"].set_index("node_id")
    assert nodes.text_placed.sum() == len(members)
    assert (nodes.text_placed.loc[counted.index] == counted).all()
    grades = screened["grades"].query("kind == 'node'").set_index("item")
    share = nodes.text_placed / nodes["size"]
    assert (grades.text_placed_share - share.loc[grades.index]).abs().max() < 1e-9
    assert (grades.text_placed_share > 0).sum() >= 5
    # the graph read the same patents: a domain's code network counts the placed ones' codes
    ws = screened["ws"]
    graph_run = screened["stages"]["graph"]["run_id"]
    centrality = _of_run(spark, ws, "centrality", graph_run).query("network == 'codes'")
    patents = spark.read.parquet(str(ws / "patents")).select(
        "publication_number", "ipc_codes", "cpc_codes"
    )

    def subclasses(rows):
        """The distinct (domain, IPC/CPC subclass) pairs of these patents' codes."""
        return (
            spark.createDataFrame(rows[["domain", "publication_number"]])
            .join(patents, "publication_number")
            .select("domain", F.explode(F.array_union("ipc_codes", "cpc_codes")).alias("code"))
            .select("domain", F.substring("code", 1, 4).alias("code"))
            .distinct()
            .toPandas()
        )

    codes = subclasses(by_text)
    own = subclasses(assignments[assignments.domain_source == BY_CODES])
    only_placed = codes.merge(own, how="left", indicator=True).query("_merge == 'left_only'")
    vertices = set(zip(centrality.domain, centrality.vertex, strict=True))
    assert len(only_placed) > 0
    assert all((r.domain, r.code) in vertices for r in only_placed.itertuples())
    # the report says how many were placed where, and how accurate the classifier was
    page = (ws / "report" / "index.html").read_text(encoding="utf-8")
    assert "id='placement'" in page and "id='placement-accuracy'" in page
    table = re.search(r"<table id='placement-domains'>.*?</table>", page, re.S).group(0)
    per_domain = placed.domain.value_counts()
    for domain in screened["stages"]["cluster"]["domains"]:
        cells = re.search(rf"<tr><td>{domain}</td>(.*?)</tr>", table).group(1)
        numbers = re.findall(r"<td class='num'>([^<]*)</td>", cells)
        assert int(numbers[2]) == per_domain.get(domain, 0), domain
        assert int(numbers[0]) == (assignments.domain == domain).sum(), domain
    exported = pd.read_csv(ws / "report" / "grades.csv", encoding="utf-8-sig")
    assert exported.text_placed_share.notna().sum() == len(grades)


def test_the_held_out_accuracy_is_logged_overall_per_space_and_per_domain(screened):
    metrics = screened["metrics"]
    spaces = {k.split(".")[2] for k in metrics if k.startswith("placement.space.")}
    assert spaces == {"minilm-int8", "lexical-zh"}  # the sample's two vector spaces
    held = {s: metrics[f"placement.space.{s}.held_out"] for s in spaces}
    assert sum(held.values()) == metrics["placement.held_out"] > 500
    right = sum(metrics[f"placement.space.{s}.accuracy"] * held[s] for s in spaces)
    assert right / metrics["placement.held_out"] == pytest.approx(
        metrics["placement.accuracy"], abs=1e-3
    )
    # far above always answering the largest domain (under half the sample's patents)
    assert metrics["placement.accuracy"] > 0.75
    assert metrics["placement.accuracy_above_floor"] >= metrics["placement.accuracy"]
    for domain in screened["stages"]["cluster"]["domains"]:
        assert 0.5 < metrics[f"{domain}.placement.precision"] <= 1
        assert 0 < metrics[f"{domain}.placement.recall"] <= 1
        placed = (screened["placements"].status == PLACED) & (
            screened["placements"].domain == domain
        )
        assert metrics[f"{domain}.placement.placed"] == placed.sum()


# --- agriculture patents with a code of no domain ---------------------------------------------


@pytest.fixture(scope="module")
def moved(spark, screening, tmp_path_factory):
    """A copy of the screening with eight crop patents recoded out of every domain."""
    source, _ = screening
    ws = tmp_path_factory.mktemp("placement") / "ws"
    shutil.copytree(source, ws)
    domains = spark.read.parquet(str(ws / "patent_domains")).toPandas()
    sets = domains.groupby("publication_number").domain.agg(frozenset)
    patents = spark.read.parquet(str(ws / "patents"))
    texts = patents.where(F.col("title").isNotNull() & F.col("abstract").isNotNull())
    # soil working, planting, harvesting, horticulture, plant breeding: agriculture alone
    field_crops = sorted(
        r.publication_number
        for r in texts.select("publication_number", "ipc_codes", "cpc_codes").collect()
        if sets.get(r.publication_number) == frozenset({"agriculture"})
        and all(c[:4] in CROPS for c in r.ipc_codes + r.cpc_codes)
    )
    chosen = field_crops[:: max(1, len(field_crops) // MOVED)][:MOVED]  # spread over them
    assert len(chosen) == MOVED
    settings = load_settings(ROOT / "conf", None, [f"paths.workspace={ws}"])
    hit = F.col("publication_number").isin(chosen)
    recoded = patents.withColumn(
        "ipc_codes", F.when(hit, F.array(F.lit(FOREIGN_CODE))).otherwise(F.col("ipc_codes"))
    ).withColumn(
        "cpc_codes", F.when(hit, F.array().cast("array<string>")).otherwise(F.col("cpc_codes"))
    )
    write_table(recoded.localCheckpoint(), settings, "patents", {"run_id": "recoded"})
    _cli(ws, "domains")
    agriculture = ["--set", "cluster.domains=[agriculture]"]
    one_fit = [  # one candidate, one seed: placement, not the granularity sweep, is tested here
        *("--set", "cluster.min_cluster_size=10", "--set", "cluster.selection=leaf"),
        *("--set", "cluster.stability_runs=1"),
    ]
    on = _cli(ws, "cluster", *agriculture, *one_fit)
    off = _cli(
        ws,
        "cluster",
        *agriculture,
        "--set",
        "domains.placement.enabled=false",
        "--set",
        "cluster.min_cluster_size=99999",  # no fit needed to see who is in the domain
    )
    return ws, chosen, on, off


def test_agricultural_text_with_a_foreign_code_is_placed_in_agriculture(spark, moved):
    ws, chosen, on, _ = moved
    domains = spark.read.parquet(str(ws / "patent_domains")).toPandas()
    assert set(domains[domains.publication_number.isin(chosen)].domain) == {UNASSIGNED_DOMAIN}
    placements = _of_run(spark, ws, "placements", on["run_id"]).set_index("publication_number")
    mine = placements.loc[chosen]
    assert (mine.domain == "agriculture").sum() >= MOVED - 1, mine
    placed = mine[(mine.status == PLACED) & (mine.domain == "agriculture")].index
    assignments = _of_run(spark, ws, "assignments", on["run_id"]).set_index("publication_number")
    theirs = assignments.loc[placed]
    assert (theirs.domain == "agriculture").all() and (theirs.domain_source == BY_TEXT).all()
    assert (theirs.node >= 0).sum() >= len(placed) - 1  # in agriculture's nodes
    nodes = _of_run(spark, ws, "nodes", on["run_id"]).set_index("node_id")
    for node_id, n in theirs[theirs.node >= 0].groupby("node_id").size().items():
        assert nodes.loc[node_id, "text_placed"] >= n
    assert on["placement"]["enabled"] == 1
    assert on["domains"]["agriculture"]["placement"]["placed"] >= len(placed)


def test_with_placement_off_patents_in_no_domain_are_not_screened(spark, moved):
    ws, chosen, _, off = moved
    rows = _of_run(spark, ws, "assignments", off["run_id"])
    domains = spark.read.parquet(str(ws / "patent_domains")).toPandas()
    agriculture = domains[domains.domain == "agriculture"]
    assert sorted(rows.publication_number) == sorted(agriculture.publication_number)
    assert not set(chosen) & set(rows.publication_number)
    assert set(rows.domain_source) == {BY_CODES}
    assert not (ws / "placements" / f"run_id={off['run_id']}").exists()
    figures = off["placement"]
    assert figures["enabled"] == 0
    assert figures["unassigned"] == (domains.domain == UNASSIGNED_DOMAIN).sum()
    assert _metrics(ws, off["run_id"])["placement.unassigned"] == figures["unassigned"]
