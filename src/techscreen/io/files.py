"""Atomic replacement of folders: how every table and model artifact lands in place."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path


def staging_dir(target: Path) -> Path:
    """A fresh hidden folder beside ``target`` to build it in (same filesystem: renames work)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    return target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"


def staging_file(target: Path) -> Path:
    """A fresh hidden file name beside ``target`` to write it in before renaming it."""
    return target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"


def replace_dir(new: Path, target: Path) -> None:
    """Rename ``new`` to ``target``, replacing an existing ``target`` folder.

    ``os.replace`` cannot overwrite a non-empty folder, so the old one is moved aside first
    and put back if the second rename fails; the window without a ``target`` is two renames.
    """
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def staged_dir(target: Path) -> Iterator[Path]:
    """A fresh folder to build ``target`` in; renamed into place on success, removed on error."""
    tmp = staging_dir(target)
    tmp.mkdir()
    try:
        yield tmp
        replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
