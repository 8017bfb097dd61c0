"""techscreen synth: deterministic, streamed, ingestible synthetic patents with planted truth."""

import gzip
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from conftest import ROOT
from techscreen.cli import main
from techscreen.config import load_settings
from techscreen.synth import synthesize
from techscreen.synth.write import CATALOG, NOTE, TRUTH

PHRASES = ROOT / "data" / "sample" / "ipa_week" / "uspto_ipa230105_applications.jsonl.gz"
# Absolute reference paths, so the tests do not depend on the working directory.
PATHS = [
    f"domains.concordance={ROOT / 'data' / 'reference' / 'wipo_ipc_technology.csv'}",
    f"cluster.labels.ipc_titles={ROOT / 'data' / 'reference' / 'ipc_titles.tsv.gz'}",
]


def settings():
    return load_settings(ROOT / "conf", overrides=PATHS)


def cli(capsys, *args: str) -> tuple[int, dict | None, str]:
    code = main(
        [*args, "--conf-dir", str(ROOT / "conf"), *(a for p in PATHS for a in ("--set", p))]
    )
    out, err = capsys.readouterr()
    lines = [line for line in out.splitlines() if line.strip()]
    return code, (json.loads(lines[-1]) if code == 0 else None), err


def synth_cli(capsys, out: Path, n: int, seed: int, *extra: str) -> dict:
    code, summary, err = cli(
        capsys, "synth", "--n", str(n), "--seed", str(seed), "--out", str(out), *extra,
        "--phrases", str(PHRASES),
    )  # fmt: skip
    assert code == 0, err
    return summary


def records(folder: Path) -> list[dict]:
    rows = []
    for part in sorted(folder.glob("*.jsonl.gz")):
        with gzip.open(part, "rt", encoding="utf-8") as f:
            rows.extend(json.loads(line) for line in f)
    return rows


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, list[dict], pd.DataFrame]:
    out = tmp_path_factory.mktemp("synth") / "ds"
    synthesize(settings(), out, 5000, 11, phrases=PHRASES, per_file=2000)
    return out, records(out), pd.read_parquet(out / TRUTH)


def test_same_seed_gives_same_bytes_whatever_the_split(capsys, tmp_path):
    a = synth_cli(capsys, tmp_path / "a", 2500, 7)
    synth_cli(capsys, tmp_path / "b", 2500, 7)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert a["files"] == 1 and a["records"] == 2500
    # Splitting into files changes nothing in the records, another seed changes everything.
    synth_cli(capsys, tmp_path / "split", 2500, 7, "--per-file", "600")
    assert records(tmp_path / "split") == records(tmp_path / "a")
    synth_cli(capsys, tmp_path / "other", 2500, 8)
    other = records(tmp_path / "other")
    assert [r["abstract"] for r in other] != [r["abstract"] for r in records(tmp_path / "a")]


def test_exactly_n_records_in_parts_of_at_most_per_file(dataset):
    out, rows, truth = dataset
    lines = []
    for part in sorted(out.glob("*.jsonl.gz")):
        with gzip.open(part, "rt", encoding="utf-8") as f:
            lines.append(sum(1 for _ in f))
    assert lines == [2000, 2000, 1000]
    assert len(rows) == len(truth) == 5000
    numbers = [r["publication_number"] for r in rows]
    assert len(set(numbers)) == 5000 and numbers == truth["publication_number"].tolist()
    assert all(
        n.startswith("XS") and r["source"] == "synthetic"
        for n, r in zip(numbers, rows, strict=True)
    )
    assert (out / NOTE).exists() and len(json.loads((out / CATALOG).read_text())["themes"]) == 60


_RSS_SCRIPT = """
import resource, sys
from techscreen.config import load_settings
from techscreen.synth import build_synthesizer
from techscreen.synth.write import write_dataset
n, out, phrases, *paths = sys.argv[1:]
synth = build_synthesizer(load_settings(sys.argv[-1], overrides=paths[:-1]), int(n), 1,
                          phrases=phrases)
import inspect
assert inspect.isgenerator(synth.records())
write_dataset(synth, out)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_memory_stays_flat_as_n_grows(tmp_path):
    def peak_kib(n: int) -> int:
        args = [str(n), str(tmp_path / f"n{n}"), str(PHRASES), *PATHS, str(ROOT / "conf")]
        done = subprocess.run(
            [sys.executable, "-c", _RSS_SCRIPT, *args], capture_output=True, text=True, check=True
        )
        return int(done.stdout.strip().splitlines()[-1])

    small, large = peak_kib(1000), peak_kib(20000)
    # 19,000 more records are ~44 MB of JSON; holding them would add far more than 30 MB.
    assert large - small < 30 * 1024, (small, large)


def test_abstracts_are_100_to_250_words_on_theme(dataset):
    _, rows, truth = dataset
    words = [len(r["abstract"].split()) for r in rows]
    assert min(words) >= 100 and max(words) <= 250
    assert 120 <= sum(words) / len(words) <= 200
    assert all(r["title"].strip() for r in rows)
    # The theme shows in the text: its title words are in most abstracts.
    catalog = json.loads((dataset[0] / CATALOG).read_text())["themes"]
    vocab = {t["theme"]: set(t["words"]) for t in catalog}
    hits = [
        len(vocab[theme] & set(r["abstract"].lower().split())) >= 3
        for r, theme in zip(rows, truth["theme"], strict=True)
    ]
    assert sum(hits) / len(hits) > 0.9


def test_codes_cluster_around_the_theme(dataset):
    _, rows, truth = dataset
    catalog = json.loads((dataset[0] / CATALOG).read_text())["themes"]
    codes = {t["theme"]: set(t["codes"]) for t in catalog}
    counts = Counter(len(r["ipcr"]) for r in rows)
    assert set(counts) <= {1, 2, 3, 4, 5} and len(counts) == 5
    assert all(r["ipcr"][0] in codes[t] for r, t in zip(rows, truth["theme"], strict=True))
    assert all(r["cpc_main"] + r["cpc_further"] == r["ipcr"] for r in rows)


def test_citations_point_backwards_with_preferential_attachment(dataset):
    _, rows, truth = dataset
    position = {r["publication_number"]: i for i, r in enumerate(rows)}
    theme = dict(zip(truth["publication_number"], truth["theme"], strict=True))
    indegree: Counter[str] = Counter()
    same_theme = total = 0
    for i, r in enumerate(rows):
        for c in r["citations"]:
            target = c["publication_number"]
            assert position[target] < i
            assert r["filing_date"] >= rows[position[target]]["filing_date"]
            indegree[target] += 1
            same_theme += theme[target] == theme[r["publication_number"]]
            total += 1
    assert 4 < total / len(rows) < 8
    degrees = [indegree[r["publication_number"]] for r in rows]
    mean = sum(degrees) / len(degrees)
    assert max(degrees) > 10 * mean  # heavy tail: a few records collect many citations
    assert sum(d == 0 for d in degrees) > 0.3 * len(degrees)  # and many are never cited
    top = sorted(degrees, reverse=True)[: len(degrees) // 100]
    assert sum(top) > 0.12 * sum(degrees)  # uniform attachment gives ~0.05
    assert same_theme / total > 0.7


def test_mixes_by_domain_country_and_year(dataset):
    _, rows, truth = dataset
    assert truth.groupby("domain")["theme"].nunique().to_dict() == {
        d: 10
        for d in (
            "agriculture",
            "chemistry_materials",
            "energy",
            "information_technology",
            "machinery",
            "medicine",
        )
    }
    early = truth[truth.filing_year <= 2007]
    late = truth[truth.filing_year >= 2020]
    assert (late.country == "CN").mean() > 3 * (early.country == "CN").mean()
    assert len(late) > 2 * len(early)  # filings grow
    assert truth.country.nunique() >= 10
    assert truth.filing_year.is_monotonic_increasing
    applicants = Counter(r["applicants"][0]["name"] for r in rows)
    assert applicants.most_common(1)[0][1] > 10 * len(rows) / len(applicants)


def test_screening_runs_on_the_size_aware_defaults_under_a_small_heap(
    spark, capsys, static_embed, tmp_path
):
    """The whole pipeline in its own JVM with a 600 MiB heap (the auto size here is ~4 GiB)
    and every other Spark setting left to the size-aware defaults. It embeds with the
    session's static embedder: the model runs in the Python workers, outside the JVM heap
    under test, and MiniLM would take a minute more on 2,000 texts."""
    out = tmp_path / "synth"
    synth_cli(capsys, out, 2000, 3)
    ws = tmp_path / "ws"
    sets = [
        *PATHS,
        *static_embed,
        f"paths.workspace={ws}",
        f"paths.input=[{out}]",
        "spark.driver_memory=600m",
    ]
    done = subprocess.run(
        [str(Path(sys.executable).with_name("techscreen")), "run", "pipelines/screening.yaml",
         *(a for s in sets for a in ("--set", s))],
        cwd=ROOT, capture_output=True, text=True, timeout=1200, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    stages = json.loads(done.stdout.strip().splitlines()[-1])["stages"]

    summary = stages["ingest"]
    # _themes.parquet, _themes_catalog.json and SYNTHETIC.md are not read as patents.
    assert summary["read_by_format"] == {"mapped:uspto_applications_jsonl": 2000}
    assert summary["kept"] == 2000 and summary["quarantined"] == 0
    assert summary["quarantined_by_reason"] == {} and summary["reconciled"] is True
    patents = spark.read.parquet(str(ws / "patents")).toPandas()
    assert set(patents.jurisdiction) == {"XS"} and set(patents.language) == {"en"}
    assert patents.warnings.map(len).sum() == 0
    numbers = set(patents.publication_number)
    cited = [c for cs in patents.cited_publications for c in cs]
    assert len(cited) > 4 * len(patents) and set(cited) <= numbers

    by_domain = stages["domains"]["patents_by_domain"]
    assert all(by_domain[d] > 50 for d in by_domain if d != "unassigned"), by_domain
    assert len(by_domain) == 7 and by_domain["unassigned"] == 0
    found = spark.read.parquet(str(ws / "patent_domains")).toPandas()
    truth = pd.read_parquet(out / TRUTH)
    truth["publication_number"] = truth.publication_number.str.replace(
        r"^XS(\d+)(A1)$", r"XS-\1-\2", regex=True
    )
    pairs = set(zip(found.publication_number, found.domain, strict=True))
    assert all((p, d) in pairs for p, d in zip(truth.publication_number, truth.domain, strict=True))

    # every patent is in a domain by its codes: placement fits no classifier
    placement = stages["cluster"]["placement"]
    assert placement["unassigned"] == 0 and placement["train"] == 0, placement
    grades = spark.read.parquet(str(ws / "grades")).toPandas()
    assert len(grades) >= 6 and (ws / "report" / "index.html").is_file()
    # Each stage ran with the small heap and partitions sized by the rule, and says so.
    client = MlflowClient(tracking_uri=f"sqlite:///{ws / 'mlflow.db'}")
    for name, result in stages.items():
        tags = client.get_run(result["run_id"]).data.tags
        assert tags["techscreen.spark.driver_memory"] == "600m", name
        assert tags["techscreen.spark.shuffle_partitions_from"] == "auto", name
        assert int(tags["techscreen.spark.shuffle_partitions"]) >= 2, name
    assert int(
        client.get_run(stages["ingest"]["run_id"]).data.tags["techscreen.spark.data_bytes"]
    ) > sum(p.stat().st_size for p in out.glob("*.jsonl.gz"))


def test_refuses_to_replace_a_folder_it_did_not_write(capsys, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.csv").write_text("a,b\n")
    args = ["--n", "10", "--out", str(tmp_path / "mine"), "--phrases", str(PHRASES)]
    code, _, err = cli(capsys, "synth", *args)
    assert code == 1 and "not an earlier synth output" in err.strip().splitlines()[-1]
    assert (tmp_path / "mine" / "notes.csv").exists()
