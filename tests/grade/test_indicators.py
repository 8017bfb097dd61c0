"""Raw indicators per node, on hand-made node-level tables and on Spark for the countries."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from techscreen.grade.indicators import (
    centrality_composite,
    country_indicators,
    generality,
    growth,
    growth_reference,
    maturity,
    node_aggregates,
    node_indicators,
)


def _countries(rows):
    return pd.DataFrame(rows, columns=["domain", "node_id", "country", "patents", "from_office"])


def test_country_indicators_by_hand():
    countries = _countries(
        [
            ("energy", "a", "CN", 6.0, 0.0),
            ("energy", "a", "US", 3.0, 3.0),
            ("energy", "a", "JP", 1.0, 0.0),
            ("energy", "b", "US", 5.0, 0.0),
            ("energy", "b", "DE", 5.0, 0.0),
            ("energy", "c", "CN", 4.0, 4.0),
        ]
    )
    # The domain's reference counts all its patents: the nodes' 24 plus 6 more (noise), CN 12.
    domain = pd.DataFrame(
        {"domain": "energy", "country": ["CN", "US", "JP", "DE"], "patents": [12.0, 10.0, 3.0, 5.0]}
    )
    got = country_indicators(countries, domain)
    assert got.loc["a", "cn_share"] == pytest.approx(0.6)
    assert got.loc["a", "cn_rta"] == pytest.approx(0.6 / (12 / 30))
    assert got.loc["a", "cn_lead"] == pytest.approx(7 / 4)
    assert got.loc["a", "substitutes"] == pytest.approx(0.75**2 + 0.25**2)
    assert got.loc["a", "countries_from_office"] == pytest.approx(0.3)
    assert got.loc["b", "cn_share"] == 0 and got.loc["b", "cn_lead"] == pytest.approx(1 / 6)
    assert got.loc["b", "substitutes"] == pytest.approx(0.5)
    # Only China: nobody else could substitute.
    assert got.loc["c", "substitutes"] == 1.0 and got.loc["c", "cn_share"] == 1.0


def test_rta_is_missing_where_china_has_nothing_in_the_domain():
    domain = pd.DataFrame({"domain": ["medicine"], "country": ["US"], "patents": [5.0]})
    got = country_indicators(_countries([("medicine", "m", "US", 2.0, 0.0)]), domain)
    assert math.isnan(got.loc["m", "cn_rta"]) and got.loc["m", "cn_share"] == 0


def test_growth_compares_the_last_years_with_the_years_before():
    years = pd.DataFrame(
        {
            "domain": ["d"] * 5,
            "node_id": ["a", "a", "a", "b", "b"],
            "filing_year": [2010, 2016, 2020, 2012, 2019],
            "patents": [9, 3, 4, 1, 1],
        }
    )
    got = growth(years, recent_years=5)
    # Domain's last year 2020: recent = 2016–2020, before = 2011–2015; 2010 is outside both.
    assert got["a"] == pytest.approx(np.log((7 + 1) / (0 + 1)))
    assert got["b"] == pytest.approx(np.log(2 / 2))
    # Windows ending at the domain's last year over all its patents (2022, e.g. a noise
    # patent): recent = 2018–2022, before = 2013–2017.
    later = growth(years, recent_years=5, last={"d": 2022})
    assert later["a"] == pytest.approx(np.log((4 + 1) / (3 + 1)))
    assert later["b"] == pytest.approx(np.log((1 + 1) / (0 + 1)))
    # The domain's own growth, the same windows over its patents.
    whole = growth(years, recent_years=5, by="domain")
    assert whole["d"] == pytest.approx(np.log((3 + 4 + 1 + 1) / (1 + 1)))


def test_growth_reference_is_the_node_growing_as_its_domain():
    # Domain over all its patents, last year 2020: recent (2016–2020) 8, before (2011–2015) 2,
    # so q = 0.8. Node "as" has 4 + 1 (its growth is the domain's split); "up" 5 + 0.
    domain_years = pd.DataFrame(
        {"domain": "d", "filing_year": [2012, 2018, 2020], "patents": [2, 3, 5]}
    )
    years = pd.DataFrame(
        {
            "domain": "d",
            "node_id": ["as", "as", "up", "none"],
            "filing_year": [2012, 2018, 2018, 2001],
            "patents": [1, 4, 5, 3],
        }
    )
    last = {"d": 2020}
    ref = growth_reference(years, domain_years, recent_years=5, last=last)
    own = growth(years, recent_years=5, last=last)
    assert ref["as"] == pytest.approx(np.log((5 * 0.8 + 1) / (5 * 0.2 + 1))) == own["as"]
    assert ref["up"] == pytest.approx(np.log(5 / 2)) and own["up"] == pytest.approx(np.log(6))
    # Nothing in either window: both are ln 1, the node "grows as its domain".
    assert ref["none"] == 0.0 == own["none"]


def test_maturity_is_high_for_a_saturated_curve_and_low_for_a_young_one():
    t = np.arange(2000, 2021)
    saturated = np.diff(np.concatenate([[0], 100 / (1 + np.exp(-0.8 * (t - 2008)))]))
    young = np.diff(np.concatenate([[0], np.exp(0.25 * (t - 2000))]))
    years = pd.DataFrame(
        {
            "domain": "d",
            "node_id": ["old"] * len(t) + ["new"] * len(t) + ["few"] * 3,
            "filing_year": [*t, *t, 2018, 2019, 2020],
            "patents": [*saturated, *young, 1, 2, 3],
        }
    )
    got = maturity(years)
    assert got["old"] > 0.95
    assert got["new"] < 0.5
    assert math.isnan(got["few"])  # fewer than four filing years: no fit


def test_generality_and_centrality_composite():
    subclasses = pd.DataFrame(
        {"node_id": ["a", "a", "b"], "subclass": ["H01M", "H02J", "H01M"], "assignments": [1, 1, 5]}
    )
    got = generality(subclasses)
    assert got["a"] == pytest.approx(0.5) and got["b"] == 0.0
    centrality = pd.DataFrame(
        {
            "domain": "d",
            "vertex": ["hub", "leaf"],
            "betweenness": [1.0, 0.0],
            "pagerank": [0.7, 0.3],
            "eigenvector": [1.0, 0.5],
            "closeness": [1.0, 0.6],
            "effective_size": [3.0, 1.0],
            "constraint": [0.3, 1.0],
        }
    )
    composite = centrality_composite(centrality)
    assert composite["hub"] == 1.0 and composite["leaf"] == 0.5


def test_node_aggregates_on_spark_count_every_member_once(spark):
    patents = spark.createDataFrame(
        [
            ("US-1-B2", 2019, 4, "F1", ["H01M 10/00"], [], ["US", "CN"], "US"),
            ("US-2-B2", 2020, None, "F1", ["H01M 4/00", "H02J 7/00"], [], [], "US"),
            ("CN-3-A", 2020, None, None, [], ["Y02E 60/10"], [], "CN"),
            ("CN-4-A", 2021, 2, None, ["A01K 1/00"], [], [], "CN"),
        ],
        "publication_number string, filing_year int, forward_citations int, family_id string, "
        "ipc_codes array<string>, cpc_codes array<string>, applicant_countries array<string>, "
        "jurisdiction string",
    )
    members = spark.createDataFrame(
        [
            ("energy", "energy:0", "US-1-B2"),
            ("energy", "energy:0", "US-2-B2"),
            ("energy", "energy:1", "CN-3-A"),
        ],
        "domain string, node_id string, publication_number string",
    )
    # The domain's patents: the members plus CN-4-A, noise of the clustering.
    domain_patents = spark.createDataFrame(
        [("energy", p) for p in ("US-1-B2", "US-2-B2", "CN-3-A", "CN-4-A")],
        "domain string, publication_number string",
    )
    agg = node_aggregates(members, patents, domain_patents)
    countries = agg["countries"].set_index(["node_id", "country"])
    assert countries.loc[("energy:0", "US"), "patents"] == pytest.approx(1.5)  # ½ + 1 (office)
    assert countries.loc[("energy:0", "CN"), "patents"] == pytest.approx(0.5)
    assert countries.loc[("energy:0", "US"), "from_office"] == pytest.approx(1.0)
    assert countries.loc[("energy:1", "CN"), "patents"] == 1.0
    assert agg["countries"].patents.sum() == pytest.approx(3.0)  # every member counted once
    means = agg["means"].set_index("node_id")
    assert means.loc["energy:0", "size"] == 2 and means.loc["energy:0", "forward_citations"] == 4
    assert means.loc["energy:0", "family_size"] == 2 and math.isnan(
        means.loc["energy:1", "family_size"]
    )
    subclasses = agg["subclasses"].set_index(["node_id", "subclass"]).assignments
    assert subclasses.to_dict() == {
        ("energy:0", "H01M"): 2,
        ("energy:0", "H02J"): 1,
        ("energy:1", "Y02E"): 1,
    }
    nodes = pd.DataFrame(
        {"domain": ["energy", "energy", "energy"], "node_id": ["energy:0", "energy:1", "energy:2"]}
    )
    table = node_indicators(nodes, agg, pd.DataFrame(), {"energy": 8.0}, recent_years=5).set_index(
        "item"
    )
    assert table.strategic_weight.tolist() == [8.0, 8.0, 8.0]
    assert table.loc["energy:2", "size"] == 0 and math.isnan(table.loc["energy:2", "cn_share"])
    assert table.loc["energy:1", "cn_share"] == 1.0
    # Domain level, over all four patents: CN ½ + 1 + 1 of 4, citations (4 + 2)/2 reported,
    # family size 2 (F1) where known, filings 2019–2021.
    domain_countries = agg["domain_countries"].set_index("country").patents
    assert domain_countries.to_dict() == pytest.approx({"CN": 2.5, "US": 1.5})
    assert table.loc["energy:1", "cn_rta"] == pytest.approx(1.0 / (2.5 / 4))
    assert (table.ref_forward_citations == 3.0).all() and (table.ref_family_size == 2.0).all()
    assert table.ref_size.tolist() == pytest.approx([1.0] * 3)  # node sizes 2, 1, 0
    # Windows end at the domain's last year, 2021 (CN-4-A): 2017–2021 vs 2012–2016. Every
    # filing of the domain is recent (q = 1), so a node growing as its domain grows exactly
    # as it does: reference = its own growth.
    assert table.loc["energy:0", "growth"] == pytest.approx(math.log(3 / 1))
    assert table.loc["energy:0", "ref_growth"] == pytest.approx(math.log(3 / 1))
    assert table.loc["energy:1", "ref_growth"] == pytest.approx(math.log(2 / 1))
    assert math.isnan(table.loc["energy:2", "ref_growth"])  # no filings: no growth to compare
