"""Build data/sample/: small subsets of real patent data sets, kept in their original format.

The bundled sample is the default input of ``techscreen``; users do not have the shared data
folder, so the sample must stand on its own. Every output file is a byte-for-byte subset of
its source: whole lines of JSON Lines files, whole records (raw text, quoting and line
endings included) of CSV files, whole XML files. Nothing is re-serialised, so readers are
tested on exactly what the upstream publishers wrote.

Selection is deterministic (no randomness): "evenly spaced" means records at positions
``floor(i * n / k)`` for ``i < k``, which spreads a subset over files that are sorted by
country, subclass or date.

One exception to "byte-for-byte": the PatSnap export is an xlsx workbook, and a slice of a
workbook cannot be cut out of its bytes; its rows are written as CSV instead (the other
format PatSnap exports), with the Chinese headers and every cell's text unchanged.

Usage::

    .venv/bin/python scripts/build_sample.py --shared PATH/TO/shared/data --out data/sample

Counts per folder are logged to stderr; ``data/sample/SOURCE.md`` (hand-written) records
where each part comes from and should be updated if the counts change.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import logging
import shutil
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TextIO

log = logging.getLogger("build_sample")

# Whole weekly-file samples: 2005 and 2009 (ICE v4.0/v4.2) and 2012 (v4.3) DTD variants.
GRANT_XML_FILES = ("ipg050104.small.xml", "ipg090106.small.xml", "ipg120103.xml")
NVIDIA_TABLES = (
    "nvidia_patent.csv",
    "nvidia_patent_abstract.csv",
    "nvidia_cpc.csv",
    "nvidia_assignee.csv",
)
NVIDIA_PATENTS = 500
LENS_LINES = 400
IPA_LINES = 1500
Y02_LINES = 600
CN_AGRI_PER_SUBCLASS = 75  # 8 subclasses with >= 75 rows, A01P (6) and A01L (2) taken whole
WASTE_HEAT_LINES = 600
NUCLEAR_PUBLICATIONS = 400
PATSNAP_ROWS = 150
# Raw pre-grant application documents: 0 and 1034 are also among the ipa_week lines (the same
# application in two formats, merged by ingest), 100 is not; together: CN, KR and EP priority.
APPLICATION_XML_FILES = ("0.xml", "100.xml", "1034.xml")


def evenly_spaced(n: int, k: int) -> list[int]:
    """Return ``min(n, k)`` sorted positions spread evenly over ``range(n)``."""
    if k >= n:
        return list(range(n))
    return [i * n // k for i in range(k)]


# --- CSV: whole raw records ------------------------------------------------------------


def csv_records(fh: TextIO) -> Iterator[tuple[str, list[str]]]:
    """Yield ``(raw text, parsed fields)`` per CSV record, the header included.

    The csv module decides where a record ends (quoted fields may hold newlines); the raw
    text is the exact lines it consumed, so writing it back reproduces the source bytes.
    ``fh`` must be opened with ``newline=""`` so line endings are kept as they are.
    """
    consumed: list[str] = []

    def lines() -> Iterator[str]:
        for line in fh:
            consumed.append(line)
            yield line

    for row in csv.reader(lines()):
        raw = "".join(consumed)
        consumed.clear()
        yield raw, row


def open_text(path: Path, mode: str = "r") -> TextIO:
    # utf-8 (not utf-8-sig): a BOM, if any, is kept as a character and written back.
    return path.open(mode, encoding="utf-8", newline="")


def ensure_newline(raw: str) -> str:
    """A source's last record may lack its newline; records taken from it must not."""
    return raw if raw.endswith(("\n", "\r")) else raw + "\n"


# --- JSON Lines: whole raw lines ------------------------------------------------------------


def read_lines(path: Path) -> list[bytes]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        return [line for line in fh if line.strip()]


def write_lines(path: Path, lines: Iterable[bytes]) -> int:
    """Write lines (gzip when ``path`` ends in .gz, with a fixed mtime so reruns are identical)."""
    n = 0
    with path.open("wb") as raw:
        out = (
            gzip.GzipFile(filename=path.name[:-3], mode="wb", fileobj=raw, mtime=0)
            if path.suffix == ".gz"
            else raw
        )
        try:
            for line in lines:
                out.write(line if line.endswith(b"\n") else line + b"\n")
                n += 1
        finally:
            if out is not raw:
                out.close()
    return n


def sample_lines(src: Path, dst: Path, k: int) -> list[bytes]:
    lines = read_lines(src)
    chosen = [lines[i] for i in evenly_spaced(len(lines), k)]
    write_lines(dst, chosen)
    log.info("%s: %d of %d lines (evenly spaced)", dst.parent.name, len(chosen), len(lines))
    return chosen


# --- one function per source folder --------------------------------------------------------


def build_uspto_grant_xml(shared: Path, out: Path) -> int:
    src = shared / "uspto_grant_xml_samples"
    docs = 0
    for name in GRANT_XML_FILES:
        data = (src / name).read_bytes()
        with (
            (out / f"{name}.gz").open("wb") as raw,
            gzip.GzipFile(filename=name, mode="wb", fileobj=raw, mtime=0) as gz,
        ):
            gz.write(data)
        # Each file is a concatenation of XML documents, one grant each.
        docs += data.count(b"<?xml ")
    log.info("uspto_grant_xml: %d files, %d grant documents", len(GRANT_XML_FILES), docs)
    return docs


def build_patentsview_nvidia(shared: Path, out: Path) -> int:
    src = shared / "patentsview_nvidia"
    with open_text(src / "nvidia_patent.csv") as fh:
        records = csv_records(fh)
        _, header = next(records)
        id_col, date_col = header.index("patent_id"), header.index("patent_date")
        patents = [(row[date_col], row[id_col]) for _, row in records]
    # Sorted by grant date so evenly spaced picks follow the filing volume over the years.
    by_date = sorted(patents)
    keep = {by_date[i][1] for i in evenly_spaced(len(by_date), NVIDIA_PATENTS)}
    years = Counter(date[:4] for date, pid in by_date if pid in keep)
    for table in NVIDIA_TABLES:
        n = 0
        with open_text(src / table) as fh, open_text(out / table, "w") as dst:
            records = csv_records(fh)
            raw_header, header = next(records)
            dst.write(raw_header)
            col = header.index("patent_id")
            for raw, row in records:
                if row[col] in keep:
                    dst.write(ensure_newline(raw))
                    n += 1
        log.info("patentsview_nvidia/%s: %d rows", table, n)
    log.info(
        "patentsview_nvidia: %d patents, grant years %s..%s", len(keep), min(years), max(years)
    )
    return len(keep)


def build_lens(shared: Path, out: Path) -> int:
    name = "Coronavirus-CPC-based-patents.jsonl"
    return len(sample_lines(shared / "lens_covid_patents" / name, out / name, LENS_LINES))


def build_ipa_week(shared: Path, out: Path) -> int:
    name = "uspto_ipa230105_applications.jsonl.gz"
    return len(sample_lines(shared / "uspto_ipa230105_week" / name, out / name, IPA_LINES))


def build_y02_grants(shared: Path, out: Path) -> int:
    name = "uspto_y02_grants_cpc.jsonl.gz"
    return len(sample_lines(shared / "uspto_y02_grants_cpc" / name, out / name, Y02_LINES))


def build_cn_agri(shared: Path, out: Path) -> int:
    name = "cn_agri_a01_abstracts.csv"
    with open_text(shared / "cn_agri_a01_abstracts" / name) as fh:
        records = list(csv_records(fh))
    (raw_header, header), rows = records[0], records[1:]
    col = header.index("ipc_subclass")
    positions: dict[str, list[int]] = defaultdict(list)
    for pos, (_, row) in enumerate(rows):
        positions[row[col]].append(pos)
    # The same number per subclass (A01K alone is 40% of the source), evenly spaced within
    # each, so every subclass and the whole 1985-2015 span are represented.
    keep = sorted(
        group[i]
        for group in positions.values()
        for i in evenly_spaced(len(group), CN_AGRI_PER_SUBCLASS)
    )
    with open_text(out / name, "w") as dst:
        dst.write(raw_header)
        for pos in keep:
            dst.write(ensure_newline(rows[pos][0]))
    per = Counter(rows[pos][1][col] for pos in keep)
    log.info(
        "cn_agri: %d of %d rows; per subclass %s", len(keep), len(rows), dict(sorted(per.items()))
    )
    return len(keep)


def build_waste_heat(shared: Path, out: Path) -> int:
    import json  # only to report the country mix; lines are copied verbatim

    name = "waste_heat_recovery_abstracts.jsonl.gz"
    chosen = sample_lines(
        shared / "waste_heat_recovery_abstracts" / name, out / name, WASTE_HEAT_LINES
    )
    countries = Counter(json.loads(line)["country"] for line in chosen)
    log.info("waste_heat: countries %s", dict(countries.most_common()))
    return len(chosen)


def build_nuclear(shared: Path, out: Path) -> int:
    src = shared / "nuclear_g21_patentsview"
    files = sorted(src.glob("applications_G21*.csv"))
    if not files:
        raise FileNotFoundError(f"{src}: no applications_G21*.csv")
    tables: list[tuple[str, list[str], list[tuple[str, list[str]]]]] = []
    for path in files:
        with open_text(path) as fh:
            records = list(csv_records(fh))
        tables.append((records[0][0], records[0][1], records[1:]))
    raw_header, header = tables[0][0], tables[0][1]
    if any(h != header for _, h, _ in tables):
        raise ValueError(f"{src}: applications_G21*.csv headers differ; cannot merge")
    col = header.index("pgpub_id")
    # A publication appears in every subclass file it has a CPC code in (one row per
    # CPC x assignee); pick publications, then keep all their rows from all files.
    order: dict[str, None] = {}
    for _, _, rows in tables:
        for _, row in rows:
            order.setdefault(row[col], None)
    ids = list(order)
    keep = {ids[i] for i in evenly_spaced(len(ids), NUCLEAR_PUBLICATIONS)}
    n = 0
    with open_text(out / "applications_G21.csv", "w") as dst:
        dst.write(raw_header)
        for _, _, rows in tables:
            for raw, row in rows:
                if row[col] in keep:
                    dst.write(ensure_newline(raw))
                    n += 1
    log.info(
        "nuclear_g21: %d publications of %d, %d rows from %d files",
        len(keep),
        len(ids),
        n,
        len(files),
    )
    return len(keep)


def build_patsnap(shared: Path, out: Path) -> int:
    import openpyxl  # a project dependency; only this part needs it

    src = shared / "green_aviation_patsnap" / "green_aviation_patsnap_export.xlsx"
    book = openpyxl.load_workbook(src, read_only=True)
    try:
        rows = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
    finally:
        book.close()
    header, data = rows[0], rows[1:]
    chosen = [data[i] for i in evenly_spaced(len(data), PATSNAP_ROWS)]
    # UTF-8 with a BOM and CRLF, as Excel-friendly CSV exports are written; cells are all
    # text or integers in this export, written as their text.
    with (out / "green_aviation_patsnap_export.csv").open(
        "w", encoding="utf-8-sig", newline=""
    ) as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow(header)
        for row in chosen:
            writer.writerow(["" if v is None else v for v in row])
    offices = Counter(str(r[header.index("公开(公告)号")])[:2] for r in chosen)
    log.info(
        "patsnap: %d of %d rows; offices %s", len(chosen), len(data), dict(offices.most_common())
    )
    return len(chosen)


def build_uspto_application_xml(shared: Path, out: Path) -> int:
    src = shared / "uspto_ipa230105_week" / "raw_xml_examples"
    # Concatenated like the weekly ipa file: whole documents, one after another.
    data = b"\n".join((src / name).read_bytes().rstrip(b"\r\n") for name in APPLICATION_XML_FILES)
    name = "ipa230105.sample.xml"
    with (
        (out / f"{name}.gz").open("wb") as raw,
        gzip.GzipFile(filename=name, mode="wb", fileobj=raw, mtime=0) as gz,
    ):
        gz.write(data + b"\n")
    log.info("uspto_application_xml: %d application documents", len(APPLICATION_XML_FILES))
    return len(APPLICATION_XML_FILES)


BUILDERS = {
    "uspto_grant_xml": build_uspto_grant_xml,
    "patentsview_nvidia": build_patentsview_nvidia,
    "lens": build_lens,
    "ipa_week": build_ipa_week,
    "y02_grants": build_y02_grants,
    "cn_agri": build_cn_agri,
    "waste_heat": build_waste_heat,
    "nuclear_g21": build_nuclear,
    "patsnap": build_patsnap,
    "uspto_application_xml": build_uspto_application_xml,
}


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, required=True, help="the shared data folder")
    parser.add_argument("--out", type=Path, default=Path("data/sample"), help="output folder")
    parser.add_argument(
        "--only", nargs="*", choices=sorted(BUILDERS), help="rebuild only these folders"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)

    if not args.shared.is_dir():
        parser.error(f"--shared {args.shared}: not a folder")
    args.out.mkdir(parents=True, exist_ok=True)
    summary = []
    for name, build in BUILDERS.items():
        if args.only and name not in args.only:
            continue
        folder = args.out / name
        # Each folder is wholly this script's output: clear it so removed files do not linger.
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir()
        records = build(args.shared, folder)
        summary.append((name, records, folder_bytes(folder)))
    for name, records, size in summary:
        log.info("%-20s %6d records %9.2f MB", name, records, size / 1e6)
    log.info(
        "total %d records, %.2f MB in %s",
        sum(r for _, r, _ in summary),
        folder_bytes(args.out) / 1e6,
        args.out,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
