"""Size-aware Spark defaults: driver memory from the machine, shuffle partitions from the data.

``spark.driver_memory: auto`` gives the driver JVM (in local mode the executors live in it)
a share of the machine's physical memory, bounded; ``spark.shuffle_partitions: auto`` sizes
every stage's shuffles from the bytes it reads (the input files for ingest, the workspace's
``patents`` table after it), with adaptive query execution coalescing the partitions that
turn out small. An explicit number or size in the settings always wins. The chosen values
are tagged on every stage run (``techscreen.spark.*``), so a slow or failed run shows what
it had.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable
from pathlib import Path

from pyspark.sql import SparkSession

from techscreen.config import Settings, SparkSettings, workspace

log = logging.getLogger(__name__)
AUTO = "auto"
MIB = 1024**2
GIB = 1024**3
# The driver heap: this share of physical memory, within these bounds. In local mode the
# JVM's resident size settles near its heap, and the Python driver and workers, the OS and
# the page cache need the rest.
DRIVER_SHARE = 1 / 6
DRIVER_MIN = 1 * GIB
DRIVER_MAX = 16 * GIB
# One shuffle partition per this many bytes of (uncompressed) input; AQE merges small ones.
PARTITION_BYTES = 64 * MIB
MAX_PARTITIONS = 4000
# How much larger than on disk the data is once read: gzip'd text ~4x, snappy Parquet ~2x.
EXPANSION = {".gz": 4.0, ".bz2": 5.0, ".zip": 4.0, ".xz": 5.0, ".parquet": 2.0}


def physical_memory() -> int:
    """Bytes of physical memory of this machine."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def driver_memory(setting: str, total: int | None = None) -> str:
    """The ``spark.driver.memory`` to use: ``setting``, or for ``auto`` a share of ``total``.

    The share is :data:`DRIVER_SHARE` of physical memory, bounded by :data:`DRIVER_MIN` and
    :data:`DRIVER_MAX`, in whole MiB (24 GiB of RAM gives 4096m).
    """
    if setting != AUTO:
        return setting
    total = physical_memory() if total is None else total
    chosen = min(max(total * DRIVER_SHARE, DRIVER_MIN), DRIVER_MAX)
    return f"{int(chosen // MIB)}m"


def shuffle_partitions(data_bytes: int, parallelism: int) -> int:
    """Partitions for shuffling ``data_bytes``.

    One per :data:`PARTITION_BYTES`, at least two per core (``parallelism``), at most
    :data:`MAX_PARTITIONS`.
    """
    wanted = math.ceil(data_bytes / PARTITION_BYTES)
    return int(min(max(wanted, 2 * parallelism), MAX_PARTITIONS))


def expanded_bytes(files: Iterable[str | Path]) -> int:
    """Estimated bytes of ``files`` once read (compressed files count several times)."""
    total = 0.0
    for file in files:
        path = Path(file)
        total += path.stat().st_size * EXPANSION.get(path.suffix.lower(), 1.0)
    return int(total)


def _table_bytes(folder: Path) -> int:
    if not folder.is_dir():
        return 0
    return expanded_bytes(p for p in folder.rglob("*.parquet") if p.is_file())


def stage_data_bytes(settings: Settings, name: str, inputs: Iterable[str] | None = None) -> int:
    """What stage ``name`` reads, in expanded bytes.

    The raw inputs for ingest, else the workspace's ``patents`` table (every later table
    scales with it).
    """
    if name == "ingest":
        from techscreen.io.formats import expand

        return expanded_bytes(expand(inputs or settings.paths.input))
    return _table_bytes(workspace(settings) / "patents")


def session_conf(settings: SparkSettings) -> dict[str, str]:
    """The sizing part of the session's configuration (set before the JVM starts).

    Shuffle partitions here serve work outside a stage (e.g. ``techscreen export``); each
    stage sets its own with :func:`size_stage`.
    """
    configured = settings.shuffle_partitions
    initial = shuffle_partitions(0, os.cpu_count() or 1) if configured == AUTO else configured
    return {
        "spark.driver.memory": driver_memory(settings.driver_memory),
        "spark.sql.shuffle.partitions": str(initial),
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.adaptive.coalescePartitions.enabled": "true",
        "spark.sql.adaptive.advisoryPartitionSizeInBytes": f"{PARTITION_BYTES // MIB}m",
    }


def size_stage(
    spark: SparkSession, settings: Settings, name: str, inputs: Iterable[str] | None = None
) -> dict[str, str]:
    """Set this stage's shuffle partitions on ``spark``; the chosen values, as run tags.

    ``spark.shuffle_partitions`` as a number is used as is; ``auto`` is sized from what the
    stage reads (:func:`stage_data_bytes`) and the session's default parallelism.
    """
    configured = settings.spark.shuffle_partitions
    data = stage_data_bytes(settings, name, inputs)
    if configured == AUTO:
        partitions = shuffle_partitions(data, spark.sparkContext.defaultParallelism)
    else:
        partitions = int(configured)
    spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
    log.info(
        "stage %s: %d shuffle partitions (%s; reads ~%d MiB)",
        name,
        partitions,
        configured,
        data // MIB,
    )
    return {
        "techscreen.spark.shuffle_partitions": str(partitions),
        "techscreen.spark.shuffle_partitions_from": str(configured),
        "techscreen.spark.data_bytes": str(data),
        "techscreen.spark.driver_memory": spark.sparkContext.getConf().get(
            "spark.driver.memory", ""
        ),
        "techscreen.spark.adaptive": spark.conf.get("spark.sql.adaptive.enabled") or "",
    }
