"""jobs/*.py run the same stages under a real spark-submit, with the CLI's arguments."""

import json
import os
import subprocess
import sys
from pathlib import Path

from mlflow.tracking import MlflowClient

from conftest import FIXTURES, ROOT


def test_ingest_job_under_spark_submit(tmp_path):
    submit = Path(sys.executable).parent / "spark-submit"
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    result = subprocess.run(
        [
            str(submit),
            "--master",
            "local[1]",
            "--conf",
            "spark.ui.enabled=false",
            str(ROOT / "jobs" / "ingest.py"),
            str(FIXTURES / "uspto_xml"),
            "--conf-dir",
            str(ROOT / "conf"),
            "--set",
            f"paths.workspace={tmp_path / 'ws'}",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["read_by_format"] == {"uspto-grant-xml": summary["read"]}
    assert summary["reconciled"] and summary["kept"] > 0
    # under spark-submit --master decides; the settings' local[*] must not override it
    client = MlflowClient(f"sqlite:///{tmp_path / 'ws' / 'mlflow.db'}")
    parent = client.get_run(summary["parent_run_id"])
    assert parent.data.tags["techscreen.spark_master"] == "local[1]"
    assert (tmp_path / "ws" / "patents" / "_SUCCESS").exists()
