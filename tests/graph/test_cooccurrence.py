"""IPC/CPC pair counting in Spark against a brute-force count over real sample patents."""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict

import pytest
from pyspark.sql import functions as F

from techscreen.config import GraphSettings
from techscreen.graph.cooccurrence import cooccurrence_edges
from techscreen.normalize import main_group, subclass


@pytest.fixture(scope="module")
def domain_patents(spark, screening):
    ws, _ = screening
    patents = spark.read.parquet(str(ws / "patents"))
    domains = spark.read.parquet(str(ws / "patent_domains")).where(
        F.col("domain").isin("energy", "agriculture")
    )
    return domains.join(
        patents.select("publication_number", "ipc_codes", "cpc_codes"), "publication_number"
    ).cache()


def brute_force(rows, g: GraphSettings) -> dict[tuple[str, str, str], float]:
    """Co-occurrence edges the slow, obvious way: loops over patents and code pairs."""
    level = subclass if g.code_level == "subclass" else main_group
    count: dict[tuple, float] = defaultdict(float)
    both: Counter = Counter()
    occurrences: Counter = Counter()
    for r in rows:
        raw = {"ipc": r.ipc_codes, "cpc": r.cpc_codes, "both": r.ipc_codes + r.cpc_codes}
        codes = sorted({level(c) for c in raw[g.code_scheme]})
        for c in codes:
            occurrences[r.domain, c] += 1
        for a, b in itertools.combinations(codes, 2):
            count[r.domain, a, b] += 1.0 if g.counting == "full" else 1.0 / (len(codes) - 1)
            both[r.domain, a, b] += 1
    count = {k: v for k, v in count.items() if v >= g.min_cooccurrence}
    links: Counter = Counter()
    total: Counter = Counter()
    for (d, a, b), c in count.items():
        links[d, a] += c
        links[d, b] += c
        total[d] += c
    out = {}
    for (d, a, b), c in count.items():
        oa, ob = occurrences[d, a], occurrences[d, b]
        out[d, a, b] = (
            {
                "association": 2 * total[d] * c / (links[d, a] * links[d, b]),
                "cosine": c / math.sqrt(oa * ob),
                "jaccard": c / (oa + ob - c),
                "none": c,
            }[g.normalisation],
            c,
            both[d, a, b],
        )
    return out


@pytest.mark.parametrize(
    "g",
    [
        GraphSettings(),
        GraphSettings(counting="full", normalisation="cosine", code_level="main_group"),
        GraphSettings(normalisation="jaccard", code_scheme="ipc", min_cooccurrence=2),
        GraphSettings(counting="full", normalisation="none", code_scheme="cpc"),
    ],
    ids=["fractional-association", "full-cosine-main", "jaccard-ipc-min2", "full-raw-cpc"],
)
def test_pair_counts_equal_a_brute_force_count(domain_patents, g):
    expected = brute_force(domain_patents.collect(), g)
    got = {
        (r.domain, r.source, r.target): (r.weight, r["count"], r.patents)
        for r in cooccurrence_edges(domain_patents, g).collect()
    }
    assert len(expected) >= 5  # the sample has real co-classification to count
    assert got.keys() == expected.keys()
    for key, (weight, count, patents) in expected.items():
        assert got[key][0] == pytest.approx(weight, rel=1e-9), key
        assert got[key][1] == pytest.approx(count, rel=1e-9), key
        assert got[key][2] == patents, key


def test_single_code_patents_add_vertices_but_no_edges(spark):
    g = GraphSettings(counting="full")
    frame = spark.createDataFrame(
        [
            ("energy", ["H01M 10/00"], []),
            ("energy", ["H01M 4/00", "H01M 10/05"], ["H01M 10/0525"]),  # one subclass only
            ("energy", [], []),
            ("energy", ["H02J 7/00", "H01M 10/44"], ["Y02E 60/10"]),
        ],
        "domain string, ipc_codes array<string>, cpc_codes array<string>",
    )
    edges = {(r.source, r.target): r["count"] for r in cooccurrence_edges(frame, g).collect()}
    assert edges == {("H01M", "H02J"): 1, ("H01M", "Y02E"): 1, ("H02J", "Y02E"): 1}
