"""bench/validity.py's pure parts: expert labels, scores, the k-means oracle, table, targets."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
sys.modules.pop("report", None)  # tests/report, cached as a namespace package, shadows bench/

from validity import (  # noqa: E402
    SETS,
    TABLE_HEADER,
    agreement,
    common_classes,
    expert_label,
    node_figures,
    oracle_kmeans,
    table_rows,
    targets,
    write_subset,
)


def test_expert_label_takes_the_main_ipc_else_the_only_code():
    assert expert_label("C22C 38/02", ["A01B 1/00", "C22C 38/02"], "subclass") == "C22C"
    assert expert_label(None, ["F27D 17/04"], "main_group") == "F27D 17/00"
    assert expert_label(None, ["A01K"], "subclass") == "A01K"
    # two codes and no main one: no single expert class
    assert expert_label(None, ["F01K 23/00", "F27D 17/00"], "main_group") is None
    assert expert_label(None, [], "subclass") is None
    assert expert_label(None, None, "subclass") is None


def test_small_classes_are_dropped_from_scoring():
    labels = ["a"] * 3 + ["b"] * 2 + [None, "c"]
    assert common_classes(labels, 3) == ["a"] * 3 + [None] * 4
    assert common_classes(labels, 1) == labels


def test_planted_clustering_scores_one_and_a_shuffled_one_less():
    truth = ["x"] * 20 + ["y"] * 20 + ["z"] * 20
    planted = np.repeat([0, 1, 2], 20)
    perfect = agreement(planted, truth)
    assert perfect == {"nmi": 1.0, "ari": 1.0}
    shuffled = agreement(np.random.default_rng(0).permutation(planted), truth)
    assert shuffled["nmi"] < 0.2 and shuffled["ari"] < 0.1


def test_noise_is_one_group_and_unlabelled_patents_are_not_scored():
    truth = ["x"] * 10 + ["y"] * 10 + [None] * 5
    # all of y called noise: still a perfect partition of the labelled patents
    found = np.array([0] * 10 + [-1] * 10 + [3, 0, -1, 2, 2])
    assert agreement(found, truth) == {"nmi": 1.0, "ari": 1.0}
    # noise spread over both classes is one group, not a free pass
    mixed = np.array([0] * 5 + [-1] * 5 + [1] * 5 + [-1] * 5 + [0] * 5)
    assert agreement(mixed, truth)["nmi"] < 1.0


def _blobs(k: int, per: int, dims: int, seed: int, spread: float = 0.05):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, dims))
    x = np.repeat(centres, per, axis=0) + rng.normal(scale=spread, size=(k * per, dims))
    truth = [f"c{i}" for i in range(k) for _ in range(per)]
    return x.astype(np.float32), truth


def test_oracle_recovers_separated_classes_and_not_random_labels():
    # two classes: Lloyd's k-means from a random start cannot get stuck splitting one blob
    x, truth = _blobs(2, 40, 16, seed=1)
    found = oracle_kmeans(x, truth, ["s"] * len(truth))
    assert found["nmi"] > 0.95 and found["ari"] > 0.9
    noise = list(np.random.default_rng(2).permutation(truth))
    assert oracle_kmeans(x, noise, ["s"] * len(truth))["nmi"] < 0.2


def test_oracle_clusters_each_space_apart():
    # two spaces whose vectors are the same points: clustered together, the spaces' classes
    # would collide; apart, each space's k-means finds its own two classes
    x, truth = _blobs(2, 25, 8, seed=3)
    both = np.vstack([x, x])
    labels = truth + [f"other-{t}" for t in truth]
    spaces = ["a"] * len(x) + ["b"] * len(x)
    assert oracle_kmeans(both, labels, spaces)["nmi"] > 0.95
    assert oracle_kmeans(both, labels, ["a"] * len(labels))["nmi"] < 0.9


def test_node_figures_count_noise_and_the_largest_node():
    nodes = np.array([0, 0, 0, 1, -1, 2, 2, 0, -1, 1])
    status = ["member"] * 4 + ["noise"] + ["member"] * 3 + ["noise", "member"]
    got = node_figures(nodes, status)
    assert got == {"patents": 10, "nodes": 3, "noise_share": 0.2, "largest_node_share": 0.4}
    # node 1 holds both patents of space b: small in the set, all of its space
    spaces = ["a"] * 3 + ["b"] + ["a"] * 5 + ["b"]
    got = node_figures(nodes, status, spaces)
    assert got["largest_node_share"] == 0.4 and got["largest_node_share_in_space"] == 1.0


def _result(name: str, nmi: float, oracle: float, largest: float, noise: float) -> dict:
    return {
        "set": name,
        "languages": "en 100%",
        "patents": 100,
        "scored": 90,
        "classes": 5,
        "nodes": 7,
        "noise_share": noise,
        "largest_node_share": largest,
        "ours": {"nmi": nmi, "ari": 0.2},
        "oracle": {"nmi": oracle, "ari": 0.3},
        "nmi_ratio": round(nmi / oracle, 3),
    }


def test_table_has_a_row_per_set_with_every_column():
    lines = table_rows([_result("a", 0.4, 0.5, 0.12, 0.05), _result("b", 0.6, 0.5, 0.3, 0.2)])
    assert len(lines) == 4
    assert all(line.count("|") == len(TABLE_HEADER) + 1 for line in lines)
    assert (
        "| a | en 100% | 100 (90 scored) | 5 | 7 | 5.0 | 12.0 | 0.400 | 0.500 | 0.80 |" in lines[2]
    )


def test_targets_need_three_of_four_sets_and_small_shares():
    good = [_result(n, 0.5, 0.4, 0.1, 0.1) for n in "abc"]
    met = {name: ok for name, _, _, ok in targets([*good, _result("d", 0.3, 0.4, 0.1, 0.1)])}
    assert met["sets where NMI ours ≥ oracle-k"]
    measured = {name: m for name, m, _, _ in targets([*good, _result("d", 0.3, 0.4, 0.1, 0.1)])}
    assert measured["sets where NMI ours ≥ oracle-k"] == "3 of 4 (below: d 0.300 < 0.400)"
    assert all(ok for name, ok in met.items() if "largest" in name or "noise" in name)
    two = [*good[:2], _result("c", 0.3, 0.4, 0.2, 0.1), _result("d", 0.3, 0.4, 0.1, 0.16)]
    met = {name: ok for name, _, _, ok in targets(two)}
    assert not met["sets where NMI ours ≥ oracle-k"]
    assert not met["c: largest node"] and met["d: largest node"]
    assert not met["d: noise"] and met["c: noise"]


def test_subset_is_deterministic_and_pooled_over_files(tmp_path):
    data = tmp_path / "data"
    folder = data / SETS["ai_biomed"].folder
    folder.mkdir(parents=True)
    openpyxl = pytest.importorskip("openpyxl")
    for name, rows in (("AI.xlsx", 30), ("Biomedical.xlsx", 10)):
        book = openpyxl.Workbook()
        sheet = book.active
        sheet.append(["Title", "Abstract", "ID", "IPC"])
        for i in range(rows):
            sheet.append([f"t{i}", f"abstract {name} {i}", f"US{i:07d}B2", "G06N3/08"])
        book.save(folder / name)
    first = write_subset(SETS["ai_biomed"], data, tmp_path / "one", 20)
    again = write_subset(SETS["ai_biomed"], data, tmp_path / "two", 20)
    assert first == again and sum(first.values()) == 20 and all(first.values())
    a = openpyxl.load_workbook(tmp_path / "one" / "AI.xlsx").worksheets[0]
    b = openpyxl.load_workbook(tmp_path / "two" / "AI.xlsx").worksheets[0]
    assert [r for r in a.iter_rows(values_only=True)] == [r for r in b.iter_rows(values_only=True)]
    assert next(a.iter_rows(values_only=True)) == ("Title", "Abstract", "ID", "IPC")


def test_oracle_takes_spaces_of_different_dimensions():
    a, truth_a = _blobs(2, 20, 8, seed=4)
    b, truth_b = _blobs(2, 20, 5, seed=5)
    vectors = [*a, *b]  # one vector per patent, as read from two embedders' tables
    truth = truth_a + [f"b-{t}" for t in truth_b]
    got = oracle_kmeans(vectors, truth, ["a"] * 40 + ["b"] * 40)
    assert got == {"nmi": 1.0, "ari": 1.0}
