"""Domain rules: concordance matching, the six configured domains, Spark assignment."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from pydantic import ValidationError
from pyspark.sql import types as T

from conftest import ROOT
from techscreen.config import ConfigError, Domain, DomainSettings, load_settings
from techscreen.domains import DomainRules, assign_domains, domain_counts, load_concordance
from techscreen.domains.rules import normalise_prefix
from techscreen.schema import PATENT_DOMAINS, UNASSIGNED_DOMAIN

CONCORDANCE = ROOT / "data" / "reference" / "wipo_ipc_technology.csv"
SIX = [
    "chemistry_materials",
    "machinery",
    "agriculture",
    "information_technology",
    "energy",
    "medicine",
]


@pytest.fixture(scope="module")
def settings() -> DomainSettings:
    return load_settings(ROOT / "conf").domains


@pytest.fixture(scope="module")
def rules(settings: DomainSettings) -> DomainRules:
    absolute = settings.model_copy(update={"concordance": str(CONCORDANCE)})
    return DomainRules.from_settings(absolute)


# --- the concordance ------------------------------------------------------------------


def test_concordance_reads_every_row_with_bom():
    lookup = load_concordance(CONCORDANCE)
    assert len(lookup) == 764
    # The first row, right after the BOM: "1,...,F21H%".
    assert lookup["F21H"] == 1
    assert lookup["G01N 33/"] == 11
    assert lookup["A61K 8/"] == 14
    assert set(lookup.values()) == set(range(1, 36))


@pytest.mark.parametrize(
    ("code", "field"),
    [
        # Rows "G01N  33/%" (11, biological analysis) vs "G01N   3/%" (10, measurement).
        ("G01N 33/53", 11),
        ("G01N 3/08", 10),
        # "C13B  50/%" (18, food chemistry) vs "C13B   5/%" (29): a padding-blind prefix
        # "C13B5" would also cover C13B 50/00.
        ("C13B 50/00", 18),
        ("C13B 5/00", 29),
        # "B01D  53/%" (24, environmental) vs "B01D   5/%" (23, chemical engineering).
        ("B01D 53/04", 24),
        ("B01D 5/00", 23),
        # "E01F  11/%" (35, civil engineering) vs "E01F   1/%" (35) vs "E01F   8/%" (24).
        ("E01F 8/00", 24),
        ("E01F 11/00", 35),
        # H04N is split over four fields by main group.
        ("H04N 21/4402", 4),
        ("H04N 1/00", 3),
        ("H04N 101/00", 2),
        ("H04N 5/232", 2),
        # "A61K   8/%" (14, cosmetics) vs "A61K  31/%" (16, pharmaceuticals).
        ("A61K 8/02", 14),
        ("A61K 31/00", 16),
        # Subclass patterns; a bare subclass code; raw, unnormalised forms.
        ("C22C 38/02", 20),
        ("A01B", 29),
        ("C22C38/02", 20),
        ("H04N  21/4402", 4),
    ],
)
def test_field_by_real_concordance_rows(rules: DomainRules, code: str, field: int):
    assert rules.field_of(code) == field


@pytest.mark.parametrize(
    "code", ["G01N", "H04N 2201/0081", "A61K 2039/505", "Y02E 10/50", "nonsense"]
)
def test_codes_the_concordance_does_not_cover(rules: DomainRules, code: str):
    # G01N, H04N and A61K have only main-group patterns; CPC 2000-series and Y have none.
    assert rules.field_of(code) is None


def test_longest_pattern_wins(tmp_path: Path):
    # The 2019 concordance has no nested patterns, so nest some: a subclass pattern under a
    # main-group one, and a subgroup-start pattern under that.
    path = tmp_path / "concordance.csv"
    path.write_text(
        "\ufeffField_number,IPC_code\n2,H04N%\n4,H04N  21/%\n16,A61K  31/%\n15,A61K  31/4%\n",
        encoding="utf-8",
    )
    rules = DomainRules(load_concordance(path), {})
    assert rules.field_of("H04N 21/4402") == 4
    assert rules.field_of("H04N 210/00") == 2  # main group 21 is exact: 210 is not 21
    assert rules.field_of("H04N 5/232") == 2
    assert rules.field_of("A61K 31/4439") == 15
    assert rules.field_of("A61K 31/00") == 16


def test_conflicting_concordance_rows_are_rejected(tmp_path: Path):
    path = tmp_path / "concordance.csv"
    path.write_text("Field_number,IPC_code\n2,H04N%\n3,H04N %\n", encoding="utf-8")
    with pytest.raises(ValueError, match="given fields 2 and 3"):
        load_concordance(path)


def test_field_outside_1_35_in_concordance_is_rejected(tmp_path: Path):
    path = tmp_path / "concordance.csv"
    path.write_text("Field_number,IPC_code\n36,H04N%\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"outside 1\.\.35"):
        load_concordance(path)


# --- the six configured domains --------------------------------------------------------


def test_config_defines_the_six_domains(settings: DomainSettings):
    assert list(settings.definitions) == SIX
    assert settings.concordance == "data/reference/wipo_ipc_technology.csv"


def test_from_settings_resolves_concordance_against_cwd(
    settings: DomainSettings, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(ROOT)
    assert DomainRules.from_settings(settings).field_of("G06F 9/30") == 6
    monkeypatch.chdir(ROOT / "tests")
    with pytest.raises(FileNotFoundError):
        DomainRules.from_settings(settings)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("C22C 38/02", {"chemistry_materials"}),  # field 20, steel
        ("C08J 5/18", {"chemistry_materials"}),  # include; excluded from machinery (field 29)
        ("B23K 26/38", {"machinery"}),  # field 26, laser cutting
        ("B64U 10/13", {"machinery"}),  # include: subclass newer than the concordance
        ("A01K 61/00", {"agriculture"}),  # field 29, but machinery excludes A01K
        ("A23K 50/10", {"agriculture"}),  # feed (field 18 is in no domain)
        ("A01B 1/00", {"machinery", "agriculture"}),  # agricultural machine: both
        ("G06F 9/30", {"information_technology"}),  # field 6
        ("H04L 9/40", {"information_technology"}),  # field 4
        ("H01L 31/10", {"information_technology"}),  # photodetector: field 8, not excluded
        ("H01M 10/0525", {"energy"}),  # field 1, Li-ion battery
        ("Y02E 10/50", {"energy"}),  # CPC Y: include only
        ("H01L 31/042", {"energy"}),  # PV module: included in energy, excluded from IT
        ("G21C 19/32", {"energy"}),  # field 27, but machinery excludes G21
        ("F03D 1/06", {"machinery", "energy"}),  # wind turbine
        ("A61K 39/215", {"medicine"}),  # field 16, coronavirus vaccine
        ("A61K 2039/505", {"medicine"}),  # CPC indexing code via include A61
        ("G01N 33/569", {"medicine"}),  # field 11
        ("C12N 15/86", {"medicine"}),  # field 15
    ],
)
def test_each_domain_with_real_codes(rules: DomainRules, code: str, expected: set[str]):
    assert set(rules.domains_for([code])) == expected


@pytest.mark.parametrize(
    ("code", "kept_out_of"),
    [
        ("A61K 8/02", "medicine"),  # include "A61" loses to exclude "A61K 8/"
        ("A61Q 19/00", "medicine"),
        ("A01N 1/02", "agriculture"),  # include "A01" loses to exclude "A01N 1/"
        ("H01L 31/042", "information_technology"),  # field 8 loses to exclude
        ("G21C 19/32", "machinery"),  # field 27 loses to exclude "G21"
        ("F21V 29/00", "energy"),  # field 1 loses to exclude "F21"
    ],
)
def test_exclude_wins_over_field_and_include(rules: DomainRules, code: str, kept_out_of: str):
    assert kept_out_of not in rules.domains_for([code])


def test_exclude_precedence_with_include_and_exclude_on_the_same_code():
    lookup = load_concordance(CONCORDANCE)
    both = Domain(label="x", wipo_fields=[8], include=["H01L 31/"], exclude=["H01L 31/04"])
    rules = DomainRules(lookup, {"x": both})
    assert rules.domains_for(["H01L 31/0445"]) == {}
    assert rules.domains_for(["H01L 31/10"]) == {"x": ["H01L 31/10"]}
    assert rules.domains_for(["H01L 21/02"]) == {"x": ["H01L 21/02"]}


def test_solar_cells_are_energy_under_ipc_2006_and_ipc_2025(rules: DomainRules):
    # IPC 2025 moved photovoltaic cells from H01L 31/04-07 to H10F 10/ and 19/
    assert rules.domains_for(["H01L 31/0445"]) == {"energy": ["H01L 31/0445"]}
    assert rules.domains_for(["H10F 10/14"]) == {"energy": ["H10F 10/14"]}
    assert rules.domains_for(["H10F 30/22"]) == {"information_technology": ["H10F 30/22"]}


def test_multi_domain_patent_lists_matched_codes_per_domain(rules: DomainRules):
    found = rules.domains_for(["H02J 3/38", "F03D 1/06", "G06F 17/00", "F03D 1/06", "E04B 1/00"])
    assert found == {
        "machinery": ["F03D 1/06"],
        "information_technology": ["G06F 17/00"],
        "energy": ["F03D 1/06", "H02J 3/38"],
    }


def test_unassigned_patent_has_no_domain(rules: DomainRules):
    # Measurement (10) and civil engineering (35) are in no domain; junk is ignored.
    assert rules.domains_for(["G01N 3/08", "E04B 1/00", "not a code", ""]) == {}
    assert rules.domains_for([]) == {}


def test_raw_codes_are_normalised_before_matching(rules: DomainRules):
    assert rules.domains_for(["C22C0038020000", "g06f9/30"]) == {
        "chemistry_materials": ["C22C 38/02"],
        "information_technology": ["G06F 9/30"],
    }


def test_new_domain_by_a_domain_object_alone(settings: DomainSettings):
    extra = Domain(
        label="Advanced materials",
        wipo_fields=[22],
        include=["C01B 32/", "C22C"],
        exclude=["C22C 1/"],
    )
    grown = settings.model_copy(
        update={
            "concordance": str(CONCORDANCE),
            "definitions": {**settings.definitions, "advanced_materials": extra},
        }
    )
    rules = DomainRules.from_settings(grown)
    assert rules.domains == [*SIX, "advanced_materials"]
    assert rules.domains_for(["B82Y 30/00"]) == {
        "chemistry_materials": ["B82Y 30/00"],
        "advanced_materials": ["B82Y 30/00"],
    }
    assert "advanced_materials" in rules.domains_for(["C01B 32/182"])
    assert "advanced_materials" not in rules.domains_for(["C22C 1/04"])
    assert "advanced_materials" in rules.domains_for(["C22C 38/02"])


def test_invalid_wipo_field_rejected_by_config_model():
    with pytest.raises(ValidationError, match=r"1\.\.35"):
        Domain(label="bad", wipo_fields=[36])
    with pytest.raises(ValidationError):
        Domain(label="bad", wipo_fields=[0])


def test_invalid_wipo_field_in_config_names_the_key():
    with pytest.raises(ConfigError, match=r"domains\.definitions\.energy\.wipo_fields"):
        load_settings(ROOT / "conf", overrides=["domains.definitions.energy.wipo_fields=[1, 99]"])


def test_unassigned_is_a_reserved_domain_name():
    with pytest.raises(ValueError, match="reserved"):
        DomainRules({"G06F": 6}, {UNASSIGNED_DOMAIN: Domain(label="x", wipo_fields=[6])})


@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        ("A01", "A01"),
        ("Y02E", "Y02E"),
        ("H01L31", "H01L 31/"),
        ("H01L  31/", "H01L 31/"),
        ("h01l 31/04", "H01L 31/04"),
    ],
)
def test_prefix_normalisation(raw: str, norm: str):
    assert normalise_prefix(raw) == norm


def test_main_group_prefix_does_not_catch_longer_main_groups():
    rules = DomainRules({"G06F": 6}, {"x": Domain(label="x", include=["G06F 1"])})
    assert rules.domains_for(["G06F 1/20"]) == {"x": ["G06F 1/20"]}
    assert rules.domains_for(["G06F 16/00"]) == {}


def test_malformed_prefix_is_rejected():
    with pytest.raises(ValueError, match="not the start of a class symbol"):
        DomainRules({"G06F": 6}, {"x": Domain(label="x", include=["G06F/1"])})


def test_rules_pickle_without_their_cache(rules: DomainRules):
    rules.domains_for(["G06F 9/30"])
    copy = pickle.loads(pickle.dumps(rules))
    assert copy._cache == {}
    assert copy.domains_for(["G06F 9/30"]) == {"information_technology": ["G06F 9/30"]}


# --- Spark --------------------------------------------------------------------------------

_PATENTS = T.StructType(
    [
        T.StructField("publication_number", T.StringType(), False),
        T.StructField("ipc_codes", T.ArrayType(T.StringType(), False), False),
        T.StructField("cpc_codes", T.ArrayType(T.StringType(), False), False),
    ]
)


def test_assign_domains_and_counts_on_spark(spark, rules: DomainRules):
    patents = spark.createDataFrame(
        [
            ("US-1-B2", ["G06F 9/30"], ["G06F 9/3004", "Y02D 10/00"]),
            ("US-2-B1", ["F03D 1/06"], ["H02J 3/38", "F03D 1/06"]),
            ("CN-3-A", ["A01K 61/00"], []),
            ("WO-4-A1", [], ["A61K 39/215", "A61P 31/14", "C07K 14/165"]),
            ("US-5-B2", ["G01N 3/08"], []),
            ("US-6-S", [], []),
            ("KR-7-B1", ["C22C 38/02"], ["C22C 38/02"]),
        ],
        schema=_PATENTS,
    ).repartition(3)

    out = assign_domains(patents, rules)

    assert out.schema == PATENT_DOMAINS
    rows = {(r.publication_number, r.domain): list(r.matched_codes) for r in out.collect()}
    assert rows == {
        ("US-1-B2", "information_technology"): ["G06F 9/30", "G06F 9/3004", "Y02D 10/00"],
        ("US-2-B1", "machinery"): ["F03D 1/06"],
        ("US-2-B1", "energy"): ["F03D 1/06", "H02J 3/38"],
        ("CN-3-A", "agriculture"): ["A01K 61/00"],
        ("WO-4-A1", "medicine"): ["A61K 39/215", "A61P 31/14", "C07K 14/165"],
        ("US-5-B2", UNASSIGNED_DOMAIN): [],
        ("US-6-S", UNASSIGNED_DOMAIN): [],
        ("KR-7-B1", "chemistry_materials"): ["C22C 38/02"],
    }

    assert domain_counts(out) == {
        "information_technology": 1,
        "machinery": 1,
        "energy": 1,
        "agriculture": 1,
        "medicine": 1,
        "chemistry_materials": 1,
        UNASSIGNED_DOMAIN: 2,
    }
    padded = domain_counts(out.where("domain != 'medicine'"), rules.domains)
    assert padded["medicine"] == 0
    assert padded[UNASSIGNED_DOMAIN] == 2
    assert list(padded)[:6] == SIX
