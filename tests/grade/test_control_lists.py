"""Control-list mapping: the shipped lists read, planted matches found, bad files refused."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from techscreen.config import GradeSettings
from techscreen.grade.control_lists import (
    ADJACENT,
    CONTROLLED,
    NOT_LISTED,
    match_control_lists,
    read_control_list,
    read_control_lists,
)

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = [ROOT / f for f in GradeSettings().control_lists.files]
DEFAULTS = GradeSettings().control_lists


def _match(items: list[dict], entries: pd.DataFrame, **kw) -> pd.DataFrame:
    options = {"controlled": DEFAULTS.controlled, "adjacent": DEFAULTS.adjacent, "top": 3} | kw
    return match_control_lists(pd.DataFrame(items), entries, **options)


@pytest.fixture(scope="module")
def entries() -> pd.DataFrame:
    return read_control_lists(SHIPPED)


def test_the_shipped_lists_read_with_their_entries(entries):
    counts = entries.groupby("list").size().to_dict()
    assert counts == {"cn_export_catalogue_2023": 13, "us_cet_2024": 18}
    assert {"086501X", "203912X", "CET-06"} <= set(entries["entry_id"])
    chinese = entries[entries["list"] == "cn_export_catalogue_2023"]
    assert (chinese["language"] == "zh").all() and (chinese["entry_en"] != "").all()


def test_a_planted_exact_match_ranks_first_and_an_unrelated_item_is_not_listed(entries):
    title = "Semiconductors and Microelectronics"
    items = [
        {"label": title, "keywords": [{"term": title, "score": 1.0}]},
        {"label": "dairy cow milking parlour · teat cup", "keywords": ["milking", "teat cup"]},
    ]
    planted, unrelated = _match(items, entries).to_dict("records")
    best = max(planted["control_matches"], key=lambda m: m["score"])
    assert (best["list"], best["entry_id"], best["entry"]) == ("us_cet_2024", "CET-17", title)
    assert best["score"] == pytest.approx(1.0)
    assert planted["control_status"] == CONTROLLED
    assert unrelated["control_status"] == NOT_LISTED
    assert unrelated["control_score"] < DEFAULTS.adjacent


def test_a_chinese_entry_matches_a_node_by_its_chinese_keywords(entries):
    # a node labelled in English whose Chinese patents speak of lidar: the catalogue
    # entry is Chinese, and only the Chinese keywords can meet it
    items = [
        {
            "label": "point cloud · scanning · vehicle",
            "keywords": ["point cloud", "scanning"],
            "keywords_zh": [{"term": "激光雷达", "score": 0.9}, {"term": "点云", "score": 0.5}],
        },
        {"label": "point cloud · scanning · vehicle", "keywords": ["point cloud", "scanning"]},
    ]
    with_zh, without = _match(items, entries).to_dict("records")
    catalogue = [m for m in with_zh["control_matches"] if m["list"] == "cn_export_catalogue_2023"]
    assert catalogue[0]["entry"] == "激光雷达系统"
    assert with_zh["control_status"] in (CONTROLLED, ADJACENT)
    lidar = [m for m in without["control_matches"] if m["entry_id"] == "X-LIDAR"]
    assert not lidar or lidar[0]["score"] < catalogue[0]["score"]


def test_matches_are_the_top_entries_of_each_list_best_first(entries):
    items = [{"label": "wind turbine blade", "titles": ["Rotor blade for a wind turbine"]}]
    matches = _match(items, entries, top=2)["control_matches"][0]
    assert [m["list"] for m in matches] == ["cn_export_catalogue_2023"] * 2 + ["us_cet_2024"] * 2
    for i in (0, 2):
        assert matches[i]["score"] >= matches[i + 1]["score"]


def test_thresholds_decide_the_status():
    entries = pd.DataFrame(
        {"list": ["l"], "entry_id": ["1"], "entry": ["laser radar"], "language": ["en"]}
    ).reindex(columns=["list", "entry_id", "entry", "entry_en", "description", "description_en"])
    entries = entries.fillna("")
    items = [{"label": "laser radar"}, {"label": "laser"}, {"label": "milk"}]
    scores = _match(items, entries)["control_score"].tolist()
    assert scores[0] == pytest.approx(1.0) and 0 < scores[1] < 1 and scores[2] == 0
    statuses = _match(items, entries, controlled=1.0, adjacent=scores[1])["control_status"]
    assert statuses.tolist() == [CONTROLLED, ADJACENT, NOT_LISTED]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "list.csv"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("list,entry_id,language\nl,1,en\n", "missing column(s) entry"),
        ("", "empty file"),
        ("list,entry_id,entry,language\n", "no entries"),
        ("list,entry_id,entry,language\nl,1,,en\n", "row 2 has no entry"),
        ("list,entry_id,entry,language\nl,1,a,en\nl,1,b,en\n", "entry_id 1 repeated"),
    ],
)
def test_a_bad_list_file_is_an_error_naming_the_file(tmp_path, text, says):
    path = _write(tmp_path, text)
    with pytest.raises(ValueError, match="control list") as error:
        read_control_list(path)
    assert str(path) in str(error.value) and says in str(error.value)


def test_a_list_not_in_utf8_or_missing_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "gbk.csv"
    path.write_bytes("list,entry_id,entry,language\nl,1,激光雷达,zh\n".encode("gbk"))
    with pytest.raises(ValueError, match=f"{path}: not UTF-8"):
        read_control_list(path)
    with pytest.raises(ValueError, match="no such file"):
        read_control_lists([tmp_path / "absent.csv"])


def test_adjacent_above_controlled_is_refused():
    with pytest.raises(ValueError, match="must not exceed"):
        GradeSettings.model_validate({"control_lists": {"controlled": 0.4, "adjacent": 0.5}})


def test_minilm_adds_meaning_to_english_texts_and_leaves_chinese_ones_alone(entries):
    from techscreen.config import EmbedSettings
    from techscreen.embed.registry import loaded, named_embedder

    minilm = loaded(named_embedder(EmbedSettings(), "minilm"))
    items = [
        {"label": "neural network · deep learning · training"},
        {"label": "水稻 · 育秧", "keywords_zh": ["水稻", "育秧"]},
    ]

    def ai(frame: pd.DataFrame) -> list[float]:
        return [
            next(m["score"] for m in matches if m["entry_id"] == "CET-06")
            for matches in frame["control_matches"]
        ]

    letters = ai(_match(items, entries, top=50))
    meaning = ai(_match(items, entries, top=50, encoder=minilm))
    assert meaning[0] > letters[0] + 0.1  # no shared letters with "Artificial Intelligence"
    assert meaning[1] == letters[1]  # MiniLM does not read Chinese: not asked
