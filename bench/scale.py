"""Scale benchmark: the whole screening pipeline on 100k, 300k and 1M synthetic abstracts.

    .venv/bin/python bench/scale.py [--sizes 100000 300000 1000000] [--root DIR] [--seed 0]
        [--files 8] [--driver-memory 6g] [--shuffle-partitions 32] [--embedder static]
        (no tuning flag: the settings' size-aware defaults)

    quick run: .venv/bin/python bench/scale.py --sizes 5000 20000

For each size N, untimed first: ``techscreen synth --n N`` writes N synthetic USPTO
pre-grant applications (gzipped JSON Lines, ``--files`` parts per size so every size reads
in the same number of splits) under ``ROOT/N/input``, reused when an earlier run wrote the
same N and seed. Then, timed, exactly what a user runs: ``techscreen run
pipelines/screening.yaml`` (ingest → domains → embed → cluster → graph → grade → report) in a
fresh workspace ``ROOT/N/workspace``, local[*] Spark and the local MLflow store, with
``embed.embedder=static`` (the distilled static embedder; built once beforehand, untimed).

Printed per size and stage: wall time (the stage's MLflow run, start to end), peak memory
while the stage ran (RSS sampled every 0.2 s over the ``techscreen`` process and its
descendants: the total, and each role's own peak: the JVM, which in local mode is the Spark
driver with the executors inside, the Python driver (the ``techscreen`` process) and the
PySpark Python workers summed; shared pages count once per process, so sums are upper
bounds) and patents per second. Per size, the driver's peak (JVM + Python driver, summed
per sample), with the JVM's configured ``-Xmx``, against its target. Then the end-to-end time
(process start to exit, so JVM start and MLflow set-up count), its log-log slope against N
(least squares over the sizes), and how well the nodes recover the planted themes (NMI of
node against theme over the patents clustered in their planted domain, noise as one group).
Targets (issue 18, no tuning flag): 1M abstracts end to end ≤ 10 min on 2 cores, driver peak
≤ 6 GiB, slope ≤ 1.05. Each verdict line says met or MISSED.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from sklearn.metrics import normalized_mutual_info_score

from report import PeakMemory, load_average, print_table
from techscreen.normalize import publication_number

ROOT = Path(__file__).resolve().parents[1]
TECHSCREEN = str(Path(sys.executable).with_name("techscreen"))
STAGES = ("ingest", "domains", "embed", "cluster", "graph", "grade", "report")
GIB = 1024**3
TARGET_1M_MINUTES = 10
TARGET_DRIVER_GIB = 6
TARGET_SLOPE = 1.05


def _verdict(value: float, limit: float) -> str:
    return "met" if value <= limit else "MISSED"


def _techscreen(*args: str, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [TECHSCREEN, *args], cwd=ROOT, capture_output=True, text=True, check=False, **kwargs
    )
    if done.returncode:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"techscreen {' '.join(args[:2])} failed (exit {done.returncode})")
    return done


def synthesize(n: int, seed: int, files: int, folder: Path) -> float:
    """Write the synthetic input once; seconds taken (0 when reused)."""
    done = folder / "SYNTHETIC.md"
    stamp = folder / ".bench-scale.json"
    wanted = {"n": n, "seed": seed, "files": files}
    if done.exists() and stamp.exists() and json.loads(stamp.read_text()) == wanted:
        return 0.0
    shutil.rmtree(folder, ignore_errors=True)
    start = time.perf_counter()
    per_file = str(math.ceil(n / files))
    _techscreen(
        "synth", "--n", str(n), "--seed", str(seed), "--out", str(folder), "--per-file", per_file
    )
    stamp.write_text(json.dumps(wanted))
    return time.perf_counter() - start


def screening(n_folder: Path, overrides: list[str]) -> dict:
    """Run the screening pipeline on ``n_folder/input``; per-stage seconds and peak memory."""
    workspace = n_folder / "workspace"
    shutil.rmtree(workspace, ignore_errors=True)
    sets = [
        f"paths.workspace={workspace}",
        f"paths.input=[{n_folder / 'input'}]",
        *overrides,
    ]
    args = ["run", "pipelines/screening.yaml", *[a for s in sets for a in ("--set", s)]]
    log = n_folder / "pipeline.log"
    with log.open("w") as err:
        start = time.time()
        command = [TECHSCREEN, *args]
        # watch the techscreen process (the Python driver) and its descendants, not this one
        with (
            subprocess.Popen(
                command, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True
            ) as done,
            PeakMemory(pid=done.pid) as memory,
        ):
            stdout, _ = done.communicate()
        end = time.time()
    if done.returncode:
        raise SystemExit(f"the pipeline failed on {n_folder} (exit {done.returncode}); see {log}")
    summary = json.loads(stdout.strip().splitlines()[-1])
    stages = {}
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{workspace / 'mlflow.db'}")
    for name in STAGES:
        info = client.get_run(summary["stages"][name]["run_id"]).info
        t0, t1 = info.start_time / 1000, info.end_time / 1000
        stages[name] = {
            "seconds": t1 - t0,
            "peak": memory.peak_between(t0, t1),
            "memory": memory.peaks_between(t0, t1),
        }
    return {
        "total_s": end - start,
        "peak": memory.peak,
        "memory": memory.peaks_between(),
        "jvm_xmx": memory.jvm_xmx,
        "stages": stages,
        "summary": summary["stages"],
        "workspace": workspace,
    }


def theme_recovery(input_folder: Path, workspace: Path, cluster_run: str) -> float:
    """NMI of node against planted theme over patents clustered in their planted domain."""
    truth = pq.read_table(
        input_folder / "_themes.parquet", columns=["publication_number", "theme", "domain"]
    )
    numbers = [publication_number(p) for p in truth.column("publication_number").to_pylist()]
    planted = {
        (num, dom): theme
        for num, dom, theme in zip(
            numbers, truth["domain"].to_pylist(), truth["theme"].to_pylist(), strict=True
        )
    }
    table = ds.dataset(workspace / "assignments", format="parquet", partitioning="hive")
    rows = table.to_table(
        columns=["domain", "publication_number", "node_id"],
        filter=pc.field("run_id") == cluster_run,
    )
    pairs = [
        (planted[key], node or "noise")
        for key, node in zip(
            zip(rows["publication_number"].to_pylist(), rows["domain"].to_pylist(), strict=True),
            rows["node_id"].to_pylist(),
            strict=True,
        )
        if key in planted
    ]
    themes, nodes = zip(*pairs, strict=True)
    return float(normalized_mutual_info_score(themes, nodes))


ROLES = ("total", "jvm", "python_driver", "python_workers")
MEMORY_HEADER = (
    f"{'time':>6}      "
    + " ".join(f"{h:>6}" for h in ("total", "JVM", "py-drv", "py-wkr"))
    + f"{'docs/s':>13}"
)


def _measured(seconds: float, memory: dict, n: int, minutes: bool = False) -> str:
    """Time, peak GiB per role (total, JVM, Python driver, Python workers) and rate."""
    took = f"{seconds / 60:6.1f} min" if minutes else f"{seconds:6.1f} s  "
    gib = " ".join(f"{memory[r] / GIB:6.2f}" for r in ROLES)
    return f"{took}  {gib}  {n / seconds:9,.0f}/s"


def _driver(result: dict) -> tuple[str, str]:
    """The driver's peak (JVM + Python driver), the stage it peaked in and the JVM's heap."""
    driver = result["memory"]["driver"]
    stage = max(result["stages"], key=lambda s: result["stages"][s]["memory"]["driver"])
    xmx = result["jvm_xmx"]
    heap = f"-Xmx {xmx / GIB:g} GiB" if xmx else "-Xmx unknown"
    value = f"{'':10}  {driver / GIB:6.2f} = JVM + py-drv (in {stage}; JVM {heap})"
    return value, f"≤ {TARGET_DRIVER_GIB} GiB: {_verdict(driver / GIB, TARGET_DRIVER_GIB)}"


def slope(sizes: list[int], seconds: list[float]) -> float:
    """Least-squares slope of log(seconds) against log(N)."""
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--root", type=Path, default=Path("/tmp/techscreen-scale"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--files", type=int, default=8, help="input parts per size")
    parser.add_argument("--driver-memory", help="default: the settings' (auto, from the RAM)")
    parser.add_argument(
        "--shuffle-partitions", type=int, help="default: the settings' (auto, per stage)"
    )
    parser.add_argument("--embedder", default="static")
    parser.add_argument(
        "--event-log",
        type=Path,
        help="write Spark's event log here (per job and stage times; no effect on the run)",
    )
    args = parser.parse_args()

    overrides = [f"embed.embedder={args.embedder}"]
    if args.driver_memory:
        overrides.append(f"spark.driver_memory={args.driver_memory}")
    if args.shuffle_partitions:
        overrides.append(f"spark.shuffle_partitions={args.shuffle_partitions}")
    if args.event_log:
        args.event_log.mkdir(parents=True, exist_ok=True)
        events = {
            "spark.eventLog.enabled": "true",
            "spark.eventLog.dir": str(args.event_log),
            "spark.eventLog.compress": "false",  # bench/event_log.py reads plain JSON lines
        }
        overrides.append(f"spark.conf={json.dumps(events)}")
    built = time.perf_counter()
    _techscreen("models", "build-static" if args.embedder == "static" else "build-int8")
    built = time.perf_counter() - built
    results = {}
    for n in sorted(args.sizes):
        folder = args.root / str(n)
        synth_s = synthesize(n, args.seed, args.files, folder / "input")
        print(f"N={n:,}: synthetic input ready ({synth_s:.0f} s); running the pipeline", flush=True)
        result = screening(folder, overrides)
        result["synth_s"] = synth_s
        result["nmi"] = theme_recovery(
            folder / "input", result["workspace"], result["summary"]["cluster"]["run_id"]
        )
        result["nodes"] = result["summary"]["cluster"]["n_nodes"]
        results[n] = result
        print(f"N={n:,}: {result['total_s'] / 60:.1f} min end to end", flush=True)
    print_results(results, args, built)
    (args.root / "scale.json").write_text(
        json.dumps(
            {str(n): {k: v for k, v in r.items() if k != "summary"} for n, r in results.items()},
            default=str,
            indent=2,
        )
    )


def print_results(results: dict, args: argparse.Namespace, built: float) -> None:
    """The table: per stage and size, then totals, driver peaks, themes and the slope."""
    sizes = sorted(results)
    rows = [("stage    N", MEMORY_HEADER, "target")]
    for name in STAGES:
        for n in sizes:
            s = results[n]["stages"][name]
            rows.append((f"{name:<8} N={n:>9,}", _measured(s["seconds"], s["memory"], n), ""))
    for n in sizes:
        r = results[n]
        minutes = r["total_s"] / 60
        target = (
            f"≤ {TARGET_1M_MINUTES} min: {_verdict(minutes, TARGET_1M_MINUTES)}"
            if n == 1_000_000
            else ""
        )
        rows.append(
            (
                f"total    N={n:>9,}",
                _measured(r["total_s"], r["memory"], n, minutes=True),
                target,
            )
        )
    for n in sizes:
        rows.append((f"driver   N={n:>9,}", *_driver(results[n])))
    for n in sizes:
        r = results[n]
        rows.append((f"themes   N={n:>9,}", f"NMI {r['nmi']:.3f}, {r['nodes']} nodes", ""))
    if len(sizes) > 1:
        fitted = slope(sizes, [results[n]["total_s"] for n in sizes])
        verdict = f"≤ {TARGET_SLOPE}: {_verdict(fitted, TARGET_SLOPE)}"
        rows.append(("log-log slope of total time vs N", f"{fitted:.3f}", verdict))
    print_table(
        "Scale benchmark",
        rows,
        max(len(value) for _, value, _ in rows) + 1,
        notes=[
            f"embedder {args.embedder} (built {built:.0f} s, untimed); seed {args.seed}; "
            f"{args.files} input files per size; spark.driver_memory {args.driver_memory}, "
            f"spark.shuffle_partitions {args.shuffle_partitions}",
            f"load average at the end: {load_average()}",
            "memory: peak RSS in GiB in the stage's window, each column its own peak (upper "
            "bounds: shared pages count per process);",
            "  JVM = Spark driver + executors (local mode), py-drv = the techscreen process, "
            "py-wkr = PySpark workers, other peaked at "
            f"{max(results[n]['memory']['other'] for n in sizes) / GIB:.2f}",
            f"workspaces under {args.root}",
        ],
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    _main()
