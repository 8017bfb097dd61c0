"""`techscreen ingest` on the Chinese-export formats: PatSnap CSV and xlsx, pre-grant XML and a
GBK table by mapping, one run, duplicates across sources merged and the counts reconciled."""

import gzip
import json
import shutil

import openpyxl

from conftest import ROOT
from techscreen.cli import main

SAMPLE = ROOT / "data" / "sample"
PATSNAP_CSV = SAMPLE / "patsnap" / "green_aviation_patsnap_export.csv"
GBK_MAPPING = (
    "ingest.mapped.cnipa_gbk={match: ['cnipa*.csv'], file_type: csv, encoding: gbk, "
    "columns: {publication_number: 公开号, title: 名称, abstract: 摘要, ipc_codes: 分类号}, "
    "separators: {ipc_codes: '|'}}"
)


def _inputs(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(PATSNAP_CSV, src)
    shutil.copy(SAMPLE / "uspto_application_xml" / "ipa230105.sample.xml.gz", src)
    # The JSON Lines form of two of the three XML applications (the same records twice).
    with gzip.open(SAMPLE / "ipa_week" / "uspto_ipa230105_applications.jsonl.gz", "rt") as fh:
        lines = [
            line
            for line in fh
            if json.loads(line)["publication_number"] in ("US20230000001A1", "US20230001035A1")
        ]
    (src / "ipa230105_applications.jsonl").write_text("".join(lines), encoding="utf-8")
    # A CNIPA-style GBK table: one document PatSnap also has, written with spaces.
    (src / "cnipa_export.csv").write_bytes(
        "公开号,名称,摘要,分类号\r\n"
        "CN 104118566 A,一种飞机惯性分离器,本发明属于飞机进气系统领域，涉及一种飞机惯性分离器。,"
        "B64D 33/00 | B64D 33/02\r\n"
        "CN 1234567 A,一种播种机,,A01C 7/00\r\n".encode("gbk")
    )
    # A PatSnap workbook with the CSV's header: a new record and one without any text.
    book = openpyxl.Workbook()
    sheet = book.active
    header = PATSNAP_CSV.read_text(encoding="utf-8-sig").splitlines()[0].split(",")
    sheet.append(header)
    cells = dict.fromkeys(header, "-")
    new = {
        **cells,
        "公开(公告)号": "CN112345678B",
        "申请日": "2020-06-01",
        "公开(公告)日": "2021-03-02",
        "受理局": "中国",
        "IPC分类号": "B64D27/24 | B64D31/00",
        "IPC主分类号": "B64D27/24",
        "标题(译)(简体中文)": "一种长航时无人机油电混合动力系统",
        "标题(译)(English)": "Long endurance UAV hybrid power system",
        "摘要(译)(English)": "A hybrid power system for a long endurance UAV is disclosed.",
    }
    sheet.append([new[h] for h in header])
    sheet.append([{**cells, "公开(公告)号": "CN1234568A"}[h] for h in header])
    book.save(src / "patsnap_new.xlsx")
    return src


def test_ingest_reads_the_chinese_formats_merges_across_sources_and_reconciles(
    spark, capsys, tmp_path
):
    src = _inputs(tmp_path)
    ws = tmp_path / "ws"
    code = main(
        [
            "ingest",
            str(src),
            "--conf-dir",
            str(ROOT / "conf"),
            "--set",
            f"paths.workspace={ws}",
            "--set",
            GBK_MAPPING,
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["read_by_format"] == {
        "patsnap": 152,
        "uspto-application-xml": 3,
        "mapped:uspto_applications_jsonl": 2,
        "mapped:cnipa_gbk": 2,
    }
    assert summary["reconciled"] is True
    assert summary["quarantined_by_reason"] == {"no_usable_text": 1}  # the empty xlsx row
    assert summary["merged"] == 3  # two applications (XML + JSON Lines), one CN document
    assert summary["conflicting_duplicates"] == 1  # only the CN document's texts differ
    assert summary["kept"] == 159 - 1 - 3

    patents = {r.publication_number: r for r in spark.read.parquet(str(ws / "patents")).collect()}
    separator = patents["CN-104118566-A"]
    assert separator.source_format == "patsnap"  # the longer abstract ranks first
    assert separator.title_en == "Aircraft inertia separator"
    assert separator.ipc_codes == ["B64D 33/00", "B64D 33/02"]  # union over both sources
    assert separator.language == "zh" and separator.forward_citations == 2
    assert len(separator.merged_from) == 1 and "cnipa_export.csv@" in separator.merged_from[0]
    new = patents["CN-112345678-B"]
    assert new.abstract is None and new.abstract_en.startswith("A hybrid power system")
    assert new.warnings == ["abstract_en_only"] and new.main_ipc == "B64D 27/24"
    garden = patents["US-20230000001-A1"]
    assert garden.source_format == "uspto-application-xml"  # equal rank: file name decides
    assert [m.split("@")[0].rsplit("/", 1)[1] for m in garden.merged_from] == [
        "ipa230105_applications.jsonl"
    ]
    assert garden.applicants == ["Weinan WU"] and garden.applicant_countries == ["CN"]
    assert garden.application_number == "US17364781"  # both forms agree (mapping prefix)
    india = patents["IN-1604DELNP2013-A"]
    assert india.title_en.startswith("Method for optimizing the overall energy efficiency")
    assert patents["CN-1234567-A"].warnings == ["no_abstract"]  # empty abstract, GBK table
