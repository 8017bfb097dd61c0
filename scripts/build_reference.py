"""Build data/reference/ipc_titles.tsv.gz and cpc_titles.tsv.gz: class titles for node labels.

Users do not have the shared data folder, so the repository bundles compact title tables for
IPC/CPC **subclasses and main groups** (``A01B``, ``A01B 1/00``; codes in the normalised form
of :func:`techscreen.normalize.class_code`). Subgroup titles are left out: labels use main
groups, and a subgroup falls back to its main group
(:class:`techscreen.cluster.labels.ClassTitles`).

Sources (each folder's ``SOURCE.md`` describes it):

* ``ipc_titles/all_ipc.tsv`` — English IPC titles (2020.01), packed 14-character group codes.
  Titles continued on indented lines are joined; where a code appears twice (a guide heading
  followed by the group itself) the later line, the group's own title, wins. Parenthesised
  references ("(making ... A01C0005000000)") are removed; packed codes left in running text
  are written in normalised form.
* ``ipc_titles_zh/ipc_titles_zh.tsv`` — Chinese IPC titles. Some rows carry the title of
  another group, prefixed by that group's code, under a truncated key (``A45D2/00`` →
  ``A45D 20/00 头发干燥装置``); such rows are re-keyed to the code they start with, unless the
  code on their own key also has a title. Version markers (``〔4〕``) and references are removed.
* ``cpc_scheme_titles_2019/cpc_scheme_titles_2019_08.tsv.gz`` — CPC 2019.08 titles: level 5
  (subclass) and 7 (main group).
* ``cpc_subclass_titles/CPC_codes_upto_subclass.csv`` — CPC subclass titles (newer, and
  complete where the 2019 extract lost title parts), plus subclasses the 2019 snapshot lacks;
  mojibake ``Â`` (a mis-decoded no-break space) is repaired.

Output is deterministic: rows sorted by subclass and main-group number, UTF-8 TSV with a
header (csv module, tab delimiter, minimal quoting), gzip with mtime 0.

Usage::

    .venv/bin/python scripts/build_reference.py --shared <source data folder> --out data/reference
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import logging
import re
import sys
from collections.abc import Iterable
from pathlib import Path

from techscreen.normalize import class_code

log = logging.getLogger("build_reference")

_SUBCLASS = re.compile(r"^[A-HY]\d{2}[A-Z]$")
_MAIN_GROUP = re.compile(r"^[A-HY]\d{2}[A-Z] \d+/00$")
_PACKED = re.compile(r"[A-HY]\d{2}[A-Z]\d{10}(?!\d)")
# What marks a parenthesised group as a reference: a class symbol in any form.
_REFERENCE = re.compile(
    r"[A-HY]\d{2}[A-Z]\d{10}|(?<![A-Za-z0-9])[A-HY]\d{2}(?:[A-Z](?![a-z]))?(?![0-9])"
)
_ZH_MARKER = re.compile(r"[〔\[［][0-9０-９,，.\s]+[〕\]］]")
_ZH_LEADING_CODE = re.compile(r"^\s*([A-HY]\d{2}[A-Z]\s?\d+/\d+)(?!\d)\s*(?![至到组，、或和及,])")
_OPEN = "({（｛"
_CLOSE = ")}）｝"


def is_kept(code: str) -> bool:
    """True for a normalised subclass or main-group code."""
    return bool(_SUBCLASS.match(code) or _MAIN_GROUP.match(code))


def _packed_to_normal(match: re.Match[str]) -> str:
    start = match.start()
    glued = start > 0 and match.string[start - 1].isalpha()  # "main groupsB29K0407000000"
    return (" " if glued else "") + class_code(match.group(0))


def unquote_csv(text: str) -> str:
    """Undo CSV quoting left in a source field (``"e.g. ""axial"" rolling"``)."""
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1].replace('""', '"')
    return text


def strip_references(text: str) -> str:
    """Drop parenthesised/braced groups that cite class symbols; tidy the punctuation left.

    Groups without a class symbol ("(NSAIDs)", "(CHEMICAL PART)") stay; curly braces (CPC
    additions to IPC titles) are unwrapped when their content stays.
    """
    out: list[str] = []
    stack: list[int] = []  # start positions (in out) of open groups
    for ch in text:
        if ch in _OPEN:
            stack.append(len(out))
            out.append(ch)
        elif ch in _CLOSE and stack:
            start = stack.pop()
            inner = "".join(out[start + 1 :])
            del out[start:]
            if _REFERENCE.search(inner) or not inner.strip():
                continue
            if ch in "}｝":
                out.extend(inner)
            else:
                out.extend(f"{_opening(ch)}{inner}{ch}")
        else:
            out.append(ch)
    if stack:
        del out[stack[0] :]  # a truncated source title: "...（用于...入G01R 19/25；例"
    result = "".join(out)
    result = _PACKED.sub(_packed_to_normal, result)
    result = re.sub(r"\s+", " ", result)
    result = re.sub(r"\s+([;,.；，])", r"\1", result)
    result = re.sub(r"[,，]\s*([;；])", r"\1", result)
    result = re.sub(r"([;；])\s*(?:[;；]\s*)+", r"\1 ", result)
    result = re.sub(r";(?=\S)", "; ", result)
    result = re.sub(r"(?<=[\u4e00-\u9fff）])\s*[;；]\s*(?=[\u4e00-\u9fff])", "；", result)
    return result.strip(" ;,；，")


def _opening(close: str) -> str:
    """The opening bracket matching ``close``."""
    return _OPEN[_CLOSE.index(close)]


def read_ipc_en(path: Path) -> dict[str, str]:
    """English IPC subclass and main-group titles keyed by normalised code."""
    records: list[list[str]] = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            code, sep, title = line.partition("\t")
            if sep and len(code) in (1, 3, 4, 14) and not code[:1].isspace():
                records.append([code, unquote_csv(title)])
            elif records:  # continuation of a title spread over lines
                records[-1][1] += " " + line.strip()
            else:
                log.warning("skipped line before any record: %r", line)
    titles: dict[str, str] = {}
    for code, title in records:
        if len(code) not in (4, 14):
            continue
        norm = class_code(code)
        if is_kept(norm):
            titles[norm] = strip_references(title)  # later line wins (guide heading first)
    return titles


def read_ipc_zh(path: Path) -> dict[str, str]:
    """Chinese IPC subclass and main-group titles keyed by normalised code."""
    own: dict[str, str] = {}
    rekeyed: dict[str, str] = {}
    with path.open(encoding="utf-8") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader)
        if header != ["ipc", "title_zh"]:
            raise ValueError(f"{path}: unexpected header {header}")
        for row in reader:
            if len(row) != 2 or len(row[0]) < 4:
                continue
            key, title = row
            title = _ZH_MARKER.sub("", title)
            m = _ZH_LEADING_CODE.match(title)
            if m:
                code, title = class_code(m.group(1)), title[m.end() :]
                target = rekeyed
            else:
                code, target = class_code(key), own
            if is_kept(code):
                target.setdefault(code, strip_references(title))
    return {**rekeyed, **own}


def read_cpc(scheme: Path, subclasses: Path) -> tuple[dict[str, str], list[str]]:
    """CPC subclass and main-group titles, and the subclasses taken from the subclass list.

    Subclass titles come from the subclass list where it has them: the 2019 scheme extract
    lost title parts that held references or CPC additions in braces ("... SUSPENDED IN"
    for F23C, "SELECTIVE PRINTING MECHANISMS,;" for B41J). Main groups come from the scheme.
    """
    titles: dict[str, str] = {}
    with gzip.open(scheme, "rt", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            if row["level"] not in ("5", "7"):
                continue
            code = class_code(row["symbol"])
            title = strip_references(unquote_csv(row["title"]))
            if is_kept(code) and title.upper() != "TBD":  # F23D 2700/00 is a placeholder
                titles.setdefault(code, title)
    scheme_subclasses = {c for c in titles if _SUBCLASS.match(c)}
    added: list[str] = []
    with subclasses.open(encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f):
            code = row["code"].strip()
            if _SUBCLASS.match(code):
                title = row["title"].replace("Â\u00a0", " ").replace("Â", " ")
                titles[code] = strip_references(title.replace("\u00a0", " "))
                if code not in scheme_subclasses:
                    added.append(code)
    return titles, added


def code_order(code: str) -> tuple[str, int]:
    """Sort key: subclass, then main-group number (``A01B 3/00`` before ``A01B 11/00``)."""
    head = code.split("/")[0]
    return (code[:4], int(head[5:]) if " " in head else -1)


def write_tsv_gz(path: Path, header: list[str], rows: Iterable[list[str]]) -> int:
    """Write rows as a deterministic gzip TSV; return the number of data rows."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter="\t", lineterminator="\n")
    writer.writerow(header)
    n = 0
    for row in rows:
        writer.writerow(row)
        n += 1
    path.parent.mkdir(parents=True, exist_ok=True)
    with (
        path.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz,
    ):
        gz.write(buf.getvalue().encode("utf-8"))
    return n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--shared", type=Path, required=True, help="folder of the source data sets (see SOURCE.md)"
    )
    parser.add_argument("--out", type=Path, default=Path("data/reference"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)

    en = read_ipc_en(args.shared / "ipc_titles" / "all_ipc.tsv")
    zh = read_ipc_zh(args.shared / "ipc_titles_zh" / "ipc_titles_zh.tsv")
    codes = sorted((c for c in set(en) | set(zh) if en.get(c) or zh.get(c)), key=code_order)
    n_ipc = write_tsv_gz(
        args.out / "ipc_titles.tsv.gz",
        ["code", "title_en", "title_zh"],
        ([c, en.get(c, ""), zh.get(c, "")] for c in codes),
    )
    both = sum(1 for c in codes if c in en and c in zh)
    subs = sum(1 for c in codes if _SUBCLASS.match(c))
    log.info(
        "ipc_titles: %d rows (%d subclasses, %d main groups); en %d, zh %d, both %d",
        n_ipc, subs, n_ipc - subs, len(en), len(zh), both,
    )  # fmt: skip

    cpc, added = read_cpc(
        args.shared / "cpc_scheme_titles_2019" / "cpc_scheme_titles_2019_08.tsv.gz",
        args.shared / "cpc_subclass_titles" / "CPC_codes_upto_subclass.csv",
    )
    n_cpc = write_tsv_gz(
        args.out / "cpc_titles.tsv.gz",
        ["code", "title_en"],
        ([c, cpc[c]] for c in sorted(cpc, key=code_order) if cpc[c]),
    )
    subs = sum(1 for c in cpc if _SUBCLASS.match(c))
    log.info(
        "cpc_titles: %d rows (%d subclasses, %d main groups); from the subclass list: %s",
        n_cpc, subs, n_cpc - subs, ", ".join(added),
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
