"""Shared test fixtures: one SparkSession for the whole run, real files, no network."""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import pytest

from techscreen.config import SparkSettings
from techscreen.spark import build_session

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
SHARED = ROOT.parent / "shared" / "data"  # CI has it; tests that need it skip without it

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def spark():
    session = build_session(
        SparkSettings(master="local[2]", shuffle_partitions=4, driver_memory="2g")
    )
    yield session
    session.stop()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED


@pytest.fixture(scope="session")
def screening(spark, tmp_path_factory):
    """The README's main command run once on the bundled sample: (workspace, JSON summary)."""
    from techscreen.cli import main

    ws = tmp_path_factory.mktemp("screening") / "ws"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(
            [
                "run",
                str(ROOT / "pipelines" / "screening.yaml"),
                "--conf-dir",
                str(ROOT / "conf"),
                "--set",
                f"paths.workspace={ws}",
                "--set",
                f"paths.input=[{ROOT / 'data' / 'sample'}]",
            ]
        )
    assert code == 0
    return ws, json.loads(out.getvalue().strip().splitlines()[-1])
