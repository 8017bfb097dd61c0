"""Tests of the USPTO grant XML reader against real ipg documents (DTD v4.0 and v4.2), a
hand-written v4.5 document, and hostile inputs.

Expected values were read by eye from the fixture files (see tests/fixtures/uspto_xml/SOURCE.md),
not produced by the parser.
"""

from __future__ import annotations

import contextlib
import gzip
import random
import time
from pathlib import Path

import pytest

from techscreen import normalize
from techscreen.ingest.validate import Rules, validate
from techscreen.io.records import Reason, RecordError
from techscreen.io.uspto_xml import UsptoGrantXmlReader, _legacy_ipc

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
XML_DIR = FIXTURES / "uspto_xml"
BAD = FIXTURES / "bad" / "bad_grants.xml"
V40 = XML_DIR / "ipg050104_v40.xml.gz"
V42_2007 = XML_DIR / "ipg070102_v42.xml"
V42_2008 = XML_DIR / "ipg080101_v42.xml"
V42_2012 = XML_DIR / "ipg120103_v42.xml"
V45 = XML_DIR / "synthetic_v45.xml"
REAL_FILES = (V40, V42_2007, V42_2008, V42_2012)

reader = UsptoGrantXmlReader()
RULES = Rules(20000, "drop")


def _bytes(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()


def _units(path: Path) -> list[str]:
    """Units as Spark makes them: text decoded with U+FFFD for bad bytes, ``<?xml`` consumed."""
    text = _bytes(path).decode("utf-8", errors="replace")
    return [u for u in text.split("<?xml") if u.strip()]


def _doc(path: Path, index: int) -> dict:
    return reader.parse(_units(path)[index])


def _reason(payload: str) -> Reason:
    with pytest.raises(RecordError) as caught:
        reader.parse(payload)
    return caught.value.reason


# --------------------------------------------------------------------------- real documents


def test_v40_first_document_all_fields():
    rec = _doc(V40, 0)
    assert rec["publication_number"] == "US06836899B1"
    assert rec["kind"] == "B1"
    assert rec["application_number"] == "US10339710"
    assert rec["filing_date"] == "20030109"
    assert rec["publication_date"] == "20050104"
    assert rec["priority_date"] is None
    assert rec["jurisdiction"] == "US"
    assert rec["title"] == "Device for detachably holding an absorbent napkin across the torso"
    assert rec["abstract"].startswith(
        "A napkin holder formed of two pairs of magnetic securing devices attached"
    )
    # v4.0 fixed-width IPC "A45F  504" (edition 7) is A45F 5/04.
    assert rec["ipc_codes"] == ["A45F 5/04"]
    assert rec["cpc_codes"] == []
    # No assignee: the (inventor-)applicant is used, with his residence country.
    assert rec["applicants"] == ["Samuel G. Glasmire"]
    assert rec["applicant_countries"] == ["US"]
    assert len(rec["cited_publications"]) == 39
    assert rec["cited_publications"][0] == "US675108A"
    assert rec["forward_citations"] is None


def test_the_declared_language_is_read_not_guessed():
    unit = _units(V40)[0]
    assert 'lang="EN"' in unit[:400]
    assert reader.parse(unit)["language"] == "en"
    # English text declared French stays French: the declaration wins over the classifier
    row = validate(reader.parse(unit.replace('lang="EN"', 'lang="FR"', 1)), RULES)
    assert row["language"] == "fr"
    undeclared = reader.parse(unit.replace('lang="EN"', "", 1))
    assert undeclared["language"] is None and validate(undeclared, RULES)["language"] == "en"


def test_v40_priority_foreign_citations_and_legacy_ipc():
    rec = _doc(V40, 1)
    assert rec["publication_number"] == "US06836979B2"
    assert rec["priority_date"] == "20021127"  # IT BG2002A000039
    assert rec["filing_date"] == "20030510"
    assert rec["title"] == "Shoe structure"
    assert rec["ipc_codes"] == ["A43B 13/14", "A43B 23/00"]
    assert rec["applicant_countries"] == ["IT"]
    assert len(rec["cited_publications"]) == 17
    # <country>WO</country><doc-number>WO 9839984</doc-number>: the office is not doubled.
    assert "WO 9839984" in rec["cited_publications"]
    assert not any(c.startswith("WOWO") for c in rec["cited_publications"])

    bayer = _doc(V40, 2)
    assert bayer["publication_number"] == "US06838578B2"
    assert bayer["title"] == "Process for preparing (cyclo)aliphatic isocyanates"
    assert bayer["ipc_codes"] == ["C07C 249/00"]  # "C07C24900": three-digit main group
    assert bayer["applicants"] == ["Bayer Aktiengesellschaft"]
    assert bayer["applicant_countries"] == ["DE"]
    assert bayer["priority_date"] == "20010711"
    assert len(bayer["cited_publications"]) == 7


def test_v42_design_and_utility_2007():
    design = _doc(V42_2007, 0)
    assert design["publication_number"] == "USD0534463S1"
    assert design["kind"] == "S1"
    assert design["title"] == "Bumper for automobiles"
    assert design["abstract"] is None  # design patents have no abstract
    assert design["ipc_codes"] == []  # only a Locarno class, which is not IPC
    assert design["applicants"] == ["Grand HC Auto Tooling Corp."]
    assert design["applicant_countries"] == ["TW"]
    assert design["filing_date"] == "20051208"
    assert len(design["cited_publications"]) == 5

    volvo = _doc(V42_2007, 1)
    assert volvo["publication_number"] == "US07155908B2"
    assert volvo["application_number"] == "US10460321"
    assert volvo["priority_date"] == "20030212"
    assert volvo["filing_date"] == "20030612"
    assert volvo["publication_date"] == "20070102"
    assert volvo["title"] == "Hydraulic system for heavy equipment option apparatus"
    assert volvo["abstract"].startswith(
        "The present invention is directed to controlling an operation oil supplied"
    )
    assert volvo["ipc_codes"] == ["F16D 31/02"]
    assert volvo["applicants"] == ["Volvo Construction Equipment Holding Sweden AB"]
    assert volvo["applicant_countries"] == ["SE"]
    # references-cited holds 7 patcit and 2 nplcit: only the patents count.
    assert len(volvo["cited_publications"]) == 7
    assert volvo["cited_publications"][0] == "US4210061A"


def test_sequence_listing_in_a_weekly_file_is_not_a_patent():
    assert _reason(_units(V42_2007)[2]) is Reason.NOT_A_PATENT


def test_v42_plant_patent_2008_inline_markup_and_character_references():
    plant = _doc(V42_2008, 0)
    assert plant["publication_number"] == "USPP018398P2"
    assert plant["title"] == "Sedum telephium plant named \u2018Beka\u2019"
    assert plant["abstract"] == (
        "A new, distinct Sedum telephium plant as shown and described, characterized by a thin"
        " green edge and chartreuse yellow center to the foliage."
    )
    assert plant["ipc_codes"] == ["A01H 5/00"]
    assert plant["cited_publications"] == []
    assert plant["applicants"] == ["Brent Horvath"]

    siemens = _doc(V42_2008, 1)
    assert siemens["publication_number"] == "US07314311B2"
    assert siemens["applicants"] == ["Siemens Aktiengesellschaft"]
    assert siemens["applicant_countries"] == ["DE"]
    assert siemens["priority_date"] == "20041130"
    assert siemens["ipc_codes"] == ["G01D 18/00"]
    assert len(siemens["cited_publications"]) == 5


def test_v42_2012():
    design = _doc(V42_2012, 0)
    assert design["publication_number"] == "USD0651432S1"
    assert design["title"] == "Table base"
    assert design["applicants"] == ["Bradford L. Davis"]
    assert len(design["cited_publications"]) == 6

    rail = _doc(V42_2012, 1)
    assert rail["publication_number"] == "US08087209B2"
    assert rail["title"] == "Edging rail for a flooring"
    assert rail["abstract"].startswith("An edging rail for a flooring (2) has a base member (3)")
    assert rail["applicants"] == ["Kueberit Profile Systems GmbH & Co. KG"]  # from &#x26;
    assert rail["applicant_countries"] == ["DE"]
    assert rail["priority_date"] == "20090127"
    assert rail["filing_date"] == "20100125"
    assert rail["ipc_codes"] == ["E04C 2/38"]
    assert len(rail["cited_publications"]) == 16

    cafe = _doc(V42_2012, 2)
    assert cafe["publication_number"] == "US08088241B2"
    assert cafe["ipc_codes"] == ["B32B 37/02", "B32B 38/04"]
    assert cafe["applicants"] == ["CAFEPRESS.COM"]
    assert "appliqu\u00e9" in cafe["abstract"]
    assert len(cafe["cited_publications"]) == 3


def test_v45_layout_synthetic():
    rec = _doc(V45, 0)
    assert rec["publication_number"] == "US09990001B2"
    assert rec["priority_date"] == "20141210"  # the earlier of two claims, not the first listed
    assert rec["title"] == "Substrate heating apparatus with a segmented H2 purge"
    # Paragraphs joined with one space, whitespace collapsed; &mdash; resolved without the DTD.
    assert rec["abstract"] == (
        "A substrate heating apparatus includes a chamber\u2014with a segmented purge"
        " line\u2014and a heater. The purge gas is H2 at low pressure."
    )
    assert rec["ipc_codes"] == ["H01L 21/67"]
    assert rec["cpc_codes"] == ["H01L 21/67109", "G03F 7/70875"]
    assert rec["applicants"] == ["Example Thermal Systems Co., Ltd.", "Example Wafer GmbH"]
    assert rec["applicant_countries"] == ["KR", "DE"]
    # us-references-cited: two patcit, one nplcit skipped.
    assert rec["cited_publications"] == ["US6001234A", "KR10-2010-0123456A"]

    no_assignee = _doc(V45, 1)
    assert no_assignee["applicants"] == ["Giulia Rossi"]  # us-applicant fallback
    assert no_assignee["applicant_countries"] == ["IT"]
    assert no_assignee["cited_publications"] == ["USD0700001S"]


def test_every_real_value_normalises():
    """What the reader emits is accepted by normalisation (US06836899B1 -> US-6836899-B1 ...)."""
    seen = 0
    for path in (*REAL_FILES, V45):
        for unit in _units(path):
            try:
                rec = reader.parse(unit)
            except RecordError as exc:
                assert exc.reason is Reason.NOT_A_PATENT
                continue
            seen += 1
            assert normalize.publication_number(rec["publication_number"]).startswith("US-")
            for field in ("priority_date", "filing_date", "publication_date"):
                normalize.parse_date(rec[field])
            for code in rec["ipc_codes"] + rec["cpc_codes"]:
                normalize.class_code(code)
            for country in rec["applicant_countries"]:
                normalize.country(country)
            assert rec["title"]
    assert seen == 12
    assert normalize.publication_number(_doc(V40, 0)["publication_number"]) == "US-6836899-B1"
    assert normalize.class_code(_doc(V40, 2)["ipc_codes"][0]) == "C07C 249/00"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("A45F  504", "A45F 5/04"),
        ("A43B 1314", "A43B 13/14"),
        ("C07C24900", "C07C 249/00"),
        ("H01L 21302", "H01L 21/302"),
        ("7H01L 21/67", "H01L 21/67"),
        ("H01L 21/67", "H01L 21/67"),
        ("G06F", "G06F"),
        ("  ", None),
        ("rubbish", "rubbish"),  # passed on for validation to flag, not silently dropped
    ],
)
def test_legacy_ipc_strings(raw, expected):
    assert _legacy_ipc(raw) == expected


# --------------------------------------------------------------------------- detect


def test_detect():
    for path in (*REAL_FILES, V45, BAD):
        assert reader.detect(str(path), _bytes(path)[:65536]), path
    assert reader.detect("x.xml", b"\xef\xbb\xbf<?xml version='1.0'?>\n<us-patent-grant lang='EN'>")
    assert not reader.detect("x.json", b'{"kind": "us-patent-grant", "n": 1}')
    assert not reader.detect(
        "ipa.xml",
        b'<?xml version="1.0"?>\n<!DOCTYPE us-patent-application SYSTEM "x.dtd" [ ]>\n'
        b"<us-patent-application>",
    )
    assert not reader.detect("seq.xml", _units(V42_2007)[2].encode()[:2000])
    assert not reader.detect("empty.xml", b"")


# --------------------------------------------------------------------------- hostile input

_GRANT = (
    '<?xml version="1.0" encoding="UTF-8"?>\n{doctype}'
    "<us-patent-grant><us-bibliographic-data-grant><publication-reference><document-id>"
    "<country>US</country><doc-number>07900099</doc-number><kind>B2</kind>"
    "</document-id></publication-reference><invention-title>{title}</invention-title>"
    "</us-bibliographic-data-grant></us-patent-grant>"
)


@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_text("TOPSECRET-7f3a\n")
    return path


def test_xxe_general_entity_is_forbidden_and_nothing_is_read(secret):
    payload = _GRANT.format(
        doctype=f'<!DOCTYPE us-patent-grant [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>\n',
        title="&xxe;",
    )
    with pytest.raises(RecordError) as caught:
        reader.parse(payload)
    assert caught.value.reason is Reason.FORBIDDEN_XML
    assert "TOPSECRET" not in str(caught.value)


def test_xxe_parameter_entity_is_forbidden(secret):
    payload = _GRANT.format(
        doctype=f'<!DOCTYPE us-patent-grant [<!ENTITY % p SYSTEM "{secret.as_uri()}"> %p;]>\n',
        title="t",
    )
    assert _reason(payload) is Reason.FORBIDDEN_XML


def test_external_dtd_is_never_loaded(tmp_path):
    # If the DTD were fetched, &leak; would expand to its secret; it must stay undefined.
    dtd = tmp_path / "evil.dtd"
    dtd.write_text('<!ENTITY leak "TOPSECRET-7f3a">')
    payload = _GRANT.format(
        doctype=f'<!DOCTYPE us-patent-grant SYSTEM "{dtd.as_uri()}" [ ]>\n', title="&leak;"
    )
    with pytest.raises(RecordError) as caught:
        reader.parse(payload)
    assert caught.value.reason is Reason.BROKEN_XML
    assert "TOPSECRET" not in str(caught.value)
    # The same external DTD with no reference into it is harmless: the document parses.
    harmless = _GRANT.format(
        doctype=f'<!DOCTYPE us-patent-grant SYSTEM "{dtd.as_uri()}" [ ]>\n', title="Fine"
    )
    assert reader.parse(harmless)["title"] == "Fine"


def test_entity_bombs_are_refused_quickly():
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 12))
    billion = _GRANT.format(
        doctype=f'<!DOCTYPE us-patent-grant [<!ENTITY l0 "lol">{laughs}]>\n', title="&l11;"
    )
    quadratic = _GRANT.format(
        doctype=f'<!DOCTYPE us-patent-grant [<!ENTITY a "{"x" * 50_000}">]>\n',
        title="&a;" * 50_000,
    )
    start = time.monotonic()
    assert _reason(billion) is Reason.FORBIDDEN_XML
    assert _reason(quadratic) is Reason.FORBIDDEN_XML
    assert time.monotonic() - start < 5


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("", Reason.BROKEN_XML),
        ("\ufeff\n", Reason.BROKEN_XML),
        ("this is not xml at all", Reason.BROKEN_XML),
        (_GRANT.format(doctype="", title="&mdash;"), Reason.BROKEN_XML),  # no DOCTYPE: undefined
        (_GRANT.format(doctype="", title="A\ufffdB"), Reason.UNDECODABLE),
        (_GRANT.format(doctype="", title="A\ud800B"), Reason.UNDECODABLE),  # lone surrogate
        (_GRANT.format(doctype="", title="x")[:150], Reason.BROKEN_XML),
        (_GRANT.format(doctype="", title="x") + "<us-patent-grant/>", Reason.BROKEN_XML),
        ('<?xml version="1.0"?><us-patent-application/>', Reason.NOT_A_PATENT),
    ],
)
def test_bad_payloads(payload, reason):
    assert _reason(payload) is reason


def test_well_formed_grant_missing_everything_still_parses():
    rec = reader.parse('<?xml version="1.0"?><us-patent-grant/>')
    assert rec["publication_number"] is None  # validation quarantines it (no number)
    assert rec["ipc_codes"] == [] and rec["cited_publications"] == []


def test_placeholder_priority_date_does_not_win():
    claims = "".join(
        f"<priority-claim><country>JP</country><date>{d}</date></priority-claim>"
        for d in ("20030405", "00000000", "20011231")
    )
    payload = _GRANT.format(doctype="", title="t").replace(
        "<invention-title>", f"<priority-claims>{claims}</priority-claims><invention-title>"
    )
    assert reader.parse(payload)["priority_date"] == "20011231"


def test_mangled_real_documents_never_raise_anything_but_record_error():
    text = _units(V42_2007)[1]
    rng = random.Random(20240101)
    for _ in range(150):
        cut = rng.randrange(len(text))
        junk = rng.choice(["<", "&", "]]>", "<!ENTITY x 'y'>", "\x00", "\ufffd", "<?xml"])
        for mangled in (text[:cut], text[:cut] + junk + text[cut:]):
            # Any exception other than RecordError fails the test.
            with contextlib.suppress(RecordError):
                reader.parse(mangled)


def test_bad_grants_fixture():
    units = _units(BAD)
    assert len(units) == 7
    good = reader.parse(units[0])
    assert good["publication_number"] == "US07473832B2"
    assert good["title"] == "Mouthpiece assembly for saxophone and other similar instruments"
    assert good["applicants"] == ["Wanne, Inc."]
    assert good["ipc_codes"] == ["G10D 9/02"]
    assert len(good["cited_publications"]) == 3
    assert [_reason(u) for u in units[1:5]] == [
        Reason.BROKEN_XML,
        Reason.FORBIDDEN_XML,
        Reason.FORBIDDEN_XML,
        Reason.UNDECODABLE,
    ]
    empty = reader.parse(units[5])
    assert empty["publication_number"] == "US07900006B2"
    assert empty["title"] is None and empty["abstract"] is None
    bad_ipc = reader.parse(units[6])
    assert bad_ipc["ipc_codes"] == ["X99Z ABC/00"]
    with pytest.raises(ValueError):
        normalize.class_code(bad_ipc["ipc_codes"][0])


# --------------------------------------------------------------------------- Spark


def test_spark_units_match_documents_and_parse(spark):
    files = [*REAL_FILES, V45, BAD]
    rows = reader.units(spark, [str(p) for p in files]).collect()
    by_file: dict[str, list] = {}
    for row in rows:
        by_file.setdefault(Path(row.source_file.removeprefix("file:")).name, []).append(row)
    for path in files:
        expected = _bytes(path).count(b"<?xml")
        got = sorted(by_file[path.name], key=lambda r: int(r.record_location.split("=")[1]))
        assert len(got) == expected, path.name
        outcomes = []
        for row in got:
            try:
                outcomes.append(reader.parse(row.payload)["publication_number"])
            except RecordError as exc:
                outcomes.append(exc.reason)
        if path == BAD:
            assert outcomes == [
                "US07473832B2",
                Reason.BROKEN_XML,
                Reason.FORBIDDEN_XML,
                Reason.FORBIDDEN_XML,
                Reason.UNDECODABLE,  # raw Latin-1 bytes arrive from Hadoop as U+FFFD
                "US07900006B2",
                "US07900007B2",
            ]
        elif path == V42_2007:
            assert outcomes == ["USD0534463S1", "US07155908B2", Reason.NOT_A_PATENT]
        else:
            assert all(isinstance(o, str) and o.startswith("US") for o in outcomes), outcomes
        offsets = [r.record_location for r in got]
        assert len(set(offsets)) == len(offsets), path.name
    # The gzip file is read whole and still cut into its three documents.
    assert len(by_file[V40.name]) == 3


# --------------------------------------------------------------------------- real DTD v4.3 (2013)

# First four documents of the weekly file of 2013-04-16 (see SOURCE.md); expected values were
# read by eye from the document text. Citation counts: the <patcit num="..."> entries of each
# document, numbered 00001..N without gaps before the <nplcit> entries, also checked with
# ``grep -c '<patcit '`` on each document's text.
V43 = XML_DIR / "ipg130416_v43.xml"


def test_v43_real_file_has_four_grants():
    units = _units(V43)
    assert len(units) == 4
    assert [reader.parse(u)["publication_number"] for u in units] == [
        "USD0680087S1",
        "USD0680199S1",
        "US08418361B2",
        "US08418590B2",
    ]
    assert reader.detect(str(V43), _bytes(V43)[:65536])


def test_v43_design_patent_with_foreign_priority():
    rec = _doc(V43, 0)
    assert rec["publication_number"] == "USD0680087S1"
    assert rec["kind"] == "S1"
    assert rec["application_number"] == "US29410027"
    assert rec["filing_date"] == "20120103"
    assert rec["publication_date"] == "20130416"
    assert rec["priority_date"] == "20110704"  # JP 2011-015204
    assert rec["title"] == "Television set"
    assert rec["abstract"] is None  # designs have no abstract
    assert rec["ipc_codes"] == []  # only classification-locarno and classification-national
    assert rec["cpc_codes"] == []
    # us-applicants are the four inventors; the assignee wins.
    assert rec["applicants"] == ["Sharp Kabushiki Kaisha"]
    assert rec["applicant_countries"] == ["JP"]
    # 81 patcit in us-references-cited (US design patents), 5 nplcit skipped.
    assert len(rec["cited_publications"]) == 81
    assert rec["cited_publications"][0] == "USD427169S"
    assert rec["cited_publications"][-1] == "USD666165S"
    assert all(c.startswith("USD") and c.endswith("S") for c in rec["cited_publications"])

    faucet = _doc(V43, 1)
    assert faucet["kind"] == "S1"
    assert faucet["priority_date"] is None
    assert faucet["applicants"] == ["Masco Corporation of Indiana"]
    assert faucet["applicant_countries"] == ["US"]
    assert faucet["cited_publications"] == [
        "USD465266S",
        "USD520604S",
        "USD569486S",
        "USD578614S",
        "USD655787S",
    ]


def test_v43_utility_pcb_patent():
    rec = _doc(V43, 2)
    assert rec["publication_number"] == "US08418361B2"
    assert rec["kind"] == "B2"
    assert rec["application_number"] == "US13299685"
    assert rec["filing_date"] == "20111118"
    assert rec["publication_date"] == "20130416"
    assert rec["priority_date"] == "20080415"  # KR 10-2008-0034874; the division is not one
    assert rec["title"] == "Method of manufacturing printed circuit board having landless via hole"
    assert rec["abstract"].startswith(
        "Method of manufacturing printed circuit board, including: providing a substrate"
    )
    assert rec["abstract"].endswith("thus forming a second circuit layer.")
    assert rec["ipc_codes"] == ["H05K 3/02"]
    assert rec["cpc_codes"] == []  # v4.3 has no classifications-cpc
    assert rec["applicants"] == ["Samsung Electro-Mechanics Co., Ltd."]
    assert rec["applicant_countries"] == ["KR"]
    # 7 patcit (4 US grants, 1 US publication, JP, KR); nplcit 00008-00010 skipped.
    assert rec["cited_publications"] == [
        "US5817405A",
        "US6490170B2",
        "US7858885B2",
        "US8276270B2",
        "US2005/0139391A1",
        "JP2005-167154",
        "KR100688702",
    ]


def test_v43_utility_miter_saw_patent():
    rec = _doc(V43, 3)
    assert rec["publication_number"] == "US08418590B2"
    assert rec["kind"] == "B2"
    assert rec["application_number"] == "US12132686"
    assert rec["filing_date"] == "20080604"
    assert rec["publication_date"] == "20130416"
    assert rec["priority_date"] is None  # no priority-claims
    assert rec["title"] == (
        "Miter saws having locking assemblies for optimal positioning of cutting blades"
    )
    assert rec["abstract"].startswith(
        "A miter saw includes a base, and a table disposed on the base, the table having"
    )
    # Two classification-ipcr (symbol positions F and L), in document order.
    assert rec["ipc_codes"] == ["B26D 1/14", "B26D 5/02"]
    assert rec["applicants"] == ["Black & Decker Inc."]  # from &#x26;
    # The assignee's address has <state>DE</state> (Delaware) and <country>US</country>.
    assert rec["applicant_countries"] == ["US"]
    # 29 patcit: 25 US (grants and publications), DE 3744716, 3216935, 3807158, EP 1419862.
    cited = rec["cited_publications"]
    assert len(cited) == 29
    assert cited[:2] == ["US882296A", "US1489965A"]
    assert cited[-4:] == ["DE3744716", "DE3216935", "DE3807158", "EP1419862"]


def test_v43_real_values_normalise():
    for unit in _units(V43):
        rec = reader.parse(unit)
        assert normalize.publication_number(rec["publication_number"]).startswith("US-")
        for field in ("filing_date", "publication_date"):
            normalize.parse_date(rec[field])
        if rec["priority_date"] is not None:
            normalize.parse_date(rec["priority_date"])
        for code in rec["ipc_codes"]:
            normalize.class_code(code)
        for country in rec["applicant_countries"]:
            normalize.country(country)
    assert normalize.class_code(_doc(V43, 3)["ipc_codes"][1]) == "B26D 5/02"


def test_v43_spark_units_match_documents(spark):
    rows = reader.units(spark, [str(V43)]).collect()
    got = sorted(rows, key=lambda r: int(r.record_location.split("=")[1]))
    assert len(got) == 4
    assert [reader.parse(r.payload)["publication_number"] for r in got] == [
        "USD0680087S1",
        "USD0680199S1",
        "US08418361B2",
        "US08418590B2",
    ]
