"""The ``techscreen`` command line: one thin subcommand per stage, plus pipelines and config.

Every command logs progress to stderr, ends with a one-line JSON summary on stdout, and
exits non-zero with a one-line error on failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger("techscreen")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--conf-dir", default="conf", help="configuration folder (default: conf)")
    parser.add_argument("--conf-env", help="environment layered over conf/base (e.g. cluster)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting (repeatable)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="techscreen", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    config = sub.add_parser("config", help="inspect the effective settings")
    config_sub = config.add_subparsers(dest="action", required=True)
    _common(config_sub.add_parser("show", help="print the merged settings as YAML"))

    ingest = sub.add_parser("ingest", help="read raw patent files into patents/ and quarantine/")
    ingest.add_argument("inputs", nargs="*", help="files or folders (default: paths.input)")
    ingest.add_argument("--format", help="force a reader instead of auto-detection")
    _common(ingest)

    _common(sub.add_parser("domains", help="assign patents to the configured domains"))
    _common(sub.add_parser("embed", help="embed patents not yet embedded into vectors/"))
    _common(sub.add_parser("cluster", help="cluster each domain into nodes/ and assignments/"))
    _common(sub.add_parser("graph", help="networks and centralities into node_edges/, centrality/"))
    _common(sub.add_parser("grade", help="indicators, scores, expert fusion, tiers into grades/"))
    _common(sub.add_parser("report", help="HTML report and CSV/Parquet exports into report/"))

    export = sub.add_parser(
        "export", help="a workspace table as one CSV or Parquet file, with the source's numbers"
    )
    export.add_argument("table", help="e.g. patents, patent_domains, assignments, grades")
    export.add_argument("--out", help="file (default: WORKSPACE/exports/TABLE.csv|.parquet)")
    export.add_argument(
        "--format", choices=["csv", "parquet"], help="default: --out's suffix, else csv"
    )
    _common(export)

    models = sub.add_parser("models", help="build local model artifacts (offline)")
    models_sub = models.add_subparsers(dest="action", required=True)
    for action, what in (
        ("build-static", "a model2vec static embedder distilled from MiniLM"),
        ("build-int8", "MiniLM exported to ONNX with int8 weights"),
        (
            "build-lexical-zh",
            "the lexical-zh embedder fitted on embed.lexical.fit_corpus (workspace: the "
            "workspace's patents routed to it, into WORKSPACE/models/lexical-zh)",
        ),
    ):
        p = models_sub.add_parser(action, help=f"build {what} (path from embed settings)")
        p.add_argument("--force", action="store_true", help="rebuild even if it exists")
        _common(p)

    experiments = sub.add_parser("experiments", help="compare tracked stage runs, choose one")
    experiments_sub = experiments.add_subparsers(dest="action", required=True)
    compare = experiments_sub.add_parser("compare", help="print a stage's runs side by side")
    compare.add_argument("--stage", default="cluster", help="stage to compare (default: cluster)")
    compare.add_argument("--sort", default="nmi", metavar="METRIC", help="sort by (default: nmi)")
    compare.add_argument("--ascending", action="store_true", help="smallest first")
    which = compare.add_mutually_exclusive_group()
    which.add_argument("--parent", metavar="RUN_ID", help="only the runs under this parent run")
    which.add_argument("--sweep", action="store_true", help="only the runs of the latest sweep")
    compare.add_argument("--columns", metavar="A,B", help="metrics/params to show (e.g. energy.*)")
    compare.add_argument("--plot", metavar="PATH", help="PNG (default: reports/compare-STAGE.png)")
    compare.add_argument("--choose", metavar="RUN_ID", help="first mark this run as the chosen one")
    _common(compare)
    choose = experiments_sub.add_parser("choose", help="mark the run that later stages read")
    choose.add_argument("run_id", help="run id, or a unique prefix of at least 8 characters")
    choose.add_argument("--stage", default="cluster", help="stage of the run (default: cluster)")
    _common(choose)

    experts = sub.add_parser("experts", help="Delphi rounds: questionnaires out, scores back in")
    experts_sub = experts.add_subparsers(dest="action", required=True)
    survey = experts_sub.add_parser("survey", help="write a round's xlsx questionnaire")
    survey.add_argument("--round", type=int, help="round (default: 1, or the one after --previous)")
    survey.add_argument("--grade-run", default="", help="grade run (default: the chosen one)")
    survey.add_argument("--out", help="folder (default: WORKSPACE/experts)")
    survey.add_argument(
        "--previous",
        metavar="DIR_OR_CSV",
        help="the round before: its returned workbooks, or the scores CSV collected from them",
    )
    _common(survey)
    collect = experts_sub.add_parser("collect", help="returned questionnaires → scores CSV")
    collect.add_argument("folder", help="folder of the returned .xlsx workbooks")
    collect.add_argument(
        "--out",
        help="scores CSV (default: FOLDER/scores.csv); rejects.csv, convergence.csv beside it",
    )
    _common(collect)

    synth = sub.add_parser("synth", help="write synthetic patent applications (test data)")
    synth.add_argument("--n", type=int, required=True, help="records to write")
    synth.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    synth.add_argument("--out", required=True, help="output folder (new, or an earlier synth)")
    synth.add_argument("--per-file", type=int, default=100_000, help="records per .jsonl.gz")
    synth.add_argument("--themes", type=int, default=60, help="planted themes (default: 60)")
    synth.add_argument(
        "--theme-words", type=float, default=0.3, help="share of topical words from the theme"
    )
    synth.add_argument(
        "--phrases",
        default="data/sample/ipa_week/uspto_ipa230105_applications.jsonl.gz",
        help="real USPTO applications JSON Lines to learn phrasing from",
    )
    _common(synth)

    run = sub.add_parser("run", help="run a pipeline file (e.g. pipelines/screening.yaml)")
    run.add_argument("pipeline", help="path of the pipeline YAML")
    run.add_argument(
        "--fresh",
        action="store_true",
        help="run every stage, even one that finished before with the same inputs and settings",
    )
    _common(run)
    return parser


def _settings(args: argparse.Namespace, extra: Sequence[str] = ()):
    from techscreen.config import load_settings

    return load_settings(args.conf_dir, args.conf_env, [*args.set, *extra])


def _check_outputs(settings, stages: Sequence[str] = (), models: Sequence[str] = ()) -> None:
    """Refuse, before any work, a model folder the run would build outside the allowed ones.

    Only what this run writes is checked: the folders of ``models`` and, when the embed
    stage is among ``stages``, of the embedders it routes records to.
    """
    from techscreen.config import check_writable
    from techscreen.embed.models import model_folders
    from techscreen.embed.routing import RoutePlan

    if "embed" in stages:
        models = [*models, *RoutePlan.from_settings(settings.embed).embedders]
    check_writable(settings, model_folders(settings.embed, models))


@contextlib.contextmanager
def _context(settings):
    """The stage context, holding the workspace's write lock, after recovering from a crash."""
    from techscreen.config import workspace
    from techscreen.recovery import recover, workspace_lock
    from techscreen.spark import build_session
    from techscreen.stages import Context
    from techscreen.tracking import Tracker

    # The tracker first: it checks an http(s) tracking server, so a server that is down
    # fails the command before the SparkSession (and any stage work) is started.
    folder = workspace(settings)
    tracker = Tracker.from_settings(settings.mlflow, folder)
    with workspace_lock(folder):
        recover(folder, tracker)
        yield Context(settings=settings, spark=build_session(settings.spark), tracker=tracker)


def _run_tags(ctx) -> dict[str, str]:
    # Which cluster ran it: under spark-submit that is --master, not the settings' master.
    return {"techscreen.spark_master": ctx.spark.sparkContext.master}


def _print_collected(collected, most: int = 50) -> None:
    """Kendall's W per round and the items that have not converged, as plain tables."""
    from techscreen.experiments import format_table

    columns = ["round", "dimension", "experts", "items", "complete_items", "w", "p_value"]
    sys.stdout.write("Kendall's W per round and dimension\n")
    sys.stdout.write(format_table(collected.concordance[columns]))
    flagged = collected.flagged
    sys.stdout.write(f"\nNot converged: {len(flagged)} (item, dimension) in all rounds\n")
    if len(flagged):
        shown = ["round", "item", "dimension", "n", "median", "iqr", "cv", "why"]
        sys.stdout.write(format_table(flagged[shown].head(most)))
        if len(flagged) > most:
            sys.stdout.write(f"… {len(flagged) - most} more in convergence.csv\n")


def _execute(args: argparse.Namespace) -> dict[str, Any]:
    if args.command == "config":
        from techscreen.config import dump

        sys.stdout.write(dump(_settings(args)))
        return {"command": "config show", "conf_env": args.conf_env or "base"}

    if args.command == "models":
        from techscreen.embed.models import artifact_path, build

        settings = _settings(args)
        kind = args.action.removeprefix("build-").replace("int8", "minilm-int8")
        _check_outputs(settings, models=[kind])
        target = artifact_path(kind, settings.embed)
        if target is None:  # lexical-zh fitted on the workspace: the embed stage's fit
            from techscreen.stages.embed import fit_lexical, lexical_part

            with _context(settings) as ctx:
                fit = fit_lexical(ctx, lexical_part(ctx), force=args.force)
            return {
                "command": f"models {args.action}",
                "path": fit["folder"],
                "built": fit["action"] == "fitted",
                "fit": fit["action"],
                "corpus": fit["corpus"]["corpus"],
                "fit_docs": fit["corpus"]["docs"],
                "corpus_sha256": fit["corpus"]["texts_sha256"],
            }
        if target.exists() and not args.force:
            return {"command": f"models {args.action}", "path": str(target), "built": False}
        return {
            "command": f"models {args.action}",
            "path": str(build(kind, settings.embed)),
            "built": True,
        }

    if args.command == "experiments":
        from techscreen import experiments as ex
        from techscreen.config import workspace
        from techscreen.tracking import resolve_tracking

        settings = _settings(args)
        uri, _ = resolve_tracking(settings.mlflow, workspace(settings))  # checked, before all
        client, experiment_id = ex.connect(uri, settings.mlflow.experiment)
        summary = {"command": f"experiments {args.action}", "stage": args.stage}
        if args.action == "choose":
            chosen = ex.choose(client, experiment_id, args.run_id, args.stage)
            return {**summary, "chosen_run_id": chosen}
        if args.choose:
            ex.choose(client, experiment_id, args.choose, args.stage)
        parent = args.parent and ex.resolve_run(client, experiment_id, args.parent).info.run_id
        if args.sweep and not (parent := ex.latest_sweep(client, experiment_id, args.stage)):
            raise ValueError(f"no sweep (a parent run with 2+ {args.stage} runs) in {uri}")
        runs = ex.stage_runs(client, experiment_id, args.stage, parent or None)
        if runs.empty:
            raise ValueError(f"no FINISHED {args.stage} runs to compare in {uri}")
        columns = [c for c in args.columns.split(",") if c.strip()] if args.columns else None
        table = ex.comparison(runs, args.sort, args.ascending, columns)
        sort_by = table.attrs["sort_by"]
        default_plot = workspace(settings) / "reports" / f"compare-{args.stage}.png"
        plot = ex.plot_comparison(table, sort_by, args.plot or default_plot)
        sys.stdout.write(ex.format_table(table))
        best = table.index[0] if table[sort_by].notna().iloc[0] else None
        return {
            **summary,
            "parent_run_id": parent or None,
            "runs": len(table),
            "sort_by": sort_by,
            "best_run_id": best,
            "chosen_run_id": ex.chosen_run(client, experiment_id, args.stage),
            "constant_params": table.attrs["constant_params"],
            "plot": str(plot),
        }

    if args.command == "experts":
        from techscreen.stages.experts import run_collect, run_survey

        settings = _settings(args)
        if args.action == "collect":
            collected = run_collect(settings, args.folder, args.out)
            _print_collected(collected)
            return {"command": "experts collect", **collected.summary}
        with _context(settings) as ctx:
            result = run_survey(ctx, args.round, args.grade_run, args.out, args.previous)
        return {"command": "experts survey", **result}

    if args.command == "synth":
        from techscreen.synth import synthesize

        summary = synthesize(
            _settings(args),
            args.out,
            args.n,
            args.seed,
            phrases=args.phrases,
            per_file=args.per_file,
            themes=args.themes,
            theme_words=args.theme_words,
        )
        return {"command": "synth", **summary}

    if args.command == "run":
        from techscreen.pipeline import load_spec, run_pipeline

        spec = load_spec(args.pipeline)
        settings = _settings(args, spec.set)
        _check_outputs(settings, spec.stages)
        with _context(settings) as ctx:
            tags = {"techscreen.pipeline": spec.name, **_run_tags(ctx)}
            with ctx.tracker.parent(f"pipeline:{spec.name}", tags) as run:
                run.log(
                    params={
                        "pipeline": spec.name,
                        "stages": ",".join(spec.stages),
                        "grid": spec.grid,
                    }
                )
                results = run_pipeline(
                    ctx, spec, lambda extra: _settings(args, [*spec.set, *extra]), args.fresh
                )
        if "html" in results.get("report", {}):
            log.info("the screening report: %s", results["report"]["html"])
        return {
            "pipeline": spec.name,
            "run_id": run.run_id,
            "stages": results,
            "workspace": str(Path(settings.paths.workspace).resolve()),
        }

    if args.command == "export":
        from techscreen.io.exports import export_table
        from techscreen.spark import build_session

        settings = _settings(args)
        spark = build_session(settings.spark)
        out = Path(args.out) if args.out else None
        return {"command": "export", **export_table(spark, settings, args.table, out, args.format)}

    from techscreen.stages import stage

    extra = [f"ingest.format={args.format}"] if getattr(args, "format", None) else []
    settings = _settings(args, extra)
    _check_outputs(settings, [args.command])
    options = {"inputs": args.inputs} if args.command == "ingest" else {}
    with _context(settings) as ctx:
        tags = {"techscreen.command": args.command, **_run_tags(ctx)}
        with ctx.tracker.parent(args.command, tags) as run:
            result = stage(args.command)(ctx, **options)
    return {"command": args.command, "parent_run_id": run.run_id, **result}


JVM_GONE = (
    " (the Spark JVM stopped or stopped answering: a java.lang.OutOfMemoryError in the log "
    "above is the usual cause; raise spark.driver_memory, or for a cluster the executors' "
    "memory, and rerun: finished stages are kept)"
)


def error_message(exc: BaseException) -> str:
    """The one line a failure prints: the error, and what to do when the JVM died under it.

    A Py4J error that is not a Java exception (``… does not exist in the JVM``, a refused
    connection) means the Python side lost the JVM, whose own log names the cause.
    """
    from py4j.protocol import Py4JError, Py4JJavaError

    message = " ".join(str(exc).split())[:1000] or type(exc).__name__
    if isinstance(exc, Py4JError) and not isinstance(exc, Py4JJavaError):
        message += JVM_GONE
    return message


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``techscreen`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # faiss.loader says at INFO, with a ModuleNotFoundError, that the AVX512/AVX2 builds it
    # tries first are not installed (faiss-cpu wheels ship the generic one): no fault.
    for noisy in ("py4j", "mlflow", "alembic", "urllib3", "faiss.loader"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        summary = _execute(args)
    except Exception as exc:
        log.debug("failure", exc_info=True)
        sys.stderr.write(f"techscreen: error: {error_message(exc)}\n")
        return 1
    sys.stdout.write(json.dumps(summary, default=str, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
