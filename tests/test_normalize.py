import datetime as dt

import pytest

from techscreen import normalize as n


@pytest.mark.parametrize(
    ("raw", "kwargs", "expected"),
    [
        ("US07654321B2", {}, "US-7654321-B2"),
        ("US 7,654,321 B2", {}, "US-7654321-B2"),
        ("7654321", {"country": "US", "kind": "B2"}, "US-7654321-B2"),
        ("WO_2008_155316_A1", {}, "WO-2008155316-A1"),
        ("WO 2008/155316 A1", {}, "WO-2008155316-A1"),
        ("CN 112345678 B", {}, "CN-112345678-B"),
        ("CN1234567A", {}, "CN-1234567-A"),
        ("US20230000001A1", {}, "US-20230000001-A1"),
        ("USD0512345S1", {}, "US-D512345-S1"),
        ("D512345", {"country": "US"}, "US-D512345"),
        ("USRE045678E", {}, "US-RE45678-E"),
        ("CN200580010012.1", {}, "CN-200580010012"),
        ("CN200910098961.X", {}, "CN-200910098961"),
        ("JP S60172932 A", {}, "JP-S60172932-A"),
        ("TW I303249 B", {}, "TW-I303249-B"),
        ("SG 11201502189U A", {}, "SG-11201502189U-A"),
        ("JPWO2015151262A1", {}, "JP-WO2015151262-A1"),
        ("RE49012", {"country": "US"}, "US-RE49012"),
    ],
)
def test_publication_number_forms_agree(raw, kwargs, expected):
    assert n.publication_number(raw, **kwargs) == expected


# Chinese numbers: each group is one document written as different sources write it.
CHINESE_FORMS = {
    "CN-200580010012": [
        "CN200580010012.1",  # application number with its check digit (CNIPA, cn_agri)
        "CN 200580010012.1",
        "CN2005800100121",  # check digit run on
        "ZL200580010012.1",  # granted patent number: ZL + application number
        "ZL 200580010012.1",
        "CN200580010012",
    ],
    "CN-1234567-A": ["CN1234567A", "CN 1234567 A", "CN-1234567-A", "ＣＮ１２３４５６７Ａ"],
    "CN-112345678-B": ["CN 112345678 B", "CN112345678B", "CN_112345678_B", "CN0112345678B"],
    "CN-02123456": ["CN02123456.7", "CN 02 1 23456.7"],  # 2002: the leading zero is the year
}


@pytest.mark.parametrize(("expected", "forms"), list(CHINESE_FORMS.items()))
def test_chinese_numbers_from_different_sources_agree(expected, forms):
    assert {n.publication_number(f) for f in forms} == {expected}


def test_chinese_numbers_with_an_assumed_office():
    assert n.publication_number("200580010012.1", country="CN") == "CN-200580010012"
    assert n.publication_number("ZL200580010012.1", country="CN") == "CN-200580010012"
    assert n.publication_number("112345678", country="CN", kind="B") == "CN-112345678-B"


def test_chinese_check_digit():
    assert n.cn_check_digit("200580010012") == "1"
    assert n.cn_check_digit("200910098961") == "X"  # CN200910098961.X
    assert n.cn_check_digit("96121602") == "6"  # 8-digit form (1985-2003): CN96121602.6
    assert n.cn_check_digit("00129265") == "X"  # CN00129265.X
    assert n.publication_number("CN00129265.X") == "CN-00129265"
    # a 13th digit that is not the check digit is part of the number, not dropped
    assert n.publication_number("CN2005800100122") == "CN-2005800100122"


def test_serials_with_inner_letters_and_full_width_codes():
    assert n.publication_number("IN1604DELNP2013A") == "IN-1604DELNP2013-A"
    assert n.publication_number("ID2020PID02266A") == "ID-2020PID02266-A"
    assert n.class_code("Ｂ６４Ｃ２７／１２") == "B64C 27/12"


@pytest.mark.parametrize("raw", ["", "   ", "7654321", "hello world", "US-"])
def test_publication_number_rejects(raw):
    with pytest.raises(ValueError):
        n.publication_number(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("C22C38/02", "C22C 38/02"),
        ("C22C  38/02", "C22C 38/02"),
        ("c22c 38/02", "C22C 38/02"),
        ("C22C0038020000", "C22C 38/02"),
        ("H01L0021670000", "H01L 21/67"),
        ("H04N  21", "H04N 21/00"),
        ("A01B", "A01B"),
        ("A61K2039/55555", "A61K 2039/55555"),
        ("Y02E 60/12", "Y02E 60/12"),
    ],
)
def test_class_code_forms(raw, expected):
    assert n.class_code(raw) == expected


@pytest.mark.parametrize(
    "raw", ["Y60PP", "22C 38/02", "C22 38/02", "ZZZZ 1/00", "C22C 38/02/1", ""]
)
def test_class_code_rejects(raw):
    with pytest.raises(ValueError):
        n.class_code(raw)


def test_groups_of_codes():
    assert n.subclass("C22C 38/02") == "C22C"
    assert n.main_group("C22C 38/02") == "C22C 38/00"


def test_dates():
    assert n.parse_date("20230105") == dt.date(2023, 1, 5)
    assert n.parse_date("2023-01-05T00:00:00Z") == dt.date(2023, 1, 5)
    assert n.parse_date("") is None
    for bad in ("2023-02-30", "01/01/1700", "soon", "99999999"):
        with pytest.raises(ValueError):
            n.parse_date(bad)
    with pytest.raises(ValueError, match="outside"):
        n.parse_date("2031-01-01", today=dt.date(2026, 11, 23))


def test_countries():
    assert n.country(" cn ") == "CN"
    assert n.country("UK") == "GB"
    assert n.country("") is None
    with pytest.raises(ValueError):
        n.country("CHN")
