"""The fields added for Chinese exports: validation rules and the merge of duplicates."""

import pytest
from pyspark.sql import functions as F

from techscreen.ingest.merge import content_hash, merge_duplicates
from techscreen.ingest.validate import Rules, validate
from techscreen.io.records import Reason, RecordError
from techscreen.schema import RECORD

RULES = Rules(max_text_chars=200, malformed_code_policy="quarantine")
BASE = {
    "publication_number": "CN104118566A",
    "title": "一种飞机惯性分离器",
    "abstract": "本发明属于飞机进气系统领域，涉及一种飞机惯性分离器。",
    "title_en": "Aircraft inertia separator",
    "abstract_en": "The invention relates to an aircraft inertia separator.",
}


def test_new_fields_are_normalised():
    row = validate(
        {
            **BASE,
            "main_ipc": "B64D33/00",
            "ipc_codes": ["B64D33/02"],
            "priority_countries": ["fr", "FR", "us"],
            "forward_citations": "2",
            "backward_citations": "6",
            "family_size": "1",
            "legal_status": "  撤回-视为撤回 ",
        },
        RULES,
    )
    assert row["main_ipc"] == "B64D 33/00"
    assert row["ipc_codes"] == ["B64D 33/00", "B64D 33/02"]  # the main code is one of them
    assert row["priority_countries"] == ["FR", "US"]
    assert (row["backward_citations"], row["family_size"]) == (6, 1)
    assert row["legal_status"] == "撤回-视为撤回"
    assert row["title_en"] == "Aircraft inertia separator"


def test_translation_rules():
    same = validate({**BASE, "abstract_en": BASE["abstract"], "title_en": BASE["title"]}, RULES)
    assert same["abstract_en"] is None and same["title_en"] is None  # not a translation
    with pytest.raises(RecordError) as caught:
        validate({**BASE, "abstract_en": "x" * 201}, RULES)
    assert caught.value.reason is Reason.OVERSIZE_TEXT and "abstract_en" in caught.value.detail
    with pytest.raises(RecordError) as caught:
        validate({**BASE, "family_size": "many"}, RULES)
    assert caught.value.reason is Reason.BAD_VALUE
    with pytest.raises(RecordError) as caught:
        validate({**BASE, "main_ipc": "not a code"}, RULES)
    assert caught.value.reason is Reason.MALFORMED_CODE
    with pytest.raises(RecordError) as caught:
        validate({**BASE, "priority_countries": ["France"]}, RULES)
    assert caught.value.reason is Reason.BAD_COUNTRY


def _records(spark, rows):
    full = []
    for i, raw in enumerate(rows):
        row = validate(raw, RULES)
        row.update(source_format="t", source_file=f"f{i}", record_location="r", content_hash="")
        full.append({f: row.get(f) for f in RECORD.fieldNames()})
    return spark.createDataFrame(full, RECORD)


def test_two_sources_of_one_chinese_document_merge(spark):
    patsnap = {**BASE, "forward_citations": "2", "family_size": "1", "priority_countries": []}
    cnipa = {
        "publication_number": "CN 104118566 A",
        "title": BASE["title"],
        "abstract": BASE["abstract"] + "本发明可减少发动机振动对惯性分离器的影响。",
        "forward_citations": "5",
        "priority_countries": ["CN"],
    }
    [merged] = merge_duplicates(_records(spark, [patsnap, cnipa])).collect()
    assert merged.publication_number == "CN-104118566-A"
    assert merged.abstract == cnipa["abstract"]  # the longer abstract ranks first
    assert merged.abstract_en == BASE["abstract_en"]  # filled from the other record
    assert merged.forward_citations == 5 and merged.family_size == 1
    assert merged.priority_countries == ["CN"] and merged.merged_from == ["f0@r"]


def test_a_record_without_the_new_fields_keeps_its_content_hash(spark):
    old_content = [
        "title",
        "abstract",
        "language",
        "ipc_codes",
        "cpc_codes",
        "priority_date",
        "filing_date",
        "publication_date",
        "filing_year",
        "applicants",
        "applicant_countries",
        "jurisdiction",
        "cited_publications",
        "forward_citations",
        "family_id",
        "application_number",
    ]
    english = {"publication_number": "US10001996B2", "title": "Selective poisoning", "kind": "B2"}
    frame = _records(spark, [english]).select(
        content_hash().alias("now"),
        F.sha2(F.to_json(F.struct(*old_content)), 256).alias("before"),
    )
    row = frame.first()
    assert row.now == row.before
    with_new = _records(spark, [{**english, "priority_countries": ["US"]}])
    assert with_new.select(content_hash()).first()[0] != row.now
