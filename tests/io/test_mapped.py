import json

import pytest

from conftest import ROOT
from techscreen.config import MappedSource, load_settings
from techscreen.io.mapped import MappedReader, resolve
from techscreen.io.records import Reason, RecordError, RecordFiltered

MAPPED = load_settings(ROOT / "conf").ingest.mapped


def test_resolve_paths():
    rec = {"a": {"b": 1}, "xs": [{"n": "p"}, {"n": None}, {"n": "q"}], "s": ["u", "v"]}
    assert resolve(rec, "a.b") == [1]
    assert resolve(rec, "xs[*].n") == ["p", "q"]
    assert resolve(rec, "xs[2].n") == ["q"]
    assert resolve(rec, "s") == ["u", "v"]
    assert resolve(rec, "missing.x") == []


def test_uspto_application_jsonl_mapping_on_a_real_record():
    # First record of the ipa230105 week (USPTO public domain), fields as in the source file.
    line = json.dumps(
        {
            "publication_number": "US20230000001A1",
            "publication_date": "20230105",
            "application_number": "17364781",
            "filing_date": "20210630",
            "title": "ASSEMBLED GARDEN TOOL",
            "abstract": "An assembled garden tool, including a tine, a base, and a tenon plate.",
            "ipcr": ["A01B 1/22", "A01B 1/08", "A01B 1/10"],
            "cpc_main": ["A01B 1/227"],
            "cpc_further": ["A01B 1/08", "A01B 1/10"],
            "priority_claims": [],
            "applicants": [{"name": "Weinan WU", "country": "CN", "residence_country": "CN"}],
            "assignees": [],
        }
    )
    reader = MappedReader("uspto_applications_jsonl", MAPPED["uspto_applications_jsonl"])
    raw = reader.parse(line)
    assert raw["publication_number"] == "US20230000001A1"
    assert raw["cpc_codes"] == ["A01B 1/227", "A01B 1/08", "A01B 1/10"]
    assert raw["applicants"] == ["Weinan WU"]
    assert raw["applicant_countries"] == ["CN"]
    assert "priority_date" not in raw
    assert reader.detect("/x/uspto_ipa230105_applications.jsonl.gz", b"")
    assert not reader.detect("/x/lens.jsonl", b"")


def test_country_from_number_and_constants():
    heat = MappedReader("w", MAPPED["waste_heat_abstracts_jsonl"])
    raw = heat.parse(json.dumps({"publication_number": "KR101234567B1", "abstract": "폐열 회수"}))
    assert raw["jurisdiction"] == "KR"
    agri = MappedReader("c", MAPPED["cn_agri_abstracts_csv"])
    raw = agri.parse(
        json.dumps(
            {
                "application_number": "CN85105156",
                "title": "利用苕子根茬免耕种植法",
                "ipc_subclass": "A01B",
                "application_year": "1985",
            }
        )
    )
    assert raw["jurisdiction"] == "CN" and raw["language"] == "zh" and raw["ipc_codes"] == ["A01B"]
    assert raw["filing_year"] == "1985"


def test_broken_json_is_a_record_error():
    reader = MappedReader("w", MAPPED["waste_heat_abstracts_jsonl"])
    with pytest.raises(RecordError):
        reader.parse("[1, 2")
    with pytest.raises(RecordError):
        reader.parse("[1, 2]")


def test_list_literals_parse_python_and_json_lists_and_never_run_code():
    reader = MappedReader(
        "g",
        MappedSource(
            match=["*"],
            file_type="csv",
            columns={"publication_number": "id", "cpc_codes": "cpc", "applicants": "who"},
            list_literals=["cpc_codes", "applicants"],
        ),
    )

    def parsed(cpc: str, who: str = "[]") -> dict:
        return reader.parse(json.dumps({"id": "US-1-B2", "cpc": cpc, "who": who}))

    assert parsed("['G06F3/013', 'G02B27/01']")["cpc_codes"] == ["G06F3/013", "G02B27/01"]
    assert parsed('["H01M4/525"]', '["A, Inc.", ""]')["applicants"] == ["A, Inc."]
    assert parsed("[]")["cpc_codes"] == [] and parsed(" ")["cpc_codes"] == []
    for cell in ("['G06F3/013'", "G06F3/013", "{'a': 1}", "[['nested']]", "__import__('os')"):
        with pytest.raises(RecordError, match=r"cpc_codes: not a list literal") as err:
            parsed(cell)
        assert err.value.reason == Reason.MALFORMED_LIST


def test_where_compares_text_ignoring_case_and_lists_allow_any_value():
    mapping = MappedSource(
        match=["*"],
        file_type="jsonl",
        columns={"publication_number": "id"},
        where={"valid": True, "meta.grade": ["A", 1]},
    )
    reader = MappedReader("r", mapping)
    assert mapping.where == {"valid": ["True"], "meta.grade": ["A", "1"]}
    keep = {"id": "US1", "valid": "true ", "meta": {"grade": 1}}
    assert reader.parse(json.dumps(keep))["publication_number"] == "US1"
    for change in ({"valid": "False"}, {"meta": {"grade": "b"}}, {"valid": None}):
        with pytest.raises(RecordFiltered, match=r"mapped:r where "):
            reader.parse(json.dumps({**keep, **change}))


def test_mapping_options_apply_to_their_file_types():
    with pytest.raises(ValueError, match="skip_lines applies to csv/tsv only"):
        MappedSource(match=["x"], file_type="jsonl", columns={}, skip_lines=1)
    with pytest.raises(ValueError, match="unknown canonical fields"):
        MappedSource(match=["x"], file_type="csv", columns={}, list_literals=["cpc"])
