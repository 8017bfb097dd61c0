"""Where a Spark application's time went: its jobs from an event log, longest first.

    python bench/event_log.py /tmp/ev/eventlog_v2_local-1234 [--top 30]

Each row: seconds, tasks, the job's call site in our code (``file.py:line``) and the time it
started from the application's start. Read beside ``bench/scale.py --event-log DIR``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def events(path: Path):
    """The events of a log: one file, or a rolling log's folder of ``events_N_…`` files."""
    files = (
        [path]
        if path.is_file()
        else sorted(path.glob("events_*"), key=lambda f: int(f.name.split("_")[1]))
    )
    for file in files:
        with open(file, encoding="utf-8") as lines:
            yield from lines


def jobs(path: Path) -> tuple[float, list[dict]]:
    """(application start in s, jobs with start, end, tasks and call site)."""
    start, out = None, {}
    for line in events(path):
        e = json.loads(line)
        kind = e["Event"]
        if kind == "SparkListenerApplicationStart":
            start = e["Timestamp"] / 1000
        elif kind == "SparkListenerJobStart":
            props = e.get("Properties") or {}
            out[e["Job ID"]] = {
                "start": e["Submission Time"] / 1000,
                "tasks": sum(s["Number of Tasks"] for s in e["Stage Infos"]),
                "site": props.get("callSite.short") or "?",
            }
        elif kind == "SparkListenerJobEnd" and e["Job ID"] in out:
            out[e["Job ID"]]["end"] = e["Completion Time"] / 1000
    done = [j for j in out.values() if "end" in j]
    return start or min(j["start"] for j in done), done


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("log", type=Path)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    t0, done = jobs(args.log)
    total = sum(j["end"] - j["start"] for j in done)
    print(f"{len(done)} jobs, {total:.0f} s in jobs")
    for j in sorted(done, key=lambda j: j["start"] - j["end"])[: args.top]:
        took, at = j["end"] - j["start"], j["start"] - t0
        print(f"{took:7.1f} s {j['tasks']:5d} tasks  @{at:6.0f} s  {j['site']}")


if __name__ == "__main__":
    _main()
