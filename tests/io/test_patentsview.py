"""PatentsView reader: header recognition, field mapping, and the Spark join on real fixtures.

Expected values were read by eye from tests/fixtures/patentsview_tsv and patentsview_csv.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from techscreen.io.patentsview import PatentsViewReader, header_columns, ipc_symbol, table_kind
from techscreen.io.records import Reason, RecordError
from techscreen.normalize import publication_number

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TSV = FIXTURES / "patentsview_tsv"
CSV = FIXTURES / "patentsview_csv"
LENS = FIXTURES / "lens"

READER = PatentsViewReader()


def _head(path: Path) -> bytes:
    return path.read_bytes()[:65536]


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        (TSV / "g_patent.tsv", "patent"),
        (TSV / "g_patent_abstract.tsv", "abstract"),
        (TSV / "g_cpc_current.tsv", "cpc"),
        (TSV / "g_ipc_at_issue.tsv", "ipc"),
        (TSV / "g_assignee_disambiguated.tsv", "assignee"),
        (TSV / "g_location_disambiguated.tsv", "location"),
        (TSV / "g_us_patent_citation.tsv", "citation"),
        (TSV / "g_application.tsv", "application"),
        (CSV / "nvidia_patent.csv", "patent"),
        (CSV / "nvidia_patent_abstract.csv", "abstract"),
        (CSV / "nvidia_cpc.csv", "cpc"),
        (CSV / "nvidia_assignee.csv", "assignee"),
    ],
)
def test_tables_are_recognised_by_header(path: Path, kind: str) -> None:
    first_line = path.read_text(encoding="utf-8").splitlines()[0]
    _, columns = header_columns(first_line)
    assert table_kind(columns) == kind
    assert READER.detect(str(path), _head(path))


def test_quoted_tsv_header_is_split_on_tabs() -> None:
    delimiter, columns = header_columns((TSV / "g_patent.tsv").read_text().splitlines()[0])
    assert delimiter == "\t"
    assert columns == [
        "patent_id",
        "patent_type",
        "patent_date",
        "patent_title",
        "wipo_kind",
        "num_claims",
        "withdrawn",
        "filename",
    ]


def test_detect_rejects_other_formats(tmp_path: Path) -> None:
    for path in (LENS / "lens_export.csv", LENS / "coronavirus_cpc_40.jsonl"):
        assert not READER.detect(str(path), _head(path))
    assert not READER.detect("empty.tsv", b"")
    other = tmp_path / "g_wipo_technology.tsv"  # a real table this reader does not know
    other.write_text('"patent_id"\t"wipo_field_sequence"\t"wipo_field_id"\n')
    assert not READER.detect(str(other), _head(other))


def test_detect_reads_a_gzipped_header(tmp_path: Path) -> None:
    packed = tmp_path / "g_cpc_current.tsv.gz"
    packed.write_bytes(gzip.compress((TSV / "g_cpc_current.tsv").read_bytes()))
    assert READER.detect(str(packed), _head(packed))


def _joined_10001996() -> dict:
    """The joined row of patent 10001996 as units() builds it (values from the TSV files)."""
    return {
        "patent_id": "10001996",
        "patent_type": "utility",
        "patent_date": "2018-06-19",
        "patent_title": "Selective poisoning of data during runahead",
        "wipo_kind": "B2",
        "patent_abstract": "Embodiments related to selecting a runahead poison policy ...",
        "cpc_codes": ["G06F9/30189", "G06F9/3842", "G06F11/3024", "G06F11/3409", "G06F2201/885"],
        "ipc": [
            {
                "seq": 0,
                "section": "G",
                "ipc_class": "06",
                "subclass": "F",
                "main_group": "9",
                "subgroup": "30",
            },
            {
                "seq": 1,
                "section": "G",
                "ipc_class": "06",
                "subclass": "F",
                "main_group": "9",
                "subgroup": "38",
            },
        ],
        "assignees": [{"seq": 0, "organization": "NVIDIA CORPORATION", "country": "US"}],
        "cited_patent_ids": ["5619658", "5623692", "D515086"],
        "filing_date": "2015-01-02",
        "application_id": "14999001",
    }


def test_parse_maps_every_field() -> None:
    record = READER.parse(json.dumps(_joined_10001996()))
    assert record == {
        "publication_number": "US10001996",
        "jurisdiction": "US",
        "kind": "B2",
        "title": "Selective poisoning of data during runahead",
        "abstract": "Embodiments related to selecting a runahead poison policy ...",
        "publication_date": "2018-06-19",
        "filing_date": "2015-01-02",
        "application_number": "14999001",
        "cpc_codes": ["G06F9/30189", "G06F9/3842", "G06F11/3024", "G06F11/3409", "G06F2201/885"],
        "ipc_codes": ["G06F 9/30", "G06F 9/38"],
        "applicants": ["NVIDIA CORPORATION"],
        "applicant_countries": ["US"],
        "cited_publications": ["US5619658", "US5623692", "USD515086"],
        "forward_citations": None,
    }


def test_parse_patent_without_child_tables() -> None:
    # Design patent D515086 as the CSV extract has it: no CPC rows, empty abstract.
    payload = {
        "patent_id": "D515086",
        "patent_type": "design",
        "patent_date": "2006-02-14",
        "patent_title": "Housing for a scalable graphics processor",
        "wipo_kind": "S1",
    }
    record = READER.parse(json.dumps(payload))
    assert record["publication_number"] == "USD515086"
    assert record["kind"] == "S1"
    assert record["abstract"] is None
    assert record["cpc_codes"] == record["ipc_codes"] == record["applicants"] == []
    assert record["applicant_countries"] == record["cited_publications"] == []


@pytest.mark.parametrize(
    ("patent_id", "kind", "canonical"),
    [
        ("10001996", "B2", "US-10001996-B2"),
        ("D515086", "S1", "US-D515086-S1"),
        # Bare "RE39501" would read as office "RE"; the US prefix keeps the reissue prefix.
        ("RE39501", "E1", "US-RE39501-E1"),
    ],
)
def test_publication_numbers_normalise(patent_id: str, kind: str, canonical: str) -> None:
    record = READER.parse(json.dumps({"patent_id": patent_id, "wipo_kind": kind}))
    normalised = publication_number(
        record["publication_number"], country=record["jurisdiction"], kind=record["kind"]
    )
    assert normalised == canonical


def test_assignee_without_organisation_is_named_by_person() -> None:
    payload = {
        "patent_id": "1",
        "assignees": [
            {"seq": 0, "name_first": "Jane", "name_last": "Doe", "country": "CA"},
            {"seq": 1, "organization": "NVIDIA CORPORATION", "country": "US"},
            {"seq": 2, "organization": "Nvidia Denmark ApS", "country": "US"},
        ],
    }
    record = READER.parse(json.dumps(payload))
    assert record["applicants"] == ["Jane Doe", "NVIDIA CORPORATION", "Nvidia Denmark ApS"]
    assert record["applicant_countries"] == ["CA", "US"]


@pytest.mark.parametrize(
    ("parts", "symbol"),
    [
        (
            {
                "section": "H",
                "ipc_class": "04",
                "subclass": "L",
                "main_group": "1",
                "subgroup": "06",
            },
            "H04L 1/06",
        ),
        (
            {
                "section": "G",
                "ipc_class": "6",
                "subclass": "F",
                "main_group": "21",
                "subgroup": "10",
            },
            "G06F 21/10",
        ),
        ({"section": "G", "ipc_class": "G06", "subclass": "F", "main_group": "3"}, "G06F 3/00"),
        ({"subclass": "G06F", "main_group": "9", "subgroup": "38"}, "G06F 9/38"),
        ({"section": "G", "ipc_class": "06", "subclass": "F"}, "G06F"),
        ({"section": "G", "main_group": "9"}, None),
    ],
)
def test_ipc_symbol(parts: dict, symbol: str | None) -> None:
    assert ipc_symbol(parts) == symbol


@pytest.mark.parametrize("payload", ["{not json", "[1, 2]", ""])
def test_broken_payload_is_quarantined(payload: str) -> None:
    with pytest.raises(RecordError) as caught:
        READER.parse(payload)
    assert caught.value.reason is Reason.BROKEN_ROW


def _parsed(units) -> dict[str, dict]:
    rows = units.collect()
    by_number = {}
    for row in rows:
        record = READER.parse(row.payload)
        record["source_file"] = row.source_file
        record["record_location"] = row.record_location
        by_number[record["publication_number"]] = record
    assert len(by_number) == len(rows)
    return by_number


def test_units_join_the_tsv_download(spark) -> None:
    files = sorted(str(p) for p in TSV.glob("*.tsv"))
    records = _parsed(READER.units(spark, files))

    assert len(records) == 10  # one unit per g_patent row
    assert all(r["source_file"].endswith("/patentsview_tsv/g_patent.tsv") for r in records.values())

    first = records["US10001996"]
    assert first["record_location"].startswith("patent_id=10001996")
    assert first["title"] == "Selective poisoning of data during runahead"
    assert first["abstract"].startswith("Embodiments related to selecting a runahead poison")
    # cpc_sequence order, 5 rows in g_cpc_current.tsv
    assert first["cpc_codes"] == [
        "G06F9/30189",
        "G06F9/3842",
        "G06F11/3024",
        "G06F11/3409",
        "G06F2201/885",
    ]
    # g_ipc_at_issue lists seq 1 before seq 0; the join orders by sequence
    assert first["ipc_codes"] == ["G06F 9/30", "G06F 9/38", "G06F 11/30"]
    # 11 citations listed shuffled; numeric sequence order puts seq 10 last, not after 1
    assert first["cited_publications"] == [
        "US5619658",
        "US5623692",
        "US5638535",
        "US5640591",
        "US5652793",
        "US5659750",
        "US5680592",
        "US5685011",
        "US5721947",
        "US5733194",
        "US5754866",
    ]
    assert (first["filing_date"], first["application_number"]) == ("2015-01-02", "14999001")
    assert first["applicants"] == ["NVIDIA CORPORATION"]
    assert first["applicant_countries"] == ["US"]

    assert records["US10008034"]["cited_publications"] == ["US7619625", "USD515086"]
    assert records["US10008034"]["cpc_codes"] == ["G06T15/55", "A63F13/355", "G06T15/005"]
    assert records["US8582632"]["applicants"] == ["Nvidia Technology UK Limited"]
    assert records["US8582632"]["applicant_countries"] == ["GB"]
    assert records["US8582632"]["ipc_codes"] == ["H04L 1/06", "H04B 7/06"]
    # 7133892's assignee location is not in g_location_disambiguated: no country, still a unit
    assert records["US7133892"]["applicants"] == ["NVIDIA International, Inc."]
    assert records["US7133892"]["applicant_countries"] == []
    assert len(records["US7133892"]["cpc_codes"]) == 8
    # design and reissue patents have no CPC rows; the design patent has no abstract
    assert records["USD515086"]["cpc_codes"] == [] and records["USD515086"]["abstract"] is None
    assert records["USRE47984"]["kind"] == "E1"
    assert records["USRE47984"]["title"] == "Near-eye optical deconvolution displays"
    assert records["US5768628"]["publication_date"] == "1998-06-16"
    assert records["US5768628"]["kind"] == "A"
    assert records["US5768628"]["cpc_codes"][0] == "G10H7/02"


def test_units_join_the_csv_extract(spark, tmp_path: Path) -> None:
    # The inventor table (header and first row of nvidia_inventor.csv) is recognised, so a
    # PatentsView folder ingests, but it maps to nothing and must not disturb the join.
    inventor = tmp_path / "nvidia_inventor.csv"
    inventor.write_text(
        "patent_id,inventor_sequence,inventor_id,disambig_inventor_name_first,"
        "disambig_inventor_name_last,gender_code,location_id\n"
        "11176967,0,fl:pr_ln:sundareson-1,Prabindh,Sundareson,U,"
        "371ed099-16c8-11ed-9b5f-1234bde3cd05\n"
    )
    assert READER.detect(str(inventor), _head(inventor))
    files = [*sorted(str(p) for p in CSV.glob("*.csv")), str(inventor)]
    records = _parsed(READER.units(spark, files))

    assert len(records) == 30
    assert all(r["source_file"].endswith("/nvidia_patent.csv") for r in records.values())
    assert len(records["US7133892"]["cpc_codes"]) == 8
    assert records["US7133892"]["cpc_codes"][-1] == "Y10S707/99933"
    assert records["US10008034"]["title"] == (
        "System, method, and computer program product for computing indirect lighting in a "
        "cloud network"
    )
    assert records["USRE39501"]["cpc_codes"] == []
    assert records["USD978078"]["kind"] == "S1"
    # the extract has no location, IPC, citation or application table
    assert all(r["applicant_countries"] == [] and r["ipc_codes"] == [] for r in records.values())
    assert records["US10001996"]["filing_date"] is None

    with pytest.raises(ValueError, match="no g_patent"):
        READER.units(spark, [str(CSV / "nvidia_cpc.csv")])
