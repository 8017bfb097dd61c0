"""Clustering benchmark: this pipeline vs a BERTopic-style baseline, side by side, and at scale.

    .venv/bin/python bench/cluster.py [--inputs PATH ...] [--workspace DIR] [--docs 100000]
        [--languages en ...] [--scale-n 1000000] [--baseline-timeout 3600]
        [--driver-memory 4g] [--seed 0]

    quick run: .venv/bin/python bench/cluster.py --docs 5000 --scale-n 50000

Prints one table:
  * on the same real static vectors (256 d) and the same cores, in one run: this pipeline
    (PCA 64 → FAISS spherical k-means on the automatic sample → weighted HDBSCAN over the
    micro-centroids, then every vector assigned) vs the baseline a user would otherwise pick,
    BERTopic's UMAP → HDBSCAN on every point. Time ratio baseline ÷ ours (target ≥ 10×) and
    NMI against the main IPC/CPC subclass, ours ÷ baseline (target ≥ 0.95);
  * at scale: minutes and peak memory of the cluster stage's two halves on ``--scale-n`` ×
    256 vectors through a real local[2] SparkSession: the sample hand-off and fit on the
    driver, then the distributed assignment written to Parquet (targets: 1M vectors in
    under 15 minutes and 8 GiB).

Vectors: real patents with a main subclass, read by the project's own ``ingest`` (files no
reader recognises are skipped and counted) and embedded by ``embed`` with the static
embedder, both as subprocesses so this process holds no Spark before the scale part. A
``--workspace`` that already holds static vectors is reused; one with a patents table is
embedded only. At most ``--docs`` are used; fewer real ones are used as they are, and the
table says so. The static model is English: on a pool of mixed languages the nodes of both
sides split by language first (``--languages en`` keeps English patents only). No real
corpus has 1M patents: the scale vectors are real vectors resampled with replacement, plus
N(0, 0.02²) noise per coordinate (cosine ≈ 0.95 to their source), renormalised, written as
Parquet (domain, publication_number, vector) beforehand, untimed.

Fairness: both sides warm up untimed on 5,000 vectors (numba JIT for UMAP, FAISS and BLAS
loading for ours). The baseline runs in its own process (so ``--baseline-timeout`` can
stop it; past the cap it is reported as "> cap") with BERTopic's defaults: UMAP
n_neighbors=15, n_components=5, min_dist=0.0, metric cosine, low_memory=False and no
random_state, which lets UMAP use every core (a random_state would force one thread), then
HDBSCAN (euclidean, eom) with our min_cluster_size (min_samples defaulting to it, as ours),
without prediction_data. Noise counts as one group in NMI on both sides. Peak memory is
the sum of RSS over this process and all its descendants (driver JVM, Python workers),
sampled every 0.2 s; shared pages are counted once per process, so it is an upper bound.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import multiprocessing as mp
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from report import PeakMemory, load_average, print_table, workspace_table
from techscreen.cluster.metrics import agreement_with_classes
from techscreen.cluster.micro import normalise
from techscreen.cluster.model import fit_model, sizing
from techscreen.config import ClusterSettings, SparkSettings, load_settings
from techscreen.embed.quality import main_subclass
from techscreen.embed.registry import named_embedder
from techscreen.io.formats import expand, head, readers

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = "all"  # one domain-agnostic pool: every vector is clustered together
NOISE_SIGMA = 0.02  # per coordinate; 256 d → noise norm 0.32, cosine ≈ 0.95 to the source
WARM = 5_000  # above 4,096 so UMAP warms up its approximate (NN-descent) neighbour path
GIB = 1024**3


# --- real vectors -------------------------------------------------------------------------


def _cli(*args: str) -> None:
    """Run ``techscreen ARGS`` in its own process (its own JVM, gone when it ends)."""
    command = [sys.executable, "-m", "techscreen.cli", *args]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"failed: {shlex.join(command)}")


def recognised(inputs: list[Path]) -> tuple[list[str], int]:
    """The input files some reader recognises, and how many others were skipped."""
    available = readers(load_settings(ROOT / "conf").ingest)
    files = expand(inputs)
    chosen = [f for f in files if any(r.detect(f, head(f)) for r in available)]
    return chosen, len(files) - len(chosen)


def real_vectors(
    workspace: Path, inputs: list[Path], docs: int, seed: int, languages: list[str] | None = None
) -> tuple[np.ndarray, list[str], str]:
    """Up to ``docs`` real static vectors with their main subclass, and where they came from.

    ``languages`` keeps only patents whose detected language is one of them (None: all).
    """
    settings = load_settings(ROOT / "conf")
    eid = named_embedder(settings.embed, "static").embedder_id
    ws = f"paths.workspace={workspace}"
    source = f"workspace {workspace}"
    if not (workspace / "vectors" / f"embedder_id={eid}").exists():
        if not (workspace / "patents" / "_SUCCESS").exists():
            files, skipped = recognised(inputs)
            if not files:
                raise SystemExit(f"no reader recognises any file under {inputs}")
            print(f"ingesting {len(files)} files into {workspace} …", file=sys.stderr)
            _cli("ingest", *files, "--set", ws)
            names = ", ".join(str(p) for p in inputs)
            source = f"ingest of {names} ({len(files)} files read, {skipped} unrecognised)"
        print(f"embedding with {eid} …", file=sys.stderr)
        _cli("embed", "--set", "embed.embedder=static", "--set", ws)
    vectors = workspace_table(
        workspace,
        "vectors",
        ["publication_number", "content_hash", "vector"],
        (ds.field("embedder_id") == eid) & ds.field("vector").is_valid(),
    )
    patents = pq.read_table(
        workspace / "patents",
        columns=["publication_number", "content_hash", "ipc_codes", "cpc_codes", "language"],
    ).to_pandas()
    rows = vectors.merge(patents, on=["publication_number", "content_hash"])
    rows["cls"] = [main_subclass(i, c) for i, c in zip(rows.ipc_codes, rows.cpc_codes, strict=True)]
    rows = rows[rows.cls.notna()].sort_values("publication_number", ignore_index=True)
    english = float((rows.language == "en").mean())
    if languages:
        rows = rows[rows.language.isin(languages)].reset_index(drop=True)
    found = len(rows)
    if found > docs:
        keep = np.sort(np.random.default_rng(seed).choice(found, docs, replace=False))
        rows = rows.iloc[keep]
    x = normalise(np.stack(rows.vector.to_numpy()))
    only = f" in {'/'.join(languages)}" if languages else f" ({english:.0%} English)"
    note = f"{len(rows):,} real patents{only}" + (
        f" (only {found:,} exist with a static vector and a main subclass; {docs:,} asked)"
        if found < docs
        else f" (sampled from {found:,})"
        if found > docs
        else ""
    )
    return x, rows.cls.tolist(), f"{note}; {rows.cls.nunique()} subclasses; {source}"


# --- the two sides ------------------------------------------------------------------------


def ours(x: np.ndarray, seed: int) -> dict:
    """Fit on the automatic sample, then assign every vector: seconds and labels."""
    c = ClusterSettings(seed=seed)
    n = len(x)
    size = sizing(n, c)
    warm = x[np.random.default_rng(seed + 1).choice(n, min(n, WARM), replace=False)]
    fit_model(warm, c, len(warm), seed)[0].assign(warm)  # untimed warm-up
    started = time.perf_counter()
    sample = x[np.random.default_rng(seed).choice(n, size.sample_size, replace=False)]
    model, info = fit_model(sample, c, n, seed)
    fitted = time.perf_counter()
    labels = model.assign(x).node
    done = time.perf_counter()
    return {
        "seconds": done - started,
        "fit_s": fitted - started,
        "assign_s": done - fitted,
        "labels": labels,
        "sizing": info.sizing,
        "micro": info.micro_clusters,
    }


def _baseline_child(path: str, min_cluster_size: int, out: str) -> None:
    """UMAP → HDBSCAN on every point, BERTopic's defaults; writes labels and seconds."""
    import hdbscan
    import umap

    x = np.load(path)

    def run(points: np.ndarray, mcs: int) -> tuple[np.ndarray, float, float]:
        started = time.perf_counter()
        reducer = umap.UMAP(
            n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", low_memory=False
        )
        embedded = reducer.fit_transform(points)
        reduced = time.perf_counter()
        labels = hdbscan.HDBSCAN(
            min_cluster_size=mcs, metric="euclidean", cluster_selection_method="eom"
        ).fit_predict(embedded)
        return labels, reduced - started, time.perf_counter() - reduced

    run(x[: min(len(x), WARM)], 10)  # untimed warm-up: numba compiles UMAP's kernels
    Path(out + ".started").touch()
    labels, umap_s, hdbscan_s = run(x, min_cluster_size)
    np.savez(out, labels=labels, umap_s=umap_s, hdbscan_s=hdbscan_s)


def _kill_tree(pid: int) -> None:
    try:
        parent = psutil.Process(pid)
        family = [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        return
    for proc in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()


def baseline(x: np.ndarray, min_cluster_size: int, cap: float, tmp: Path) -> dict:
    """The baseline in a spawned process, stopped ``cap`` s after its warm-up if still running."""
    path, out = str(tmp / "baseline-x.npy"), str(tmp / "baseline-out")
    np.save(path, x)
    child = mp.get_context("spawn").Process(
        target=_baseline_child, args=(path, min_cluster_size, out)
    )
    child.start()
    started = None
    while child.is_alive():
        child.join(1.0)
        if started is None and Path(out + ".started").exists():
            started = time.perf_counter()
        if started is not None and child.is_alive() and time.perf_counter() - started > cap:
            _kill_tree(child.pid)
            child.join()
            return {"seconds": None, "labels": None}
    if child.exitcode != 0:
        raise SystemExit(f"baseline process failed with exit code {child.exitcode}")
    got = np.load(out + ".npz")
    umap_s, hdbscan_s = float(got["umap_s"]), float(got["hdbscan_s"])
    return {
        "seconds": umap_s + hdbscan_s,
        "umap_s": umap_s,
        "hdbscan_s": hdbscan_s,
        "labels": got["labels"],
    }


# --- scale --------------------------------------------------------------------------------


def synthetic(x: np.ndarray, n: int, folder: Path, seed: int, chunk: int = 100_000) -> None:
    """``n`` resampled real vectors + Gaussian noise, renormalised, as Parquet files."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for start in range(0, n, chunk):
        rows = min(chunk, n - start)
        v = x[rng.integers(len(x), size=rows)]
        v = normalise(v + rng.normal(0.0, NOISE_SIGMA, v.shape).astype(np.float32))
        vector = pa.ListArray.from_arrays(
            pa.array(np.arange(rows + 1, dtype=np.int32) * v.shape[1]), pa.array(v.ravel())
        )
        table = pa.table(
            {
                "domain": pa.array([DOMAIN] * rows),
                "publication_number": pa.array(
                    [f"SYN-{i:08d}" for i in range(start, start + rows)]
                ),
                "vector": vector,
            }
        )
        pq.write_table(table, folder / f"part-{start // chunk:05d}.parquet", row_group_size=20_000)


def scale(x: np.ndarray, n: int, driver_memory: str, seed: int, tmp: Path) -> dict:
    """The cluster stage's hand-off, fit and distributed assignment on ``n`` synthetic vectors."""
    from pyspark.sql import functions as F

    from techscreen.cluster.assign import assign_nodes
    from techscreen.cluster.spaces import DomainModel
    from techscreen.io.handoff import sample_groups_to_pandas
    from techscreen.schema import NOISE_NODE
    from techscreen.spark import build_session

    source = tmp / "scale-vectors"
    made = time.perf_counter()
    synthetic(x, n, source, seed)
    made = time.perf_counter() - made
    c = ClusterSettings(seed=seed)
    out: dict = {"generate_s": made}
    with PeakMemory() as memory:
        t0 = time.perf_counter()
        spark = build_session(
            SparkSettings(master="local[2]", driver_memory=driver_memory, app_name="bench-cluster")
        )
        t1 = time.perf_counter()
        frame = spark.read.parquet(str(source))
        counted = frame.groupBy("domain").agg(F.count("vector").alias("n")).collect()
        total = {r["domain"]: int(r["n"]) for r in counted}[DOMAIN]
        size = sizing(total, c)
        sample = sample_groups_to_pandas(
            frame, "domain", {DOMAIN: size.sample_size}, seed, "publication_number"
        )
        t2 = time.perf_counter()
        model, info = fit_model(np.stack(sample.vector.to_numpy()), c, total, seed)
        del sample
        t3 = time.perf_counter()
        target = tmp / "scale-assignments"
        space = "synthetic"
        assigned = assign_nodes(
            frame.withColumn("space", F.lit(space)), {DOMAIN: DomainModel({space: model})}
        )
        assigned.write.parquet(str(target))
        t4 = time.perf_counter()
    written = spark.read.parquet(str(target))
    row = written.agg(
        F.count("*").alias("rows"), F.count(F.when(F.col("node") == NOISE_NODE, 1)).alias("noise")
    ).first()
    spark.stop()
    out.update(
        n=total,
        session_s=t1 - t0,
        handoff_s=t2 - t1,
        fit_s=t3 - t2,
        assign_s=t4 - t3,
        total_s=t4 - t0,
        peak=memory.peak,
        sizing=info.sizing,
        nodes=model.n_nodes,
        rows=int(row["rows"]),
        noise=int(row["noise"]) / max(int(row["rows"]), 1),
    )
    return out


# --- the table ----------------------------------------------------------------------------


def _noise(labels: np.ndarray) -> str:
    return f"{(labels < 0).mean():.1%}"


def _nodes(labels: np.ndarray) -> int:
    return len(np.unique(labels[labels >= 0]))


def run(args: argparse.Namespace) -> None:
    wall = time.perf_counter()
    load_start = load_average()
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as scratch:
        tmp = Path(scratch)
        workspace = args.workspace or tmp / "workspace"
        x, classes, source = real_vectors(
            workspace, args.inputs, args.docs, args.seed, args.languages
        )
        print(f"{len(x):,} vectors; running ours …", file=sys.stderr)
        mine = ours(x, args.seed)
        mcs = mine["sizing"].min_cluster_size
        print("running the baseline …", file=sys.stderr)
        base = baseline(x, mcs, args.baseline_timeout, tmp)
        load_mid = load_average()
        print(f"scale: {args.scale_n:,} vectors …", file=sys.stderr)
        big = scale(x, args.scale_n, args.driver_memory, args.seed, tmp)
    load_end = load_average()

    s = mine["sizing"]
    nmi_ours = agreement_with_classes(mine["labels"], classes)
    lines = [
        ("vectors", f"{len(x):,} × {x.shape[1]} static (model2vec); {source}", ""),
        (
            "ours: fit on sample + assign all",
            f"{mine['seconds']:.1f} s (fit {mine['fit_s']:.1f} + assign {mine['assign_s']:.1f}); "
            f"PCA 64, k={s.k} ({mine['micro']} kept) on {s.sample_size:,}, mcs {mcs}",
            "",
        ),
    ]
    cap = f"> {args.baseline_timeout:.0f} s (cap)"
    if base["labels"] is None:
        lines += [
            ("baseline: UMAP 5d → HDBSCAN, all points", f"{cap}, stopped", ""),
            (
                "time ratio baseline ÷ ours",
                f"> {args.baseline_timeout / mine['seconds']:.1f}×",
                "≥ 10×",
            ),
            ("NMI vs main subclass ours / baseline", f"{nmi_ours['nmi']} / n/a", ""),
            ("NMI ratio ours ÷ baseline", "n/a (baseline stopped)", "≥ 0.95"),
        ]
    else:
        nmi_base = agreement_with_classes(base["labels"], classes)
        lines += [
            (
                "baseline: UMAP 5d → HDBSCAN, all points",
                f"{base['seconds']:.1f} s (UMAP {base['umap_s']:.1f} + HDBSCAN "
                f"{base['hdbscan_s']:.1f}); mcs {mcs}",
                "",
            ),
            ("time ratio baseline ÷ ours", f"{base['seconds'] / mine['seconds']:.1f}×", "≥ 10×"),
            (
                "NMI vs main subclass ours / baseline",
                f"{nmi_ours['nmi']:.4f} / {nmi_base['nmi']:.4f}",
                "",
            ),
            ("NMI ratio ours ÷ baseline", f"{nmi_ours['nmi'] / nmi_base['nmi']:.3f}", "≥ 0.95"),
            ("AMI ours / baseline", f"{nmi_ours['ami']:.4f} / {nmi_base['ami']:.4f}", ""),
            (
                "nodes ours / baseline",
                f"{_nodes(mine['labels'])} / {_nodes(base['labels'])}",
                "",
            ),
            (
                "noise fraction ours / baseline",
                f"{_noise(mine['labels'])} / {_noise(base['labels'])}",
                "",
            ),
        ]
    b = big["sizing"]
    lines += [
        (
            f"scale: {big['n']:,} × {x.shape[1]} vectors",
            f"real vectors resampled + N(0, {NOISE_SIGMA}²) noise, renormalised "
            f"(made in {big['generate_s']:.0f} s, untimed); local[2], driver {args.driver_memory}",
            "",
        ),
        (
            "  session / hand-off / fit / assign+write",
            f"{big['session_s']:.1f} / {big['handoff_s']:.1f} / {big['fit_s']:.1f} / "
            f"{big['assign_s']:.1f} s "
            f"(sample {b.sample_size:,}, k={b.k}, mcs {b.min_cluster_size})",
            "",
        ),
        (
            "  nodes / noise fraction / rows written",
            f"{big['nodes']} / {big['noise']:.1%} / {big['rows']:,}",
            "",
        ),
        ("  total time", f"{big['total_s'] / 60:.2f} min", "< 15 min at 1M"),
        ("  peak RSS, process tree", f"{big['peak'] / GIB:.2f} GiB", "< 8 GiB at 1M"),
    ]
    print_table(
        "clustering benchmark (one domain-agnostic pool)",
        lines,
        72,
        [f"load average (1/5/15 min): start {load_start}; before scale {load_mid}; end {load_end}"],
    )
    print(f"  wall time of the whole benchmark: {(time.perf_counter() - wall) / 60:.1f} min")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--inputs",
        type=Path,
        nargs="+",
        default=[ROOT / "data" / "sample"],
        help="files or folders to ingest (default: the bundled sample)",
    )
    parser.add_argument("--workspace", type=Path, help="reuse/keep this workspace's vectors")
    parser.add_argument("--docs", type=int, default=100_000, help="real vectors at most")
    parser.add_argument(
        "--languages", nargs="+", help="only patents in these languages (e.g. en; default: all)"
    )
    parser.add_argument("--scale-n", type=int, default=1_000_000, help="vectors of the scale run")
    parser.add_argument(
        "--baseline-timeout", type=float, default=3600.0, help="seconds before the baseline stops"
    )
    parser.add_argument("--driver-memory", default="4g", help="Spark driver memory at scale")
    parser.add_argument("--seed", type=int, default=0)
    run(parser.parse_args())
