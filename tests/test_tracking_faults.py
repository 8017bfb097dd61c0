"""A tracking server that is down, silent or refuses credentials: real sockets, real CLI."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from mlflow.tracking import MlflowClient

from conftest import ROOT
from techscreen import spark as spark_module
from techscreen import tracking
from techscreen.cli import main
from techscreen.config import load_settings, workspace
from techscreen.tracking import FALLBACK_TAG, Tracker, TrackingServerUnreachable, check_server


def _free_port() -> int:
    with socket.socket() as s:  # bound, then closed: nothing listens there
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Handler(BaseHTTPRequestHandler):
    status = 401
    seen: ClassVar[list[tuple[str, str, str | None]]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        type(self).seen.append((self.command, self.path, self.headers.get("Authorization")))
        body = b'{"experiments": []}' if self.status == 200 else b"denied"
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:  # keep stderr for techscreen's lines only
        pass


@contextmanager
def _server(status: int) -> Iterator[tuple[str, list]]:
    handler = type("H", (_Handler,), {"status": status, "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def no_spark(monkeypatch):
    """Fail the test if the command gets as far as building a SparkSession."""
    from pyspark import SparkContext

    before = SparkContext._active_spark_context
    built: list = []

    def refuse(*args, **kwargs):
        built.append(args)
        raise AssertionError("a SparkSession was built before the tracking server was checked")

    monkeypatch.setattr(spark_module, "build_session", refuse)
    yield built
    assert SparkContext._active_spark_context is before


def _cli(capsys, tmp_path, command: list[str], *sets: str) -> tuple[int, str, str, float]:
    ws = tmp_path / "ws"
    args = [*command, "--conf-dir", str(ROOT / "conf"), "--set", f"paths.workspace={ws}"]
    for item in sets:
        args += ["--set", item]
    start = time.monotonic()
    code = main(args)
    seconds = time.monotonic() - start
    out, err = capsys.readouterr()
    return code, out, err, seconds


@pytest.mark.parametrize("command", [["domains"], ["experiments", "compare"]])
def test_server_down_fails_fast_in_one_line_before_spark(capsys, tmp_path, no_spark, command):
    uri = f"http://127.0.0.1:{_free_port()}"
    code, out, err, seconds = _cli(capsys, tmp_path, command, f"mlflow.tracking_uri={uri}")
    assert code == 1 and out == ""
    assert err.splitlines() == [
        f"techscreen: error: MLflow tracking server {uri} is not reachable (connection "
        "refused); start it, fix mlflow.tracking_uri, or set mlflow.fallback_local: true"
    ]
    assert seconds < 15
    assert no_spark == []
    assert not (tmp_path / "ws").exists()  # no tables, no local store: nothing was written


def test_silent_server_times_out_after_the_probe_timeout():
    # Listening but never accepting: the connection is made, no answer ever comes.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        uri = f"http://127.0.0.1:{s.getsockname()[1]}"
        start = time.monotonic()
        with pytest.raises(TrackingServerUnreachable, match=r"no answer within 0\.5 s"):
            check_server(uri, timeout=0.5)
        assert time.monotonic() - start < 5


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_name_the_uri_and_send_mlflow_env_credentials(
    capsys, tmp_path, no_spark, monkeypatch, status
):
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "wrong")
    with _server(status) as (uri, seen):
        code, _, err, seconds = _cli(
            capsys,
            tmp_path,
            ["grade"],
            f"mlflow.tracking_uri={uri}",
            "mlflow.fallback_local=true",  # a refusal is not an outage: no fallback
        )
    assert code == 1 and seconds < 15 and no_spark == []
    assert err.splitlines() == [
        f"techscreen: error: MLflow tracking server {uri} refused the credentials (HTTP "
        f"{status} on /health); set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, "
        "or MLFLOW_TRACKING_TOKEN, to ones it accepts"
    ]
    # MLflow's own env credentials went out, as HTTP basic auth ("alice:wrong").
    assert seen == [("GET", "/health", "Basic YWxpY2U6d3Jvbmc=")]


def test_healthy_server_passes_the_check_with_a_token(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "t0k")
    with _server(200) as (uri, seen):
        check_server(uri, timeout=2)
    assert seen == [
        ("GET", "/health", "Bearer t0k"),
        ("POST", "/api/2.0/mlflow/experiments/search", "Bearer t0k"),
    ]


def test_server_error_counts_as_unreachable():
    with _server(503) as (uri, _), pytest.raises(TrackingServerUnreachable, match="HTTP 503"):
        check_server(uri, timeout=2)


def test_fallback_logs_locally_warns_and_tags_the_runs(capsys, tmp_path, no_spark, caplog):
    uri = f"http://127.0.0.1:{_free_port()}"
    ws = tmp_path / "ws"
    settings = load_settings(
        ROOT / "conf",
        None,
        [f"paths.workspace={ws}", f"mlflow.tracking_uri={uri}", "mlflow.fallback_local=true"],
    )
    with caplog.at_level("WARNING", logger="techscreen.tracking"):
        tracker = Tracker.from_settings(settings.mlflow, workspace(settings))
    local = f"sqlite:///{ws.resolve() / 'mlflow.db'}"
    assert tracker.uri == local and tracker.fallback_from == uri
    assert any(uri in r.getMessage() and local in r.getMessage() for r in caplog.records)
    with tracker.parent("pipeline:test") as parent, tracker.stage("cluster") as run:
        run.log(params={"cluster": {"k": 8}}, metrics={"nmi": 0.5})
    client = MlflowClient(local)
    for run_id in (parent.run_id, run.run_id):
        assert client.get_run(run_id).data.tags[FALLBACK_TAG] == uri

    # The CLI, with the server still down, reads that local store and says why.
    caplog.clear()
    with caplog.at_level("WARNING", logger="techscreen.tracking"):
        code, out, err, _ = _cli(
            capsys,
            tmp_path,
            ["experiments", "compare", "--plot", str(tmp_path / "compare.png")],
            f"mlflow.tracking_uri={uri}",
            "mlflow.fallback_local=true",
        )
    assert code == 0, err
    assert run.run_id[:8] in out
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and uri in warnings[0] and local in warnings[0]
    assert FALLBACK_TAG in warnings[0]


def test_local_store_is_not_probed(tmp_path, monkeypatch):
    def probe(*args, **kwargs):
        raise AssertionError("a local store was probed")

    monkeypatch.setattr(tracking, "check_server", probe)
    settings = load_settings(ROOT / "conf", None, [f"paths.workspace={tmp_path / 'ws'}"])
    uri, fallback_from = tracking.resolve_tracking(settings.mlflow, workspace(settings))
    assert uri.startswith("sqlite:///") and fallback_from is None
