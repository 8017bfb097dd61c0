"""Base class of format readers, and the Spark helpers that cut raw files into units.

A reader turns files into a DataFrame of *units* (:data:`techscreen.schema.UNITS`: source
file, record location, payload text), and parses one payload into a raw record: a dict
whose keys are among :data:`techscreen.schema.RAW_FIELDS`. Units are made by Spark so a
large file is split across tasks; parsing runs on executors. Nothing here collects data.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from functools import reduce
from typing import Any, ClassVar

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from techscreen.schema import UNITS

# monotonically_increasing_id(): the task's index above bit 33, the row's index in it below
_ROW_BITS = (1 << 33) - 1


class Reader(ABC):
    """One raw input format.

    Subclasses set :attr:`name`, say whether they recognise a file from its name and first
    bytes (:meth:`detect`), build units with Spark (:meth:`units`) and parse one payload
    (:meth:`parse`, a pure function of the payload: no Spark, no I/O).
    """

    name: ClassVar[str]

    @abstractmethod
    def detect(self, path: str, head: bytes) -> bool:
        """Return True if ``path`` (whose first 64 KiB are ``head``) is in this format."""

    @abstractmethod
    def units(self, spark: SparkSession, files: Sequence[str]) -> DataFrame:
        """Return the files' records as a DataFrame of schema :data:`UNITS`."""

    @abstractmethod
    def parse(self, payload: str) -> dict[str, Any]:
        """Parse one unit into a raw record; raise ``RecordError`` to quarantine it."""


def delimited_units(spark: SparkSession, files: Sequence[str], delimiter: str) -> DataFrame:
    """Split each file into records at ``delimiter`` with Hadoop's splittable text input.

    The delimiter is consumed (a record starting with ``<?xml`` loses those five
    characters; :func:`restore_prefix` puts them back). Gzip files are read whole (gzip is
    not splittable); plain files are split at block boundaries across tasks. The record
    location is the byte offset of the record in its file, so ``file@offset`` finds it.
    Bytes that are not UTF-8 arrive as U+FFFD, which validation quarantines.
    """
    sc = spark.sparkContext
    conf = {"textinputformat.record.delimiter": delimiter}
    rdds = []
    for path in files:
        rdd = sc.newAPIHadoopFile(
            path,
            "org.apache.hadoop.mapreduce.lib.input.TextInputFormat",
            "org.apache.hadoop.io.LongWritable",
            "org.apache.hadoop.io.Text",
            conf=conf,
        )
        rdds.append(rdd.map(lambda kv, p=path: (p, f"offset={kv[0]}", kv[1])))
    if not rdds:
        return spark.createDataFrame([], UNITS)
    units = spark.createDataFrame(sc.union(rdds), UNITS)
    return units.where(F.length(F.trim("payload")) > 0)


def line_units(spark: SparkSession, files: Sequence[str]) -> DataFrame:
    r"""One unit per non-blank line (JSON Lines and the like), located by line number.

    Read by Spark's text source, in the JVM (a line ends at ``\n``, ``\r\n`` or ``\r``;
    gzip files whole, plain files split across tasks). The location is ``line=N`` (1-based,
    blank lines counted) or, in a split of a large plain file that starts at byte ``B``,
    ``offset=B;line=N``: the ``N``-th line after the one holding byte ``B`` (``tail -c
    +$((B+1)) FILE | sed -n $((N+1))p``). Each file is read on its own, so a task holds one
    split and the row's index in its task is its line in the split. Bytes that are not UTF-8
    are kept as read; validation reads them as U+FFFD and quarantines the record.
    """
    frames = []
    for path in files:
        block = F.col("_metadata.file_block_start")
        line = (F.monotonically_increasing_id().bitwiseAND(_ROW_BITS) + 1).cast("string")
        numbered = spark.read.text(path).select(
            F.lit(path).alias("source_file"),
            F.when(block == 0, F.concat(F.lit("line="), line))
            .otherwise(F.concat(F.lit("offset="), block.cast("string"), F.lit(";line="), line))
            .alias("record_location"),
            F.col("value").alias("payload"),
        )
        frames.append(numbered.where(F.length(F.trim("payload")) > 0))
    return union_units(spark, frames)


def union_units(spark: SparkSession, frames: Sequence[DataFrame]) -> DataFrame:
    """The units of several frames as one (an empty units frame when there are none)."""
    if not frames:
        return spark.createDataFrame([], UNITS)
    return reduce(DataFrame.unionAll, frames)


def restore_prefix(payload: str, prefix: str) -> str:
    """Undo the delimiter consumed by :func:`delimited_units` on a record."""
    return payload if payload.lstrip().startswith(prefix) else prefix + payload


def with_source_file(frame: DataFrame) -> DataFrame:
    """Add a ``source_file`` column from Spark's file metadata (call right after a file read)."""
    return frame.withColumn("source_file", F.col("_metadata.file_path"))


def rows_as_units(frame: DataFrame, key_column: str) -> DataFrame:
    """Turn source rows (with a ``source_file`` column) into units whose payload is the row as JSON.

    The record location is ``<key_column>=<value>;row=<n>``: the key finds the record by
    eye, and ``n`` (Spark's row id within the read) keeps rows that share a key distinct.
    """
    data = [c for c in frame.columns if c != "source_file"]
    key = F.coalesce(F.col(key_column).cast("string"), F.lit(""))
    return frame.select(
        F.col("source_file"),
        F.concat(
            F.lit(f"{key_column}="), key, F.lit(";row="), F.monotonically_increasing_id()
        ).alias("record_location"),
        F.to_json(F.struct(*[F.col(c) for c in data])).alias("payload"),
    )
