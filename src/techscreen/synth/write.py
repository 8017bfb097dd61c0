"""Writing a synthetic data set: gzipped JSON Lines parts, the truth table, a note.

Layout of the output folder (built beside it, then renamed into place)::

    DIR/xs_synthetic_ipa_applications_00000.jsonl.gz   ≤ per_file records each
    DIR/xs_synthetic_ipa_applications_00001.jsonl.gz   …
    DIR/_themes.parquet          publication number → planted theme (truth)
    DIR/_themes_catalog.json     the themes: domain, IPC groups, titles, words; parameters
    DIR/SYNTHETIC.md             what this folder is

The part names match the ``uspto_applications_jsonl`` mapping (``*ipa*applications*.jsonl.gz``),
so ``techscreen ingest DIR`` reads them without ``--format``; ``_``-prefixed and ``.md`` files
are skipped by ingest's file expansion (:func:`techscreen.io.formats.expand`), so the truth
can never be read as patents. Gzip members carry no file name and mtime 0: the same ``n``
and seed give the same bytes.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from techscreen.io.files import replace_dir, staging_dir
from techscreen.synth.generate import BLOCK, MARKER, OFFICE, Synthesizer, Truth

log = logging.getLogger(__name__)

PART = "xs_synthetic_ipa_applications_{:05d}.jsonl.gz"
TRUTH = "_themes.parquet"
CATALOG = "_themes_catalog.json"
NOTE = "SYNTHETIC.md"
TRUTH_ROW_GROUP = 65_536
PROGRESS_EVERY = 100_000


def _truth_schema():
    import pyarrow as pa

    return pa.schema(
        [
            ("publication_number", pa.string()),
            ("theme", pa.int16()),
            ("theme_key", pa.string()),
            ("secondary_theme", pa.int16()),
            ("domain", pa.string()),
            ("filing_year", pa.int16()),
            ("country", pa.string()),
        ]
    )


class _TruthWriter:
    """Buffers truth rows and writes them as fixed-size Parquet row groups."""

    def __init__(self, path: Path, keys: list[str]) -> None:
        import pyarrow.parquet as pq

        self.schema = _truth_schema()
        self.writer = pq.ParquetWriter(path, self.schema, compression="zstd")
        self.keys = keys
        self.rows: list[Truth] = []

    def add(self, row: Truth) -> None:
        self.rows.append(row)
        if len(self.rows) >= TRUTH_ROW_GROUP:
            self.flush()

    def flush(self) -> None:
        import pyarrow as pa

        if not self.rows:
            return
        cols = list(zip(*self.rows, strict=True))
        table = pa.table(
            {
                "publication_number": cols[0],
                "theme": cols[1],
                "theme_key": [self.keys[t] for t in cols[1]],
                "secondary_theme": cols[2],
                "domain": cols[3],
                "filing_year": cols[4],
                "country": cols[5],
            },
            schema=self.schema,
        )
        self.writer.write_table(table)
        self.rows = []

    def close(self) -> None:
        self.flush()
        self.writer.close()


def _open_part(folder: Path, index: int, level: int) -> tuple[io.BufferedWriter, gzip.GzipFile]:
    raw = open(folder / PART.format(index), "wb")  # noqa: SIM115 - closed by _close_part
    return raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=level)


def _close_part(part: tuple[io.BufferedWriter, gzip.GzipFile]) -> None:
    part[1].close()
    part[0].close()


def check_target(out: Path) -> None:
    """Refuse a target that exists and is not an earlier synth output (never clobber data).

    Raises:
        FileExistsError: naming the folder.
    """
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / NOTE).exists())):
        raise FileExistsError(
            f"{out} exists and is not an earlier synth output: choose a new or empty folder"
        )


def write_dataset(
    synth: Synthesizer,
    out: str | Path,
    *,
    per_file: int = 100_000,
    compresslevel: int = 6,
) -> dict[str, Any]:
    """Stream the synthesizer's records into ``out`` (replacing an earlier synth output).

    Memory stays flat: records are serialised and compressed as they come, in buffers of
    :data:`BLOCK` lines; only the truth rows of one Parquet row group are held.

    Raises:
        FileExistsError: if ``out`` holds something other than an earlier synth output.
        ValueError: if ``per_file`` is not positive.
    """
    if per_file < 1:
        raise ValueError(f"per_file must be positive, got {per_file}")
    out = Path(out)
    check_target(out)
    stage = staging_dir(out)
    stage.mkdir(parents=True)
    started = time.perf_counter()
    raw_bytes = 0
    try:
        truth = _TruthWriter(stage / TRUTH, [t.key for t in synth.themes])
        part = _open_part(stage, 0, compresslevel)
        parts, in_part, lines = 1, 0, []
        by_domain: dict[str, int] = {}
        for i, (record, row) in enumerate(synth.records()):
            if in_part == per_file:
                data = "".join(lines).encode()
                raw_bytes += len(data)
                part[1].write(data)
                lines = []
                _close_part(part)
                part, parts, in_part = _open_part(stage, parts, compresslevel), parts + 1, 0
            lines.append(json.dumps(record, ensure_ascii=False) + "\n")
            in_part += 1
            truth.add(row)
            by_domain[row.domain] = by_domain.get(row.domain, 0) + 1
            if len(lines) >= BLOCK:
                data = "".join(lines).encode()
                raw_bytes += len(data)
                part[1].write(data)
                lines = []
            if (i + 1) % PROGRESS_EVERY == 0:
                rate = (i + 1) / (time.perf_counter() - started)
                log.info("synth: %d / %d records (%.0f/s)", i + 1, synth.n, rate)
        data = "".join(lines).encode()
        raw_bytes += len(data)
        part[1].write(data)
        _close_part(part)
        truth.close()
        catalog = {
            "n": synth.n,
            "seed": synth.seed,
            "params": synth.params.get_params(),
            "phrase_bank": synth.bank.summary(),
            "records_by_domain": dict(sorted(by_domain.items())),
            "themes": [{**t.catalogue_entry(), **synth.trends[t.index]} for t in synth.themes],
        }
        (stage / CATALOG).write_text(json.dumps(catalog, indent=1, sort_keys=True) + "\n")
        (stage / NOTE).write_text(_note(synth, parts, per_file))
        replace_dir(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    seconds = time.perf_counter() - started
    written = sum(f.stat().st_size for f in out.glob("*.jsonl.gz"))
    return {
        "out": str(out.resolve()),
        "records": synth.n,
        "seed": synth.seed,
        "files": parts,
        "themes": len(synth.themes),
        "records_by_domain": dict(sorted(by_domain.items())),
        "truth": str((out / TRUTH).resolve()),
        "bytes_json": raw_bytes,
        "bytes_gzip": written,
        "seconds": round(seconds, 2),
        "records_per_s": round(synth.n / seconds, 1),
        "mb_per_s_json": round(raw_bytes / seconds / 1e6, 2),
    }


def _note(synth: Synthesizer, parts: int, per_file: int) -> str:
    first, last = synth.publication_number(0), synth.publication_number(synth.n - 1)
    return f"""# Synthetic patent applications — not real patents

Written by `techscreen synth --n {synth.n} --seed {synth.seed}` ({parts} part(s) of at most
{per_file:,} records). Every record is invented; field layout of USPTO pre-grant applications
parsed to JSON Lines (the `uspto_applications_jsonl` mapping), each with `"source": "{MARKER}"`.

- Publication numbers `{first}` … `{last}`: office code `{OFFICE}` is in ISO 3166-1's
  user-assigned range (XA–XZ), which no country and no patent office uses, so they cannot
  collide with real publications. Ingested, their jurisdiction is `{OFFICE}`.
- Applicant names are made of random syllables; any likeness to a real company is chance.
- `{TRUTH}`: the planted theme of every record; `{CATALOG}`: the themes.
- `citations[*].publication_number` holds the citation graph; ingest reads it only if the
  mapping has `cited_publications: "citations[*].publication_number"`.
"""
