"""Lens readers: JSON Lines / JSON array and the CSV export, on real Lens records.

Expected values were read by eye from tests/fixtures/lens (see its SOURCE.md).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from techscreen.io.lens import LensCsvReader, LensJsonReader, _split_document, split_multi
from techscreen.io.records import Reason, RecordError
from techscreen.normalize import publication_number

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
JSONL = FIXTURES / "lens" / "coronavirus_cpc_40.jsonl"
ARRAY = FIXTURES / "lens" / "lens_array.json"
CSV_EXPORT = FIXTURES / "lens" / "lens_export.csv"

TITLE_1 = "Immunogenic Compositions Associated With Sars Corona Virus Spike Protein"
JSON_READER = LensJsonReader()
CSV_READER = LensCsvReader()


def _line(number: int) -> str:
    return JSONL.read_text(encoding="utf-8").splitlines()[number - 1]


def _csv_row(number: int) -> str:
    """Row ``#`` = number of the CSV export, as the JSON payload rows_as_units makes of it."""
    with CSV_EXPORT.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    row = next(r for r in rows if r["#"] == str(number))
    return json.dumps(row)


# --- JSON -----------------------------------------------------------------------------------


def test_parse_jsonl_application_wo() -> None:
    record = JSON_READER.parse(_line(1))
    assert record["publication_number"] == "WO 2008/155316 A1"
    assert publication_number(record["publication_number"]) == "WO-2008155316-A1"
    assert record["jurisdiction"] == "WO"
    assert record["kind"] == "A1"
    assert record["application_number"] == "EP 2008057583 W"
    assert record["title"] == TITLE_1
    assert record["abstract"] is None  # this collection has no abstracts
    assert record["publication_date"] == "2008-12-24"
    assert record["filing_date"] == "2008-06-17"
    assert record["priority_date"] == "2007-06-19"
    assert len(record["applicants"]) == 9
    assert record["applicants"][:2] == ["GLAXOSMITHKLINE BIOLOG SA", "PASTEUR INSTITUT"]
    assert record["applicant_countries"] == []
    assert len(record["cpc_codes"]) == 9
    assert record["cpc_codes"][0] == "C07K16/10"
    assert record["ipc_codes"] == ["A61K39/215", "A61P31/14", "C07K14/165"]
    assert record["cited_publications"] == []
    assert record["forward_citations"] == "3"


def test_parse_jsonl_granted_us() -> None:
    record = JSON_READER.parse(_line(4))
    assert publication_number(record["publication_number"]) == "US-7491397-B2"
    assert record["kind"] == "B2"
    assert record["title"] == "Receptor Binding Polypeptides"
    assert record["publication_date"] == "2009-02-17"
    assert record["filing_date"] == "2005-01-10"
    assert record["priority_date"] == "2004-01-09"
    assert record["applicants"] == ["NAT HEALTH RESEARCH INSTITUTES"]
    assert len(record["cpc_codes"]) == 14
    assert len(record["ipc_codes"]) == 8
    assert record["forward_citations"] == "0"


def test_parse_jsonl_search_report_uses_display_key() -> None:
    # publicationKey WO_2009_085025_A3_20091029 carries a date; the display key does not.
    record = JSON_READER.parse(_line(23))
    assert record["publication_number"] == "WO 2009/085025 A3"
    assert publication_number(record["publication_number"]) == "WO-2009085025-A3"
    assert record["application_number"] == "TT 2008000001 W"


def test_publication_key_fallback_drops_date_suffix() -> None:
    raw = json.loads(_line(23))
    del raw["displayKey"]
    record = JSON_READER.parse(json.dumps(raw))
    assert record["publication_number"] == "WO_2009_085025_A3"
    assert publication_number(record["publication_number"]) == "WO-2009085025-A3"


def test_parse_jsonl_untitled_record() -> None:
    record = JSON_READER.parse(_line(34))  # Lens shows "JP 2008500379 A" as its title
    assert record["publication_number"] == "JP 2008500379 A"
    assert record["title"] is None
    assert record["applicants"] == []
    assert len(record["cpc_codes"]) == 19
    assert len(record["ipc_codes"]) == 17
    assert record["forward_citations"] == "2"


def test_abstract_is_read_when_present() -> None:
    raw = json.loads(_line(2))
    raw["abstract"] = "A receptor binding polypeptide."
    assert JSON_READER.parse(json.dumps(raw))["abstract"] == "A receptor binding polypeptide."


def test_parse_api_shape() -> None:
    # Nested layout of the Lens Patent API (cambialens/lens-api-doc, response-patent.md);
    # values are made up for the test.
    api = {
        "lens_id": "000-000-000-000-001",
        "jurisdiction": "EP",
        "doc_number": "1234567",
        "kind": "A1",
        "date_published": "2012-07-04",
        "lang": "de",
        "biblio": {
            "application_reference": {
                "jurisdiction": "EP",
                "doc_number": "10197481",
                "kind": "A",
                "date": "2010-12-31",
            },
            "priority_claims": {"earliest_claim": {"date": "2009-12-30"}},
            "invention_title": [
                {"text": "Verfahren", "lang": "de"},
                {"text": "Method", "lang": "en"},
            ],
            "parties": {
                "applicants": [
                    {"residence": "ES", "extracted_name": {"value": "EXAMPLE SA"}},
                    {"residence": "ES", "extracted_name": {"value": "OTHER SL"}},
                ]
            },
            "classifications_cpc": {
                "classifications": [{"symbol": "C12Q1/6881"}, {"symbol": "C12Q1/6881"}]
            },
            "classifications_ipcr": {"classifications": [{"symbol": "C12Q1/68"}]},
            "references_cited": {
                "citations": [
                    {
                        "sequence": 1,
                        "patcit": {
                            "document_id": {
                                "jurisdiction": "WO",
                                "doc_number": "2006075254",
                                "kind": "A2",
                            }
                        },
                    },
                    {"sequence": 2, "nplcit": {"text": "Some article"}},
                    {
                        "sequence": 1,
                        "patcit": {
                            "document_id": {
                                "jurisdiction": "WO",
                                "doc_number": "2006075254",
                                "kind": "A2",
                            }
                        },
                    },
                ]
            },
            "cited_by": {"patent_count": 5},
        },
        "abstract": [{"text": "Ein Verfahren.", "lang": "de"}, {"text": "A method.", "lang": "en"}],
    }
    record = JSON_READER.parse(json.dumps(api))
    assert (
        publication_number(
            record["publication_number"], country=record["jurisdiction"], kind=record["kind"]
        )
        == "EP-1234567-A1"
    )
    assert record["title"] == "Method"
    assert record["abstract"] == "A method."
    assert record["language"] == "en"
    assert record["application_number"] == "EP 10197481 A"
    assert record["filing_date"] == "2010-12-31"
    assert record["priority_date"] == "2009-12-30"
    assert record["publication_date"] == "2012-07-04"
    assert record["applicants"] == ["EXAMPLE SA", "OTHER SL"]
    assert record["applicant_countries"] == ["ES"]
    assert record["cpc_codes"] == ["C12Q1/6881"]
    assert record["ipc_codes"] == ["C12Q1/68"]
    assert record["cited_publications"] == ["WO 2006075254 A2"]
    assert record["forward_citations"] == "5"


@pytest.mark.parametrize(
    "payload",
    [
        _line(5)[:-40],  # a record cut short
        '{"lensId": "1", "title": "x",}',
        "[1, 2]",
        "",
    ],
)
def test_malformed_json_is_broken_json(payload: str) -> None:
    with pytest.raises(RecordError) as caught:
        JSON_READER.parse(payload)
    assert caught.value.reason is Reason.BROKEN_JSON


def test_split_document_elements_and_broken_document() -> None:
    text = ARRAY.read_text(encoding="utf-8")
    units = list(_split_document(("a.json", text)))
    assert [u[1] for u in units] == ["index=0", "index=1", "index=2"]
    assert JSON_READER.parse(units[1][2])["publication_number"] == "US 7527967 B2"

    api_response = json.dumps({"total": 1, "data": [json.loads(_line(3))]})
    assert [u[1] for u in _split_document(("b.json", api_response))] == ["index=0"]

    broken = list(_split_document(("c.json", text[:-10])))
    assert [(u[0], u[1]) for u in broken] == [("c.json", "document")]
    with pytest.raises(RecordError) as caught:
        JSON_READER.parse(broken[0][2])
    assert caught.value.reason is Reason.BROKEN_JSON


def test_detect_json() -> None:
    for path in (JSONL, ARRAY):
        assert JSON_READER.detect(str(path), path.read_bytes()[:65536])
    assert not JSON_READER.detect(str(CSV_EXPORT), CSV_EXPORT.read_bytes()[:65536])
    assert not JSON_READER.detect("other.jsonl", b'{"id": 1, "title": "not lens"}\n')
    scholarly = b'{"lens_id": "000-781-931-144-518", "publication_type": "journal article"}\n'
    assert not JSON_READER.detect("works.jsonl", scholarly)


# --- CSV ------------------------------------------------------------------------------------


def test_parse_csv_row() -> None:
    record = CSV_READER.parse(_csv_row(1))
    assert record["publication_number"] == "WO 2008/155316 A1"
    assert record["jurisdiction"] == "WO"
    assert record["kind"] == "A1"
    assert record["application_number"] == "EP 2008057583 W"
    assert record["title"] == TITLE_1
    assert record["abstract"] is None
    assert record["publication_date"] == "2008-12-24"
    assert record["filing_date"] == "2008-06-17"
    assert record["priority_date"] == "2007-06-19"
    assert len(record["applicants"]) == 9
    assert record["applicants"][-1] == "WETTENDORFF MARTINE"
    assert record["applicant_countries"] == []
    assert len(record["cpc_codes"]) == 9
    assert record["ipc_codes"] == ["A61K39/215", "A61P31/14", "C07K14/165"]
    assert record["forward_citations"] == "3"
    assert record["cited_publications"] == []


def test_parse_csv_multiline_abstract_and_untitled_row() -> None:
    granted = CSV_READER.parse(_csv_row(4))
    assert granted["publication_number"] == "US 7491397 B2"
    assert granted["abstract"].startswith("CONSTRUCTED TEST TEXT, not from Lens")
    assert '"quoted" word.\nSecond paragraph' in granted["abstract"]

    untitled = CSV_READER.parse(_csv_row(10))
    assert untitled["publication_number"] == "JP 2008500379 A"
    assert untitled["title"] is None
    assert untitled["applicants"] == []
    assert len(untitled["ipc_codes"]) == 17


def test_csv_old_column_names() -> None:
    payload = json.dumps(
        {
            "Lens ID": "1",
            "Publication Number": "US 7491397 B2",
            "Cited By Patent Count": "4",
            "Applicants": "A;; B ;;",
        }
    )
    record = CSV_READER.parse(payload)
    assert record["publication_number"] == "US 7491397 B2"
    assert record["forward_citations"] == "4"
    assert record["applicants"] == ["A", "B"]


def test_split_multi() -> None:
    assert split_multi("C07K16/10;;A61K39/12") == ["C07K16/10", "A61K39/12"]
    assert split_multi("") == split_multi(None) == []


def test_csv_empty_row_is_broken() -> None:
    with pytest.raises(RecordError) as caught:
        CSV_READER.parse(json.dumps({"Lens ID": None, "Title": ""}))
    assert caught.value.reason is Reason.BROKEN_ROW


def test_detect_csv() -> None:
    assert CSV_READER.detect(str(CSV_EXPORT), CSV_EXPORT.read_bytes()[:65536])
    assert not CSV_READER.detect(str(JSONL), JSONL.read_bytes()[:65536])
    patents = FIXTURES / "patentsview_csv" / "nvidia_patent.csv"
    assert not CSV_READER.detect(str(patents), patents.read_bytes()[:65536])


# --- Spark ----------------------------------------------------------------------------------


def test_units_jsonl_array_and_csv(spark) -> None:
    units = JSON_READER.units(spark, [str(JSONL), str(ARRAY)]).collect()
    assert len(units) == 43  # 40 lines + 3 array elements
    from_array = sorted(u.record_location for u in units if u.source_file == str(ARRAY))
    assert from_array == ["index=0", "index=1", "index=2"]
    from_lines = [u for u in units if u.source_file == str(JSONL)]
    lines = JSONL.read_text(encoding="utf-8").splitlines()
    assert {u.payload for u in from_lines} == {line for line in lines if line.strip()}
    for u in from_lines:  # line=N is the file's N-th line
        assert u.payload == lines[int(u.record_location.removeprefix("line=")) - 1]
    numbers = [JSON_READER.parse(u.payload)["publication_number"] for u in units]
    assert numbers.count("US 2009/0022735 A1") == 2  # line 2 and array element 0

    rows = CSV_READER.units(spark, [str(CSV_EXPORT)]).collect()
    assert len(rows) == 10  # the multi-line abstract does not split its row
    assert all(r.source_file.endswith("/lens/lens_export.csv") for r in rows)
    by_lens_id = {r.record_location.split(";")[0]: CSV_READER.parse(r.payload) for r in rows}
    granted = by_lens_id["Lens ID=149-085-919-575-248"]
    assert granted["publication_number"] == "US 7491397 B2"
    assert granted["abstract"].endswith("Second paragraph, on its own line.")
    assert len(by_lens_id["Lens ID=085-250-666-990-457"]["cpc_codes"]) == 17
