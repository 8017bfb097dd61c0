"""The embed stage on the real SparkSession: vectors, incremental runs, determinism, bad input."""

import numpy as np
import pytest
from pyspark.sql import functions as F

from conftest import FIXTURES, ROOT, one_embedder
from techscreen.cli import main
from techscreen.config import load_settings
from techscreen.embed.lexical import NO_FIT_ID
from techscreen.embed.minilm import MiniLMEmbedder
from techscreen.embed.registry import loaded
from techscreen.embed.routing import kind_of
from techscreen.embed.vectors import embed_window


def run(capsys, ws, *args):
    code = main([*args, "--conf-dir", str(ROOT / "conf"), "--set", f"paths.workspace={ws}"])
    out, err = capsys.readouterr()
    assert code == 0, err[-2000:]
    import json

    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def workspace(spark, tmp_path_factory):
    """A small real workspace: the grant XML and PatentsView fixtures, ingested."""
    ws = tmp_path_factory.mktemp("embed") / "ws"
    assert (
        main(
            [
                "ingest",
                str(FIXTURES / "uspto_xml"),
                str(FIXTURES / "patentsview_csv"),
                "--conf-dir",
                str(ROOT / "conf"),
                "--set",
                f"paths.workspace={ws}",
            ]
        )
        == 0
    )
    return ws


def vectors(spark, ws):
    return spark.read.parquet(str(ws / "vectors"))


def test_first_run_embeds_every_patent_and_second_is_a_no_op(spark, capsys, workspace):
    capsys.readouterr()
    first = run(capsys, workspace, "embed")
    patents = spark.read.parquet(str(workspace / "patents"))
    assert first["docs_embedded"] + first["docs_skipped"] == patents.count()
    assert first["docs_skipped"] == 0
    # routed by language (conf/base): English patents all go to MiniLM; lexical-zh, which no
    # record is routed to, gets an empty partition, so the cluster stage finds its space
    embedder_id, lexical = first["embedder_ids"]
    assert [kind_of(i) for i in first["embedder_ids"]] == ["minilm-int8", "lexical-zh"]
    figures = first["embedders"][embedder_id]
    assert first["embedders"][lexical]["docs_routed"] == 0
    assert (workspace / "vectors" / f"embedder_id={lexical}").is_dir()
    # lexical-zh is fitted on the workspace's routed patents: with none, nothing is fitted
    assert lexical == NO_FIT_ID and not (workspace / "models").exists()
    assert 1.0 <= figures["padding_ratio"] <= 1.15
    assert 0.0 <= figures["truncation_rate"] < 0.5
    rows = vectors(spark, workspace).collect()
    assert len(rows) == patents.count()
    matrix = np.array([r.vector for r in rows], dtype=np.float32)
    assert matrix.shape == (len(rows), 384)
    assert np.isfinite(matrix).all()
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-5)
    assert {r.embedder_id for r in rows} == {embedder_id}

    second = run(capsys, workspace, "embed")
    assert second["docs_pending"] == 0 and second["docs_embedded"] == 0
    assert vectors(spark, workspace).count() == len(rows)


def test_changed_patent_is_re_embedded_alone(spark, capsys, workspace, tmp_path):
    run(capsys, workspace, "embed")  # make sure everything is embedded
    patents = spark.read.parquet(str(workspace / "patents"))
    victim = patents.orderBy("publication_number").first().publication_number
    changed = patents.withColumn(
        "content_hash",
        F.when(F.col("publication_number") == victim, F.lit("changed")).otherwise(
            F.col("content_hash")
        ),
    ).withColumn(
        "abstract",
        F.when(
            F.col("publication_number") == victim, F.lit("A rewritten abstract about batteries.")
        ).otherwise(F.col("abstract")),
    )
    staged = tmp_path / "patents"
    changed.write.parquet(str(staged))
    import shutil

    shutil.rmtree(workspace / "patents")
    shutil.copytree(staged, workspace / "patents")
    result = run(capsys, workspace, "embed")
    assert result["docs_pending"] == 1 and result["docs_embedded"] == 1


def test_vectors_are_deterministic_on_cpu(spark, capsys, workspace, tmp_path):
    # The same patents embedded again in another workspace, with another partitioning.
    run(capsys, workspace, "embed")  # a no-op when an earlier test embedded them
    ws2 = tmp_path / "ws2"
    import shutil

    shutil.copytree(workspace / "patents", ws2 / "patents")
    run(capsys, ws2, "embed", "--set", "spark.shuffle_partitions=3", "--set", "embed.sort_window=7")
    a = {
        r.publication_number + r.content_hash: np.array(r.vector)
        for r in vectors(spark, workspace).collect()
    }
    b = {
        r.publication_number + r.content_hash: np.array(r.vector)
        for r in vectors(spark, ws2).collect()
    }
    common = sorted(set(a) & set(b))
    assert len(common) >= len(b) - 1
    for key in common:
        np.testing.assert_allclose(a[key], b[key], atol=1e-5)


@pytest.fixture(scope="module")
def minilm():
    s = load_settings(ROOT / "conf").embed
    return loaded(MiniLMEmbedder(max_tokens=s.max_tokens, batch_size=8))


def test_bad_texts_are_embedded_or_skipped_never_nan(minilm):
    docs = [
        "",
        "   ",
        "利用苕子根茬免耕种植法是一种农作物种植的耕作方法",
        "control\x00chars\x07 in \x1b[31m text",
        "waste heat " * 100_000,
        "A battery electrode.",
    ]
    from techscreen.embed.text import clean

    cleaned = [clean(d) for d in docs]
    batch = embed_window(minilm, [f"P{i}" for i in range(6)], ["h"] * 6, cleaned, 1.1).to_pydict()
    assert batch["skip_reason"][:2] == ["no_text", "no_text"]
    assert batch["vector"][0] is None and batch["vector"][1] is None
    for i in range(2, 6):
        v = np.array(batch["vector"][i], dtype=np.float32)
        assert v.shape == (384,) and np.isfinite(v).all()
        assert abs(np.linalg.norm(v) - 1) < 1e-5
    assert batch["truncated"][4] is True and batch["n_tokens"][4] == minilm.max_tokens
    assert batch["truncated"][5] is False


def test_length_batches_bound_padding():
    from techscreen.embed.vectors import length_batches

    lengths = np.array([10, 200, 12, 180, 100, 105, 256, 256, 30])
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches = length_batches(order, lengths, size=3, max_padding=1.1)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert all(len(b) <= 3 for b in batches)
    for b in batches:
        assert lengths[b].max() <= max(lengths[b[0]] * 1.1, lengths[b[0]] + 8)
    padded = sum(lengths[b].max() * len(b) for b in batches)
    assert padded / lengths.sum() <= 1.1


def test_fp32_minilm_batches_by_length_with_little_padding(spark, capsys, workspace, tmp_path):
    import shutil

    ws = tmp_path / "fp32"
    shutil.copytree(workspace / "patents", ws / "patents")
    result = run(capsys, ws, "embed", "--set", "embed.embedder=minilm", "--set", "embed.routes={}")
    embedder_id, figures = one_embedder(result)
    assert embedder_id.startswith("minilm-") and "int8" not in embedder_id
    rows = vectors(spark, ws).collect()
    assert result["docs_embedded"] == len(rows) > 0
    # batches really were padded (texts differ in length) but by at most max_padding overall
    assert 1.0 < figures["padding_ratio"] <= 1.15
    assert len({r.batch_tokens for r in rows}) > 1
