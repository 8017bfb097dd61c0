"""Module-scoped real services: a Spark standalone cluster (a master, two workers) and an
MLflow tracking server, both on 127.0.0.1, both torn down even when a test fails."""

from __future__ import annotations

import pytest
from standalone import mlflow_server, processes_mentioning, spark_standalone


@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory):
    """A master and two workers (1 core, 2g each) from pyspark's own sbin/spark-daemon.sh."""
    base = tmp_path_factory.mktemp("spark-standalone")
    with spark_standalone(base, workers=2, cores=1, memory="2g") as cluster:
        yield cluster
    left = processes_mentioning(str(cluster.base)) + processes_mentioning(cluster.url)
    assert not left, f"processes of the standalone cluster survived teardown: {left}"


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory):
    """``mlflow server`` with a SQLite store and proxied artifacts under tmp."""
    base = tmp_path_factory.mktemp("mlflow-server")
    with mlflow_server(base) as server:
        yield server
    port = server.uri.rsplit(":", 1)[1]
    left = processes_mentioning(f"--port {port}")
    assert not left, f"processes of the mlflow server survived teardown: {left}"
