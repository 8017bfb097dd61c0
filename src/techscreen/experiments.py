"""Compare the MLflow runs of one stage side by side, and choose the one later stages read.

Every stage execution is a child run tagged ``techscreen.kind=stage`` and
``techscreen.stage=<name>`` under a parent run (see :mod:`techscreen.tracking`). A parameter
sweep is one parent (tag ``techscreen.pipeline=cluster-sweep``) with one child per
configuration, each tagged ``techscreen.sweep.config`` with the JSON of its overrides.

* :func:`stage_runs` reads the FINISHED runs of a stage into a DataFrame (``params.*`` and
  ``metrics.*`` columns), newest first; :func:`latest_sweep` finds the newest sweep.
* :func:`comparison` turns them into the side-by-side table: the params that vary among the
  runs (the constant ones go to ``attrs["constant_params"]``), the overall metrics (per-domain
  metrics, named ``<domain>.<metric>``, only on request), sorted by one metric with missing
  values last. :func:`format_table` prints it and :func:`plot_comparison` draws it.
* :func:`choose` marks one run as THE result of its stage: tag ``techscreen.chosen=true`` on
  it, removed from every other active run of the stage in the experiment.
* :func:`chosen_run` is what later stages call to decide which run's output to read: the run
  tagged chosen, else the newest FINISHED run of the stage, else ``None``. Should several runs
  carry the tag (a :func:`choose` interrupted between tagging and untagging, or a deleted run
  restored), the newest of them wins.

Run ids may be given as a unique prefix of at least 8 characters (:func:`resolve_run`).
"""

from __future__ import annotations

import fnmatch
import logging
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.entities import Run, RunStatus, ViewType
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

log = logging.getLogger(__name__)

KIND_TAG = "techscreen.kind"
STAGE_TAG = "techscreen.stage"
SWEEP_CONFIG_TAG = "techscreen.sweep.config"
CHOSEN_TAG = "techscreen.chosen"
MIN_PREFIX = 8
SHORT_ID = 8
_PAGE = 1000  # MLflow's largest search page
# Overall metrics of the cluster stage, shown in this order; any others follow alphabetically.
_METRIC_ORDER = (
    "n_nodes",
    "noise_fraction",
    "dbcv",
    "silhouette",
    "nmi",
    "ami",
    "stability_ari",
    "seconds",
)
_BASE_COLUMNS = ["run_id", "start_time", "run_name", "parent_run_id", "sweep_config", "chosen"]


def _name(value: str, what: str, pattern: str = r"[\w.\-]+") -> str:
    # Values go into MLflow filter strings: accept only plain names and ids.
    if not re.fullmatch(pattern, value or ""):
        raise ValueError(f"invalid {what}: {value!r}")
    return value


def _search(
    client: MlflowClient,
    experiment_id: str,
    filter_string: str,
    *,
    view: int = ViewType.ACTIVE_ONLY,
    page_size: int = _PAGE,
    limit: int | None = None,
) -> list[Run]:
    runs: list[Run] = []
    token = None
    while True:
        page = client.search_runs(
            [experiment_id],
            filter_string,
            run_view_type=view,
            max_results=page_size if limit is None else min(page_size, limit - len(runs)),
            order_by=["attributes.start_time DESC"],
            page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token or (limit is not None and len(runs) >= limit):
            return runs


def _stage_filter(stage: str) -> str:
    stage = _name(stage, "stage name")
    return f"tags.`{KIND_TAG}` = 'stage' and tags.`{STAGE_TAG}` = '{stage}'"


def _finished_filter(stage: str) -> str:
    return f"{_stage_filter(stage)} and attributes.status = 'FINISHED'"


def stage_runs(
    client: MlflowClient,
    experiment_id: str,
    stage: str = "cluster",
    parent_run_id: str | None = None,
    *,
    page_size: int = _PAGE,
) -> pd.DataFrame:
    """One row per FINISHED active run of ``stage`` (optionally under one parent), newest first.

    Columns: ``run_id``, ``start_time`` (UTC), ``run_name``, ``parent_run_id``,
    ``sweep_config`` (the JSON tag, or ``None``), ``chosen`` (bool), then ``params.<name>``
    (strings, as MLflow stores them) and ``metrics.<name>`` (floats, NaN where a run lacks one).
    """
    filter_string = _finished_filter(stage)
    if parent_run_id:
        parent = _name(parent_run_id, "parent run id", r"[0-9A-Za-z]+")
        filter_string += f" and tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent}'"
    rows: list[dict[str, Any]] = []
    for run in _search(client, experiment_id, filter_string, page_size=page_size):
        tags = run.data.tags
        row: dict[str, Any] = {
            "run_id": run.info.run_id,
            "start_time": pd.Timestamp(run.info.start_time, unit="ms", tz="UTC"),
            "run_name": run.info.run_name,
            "parent_run_id": tags.get(MLFLOW_PARENT_RUN_ID),
            "sweep_config": tags.get(SWEEP_CONFIG_TAG),
            "chosen": tags.get(CHOSEN_TAG, "").lower() == "true",
        }
        row.update({f"params.{k}": v for k, v in run.data.params.items()})
        row.update({f"metrics.{k}": float(v) for k, v in run.data.metrics.items()})
        rows.append(row)
    df = pd.DataFrame(rows, columns=None if rows else _BASE_COLUMNS)
    extra = sorted(c for c in df.columns if c not in _BASE_COLUMNS)
    return df[_BASE_COLUMNS + extra].reset_index(drop=True)


def latest_sweep(client: MlflowClient, experiment_id: str, stage: str = "cluster") -> str | None:
    """The newest parent run (by start time) with at least two FINISHED ``stage`` children.

    That rule covers sweeps started by any pipeline, whatever its name or tags, and skips
    single-configuration pipelines; ``None`` when the experiment has no such parent.
    """
    runs = stage_runs(client, experiment_id, stage)
    counts = runs["parent_run_id"].dropna().value_counts()
    candidates = set(counts[counts >= 2].index)
    if not candidates:
        return None
    for run in _search(client, experiment_id, f"tags.`{KIND_TAG}` = 'pipeline'"):
        if run.info.run_id in candidates:
            return run.info.run_id
    # Parents deleted or not tagged as pipelines: the one whose children started last.
    return runs[runs["parent_run_id"].isin(candidates)]["parent_run_id"].iloc[0]


def resolve_run(client: MlflowClient, experiment_id: str, run_id: str) -> Run:
    """The run of ``experiment_id`` whose id is ``run_id`` or starts with it (≥ 8 characters)."""
    prefix = _name((run_id or "").strip(), "run id", r"[0-9A-Za-z]+")
    if len(prefix) < MIN_PREFIX:
        raise ValueError(f"run id {prefix!r} is too short: give at least {MIN_PREFIX} characters")
    found = _search(
        client,
        experiment_id,
        f"attributes.run_id LIKE '{prefix}%'",
        view=ViewType.ALL,
        limit=10,
    )
    found = [r for r in found if r.info.run_id.startswith(prefix)]  # LIKE may ignore case
    if not found:
        raise ValueError(f"no run {prefix!r} in experiment {experiment_id}")
    if len(found) > 1:
        ids = ", ".join(r.info.run_id for r in found)
        raise ValueError(f"run id prefix {prefix!r} is ambiguous: {ids}")
    return found[0]


def _metric_columns(runs: pd.DataFrame) -> dict[str, str]:
    return {c[len("metrics.") :]: c for c in runs.columns if c.startswith("metrics.")}


def _overall_sort_key(name: str) -> tuple[int, str]:
    order = _METRIC_ORDER.index(name) if name in _METRIC_ORDER else len(_METRIC_ORDER)
    return order, name


def _describe_metrics(metrics: Sequence[str]) -> str:
    overall = sorted((m for m in metrics if "." not in m), key=_overall_sort_key)
    per_domain = sorted(m for m in metrics if "." in m)
    text = ", ".join(overall) or "none"
    if per_domain:
        domains = sorted({m.rsplit(".", 1)[0] for m in per_domain})
        names = sorted({m.rsplit(".", 1)[1] for m in per_domain}, key=_overall_sort_key)
        text += (
            f"; per domain <domain>.<metric> with domains {', '.join(domains)}"
            f" and metrics {', '.join(names)}"
        )
    return text


def _resolve_metric(name: str, metrics: dict[str, str]) -> str:
    key = name[len("metrics.") :] if name.startswith("metrics.") else name
    if key not in metrics:
        raise ValueError(
            f"unknown metric {name!r}; available metrics: {_describe_metrics(list(metrics))}"
        )
    return key


def comparison(
    runs: pd.DataFrame,
    sort_by: str = "nmi",
    ascending: bool = False,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The side-by-side table of ``runs`` (as from :func:`stage_runs`), one row per run.

    Columns: ``run`` (the first 8 characters of the id), ``chosen`` (``*``; only when some
    run is chosen), the params that vary among the runs (name without ``params.``), then the
    metrics: by default the overall ones (names without a dot) that any run has, or those named
    in ``columns`` (metric or param names, ``*`` patterns allowed, e.g. ``energy.*``). The
    ``sort_by`` metric is always shown. Rows are sorted by it, NaN last, ties keeping the input
    order. The index is the full run id; ``attrs`` holds ``constant_params`` (name → value of
    the params equal in every run), ``param_columns``, ``metric_columns`` and ``sort_by``.
    """
    metrics = _metric_columns(runs)
    params = {c[len("params.") :]: c for c in runs.columns if c.startswith("params.")}
    sort_key = _resolve_metric(sort_by, metrics)

    varying: list[str] = []
    constant: dict[str, str] = {}
    for name, col in sorted(params.items()):
        values = runs[col]
        if values.isna().all():
            continue
        if values.fillna("\0missing").nunique() > 1:
            varying.append(name)
        else:
            constant[name] = str(values.dropna().iloc[0])

    shown_params = list(varying)
    if columns:
        shown_metrics: list[str] = []
        for pattern in (c.strip() for c in columns):
            if not pattern:
                continue
            key = pattern[len("metrics.") :] if pattern.startswith("metrics.") else pattern
            hits = [m for m in metrics if fnmatch.fnmatchcase(m, key)]
            hits.sort(key=lambda m: ("." in m, m.rsplit(".", 1)[0], _overall_sort_key(m)))
            key = pattern[len("params.") :] if pattern.startswith("params.") else pattern
            param_hits = [p for p in params if fnmatch.fnmatchcase(p, key)]
            if not hits and not param_hits:
                raise ValueError(
                    f"unknown column {pattern!r}; available metrics: "
                    f"{_describe_metrics(list(metrics))}; params: {', '.join(sorted(params))}"
                )
            shown_metrics += [m for m in hits if m not in shown_metrics]
            shown_params += [p for p in sorted(param_hits) if p not in shown_params]
        if sort_key not in shown_metrics:
            shown_metrics.insert(0, sort_key)
    else:
        shown_metrics = sorted(
            (m for m in metrics if "." not in m and runs[metrics[m]].notna().any()),
            key=_overall_sort_key,
        )
        if sort_key not in shown_metrics:
            shown_metrics.append(sort_key)

    table = pd.DataFrame(index=pd.Index(runs["run_id"], name="run_id"))
    table["run"] = [r[:SHORT_ID] for r in runs["run_id"]]
    if "chosen" in runs and runs["chosen"].any():
        table["chosen"] = ["*" if c else "" for c in runs["chosen"]]
    clashes = set(shown_params) & set(shown_metrics)
    param_names, metric_names = [], []
    for name in shown_params:
        label = f"params.{name}" if name in clashes else name
        table[label] = runs[params[name]].to_numpy()
        param_names.append(label)
    for name in shown_metrics:
        label = f"metrics.{name}" if name in clashes else name
        table[label] = runs[metrics[name]].to_numpy(dtype=float)
        metric_names.append(label)
    sort_label = f"metrics.{sort_key}" if sort_key in clashes else sort_key
    table = table.sort_values(sort_label, ascending=ascending, na_position="last", kind="stable")
    table.attrs.update(
        constant_params=constant,
        param_columns=param_names,
        metric_columns=metric_names,
        sort_by=sort_label,
    )
    return table


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        v = float(value)
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        if abs(v) >= 1e4:
            return f"{v:.0f}"
        if abs(v) < 1e-3:
            return f"{v:.3e}"
        return f"{v:.4g}"
    return str(value)


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return text == "-"
    return True


def format_table(df: pd.DataFrame) -> str:
    """``df`` (as from :func:`comparison`) as aligned plain text, numbers to 4 significant digits.

    Numeric columns are right-aligned, missing values shown as ``-``; the params constant
    across the runs (``attrs["constant_params"]``) follow on a last ``constant:`` line.
    """
    if df.empty:
        text = "(no runs)"
    else:
        header = [str(c) for c in df.columns]
        cells = [[_cell(v) for v in row] for row in df.itertuples(index=False, name=None)]
        lines = []
        widths, right = [], []
        for i, name in enumerate(header):
            column = [row[i] for row in cells]
            widths.append(max(len(name), *(len(c) for c in column)))
            right.append(all(_numeric(c) for c in column) and any(c != "-" for c in column))

        def line(values: Sequence[str]) -> str:
            parts = [
                v.rjust(w) if r else v.ljust(w)
                for v, w, r in zip(values, widths, right, strict=True)
            ]
            return "  ".join(parts).rstrip()

        lines.append(line(header))
        lines.append(line(["-" * w for w in widths]))
        lines.extend(line(row) for row in cells)
        text = "\n".join(lines)
    constant = df.attrs.get("constant_params") or {}
    if constant:
        text += "\nconstant: " + "  ".join(f"{k}={v}" for k, v in constant.items())
    return text + "\n"


def _label(row: pd.Series, params: Sequence[str]) -> str:
    parts = [f"{p.removeprefix('params.').rsplit('.', 1)[-1]}={row[p]}" for p in params]
    label = " ".join([str(row["run"]), *parts])
    return label if len(label) <= 48 else label[:47] + "…"


def plot_comparison(df: pd.DataFrame, sort_by: str, path: str | Path) -> Path:
    """Draw ``df`` (from :func:`comparison`) to a PNG at ``path`` and return the path.

    Left: a horizontal bar of ``sort_by`` per run, in table order, the first run highlighted.
    Right, when both columns exist: noise fraction against NMI, one labelled point per run.
    Runs are labelled by short id and the values of their varying params.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if sort_by not in df.columns and f"metrics.{sort_by}" in df.columns:
        sort_by = f"metrics.{sort_by}"
    if sort_by not in df.columns:
        raise ValueError(f"no column {sort_by!r} to plot; columns: {', '.join(df.columns)}")
    params = df.attrs.get("param_columns") or []
    labels = [_label(row, params) for _, row in df.iterrows()]
    scatter = {"noise_fraction", "nmi"} <= set(df.columns) and (
        df["noise_fraction"].notna() & df["nmi"].notna()
    ).any()
    n = max(len(df), 1)
    fig = Figure(figsize=(13 if scatter else 8, max(3.0, 0.35 * n + 1.5)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2 if scatter else 1, squeeze=False)[0]

    bars = axes[0]
    values = df[sort_by].astype(float).to_numpy()
    colors = ["tab:orange" if i == 0 else "tab:blue" for i in range(len(df))]
    positions = list(range(len(df)))
    bars.barh(positions, [0.0 if math.isnan(v) else v for v in values], color=colors)
    for pos, value in zip(positions, values, strict=True):
        bars.text(0, pos, " n/a" if math.isnan(value) else f" {_cell(value)}", va="center")
    bars.set_yticks(positions, labels, fontsize=8)
    bars.invert_yaxis()
    bars.set_xlabel(sort_by)
    bars.set_title(f"{sort_by} per run")

    if scatter:
        ax = axes[1]
        ok = df["noise_fraction"].notna() & df["nmi"].notna()
        ax.scatter(df.loc[ok, "noise_fraction"], df.loc[ok, "nmi"], color="tab:blue")
        for (_, row), label in zip(df.iterrows(), labels, strict=True):
            if pd.notna(row["noise_fraction"]) and pd.notna(row["nmi"]):
                ax.annotate(
                    label,
                    (row["noise_fraction"], row["nmi"]),
                    fontsize=7,
                    xytext=(3, 3),
                    textcoords="offset points",
                )
        ax.set_xlabel("noise_fraction")
        ax.set_ylabel("nmi")
        ax.set_title("noise fraction vs NMI")

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=100)
    return path


def choose(client: MlflowClient, experiment_id: str, run_id: str, stage: str = "cluster") -> str:
    """Mark one FINISHED ``stage`` run as the chosen one; returns its full id.

    Tags it ``techscreen.chosen=true``, then removes that tag from every other active run of
    the stage in the experiment. ``run_id`` may be a unique prefix of ≥ 8 characters; a run
    not found, deleted, of another stage or not FINISHED raises ``ValueError``.
    """
    run = resolve_run(client, experiment_id, run_id)
    rid = run.info.run_id
    tags = run.data.tags
    if run.info.lifecycle_stage != "active":
        raise ValueError(f"run {rid} is deleted")
    if tags.get(KIND_TAG) != "stage" or tags.get(STAGE_TAG) != stage:
        what = tags.get(STAGE_TAG) or tags.get(KIND_TAG) or "untagged"
        raise ValueError(f"run {rid} is not a {stage} stage run (it is {what})")
    if run.info.status != RunStatus.to_string(RunStatus.FINISHED):
        raise ValueError(f"run {rid} is {run.info.status}, not FINISHED")
    client.set_tag(rid, CHOSEN_TAG, "true")
    tagged = _search(
        client, experiment_id, f"{_stage_filter(stage)} and tags.`{CHOSEN_TAG}` IS NOT NULL"
    )
    for other in tagged:
        if other.info.run_id != rid:
            client.delete_tag(other.info.run_id, CHOSEN_TAG)
            log.info("run %s is no longer the chosen %s run", other.info.run_id, stage)
    log.info("run %s is the chosen %s run", rid, stage)
    return rid


def chosen_run(client: MlflowClient, experiment_id: str, stage: str = "cluster") -> str | None:
    """The run whose output later stages read: the chosen one, else the newest FINISHED one.

    ``None`` when the experiment has no FINISHED active run of ``stage``.
    """
    chosen = _search(
        client,
        experiment_id,
        f"{_finished_filter(stage)} and tags.`{CHOSEN_TAG}` = 'true'",
        limit=1,
    )
    if chosen:
        return chosen[0].info.run_id
    newest = _search(client, experiment_id, _finished_filter(stage), limit=1)
    return newest[0].info.run_id if newest else None


def connect(uri: str, experiment: str) -> tuple[MlflowClient, str]:
    """A client of ``uri`` and the id of ``experiment``; ``ValueError`` if either is missing.

    A local SQLite store that does not exist is reported rather than created.
    """
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///") :])
        if not db.is_file():
            raise ValueError(f"no MLflow store at {db}: nothing has been tracked there yet")
    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise ValueError(f"no MLflow experiment {experiment!r} in {uri}")
    return client, found.experiment_id
