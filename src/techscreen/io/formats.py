"""Which reader reads which file: the reader registry and format detection."""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from techscreen.config import IngestSettings
from techscreen.io.base import Reader
from techscreen.io.lens import LensCsvReader, LensJsonReader
from techscreen.io.mapped import MappedReader
from techscreen.io.patentsview import PatentsViewReader
from techscreen.io.patsnap import PatSnapReader
from techscreen.io.uspto_application_xml import UsptoApplicationXmlReader
from techscreen.io.uspto_xml import UsptoGrantXmlReader

_HEAD_BYTES = 64 * 1024
# Files that sit beside data and are not data: provenance notes, Spark/Hadoop markers.
_NOT_DATA = (".md", ".txt", ".crc", ".json.schema")


class FormatError(ValueError):
    """An input file no reader recognises, or a format name that does not exist."""


def readers(settings: IngestSettings) -> list[Reader]:
    """All readers, configured mappings first (a mapping is the user's explicit choice)."""
    mapped: list[Reader] = [MappedReader(n, m) for n, m in settings.mapped.items()]
    return [
        *mapped,
        UsptoGrantXmlReader(),
        UsptoApplicationXmlReader(),
        PatentsViewReader(),
        LensCsvReader(),
        LensJsonReader(),
        PatSnapReader(),
    ]


def expand(paths: Iterable[str | Path]) -> list[str]:
    """Expand files and folders (recursively) into a sorted list of data files."""
    files: list[str] = []
    for path in map(Path, paths):
        if not path.exists():
            raise FormatError(f"input not found: {path}")
        candidates = sorted(path.rglob("*")) if path.is_dir() else [path]
        for file in candidates:
            if file.is_file() and not _skipped(file):
                files.append(str(file.resolve()))
    return sorted(set(files))


def _skipped(file: Path) -> bool:
    name = file.name
    return name.startswith((".", "_")) or name.lower().endswith(_NOT_DATA)


def head(path: str) -> bytes:
    """The first bytes of a file, decompressed if it is gzip."""
    with open(path, "rb") as raw:
        magic = raw.read(2)
    opener = gzip.open if magic == b"\x1f\x8b" else open
    with opener(path, "rb") as stream:
        return stream.read(_HEAD_BYTES)


def plan(files: Sequence[str], settings: IngestSettings) -> dict[str, tuple[Reader, list[str]]]:
    """Group files by the reader that reads them: ``{reader name: (reader, files)}``.

    Raises:
        FormatError: naming the files no reader recognises, or an unknown forced format.
    """
    available = readers(settings)
    if settings.format != "auto":
        chosen = [r for r in available if r.name == settings.format]
        if not chosen:
            names = ", ".join(r.name for r in available)
            raise FormatError(f"unknown format {settings.format!r}; known: {names}")
        return {chosen[0].name: (chosen[0], list(files))}
    groups: dict[str, tuple[Reader, list[str]]] = {}
    unknown: list[str] = []
    for file in files:
        first = head(file)
        reader = next((r for r in available if r.detect(file, first)), None)
        if reader is None:
            unknown.append(os.path.basename(file))
            continue
        groups.setdefault(reader.name, (reader, []))[1].append(file)
    if unknown:
        raise FormatError(
            f"no reader recognises {', '.join(unknown[:5])}"
            + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
            + ": pass --format or add a mapping under ingest.mapped"
        )
    return groups
