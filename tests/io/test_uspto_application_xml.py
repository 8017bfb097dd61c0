"""USPTO pre-grant application XML (v4.6, week ipa230105): the raw documents of the shared
fixture against its JSON Lines (parsed independently by the data curator), values read by eye,
the bundled sample file, and hostile inputs.
"""

import gzip
import json

import pytest

from conftest import FIXTURES, ROOT
from techscreen.config import load_settings
from techscreen.ingest.parse import validate_unit
from techscreen.ingest.validate import Rules
from techscreen.io.formats import plan
from techscreen.io.mapped import MappedReader
from techscreen.io.records import Reason, RecordError
from techscreen.io.uspto_application_xml import UsptoApplicationXmlReader
from techscreen.io.uspto_xml import UsptoGrantXmlReader

READER = UsptoApplicationXmlReader()
RULES = Rules(max_text_chars=20_000, malformed_code_policy="quarantine")
SAMPLE = ROOT / "data" / "sample" / "uspto_application_xml" / "ipa230105.sample.xml.gz"
GRANT = FIXTURES / "uspto_xml" / "ipg120103_v42.xml"


@pytest.fixture(scope="module")
def week(shared_data):
    return shared_data / "uspto_ipa230105_week"


def _parse_file(path) -> dict:
    # A unit as Spark cuts it: the leading "<?xml" is consumed by the delimiter.
    return READER.parse(path.read_text(encoding="utf-8").split("<?xml", 1)[1])


def _reason(payload: str) -> Reason:
    with pytest.raises(RecordError) as caught:
        READER.parse(payload)
    return caught.value.reason


def test_olive_oil_application_field_by_field(week):
    raw = _parse_file(week / "raw_xml_examples" / "100.xml")
    assert raw["publication_number"] == "US20230000101A1"
    assert raw["kind"] == "A1"
    assert raw["publication_date"] == "20230105"
    assert raw["application_number"] == "US17842842"
    assert raw["filing_date"] == "20220617"
    assert raw["title"] == "PROCESS FOR PRODUCING OLIVE OIL"
    assert raw["abstract"].startswith("The present invention relates to a process for producing")
    assert raw["priority_date"] == "20210623"  # EP 21181065.0, before EP 21212805.2 (20211207)
    assert raw["priority_countries"] == ["EP"]
    assert raw["applicants"] == ["DSM IP Assets B.V."]
    assert raw["applicant_countries"] == ["NL"]
    assert raw["ipc_codes"] == ["A23D 7/00", "C12N 9/42", "C12N 9/24", "C12N 9/88"]
    assert raw["cpc_codes"][0] == "A23D 7/001"  # main CPC first
    assert raw["jurisdiction"] == "US" and raw["forward_citations"] is None


def test_garden_tool_application_by_a_chinese_inventor_applicant(week):
    raw = _parse_file(week / "raw_xml_examples" / "0.xml")
    assert raw["publication_number"] == "US20230000001A1"
    assert raw["title"] == "ASSEMBLED GARDEN TOOL"
    assert raw["applicants"] == ["Weinan WU"]  # first-name last-name, as the grant reader
    assert raw["applicant_countries"] == ["CN"]
    assert raw["priority_date"] is None and raw["priority_countries"] == []
    assert raw["cpc_codes"] == ["A01B 1/227", "A01B 1/08", "A01B 1/10"]


def test_all_ten_raw_documents_agree_with_the_curated_json_lines(week):
    truth = {}
    with gzip.open(week / "uspto_ipa230105_applications.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            record = json.loads(line)
            truth[record["source_file"].rsplit("/", 1)[1]] = record
    files = sorted((week / "raw_xml_examples").glob("*.xml"))
    assert len(files) == 10
    mappings = load_settings(ROOT / "conf").ingest.mapped
    jsonl = MappedReader("uspto_applications_jsonl", mappings["uspto_applications_jsonl"])
    for path in files:
        raw, t = _parse_file(path), truth[path.name]
        claims = t["priority_claims"]
        assignees, applicants = t["assignees"], t["applicants"]
        expected = {
            "publication_number": t["publication_number"],
            "publication_date": t["publication_date"],
            "application_number": "US" + t["application_number"],
            "filing_date": t["filing_date"],
            "title": t["title"],
            "abstract": t["abstract"],
            "ipc_codes": t["ipcr"],
            "cpc_codes": t["cpc_main"] + t["cpc_further"],
            "priority_date": min((c["date"] for c in claims), default=None),
            "priority_countries": list(dict.fromkeys(c["country"] for c in claims)),
            "applicants": list(dict.fromkeys(a["name"] for a in assignees + applicants)),
            "applicant_countries": list(
                dict.fromkeys(a["country"] for a in assignees + applicants)
            ),
        }
        assert {k: raw[k] for k in expected} == expected, path.name
        # both forms declare English (the XML's lang="EN", the mapping's constant): not guessed
        assert raw["language"] == jsonl.parse(json.dumps(t))["language"] == "en", path.name


def test_detection_does_not_clash_with_grants_or_the_json_lines_mapping(week):
    settings = load_settings(ROOT / "conf").ingest
    raw_files = sorted(str(p) for p in (week / "raw_xml_examples").glob("*.xml"))
    jsonl = str(week / "uspto_ipa230105_applications.jsonl.gz")
    groups = plan([*raw_files, jsonl, str(GRANT), str(SAMPLE)], settings)
    assert sorted(groups["uspto-application-xml"][1]) == sorted([*raw_files, str(SAMPLE)])
    assert groups["uspto-grant-xml"][1] == [str(GRANT)]
    assert groups["mapped:uspto_applications_jsonl"][1] == [jsonl]
    application_head = (week / "raw_xml_examples" / "0.xml").read_bytes()[:65536]
    assert not UsptoGrantXmlReader().detect("0.xml", application_head)
    assert not READER.detect("g.xml", GRANT.read_bytes()[:65536])
    assert not READER.detect("x.json", b'{"root": "<us-patent-application>"}')


def test_bundled_sample_is_a_concatenated_weekly_file(spark):
    units = READER.units(spark, [str(SAMPLE)]).collect()
    assert len(units) == 3
    assert all(u.record_location.startswith("offset=") for u in units)
    numbers = [READER.parse(u.payload)["publication_number"] for u in units]
    assert numbers == ["US20230000001A1", "US20230000101A1", "US20230001035A1"]
    kr = READER.parse(units[2].payload)
    assert kr["applicants"] == ["INDUSTRY-UNIVESITY COOPERATION FOUNDATION HANYANG UNIVERSITY"]
    assert kr["priority_countries"] == ["KR"] and kr["priority_date"] == "20191120"
    row = validate_unit(READER, RULES, units[2].payload, 300)
    assert row["publication_number"] == "US-20230001035-A1"
    assert row["priority_countries"] == ["KR"] and row["language"] == "en"


SECRET_XXE = (
    ' version="1.0"?><!DOCTYPE us-patent-application [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    "<us-patent-application><us-bibliographic-data-application><invention-title>&x;"
    "</invention-title></us-bibliographic-data-application></us-patent-application>"
)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (SECRET_XXE, Reason.FORBIDDEN_XML),
        (' version="1.0"?><us-patent-application><abstract>cut off', Reason.BROKEN_XML),
        (' version="1.0"?><us-patent-grant/>', Reason.NOT_A_PATENT),
        (' version="1.0"?><sequence-cwu/>', Reason.NOT_A_PATENT),
        (
            ' version="1.0"?><us-patent-application>caf\ufffd</us-patent-application>',
            Reason.UNDECODABLE,
        ),
        ("   ", Reason.BROKEN_XML),
    ],
)
def test_hostile_and_broken_documents_are_quarantined(payload, reason):
    assert _reason(payload) == reason


def test_an_empty_application_reaches_validation_without_a_number():
    raw = READER.parse(' version="1.0"?><us-patent-application/>')
    assert raw["publication_number"] is None
    row = validate_unit(READER, RULES, ' version="1.0"?><us-patent-application/>', 300)
    assert row["reason"] == "no_publication_number"
