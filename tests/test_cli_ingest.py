"""End to end through the command line: real Spark, real files, a real local MLflow store."""

import json

import pytest
from mlflow.tracking import MlflowClient

from conftest import FIXTURES, ROOT
from techscreen.cli import main


def run_cli(capsys, *args: str) -> tuple[int, dict | None, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    lines = [line for line in out.splitlines() if line.strip()]
    return code, (json.loads(lines[-1]) if code == 0 else None), err


@pytest.fixture()
def ws(tmp_path):
    return ["--conf-dir", str(ROOT / "conf"), "--set", f"paths.workspace={tmp_path / 'ws'}"]


def test_bad_input_set_is_quarantined_with_reasons_and_reconciled(spark, capsys, ws, tmp_path):
    # tests/fixtures/bad: bad_grants.xml (1 real grant + truncated, XXE, billion laughs,
    # Latin-1 bytes, empty text, invalid IPC; see uspto_xml/SOURCE.md) and
    # waste_heat_bad.jsonl (1 real record, an identical and a conflicting duplicate, broken
    # JSON, Latin-1 bytes, no text, invalid IPC, bad date, 1 MiB abstract, no number).
    # Both files are mostly bad by design: the share that fails an ingest is lifted here.
    share = ["--set", "ingest.max_quarantine_share=1"]
    code, summary, err = run_cli(capsys, "ingest", str(FIXTURES / "bad"), *ws, *share)
    assert code == 0, err
    assert summary["read_by_format"] == {
        "uspto-grant-xml": 7,
        "mapped:waste_heat_abstracts_jsonl": 10,
    }
    assert summary["kept"] == 3
    assert summary["merged"] == 2
    assert summary["conflicting_duplicates"] == 1
    assert summary["quarantined_by_reason"] == {
        "bad_date": 1,
        "broken_json": 1,
        "broken_xml": 1,
        "forbidden_xml_construct": 2,
        "malformed_class_code": 1,  # invalid IPC alone; beside a valid one it is dropped
        "no_publication_number": 1,
        "no_usable_text": 2,
        "oversize_text": 1,
        "undecodable_bytes": 2,
    }
    assert summary["read"] == 17 and summary["reconciled"] is True
    patents = spark.read.parquet(str(tmp_path / "ws" / "patents"))
    assert sorted(r.publication_number for r in patents.collect()) == [
        "CN-100404991-C",
        "CN-101508251-A",
        "US-7473832-B2",
    ]
    dropped = patents.where("publication_number = 'CN-101508251-A'").first()
    assert dropped.ipc_codes == ["F23G 5/46"] and dropped.warnings == ["dropped_code:F2X 5/46"]
    assert dropped.source_number == "CN101508251A"
    patent = patents.where("jurisdiction = 'CN'").first()
    assert patent.publication_number == "CN-100404991-C"
    assert patent.jurisdiction == "CN" and patent.language == "zh"
    # most_complete keeps the full abstract and unions the codes of the conflicting copy
    assert "F28D 21/00" in patent.ipc_codes and len(patent.merged_from) == 2
    quarantine = spark.read.parquet(str(tmp_path / "ws" / "quarantine"))
    assert quarantine.where("record_location is null or source_file is null").count() == 0
    oversize = quarantine.where("reason = 'oversize_text'").first()
    assert len(oversize.excerpt) == 300  # excerpt_chars, not the whole megabyte

    client = MlflowClient(f"sqlite:///{tmp_path / 'ws' / 'mlflow.db'}")
    child = client.get_run(summary["run_id"])
    assert child.data.metrics["read"] == 17
    assert child.data.metrics["quarantined_by_reason.forbidden_xml_construct"] == 2
    assert child.data.tags["mlflow.parentRunId"] == summary["parent_run_id"]


def test_unknown_file_fails_with_one_line(spark, capsys, ws, tmp_path):
    odd = tmp_path / "notes.bin"
    odd.write_bytes(b"\x00\x01 nothing we know")
    code, _, err = run_cli(capsys, "ingest", str(odd), *ws)
    assert code == 1
    assert (
        err.strip().splitlines()[-1].startswith("techscreen: error: no reader recognises notes.bin")
    )


def test_config_show_prints_effective_settings(capsys, ws):
    code = main(["config", "show", *ws, "--set", "spark.shuffle_partitions=7"])
    out = capsys.readouterr().out
    assert code == 0
    assert "shuffle_partitions: 7" in out
    assert json.loads(out.strip().splitlines()[-1])["command"] == "config show"


def test_the_faiss_loader_does_not_log_its_missing_avx_builds():
    """Every command used to log ModuleNotFoundError('No module named faiss.swigfaiss_avx2')."""
    import subprocess
    import sys

    code = (
        "from techscreen.cli import main; "
        f"main(['config', 'show', '--conf-dir', {str(ROOT / 'conf')!r}]); "
        "import logging, faiss; logging.getLogger('techscreen').info('after faiss')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert "after faiss" in done.stderr  # INFO logging is on ...
    assert "swigfaiss" not in done.stderr and "faiss.loader" not in done.stderr  # ... not for it
