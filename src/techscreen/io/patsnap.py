"""PatSnap (智慧芽) patent exports: xlsx or CSV with Chinese column headers.

An export has one row per publication and the columns the user ticked, named in Chinese
(``公开(公告)号``, ``申请日``, ``IPC分类号`` …); multi-valued cells join their values with
`` | `` and an empty cell is written ``-``. Headers are matched after NFKC normalisation
(full-width ``（）`` equal ``()``) and without spaces; each field has a few known names,
the first present wins, and a column the export lacks is simply absent.

==========================  ========================================  =====================
raw field                   PatSnap column(s)                          notes
==========================  ========================================  =====================
publication_number          公开(公告)号                               with office and kind
application_number          申请号                                     when exported
filing_date                 申请日
publication_date            公开(公告)日
applicants                  [标]当前申请(专利权)人, else 当前…,         standardised current
                            [标]原始申请(专利权)人, 原始…, 申请(专利权)人 owner first
jurisdiction                受理局 (中国 → CN, 欧洲专利局 → EP …)      only where the number
                                                                       lacks its office
priority_countries          优先权国家/地区                            `` | ``-separated
ipc_codes, main_ipc         IPC分类号, IPC主分类号                     main first
cpc_codes                   CPC分类号                                  when exported
title, abstract             标题(译)(简体中文), 摘要(译)(简体中文)      the Chinese text
title_en, abstract_en       标题(译)(English), 摘要(译)(English)        the English text
forward_citations           被引用专利数量                             cited-by count
backward_citations          引用专利数量                               citing count
family_size                 简单同族专利申请数量                       simple family
legal_status                法律状态/事件                              as written
==========================  ========================================  =====================

Text: ``title``/``abstract`` get the simplified-Chinese columns and ``title_en``/
``abstract_en`` the English ones. For a CN (or TW/HK) publication the Chinese is the
original; for other offices both are PatSnap's translations of an original the export does
not carry, and the Chinese one stays the record's text so that one export reads one way.
A title repeated for each family version (``A | A``) is kept once.

Units: CSV files are read by Spark (multi-line quoting; UTF-8 with or without BOM, else
GB18030, sniffed from the header) and each row becomes a unit as in
:func:`techscreen.io.base.rows_as_units`. Workbooks are read on executors, one task per
file (:mod:`techscreen.io.xlsx`); nothing passes through the driver.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Sequence
from functools import reduce
from typing import Any, ClassVar

from pyspark.sql import DataFrame, SparkSession

from techscreen.io.base import Reader, rows_as_units, union_units, with_source_file
from techscreen.io.encodings import allow_charset, read_head, sniff_encoding
from techscreen.io.records import Reason, RecordError, json_object
from techscreen.io.xlsx import find_header, is_xlsx, raise_if_unreadable, xlsx_units

PUBLICATION_NUMBER = "公开(公告)号"
_SIGNATURE = ("申请日", "公开(公告)日", "受理局", "IPC分类号", "IPC主分类号")  # 2+ of these
_NONE = {"", "-", "--", "—"}
_MULTI = re.compile(r"\s*\|\s*")

_SCALARS: dict[str, tuple[str, ...]] = {
    "publication_number": (PUBLICATION_NUMBER, "公开号", "公告号"),
    "application_number": ("申请号",),
    "filing_date": ("申请日",),
    "publication_date": ("公开(公告)日", "公开日", "公告日"),
    "main_ipc": ("IPC主分类号", "主分类号"),
    "title": ("标题(译)(简体中文)", "标题(简体中文)", "标题", "发明名称"),
    "title_en": ("标题(译)(English)", "标题(English)", "英文标题"),
    "abstract": ("摘要(译)(简体中文)", "摘要(简体中文)", "摘要"),
    "abstract_en": ("摘要(译)(English)", "摘要(English)", "英文摘要"),
    "forward_citations": ("被引用专利数量", "被引用次数"),
    "backward_citations": ("引用专利数量",),
    "family_size": ("简单同族专利申请数量", "简单同族数量"),
    "legal_status": ("法律状态/事件", "法律状态", "当前法律状态"),
    "receiving_office": ("受理局",),
}
_LISTS: dict[str, tuple[str, ...]] = {
    "applicants": (
        "[标]当前申请(专利权)人",
        "当前申请(专利权)人",
        "[标]原始申请(专利权)人",
        "原始申请(专利权)人",
        "申请(专利权)人",
    ),
    "priority_countries": ("优先权国家/地区", "优先权国家"),
    "ipc_codes": ("IPC分类号", "IPC"),
    "cpc_codes": ("CPC分类号", "CPC"),
}
_TEXTS = ("title", "title_en", "abstract", "abstract_en")

# 受理局 (receiving office) as PatSnap names it → office code. Unknown names give no
# jurisdiction; the publication number carries its office in every export seen.
OFFICES = {
    "中国": "CN",
    "中国香港": "HK",
    "中国澳门": "MO",
    "中国台湾": "TW",
    "美国": "US",
    "日本": "JP",
    "韩国": "KR",
    "德国": "DE",
    "法国": "FR",
    "英国": "GB",
    "俄罗斯": "RU",
    "巴西": "BR",
    "印度": "IN",
    "西班牙": "ES",
    "奥地利": "AT",
    "罗马尼亚": "RO",
    "乌克兰": "UA",
    "波兰": "PL",
    "以色列": "IL",
    "意大利": "IT",
    "比利时": "BE",
    "瑞士": "CH",
    "斯洛文尼亚": "SI",
    "泰国": "TH",
    "亚美尼亚": "AM",
    "印度尼西亚": "ID",
    "白俄罗斯": "BY",
    "墨西哥": "MX",
    "越南": "VN",
    "土耳其": "TR",
    "保加利亚": "BG",
    "克罗地亚": "HR",
    "丹麦": "DK",
    "加拿大": "CA",
    "澳大利亚": "AU",
    "新加坡": "SG",
    "荷兰": "NL",
    "瑞典": "SE",
    "芬兰": "FI",
    "挪威": "NO",
    "欧洲专利局": "EP",
    "欧洲": "EP",
    "世界知识产权组织": "WO",
    "欧亚专利局": "EA",
}


def column_key(name: str) -> str:
    """A header as matched: NFKC (full-width brackets → ASCII), no BOM, no spaces."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(name)).lstrip("\ufeff"))


def is_patsnap_header(names: Sequence[str]) -> bool:
    """True for a header with the publication-number column and two other PatSnap columns."""
    keys = {column_key(n) for n in names}
    return PUBLICATION_NUMBER in keys and sum(k in keys for k in _SIGNATURE) >= 2


def _csv_header(head: bytes) -> list[str]:
    text = head.decode(sniff_encoding(head).lower(), errors="replace").lstrip("\ufeff")
    first = text.splitlines()[0] if text.strip() else ""
    return next(csv.reader([first]), [])


class PatSnapReader(Reader):
    """PatSnap exports (``.xlsx`` workbooks and CSV files with Chinese headers)."""

    name: ClassVar[str] = "patsnap"

    def detect(self, path: str, head: bytes) -> bool:
        """Return True if the header row is a PatSnap one (opens a workbook to read it)."""
        if is_xlsx(path, head):
            return find_header(path, is_patsnap_header) is not None
        if head.startswith(b"PK") or b"\x00" in head[:1024]:
            return False
        return is_patsnap_header(_csv_header(head))

    def units(self, spark: SparkSession, files: Sequence[str]) -> DataFrame:
        """Workbook rows (one task per workbook) and CSV rows, keyed by publication number."""
        books = [f for f in files if f.lower().endswith((".xlsx", ".xlsm"))]
        tables = [f for f in files if f not in books]
        frames = []
        if books:
            frames.append(xlsx_units(spark, books, is_patsnap_header, PUBLICATION_NUMBER))
        if tables:
            frames.append(_csv_units(spark, tables))
        return union_units(spark, frames)

    def parse(self, payload: str) -> dict[str, Any]:
        """Map one export row to raw fields (see the module table).

        Raises:
            RecordError: ``BROKEN_ROW`` for a row that is not a JSON object, has no values,
                or stands for a workbook that could not be read.
        """
        row = json_object(payload, Reason.BROKEN_ROW)
        raise_if_unreadable(row)
        cells = {column_key(k): _value(v) for k, v in row.items()}
        if not any(cells.values()):
            raise RecordError(Reason.BROKEN_ROW, "row has no values")

        def first(names: tuple[str, ...]) -> str | None:
            return next((cells[n] for n in names if cells.get(n)), None)

        raw: dict[str, Any] = {field: first(names) for field, names in _SCALARS.items()}
        for field, names in _LISTS.items():
            raw[field] = list(dict.fromkeys(_split(first(names))))
        for field in _TEXTS:
            raw[field] = _collapse_repeats(raw[field])
        # Chinese-language exports may name the offices (美国) where this one writes codes.
        raw["priority_countries"] = list(
            dict.fromkeys(OFFICES.get(c, c) for c in raw["priority_countries"])
        )
        if raw["main_ipc"]:
            raw["ipc_codes"] = list(dict.fromkeys([raw["main_ipc"], *raw["ipc_codes"]]))
        office = raw.pop("receiving_office")
        code = OFFICES.get(office, office if office and re.fullmatch("[A-Z]{2}", office) else None)
        number = raw["publication_number"] or ""
        # The number's own office prefix is authoritative; the receiving office only fills in.
        raw["jurisdiction"] = code if code and not re.match("[A-Za-z]{2}", number) else None
        return raw


def _value(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return None if text in _NONE else text


def _split(value: str | None) -> list[str]:
    if not value:
        return []
    return [p for p in _MULTI.split(value) if p.strip() and p.strip() not in _NONE]


def _collapse_repeats(text: str | None) -> str | None:
    """``A | A`` (one title per family version) → ``A``; differing parts are kept as written."""
    if not text:
        return text
    parts = {p.strip() for p in text.split(" | ")}
    return parts.pop() if len(parts) == 1 else text


def _csv_units(spark: SparkSession, files: Sequence[str]) -> DataFrame:
    frames = []
    for path in files:
        encoding = sniff_encoding(read_head(path))
        allow_charset(spark, encoding)
        frame = spark.read.csv(
            path,
            header=True,
            multiLine=True,
            quote='"',
            escape='"',
            encoding=encoding,
            inferSchema=False,
            mode="PERMISSIVE",
        )
        # Headers as matched (a BOM or full-width brackets must not hide the key column).
        frame = frame.toDF(*[column_key(c) for c in frame.columns])
        if PUBLICATION_NUMBER not in frame.columns:
            raise ValueError(f"PatSnap CSV {path} has no {PUBLICATION_NUMBER!r} column")
        frames.append(with_source_file(frame))
    frame = reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), frames)
    return rows_as_units(frame, PUBLICATION_NUMBER)
