"""Fuzzed readers: mutated real records never crash a parser, hang it, or go missing.

Seeds are real units: the first payloads each reader makes from the bundled sample (with
Spark, as ingest does). Mutations: text inserted, deleted, replaced or duplicated at random
places (random Unicode, markup and JSON punctuation, control characters, BOMs, bidi marks,
huge numbers, entity declarations, CJK and full-width text), truncation, and for JSON
payloads a random value put at a random key.

* Property (hypothesis, derandomised so CI is repeatable; ``TECHSCREEN_FUZZ_EXAMPLES=N``
  runs N examples per reader, e.g. 20000 for a long local fuzz): ``validate_unit`` returns,
  within 5 s, either a kept row that fits the validated Arrow schema, or a quarantine row
  with a specific reason — never ``parser_error``, which marks a parser bug.
* Reconciliation: files of mutated records of every line-based format go through the real
  ``techscreen ingest``: each line is read as one record, and read = kept + quarantined +
  merged.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import random
import signal

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql.pandas.types import to_arrow_schema

from conftest import ROOT
from techscreen.cli import main
from techscreen.config import load_settings
from techscreen.ingest.parse import validate_unit
from techscreen.ingest.validate import Rules
from techscreen.io.formats import expand, plan
from techscreen.io.records import Reason
from techscreen.schema import VALIDATED

EXAMPLES = int(os.environ.get("TECHSCREEN_FUZZ_EXAMPLES", "120"))
SEEDS_PER_READER = 12
ARROW = to_arrow_schema(VALIDATED)
REASONS = {r.value for r in Reason} - {Reason.PARSER_ERROR.value}

# Pieces a mutation inserts: what breaks parsers in practice.
NASTY = [
    '"', "\\", "{", "}", "[", "]", ",", ":", "<", ">", "&", "&amp;", "&#0;", "&#xD800;",
    "<![CDATA[", "]]>", "<!--", "-->", '<!ENTITY e "x">', '<!DOCTYPE d SYSTEM "file:///x">',
    "\x00", "\x1b", "\ufeff", "\u202e", "\u2028", "\r\n", "\n", "\t", "NaN", "Infinity",
    "1e999", "-0", "99999999999999999999999", "null", "true", "[]", "{}", "\\u0000", "\\ud800",
    "中华人民共和国", "發明專利", "ＡＢＣ１２３", "，。；：", "🧪", "e\u0301", "٣",
]  # fmt: skip

_nasty = st.sampled_from(NASTY)
_text = st.one_of(_nasty, st.text(st.characters(exclude_categories=("Cs",)), max_size=24))
_json_value = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([2**31, 10**30, -1, "1e999"])
    | st.floats()
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
_op = st.one_of(
    st.tuples(st.just("insert"), st.floats(0, 1), _text),
    st.tuples(st.just("delete"), st.floats(0, 1), st.integers(1, 200)),
    st.tuples(st.just("replace"), st.floats(0, 1), st.integers(1, 40), _text),
    st.tuples(st.just("duplicate"), st.floats(0, 1), st.integers(1, 200)),
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("json_value"), st.floats(0, 1), _json_value),
)


def mutate(payload: str, ops: list[tuple]) -> str:
    """Apply mutation ops (``(name, position in [0, 1], …)``) to a payload, in order."""
    for name, where, *args in ops:
        at = int(where * len(payload))
        if name == "insert":
            payload = payload[:at] + args[0] + payload[at:]
        elif name == "delete":
            payload = payload[:at] + payload[at + args[0] :]
        elif name == "replace":
            payload = payload[:at] + args[1] + payload[at + args[0] :]
        elif name == "duplicate":
            payload = payload[:at] + payload[at : at + args[0]] * 2 + payload[at + args[0] :]
        elif name == "truncate":
            payload = payload[:at]
        elif name == "json_value":
            payload = _set_json_value(payload, where, args[0])
    return payload


def _set_json_value(payload: str, where: float, value) -> str:
    try:
        record = json.loads(payload)
    except ValueError:
        return payload
    if not isinstance(record, dict) or not record:
        return payload
    keys = sorted(record)
    record[keys[int(where * len(keys)) % len(keys)]] = value
    return json.dumps(record, ensure_ascii=False, allow_nan=True)


def _random_ops(rng: random.Random) -> list[tuple]:
    """The same kinds of ops as the hypothesis strategy, drawn by a seeded ``random``."""
    ops = []
    for _ in range(rng.randint(1, 3)):
        name = rng.choice(["insert", "delete", "replace", "duplicate", "truncate", "json_value"])
        where = rng.random()
        extra = {
            "insert": [rng.choice(NASTY)],
            "delete": [rng.randint(1, 200)],
            "replace": [rng.randint(1, 40), rng.choice(NASTY)],
            "duplicate": [rng.randint(1, 200)],
            "truncate": [],
            "json_value": [rng.choice([None, -1, 10**30, "", [], {"a": [1, None]}, "中文"])],
        }[name]
        ops.append((name, where, *extra))
    return ops


@pytest.fixture(scope="module")
def seeds(spark) -> dict:
    """Per reader name: (reader, real payloads from the bundled sample)."""
    s = load_settings(ROOT / "conf")
    out = {}
    for name, (reader, files) in plan(expand([ROOT / "data" / "sample"]), s.ingest).items():
        rows = reader.units(spark, files).limit(SEEDS_PER_READER).collect()
        out[name] = (reader, [r.payload for r in rows])
    return out


@contextlib.contextmanager
def _time_limit(seconds: float):
    def hang(signum, frame):
        raise TimeoutError(f"a parser ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


READERS = sorted(plan(expand([ROOT / "data" / "sample"]), load_settings(ROOT / "conf").ingest))


@pytest.mark.parametrize("name", READERS)
def test_a_mutated_record_is_kept_whole_or_quarantined_with_a_reason(seeds, name):
    reader, payloads = seeds[name]
    assert payloads, f"no seed records for {name}"
    rules = Rules(20000, "quarantine")
    names = VALIDATED.fieldNames()

    @settings(
        max_examples=EXAMPLES,
        derandomize=EXAMPLES <= 1000,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.sampled_from(payloads), st.lists(_op, min_size=1, max_size=4))
    def check(payload: str, ops: list[tuple]) -> None:
        mutated = mutate(payload, ops)
        with _time_limit(5):
            row = validate_unit(reader, rules, mutated, 300)
        if row.get("reason"):
            assert row["reason"] in REASONS, (row, mutated[:2000])
            assert row["excerpt"] == mutated[:300]
        else:
            assert row["publication_number"], mutated[:2000]
            pa.RecordBatch.from_pylist([{n: row.get(n) for n in names}], schema=ARROW)

    check()


# --- reconciliation through the real ingest ----------------------------------------------------

LINE_FORMATS = {
    # reader → file name the reader recognises
    "lens-json": "fuzz-lens.jsonl",
    "mapped:uspto_applications_jsonl": "fuzz_ipa_applications.jsonl",
    "mapped:waste_heat_abstracts_jsonl": "waste_heat_fuzz.jsonl",
    "mapped:uspto_y02_grants_jsonl": "fuzz_y02_grants.jsonl",
}


def _with_lone_surrogate(payload: str) -> str:
    """The record with ``\\ud800`` (valid JSON, not encodable text) ending its longest text."""
    record = json.loads(payload)
    key = max((k for k, v in record.items() if isinstance(v, str)), key=lambda k: len(record[k]))
    record[key] += "\ud800"
    return json.dumps(record)  # ASCII-escaped: the file itself is valid UTF-8


def test_mutated_files_reconcile_through_ingest(seeds, tmp_path):
    rng = random.Random(20261130)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    lines_written = {}
    for name, file_name in LINE_FORMATS.items():
        lines = []
        for i in range(150):
            payload = seeds[name][1][i % len(seeds[name][1])]
            mutated = mutate(payload, _random_ops(rng)) if i % 3 else payload
            # one record per line, as in the real files (a mutation may not add a line break)
            lines.append(mutated.replace("\r", " ").replace("\n", " "))
        lines.append(_with_lone_surrogate(seeds[name][1][0]))
        text = "\n".join(lines) + "\n"
        (inputs / file_name).write_text(text, encoding="utf-8")
        lines_written[name] = sum(1 for line in lines if line.strip())
    ws = tmp_path / "ws"
    out = io.StringIO()
    # two records in three are mutated: more than the share that fails an ingest may be bad
    share = ["--set", "ingest.max_quarantine_share=1"]
    with contextlib.redirect_stdout(out):
        code = main(["ingest", str(inputs), "--set", f"paths.workspace={ws}", *share])
    assert code == 0
    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    assert summary["reconciled"] is True
    assert summary["read_by_format"] == lines_written
    assert summary["read"] == summary["kept"] + summary["quarantined"] + summary["merged"]
    assert summary["quarantined"] > 0 and summary["kept"] > 0
    assert "parser_error" not in summary["quarantined_by_reason"]
    # the lone surrogate lines: quarantined, where one of them used to fail its Spark task
    assert summary["quarantined_by_reason"]["undecodable_bytes"] >= len(LINE_FORMATS)


def test_gzip_of_mutated_bytes_is_quarantined_not_lost(tmp_path):
    """Bytes that are not UTF-8 inside a gzip member become a reason, never a crash."""
    raw = ROOT / "data" / "sample" / "waste_heat" / "waste_heat_recovery_abstracts.jsonl.gz"
    lines = gzip.decompress(raw.read_bytes()).splitlines()[:20]
    broken = [
        line[:40] + b"\xff\xfe\xc3" + line[40:] if i % 2 else line for i, line in enumerate(lines)
    ]
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "waste_heat_bytes.jsonl.gz").write_bytes(gzip.compress(b"\n".join(broken) + b"\n"))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["ingest", str(inputs), "--set", f"paths.workspace={tmp_path / 'ws'}"])
    assert code == 0
    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    assert summary["read"] == 20 and summary["reconciled"] is True
    assert summary["quarantined_by_reason"].get("undecodable_bytes") == 10
