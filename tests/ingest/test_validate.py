import datetime as dt

import pytest

from techscreen.config import IngestSettings, MappedSource
from techscreen.ingest.parse import validate_unit
from techscreen.ingest.validate import Rules, validate
from techscreen.io.mapped import MappedReader
from techscreen.io.records import Reason, RecordError

RULES = Rules(max_text_chars=2000, malformed_code_policy="quarantine")
GOOD = {
    "publication_number": "10001996",
    "jurisdiction": "US",
    "kind": "B2",
    "title": "Selective poisoning of data during runahead",
    "abstract": "Embodiments related to selecting a runahead poison policy are provided.",
    "publication_date": "2018-06-19",
    "filing_date": "20160112",
    "cpc_codes": ["G06F9/3842", "G06F 9/30"],
    "ipc_codes": ["G06F0009380000"],
    "applicants": ["NVIDIA CORPORATION", "NVIDIA CORPORATION"],
    "applicant_countries": ["us"],
    "cited_publications": ["US 6,000,000 A", "not a number"],
}


def test_good_record_is_normalised():
    row = validate(GOOD, RULES)
    assert row["publication_number"] == "US-10001996-B2"
    assert row["jurisdiction"] == "US"
    assert row["publication_date"] == dt.date(2018, 6, 19)
    assert row["filing_year"] == 2016
    assert row["cpc_codes"] == ["G06F 9/30", "G06F 9/3842"]
    assert row["ipc_codes"] == ["G06F 9/38"]
    assert row["applicants"] == ["NVIDIA CORPORATION"]
    assert row["applicant_countries"] == ["US"]
    assert row["cited_publications"] == ["NOT A NUMBER", "US-6000000-A"]
    assert row["language"] == "en"
    assert row["warnings"] == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"publication_number": None}, Reason.NO_PUBLICATION_NUMBER),
        ({"publication_number": "###"}, Reason.BAD_PUBLICATION_NUMBER),
        ({"title": " ", "abstract": ""}, Reason.NO_TEXT),
        ({"abstract": "x" * 2001}, Reason.OVERSIZE_TEXT),
        ({"filing_date": "2016-13-45"}, Reason.BAD_DATE),
        ({"filing_date": None, "filing_year": "1492"}, Reason.BAD_DATE),
        ({"ipc_codes": ["G06F 9/38", "Y60PP"]}, Reason.MALFORMED_CODE),
        ({"applicant_countries": ["USA"]}, Reason.BAD_COUNTRY),
        ({"forward_citations": "-3"}, Reason.BAD_VALUE),
    ],
)
def test_each_fault_has_its_reason(change, reason):
    with pytest.raises(RecordError) as err:
        validate({**GOOD, **change}, RULES)
    assert err.value.reason == reason


def test_drop_policy_keeps_record_and_notes_the_code():
    row = validate({**GOOD, "ipc_codes": ["Y60PP", "G06F 9/38"]}, Rules(2000, "drop"))
    assert row["ipc_codes"] == ["G06F 9/38"]
    assert row["warnings"] == ["dropped_code:Y60PP"]


def test_the_default_drops_a_bad_code_only_where_a_valid_one_is_left():
    drop = Rules(2000, IngestSettings().malformed_code_policy)
    # issue 19: 'G02B/' among good CPC codes lost the whole patent
    one_bad = {**GOOD, "ipc_codes": [], "cpc_codes": ["G02B/", "G02B 27/0172"]}
    row = validate(one_bad, drop)
    assert row["cpc_codes"] == ["G02B 27/0172"] and row["warnings"] == ["dropped_code:G02B/"]
    # a valid code of another scheme is enough; a record with none left is quarantined
    assert validate({**GOOD, "ipc_codes": ["Y60PP"]}, drop)["ipc_codes"] == []
    with pytest.raises(RecordError, match="malformed class code 'G02B/'") as err:
        validate({**GOOD, "ipc_codes": ["G02B/"], "cpc_codes": []}, drop)
    assert err.value.reason == Reason.MALFORMED_CODE
    with pytest.raises(RecordError):
        validate(one_bad, RULES)  # quarantine: any malformed code
    assert validate({**GOOD, "ipc_codes": [], "cpc_codes": []}, drop)["warnings"] == []


def test_the_source_number_is_kept_as_written():
    row = validate({**GOOD, "publication_number": " CN117151122A ", "jurisdiction": None}, RULES)
    assert row["publication_number"] == "CN-117151122-A"
    assert row["source_number"] == "CN117151122A"


def test_title_only_record_is_kept_with_warning():
    row = validate({**GOOD, "abstract": None}, RULES)
    assert row["abstract"] is None and row["warnings"] == ["no_abstract"]


def test_validate_unit_quarantines_undecodable_and_broken_payloads():
    reader = MappedReader(
        "x", MappedSource(match=["*"], file_type="jsonl", columns={"publication_number": "id"})
    )
    bad_bytes = validate_unit(reader, RULES, '{"id": "US1", "title": "caf\ufffd"}', 50)
    assert bad_bytes["reason"] == "undecodable_bytes"
    broken = validate_unit(reader, RULES, '{"id": "US1", "title": ', 50)
    assert broken["reason"] == "broken_json" and broken["excerpt"] == '{"id": "US1", "title": '
    empty = validate_unit(reader, RULES, "   ", 50)
    assert empty["reason"] == "no_usable_text"


def test_a_record_the_row_filter_leaves_out_is_neither_kept_nor_quarantined():
    mapping = MappedSource(
        match=["*"],
        file_type="jsonl",
        columns={"publication_number": "id", "title": "t"},
        where={"valid": True},
    )
    reader = MappedReader("x", mapping)
    out = validate_unit(reader, RULES, '{"id": "US1234567B2", "t": "A title", "valid": "no"}', 50)
    assert out == {"reason": "filtered", "detail": "mapped:x where valid in [True]"}
    kept = validate_unit(reader, RULES, '{"id": "US1234567B2", "t": "A title", "valid": "TRUE"}', 9)
    assert kept["publication_number"] == "US-1234567-B2" and "reason" not in kept


def test_validate_unit_turns_a_parser_crash_into_a_quarantine_row():
    class Exploding(MappedReader):
        def parse(self, payload):
            raise ZeroDivisionError("boom")

    reader = Exploding("x", MappedSource(match=["*"], file_type="jsonl", columns={}))
    row = validate_unit(reader, RULES, "{}", 10)
    assert row["reason"] == "parser_error" and "ZeroDivisionError" in row["detail"]


@pytest.mark.parametrize("value", ["1e999", 10**30, "99999999999999999999", 2**31])
def test_an_integer_too_large_for_the_tables_is_a_bad_value(value):
    raw = {"publication_number": "US1234567B2", "title": "A valid title here", "abstract": None}
    with pytest.raises(RecordError, match="forward_citations"):
        validate({**raw, "forward_citations": value}, Rules(20000, "quarantine"))
    assert validate({**raw, "forward_citations": 2**31 - 1}, Rules(20000, "quarantine"))
