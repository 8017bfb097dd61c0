"""Per-domain node fits on the driver: one after another against a thread pool, side by side.

    .venv/bin/python bench/domain_fits.py [--workspace /tmp/techscreen-scale/1000000/workspace]
        [--threads 2]

Reads a finished workspace (``bench/scale.py`` leaves one per size) with pyarrow, not Spark:
each domain's patents with a vector, a uniform sample of each as large as the cluster stage's
(``sizing(n).sample_size``), then fits every domain's nodes as the cluster stage does
(``techscreen.stages.cluster._fit_domain``, the shipped cluster settings) twice: in a loop,
then in a ``ThreadPoolExecutor`` of ``--threads``. Prints both times, their ratio and whether
the nodes agree. Measures whether fitting domains in parallel on the driver would pay.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from report import load_average, print_table, workspace_table
from techscreen.cluster.model import sizing
from techscreen.config import load_settings
from techscreen.stages.cluster import _fit_domain

ROOT = Path(__file__).resolve().parents[1]
CODES = ["ipc_codes", "cpc_codes"]


def samples(workspace: Path, settings, seed: int = 0) -> list[tuple[str, pd.DataFrame, int]]:
    """(domain, its fit sample, its patents with a vector), largest domain first."""
    frame = (
        workspace_table(workspace, "patent_domains", ["publication_number", "domain"])
        .merge(workspace_table(workspace, "vectors", ["publication_number", "vector"]))
        .merge(workspace_table(workspace, "patents", ["publication_number", *CODES]))
    )
    frame = frame[frame.vector.notna()]
    rng = np.random.default_rng(seed)
    out = []
    for domain, part in sorted(frame.groupby("domain"), key=lambda g: -len(g[1])):
        take = min(len(part), sizing(len(part), settings).sample_size)
        out.append((domain, part.iloc[rng.choice(len(part), take, replace=False)], len(part)))
    return out


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = Path("/tmp/techscreen-scale/1000000/workspace")
    parser.add_argument("--workspace", type=Path, default=default)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    settings = load_settings(ROOT / "conf").cluster
    jobs = samples(args.workspace, settings)

    def fit(job: tuple[str, pd.DataFrame, int]) -> int:
        domain, sample, n = job
        return _fit_domain(domain, sample, n, settings)[2]["n_nodes"]

    started = time.perf_counter()
    serial = [fit(job) for job in jobs]
    serial_s = time.perf_counter() - started
    started = time.perf_counter()
    with ThreadPoolExecutor(args.threads) as pool:
        threaded = list(pool.map(fit, jobs))
    threaded_s = time.perf_counter() - started
    rows = [
        ("one after another", f"{serial_s:.1f} s", ""),
        (f"thread pool of {args.threads}", f"{threaded_s:.1f} s", ""),
        ("ratio (serial / threads)", f"{serial_s / threaded_s:.2f}", ""),
        ("same nodes per domain", str(serial == threaded), ""),
    ]
    print_table(
        "Domain fits on the driver",
        rows,
        12,
        notes=[
            f"workspace {args.workspace}",
            "domains (patents with a vector, sample): "
            + ", ".join(f"{d} {n:,} ({len(s):,})" for d, s, n in jobs),
            f"nodes: {dict(zip([d for d, _, _ in jobs], serial, strict=True))}",
            f"load average at the end: {load_average()}",
        ],
    )


if __name__ == "__main__":
    _main()
