"""Column-mapped tables beyond UTF-8 CSV and JSON Lines: GBK CSV, xlsx, JSON documents.

GBK files are written by the tests (the upstream CNIPA exports are GBK); the xlsx and JSON
expectations were read by eye from the shared fixtures.
"""

import json

import pytest

from conftest import ROOT
from techscreen.config import MappedSource, load_settings
from techscreen.ingest.parse import validate_unit
from techscreen.ingest.validate import Rules
from techscreen.io.encodings import EncodingError
from techscreen.io.mapped import MappedReader

MAPPED = load_settings(ROOT / "conf").ingest.mapped
RULES = Rules(max_text_chars=20_000, malformed_code_policy="quarantine")

# Three CNIPA-style rows with Chinese headers (申请号 application number, 名称 title, 摘要
# abstract, 分类号 IPC joined by " | ", 申请日 filing date); the third has an empty abstract.
ROWS = [
    ["申请号", "名称", "摘要", "分类号", "申请日"],
    [
        "CN200580010012.1",
        "利用苕子根茬免耕种植法",
        "一种农作物种植的耕作方法，采取苕子与其他作物免耕套种的耕作方式。",
        "A01B 79/02 | A01C 7/00",
        "2005.03.28",
    ],
    [
        "CN201010123456.X",
        "一種溫室大棚自動灌溉裝置",  # traditional characters
        "包括PLC控制器（型号S7-200）、电磁阀和湿度传感器；全角标点：，。！",
        "A01G 25/16",
        "2010.03.01",
    ],
    ["CN85105156", "一种播种机", "", "A01C 7/00", "1985.07.01"],
]


def _csv(rows, encoding: str) -> bytes:
    lines = [",".join(f'"{c}"' if "," in c else c for c in row) for row in rows]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def _mapping(encoding: str, key: str = "申请号") -> MappedSource:
    return MappedSource(
        match=["cnipa*.csv"],
        file_type="csv",
        encoding=encoding,
        columns={
            "publication_number": key,
            "application_number": key,
            "title": "名称",
            "abstract": "摘要",
            "ipc_codes": "分类号",
            "filing_date": "申请日",
        },
        separators={"ipc_codes": "|"},
        constants={"jurisdiction": "CN"},
    )


def _rows(spark, reader, path):
    units = reader.units(spark, [str(path)]).collect()
    return units, [validate_unit(reader, RULES, u.payload, 300) for u in units]


def test_gbk_csv_is_read_field_by_field(spark, tmp_path):
    path = tmp_path / "cnipa_gbk.csv"
    path.write_bytes(_csv(ROWS, "gbk"))
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")  # really GBK, not UTF-8
    reader = MappedReader("cnipa", _mapping("gbk"))
    units, rows = _rows(spark, reader, path)
    assert [u.record_location.split(";")[0] for u in units] == [
        "申请号=CN200580010012.1",
        "申请号=CN201010123456.X",
        "申请号=CN85105156",
    ]
    first, traditional, empty = rows
    assert first["publication_number"] == "CN-200580010012"
    assert first["title"] == "利用苕子根茬免耕种植法"
    assert first["abstract"] == ROWS[1][2]
    assert first["ipc_codes"] == ["A01B 79/02", "A01C 7/00"]  # "A01B 79/02 | A01C 7/00"
    assert first["filing_date"].isoformat() == "2005-03-28" and first["language"] == "zh"
    assert traditional["publication_number"] == "CN-201010123456"
    assert traditional["title"] == "一種溫室大棚自動灌溉裝置"
    assert traditional["abstract"] == ROWS[2][2]  # mixed script and full-width punctuation kept
    assert empty["publication_number"] == "CN-85105156"
    assert empty["abstract"] is None and empty["warnings"] == ["no_abstract"]


def test_gbk_declared_as_utf8_is_an_error_naming_the_encoding(spark, tmp_path):
    path = tmp_path / "cnipa_gbk.csv"
    path.write_bytes(_csv(ROWS, "gbk"))
    reader = MappedReader("cnipa", _mapping("utf-8"))
    with pytest.raises(EncodingError, match=r"no column '申请号' \(its header, read as utf-8"):
        reader.units(spark, [str(path)])


def test_utf8_declared_as_gbk_is_refused_before_reading(spark, tmp_path):
    path = tmp_path / "cnipa_utf8.csv"
    path.write_bytes(_csv(ROWS, "utf-8"))
    reader = MappedReader("cnipa", _mapping("gbk"))
    with pytest.raises(EncodingError, match="declared gbk but is UTF-8"):
        reader.units(spark, [str(path)])


def test_gbk_rows_under_ascii_headers_declared_utf8_are_quarantined_not_lost(spark, tmp_path):
    ascii_header = [["number", "title", "abstract", "ipc", "date"], *ROWS[1:]]
    path = tmp_path / "cnipa_ascii_header.csv"
    path.write_bytes(_csv(ascii_header, "gbk"))
    mapping = MappedSource(
        match=["x"],
        file_type="csv",
        encoding="utf-8",
        columns={"publication_number": "number", "title": "title", "abstract": "abstract"},
    )
    units, rows = _rows(spark, MappedReader("ascii", mapping), path)
    assert len(units) == 3  # every row is a unit ...
    assert [r["reason"] for r in rows] == ["undecodable_bytes"] * 3  # ... and says why
    assert all(r["excerpt"] for r in rows)


def test_xlsx_mapping_on_the_ai_patents(spark, shared_data):
    reader = MappedReader("ai_patents_whu_xlsx", MAPPED["ai_patents_whu_xlsx"])
    path = shared_data / "ai_biomed_ipc_whu" / "AI.xlsx"
    assert reader.detect(str(path), b"")
    units = reader.units(spark, [str(path)]).collect()
    assert len(units) == 10_000
    first = units[0]
    assert first.record_location == "ID=KR102574756B1;sheet=下载的著录项1;row=2"
    raw = reader.parse(first.payload)
    assert raw["publication_number"] == "KR102574756B1" and raw["jurisdiction"] == "KR"
    assert raw["title"] == (
        "Medical Image Conversion Method and Device based on Artificial Intelligence "
        "Changing Image Quality"
    )
    assert raw["ipc_codes"] == [
        "G16H30/40",
        "A61B5/055",
        "A61B6/03",
        "G06N3/08",
        "G06T3/40",
        "G06V10/75",
        "G06V10/82",
        "G16H30/20",
    ]
    row = validate_unit(reader, RULES, units[4999].payload, 300)  # Excel row 5001: a CN patent
    assert row["publication_number"] == "CN-115908119-B"
    assert (
        row["title"]
        == "Face image beauty processing method and system based on artificial intelligence"
    )
    assert row["ipc_codes"] == ["G06T 3/00", "G06V 10/82", "G06V 40/16"]
    assert row["language"] == "en" and row["abstract_en"] is None


def test_xlsx_mapping_on_the_biomedical_patents_splits_pipes(spark, shared_data):
    reader = MappedReader("biomedical_patents_whu_xlsx", MAPPED["biomedical_patents_whu_xlsx"])
    units = reader.units(spark, [str(shared_data / "ai_biomed_ipc_whu" / "Biomedical.xlsx")])
    first = units.first()
    raw = reader.parse(first.payload)
    assert raw["publication_number"] == "US7566771B1" and raw["title"] == "Humanised antibodies"
    # "C07K16/00 | A61K38/00 | C07K16/18 | C07K16/24 | C07K16/28 | C07K16/46"
    assert raw["ipc_codes"] == [
        "C07K16/00",
        "A61K38/00",
        "C07K16/18",
        "C07K16/24",
        "C07K16/28",
        "C07K16/46",
    ]
    assert units.count() == 2563


def test_json_document_mapping_on_the_nuclear_grants(spark, shared_data):
    reader = MappedReader("nuclear_g21_grants_json", MAPPED["nuclear_g21_grants_json"])
    path = shared_data / "nuclear_g21_patentsview" / "grants_G21J.json"
    assert reader.detect(str(path), b"")
    units = reader.units(spark, [str(path)]).collect()
    assert [u.record_location for u in units] == [f"index={i}" for i in range(6)]
    raw = reader.parse(units[0].payload)
    assert raw["publication_number"] == "10815015" and raw["jurisdiction"] == "US"
    assert raw["title"].startswith("Asteroid redirection and soft landing facilitated by")
    assert raw["publication_date"] == "2020-10-27"
    assert raw["application_number"] == "15832480" and raw["filing_date"] == "2017-12-05"
    assert raw["cited_publications"] == ["US4036012"]  # prefix: the number is bare upstream
    assert raw["applicant_countries"] == []  # assignee_country is null
    assert raw["cpc_codes"][0] == "B64G1/40"
    row = validate_unit(reader, RULES, units[0].payload, 300)
    assert row["publication_number"] == "US-10815015"
    assert row["cited_publications"] == ["US-4036012"]


def test_json_document_without_the_record_array_or_broken_is_quarantined(spark, tmp_path):
    reader = MappedReader("nuclear_g21_grants_json", MAPPED["nuclear_g21_grants_json"])
    other = tmp_path / "grants_G21X.json"
    other.write_text('{"results": []}', encoding="utf-8")
    broken = tmp_path / "grants_G21Y.json"
    broken.write_text('{"patents": [{"patent_number": "1"', encoding="utf-8")
    units = reader.units(spark, [str(other), str(broken)]).collect()
    rows = [validate_unit(reader, RULES, u.payload, 300) for u in units]
    assert [(u.record_location, r["reason"]) for u, r in zip(units, rows, strict=True)] == [
        ("document", "broken_json"),
        ("document", "broken_json"),
    ]
    assert "no record array at 'patents'" in rows[0]["detail"]


def test_waste_heat_translation_and_application_priority_countries():
    heat = MappedReader("w", MAPPED["waste_heat_abstracts_jsonl"])
    raw = heat.parse(
        json.dumps(
            {
                "publication_number": "JP2010190145A",
                "abstract": "排熱回収装置は、エンジンの排気から熱を回収する。",
                "abstract_en_translated": "An exhaust heat recovery device recovers heat.",
            },
            ensure_ascii=False,
        )
    )
    assert raw["abstract_en"] == "An exhaust heat recovery device recovers heat."
    ipa = MappedReader("u", MAPPED["uspto_applications_jsonl"])
    raw = ipa.parse(
        json.dumps(
            {
                "publication_number": "US20230000101A1",
                "priority_claims": [
                    {"country": "EP", "date": "20210623"},
                    {"country": "EP", "date": "20211207"},
                ],
            }
        )
    )
    assert raw["priority_countries"] == ["EP", "EP"] and raw["priority_date"] == "20210623"


def test_mapping_options_are_checked():
    with pytest.raises(ValueError, match="applies to csv/tsv only"):
        MappedSource(match=["x"], file_type="jsonl", encoding="gbk", columns={})
    with pytest.raises(ValueError, match="unknown encoding"):
        MappedSource(match=["x"], file_type="csv", encoding="gbk-ish", columns={})
    with pytest.raises(ValueError, match="records"):
        MappedSource(match=["x"], file_type="json", columns={})
    with pytest.raises(ValueError, match="unknown canonical fields"):
        MappedSource(match=["x"], file_type="csv", columns={}, prefixes={"cited": "US"})
