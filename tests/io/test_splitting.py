"""A large file is split across tasks, and no record is lost or cut at a split boundary."""

import contextlib

from conftest import FIXTURES
from techscreen.io.base import line_units
from techscreen.io.uspto_xml import UsptoGrantXmlReader

_MAX_SPLIT = "mapreduce.input.fileinputformat.split.maxsize"
_MAX_PARTITION = "spark.sql.files.maxPartitionBytes"


@contextlib.contextmanager
def spark_conf(spark, key: str, value: str):
    old = spark.conf.get(key, None)
    spark.conf.set(key, value)
    try:
        yield
    finally:
        if old is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, old)


@contextlib.contextmanager
def small_splits(spark, size: int):
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    old = conf.get(_MAX_SPLIT)
    conf.set(_MAX_SPLIT, str(size))
    try:
        yield
    finally:
        if old is None:
            conf.unset(_MAX_SPLIT)
        else:
            conf.set(_MAX_SPLIT, old)


def test_xml_documents_survive_splits_smaller_than_a_document(spark):
    path = str(FIXTURES / "uspto_xml" / "ipg120103_v42.xml")
    reader = UsptoGrantXmlReader()
    whole = reader.units(spark, [path])
    with small_splits(spark, 8 * 1024):
        split = reader.units(spark, [path])
        assert split.rdd.getNumPartitions() > 3  # the file really is cut into several tasks
        rows = split.collect()
    assert len(rows) == whole.count() == 3
    numbers = sorted(reader.parse(r.payload)["publication_number"] for r in rows)
    assert numbers == sorted(reader.parse(r.payload)["publication_number"] for r in whole.collect())


def test_jsonl_lines_survive_splits_including_a_one_megabyte_line(spark):
    path = FIXTURES / "bad" / "waste_heat_bad.jsonl"
    with spark_conf(spark, _MAX_PARTITION, str(64 * 1024)):
        units = line_units(spark, [str(path)])
        assert units.rdd.getNumPartitions() > 10
        rows = units.collect()
    sizes = sorted(len(r.payload) for r in rows)
    assert len(sizes) == 10
    assert sizes[-1] > 1_000_000  # the oversize record arrives whole, one unit
    # Every location finds its line: line=N from the file's start, offset=B;line=N as the
    # N-th line after the one holding byte B.
    data = path.read_bytes()
    assert any(r.record_location.startswith("offset=") for r in rows)
    assert len({r.record_location for r in rows}) == len(rows)
    for r in rows:
        fields = dict(part.split("=") for part in r.record_location.split(";"))
        start, n = int(fields.get("offset", 0)), int(fields["line"])
        found = data[start:].split(b"\n")[n if start else n - 1]
        assert found.decode("utf-8", "replace").rstrip("\r") == r.payload
