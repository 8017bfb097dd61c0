"""One writer per workspace, and a clean state after a crash.

Every command that writes a workspace holds its lock (:func:`workspace_lock`, an exclusive
``flock`` on ``<workspace>/.lock``; the kernel drops it when the process dies, even by
SIGKILL), so two commands never write one workspace at once. Holding it, the command first
calls :func:`recover`, which undoes what a killed or failed command left behind:

* a folder that was being replaced (``.NAME.old-*`` with no ``NAME``) is put back;
* staging folders and files (``.NAME.tmp-*``) are removed;
* every stage run of this workspace that MLflow still shows RUNNING is marked KILLED (its
  process is gone: it would hold the lock), and the partitions that RUNNING, FAILED or KILLED
  runs wrote to run-partitioned tables are removed (their rows are incomplete);
* a table folder left with no data files (the process died before its first file landed)
  is removed.

Rows of a finished run are never touched; runs this tracking store does not know are left
alone. What was done is logged and returned.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from mlflow.entities import RunStatus, ViewType

from techscreen.resume import MARKERS, RUN_TABLES, SOMETIMES_RUN_TABLES
from techscreen.tracking import WORKSPACE_TAG, Tracker

log = logging.getLogger(__name__)

LOCK = ".lock"


class WorkspaceBusy(RuntimeError):
    """Another techscreen command is writing this workspace."""


@contextlib.contextmanager
def workspace_lock(workspace: Path) -> Iterator[None]:
    """Hold the workspace's write lock; ``WorkspaceBusy`` at once if another process has it."""
    workspace.mkdir(parents=True, exist_ok=True)
    path = workspace / LOCK
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise WorkspaceBusy(
                f"workspace {workspace} is being written by another techscreen command "
                f"(pid {holder}); wait for it to finish, or use another paths.workspace"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def recover(workspace: Path, tracker: Tracker) -> dict[str, list[str]]:
    """Undo what an interrupted command left in ``workspace`` (call it holding the lock)."""
    done: dict[str, list[str]] = {"restored": [], "removed": [], "killed_runs": []}
    if not workspace.is_dir():
        return done
    for old in sorted(workspace.glob(".*.old-*")):
        target = old.with_name(old.name[1:].rsplit(".old-", 1)[0])
        if not target.exists():
            os.replace(old, target)
            done["restored"].append(str(target))
        else:
            _remove(old, done)
    for tmp in sorted([*workspace.glob(".*.tmp-*"), *workspace.glob(f"{MARKERS}/*/.*.tmp-*")]):
        _remove(tmp, done)
    for run in _unfinished_runs(tracker, workspace):
        if run.info.status == RunStatus.to_string(RunStatus.RUNNING):
            tracker.client.set_terminated(run.info.run_id, "KILLED")
            done["killed_runs"].append(run.info.run_id)
        stage = run.data.tags.get("techscreen.stage", "")
        for table in (*RUN_TABLES.get(stage, ()), *SOMETIMES_RUN_TABLES.get(stage, ())):
            partition = workspace / table / f"run_id={run.info.run_id}"
            if partition.exists():
                _remove(partition, done)
    by_run = {t for ts in (*RUN_TABLES.values(), *SOMETIMES_RUN_TABLES.values()) for t in ts}
    for table in sorted(by_run | {"vectors"}):
        folder = workspace / table
        if folder.is_dir() and not any(folder.rglob("*.parquet")):
            _remove(folder, done)
    if any(done.values()):
        log.warning(
            "recovered workspace %s after an interrupted command: %s",
            workspace,
            {k: len(v) for k, v in done.items()},
        )
    return done


def _unfinished_runs(tracker: Tracker, workspace: Path) -> list:
    """Stage runs of this workspace that did not finish (RUNNING, FAILED or KILLED)."""
    return [
        run
        for status in ("RUNNING", "FAILED", "KILLED")
        for run in tracker.client.search_runs(
            [tracker.experiment_id],
            f"tags.`{WORKSPACE_TAG}` = '{workspace}' and tags.`techscreen.kind` = 'stage' "
            f"and attributes.status = '{status}'",
            run_view_type=ViewType.ALL,
            max_results=10_000,
        )
    ]


def _remove(path: Path, done: dict[str, list[str]]) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
    done["removed"].append(str(path))
