"""The one Spark → driver hand-off: seeded, size-guarded samples per group."""

from __future__ import annotations

import pandas as pd

from techscreen.io.handoff import sample_groups_to_pandas, sample_to_pandas


def _frame(spark, sizes: dict[str, int]):
    rows = [(g, f"{g}-{i:06d}", i) for g, n in sizes.items() for i in range(n)]
    return spark.createDataFrame(rows, "g string, pub string, i int")


def test_cutting_by_rank_first_gives_the_same_sample(spark):
    sizes = {"big": 6000, "mid": 1500, "small": 40}
    frame = _frame(spark, sizes)
    limits = {"big": 300, "mid": 1000, "small": 100}
    whole = sample_groups_to_pandas(frame, "g", limits, 7, "pub")
    cut = sample_groups_to_pandas(frame, "g", limits, 7, "pub", sizes=sizes)
    assert whole.groupby("g").size().to_dict() == {"big": 300, "mid": 1000, "small": 40}
    pd.testing.assert_frame_equal(whole, cut)
    other_seed = sample_groups_to_pandas(frame, "g", limits, 8, "pub", sizes=sizes)
    assert set(other_seed.pub) != set(cut.pub)


def test_a_wrong_size_is_caught_and_the_group_sampled_again(spark):
    sizes = {"a": 3000, "b": 3000}
    frame = _frame(spark, sizes)
    limits = {"a": 200, "b": 200}
    whole = sample_groups_to_pandas(frame, "g", limits, 1, "pub")
    # "a" claimed 100x larger than it is: the cut keeps ~1% of it, far short of 200.
    wrong = sample_groups_to_pandas(frame, "g", limits, 1, "pub", sizes={"a": 300000, "b": 3000})
    pd.testing.assert_frame_equal(whole, wrong)


def test_one_sample_cut_by_rank_first_is_the_same(spark):
    frame = _frame(spark, {"x": 8000})
    whole = sample_to_pandas(frame, 400, 3, "pub")
    assert len(whole) == 400
    pd.testing.assert_frame_equal(whole, sample_to_pandas(frame, 400, 3, "pub", size=8000))
    # a size far above the truth leaves the cut short: sampled again without it
    pd.testing.assert_frame_equal(whole, sample_to_pandas(frame, 400, 3, "pub", size=10**6))
