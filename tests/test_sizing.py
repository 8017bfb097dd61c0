"""Size-aware Spark defaults: the rules, and a stage's partitions set from what it reads."""

from __future__ import annotations

import gzip
import random

import pytest

from conftest import ROOT
from techscreen.config import load_settings
from techscreen.sizing import GIB, driver_memory, shuffle_partitions, size_stage


@pytest.mark.parametrize(
    ("ram_gib", "expected"),
    [(24, "4096m"), (4, "1024m"), (3, "1024m"), (64, "10922m"), (256, "16384m")],
)
def test_auto_driver_memory_is_a_bounded_sixth_of_the_ram(ram_gib, expected):
    assert driver_memory("auto", ram_gib * GIB) == expected


def test_an_explicit_driver_memory_wins():
    assert driver_memory("6g", 24 * GIB) == "6g"


def test_partitions_follow_the_bytes_with_a_floor_and_a_ceiling():
    mib = 1024**2
    assert shuffle_partitions(0, 2) == 4  # two per core even for nothing
    assert shuffle_partitions(100 * mib, 2) == 4
    assert shuffle_partitions(2000 * mib, 2) == 32  # 2000 / 64, rounded up
    assert shuffle_partitions(2000 * mib, 24) == 48
    assert shuffle_partitions(10**15, 2) == 4000


def test_a_stage_sets_its_partitions_from_its_input(spark, tmp_path):
    big = tmp_path / "in" / "part.jsonl.gz"
    big.parent.mkdir()
    # 72 MiB stored in gzip, counted 4x as read (288 MiB): 5 partitions of 64 MiB
    with gzip.open(big, "wb", compresslevel=0) as f:
        f.write(random.Random(0).randbytes(72 * 1024**2))
    settings = load_settings(
        ROOT / "conf", overrides=[f"paths.workspace={tmp_path / 'ws'}", f"paths.input=[{big}]"]
    )
    before = spark.conf.get("spark.sql.shuffle.partitions")
    try:
        tags = size_stage(spark, settings, "ingest")
        assert int(tags["techscreen.spark.data_bytes"]) == 4 * big.stat().st_size
        assert spark.conf.get("spark.sql.shuffle.partitions") == "5"
        assert tags["techscreen.spark.shuffle_partitions"] == "5"
        # A number in the settings is used as is.
        fixed = settings.model_copy(
            update={"spark": settings.spark.model_copy(update={"shuffle_partitions": 7})}
        )
        assert size_stage(spark, fixed, "cluster")["techscreen.spark.shuffle_partitions"] == "7"
        assert spark.conf.get("spark.sql.shuffle.partitions") == "7"
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", before)


def test_a_lost_jvm_says_what_to_raise_and_a_java_error_does_not(spark):
    from py4j.protocol import Py4JError

    from techscreen.cli import JVM_GONE, error_message

    jvm = spark.sparkContext._jvm
    with pytest.raises(Exception) as java_error:  # thrown in Java (PySpark converts it)
        jvm.java.lang.Integer.parseInt("not a number")
    assert JVM_GONE not in error_message(java_error.value)
    assert "not a number" in error_message(java_error.value)
    with pytest.raises(Py4JError) as lost:  # what Python gets once the JVM is gone
        jvm.java.lang.Integer.noSuchMember()
    assert error_message(lost.value).endswith(JVM_GONE)
    assert "spark.driver_memory" in error_message(lost.value)
