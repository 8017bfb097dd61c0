"""Resume a pipeline after a crash: completion markers keyed by what a stage's result depends on.

Every stage that finishes writes ``<workspace>/_completed/<stage>/<fingerprint>.json``
(atomically: a temporary file renamed into place) with its MLflow run id and summary. The
fingerprint hashes

* the stage's name and its settings section (without the keys that only name which upstream
  run to read: the upstream's own fingerprint stands for them);
* what it reads from outside the workspace: the input files for ``ingest`` (names, sizes,
  first and last MiB), the embedder's model files for ``embed``, the expert scores file for
  ``grade``;
* the fingerprints of the stages whose outputs it reads (:data:`READS`): computed in this
  pipeline, or, for an upstream stage the pipeline does not run, the id of the run whose
  data the stage will read.

So a changed setting or input changes the fingerprint of its stage and of every stage
downstream of it, and of no other. ``techscreen run`` skips a stage whose marker matches and
whose outputs are still in the workspace (:func:`outputs_present`), and reuses the marker's
run id downstream; ``techscreen run --fresh`` ignores the markers. A stage killed midway left
no marker, so it runs again — from a clean state, see :mod:`techscreen.recovery`.

Cluster sizes, partition counts and Spark settings are not in any fingerprint: they do not
change results (see the README's reliability section).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from techscreen.config import Settings, workspace
from techscreen.io.files import staging_file
from techscreen.io.tables import META_FILE, table_meta, table_path

log = logging.getLogger(__name__)

MARKERS = "_completed"


# The stages whose outputs each stage reads.
READS: dict[str, tuple[str, ...]] = {
    "ingest": (),
    "domains": ("ingest",),
    "embed": ("ingest",),  # and "domains" when embed.domains restricts it
    "cluster": ("embed", "domains"),
    "graph": ("cluster", "ingest"),
    "grade": ("graph", "cluster", "ingest"),
    "report": ("grade",),
}

# Settings keys that name an upstream run: the upstream's fingerprint replaces them.
_RUN_SELECTORS = {"graph": {"cluster_run"}, "grade": {"graph_run"}, "report": {"grade_run"}}
# Settings of one section that another stage applies: domains.placement places the patents
# whose codes match no domain at the start of the cluster stage (its vectors are needed), so
# it is in the cluster stage's fingerprint, not the domains stage's.
_APPLIED_BY = {("domains", "placement"): "cluster"}

# Tables partitioned by the run that wrote them, per stage.
RUN_TABLES = {
    "cluster": ("assignments", "nodes"),
    "graph": ("node_edges", "centrality"),
    "grade": ("indicators", "grades"),
}
# Tables partitioned by run that a stage writes only sometimes (not checked by
# outputs_present): tier_changes, when there was an earlier grade run to compare with;
# placements, when domains.placement is on and some patent's codes match no domain.
SOMETIMES_RUN_TABLES = {"cluster": ("placements",), "grade": ("tier_changes",)}
# Tables a stage replaces whole (their metadata names the run).
WHOLE_TABLES = {"ingest": ("patents", "quarantine"), "domains": ("patent_domains",)}


def _digest(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def reads(settings: Settings, stage: str) -> tuple[str, ...]:
    """The stages whose outputs ``stage`` reads with these settings."""
    if stage == "embed" and settings.embed.domains:
        return ("ingest", "domains")
    return READS[stage]


def external_inputs(settings: Settings, stage: str) -> str:
    """A digest of what ``stage`` reads from outside the workspace ("" if nothing)."""
    if stage == "ingest":
        from techscreen.io.formats import expand
        from techscreen.stages.ingest import data_version

        return data_version(expand(settings.paths.input))
    if stage == "embed":
        from techscreen.stages.embed import embedder_inputs

        return embedder_inputs(settings)
    if stage == "grade" and settings.grade.experts.scores:
        path = Path(settings.grade.experts.scores)
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"
    return ""


def fingerprint(settings: Settings, stage: str, upstream: dict[str, str]) -> str:
    """The fingerprint of ``stage`` given its upstream stages' fingerprints (or run ids)."""
    moved = {key for (owner, key), user in _APPLIED_BY.items() if owner == stage and user != stage}
    section = getattr(settings, stage).model_dump(
        mode="json", exclude=_RUN_SELECTORS.get(stage, set()) | moved
    )
    applied = {
        f"{owner}.{key}": getattr(getattr(settings, owner), key).model_dump(mode="json")
        for (owner, key), user in _APPLIED_BY.items()
        if user == stage
    }
    if stage == "embed":
        section = _routed_only(settings, section)
    return _digest(
        stage,
        section,
        *([applied] if applied else []),
        external_inputs(settings, stage),
        {name: upstream[name] for name in reads(settings, stage)},
    )


def _routed_only(settings: Settings, section: dict[str, Any]) -> dict[str, Any]:
    """The embed section without the settings of fitted embedders no record is routed to.

    ``embed.lexical`` (its fit settings, ``keep_fit``) changes nothing when no language is
    routed to ``lexical-zh`` (``embed.routes={}``): a screening after an update (which sets
    ``keep_fit``) then finds the embedding done.
    """
    from techscreen.embed.routing import RoutePlan

    if "lexical-zh" in RoutePlan.from_settings(settings.embed).embedders:
        return section
    return {k: v for k, v in section.items() if k != "lexical"}


# Who selects the run of a stage that later stages read: (settings section, key).
_SELECTED_BY = {
    "cluster": ("graph", "cluster_run"),
    "graph": ("grade", "graph_run"),
    "grade": ("report", "grade_run"),
}


def data_identity(settings: Settings, stage: str, chosen: Callable[[str], str | None]) -> str:
    """For an upstream stage a pipeline does not run: the id of the run whose data is read.

    ``chosen(stage)`` is the chosen (else newest finished) run of a stage in the experiment.
    """
    if stage in WHOLE_TABLES:
        run = table_meta(settings, WHOLE_TABLES[stage][0]).get("run_id")
    elif stage == "embed":
        run = table_meta(settings, "vectors").get("run_id")
    else:
        section, key = _SELECTED_BY[stage]
        run = getattr(getattr(settings, section), key) or chosen(stage)
    return f"run:{run or 'none'}"


def marker_path(settings: Settings, stage: str, print_: str) -> Path:
    """Where the completion marker of ``stage`` with fingerprint ``print_`` lives."""
    return workspace(settings) / MARKERS / stage / f"{print_}.json"


def record(settings: Settings, stage: str, print_: str, result: dict[str, Any]) -> Path:
    """Write the completion marker of a finished stage (atomically)."""
    path = marker_path(settings, stage, print_)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = staging_file(path)
    body = {"stage": stage, "fingerprint": print_, "run_id": result["run_id"], "result": result}
    tmp.write_text(json.dumps(body, default=str, sort_keys=True, indent=1), encoding="utf-8")
    os.replace(tmp, path)
    return path


def finished(settings: Settings, stage: str, print_: str) -> dict[str, Any] | None:
    """The result of an earlier run of ``stage`` with this fingerprint, if its outputs remain."""
    path = marker_path(settings, stage, print_)
    if not path.is_file():
        return None
    marker = json.loads(path.read_text(encoding="utf-8"))
    if not outputs_present(settings, stage, marker):
        log.info("stage %s: run %s has lost outputs: running it again", stage, marker["run_id"])
        return None
    return marker["result"]


def outputs_present(settings: Settings, stage: str, marker: dict[str, Any]) -> bool:
    """Whether the workspace still holds what the marked run of ``stage`` wrote."""
    run = marker["run_id"]
    if stage in WHOLE_TABLES:
        return all(table_meta(settings, t).get("run_id") == run for t in WHOLE_TABLES[stage])
    if stage in RUN_TABLES:
        return all((table_path(settings, t) / f"run_id={run}").is_dir() for t in RUN_TABLES[stage])
    if stage == "embed":
        vectors = table_path(settings, "vectors")
        ids = marker["result"]["embedder_ids"]
        return (vectors / "_SUCCESS").exists() and all(
            (vectors / f"embedder_id={eid}").is_dir() for eid in ids
        )
    if stage == "report":
        meta = Path(marker["result"]["html"]).parent / META_FILE
        return meta.is_file() and json.loads(meta.read_text(encoding="utf-8")).get("run_id") == run
    raise KeyError(stage)
