"""The report stage on the README's screening run, and its page opened in headless Chromium.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: no
port, no extra package). Everything the page does is recorded — console calls with their
level, uncaught exceptions, browser log entries (failed loads, CSP violations) and every
request — so "no console errors" and "no network" are checked, not assumed.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from pyspark.sql import functions as F

from conftest import ROOT
from techscreen.config import load_settings, workspace
from techscreen.stages import Context
from techscreen.stages.report import run_report
from techscreen.tracking import Tracker, tracking_uri

CHROMIUM = Path("/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="/usr/bin/chromium is not installed (apt-get install -y chromium); "
    "the report is not opened in a browser",
)
LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")


@dataclass
class PageRun:
    """What happened while a page loaded and what it showed."""

    console: list[tuple[str, str]] = field(default_factory=list)  # (level, text)
    exceptions: list[str] = field(default_factory=list)
    log: list[tuple[str, str]] = field(default_factory=list)  # (level, text + url)
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    values: dict = field(default_factory=dict)

    def errors(self) -> list[str]:
        """Everything that counts as a console error, a failure or a network request."""
        out = [f"console.{lvl}: {t}" for lvl, t in self.console if lvl in ("error", "assert")]
        out += [f"exception: {e}" for e in self.exceptions]
        out += [f"log {lvl}: {t}" for lvl, t in self.log if lvl == "error"]
        out += [f"request: {u[:200]}" for u in self.requests if not u.startswith(LOCAL_SCHEMES)]
        out += [f"failed load: {f}" for f in self.failed]
        return out


class _Pipe:
    """The DevTools protocol over Chromium's pipe: NUL-terminated JSON messages."""

    def __init__(self, write_fd: int, read_fd: int) -> None:
        self.w, self.r = write_fd, read_fd
        self.buffer = b""
        self.last_id = 0
        self.events: list[dict] = []

    def _message(self, deadline: float) -> dict:
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("chromium did not answer in time")
            ready, _, _ = select.select([self.r], [], [], left)
            if ready:
                chunk = os.read(self.r, 1 << 20)
                if not chunk:
                    raise EOFError("chromium closed the DevTools pipe")
                self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(
        self,
        method: str,
        params: dict | None = None,
        session: str | None = None,
        timeout: float = 60.0,
    ) -> dict:
        self.last_id += 1
        message = {"id": self.last_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.w, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            m = self._message(deadline)
            if m.get("id") == self.last_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method: str, timeout: float) -> None:
        if any(e.get("method") == method for e in self.events):
            return
        deadline = time.monotonic() + timeout
        while True:
            m = self._message(deadline)
            self.events.append(m)
            if m.get("method") == method:
                return

    def drain(self, quiet: float) -> None:
        """Read events until none came for ``quiet`` seconds."""
        while True:
            try:
                self.events.append(self._message(time.monotonic() + quiet))
            except TimeoutError:
                return


def open_page(
    url: str,
    profile: Path,
    expressions: dict[str, str],
    screenshot: Path | None = None,
    timeout: float = 90.0,
) -> PageRun:
    """Load ``url`` in headless Chromium, wait for the plots, evaluate ``expressions``."""
    cmd_read, cmd_write = os.pipe()
    out_read, out_write = os.pipe()
    # The child's ends move to fds >= 10 first, so that placing them on 3 and 4 can never
    # close one that happens to be numbered 3 or 4 already.
    for name in ("cmd_read", "out_write"):
        fd = locals()[name]
        high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
        os.close(fd)
        if name == "cmd_read":
            cmd_read = high
        else:
            out_write = high
    args = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--window-size=1280,1000",
        f"--user-data-dir={profile}",
        "--remote-debugging-pipe",
        "about:blank",
    ]
    # Chromium reads commands from fd 3 and writes to fd 4: bash puts the pipes there.
    shell = f'exec "$@" 3<&{cmd_read} 4>&{out_write} {cmd_read}<&- {out_write}>&-'
    with (profile.parent / f"{profile.name}.stderr").open("wb") as stderr:
        proc = subprocess.Popen(
            ["/bin/bash", "-c", shell, "bash", *args],
            pass_fds=(cmd_read, out_write),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    os.close(cmd_read)
    os.close(out_write)
    cdp = _Pipe(cmd_write, out_read)
    try:
        target = cdp.call("Target.createTarget", {"url": "about:blank"}, timeout=timeout)
        session = cdp.call(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            cdp.call(f"{domain}.enable", session=session)
        cdp.events.clear()  # what about:blank did is not the page's
        navigation = cdp.call("Page.navigate", {"url": url}, session=session)
        assert "errorText" not in navigation, navigation
        cdp.wait_event("Page.loadEventFired", timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not _evaluate(cdp, session, DRAWN):
            time.sleep(0.2)
        cdp.drain(1.0)
        run = PageRun(values={k: _evaluate(cdp, session, e) for k, e in expressions.items()})
        if screenshot is not None:
            size = cdp.call("Page.getLayoutMetrics", session=session)["cssContentSize"]
            cdp.call(
                "Emulation.setDeviceMetricsOverride",
                {
                    "width": 1280,
                    "height": int(size["height"]),
                    "deviceScaleFactor": 1,
                    "mobile": False,
                },
                session=session,
            )
            shot = cdp.call("Page.captureScreenshot", {"format": "png"}, session=session)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
        with contextlib.suppress(EOFError, TimeoutError):
            cdp.call("Browser.close", timeout=10)
    finally:
        os.close(cmd_write)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.close(out_read)
    for e in cdp.events:
        method, p = e.get("method"), e.get("params", {})
        if method == "Runtime.consoleAPICalled":
            words = [str(a.get("value", a.get("description", ""))) for a in p.get("args", [])]
            run.console.append((p.get("type", ""), " ".join(words)))
        elif method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            run.exceptions.append(d.get("exception", {}).get("description") or d.get("text", ""))
        elif method == "Log.entryAdded":
            entry = p.get("entry", {})
            run.log.append((entry.get("level", ""), f"{entry.get('text')} {entry.get('url', '')}"))
        elif method == "Network.requestWillBeSent":
            run.requests.append(p.get("request", {}).get("url", ""))
        elif method == "Network.loadingFailed":
            run.failed.append(f"{p.get('errorText')} ({p.get('blockedReason', '')})")
    return run


def _evaluate(cdp: _Pipe, session: str, expression: str):
    result = cdp.call(
        "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=session
    )
    if "exceptionDetails" in result:
        raise AssertionError(f"{expression}: {result['exceptionDetails']}")
    return result["result"].get("value")


# Every plotly figure of the page has been drawn (plotly.js adds its SVG to the figure's div).
DRAWN = (
    "Array.from(document.querySelectorAll('.plotly-graph-div'))"
    ".every(d => d.querySelector('svg.main-svg') !== null)"
)
PAGE_FACTS = {
    "charset": "document.characterSet",
    "items": "document.querySelectorAll('#tier-table tbody tr.item').length",
    "domains": "Array.from(document.querySelectorAll('#tier-table tbody'))"
    ".map(b => b.dataset.domain)",
    "table_text": "document.getElementById('tier-table').innerText",
    "figures": "document.querySelectorAll('.plotly-graph-div').length",
    "plotted": "document.querySelectorAll('.js-plotly-plot').length",
    "drawn": "Array.from(document.querySelectorAll('.plotly-graph-div'))"
    ".filter(d => d.querySelector('svg.main-svg')).length",
    "points": "document.querySelectorAll('.js-plotly-plot .scatterlayer .point').length",
}


@pytest.fixture(scope="module")
def reported(spark, screening):
    ws, summary = screening
    settings = load_settings(ROOT / "conf", None, [f"paths.workspace={ws}"])
    ctx = Context(settings, spark, Tracker.from_settings(settings.mlflow, workspace(settings)))
    with ctx.tracker.parent("report"):
        out = run_report(ctx)
    return ws, summary["stages"], out, settings


def test_report_stage_writes_the_page_and_exports_of_the_grade_run(spark, reported):
    ws, stages, out, settings = reported
    grade_run = stages["grade"]["run_id"]
    assert out["grade_run"] == grade_run
    page = Path(out["html"])
    assert page.is_absolute() and page == (ws / "report" / "index.html").resolve()
    grades = spark.read.parquet(str(ws / "grades")).where(F.col("run_id") == grade_run)
    n = grades.count()
    assert out["graded"] == n == stages["grade"]["graded"] and out["figures"] > 0
    flat = pd.read_parquet(out["parquet"])
    assert sorted(flat["item"]) == sorted(r.item for r in grades.select("item").collect())
    for stage in ("ingest", "embed", "cluster", "graph"):
        assert set(flat[f"lineage.{stage}"]) == {stages[stage]["run_id"]}
    assert set(flat["grade_run"]) == {grade_run}
    csv = pd.read_csv(out["csv"], encoding="utf-8-sig")
    assert len(csv) == n and list(csv["item"]) == list(flat["item"])
    html = page.read_text(encoding="utf-8")
    for stage in ("ingest", "embed", "cluster", "graph", "grade"):
        run_id = grade_run if stage == "grade" else stages[stage]["run_id"]
        assert run_id in html
    client = MlflowClient(tracking_uri(settings.mlflow, workspace(settings)))
    run = client.get_run(out["run_id"])
    assert run.data.tags["techscreen.upstream.grade"] == grade_run
    assert run.data.tags["techscreen.stage"] == "report"
    logged = {a.path for a in client.list_artifacts(out["run_id"], "report")}
    assert logged == {"report/index.html", "report/grades.csv", "report/grades.parquet"}


@needs_chromium
def test_report_renders_in_chromium_without_console_errors(reported, tmp_path):
    _, stages, out, _ = reported
    shot = tmp_path / "report.png"
    page = open_page(Path(out["html"]).as_uri(), tmp_path / "profile", PAGE_FACTS, shot)
    assert page.errors() == []
    assert page.requests[0] == Path(out["html"]).as_uri()
    facts = page.values
    assert facts["charset"] == "UTF-8"
    assert facts["items"] == out["graded"]
    assert set(stages["grade"]["domains"]) <= set(facts["domains"])
    # Every figure was drawn by plotly.js: each has its SVG, and points were plotted.
    assert facts["figures"] == facts["plotted"] == facts["drawn"] == out["figures"] > 0
    assert facts["points"] > 0
    grades = pd.read_parquet(out["parquet"])
    # labels are English (report.language) but for their " · " and " — ": UTF-8 survives
    wide = [label for label in grades["label"] if not label.isascii()]
    assert wide and wide[0] in facts["table_text"]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_chromium
def test_the_browser_check_catches_console_errors_and_requests(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>"
        "<table id='tier-table'><tbody><tr class='item'><td>x</td></tr></tbody></table>"
        "<script>console.log('fine'); console.error('broken figure');</script>"
        "<script>undefinedFunction();</script>"
        "<img src='http://127.0.0.1:9/logo.png'>"
        "</body></html>",
        encoding="utf-8",
    )
    page = open_page(bad.as_uri(), tmp_path / "profile", {"items": PAGE_FACTS["items"]})
    errors = "\n".join(page.errors())
    assert "console.error: broken figure" in errors
    assert "undefinedFunction is not defined" in errors
    assert "request: http://127.0.0.1:9/logo.png" in errors
    assert "console.log" not in errors and page.values["items"] == 1
