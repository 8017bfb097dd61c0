"""Comparing and choosing stage runs against a real local MLflow store filled through Tracker."""

from __future__ import annotations

import json
import math
import shutil
import struct
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from conftest import ROOT
from techscreen import experiments as ex
from techscreen.cli import main
from techscreen.config import load_settings, workspace
from techscreen.tracking import Tracker

BASE = {"k": 32, "min_cluster_size": 10, "reducer": "pca", "dims": 16, "embedder": "minilm"}
BASE["seed"] = 0


def _metrics(nmi: float | None, noise: float, seconds: float) -> dict:
    overall = {"n_nodes": 1200, "noise_fraction": noise, "dbcv": 0.2, "silhouette": 0.11}
    overall.update({"ami": 0.4, "stability_ari": 0.8, "seconds": seconds})
    if nmi is not None:
        overall["nmi"] = nmi
    domains = {"energy": {"n_nodes": 200, "nmi": 0.7}, "medicine": {"n_nodes": 300, "nmi": 0.5}}
    return {**overall, **domains}


def _cluster(tracker: Tracker, overrides: dict, metrics: dict, sweep: bool) -> str:
    with tracker.stage("cluster") as run:
        tags = {"techscreen.sweep.config": json.dumps(overrides)} if sweep else {}
        settings = {**BASE, **{k.removeprefix("cluster."): v for k, v in overrides.items()}}
        run.log(params={"cluster": settings}, metrics=metrics, tags=tags)
    time.sleep(0.005)  # distinct start times: "newest" is decided by them
    return run.run_id


def _sweep(tracker: Tracker, configs: list[tuple[dict, dict]]) -> tuple[str, list[str]]:
    with tracker.parent("pipeline:cluster-sweep", {"techscreen.pipeline": "cluster-sweep"}) as p:
        children = [_cluster(tracker, cfg, metrics, sweep=True) for cfg, metrics in configs]
    return p.run_id, children


def _settings(ws: Path):
    return load_settings(ROOT / "conf", None, [f"paths.workspace={ws}"])


def _fill(ws: Path) -> dict:
    """Two sweeps, a screening pipeline with a failed cluster run, then one lone cluster run."""
    settings = _settings(ws)
    tracker = Tracker.from_settings(settings.mlflow, workspace(settings))
    ids: dict = {"experiment_id": tracker.experiment_id}
    ids["old_sweep"], ids["old"] = _sweep(
        tracker,
        [
            ({"cluster.k": 8}, _metrics(0.9, 0.1, 5.0)),
            ({"cluster.k": 16}, _metrics(0.8, 0.1, 5.0)),
        ],
    )
    # new sweep: A k=16 pca, B k=32 pca, C k=64 umap, D k=64 pca without nmi
    ids["new_sweep"], ids["new"] = _sweep(
        tracker,
        [
            ({"cluster.k": 16, "cluster.reducer": "pca"}, _metrics(0.41234, 0.30, 12.5)),
            ({"cluster.k": 32, "cluster.reducer": "pca"}, _metrics(0.61234, 0.20, 3.25)),
            ({"cluster.k": 64, "cluster.reducer": "umap"}, _metrics(0.55, 0.25, 40.0)),
            ({"cluster.k": 64, "cluster.reducer": "pca"}, _metrics(None, 0.50, 1.0)),
        ],
    )
    with tracker.parent("pipeline:screening", {"techscreen.pipeline": "screening"}) as p:
        with tracker.stage("embed") as embed:
            embed.log(metrics={"nmi": 0.99})
        ids["embed"] = embed.run_id
        with pytest.raises(RuntimeError), tracker.stage("cluster") as failed:
            failed.log(params={"cluster": BASE}, metrics=_metrics(0.99, 0.0, 1.0))
            raise RuntimeError("boom")
        ids["failed"] = failed.run_id
    ids["screening"] = p.run_id
    time.sleep(0.005)
    with tracker.parent("pipeline:cluster", {"techscreen.pipeline": "cluster"}) as p:
        ids["lone"] = _cluster(tracker, {}, _metrics(0.5, 0.2, 2.0), sweep=False)
    ids["lone_parent"] = p.run_id
    ids["client"] = tracker.client
    return ids


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> dict:
    """A filled store the read-only tests share (creating one costs seconds: made once)."""
    ws = tmp_path_factory.mktemp("experiments") / "ws"
    return {**_fill(ws), "ws": ws}


@pytest.fixture()
def fresh(store, tmp_path) -> dict:
    """A copy of the store of its own, for tests that choose runs (the run ids stay the same)."""
    shutil.copytree(store["ws"], tmp_path / "ws")
    client = MlflowClient(f"sqlite:///{tmp_path / 'ws' / 'mlflow.db'}")
    return {**store, "client": client, "ws": tmp_path / "ws"}


def test_stage_runs_lists_finished_runs_of_the_stage_newest_first(store):
    client, exp = store["client"], store["experiment_id"]
    runs = ex.stage_runs(client, exp)
    expected = [store["lone"], *reversed(store["new"]), *reversed(store["old"])]
    assert list(runs["run_id"]) == expected  # no failed run, no embed run
    assert runs["start_time"].is_monotonic_decreasing
    assert list(runs["parent_run_id"][:2]) == [store["lone_parent"], store["new_sweep"]]
    assert runs["sweep_config"].iloc[0] is None
    assert json.loads(runs["sweep_config"].iloc[1]) == {"cluster.k": 64, "cluster.reducer": "pca"}
    assert runs["params.cluster.k"].iloc[1] == "64"  # MLflow keeps params as strings
    assert runs["metrics.energy.nmi"].iloc[1] == pytest.approx(0.7)
    assert math.isnan(runs["metrics.nmi"].iloc[1])
    assert not runs["chosen"].any()

    sweep = ex.stage_runs(client, exp, parent_run_id=store["new_sweep"])
    assert list(sweep["run_id"]) == list(reversed(store["new"]))
    paged = ex.stage_runs(client, exp, page_size=2)  # several pages of two
    assert list(paged["run_id"]) == expected
    assert list(ex.stage_runs(client, exp, "embed")["run_id"]) == [store["embed"]]
    assert ex.stage_runs(client, exp, "report").empty
    with pytest.raises(ValueError, match="invalid stage"):
        ex.stage_runs(client, exp, "cluster' or '1' = '1")


def test_latest_sweep_is_the_newest_parent_with_two_or_more_children(store):
    assert ex.latest_sweep(store["client"], store["experiment_id"]) == store["new_sweep"]
    assert ex.latest_sweep(store["client"], store["experiment_id"], "embed") is None
    empty = store["client"].create_experiment("empty")
    assert ex.latest_sweep(store["client"], empty) is None


def test_comparison_keeps_varying_params_and_sorts_nan_last(store):
    runs = ex.stage_runs(store["client"], store["experiment_id"], parent_run_id=store["new_sweep"])
    a, b, c, d = store["new"]
    table = ex.comparison(runs, "nmi")
    assert list(table.index) == [b, c, a, d]
    assert list(table["run"]) == [r[:8] for r in (b, c, a, d)]
    params = ["cluster.k", "cluster.reducer"]
    metrics = ["n_nodes", "noise_fraction", "dbcv", "silhouette", "nmi", "ami"]
    metrics += ["stability_ari", "seconds"]
    assert list(table.columns) == ["run", *params, *metrics]  # no per-domain metrics
    assert table.attrs["constant_params"] == {
        "cluster.dims": "16",
        "cluster.embedder": "minilm",
        "cluster.min_cluster_size": "10",
        "cluster.seed": "0",
    }
    assert list(table["cluster.k"]) == ["32", "64", "16", "64"]

    ascending = ex.comparison(runs, "metrics.nmi", ascending=True)
    assert list(ascending.index) == [a, c, b, d]  # NaN still last
    assert list(ex.comparison(runs, "seconds", ascending=True).index) == [d, b, a, c]

    domains = ex.comparison(runs, "energy.nmi", columns=["nmi", "energy.*", "cluster.seed"])
    assert list(domains.columns) == [
        "run",
        *params,
        "cluster.seed",
        "nmi",
        "energy.n_nodes",
        "energy.nmi",
    ]
    assert list(domains.index) == [d, c, b, a]  # all tie at 0.7: the input order, newest first

    with pytest.raises(ValueError, match=r"unknown metric 'f1'.*noise_fraction.*nmi.*energy"):
        ex.comparison(runs, "f1")
    with pytest.raises(ValueError, match="unknown column 'bogus'"):
        ex.comparison(runs, "nmi", columns=["bogus"])


def test_comparison_of_all_runs_shows_every_param_that_varies(store):
    table = ex.comparison(ex.stage_runs(store["client"], store["experiment_id"]), "nmi")
    assert list(table.columns[:3]) == ["run", "cluster.k", "cluster.reducer"]
    assert table.index[0] == store["old"][0]  # nmi 0.9
    assert "cluster.k" not in table.attrs["constant_params"]


def test_format_table_is_aligned_with_four_significant_digits(store):
    runs = ex.stage_runs(store["client"], store["experiment_id"], parent_run_id=store["new_sweep"])
    text = ex.format_table(ex.comparison(runs, "nmi"))
    lines = text.splitlines()
    print(text)
    assert lines[0].split() == [
        "run",
        "cluster.k",
        "cluster.reducer",
        "n_nodes",
        "noise_fraction",
        "dbcv",
        "silhouette",
        "nmi",
        "ami",
        "stability_ari",
        "seconds",
    ]
    assert set(lines[1]) == {"-", " "}
    rows = lines[2:6]
    assert len({len(line) for line in lines[:6]}) == 1  # last column right-aligned: same width
    first = rows[0].split()
    assert first[0] == store["new"][1][:8]
    assert first[1:5] == ["32", "pca", "1200", "0.2"] and first[7] == "0.6123"
    assert first[-1] == "3.25"
    assert rows[-1].split()[7] == "-"  # the run without nmi
    nmi_end = lines[0].index("nmi ") + 3
    assert all(row[nmi_end - 1] != " " for row in rows)  # numbers end under the header
    assert lines[-1] == (
        "constant: cluster.dims=16  cluster.embedder=minilm  "
        "cluster.min_cluster_size=10  cluster.seed=0"
    )
    assert ex.format_table(ex.comparison(runs.iloc[:0], "nmi")).startswith("(no runs)")


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_plot_comparison_writes_a_png(store, tmp_path):
    runs = ex.stage_runs(store["client"], store["experiment_id"])
    table = ex.comparison(runs, "nmi")
    path = ex.plot_comparison(table, "nmi", tmp_path / "deep" / "compare.png")
    width, height = _png_size(path)
    bars_only = ex.comparison(runs, "seconds", columns=["seconds"])
    narrow = _png_size(ex.plot_comparison(bars_only, "seconds", tmp_path / "bars.png"))
    assert width > narrow[0] and height >= 300  # the scatter panel only when nmi and noise exist
    with pytest.raises(ValueError, match="no column 'f1'"):
        ex.plot_comparison(table, "f1", tmp_path / "x.png")


def _chosen_tags(client: MlflowClient, run_ids: list[str]) -> list[str]:
    return [r for r in run_ids if client.get_run(r).data.tags.get("techscreen.chosen") == "true"]


def test_choose_moves_the_tag_and_chosen_run_falls_back_to_newest(fresh):
    client, exp = fresh["client"], fresh["experiment_id"]
    every = [*fresh["old"], *fresh["new"], fresh["lone"]]
    assert ex.chosen_run(client, exp) == fresh["lone"]  # nothing chosen: the newest
    a, b = fresh["new"][:2]

    assert ex.choose(client, exp, b[:8]) == b  # a unique prefix is enough
    assert ex.chosen_run(client, exp) == b
    assert _chosen_tags(client, every) == [b]
    assert ex.choose(client, exp, a) == a
    assert _chosen_tags(client, every) == [a]
    assert ex.chosen_run(client, exp) == a
    assert ex.comparison(ex.stage_runs(client, exp), "nmi").loc[a, "chosen"] == "*"

    client.delete_run(a)  # a deleted choice no longer counts
    assert ex.chosen_run(client, exp) == fresh["lone"]
    with pytest.raises(ValueError, match="is deleted"):
        ex.choose(client, exp, a)

    with pytest.raises(ValueError, match="at least 8 characters"):
        ex.choose(client, exp, b[:7])
    with pytest.raises(ValueError, match="no run 'ffffffffffff'"):
        ex.choose(client, exp, "ffffffffffff")
    with pytest.raises(ValueError, match=r"not a cluster stage run \(it is embed\)"):
        ex.choose(client, exp, fresh["embed"])
    with pytest.raises(ValueError, match=r"not a cluster stage run \(it is pipeline\)"):
        ex.choose(client, exp, fresh["new_sweep"])
    with pytest.raises(ValueError, match="is FAILED, not FINISHED"):
        ex.choose(client, exp, fresh["failed"])
    assert ex.chosen_run(client, exp, "report") is None
    # only the deleted run keeps the tag (MLflow refuses to change deleted runs); it is ignored
    assert _chosen_tags(client, [*every, fresh["embed"], fresh["failed"]]) == [a]


def run_cli(capsys, *args: str) -> tuple[int, dict | None, list[str], str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    lines = [line for line in out.splitlines() if line.strip()]
    return code, (json.loads(lines[-1]) if code == 0 else None), lines[:-1], err


def test_cli_compares_the_latest_sweep_and_chooses(fresh, capsys, tmp_path):
    ws = ["--conf-dir", str(ROOT / "conf"), "--set", f"paths.workspace={fresh['ws']}"]
    a, b, c, d = fresh["new"]

    code, summary, table, err = run_cli(capsys, "experiments", "compare", "--sweep", *ws)
    assert code == 0, err
    assert [line.split()[0] for line in table[2:6]] == [r[:8] for r in (b, c, a, d)]
    assert table[-1].startswith("constant: cluster.dims=16")
    assert summary["parent_run_id"] == fresh["new_sweep"]
    assert summary["runs"] == 4 and summary["best_run_id"] == b
    assert summary["chosen_run_id"] == fresh["lone"]  # nothing chosen yet
    assert summary["plot"] == str(fresh["ws"].resolve() / "reports" / "compare-cluster.png")
    _png_size(Path(summary["plot"]))

    plot = tmp_path / "mine.png"
    code, summary, table, err = run_cli(
        capsys,
        "experiments",
        "compare",
        "--parent",
        fresh["new_sweep"][:10],
        "--sort",
        "seconds",
        "--ascending",
        "--columns",
        "nmi,energy.*",
        "--choose",
        c[:8],
        "--plot",
        str(plot),
        *ws,
    )
    assert code == 0, err
    assert table[0].split() == [
        "run",
        "chosen",
        "cluster.k",
        "cluster.reducer",
        "seconds",
        "nmi",
        "energy.n_nodes",
        "energy.nmi",
    ]
    assert [line.split()[0] for line in table[2:6]] == [r[:8] for r in (d, b, a, c)]
    assert table[5].split()[1] == "*"
    assert summary["chosen_run_id"] == c and summary["best_run_id"] == d
    assert summary["plot"] == str(plot) and plot.is_file()

    code, summary, _, err = run_cli(capsys, "experiments", "choose", a, *ws)
    assert code == 0, err
    assert summary == {"command": "experiments choose", "stage": "cluster", "chosen_run_id": a}
    assert ex.chosen_run(fresh["client"], fresh["experiment_id"]) == a

    code, _, _, err = run_cli(capsys, "experiments", "compare", "--sort", "f1", *ws)
    assert code == 1 and "unknown metric 'f1'; available metrics: n_nodes" in err
    code, _, _, err = run_cli(capsys, "experiments", "choose", fresh["embed"], *ws)
    assert code == 1 and "not a cluster stage run" in err.splitlines()[-1]
    code, _, _, err = run_cli(capsys, "experiments", "compare", "--stage", "report", *ws)
    assert code == 1 and "no FINISHED report runs" in err


def test_cli_reports_a_workspace_without_a_store(capsys, tmp_path):
    ws = ["--conf-dir", str(ROOT / "conf"), "--set", f"paths.workspace={tmp_path / 'none'}"]
    code, _, _, err = run_cli(capsys, "experiments", "compare", *ws)
    assert code == 1 and "no MLflow store at" in err
    assert not (tmp_path / "none").exists()
