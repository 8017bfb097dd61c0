"""A user's own export by mapping alone (issue 19): a Google Patents CSV whose codes are list
strings and whose rows carry a relevance flag; an export that is wholly quarantined fails; the
source's numbers come back out with ``techscreen export``."""

import json

import pandas as pd

from conftest import FIXTURES, ROOT
from techscreen.cli import main

GOOGLE = FIXTURES / "google_patents" / "gp-search-20251120-101500.csv"
LENS = FIXTURES / "lens" / "lens_export.csv"
MAPPING = "ingest.mapped.google_patents_csv"
# What a user adds to the shipped google_patents_csv mapping for the added columns.
LIST_CODES = [
    f"{MAPPING}.columns.abstract=abstract",
    f"{MAPPING}.columns.cpc_codes=cpc",
    f"{MAPPING}.list_literals=[cpc_codes]",
    f"{MAPPING}.where={{valid: true}}",
]
# ... and what the user of issue 19 had to try without list_literals.
SPLIT_ON_COMMAS = [f"{MAPPING}.columns.cpc_codes=cpc", f"{MAPPING}.separators={{cpc_codes: ','}}"]


def _cli(capsys, *args: str) -> tuple[int, dict | None, list[str]]:
    code = main(list(args))
    out, err = capsys.readouterr()
    lines = [line for line in out.splitlines() if line.strip()]
    return code, (json.loads(lines[-1]) if code == 0 else None), err.strip().splitlines()


def _options(ws, overrides) -> list[str]:
    sets = [f"paths.workspace={ws}", *overrides]
    return ["--conf-dir", str(ROOT / "conf"), *[x for s in sets for x in ("--set", s)]]


def test_google_patents_csv_ingests_by_mapping_and_exports_with_the_source_numbers(
    spark, capsys, tmp_path
):
    ws = tmp_path / "ws"
    # paths.writable replaced: an ingest builds no model, so nothing is refused (issue 19, 5)
    options = _options(ws, [*LIST_CODES, f"paths.writable=[{tmp_path / 'elsewhere'}]"])
    code, summary, err = _cli(capsys, "ingest", str(GOOGLE), str(LENS), *options)
    assert code == 0, err[-1:]
    assert summary["read_by_format"] == {"mapped:google_patents_csv": 6, "lens-csv": 10}
    assert summary["filtered"] == 1
    assert summary["filtered_by_rule"] == {"mapped:google_patents_csv where valid in [True]": 1}
    assert summary["quarantined_by_reason"] == {"malformed_list": 1, "no_usable_text": 1}
    assert summary["kept"] == 4 + 9 and summary["reconciled"] is True
    assert summary["read"] == summary["kept"] + summary["quarantined"] + summary["filtered"]

    patents = pd.read_parquet(ws / "patents").set_index("publication_number")
    assert list(patents.loc["US-11567890-B2", "cpc_codes"]) == ["G02B 27/01", "G06F 3/013"]
    assert list(patents.loc["CN-117151122-A", "cpc_codes"]) == ["H01M 10/0525", "H01M 4/525"]
    # one malformed code among good ones: the record stays, the code is named in its warnings
    assert list(patents.loc["EP-4123456-A1", "cpc_codes"]) == ["G02B 27/0172"]
    assert list(patents.loc["EP-4123456-A1", "warnings"]) == ["dropped_code:G02B/"]
    assert "two layers" in patents.loc["EP-4123456-A1", "abstract"]  # a quoted line break
    assert list(patents.loc["US-11567890-B2", "applicants"]) == ["Acme Optics Co., Ltd."]
    assert "US-20230123456-A1" not in patents.index  # valid False
    assert patents.loc["WO-2008155316-A1", "source_number"] == "WO 2008/155316 A1"
    assert patents.loc["KR-102600000-B1", "source_number"] == "KR-102600000-B1"
    quarantine = pd.read_parquet(ws / "quarantine")
    broken = quarantine[quarantine.reason == "malformed_list"].iloc[0]
    assert broken.record_location.startswith("id=WO-2024001234-A1;")
    assert broken.detail.startswith("cpc_codes: not a list literal: ")

    code, csv_summary, err = _cli(capsys, "export", "patents", *_options(ws, []))
    assert code == 0, err[-1:]
    exported = pd.read_csv(csv_summary["path"], encoding="utf-8-sig", dtype=str)
    assert csv_summary["rows"] == len(exported) == 13
    columns = list(exported.columns)
    assert columns[columns.index("publication_number") + 1] == "source_number"
    numbers = dict(zip(exported.publication_number, exported.source_number, strict=True))
    assert numbers["WO-2008155316-A1"] == "WO 2008/155316 A1"
    assert exported.set_index("publication_number").loc["EP-4123456-A1", "cpc_codes"] == (
        "G02B 27/0172"
    )

    # a table without the source's numbers gets them joined from patents/
    assert _cli(capsys, "domains", *_options(ws, []))[0] == 0
    out = tmp_path / "domains.parquet"
    code, parquet_summary, err = _cli(
        capsys, "export", "patent_domains", "--out", str(out), *_options(ws, [])
    )
    assert code == 0, err[-1:]
    domains = pd.read_parquet(out)
    assert parquet_summary["rows"] == len(domains) > 0
    assert list(domains.columns[:2]) == ["publication_number", "source_number"]
    assert domains.source_number.notna().all()


def test_a_wholly_quarantined_export_fails_ingest_and_run_with_one_line(spark, capsys, tmp_path):
    options = _options(tmp_path / "ws", SPLIT_ON_COMMAS)
    code, _, err = _cli(capsys, "ingest", str(GOOGLE), *options)
    assert code == 1
    assert len(err) and err[-1].startswith("techscreen: error: ingest kept no record: ")
    line = err[-1]
    assert f"{GOOGLE}: 6 of 6 records quarantined (100%)" in line
    assert "top reason malformed_class_code (6), e.g. id=" in line
    assert "malformed class code" in line
    # the tables are written, so the quarantine can be looked at
    assert len(pd.read_parquet(tmp_path / "ws" / "quarantine")) == 6

    pipeline = tmp_path / "ingest-only.yaml"
    pipeline.write_text(f"name: ingest-only\nstages: [ingest]\nset: ['paths.input=[{GOOGLE}]']\n")
    code, _, err = _cli(capsys, "run", str(pipeline), *options)
    assert code == 1
    assert err[-1] == line
