"""The README's main command, run in-process on the bundled sample: every stage, real MLflow."""

from mlflow.tracking import MlflowClient

from conftest import ROOT, one_embedder
from techscreen.config import load_settings

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


def test_sample_is_embedded_with_the_default_embedder(spark, screening):
    ws, summary = screening
    ingest, embed = summary["stages"]["ingest"], summary["stages"]["embed"]
    embedder_id, figures = one_embedder(embed)
    assert embedder_id.startswith("minilm-int8-")
    assert embed["docs_embedded"] + embed["docs_skipped"] == ingest["kept"]
    assert figures["docs_embedded"] == embed["docs_embedded"]
    assert figures["padding_ratio"] <= 1.15
    assert 0.0 < figures["truncation_rate"] < 0.5
    # English MiniLM still groups same-subclass patents far above chance (~1/600 subclasses)
    assert figures["ipc_knn_agreement_at_10"] > 0.15
    assert spark.read.parquet(str(ws / "vectors")).count() == ingest["kept"]
