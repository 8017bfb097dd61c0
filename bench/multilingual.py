"""Per-language embedding quality on the Chinese patent sets, embedders side by side in one run.

    .venv/bin/python bench/multilingual.py --data DIR [--docs 1000] [--fit-docs 8000] [--fp32]

For each Chinese source set in the ``--data`` folder (the full sets the sample was cut
from, see data/sample/SOURCE.md) — ``cn_agri_a01_abstracts`` (label: the IPC
subclass, 10 of A01), the CN records of ``waste_heat_recovery_abstracts`` with exactly one
search group (label: that IPC main group, of 23) and the CN-office records of
``green_aviation_patsnap`` (label: the subclass of the main IPC) — and each embedder, prints
``ipc_knn_agreement@10`` (``techscreen.embed.quality.knn_agreement``), NMI and ARI of a
k-means clustering (sklearn, k = the number of labels, seeded) against the labels, and
docs/s of ``encode`` in this process (after a warm-up; MiniLM's ONNX/torch use every core,
lexical-zh one, so docs/s favours MiniLM). Then the targets: lexical-zh ≥ 1.3× MiniLM on
raw Chinese on ``ipc_knn_agreement@10`` and ≥ 20× its docs/s; lexical-zh (held out)
≥ 0.75 on CN A01 and ≥ 1.25× the plain baseline on the waste-heat CN groups.

Embedders: ``minilm-int8`` (the default MiniLM: ≈ fp32 MiniLM's vectors at 2.5× the speed;
``--fp32`` adds fp32 MiniLM) on the raw Chinese text, and on the English translation where
the set has one (green aviation: PatSnap's machine translation); ``lexical-zh`` fitted on
the set's records *outside* the evaluation sample (held out: its fit never saw an evaluated
text), and fitted transductively on the evaluation texts plus those records (what the
pipeline does: it fits on the corpus it screens); the plain baseline ``jieba TF-IDF+SVD``
(jieba's default word cut, sklearn's ``TfidfVectorizer`` and ``TruncatedSVD`` to the
same dimensions as lexical-zh, L2-normalised, nothing else), fitted on the same held-out
records; and the ``static`` embedder. ``--lexical-only`` leaves MiniLM and static out (the
slow part: for trying lexical-zh settings).

The evaluation sample is the first ``--docs`` records by a hash of their number (at most
half of a set, so the held-out fit keeps data). The sets are read here with pandas, not the
ingest readers, so the bench depends on the raw files only.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from report import print_table
from techscreen.config import load_settings
from techscreen.embed.lexical import LexicalEmbedder, build_lexical
from techscreen.embed.models import ensure_built, lexical_options
from techscreen.embed.quality import knn_agreement
from techscreen.embed.registry import loaded, make_embedder
from techscreen.embed.text import patent_text

ROOT = Path(__file__).resolve().parents[1]
RECIPE = "title_abstract"


@dataclass
class ChineseSet:
    """One evaluation set: texts (Chinese, English where any), labels, and the fit pool."""

    name: str
    ids: list[str]
    texts: list[str]
    english: list[str] | None
    labels: list[str]
    fit_texts: list[str]  # Chinese texts of records outside the evaluation sample


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _split(frame: pd.DataFrame, docs: int, fit_docs: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(evaluation sample, fit pool): the labelled rows first by hash; the rest, capped."""
    frame = frame.assign(_h=frame["id"].map(_hash)).sort_values("_h")
    labelled = frame[frame["label"].notna() & (frame["text"] != "")]
    chosen = labelled.head(min(docs, len(labelled) // 2))
    rest = frame[~frame["id"].isin(set(chosen["id"])) & (frame["text"] != "")]
    return chosen, rest.head(fit_docs)


def _text(title, abstract) -> str:
    clean = [None if pd.isna(v) else str(v) for v in (title, abstract)]
    return patent_text(clean[0], clean[1], RECIPE)


def cn_agri(data: Path, docs: int, fit_docs: int) -> ChineseSet:
    raw = pd.read_csv(data / "cn_agri_a01_abstracts" / "cn_agri_a01_abstracts.csv", dtype=str)
    frame = pd.DataFrame(
        {
            "id": raw["application_number"] + "/" + raw["patent_id"],
            "text": [_text(t, a) for t, a in zip(raw["title"], raw["abstract"], strict=True)],
            "label": raw["ipc_subclass"],
        }
    )
    ev, fit = _split(frame, docs, fit_docs)
    return ChineseSet("cn_agri_a01", *_columns(ev), None, ev["label"].tolist(), _fit(fit))


def waste_heat_cn(data: Path, docs: int, fit_docs: int) -> ChineseSet:
    path = data / "waste_heat_recovery_abstracts" / "waste_heat_recovery_abstracts.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        records = [r for r in map(json.loads, f) if r["country"] == "CN"]
    frame = pd.DataFrame(
        {
            "id": [r["publication_number"] for r in records],
            "text": [_text(r.get("title"), r["abstract"]) for r in records],
            # one search group only: a record found under two groups has no single label
            "label": [g[0] if len(g := r["ipc_groups"]) == 1 else None for r in records],
        }
    )
    ev, fit = _split(frame, docs, fit_docs)
    return ChineseSet("waste_heat_cn", *_columns(ev), None, ev["label"].tolist(), _fit(fit))


def green_aviation(data: Path, docs: int, fit_docs: int) -> ChineseSet:
    raw = pd.read_excel(
        data / "green_aviation_patsnap" / "green_aviation_patsnap_export.xlsx", dtype=str
    )
    main = raw["IPC主分类号"].fillna("-").str.strip()
    frame = pd.DataFrame(
        {
            "id": raw["公开(公告)号"],
            "text": [
                _text(t, a)
                for t, a in zip(raw["标题(译)(简体中文)"], raw["摘要(译)(简体中文)"], strict=True)
            ],
            "english": [
                _text(t, a)
                for t, a in zip(raw["标题(译)(English)"], raw["摘要(译)(English)"], strict=True)
            ],
            # evaluated: records of the Chinese office (original Chinese text); every other
            # record's Chinese (translated) text may still be fitted on
            "label": [
                m[:4] if office == "中国" and m != "-" else None
                for m, office in zip(main, raw["受理局"], strict=True)
            ],
        }
    )
    ev, fit = _split(frame, docs, fit_docs)
    ids, texts = _columns(ev)
    return ChineseSet(
        "green_aviation_cn", ids, texts, ev["english"].tolist(), ev["label"].tolist(), _fit(fit)
    )


def _columns(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    return frame["id"].tolist(), frame["text"].tolist()


def _fit(frame: pd.DataFrame) -> list[str]:
    return frame["text"].tolist()


def timed_encode(model, texts: list[str]) -> tuple[np.ndarray, float]:
    """(vectors, docs/s) after a warm-up batch; length-sorted like the embed job does."""
    model.encode(texts[:16])
    order = np.argsort([len(t) for t in texts], kind="stable")
    started = time.perf_counter()
    vectors = model.encode([texts[i] for i in order])
    rate = len(texts) / (time.perf_counter() - started)
    out = np.empty_like(vectors)
    out[order] = vectors
    return out, rate


def scores(vectors: np.ndarray, labels: list[str], seed: int = 0) -> tuple[float, float, float]:
    """(ipc_knn_agreement@10, NMI, ARI of k-means with k = number of labels)."""
    k = len(set(labels))
    found = KMeans(k, n_init=4, random_state=seed).fit_predict(vectors)
    return (
        knn_agreement(vectors, labels, 10),
        normalized_mutual_info_score(labels, found),
        adjusted_rand_score(labels, found),
    )


class JiebaTfidfSvd:
    """The plain baseline: jieba words, TF-IDF, truncated SVD, L2 rows; fitted on ``texts``."""

    def __init__(self, texts: list[str], dims: int, seed: int = 0) -> None:
        import jieba
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        jieba.setLogLevel(logging.WARNING)
        self.tfidf = TfidfVectorizer(tokenizer=jieba.lcut, token_pattern=None)
        x = self.tfidf.fit_transform(texts)
        self.svd = TruncatedSVD(min(dims, min(x.shape) - 1), random_state=seed).fit(x)

    def encode(self, texts: list[str]) -> np.ndarray:
        v = self.svd.transform(self.tfidf.transform(texts))
        return (v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def lexical(texts: list[str], settings, folder: Path) -> LexicalEmbedder:
    build_lexical(folder, texts, corpus={"corpus": folder.name}, **lexical_options(settings.embed))
    e = settings.embed
    return LexicalEmbedder(
        path=str(folder), max_tokens=e.max_tokens, batch_size=e.batch_size
    ).load()


def run(
    data: Path,
    docs: int,
    fit_docs: int,
    fp32: bool,
    lexical_only: bool = False,
    overrides: list[str] | None = None,
) -> None:
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    settings = load_settings(ROOT / "conf", overrides=overrides or [])
    minilms = [] if lexical_only else ["minilm-int8", *(["minilm"] if fp32 else [])]
    others = [] if lexical_only else ["static"]
    for kind in [*minilms[:1], *others]:
        ensure_built(settings.embed.model_copy(update={"embedder": kind}))
    models = {
        k: loaded(make_embedder(settings.embed.model_copy(update={"embedder": k})))
        for k in [*minilms, *others]
    }
    dims = settings.embed.lexical.dims
    sets = [f(data, docs, fit_docs) for f in (cn_agri, waste_heat_cn, green_aviation)]
    rows: list[tuple[str, str, str]] = []
    targets: list[tuple[str, str, str]] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-multilingual-"))
    header = f"{'knn@10':>7} {'NMI':>6} {'ARI':>6} {'docs/s':>8}"
    for s in sets:
        logging.warning("%s: %d texts, %d labels", s.name, len(s.texts), len(set(s.labels)))
        rows.append(
            (
                f"{s.name}: {len(s.texts)} texts, {len(set(s.labels))} labels, "
                f"mean {np.mean([len(t) for t in s.texts]):.0f} chars",
                header,
                "",
            )
        )
        result: dict[str, tuple[float, float, float, float]] = {}
        runs = [(f"{k} on Chinese", models[k], s.texts) for k in minilms]
        if s.english is not None and minilms:
            runs.append(("minilm-int8 on English translation", models["minilm-int8"], s.english))
        baseline = f"jieba TF-IDF+SVD, fit held out ({len(s.fit_texts)} texts)"
        runs.append((baseline, JiebaTfidfSvd(s.fit_texts, dims), s.texts))
        held_out = f"lexical-zh, fit held out ({len(s.fit_texts)} texts)"
        held = lexical(s.fit_texts, settings, tmp / f"{s.name}-held-out")
        runs.append((held_out, held, s.texts))
        both = lexical([*s.texts, *s.fit_texts], settings, tmp / f"{s.name}-transductive")
        runs.append(("lexical-zh, fit incl. evaluated texts", both, s.texts))
        runs += [(f"{k} on Chinese", models[k], s.texts) for k in others]
        for name, model, texts in runs:
            vectors, rate = timed_encode(model, texts)
            result[name] = (*scores(vectors, s.labels), rate)
            knn, nmi, ari, _ = result[name]
            rows.append((f"  {name}", f"{knn:7.3f} {nmi:6.3f} {ari:6.3f} {rate:8.1f}", ""))
        lex, plain = result[held_out], result[baseline]
        if s.name == "cn_agri_a01":
            targets.append((f"{s.name}: lexical-zh (held out) knn@10", f"{lex[0]:.3f}", "≥ 0.75"))
        targets.append(
            (
                f"{s.name}: lexical-zh ÷ jieba TF-IDF+SVD knn@10 (held out)",
                f"{lex[0]:.3f} ÷ {plain[0]:.3f} = {lex[0] / plain[0]:.2f}×",
                "≥ 1.25×" if s.name == "waste_heat_cn" else "",
            )
        )
        if minilms:
            base = result["minilm-int8 on Chinese"]
            targets += [
                (
                    f"{s.name}: lexical-zh (held out) ÷ minilm-int8 knn@10",
                    f"{lex[0]:.3f} ÷ {base[0]:.3f} = {lex[0] / base[0]:.2f}×",
                    "≥ 1.3×",
                ),
                (
                    f"{s.name}: lexical-zh ÷ minilm-int8 docs/s",
                    f"{lex[3]:.0f} ÷ {base[3]:.1f} = {lex[3] / base[3]:.0f}×",
                    "≥ 20×",
                ),
            ]
    print_table(
        "multilingual embedding benchmark (Chinese sets)",
        rows + targets,
        32,
        notes=[
            f"data: {data}; lexical-zh: {lexical_options(settings.embed)}, fit ≤ {fit_docs} texts",
            f"load average {os.getloadavg()[0]:.2f}: docs/s are of one busy machine",
        ],
    )


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1000, help="evaluated texts per set")
    parser.add_argument("--fit-docs", type=int, default=8000, help="held-out fit texts per set")
    parser.add_argument(
        "--data", type=Path, required=True, help="folder of the full source data sets"
    )
    parser.add_argument("--fp32", action="store_true", help="also fp32 MiniLM (slow on CPU)")
    parser.add_argument(
        "--lexical-only", action="store_true", help="lexical-zh and the baseline only (fast)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a settings override, e.g. embed.lexical.neighbours=0 (repeatable)",
    )
    args = parser.parse_args()
    run(args.data, args.docs, args.fit_docs, args.fp32, args.lexical_only, args.set)
