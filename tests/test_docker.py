"""docker/ cannot be built here (no Docker engine): validate what can be validated."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

DOCKER = ROOT / "docker"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text(encoding="utf-8"))


def test_compose_declares_a_cluster_with_tracking(compose):
    services = compose["services"]
    assert {"spark-master", "spark-worker", "mlflow", "postgres", "minio", "driver"} <= set(
        services
    )
    assert services["spark-worker"]["deploy"]["replicas"] >= 2
    assert "spark://spark-master:7077" in services["spark-worker"]["command"]
    assert "--app-name basic-auth" in services["mlflow"]["command"]


def test_compose_refers_only_to_files_and_settings_that_exist(compose):
    for name, service in compose["services"].items():
        build = service.get("build")
        if build:
            assert (DOCKER / build["context"] / build["dockerfile"]).is_file(), name
    driver = compose["services"]["driver"]["command"]
    assert (ROOT / driver[driver.index("run") + 1]).is_file()
    assert (ROOT / "conf" / driver[driver.index("--conf-env") + 1]).is_dir()
    cluster = yaml.safe_load((ROOT / "conf" / "cluster" / "settings.yaml").read_text())
    assert cluster["spark"]["master"] == "spark://spark-master:7077"
    assert cluster["mlflow"]["tracking_uri"] == "http://mlflow:5000"


def test_every_required_variable_has_an_example(compose):
    text = (DOCKER / "compose.yaml").read_text(encoding="utf-8")
    required = set(re.findall(r"\$\{(\w+)", text))
    example = {
        line.split("=", 1)[0]
        for line in (DOCKER / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert required <= example, required - example


def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run(
        [hadolint, "--failure-threshold", "warning", str(DOCKER / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
