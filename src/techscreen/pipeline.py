"""Declarative pipelines: ``pipelines/<name>.yaml`` says which stages run, with which settings."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from techscreen.config import ConfigError
from techscreen.stages import STAGE_NAMES, Context, stage

log = logging.getLogger(__name__)


class PipelineSpec(BaseModel):
    """A pipeline file: its stages in order, and settings overrides it applies."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    stages: list[str] = Field(min_length=1)
    set: list[str] = Field(default_factory=list, description="key.path=value overrides")

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


def run_pipeline(ctx: Context, spec: PipelineSpec) -> dict[str, Any]:
    """Run the stages of ``spec`` in order inside the current parent run."""
    results: dict[str, Any] = {}
    for name in spec.stages:
        log.info("pipeline %s: stage %s", spec.name, name)
        results[name] = stage(name)(ctx)
    return results
