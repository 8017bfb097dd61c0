"""MLflow tracking: one parent run per command or pipeline, one child run per stage.

Stage code never calls mlflow; it receives a :class:`RunHandle` and logs through it. Values
are sent with ``log_batch`` (one request per call, chunked at MLflow's batch limits), and a
child run records the upstream run ids and data versions it consumed as tags, so a result
traces back to the patents and models behind it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

from techscreen.config import MlflowSettings

log = logging.getLogger(__name__)

_MAX_PARAMS, _MAX_METRICS, _MAX_TAGS = 100, 1000, 100  # MLflow's log_batch limits
_MAX_PARAM_CHARS = 6000


def tracking_uri(settings: MlflowSettings, workspace: Path) -> str:
    """The configured URI, or a local SQLite store under the workspace by default."""
    return settings.tracking_uri or f"sqlite:///{workspace / 'mlflow.db'}"


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings into dotted keys (``{"a": {"b": 1}}`` → ``{"a.b": 1}``)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


class RunHandle:
    """A started MLflow run that a stage logs to."""

    def __init__(self, client: MlflowClient, run_id: str) -> None:
        self.client = client
        self.run_id = run_id

    def log(
        self,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        """Log params, metrics and tags in as few requests as MLflow's limits allow."""
        now = int(time.time() * 1000)
        p = [Param(k, str(v)[:_MAX_PARAM_CHARS]) for k, v in flatten(params or {}).items()]
        m = [Metric(k, float(v), now, 0) for k, v in flatten(metrics or {}).items()]
        t = [RunTag(k, str(v)) for k, v in flatten(tags or {}).items()]
        while p or m or t:
            self.client.log_batch(
                self.run_id, metrics=m[:_MAX_METRICS], params=p[:_MAX_PARAMS], tags=t[:_MAX_TAGS]
            )
            p, m, t = p[_MAX_PARAMS:], m[_MAX_METRICS:], t[_MAX_TAGS:]

    def artifact(self, path: str | Path, folder: str | None = None) -> None:
        """Attach a file as an artifact of this run."""
        self.client.log_artifact(self.run_id, str(path), folder)


class Tracker:
    """Creates the parent and child runs of one execution in one experiment."""

    def __init__(self, uri: str, experiment: str, artifact_location: str = "") -> None:
        self.uri = uri
        self.client = MlflowClient(tracking_uri=uri)
        found = self.client.get_experiment_by_name(experiment)
        self.experiment_id = (
            found.experiment_id
            if found
            else self.client.create_experiment(experiment, artifact_location or None)
        )
        self._parent: RunHandle | None = None
        self._stage_tags: dict[str, str] = {}

    @classmethod
    def from_settings(cls, settings: MlflowSettings, workspace: Path) -> Tracker:
        """Build from settings; the default store lives under the workspace."""
        workspace.mkdir(parents=True, exist_ok=True)
        artifacts = settings.artifact_location
        if not settings.tracking_uri and not artifacts:
            artifacts = (workspace / "mlartifacts").as_uri()
        return cls(tracking_uri(settings, workspace), settings.experiment, artifacts)

    @contextmanager
    def _run(self, name: str, tags: Mapping[str, str]) -> Iterator[RunHandle]:
        run = self.client.create_run(self.experiment_id, tags={MLFLOW_RUN_NAME: name, **tags})
        handle = RunHandle(self.client, run.info.run_id)
        try:
            yield handle
        except BaseException:
            self.client.set_terminated(handle.run_id, "FAILED")
            raise
        self.client.set_terminated(handle.run_id, "FINISHED")

    @contextmanager
    def parent(self, name: str, tags: Mapping[str, str] | None = None) -> Iterator[RunHandle]:
        """The run of one command or pipeline execution."""
        with self._run(name, {"techscreen.kind": "pipeline", **(tags or {})}) as run:
            self._parent = run
            try:
                yield run
            finally:
                self._parent = None

    @contextmanager
    def stage_tags(self, tags: Mapping[str, str]) -> Iterator[None]:
        """Add ``tags`` to every stage run started inside this block (e.g. a sweep's config)."""
        before = self._stage_tags
        self._stage_tags = {**before, **tags}
        try:
            yield
        finally:
            self._stage_tags = before

    @contextmanager
    def stage(self, name: str, upstream: Mapping[str, str] | None = None) -> Iterator[RunHandle]:
        """A child run for one stage; ``upstream`` maps inputs to the run ids that made them."""
        tags = {"techscreen.kind": "stage", "techscreen.stage": name, **self._stage_tags}
        if self._parent is not None:
            tags[MLFLOW_PARENT_RUN_ID] = self._parent.run_id
        tags.update({f"techscreen.upstream.{k}": v for k, v in (upstream or {}).items()})
        with self._run(name, tags) as run:
            log.info("stage %s: MLflow run %s", name, run.run_id)
            yield run
