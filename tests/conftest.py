"""Shared test fixtures: one SparkSession for the whole run, real files, no network."""

from __future__ import annotations

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
