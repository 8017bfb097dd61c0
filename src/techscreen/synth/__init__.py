"""Synthetic patent data for load and recovery tests: ``techscreen synth --n N --seed S --out DIR``.

What it writes: ``N`` invented patent applications as gzipped JSON Lines in the layout of the
real USPTO pre-grant applications sample (``data/sample/ipa_week``), so ``techscreen ingest``
reads them through the ``mapped:uspto_applications_jsonl`` reader, detected by file name. See
:mod:`techscreen.synth.write` for the folder layout and :mod:`techscreen.synth.generate` for
the model. Streaming: records are made and written one at a time; what grows with ``N`` is
only a citation urn of 4-byte integers (≈ 28 bytes a record).

How it is clearly synthetic: publication numbers ``XS<year><serial>A1``. ``XS`` lies in ISO
3166-1's user-assigned range XA–XZ, which ISO never gives to a country; WIPO ST.3 uses only a
few codes of that range (XN, XU, XV, XX — none is XS), so no real publication carries it.
Every record has ``"source": "synthetic"`` (the canonical schema has no such column, so in
the patents table the marker is the ``XS-`` jurisdiction and the source file name
``xs_synthetic_ipa_applications_*.jsonl.gz``).

What it plants, honestly stressing the pipeline:

* themes (default 60, even over the configured domains): runs of real IPC main groups whose
  codes fall in one domain, chosen with the frequency of subclasses in the real sample;
  each record has 1–5 codes around its theme, some from sibling themes and other domains;
* abstracts of 100–250 words: real sentence skeletons from the sample abstracts with their
  topical words replaced by theme words (IPC group titles), domain words and real
  background n-grams; titles likewise (:mod:`techscreen.synth.text`);
* filing years 2004–2023 with volume growing 7 % a year, themes emerging and declining,
  applicant countries per domain (CN share ~5 % in 2004, ~54 % in 2023), Zipf-sized
  applicants (synthetic names, a few cross-domain groups per country);
* a citation graph with preferential attachment, 80 % within the theme, only to earlier
  records (``citations[*].publication_number``);
* the truth, ``_themes.parquet`` (publication number → theme), which ingest never reads.

How well the pipeline recovers the themes (measured 2026-11-30 on 2 loaded cores):
``techscreen synth --n 20000 --seed 1``, then ``ingest`` (20,000 kept, 0 quarantined),
``domains``, ``embed`` with ``embed.embedder=static`` (the distilled static embedder, fitted
on ``data/sample``) and ``cluster`` with the default settings: 78 nodes for 60 themes, 0.8 %
noise; NMI of node against planted theme, over each patent in its planted domain, 0.845
(per domain 0.76 energy … 0.91 agriculture; AMI 0.84). The stage's own NMI against the main
IPC subclass is 0.44. The signal is ``SynthParams.theme_words`` (``--theme-words``), the
share of topical words drawn from the theme. In-process runs of the same embedder and
clusterer on 20,000 records of seed 1 (theme / domain words, hybrid share → NMI):
0.6 / 0.2, 5 % → 0.99; 0.3 / 0.3, 15 % (the defaults) → 0.85; 0.25 / 0.35, 15 % → 0.69
(one domain collapsed into 2 nodes); 0.15 / 0.35, 15 % → 0.42; 0.08 / 0.3, 20 % → 0.05.
Below ~0.25 HDBSCAN's node count becomes unstable, as on real English patents (README,
Clustering). Not measured with MiniLM vectors (an estimated 20 min for 20,000 texts here).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from techscreen.synth.generate import Synthesizer, SynthParams, Truth
from techscreen.synth.text import PhraseBank
from techscreen.synth.themes import Theme, plan_themes, read_titles
from techscreen.synth.write import check_target, write_dataset

__all__ = [
    "PhraseBank",
    "SynthParams",
    "Synthesizer",
    "Theme",
    "Truth",
    "build_synthesizer",
    "synthesize",
]


def build_synthesizer(
    settings: Any,
    n: int,
    seed: int,
    *,
    phrases: str | Path,
    params: SynthParams | None = None,
) -> Synthesizer:
    """Build the theme catalogue and phrase bank from settings and a real sample file.

    Args:
        settings: :class:`techscreen.config.Settings` (domain rules, IPC titles path).
        n: records to generate.
        seed: the random seed (same seed and ``n``: same records).
        phrases: a USPTO applications JSON Lines file (gzipped or not) to learn phrasing from.
        params: what to plant (default :class:`SynthParams`).
    """
    from techscreen.domains.rules import DomainRules

    params = params or SynthParams()
    bank = PhraseBank.from_jsonl(phrases)
    rules = DomainRules.from_settings(settings.domains)
    titles = read_titles(settings.cluster.labels.ipc_titles)
    rng = random.Random(f"techscreen.synth:{seed}:themes")
    themes = plan_themes(titles, rules, params.themes, rng, bank.code_counts)
    return Synthesizer(n, seed, themes, bank, params)


def synthesize(
    settings: Any,
    out: str | Path,
    n: int,
    seed: int,
    *,
    phrases: str | Path,
    per_file: int = 100_000,
    **overrides: Any,
) -> dict[str, Any]:
    """Write ``n`` synthetic records to ``out``; return the summary (counts, rate, paths).

    ``overrides`` set :class:`SynthParams` fields (``themes=60``, ``theme_words=0.3`` …).
    """
    check_target(Path(out))  # before the catalogue is built: fail fast
    params = SynthParams(**overrides)
    synth = build_synthesizer(settings, n, seed, phrases=phrases, params=params)
    return write_dataset(synth, out, per_file=per_file)
