"""Logging the grader (:mod:`techscreen.grade.grader_model`) to a run and the model registry."""

from __future__ import annotations

import tempfile
from pathlib import Path

from mlflow.tracking import MlflowClient

import techscreen
from techscreen.config import GradeSettings
from techscreen.grade import grader_model

ARTIFACT = "grader"
# What loading the model needs besides the techscreen code it carries (code_paths).
REQUIREMENTS = [
    "mlflow==3.17.2",
    "pandas==2.3.3",
    "numpy==2.4.6",
    "pydantic==2.14.3",
    "scipy==1.17.1",
]


def log_grader(client: MlflowClient, run_id: str, settings: GradeSettings) -> str | None:
    """Save the grader with ``settings`` under the run's ``grader/`` artifacts; register it.

    Returns the registered model version (``None`` when ``settings.registered_model`` is
    empty). The model carries the techscreen package as code, so it loads wherever MLflow
    and the pinned requirements are installed.
    """
    import mlflow.pyfunc

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings_file = folder / f"{grader_model.SETTINGS_ARTIFACT}.json"
        settings_file.write_text(settings.model_dump_json(indent=1), encoding="utf-8")
        model_dir = folder / ARTIFACT
        mlflow.pyfunc.save_model(
            str(model_dir),
            python_model=grader_model.__file__,
            artifacts={grader_model.SETTINGS_ARTIFACT: str(settings_file)},
            code_paths=[str(Path(techscreen.__file__).parent)],
            pip_requirements=REQUIREMENTS,
        )
        client.log_artifacts(run_id, str(model_dir), ARTIFACT)
    if not settings.registered_model:
        return None
    name = settings.registered_model
    if not _exists(client, name):
        client.create_registered_model(name)
    source = f"{client.get_run(run_id).info.artifact_uri}/{ARTIFACT}"
    version = client.create_model_version(name, source, run_id=run_id)
    return version.version


def _exists(client: MlflowClient, name: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        return False
    return True
