"""The README's main command, run in-process on the bundled sample: every stage, real MLflow."""

from mlflow.tracking import MlflowClient

from conftest import ROOT
from techscreen.config import load_settings
from techscreen.embed.routing import RoutePlan

SIX = set(load_settings(ROOT / "conf").domains.definitions)


def test_sample_ingest_reads_every_bundled_format_and_reconciles(screening):
    _, summary = screening
    ingest = summary["stages"]["ingest"]
    assert ingest["reconciled"] is True
    assert ingest["read"] == ingest["kept"] + ingest["quarantined"] + ingest["merged"]
    assert set(ingest["read_by_format"]) == {
        "uspto-grant-xml",
        "patentsview",
        "lens-json",
        "mapped:uspto_applications_jsonl",
        "mapped:uspto_y02_grants_jsonl",
        "mapped:cn_agri_abstracts_csv",
        "mapped:waste_heat_abstracts_jsonl",
        "mapped:patentsview_pgpub_assignee_csv",
        "patsnap",
        "uspto-application-xml",
    }
    # the sample is real data: most records are good, a few percent are quarantined
    assert ingest["kept"] > 4000 and 0 < ingest["quarantined"] < 0.1 * ingest["read"]


def test_sample_covers_six_domains_and_several_languages(spark, screening):
    ws, summary = screening
    counts = summary["stages"]["domains"]["patents_by_domain"]
    assert set(counts) >= SIX and all(counts[d] > 50 for d in SIX)
    langs = {
        r.language: r["count"]
        for r in spark.read.parquet(str(ws / "patents")).groupBy("language").count().collect()
    }
    assert langs["en"] > 3000 and langs["zh"] > 500 and langs.get("ko", 0) > 20


def test_sample_patents_join_their_domains(spark, screening):
    ws, _ = screening
    patents = spark.read.parquet(str(ws / "patents"))
    domains = spark.read.parquet(str(ws / "patent_domains"))
    assert domains.select("publication_number").distinct().count() == patents.count()
    assert patents.select("publication_number").distinct().count() == patents.count()


def test_pipeline_run_is_one_parent_with_a_child_per_stage(screening):
    ws, summary = screening
    client = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}")
    children = {}
    for stage in ("ingest", "domains", "embed", "cluster"):
        run = client.get_run(summary["stages"][stage]["run_id"])
        assert run.data.tags["mlflow.parentRunId"] == summary["run_id"]
        assert run.info.status == "FINISHED"
        children[stage] = run
    assert (
        children["domains"].data.tags["techscreen.upstream.patents"]
        == children["ingest"].info.run_id
    )
    assert children["ingest"].data.metrics["kept"] == summary["stages"]["ingest"]["kept"]


def test_sample_is_embedded_by_language(spark, screening):
    """The main screening routes by language out of the box (conf/base ``embed.routes``)."""
    ws, summary = screening
    ingest, embed = summary["stages"]["ingest"], summary["stages"]["embed"]
    minilm, lexical = embed["embedder_ids"]
    assert minilm.startswith("minilm-int8-") and lexical.startswith("lexical-zh-")
    assert embed["docs_embedded"] + embed["docs_skipped"] == ingest["kept"]
    patents = spark.read.parquet(str(ws / "patents")).toPandas()
    plan = RoutePlan.from_settings(load_settings(ROOT / "conf").embed)
    routes = [
        plan.route(r.language, r.title, r.abstract, r.title_en, r.abstract_en)
        for r in patents.itertuples()
    ]
    for eid, kind in ((minilm, "minilm-int8"), (lexical, "lexical-zh")):
        assert embed["embedders"][eid]["docs_routed"] == sum(r.embedder == kind for r in routes)
    # Chinese, Japanese, Korean, Russian text without a translation: lexical-zh; the rest,
    # translations included, MiniLM
    assert embed["embedders"][lexical]["docs_routed"] > 900
    assert sum(r.english for r in routes) >= 150  # every PatSnap record
    figures = embed["embedders"][minilm]
    assert figures["padding_ratio"] <= 1.15
    assert 0.0 < figures["truncation_rate"] < 0.5
    # English MiniLM still groups same-subclass patents far above chance (~1/600 subclasses)
    assert figures["ipc_knn_agreement_at_10"] > 0.15
    assert embed["embedders"][lexical]["ipc_knn_agreement_at_10"] > 0.3
    # what MiniLM read is English but for the Latin-script languages left to it
    assert figures["docs_not_english"] < 200
    assert spark.read.parquet(str(ws / "vectors")).count() == ingest["kept"]
