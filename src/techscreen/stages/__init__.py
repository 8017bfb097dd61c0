"""Stage wiring: read workspace tables, call a stage's pure logic, write, track.

Each stage is a function ``(ctx, **options) -> summary`` registered in :data:`STAGES`; the
CLI, the pipeline runner and the spark-submit jobs all call stages through here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyspark.sql import SparkSession

from techscreen.config import Settings
from techscreen.tracking import Tracker


@dataclass
class Context:
    """What a stage needs: settings, the one SparkSession, the tracker of this execution."""

    settings: Settings
    spark: SparkSession
    tracker: Tracker


Stage = Callable[..., dict[str, Any]]


def chosen_domains(settings: Settings, names: list[str], key: str) -> list[str]:
    """``names`` (the setting ``key``) or, when empty, every defined domain.

    An unknown name is an error listing the defined ones.
    """
    defined = list(settings.domains.definitions)
    unknown = sorted(set(names) - set(defined))
    if unknown:
        raise ValueError(f"{key}: unknown {unknown}; defined: {', '.join(defined)}")
    return list(names) or defined


def _registry() -> dict[str, Stage]:
    from techscreen.stages.cluster import run_cluster
    from techscreen.stages.domains import run_domains
    from techscreen.stages.embed import run_embed
    from techscreen.stages.grade import run_grade
    from techscreen.stages.graph import run_graph
    from techscreen.stages.ingest import run_ingest
    from techscreen.stages.report import run_report

    return {
        "ingest": run_ingest,
        "domains": run_domains,
        "embed": run_embed,
        "cluster": run_cluster,
        "graph": run_graph,
        "grade": run_grade,
        "report": run_report,
    }


STAGE_NAMES = ("ingest", "domains", "embed", "cluster", "graph", "grade", "report")


def stage(name: str) -> Stage:
    """The stage function registered under ``name``, sized to its data when called.

    The call first sets the stage's shuffle partitions (:func:`techscreen.sizing.size_stage`)
    and tags its MLflow run with the chosen Spark sizing.
    """
    stages = _registry()
    if name not in stages:
        raise KeyError(f"unknown stage {name!r}; known: {', '.join(STAGE_NAMES)}")
    run = stages[name]

    def sized(ctx: Context, **options: Any) -> dict[str, Any]:
        from techscreen.sizing import size_stage

        tags = size_stage(ctx.spark, ctx.settings, name, options.get("inputs"))
        with ctx.tracker.stage_tags(tags):
            return run(ctx, **options)

    return sized
