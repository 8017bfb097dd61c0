"""Shared test fixtures: one SparkSession for the whole run, real files, no network."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import logging
import os
import time
from pathlib import Path

import pytest

from techscreen.config import SparkSettings
from techscreen.spark import build_session

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
SHARED = ROOT.parent / "shared" / "data"  # CI has it; tests that need it skip without it
IPA = ROOT / "data" / "sample" / "ipa_week" / "uspto_ipa230105_applications.jsonl.gz"
STATIC_DIMS = 256  # pca_dims of the session's static embedder

log = logging.getLogger(__name__)

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def spark():
    session = build_session(
        SparkSettings(master="local[2]", shuffle_partitions=4, driver_memory="2g")
    )
    yield session
    session.stop()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED


def static_fit_texts(n: int = 40) -> list[str]:
    """A tiny fit corpus: the first n applications of the bundled sample, read directly."""
    with gzip.open(IPA, "rt", encoding="utf-8") as f:
        records = [json.loads(line) for _, line in zip(range(n), f, strict=False)]
    return [f"{r['title'].capitalize()}. {r['abstract']}" for r in records]


@pytest.fixture(scope="session")
def static_model(tmp_path_factory) -> Path:
    """A small static embedder, built once per session, in a folder of its own.

    Distilled from the packaged MiniLM and fitted on 40 sample texts: the model
    tests/embed/test_static.py checks, and the embedder of the pipeline tests that test the
    pipeline's machinery (cluster mode, incremental runs, routing, a small heap) rather than
    embedding quality. Built once (the same build in test_static's rebuild test: 22 s on a
    2-core CPU); the default minilm-int8 spends ~70 s embedding the bundled sample.
    """
    from techscreen.embed.static import build_static

    out = tmp_path_factory.mktemp("static") / "static-minilm"
    started = time.perf_counter()
    build_static(out, pca_dims=STATIC_DIMS, texts=static_fit_texts(), corpus={"corpus": "ipa head"})
    log.info("build_static took %.1f s", time.perf_counter() - started)
    return out


@pytest.fixture(scope="session")
def static_embed(static_model) -> list[str]:
    """``--set`` overrides that make a run embed with :func:`static_model` (the folder exists,
    so no run builds or writes it; ``paths.writable`` only lets the write check pass)."""
    return [
        "embed.embedder=static",
        f"embed.static.path={static_model}",
        f"paths.writable+=[{static_model.parent}]",
    ]


def run_cli(args: list[str], overrides: list[str]) -> dict:
    """``techscreen ARGS --conf-dir conf --set …`` in this process: its JSON summary line."""
    from techscreen.cli import main

    argv = [*args, "--conf-dir", str(ROOT / "conf")]
    for override in overrides:
        argv += ["--set", override]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    assert code == 0
    return json.loads(out.getvalue().strip().splitlines()[-1])


def one_embedder(embed_summary: dict) -> tuple[str, dict]:
    """The embedder id and per-embedder figures of an embed run that used one embedder."""
    ((embedder_id, figures),) = embed_summary["embedders"].items()
    assert embed_summary["embedder_ids"] == [embedder_id]
    return embedder_id, figures


@pytest.fixture(scope="session")
def screening(spark, tmp_path_factory):
    """The README's main command run once on the bundled sample: (workspace, JSON summary)."""
    from techscreen.cli import main

    ws = tmp_path_factory.mktemp("screening") / "ws"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(
            [
                "run",
                str(ROOT / "pipelines" / "screening.yaml"),
                "--conf-dir",
                str(ROOT / "conf"),
                "--set",
                f"paths.workspace={ws}",
                "--set",
                f"paths.input=[{ROOT / 'data' / 'sample'}]",
            ]
        )
    assert code == 0
    return ws, json.loads(out.getvalue().strip().splitlines()[-1])


# Real services of the distributed tests (tests/cluster_mode/): a Spark standalone cluster (a
# master, two workers) and an MLflow tracking server on 127.0.0.1, torn down even on failure.
# Here, not in a tests/cluster_mode/conftest.py: a second module named conftest would shadow
# this one for every `from conftest import ROOT`.
@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory):
    """A master and two workers (1 core, 2g each) from pyspark's own sbin/spark-daemon.sh."""
    from cluster_mode.standalone import processes_mentioning, spark_standalone

    base = tmp_path_factory.mktemp("spark-standalone")
    with spark_standalone(base, workers=2, cores=1, memory="2g") as cluster:
        yield cluster
    left = processes_mentioning(str(cluster.base)) + processes_mentioning(cluster.url)
    assert not left, f"processes of the standalone cluster survived teardown: {left}"


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory):
    """``mlflow server`` with a SQLite store and proxied artifacts under tmp."""
    from cluster_mode.standalone import mlflow_server, processes_mentioning

    base = tmp_path_factory.mktemp("mlflow-server")
    with mlflow_server(base) as server:
        yield server
    port = server.uri.rsplit(":", 1)[1]
    left = processes_mentioning(f"--port {port}")
    assert not left, f"processes of the mlflow server survived teardown: {left}"
