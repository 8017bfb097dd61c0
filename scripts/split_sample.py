"""Split a folder of patent files into two halves, A and B, record by record.

For trying incremental screening (``pipelines/update.yaml``) on real data: screen half A,
then add half B. Each file keeps its name (formats are detected by name) and is cut into its
records — lines of JSON Lines, documents of concatenated XML, rows of CSV, a record's rows
together where a key column says which rows are one record (``patent_id``, ``pgpub_id``:
PatentsView tables, so a patent's tables land in the same half). A record goes to A when the
SHA-256 of its text (or key) is even, else to B: the halves are of one kind, about equal,
and the same input always splits the same way.

    .venv/bin/python scripts/split_sample.py data/sample /tmp/halves   # → /tmp/halves/{A,B}
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
from collections.abc import Iterable
from pathlib import Path

KEY_COLUMNS = ("patent_id", "pgpub_id")  # a record's rows share the value


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _read(path: Path) -> str:
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
            return f.read()
    return path.read_text(encoding="utf-8-sig")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8", newline="") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")


def _records(path: Path, text: str) -> tuple[str, list[tuple[str, str]]]:
    """A file's header ("" if none) and its records as (key, text)."""
    if ".jsonl" in path.name:
        return "", [(_key(line), line + "\n") for line in text.splitlines() if line.strip()]
    if ".xml" in path.name:
        docs = [d for d in text.split("<?xml") if d.strip()]
        return "", [(_key(d), "<?xml" + d) for d in docs]
    header, *rows = list(csv.reader(io.StringIO(text)))
    column = next((header.index(c) for c in KEY_COLUMNS if c in header), None)
    grouped: dict[str, list[list[str]]] = {}
    for row in rows:
        key = _key(row[column] if column is not None else "\x1f".join(row))
        grouped.setdefault(key, []).append(row)
    return _csv([header]), [(k, _csv(group)) for k, group in grouped.items()]


def _csv(rows: Iterable[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def halves(
    source: Path, out: Path, files: list[str] | None = None, per_file: int | None = None
) -> tuple[Path, Path]:
    """Write ``out/A`` and ``out/B``: every file of ``source`` cut in two.

    Args:
        source: the folder read.
        out: where the halves are written.
        files: only these files (relative to ``source``).
        per_file: keep this many records of each file (the first by hash), then split.
    """
    a, b = out / "A", out / "B"
    paths = [source / f for f in files] if files else sorted(source.rglob("*"))
    for path in paths:
        if not path.is_file() or path.suffix == ".md":
            continue
        header, records = _records(path, _read(path))
        kept = set(sorted(k for k, _ in records)[:per_file])  # in the file's order
        even = [r for r in records if r[0] in kept and int(r[0], 16) % 2 == 0]
        odd = [r for r in records if r[0] in kept and int(r[0], 16) % 2 == 1]
        for half, part in ((a, even), (b, odd)):
            _write(half / path.relative_to(source), header + "".join(text for _, text in part))
    return a, b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="folder of patent files (e.g. data/sample)")
    parser.add_argument("out", type=Path, help="where A/ and B/ are written")
    parser.add_argument("--per-file", type=int, help="keep this many records of each file")
    args = parser.parse_args()
    a, b = halves(args.source, args.out, per_file=args.per_file)
    print(f"{a}\n{b}")


if __name__ == "__main__":
    main()
