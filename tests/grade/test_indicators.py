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
    got = country_indicators(countries)
    # Domain: CN 10 of 24 patents.
    assert got.loc["a", "cn_share"] == pytest.approx(0.6)
    assert got.loc["a", "cn_rta"] == pytest.approx(0.6 / (10 / 24))
    assert got.loc["a", "cn_lead"] == pytest.approx(7 / 4)
    assert got.loc["a", "substitutes"] == pytest.approx(0.75**2 + 0.25**2)
    assert got.loc["a", "countries_from_office"] == pytest.approx(0.3)
    assert got.loc["b", "cn_share"] == 0 and got.loc["b", "cn_lead"] == pytest.approx(1 / 6)
    assert got.loc["b", "substitutes"] == pytest.approx(0.5)
    # Only China: nobody else could substitute.
    assert got.loc["c", "substitutes"] == 1.0 and got.loc["c", "cn_share"] == 1.0


def test_rta_is_missing_where_china_has_nothing_in_the_domain():
    got = country_indicators(_countries([("medicine", "m", "US", 2.0, 0.0)]))
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
    agg = node_aggregates(members, patents)
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
