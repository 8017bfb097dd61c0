"""The static embedder's word cache against the tokenizer, side by side on the same texts.

    .venv/bin/python bench/word_pieces.py [--patents WORKSPACE/patents] [--docs 20000]

Texts: title + abstract of the patents table given (e.g. a ``bench/scale.py`` workspace),
else of the bundled sample's USPTO applications (real, English). Each way tokenises every
text once, in this process, best of ``--repeat`` runs, a fresh cache each run (so the cache
also pays for learning its words); the ids are checked equal. The tokenizer uses its own
threads (Rust, all cores); the cache runs in one Python thread, as in one Spark task.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample" / "ipa_week" / "uspto_ipa230105_applications.jsonl.gz"


def texts(patents: Path | None, docs: int) -> list[str]:
    if patents is not None:
        import pandas as pd

        frame = pd.read_parquet(patents, columns=["title", "abstract"]).head(docs)
        return (frame.title.fillna("") + ". " + frame.abstract.fillna("")).tolist()
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines]
    return [f"{r.get('title') or ''}. {r.get('abstract') or ''}" for r in records][:docs]


def best(run, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - start)
    return min(times), out


def _main() -> None:
    from tokenizers import Tokenizer

    from techscreen.embed.minilm import packaged_minilm
    from techscreen.embed.static import plain_tokenizer
    from techscreen.embed.word_pieces import WordPieceCache

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patents", type=Path)
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    tokenizer = plain_tokenizer(Tokenizer.from_file(str(packaged_minilm() / "tokenizer.json")))
    batch = texts(args.patents, args.docs)
    whole, truth = best(
        lambda: [e.ids for e in tokenizer.encode_batch_fast(batch, add_special_tokens=False)],
        args.repeat,
    )
    cached, ids = best(lambda: WordPieceCache(tokenizer).encode(batch), args.repeat)
    assert ids == truth, "the word cache's ids differ from the tokenizer's"
    plain = sum(map(WordPieceCache(tokenizer).plain, batch))
    print(f"{len(batch):,} texts ({plain:,} plain ASCII), {os.cpu_count()} cores; ids equal")
    print(f"tokenizer (Rust, own threads): {len(batch) / whole:10,.0f} texts/s")
    print(f"word cache (one thread):       {len(batch) / cached:10,.0f} texts/s")
    print(f"cache ÷ tokenizer: {whole / cached:.2f}×")


if __name__ == "__main__":
    _main()
