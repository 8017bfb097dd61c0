"""MLflow tracking: one parent run per command or pipeline, one child run per stage.

Stage code never calls mlflow; it receives a :class:`RunHandle` and logs through it. Values
are sent with ``log_batch`` (one request per call, chunked at MLflow's batch limits), and a
child run records the upstream run ids and data versions it consumed as tags, so a result
traces back to the patents and models behind it.

An http(s) tracking server is checked before anything else runs (:func:`check_server`):
a server that is down fails the command at once, in one line, instead of after the Spark
work and minutes of MLflow's own retries; ``mlflow.fallback_local`` logs to the local
store instead, says so, and tags the runs with the URI they should have gone to.
"""

from __future__ import annotations

import logging
import re
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


FALLBACK_TAG = "techscreen.tracking_fallback"
WORKSPACE_TAG = "techscreen.workspace"


def local_uri(workspace: Path) -> str:
    """The local SQLite store under the workspace."""
    return f"sqlite:///{workspace / 'mlflow.db'}"


def tracking_uri(settings: MlflowSettings, workspace: Path) -> str:
    """The configured URI, or a local SQLite store under the workspace by default."""
    return settings.tracking_uri or local_uri(workspace)


class TrackingServerError(RuntimeError):
    """The tracking server cannot be used: it refused the credentials or answered wrongly."""


class TrackingServerUnreachable(TrackingServerError):
    """The tracking server did not answer (down, wrong address, timeout, 5xx)."""

    def __init__(self, uri: str, reason: str) -> None:
        self.uri, self.reason = uri, reason
        super().__init__(
            f"MLflow tracking server {uri} is not reachable ({reason}); start it, "
            "fix mlflow.tracking_uri, or set mlflow.fallback_local: true"
        )


def _reason(exc: BaseException, timeout: float) -> str:
    """A short cause of a failed request, from the exception chain MLflow wraps it in."""
    import requests

    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    text = " ".join(str(e) for e in seen)
    timeouts = (requests.exceptions.Timeout, TimeoutError)
    if any(isinstance(e, timeouts) for e in seen) or "timed out" in text:
        return f"no answer within {timeout:g} s"
    found = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if found:
        return found.group(1).strip().rstrip(".").lower()
    if "RemoteDisconnected" in text or "Connection aborted" in text:
        return "connection closed without an answer"
    return type(seen[-1]).__name__


def check_server(uri: str, timeout: float = 5.0) -> None:
    """Check that the tracking server at ``uri`` answers and accepts our credentials.

    Two requests, each with ``timeout`` seconds and no retries: ``GET /health``, then an
    authenticated search for one experiment. Credentials are MLflow's own
    (``MLFLOW_TRACKING_USERNAME``/``PASSWORD``, ``MLFLOW_TRACKING_TOKEN``, TLS settings,
    ``~/.mlflow/credentials``), sent the way the MLflow client sends them.

    Raises:
        TrackingServerUnreachable: no connection, no answer in time, or a 5xx answer.
        TrackingServerError: 401/403 (credentials refused), or an answer that is not an
            MLflow tracking server's.
    """
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    creds = get_default_host_creds(uri)
    for method, endpoint, body in (
        ("GET", "/health", None),
        ("POST", "/api/2.0/mlflow/experiments/search", {"max_results": 1}),
    ):
        try:
            response = http_request(
                creds,
                endpoint,
                method,
                max_retries=0,
                backoff_factor=0,
                timeout=timeout,
                raise_on_status=False,
                **({"json": body} if body is not None else {}),
            )
        except Exception as exc:
            raise TrackingServerUnreachable(uri, _reason(exc, timeout)) from exc
        status = response.status_code
        if status in (401, 403):
            raise TrackingServerError(
                f"MLflow tracking server {uri} refused the credentials (HTTP {status} on "
                f"{endpoint}); set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or "
                "MLFLOW_TRACKING_TOKEN, to ones it accepts"
            )
        if status >= 500:
            raise TrackingServerUnreachable(uri, f"HTTP {status} on {endpoint}")
        if endpoint != "/health" and status != 200:
            raise TrackingServerError(
                f"MLflow tracking server {uri} answered HTTP {status} on {endpoint}: is "
                "mlflow.tracking_uri the address of an MLflow tracking server?"
            )


def resolve_tracking(settings: MlflowSettings, workspace: Path) -> tuple[str, str | None]:
    """The URI to log to, checked; and the unreachable server's URI when it fell back.

    Local stores are used as they are. An http(s) server is checked with
    :func:`check_server`; if it is unreachable and ``fallback_local`` is set, the local
    store under the workspace is used instead and a warning names both URIs.
    """
    uri = tracking_uri(settings, workspace)
    if not uri.lower().startswith(("http://", "https://")):
        return uri, None
    try:
        check_server(uri, settings.probe_timeout_s)
    except TrackingServerUnreachable as exc:
        if not settings.fallback_local:
            raise
        local = local_uri(workspace)
        log.warning(
            "MLflow tracking server %s is not reachable (%s); logging to the local store %s "
            "instead (mlflow.fallback_local: true), runs tagged %s",
            uri,
            exc.reason,
            local,
            FALLBACK_TAG,
        )
        return local, uri
    return uri, None


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
        """Log params, metrics and tags in as few requests as MLflow's limits allow.

        Nested mappings become dotted keys; metrics that are None are left out.
        """
        now = int(time.time() * 1000)
        p = [Param(k, str(v)[:_MAX_PARAM_CHARS]) for k, v in flatten(params or {}).items()]
        m = [  # an undefined score (None) is not logged
            Metric(k, float(v), now, 0) for k, v in flatten(metrics or {}).items() if v is not None
        ]
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
    """Creates the parent and child runs of one execution in one experiment.

    Every run is tagged with the workspace it writes (``techscreen.workspace``), so the runs
    a crash left unfinished can be found and cleaned up (:mod:`techscreen.recovery`).
    """

    def __init__(
        self,
        uri: str,
        experiment: str,
        artifact_location: str = "",
        fallback_from: str | None = None,
        workspace: Path | None = None,
    ) -> None:
        self.uri = uri
        self.fallback_from = fallback_from
        self.workspace = workspace
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
        """Build from settings, checking an http(s) server first (see :func:`resolve_tracking`).

        The default store lives under the workspace; so does a fallback's, artifacts too.
        """
        uri, fallback_from = resolve_tracking(settings, workspace)
        workspace.mkdir(parents=True, exist_ok=True)
        artifacts = settings.artifact_location
        if fallback_from or (not settings.tracking_uri and not artifacts):
            artifacts = (workspace / "mlartifacts").as_uri()
        return cls(uri, settings.experiment, artifacts, fallback_from, workspace)

    @contextmanager
    def _run(self, name: str, tags: Mapping[str, str]) -> Iterator[RunHandle]:
        if self.fallback_from:
            tags = {**tags, FALLBACK_TAG: self.fallback_from}
        if self.workspace is not None:
            tags = {**tags, WORKSPACE_TAG: str(self.workspace)}
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
