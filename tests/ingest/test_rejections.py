"""When an ingest as a whole fails: the pure judgement over per-file outcomes."""

import pytest

from techscreen.ingest.rejections import FileOutcome, IngestRejected, check


def _file(name: str, read: int, quarantined: int, filtered: int = 0) -> FileOutcome:
    reasons = {"malformed_class_code": quarantined - 1, "bad_date": 1} if quarantined else {}
    examples = {r: f"id={name}-{r};row=0: why {r}" for r in reasons}
    return FileOutcome(f"/in/{name}.csv", read, filtered, quarantined, reasons, examples)


def test_a_file_quarantined_beyond_the_share_fails_naming_it_its_top_reason_and_an_example():
    files = [_file("good", 100, 2), _file("bad", 10, 6)]
    with pytest.raises(IngestRejected) as err:
        check(files, kept=102, max_share=0.5)
    message = str(err.value)
    assert "\n" not in message
    assert "/in/bad.csv: 6 of 10 records quarantined (60%)" in message
    assert "top reason malformed_class_code (5), e.g. id=bad-malformed_class_code;row=0" in message
    check(files, kept=102, max_share=0.6)  # at the share, not beyond it: passes
    check(files, kept=102, max_share=1.0)


def test_the_share_counts_only_the_records_the_row_filter_let_through():
    check([_file("f", 100, 30, filtered=40)], kept=30, max_share=0.5)  # 30 of 60
    with pytest.raises(IngestRejected, match="31 of 60 records quarantined"):
        check([_file("f", 100, 31, filtered=40)], kept=29, max_share=0.5)


def test_keeping_no_record_fails_whatever_the_share():
    with pytest.raises(IngestRejected, match=r"^ingest kept no record: /in/a.csv: 3 of 3"):
        check([_file("a", 3, 3)], kept=0, max_share=1.0)
    everything_filtered = FileOutcome("/in/b.csv", 4, 4, examples={"filtered": "rule x"})
    with pytest.raises(IngestRejected, match=r"all 4 records filtered out \(rule x\)"):
        check([everything_filtered], kept=0, max_share=1.0)
    with pytest.raises(IngestRejected, match="read none"):
        check([], kept=0, max_share=1.0)
