"""Declarative pipelines: ``pipelines/<name>.yaml`` says which stages run, with which settings."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from techscreen import resume
from techscreen.config import ConfigError, Settings
from techscreen.experiments import chosen_run
from techscreen.stages import STAGE_NAMES, Context, stage

log = logging.getLogger(__name__)


class PipelineSpec(BaseModel):
    """A pipeline file: its stages in order, and settings overrides it applies."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    stages: list[str] = Field(min_length=1)
    set: list[str] = Field(default_factory=list, description="key.path=value overrides")
    grid: dict[str, list[Any]] = Field(
        default_factory=dict,
        description="a parameter sweep: every combination of these settings runs the stages",
    )

    @field_validator("grid")
    @classmethod
    def _values(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        empty = [key for key, values in value.items() if not values]
        if empty:
            raise ValueError(f"grid keys without values: {empty}")
        return value

    def configurations(self) -> Iterator[dict[str, Any]]:
        """Every combination of the grid, in file order (one empty one without a grid)."""
        keys = list(self.grid)
        for values in itertools.product(*(self.grid[k] for k in keys)):
            yield dict(zip(keys, values, strict=True))

    @field_validator("stages")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [s for s in value if s not in STAGE_NAMES]
        if unknown:
            raise ValueError(f"unknown stages {unknown}; known: {', '.join(STAGE_NAMES)}")
        return value


def load_spec(path: str | Path) -> PipelineSpec:
    """Read and validate a pipeline file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: pipeline file not found")
    try:
        return PipelineSpec.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"{path}: {exc}".splitlines()[0] + f" ({_first_error(exc)})") from None


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        return f"{'.'.join(map(str, err['loc']))}: {err['msg']}"
    return str(exc).splitlines()[0]


def run_pipeline(
    ctx: Context,
    spec: PipelineSpec,
    settings_for: Callable[[list[str]], Settings],
    fresh: bool = False,
) -> dict[str, Any]:
    """Run the stages of ``spec`` in order inside the current parent run.

    A stage that already finished with the same inputs and settings (its completion marker
    matches, see :mod:`techscreen.resume`) is skipped and its earlier run is reused, unless
    ``fresh``. With a grid, the stages run once per configuration, each with the settings that
    ``settings_for`` builds from the configuration's ``key=value`` overrides; every child
    run of a configuration is tagged ``techscreen.sweep.config`` with it.
    """
    if not spec.grid:
        return _run_stages(ctx, spec, fresh)
    results: dict[str, Any] = {"configurations": []}
    for config in spec.configurations():
        overrides = [f"{key}={json.dumps(value)}" for key, value in config.items()]
        local = replace(ctx, settings=settings_for(overrides))
        log.info("pipeline %s: configuration %s", spec.name, config)
        with ctx.tracker.stage_tags({"techscreen.sweep.config": json.dumps(config)}):
            stages = _run_stages(local, spec, fresh)
        results["configurations"].append({"config": config, "stages": stages})
    return results


# A stage that reads one run of an earlier stage: (earlier stage, setting naming its run).
# Inside a pipeline it reads the run this pipeline just made, unless the setting names one.
READS_RUN_OF = {
    "graph": ("cluster", "cluster_run"),
    "grade": ("graph", "graph_run"),
    "report": ("grade", "grade_run"),
}


def _run_stages(ctx: Context, spec: PipelineSpec, fresh: bool) -> dict[str, Any]:
    results: dict[str, Any] = {}
    prints: dict[str, str] = {}  # fingerprints of the stages run or skipped here

    def chosen(name: str) -> str | None:
        return chosen_run(ctx.tracker.client, ctx.tracker.experiment_id, name)

    for name in spec.stages:
        earlier, key = READS_RUN_OF.get(name, (None, None))
        section = getattr(ctx.settings, name, None)
        if earlier in results and key and not getattr(section, key):
            updated = section.model_copy(update={key: results[earlier]["run_id"]})
            ctx = replace(ctx, settings=ctx.settings.model_copy(update={name: updated}))
        upstream = {
            u: prints[u] if u in prints else resume.data_identity(ctx.settings, u, chosen)
            for u in resume.reads(ctx.settings, name)
        }
        prints[name] = resume.fingerprint(ctx.settings, name, upstream)
        done = None if fresh else resume.finished(ctx.settings, name, prints[name])
        if done is not None:
            log.info(
                "pipeline %s: stage %s finished before with the same inputs and settings "
                "(run %s): skipped",
                spec.name,
                name,
                done["run_id"],
            )
            results[name] = {**done, "resumed": True}
            continue
        log.info("pipeline %s: stage %s", spec.name, name)
        results[name] = stage(name)(ctx)
        resume.record(ctx.settings, name, prints[name], results[name])
    return results
