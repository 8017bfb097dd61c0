"""Embedding quality measures reused across experiments."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def main_subclass(ipc_codes: Sequence[str] | None, cpc_codes: Sequence[str] | None) -> str | None:
    """The patent's first IPC subclass, else its first CPC subclass (Y tags skipped), else None.

    Codes are sorted in the patents table, so "first" is deterministic rather than the
    office's main classification, which not every source records.
    """
    for codes in (ipc_codes, cpc_codes):
        for code in codes if codes is not None else ():
            if not code.startswith("Y"):
                return code[:4]
    return None


def knn_agreement(vectors: np.ndarray, labels: Sequence[str | None], k: int = 10) -> float:
    """``ipc_knn_agreement@k``: mean share of a patent's k nearest neighbours sharing its label.

    Patents without a label are left out, both as queries and as neighbours. ``vectors`` must
    be L2-normalised (cosine = dot product).

    Raises:
        ValueError: if fewer than k + 1 patents have a label.
    """
    keep = np.array([label is not None for label in labels])
    if keep.sum() <= k:
        raise ValueError(f"need more than {k} labelled vectors, got {int(keep.sum())}")
    x = np.asarray(vectors, dtype=np.float32)[keep]
    y = np.array([label for label in labels if label is not None])
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    neighbours = np.argpartition(-sims, k, axis=1)[:, :k]
    return float((y[neighbours] == y[:, None]).mean())
