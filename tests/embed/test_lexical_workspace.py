"""lexical-zh fitted on the workspace by default: real ingest, Spark, jieba fits and MLflow.

A workspace of Chinese agriculture abstracts (the bundled CN A01 sample, cut in two) is
embedded with the shipped settings: the fit is made on the workspace's own patents (less
the held-out fifth), checked against the texts chosen here independently in Python; an
unchanged corpus reuses the fit, a grown one keeps it under ``keep_fit`` and is refitted
otherwise; the log and the MLflow params name the corpus each time.
"""

from __future__ import annotations

import csv
import json
import logging

import pytest
from mlflow.tracking import MlflowClient

from conftest import ROOT, run_cli
from techscreen.cluster.spaces import ClusterPlan
from techscreen.config import load_settings
from techscreen.embed.lexical import CONFIG, LexicalEmbedder, corpus_sha256
from techscreen.embed.lexical_workspace import CURRENT
from techscreen.embed.static_fit import held_out, held_out_column
from techscreen.embed.text import patent_text
from techscreen.resume import fingerprint

SAMPLE = ROOT / "data" / "sample" / "cn_agri" / "cn_agri_a01_abstracts.csv"
FIRST, SECOND = 120, 40  # records of the first input, and of the batch added later
FAST = ["embed.lexical.dims=32"]


def _run(ws, *args: str, sets: tuple[str, ...] = ()) -> dict:
    return run_cli(list(args), [f"paths.workspace={ws}", *FAST, *sets])


def _inputs(root):
    with SAMPLE.open(encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    folders = []
    for name, part in (("a", body[:FIRST]), ("b", body[FIRST : FIRST + SECOND])):
        folder = root / name
        folder.mkdir()
        with (folder / SAMPLE.name).open("w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows([header, *part])
        folders.append(folder)
    return folders


def _expected_corpus(spark, ws) -> list[str]:
    """The fit texts chosen in Python: Chinese rows, not held out, by publication number."""
    rows = spark.read.parquet(str(ws / "patents")).toPandas().sort_values("publication_number")
    assert set(rows.language) == {"zh"}  # all routed to lexical-zh by conf/base
    return [
        text
        for number, title, abstract in zip(
            rows.publication_number, rows.title, rows.abstract, strict=True
        )
        if not held_out(number) and (text := patent_text(title, abstract, "title_abstract"))
    ]


def _state(ws) -> dict:
    """The workspace's fits now: folders, current.json and the current fit's config."""
    fits = ws / "models" / "lexical-zh"
    current = json.loads((fits / CURRENT).read_text())
    return {
        "folders": sorted(p.name for p in fits.iterdir()),
        "current": current,
        "folder": fits / current["key"],
        "config": json.loads((fits / current["key"] / CONFIG).read_text()),
        "embedder_id": LexicalEmbedder(path=str(fits / current["key"])).embedder_id,
    }


def _params(ws, run_id: str) -> dict[str, str]:
    return MlflowClient(f"sqlite:///{ws / 'mlflow.db'}").get_run(run_id).data.params


def _lexical(summary: dict) -> tuple[str, dict]:
    ((eid, figures),) = [(e, f) for e, f in summary["embedders"].items() if "lexical" in e]
    return eid, figures


@pytest.fixture(scope="module")
def steps(spark, tmp_path_factory):
    """Ingest A, embed twice; ingest A + B, embed with keep_fit, then without it."""
    root = tmp_path_factory.mktemp("lexical-ws")
    a, b = _inputs(root)
    ws = root / "ws"
    out = {"ws": ws}
    handler, logger = _Collect(), logging.getLogger("techscreen")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        _run(ws, "ingest", str(a))
        out["corpus_a"] = _expected_corpus(spark, ws)
        for step, sets in (("first", ()), ("again", ())):
            out[step] = _run(ws, "embed", sets=sets)
            out[f"{step}_log"] = handler.take()
            out[f"{step}_state"] = _state(ws)
        out["command"] = _run(ws, "models", "build-lexical-zh")
        out["command_log"] = handler.take()
        _run(ws, "ingest", str(a), str(b))
        out["corpus_ab"] = _expected_corpus(spark, ws)
        out["kept"] = _run(ws, "embed", sets=("embed.lexical.keep_fit=true",))
        out["kept_log"] = handler.take()
        out["refit"] = _run(ws, "embed")
        out["refit_log"] = handler.take()
        out["refit_state"] = _state(ws)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return out


class _Collect(logging.Handler):
    """The messages naming a lexical-zh fit, as the command logs them (stderr)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("embed: lexical-zh: "):
            self.lines.append(message)

    def take(self) -> list[str]:
        lines, self.lines = self.lines, []
        return lines


def test_fitted_on_the_workspace_by_default_and_the_corpus_is_named(spark, steps):
    ws, first = steps["ws"], steps["first"]
    eid, figures = _lexical(first)
    assert figures["docs_routed"] == FIRST and figures["docs_embedded"] == FIRST
    state = steps["first_state"]
    config, folder = state["config"], state["folder"]
    expected = steps["corpus_a"]
    assert FIRST * 0.6 < len(expected) < FIRST  # the held-out fifth is left out
    assert config["corpus_sha256"] == corpus_sha256(expected)
    assert config["fit_docs"] == len(expected) and config["dim"] == 32
    assert folder.parent == ws / "models" / "lexical-zh" and state["embedder_id"] == eid
    assert state["folders"] == sorted([state["current"]["key"], CURRENT])
    # the log and the embed run say which corpus it was fitted on
    (line,) = steps["first_log"]
    assert line.startswith("embed: lexical-zh: fitted on workspace ")
    assert str(ws / "patents") in line and f"{len(expected)} texts of {FIRST} routed" in line
    assert corpus_sha256(expected)[:16] in line
    params = _params(ws, first["run_id"])
    assert params["lexical-zh.fit"] == "fitted"
    assert str(ws / "patents") in params["lexical-zh.fit_corpus"]
    assert params["lexical-zh.fit_docs"] == str(len(expected))
    assert params["lexical-zh.corpus_sha256"] == corpus_sha256(expected)
    assert params["lexical-zh.fit_languages"] == f"zh {len(expected)}"


def test_an_unchanged_corpus_reuses_its_fit(steps):
    ws, first, again = steps["ws"], steps["first"], steps["again"]
    assert _lexical(again)[0] == _lexical(first)[0]
    assert again["docs_pending"] == 0 and again["docs_embedded"] == 0
    assert steps["again_state"] == steps["first_state"]
    (line,) = steps["again_log"]
    assert line.startswith("embed: lexical-zh: reusing the fit on workspace ")
    assert _params(ws, again["run_id"])["lexical-zh.fit"] == "reused"
    # the models command fits the workspace as the embed stage does: here, nothing to do
    command = steps["command"]
    assert command["fit"] == "reused" and command["built"] is False
    assert command["path"] == str(steps["first_state"]["folder"])
    assert command["corpus_sha256"] == corpus_sha256(steps["corpus_a"])
    (line,) = steps["command_log"]
    assert line.startswith("embed: lexical-zh: reusing the fit on workspace ")


def test_a_grown_corpus_keeps_the_fit_under_keep_fit(steps):
    ws, kept = steps["ws"], steps["kept"]
    eid, figures = _lexical(kept)
    assert eid == _lexical(steps["first"])[0]  # the same space: earlier vectors stay valid
    assert figures["docs_routed"] == FIRST + SECOND and figures["docs_embedded"] == SECOND
    (line,) = steps["kept_log"]
    assert line.startswith("embed: lexical-zh: keeping the fit on workspace ")
    assert corpus_sha256(steps["corpus_a"])[:16] in line  # the corpus it was fitted on
    params = _params(ws, kept["run_id"])
    assert params["lexical-zh.fit"] == "kept"
    assert params["lexical-zh.corpus_sha256"] == corpus_sha256(steps["corpus_a"])


def test_a_changed_corpus_is_refitted_and_every_record_embedded_again(steps):
    ws, refit = steps["ws"], steps["refit"]
    eid, figures = _lexical(refit)
    assert eid != _lexical(steps["first"])[0]
    assert figures["docs_embedded"] == FIRST + SECOND  # a new space: all of it again
    expected = steps["corpus_ab"]
    assert len(expected) > len(steps["corpus_a"])
    state = steps["refit_state"]
    assert state["config"]["corpus_sha256"] == corpus_sha256(expected)
    assert state["embedder_id"] == eid
    # the earlier fit is removed once the new one is current
    assert state["folders"] == sorted([state["current"]["key"], CURRENT])
    assert state["current"]["key"] not in steps["first_state"]["folders"]
    # the cluster stage reads the current fit's vectors
    settings = load_settings(ROOT / "conf", overrides=[f"paths.workspace={ws}", *FAST])
    assert ClusterPlan.from_settings(settings).ids["lexical-zh"] == eid
    (line,) = steps["refit_log"]
    assert line.startswith("embed: lexical-zh: fitted on workspace ")
    assert f"{len(expected)} texts of {FIRST + SECOND} routed" in line
    assert _params(ws, refit["run_id"])["lexical-zh.corpus_sha256"] == corpus_sha256(expected)


def test_held_out_column_is_held_out_in_spark(spark):
    numbers = [f"CN{100000 + 7 * i}A" for i in range(400)] + ["US20230000001A1", "EP1234567B1"]
    frame = spark.createDataFrame([(n,) for n in numbers], "publication_number string")
    got = dict(frame.select("publication_number", held_out_column().alias("h")).collect())
    assert got == {n: held_out(n) for n in numbers}
    assert 40 < sum(got.values()) < 120  # about a fifth


def test_lexical_settings_count_in_the_embed_fingerprint_only_when_routed():
    def embed_print(*overrides: str) -> str:
        settings = load_settings(ROOT / "conf", overrides=list(overrides))
        return fingerprint(settings, "embed", {"ingest": "x"})

    routed = embed_print()
    assert embed_print("embed.lexical.keep_fit=true") != routed
    assert embed_print("embed.lexical.dims=64") != routed
    alone = embed_print("embed.routes={}")
    assert embed_print("embed.routes={}", "embed.lexical.keep_fit=true") == alone
    assert embed_print("embed.routes={}", "embed.lexical.dims=64") == alone
