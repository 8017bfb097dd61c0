"""PatSnap exports: the real green-aviation workbook (shared data) and its CSV slice (sample).

Expected values were read by eye from the workbook (sheet1) and the bundled CSV.
"""

import csv
import itertools
import json

import pytest

from conftest import ROOT
from techscreen.ingest.parse import validate_unit
from techscreen.ingest.validate import Rules
from techscreen.io.encodings import sniff_encoding
from techscreen.io.formats import head
from techscreen.io.patsnap import PatSnapReader, is_patsnap_header

READER = PatSnapReader()
RULES = Rules(max_text_chars=20_000, malformed_code_policy="quarantine")
SAMPLE_CSV = ROOT / "data" / "sample" / "patsnap" / "green_aviation_patsnap_export.csv"


@pytest.fixture(scope="module")
def workbook(shared_data):
    return shared_data / "green_aviation_patsnap" / "green_aviation_patsnap_export.xlsx"


@pytest.fixture(scope="module")
def workbook_units(spark, workbook):
    rows = READER.units(spark, [str(workbook)]).collect()
    return {r.record_location.split(";")[0].split("=", 1)[1]: r for r in rows}, rows


@pytest.fixture(scope="module")
def csv_units(spark):
    rows = READER.units(spark, [str(SAMPLE_CSV)]).collect()
    return {json.loads(r.payload)["公开(公告)号"]: r for r in rows}, rows


def test_detects_the_workbook_and_the_csv_but_not_other_tables(shared_data, workbook):
    assert READER.detect(str(workbook), head(str(workbook)))
    assert READER.detect(str(SAMPLE_CSV), head(str(SAMPLE_CSV)))
    ai = shared_data / "ai_biomed_ipc_whu" / "AI.xlsx"  # an xlsx with English headers
    assert not READER.detect(str(ai), head(str(ai)))
    nuclear = ROOT / "data" / "sample" / "nuclear_g21" / "applications_G21.csv"
    assert not READER.detect(str(nuclear), head(str(nuclear)))
    # a header with the number column alone is not enough
    assert not is_patsnap_header(["公开(公告)号", "Title"])
    assert is_patsnap_header(["公开（公告）号", "申请日", "受理局"])  # full-width brackets


def test_every_workbook_row_is_a_unit_located_by_number_and_excel_row(workbook_units):
    by_number, rows = workbook_units
    assert len(rows) == 1999
    assert (
        by_number["CN103104575A"].record_location == "公开(公告)号=CN103104575A;sheet=sheet1;row=3"
    )
    assert by_number["PL2631174T3"].record_location.endswith(";row=2")


def test_chinese_record_field_by_field(workbook_units):
    raw = READER.parse(workbook_units[0]["CN103104575A"].payload)
    assert raw["publication_number"] == "CN103104575A"
    assert raw["filing_date"] == "2013-01-21"
    assert raw["publication_date"] == "2013-05-15"
    assert raw["applicants"] == ["南京航空航天大学"]
    assert raw["jurisdiction"] is None  # the number carries its office (受理局 中国)
    assert raw["priority_countries"] == []  # "-" is PatSnap's empty cell
    assert raw["main_ipc"] == "F15D1/00"
    assert raw["ipc_codes"] == ["F15D1/00", "B64C23/06"]  # "F15D1/00 | B64C23/06", main first
    assert raw["title"] == "电弧式放电等离子体涡流发生器"
    assert raw["title_en"] == "Electric arc type discharging plasma vortex generator"
    assert raw["abstract"].startswith("本发明设计了一种电弧式放电等离子体涡流发生器，")
    assert raw["abstract_en"].startswith("The invention discloses an electric arc type")
    assert raw["forward_citations"] == "7"  # 被引用专利数量
    assert raw["backward_citations"] == "7"  # 引用专利数量
    assert raw["family_size"] == "1"  # 简单同族专利申请数量
    assert raw["legal_status"] == "撤回-视为撤回"


def test_multi_values_and_a_foreign_office(workbook_units):
    brazil = READER.parse(workbook_units[0]["BR102013019573A2"].payload)  # row 50
    assert brazil["applicants"] == ["罗尔公司", "BF谷德里奇公司"]  # "罗尔公司 | BF谷德里奇公司"
    assert brazil["priority_countries"] == ["US"]  # "US | US", each office once
    assert brazil["ipc_codes"] == ["B64D13/08"] and brazil["main_ipc"] == "B64D13/08"
    assert brazil["family_size"] == "7" and brazil["legal_status"] == "授权"
    assert brazil["title"] == "用于集成到飞机吸音板中的电加热器"
    assert brazil["title_en"] == "Electric heater for integration into an aircraft acoustic panel"
    utility = READER.parse(workbook_units[0]["CN207631503U"].payload)  # row 846
    assert utility["applicants"] == ["沈观清", "春燕"]
    assert utility["legal_status"] == "授权 | 权利转移"  # a status is kept as worded
    assert utility["ipc_codes"] == ["B64D27/02", "B64D31/00"]
    assert utility["forward_citations"] == "13"


def test_validated_workbook_row_is_a_bilingual_chinese_patent(workbook_units):
    row = validate_unit(READER, RULES, workbook_units[0]["CN103104575A"].payload, 300)
    assert row.get("reason") is None
    assert row["publication_number"] == "CN-103104575-A"
    assert row["jurisdiction"] == "CN" and row["language"] == "zh"
    assert row["ipc_codes"] == ["B64C 23/06", "F15D 1/00"] and row["main_ipc"] == "F15D 1/00"
    assert row["forward_citations"] == 7 and row["backward_citations"] == 7
    assert row["family_size"] == 1
    assert row["title_en"] == "Electric arc type discharging plasma vortex generator"
    assert row["warnings"] == []


def test_csv_slice_reads_like_the_workbook(csv_units, workbook_units):
    by_number, rows = csv_units
    assert len(rows) == 150
    # the same record in both forms gives the same raw fields (CSV row 4 = workbook row 28)
    for number in ("CN104118566A", "CN116195173A", "JP2022515915A5", "RU2017117343A3"):
        assert READER.parse(by_number[number].payload) == READER.parse(
            workbook_units[0][number].payload
        )
    raw = READER.parse(by_number["CN116195173A"].payload)
    assert raw["applicants"] == ["赛峰直升机发动机", "赛峰集团"]
    assert raw["priority_countries"] == ["FR"]
    assert raw["ipc_codes"] == ["H02K3/34"] and raw["backward_citations"] == "1"
    assert raw["title"] == "借助相变材料改进热传递的飞行器电机及相关方法"


def test_repeated_title_is_kept_once_and_differing_parts_as_written(csv_units):
    raw = READER.parse(csv_units[0]["JP2022515915A5"].payload)
    assert raw["title"] == "电动垂直起降飞机"  # "电动垂直起降飞机 | 电动垂直起降飞机"
    assert raw["abstract"].startswith("多个马达组件,每个马达组件构造成")
    assert " | " not in raw["abstract"]  # the abstract is repeated the same way
    assert raw["priority_countries"] == ["US"] and raw["main_ipc"] == "B64C27/26"
    differing = READER.parse(_row(**{"标题(译)(简体中文)": "飞机作动器 | 飞机作动器液压系统"}))
    assert differing["title"] == "飞机作动器 | 飞机作动器液压系统"  # nothing dropped


def test_record_without_ipc_keeps_its_other_fields(csv_units):
    raw = READER.parse(csv_units[0]["RU2017117343A3"].payload)
    assert raw["ipc_codes"] == [] and raw["main_ipc"] is None
    assert raw["family_size"] == "15" and raw["applicants"] == ["赛峰直升机发动机"]


def test_gb18030_csv_is_sniffed_and_read(spark, tmp_path):
    with SAMPLE_CSV.open(encoding="utf-8-sig", newline="") as fh:
        header, first = list(itertools.islice(csv.reader(fh), 2))
    gbk = tmp_path / "patsnap_gbk.csv"
    with gbk.open("w", encoding="gb18030", newline="") as fh:
        csv.writer(fh).writerows([header, first])
    assert sniff_encoding(gbk.read_bytes()) == "GB18030"
    assert sniff_encoding(SAMPLE_CSV.read_bytes()[:1000]) == "UTF-8"
    assert READER.detect(str(gbk), head(str(gbk)))
    [unit] = READER.units(spark, [str(gbk)]).collect()
    raw = READER.parse(unit.payload)
    assert raw["publication_number"] == "PL2631174T3"
    assert raw["title"] == "具有后旋翼的旋翼飞机,以及用于优化后旋翼操作的方法"
    assert raw["priority_countries"] == ["FR"] and raw["family_size"] == "9"


def _row(**cells):
    base = {
        "公开(公告)号": "CN112345678B",
        "申请日": "2020-06-01",
        "公开(公告)日": "2021-03-02",
        "受理局": "中国",
        "IPC分类号": "B64D27/24",
        "IPC主分类号": "B64D27/24",
        "标题(译)(简体中文)": "一种无人机混合动力系统",
        "标题(译)(English)": "Hybrid power system for unmanned aerial vehicle",
        "摘要(译)(简体中文)": "本发明公开了一种无人机混合动力系统，包括发动机和电机。",
        "摘要(译)(English)": "The invention discloses a hybrid power system for a UAV.",
    }
    return json.dumps({**base, **cells}, ensure_ascii=False)


def _validated(**cells):
    return validate_unit(READER, RULES, _row(**cells), 300)


def test_empty_chinese_abstract_keeps_the_record_and_its_translation():
    title = "一种长航时无人机油电混合动力系统"
    row = _validated(**{"摘要(译)(简体中文)": "-", "标题(译)(简体中文)": title})
    assert row.get("reason") is None
    assert row["abstract"] is None and row["warnings"] == ["abstract_en_only"]
    assert row["abstract_en"] == "The invention discloses a hybrid power system for a UAV."
    assert row["title"] == title and row["language"] == "zh"  # from the Chinese title


def test_english_only_row_becomes_an_english_record():
    row = _validated(**{"标题(译)(简体中文)": "-", "摘要(译)(简体中文)": ""})
    assert row["title"] == "Hybrid power system for unmanned aerial vehicle"
    assert row["abstract"] == "The invention discloses a hybrid power system for a UAV."
    assert row["title_en"] is None and row["abstract_en"] is None and row["language"] == "en"


MIXED = "本发明涉及一种UAV的PID控制器（Controller），采用CAN总线与GPS模块通信。"
TRADITIONAL = "本發明公開了一種無人機混合動力系統，包括發動機與電機；適用於長航時飛行。"
FULL_WIDTH = "一种飞行器：包括机身、机翼（２）和电机［３］！"


def test_mixed_script_traditional_and_full_width_text_pass_unchanged():
    for text in (MIXED, TRADITIONAL, FULL_WIDTH):
        row = _validated(**{"摘要(译)(简体中文)": text})
        assert row.get("reason") is None
        assert row["abstract"] == text  # nothing normalised away
        assert row["abstract_en"] == "The invention discloses a hybrid power system for a UAV."
    assert _validated(**{"摘要(译)(简体中文)": TRADITIONAL})["language"] == "zh"


def test_mixed_script_and_full_width_text_are_detected_as_chinese():
    assert [_validated(**{"摘要(译)(简体中文)": t})["language"] for t in (MIXED, FULL_WIDTH)] == [
        "zh",
        "zh",
    ]


def test_office_names_become_codes():
    row = _validated(**{"公开(公告)号": "112345678B", "优先权国家/地区": "美国 | 欧洲专利局"})
    assert row["publication_number"] == "CN-112345678-B"  # 受理局 中国 fills the office in
    assert row["priority_countries"] == ["US", "EP"]


def test_full_width_number_and_codes_are_normalised():
    row = _validated(
        **{
            "公开(公告)号": "ＣＮ１１２３４５６７８Ｂ",
            "IPC分类号": "Ｂ６４Ｄ２７／２４ | B64D31/00",
        }
    )
    assert row["publication_number"] == "CN-112345678-B"
    assert row["ipc_codes"] == ["B64D 27/24", "B64D 31/00"]


def test_bad_rows_are_quarantined_with_a_reason():
    empty = validate_unit(READER, RULES, json.dumps({"公开(公告)号": "-", "申请日": ""}), 300)
    assert empty["reason"] == "broken_row" and empty["detail"] == "row has no values"
    no_text = _validated(
        **{k: "-" for k in ("标题(译)(简体中文)", "标题(译)(English)", "摘要(译)(简体中文)")},
        **{"摘要(译)(English)": "-"},
    )
    assert no_text["reason"] == "no_usable_text"
    assert no_text["publication_number"] == "CN112345678B"
    bad_date = _validated(**{"申请日": "2020-13-45"})
    assert bad_date["reason"] == "bad_date"


def test_an_unreadable_workbook_is_one_quarantined_unit(spark, tmp_path):
    broken = tmp_path / "export.xlsx"
    broken.write_bytes(b"PK\x03\x04 this is not a complete zip archive")
    assert not READER.detect(str(broken), head(str(broken)))
    [unit] = READER.units(spark, [str(broken)]).collect()
    assert unit.record_location == "workbook"
    row = validate_unit(READER, RULES, unit.payload, 300)
    assert row["reason"] == "broken_row" and "unreadable workbook" in row["detail"]
