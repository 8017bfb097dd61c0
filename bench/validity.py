"""Are our technology nodes valid? Nodes of the real pipeline against expert taxonomies.

    .venv/bin/python bench/validity.py --data DIR [--sets cn_agri waste_heat uspto_week
        ai_biomed] [--docs 3000] [--min-class 20] [--workspace DIR] [--out FILE.json]

    quick run: .venv/bin/python bench/validity.py --data DIR --docs 1000 --sets cn_agri

``--data`` is the folder of the full labelled source sets (each with a SOURCE.md); per set
the bench copies a deterministic subset of the raw rows (the ``--docs`` rows with the
smallest sha256 of their raw text, pooled over the set's files) into a fresh workspace
folder under ``--workspace`` (default: a new temporary folder) and runs the project's REAL
stages on it as a subprocess — ``techscreen run`` of a pipeline file written there, stages
``[ingest, domains, embed, cluster]``, with the committed defaults for embedding (routing
included) and clustering, so the figures are whatever the pipeline does at the time. A
workspace that already holds a run is run again with ``--fresh`` (embedding is
incremental, so only the clustering costs anything) and the newest clustering is read.

One domain per set. The pipeline clusters per domain; a labelled set is one technology
field, and its expert classes are only comparable with nodes fitted on the whole set. So a
domain ``bench`` that holds every IPC/CPC section (A–H, Y) is added by ``--set`` and is the
only domain clustered (``cluster.domains=[bench]``); patents without any class code fall in
no domain and are not clustered (they carry no label either).

Expert labels come from the canonical ``patents/`` table, never from the raw files: the
patent's ``main_ipc`` where the source gives one, else its only IPC code; a patent with
several IPC codes and no main one is unlabelled. Cut to a level with
``techscreen.normalize.subclass`` / ``main_group``. Per set:

* ``cn_agri`` (``cn_agri_a01_abstracts``, Chinese, CNIPA): the IPC subclass of A01 the record
  is filed under (its only code) — A01B, A01C, A01D, A01F, A01H, A01K, A01M …;
* ``waste_heat`` (``waste_heat_recovery_abstracts``; CN/KR/US/DE/WO/EP/JP, original
  languages): the IPC main group the record was retrieved under (F27D 17/00, F01K 23/00 …);
  a record retrieved under two groups has no single label and is unscored;
* ``uspto_week`` (``uspto_ipa230105_week``, one week of USPTO applications, all fields): the
  subclass of the first-listed IPCR code (the main one), mapped to ``main_ipc`` by a
  ``--set`` on the mapping (configuration only; the CPC main symbol has no canonical
  column). Main groups would be too many and too small for a few thousand patents;
* ``ai_biomed`` (``ai_biomed_ipc_whu``, AI + biomedical patents, English abstracts): the
  subclass of the first IPC code of the exported list (the main one; ``main_ipc`` by a
  ``--set`` on both mappings).

In every set a class with fewer than ``--min-class`` labelled patents (default 20) is
dropped from scoring (its patents are still clustered and count in noise and node shares),
so a long tail of tiny classes does not decide the score.

Figures per set (over the set's patents that have a vector): node count; noise share
(status ``noise``); largest-node share (its size ÷ the set's patents); NMI and ARI of nodes
against the expert classes on the scored patents, noise counted as one more group (as
``techscreen.cluster.metrics.agreement_with_classes`` does, so calling hard cases noise
does not pay). Reference — an oracle the pipeline does not have: FAISS spherical k-means
(``techscreen.cluster.micro.spherical_kmeans``) with the TRUE k, the number of scored
classes, on the scored patents' own vectors (each patent's vector of the embedder it was
routed to, found with the library's ``ClusterPlan``/``RoutePlan``, as the cluster stage
does); a set routed to several embedders is k-means-clustered per vector space (k = the
classes present there), since cosines across spaces mean nothing. Mean NMI/ARI over three
seeds; ``ratio`` = our NMI ÷ the oracle's.

Targets: our NMI ≥ the oracle's on at least 3 of 4 sets (¾ of the sets run), largest node
≤ 15% and noise ≤ 15% on every set. Prints a markdown table, a PASS/FAIL line per target
and a final line; ``--out`` writes every figure as JSON.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import logging
import math
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import yaml
from sklearn.metrics import adjusted_rand_score

from report import load_average, print_table, workspace_table
from techscreen.cluster.metrics import agreement_with_classes
from techscreen.cluster.micro import normalise, spherical_kmeans
from techscreen.cluster.spaces import ClusterPlan
from techscreen.config import load_settings
from techscreen.normalize import main_group, subclass
from techscreen.schema import NO_VECTOR, NOISE, NOISE_NODE

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = "bench"  # the one domain each set is clustered as
SECTIONS = ["A", "B", "C", "D", "E", "F", "G", "H", "Y"]  # every patent with a class code
STAGES = ["ingest", "domains", "embed", "cluster"]
ORACLE_SEEDS = (0, 1, 2)
ORACLE_ITERATIONS = 100
MAX_SHARE = 0.15  # largest node and noise, each at most this share of a set's patents
SETS_BEATING_ORACLE = 0.75  # our NMI ≥ the oracle's on at least this share of the sets
LEVELS: dict[str, Callable[[str], str]] = {"subclass": subclass, "main_group": main_group}

log = logging.getLogger("bench.validity")


@dataclass(frozen=True)
class LabelledSet:
    """One expert-labelled source set: its raw files, how to ingest it, its label level."""

    name: str
    folder: str
    files: tuple[str, ...]
    level: str  # a key of LEVELS
    label: str  # how the expert label is defined, for the notes
    overrides: tuple[str, ...] = field(default=())  # --set values for its mappings


def _main_ipc_from(mapping: str, column: str, separator: str | None = None) -> tuple[str, ...]:
    """``--set`` values that map ``main_ipc`` of ``mapping`` to the first value of ``column``."""
    key = f"ingest.mapped.{mapping}"
    sep = (f"{key}.separators.main_ipc={json.dumps(separator)}",) if separator else ()
    return (f"{key}.columns.main_ipc={column}", *sep)


SETS = {
    s.name: s
    for s in (
        LabelledSet(
            "cn_agri",
            "cn_agri_a01_abstracts",
            ("cn_agri_a01_abstracts.csv",),
            "subclass",
            "IPC subclass (A01x)",
        ),
        LabelledSet(
            "waste_heat",
            "waste_heat_recovery_abstracts",
            ("waste_heat_recovery_abstracts.jsonl.gz",),
            "main_group",
            "IPC main group searched (one only)",
        ),
        LabelledSet(
            "uspto_week",
            "uspto_ipa230105_week",
            ("uspto_ipa230105_applications.jsonl.gz",),
            "subclass",
            "subclass of the main IPC",
            _main_ipc_from("uspto_applications_jsonl", "ipcr"),
        ),
        LabelledSet(
            "ai_biomed",
            "ai_biomed_ipc_whu",
            ("AI.xlsx", "Biomedical.xlsx"),
            "subclass",
            "subclass of the main IPC",
            (
                *_main_ipc_from("ai_patents_whu_xlsx", "IPC", ";"),
                *_main_ipc_from("biomedical_patents_whu_xlsx", "IPC", "|"),
            ),
        ),
    )
}


# --- labels and scores (pure) ---------------------------------------------------------------


def expert_label(main_ipc: str | None, ipc_codes: Sequence[str] | None, level: str) -> str | None:
    """A patent's expert class at ``level``: of its main IPC, else of its only IPC code.

    Args:
        main_ipc: the ``main_ipc`` column (normalised, ``C22C 38/02``), or None.
        ipc_codes: the ``ipc_codes`` column.
        level: ``subclass`` or ``main_group``.

    Returns:
        The class, or None when the patent has no main IPC and not exactly one IPC code.
    """
    codes = list(ipc_codes) if ipc_codes is not None else []
    code = main_ipc or (codes[0] if len(codes) == 1 else None)
    return LEVELS[level](code) if code else None


def common_classes(labels: Sequence[str | None], min_class: int) -> list[str | None]:
    """``labels`` with the classes of fewer than ``min_class`` members set to None."""
    counts = Counter(label for label in labels if label is not None)
    return [label if label is not None and counts[label] >= min_class else None for label in labels]


def agreement(found: np.ndarray, truth: Sequence[str | None]) -> dict[str, float | None]:
    """NMI and ARI of a labelling against the classes, over the patents that have one.

    Noise (node -1) is one more group, as in
    :func:`techscreen.cluster.metrics.agreement_with_classes`.
    """
    known = np.array([t is not None for t in truth], dtype=bool)
    nmi = agreement_with_classes(np.asarray(found), list(truth))["nmi"]
    if known.sum() < 2:
        return {"nmi": nmi, "ari": None}
    kept = [t for t in truth if t is not None]
    return {"nmi": nmi, "ari": round(float(adjusted_rand_score(kept, found[known])), 4)}


def oracle_kmeans(
    x: Sequence[np.ndarray],
    truth: Sequence[str],
    spaces: Sequence[str],
    seeds: Iterable[int] = ORACLE_SEEDS,
    iterations: int = ORACLE_ITERATIONS,
) -> dict[str, float]:
    """Spherical k-means with the true number of classes: mean NMI/ARI over ``seeds``.

    Each vector space is clustered apart with k = the classes present there (cluster
    numbers are kept apart across spaces).

    Args:
        x: one vector per scored patent (spaces may differ in dimensions).
        truth: each patent's class (none missing).
        spaces: each patent's vector space.
        seeds: k-means seeds; the figures are their mean.
        iterations: k-means iterations.
    """
    truth_arr, space_arr = np.asarray(truth, dtype=object), np.asarray(spaces, dtype=object)
    runs = []
    for seed in seeds:
        found = np.empty(len(x), dtype=np.int64)
        offset = 0
        for space in dict.fromkeys(space_arr.tolist()):
            rows = np.flatnonzero(space_arr == space)
            z = normalise(np.stack([x[i] for i in rows]))
            k = min(len(set(truth_arr[rows].tolist())), len(rows))
            centroids = spherical_kmeans(z, k, iterations, seed)
            found[rows] = (z @ centroids.T).argmax(axis=1) + offset
            offset += k
        runs.append(agreement(found, truth_arr.tolist()))
    return {m: round(float(np.mean([r[m] for r in runs])), 4) for m in ("nmi", "ari")}


def node_figures(
    nodes: np.ndarray, status: Sequence[str], spaces: Sequence[str] | None = None
) -> dict[str, Any]:
    """Node count, noise share and largest-node share of one set's patents with a vector.

    With ``spaces`` (each patent's vector space) also ``largest_node_share_in_space``: the
    largest share a node takes of its own space's patents (equal to the set's figure when
    the set is one space; a node can dominate a small space and still be small in the set).
    """
    nodes = np.asarray(nodes)
    n = len(nodes)
    members = nodes[nodes != NOISE_NODE]
    sizes = np.bincount(members) if len(members) else np.zeros(0, dtype=np.int64)
    out = {
        "patents": n,
        "nodes": int((sizes > 0).sum()),
        "noise_share": round(sum(s == NOISE for s in status) / n, 4) if n else None,
        "largest_node_share": round(int(sizes.max()) / n, 4) if len(sizes) else 0.0,
    }
    if spaces is not None:
        space_arr = np.asarray(spaces, dtype=object)
        shares = [0.0]
        for space in set(space_arr.tolist()):
            inside = nodes[space_arr == space]
            kept = inside[inside != NOISE_NODE]
            if len(kept):
                shares.append(int(np.bincount(kept).max()) / len(inside))
        out["largest_node_share_in_space"] = round(max(shares), 4)
    return out


def _ratio(ours: float | None, oracle: float | None) -> float | None:
    return round(ours / oracle, 3) if ours is not None and oracle else None


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


TABLE_HEADER = (
    "set",
    "language(s)",
    "patents",
    "classes",
    "nodes",
    "noise %",
    "largest node %",
    "NMI ours",
    "NMI oracle-k",
    "ratio",
    "ARI ours",
    "ARI oracle",
)


def table_rows(results: Sequence[dict[str, Any]]) -> list[str]:
    """The markdown table (header, rule, one row per set) of the sets' figures."""
    lines = ["| " + " | ".join(TABLE_HEADER) + " |", "|" + "---|" * len(TABLE_HEADER)]
    for r in results:
        cells = (
            r["set"],
            r["languages"],
            f"{r['patents']:,} ({r['scored']:,} scored)",
            str(r["classes"]),
            str(r["nodes"]),
            _pct(r["noise_share"]),
            _pct(r["largest_node_share"]),
            _num(r["ours"]["nmi"]),
            _num(r["oracle"]["nmi"]),
            _num(r["nmi_ratio"], 2),
            _num(r["ours"]["ari"]),
            _num(r["oracle"]["ari"]),
        )
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def targets(results: Sequence[dict[str, Any]]) -> list[tuple[str, str, str, bool]]:
    """``(target, measured, wanted, met)`` for every target over the sets' figures."""
    out: list[tuple[str, str, str, bool]] = []
    below = []
    for r in results:
        ours, oracle = r["ours"]["nmi"], r["oracle"]["nmi"]
        if ours is None or oracle is None or ours < oracle:
            below.append(f"{r['set']} {_num(ours)} < {_num(oracle)}")
    beating = len(results) - len(below)
    need = math.ceil(SETS_BEATING_ORACLE * len(results))
    measured = f"{beating} of {len(results)}" + (f" (below: {', '.join(below)})" if below else "")
    out.append(("sets where NMI ours ≥ oracle-k", measured, f"≥ {need}", beating >= need))
    for key, name in (("largest_node_share", "largest node"), ("noise_share", "noise")):
        for r in results:
            share = r[key]
            ok = share is not None and share <= MAX_SHARE
            out.append((f"{r['set']}: {name}", f"{_pct(share)}%", f"≤ {MAX_SHARE:.0%}", ok))
    return out


def languages(values: Sequence[str | None], top: int = 3) -> str:
    """The most frequent languages with their shares, e.g. ``zh 55%, ko 14%, en 12% …``."""
    counts = Counter(v or "und" for v in values)
    n = sum(counts.values())
    shown = [f"{lang} {c / n:.0%}" for lang, c in counts.most_common(top)]
    return ", ".join(shown) + (" …" if len(counts) > top else "")


# --- subsets of the raw files ---------------------------------------------------------------


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _rows(path: Path) -> tuple[list[Any], list[tuple[str, Any]]]:
    """(header or None, [(digest, row)]) of one raw file: lines, CSV rows or xlsx rows."""
    if path.name.endswith((".jsonl.gz", ".jsonl")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as f:
            return [], [(_digest(line), line) for line in f if line.strip()]
    if path.suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            header = next(reader)
            return header, [(_digest("\x1f".join(row)), row) for row in reader]
    if path.suffix == ".xlsx":
        import openpyxl

        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        sheet = book.worksheets[0]
        values = sheet.iter_rows(values_only=True)
        header = list(next(values))
        rows = [
            (_digest("\x1f".join("" if v is None else str(v) for v in row)), list(row))
            for row in values
            if any(v is not None for v in row)
        ]
        book.close()
        return header, rows
    raise SystemExit(f"{path}: no subset writer for this file type")


def _write(path: Path, header: list[Any], rows: list[Any]) -> None:
    if path.name.endswith((".jsonl.gz", ".jsonl")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "wt", encoding="utf-8") as f:
            f.writelines(line if line.endswith("\n") else line + "\n" for line in rows)
    elif path.suffix == ".csv":
        with path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows)
    else:
        import openpyxl

        book = openpyxl.Workbook(write_only=True)
        sheet = book.create_sheet()
        sheet.append(header)
        for row in rows:
            sheet.append(row)
        book.save(path)


def write_subset(spec: LabelledSet, data: Path, out: Path, docs: int) -> dict[str, int]:
    """Copy the ``docs`` raw rows with the smallest digests (pooled over the set's files).

    Files keep their names, so the mappings' ``match`` patterns recognise them. Returns the
    rows copied per file.
    """
    read = {name: _rows(data / spec.folder / name) for name in spec.files}
    pooled = sorted(
        (digest, name, i) for name, (_, rows) in read.items() for i, (digest, _) in enumerate(rows)
    )
    chosen: dict[str, list[int]] = {name: [] for name in spec.files}
    for _, name, i in pooled[:docs]:
        chosen[name].append(i)
    out.mkdir(parents=True, exist_ok=True)
    for name, (header, rows) in read.items():
        _write(out / name, header, [rows[i][1] for i in sorted(chosen[name])])
    return {name: len(rows) for name, rows in chosen.items()}


# --- the real pipeline ----------------------------------------------------------------------


def overrides(spec: LabelledSet, workspace: Path, inputs: Path) -> list[str]:
    """The ``--set`` values of one set's run: its workspace and inputs, one domain, mappings."""
    bench = {"label": "validity benchmark set (every section)", "include": SECTIONS}
    return [
        f"paths.workspace={workspace}",
        f"paths.input={json.dumps([str(inputs)])}",
        f"domains.definitions.{DOMAIN}={json.dumps(bench)}",
        f"cluster.domains={json.dumps([DOMAIN])}",
        *spec.overrides,
    ]


def run_pipeline(workspace: Path, sets: list[str]) -> dict[str, Any]:
    """``techscreen run`` of a pipeline file written into ``workspace``: its JSON summary."""
    pipeline = workspace / "validity.yaml"
    pipeline.write_text(
        yaml.safe_dump(
            {
                "name": "validity",
                "description": "bench/validity.py: one labelled set as one domain",
                "stages": STAGES,
                "set": sets,
            },
            allow_unicode=True,
            sort_keys=False,
        ),
        encoding="utf-8",
    )
    command = [sys.executable, "-m", "techscreen.cli", "run", str(pipeline), "--fresh"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    (workspace / "validity-run.log").write_text(done.stderr, encoding="utf-8")
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"failed: {shlex.join(command)}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def read_results(
    workspace: Path, sets: list[str], run_id: str, clustered: Iterable[str]
) -> pd.DataFrame:
    """One row per patent of the set's domain: node, status, language, codes, routed vector.

    Each patent's embedder comes from the routing of the settings (the committed ones plus
    ``sets``), which must name the embedders the clustering run read (``clustered``, ids):
    configuration that changed since the run is an error, not a silent mismatch.
    """
    settings = load_settings(ROOT / "conf", overrides=sets)
    plan = ClusterPlan.from_settings(settings)
    if set(plan.ids.values()) != set(clustered):
        raise SystemExit(
            f"{workspace}: the clustering read embedders {sorted(clustered)}, the settings "
            f"now route to {sorted(plan.ids.values())}: did conf/ change during the run?"
        )
    assigned = workspace_table(
        workspace,
        "assignments",
        ["publication_number", "node", "status"],
        (ds.field("run_id") == run_id) & (ds.field("domain") == DOMAIN),
    )
    patents = pq.read_table(
        workspace / "patents",
        columns=[
            "publication_number",
            "content_hash",
            "language",
            "title",
            "abstract",
            "title_en",
            "abstract_en",
            "main_ipc",
            "ipc_codes",
        ],
    ).to_pandas()
    rows = assigned.merge(patents, on="publication_number", how="left", validate="one_to_one")
    routes = [
        plan.routes.route(
            *(None if pd.isna(v) else v for v in (p.language, p.title, p.abstract)),
            *(None if pd.isna(v) else v for v in (p.title_en, p.abstract_en)),
        ).embedder
        for p in rows.itertuples()
    ]
    rows["embedder_id"] = [plan.ids[r] for r in routes]
    rows["space"] = [plan.space[r] for r in routes]
    vectors = workspace_table(
        workspace,
        "vectors",
        ["publication_number", "content_hash", "embedder_id", "vector"],
        ds.field("embedder_id").isin(sorted(set(plan.ids.values())))
        & ds.field("vector").is_valid(),
    )
    vectors["embedder_id"] = vectors["embedder_id"].astype(str)
    rows = rows.merge(vectors, on=["publication_number", "content_hash", "embedder_id"], how="left")
    lost = int(((rows.status != NO_VECTOR) & rows.vector.isna()).sum())
    if lost:
        log.warning("%s: %d clustered patents without a routed vector", workspace, lost)
    return rows


def score_set(
    spec: LabelledSet, rows: pd.DataFrame, min_class: int, seeds: Iterable[int] = ORACLE_SEEDS
) -> dict[str, Any]:
    """Every figure of one set from its patents' rows (see :func:`read_results`)."""
    with_vector = rows[(rows.status != NO_VECTOR) & rows.vector.notna()].reset_index(drop=True)
    raw = [
        expert_label(m if isinstance(m, str) else None, c, spec.level)
        for m, c in zip(with_vector.main_ipc, with_vector.ipc_codes, strict=True)
    ]
    truth = common_classes(raw, min_class)
    scored = np.array([t is not None for t in truth], dtype=bool)
    nodes = with_vector.node.to_numpy()
    x = with_vector.vector[scored].tolist()
    kept = [t for t in truth if t is not None]
    ours = agreement(nodes, truth)
    oracle = (
        oracle_kmeans(x, kept, with_vector.space[scored].tolist(), seeds)
        if len(set(kept)) >= 2
        else {"nmi": None, "ari": None}
    )
    return {
        "set": spec.name,
        "label": spec.label,
        "level": spec.level,
        "languages": languages([v if isinstance(v, str) else None for v in with_vector.language]),
        **node_figures(nodes, with_vector.status.tolist(), with_vector.space.tolist()),
        "no_vector": int(len(rows) - len(with_vector)),
        "labelled": int(sum(t is not None for t in raw)),
        "scored": int(scored.sum()),
        "classes": len(set(kept)),
        "classes_dropped": len({t for t in raw if t is not None} - set(kept)),
        "spaces": dict(Counter(with_vector.space)),
        "ours": ours,
        "oracle": oracle,
        "nmi_ratio": _ratio(ours["nmi"], oracle["nmi"]),
    }


def min_cluster_sizes(summary: dict[str, Any]) -> Any:
    """The cluster stage's min_cluster_size for the domain: one value, or one per space."""
    if "spaces" in summary:
        return {space: d.get("min_cluster_size") for space, d in summary["spaces"].items()}
    return summary.get("min_cluster_size")


def run(
    data: Path, names: list[str], docs: int, min_class: int, root: Path, out: Path | None
) -> bool:
    """Run and score every set; print the table and targets. True when every target is met."""
    results = []
    started = time.perf_counter()
    for name in names:
        spec = SETS[name]
        workspace = root / name
        inputs = workspace / "input"
        t0 = time.perf_counter()
        copied = write_subset(spec, data, inputs, docs)
        sets = overrides(spec, workspace, inputs)
        log.warning("%s: %s rows copied; running %s …", name, copied, " → ".join(STAGES))
        summary = run_pipeline(workspace, sets)
        cluster = summary["stages"]["cluster"]
        rows = read_results(workspace, sets, cluster["run_id"], cluster["embedder_ids"])
        scores = score_set(spec, rows, min_class)
        scores.update(
            rows_copied=copied,
            seconds=round(time.perf_counter() - t0, 1),
            workspace=str(workspace),
            cluster_run_id=cluster["run_id"],
            embedder_ids=cluster.get("embedder_ids"),
            min_cluster_size=min_cluster_sizes(cluster.get("domains", {}).get(DOMAIN, {})),
        )
        log.warning("%s: done in %.0f s", name, scores["seconds"])
        results.append(scores)
    wall = time.perf_counter() - started
    checks = targets(results)
    print_table(
        "validity benchmark (nodes vs expert classes)",
        [("wall time", f"{wall / 60:.1f} min", "")],
        12,
        notes=[
            f"data: {data}; ≤ {docs:,} rows per set (smallest sha256 of the raw row); "
            f"classes of ≥ {min_class} scored patents; workspaces under {root}",
            f"load average {load_average()}",
        ],
    )
    print()
    print("\n".join(table_rows(results)))
    print()
    for r in results:
        print(
            f"  {r['set']}: label = {r['label']}; {r['labelled']:,} labelled, "
            f"{r['classes_dropped']} small classes dropped; {r['no_vector']} without a vector; "
            f"spaces {r['spaces']}; min_cluster_size {r['min_cluster_size']}; largest node "
            f"{_pct(r['largest_node_share_in_space'])}% of its space; {r['seconds']:.0f} s"
        )
    print()
    width = max(len(c[0]) for c in checks)
    for name, measured, wanted, ok in checks:
        print(f"  {name:<{width}}  {measured:<16} {wanted:<10} {'PASS' if ok else 'FAIL'}")
    met = sum(ok for *_, ok in checks)
    passed = met == len(checks)
    print(f"validity: {'PASS' if passed else 'FAIL'} ({met} of {len(checks)} targets met)")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "command": shlex.join([sys.executable, *sys.argv]),
            "data": str(data),
            "docs": docs,
            "min_class": min_class,
            "wall_s": round(wall, 1),
            "sets": results,
            "targets": [
                {"target": n, "measured": m, "wanted": w, "met": ok} for n, m, w, ok in checks
            ],
            "passed": passed,
        }
        out.write_text(json.dumps(payload, indent=1, ensure_ascii=False), encoding="utf-8")
    return passed


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, required=True, help="folder of the full labelled source sets"
    )
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    parser.add_argument("--docs", type=int, default=3000, help="raw rows per set (deterministic)")
    parser.add_argument(
        "--min-class", type=int, default=20, help="smallest class (scored patents) kept"
    )
    parser.add_argument(
        "--workspace", type=Path, default=None, help="per-set workspaces' root (default: temp)"
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON file of the figures")
    args = parser.parse_args()
    workspace_root = args.workspace or Path(tempfile.mkdtemp(prefix="bench-validity-"))
    run(args.data, args.sets, args.docs, args.min_class, workspace_root.resolve(), args.out)
