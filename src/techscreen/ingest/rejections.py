"""What became of each input file's records, and when an ingest as a whole must fail.

Quarantine keeps single bad records from stopping a run, but a file whose records are
mostly rejected means a wrong mapping or format (codes held as list strings, a wrong
separator), not bad records: such an ingest writes its tables, then fails with one line
naming the file, its top reason and an example, so it is not mistaken for a result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote, urlparse

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from techscreen.io.records import FILTERED


class IngestRejected(RuntimeError):
    """The ingest kept no record, or quarantined too large a share of a file."""


@dataclass
class FileOutcome:
    """One input file's records: read, filtered out, quarantined, and why (before merging)."""

    file: str
    read: int = 0
    filtered: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # quarantine reason → records
    # reason → "location: detail" of one of its records; FILTERED → a rule that filtered
    examples: dict[str, str] = field(default_factory=dict)
    format: str = ""  # the reader that read it

    @property
    def share(self) -> float:
        """Quarantined share of the records the file's row filter let through."""
        considered = self.read - self.filtered
        return self.quarantined / considered if considered else 0.0

    def top_reason(self) -> str | None:
        """The most frequent quarantine reason (ties by name), None if none."""
        return min(self.reasons, key=lambda r: (-self.reasons[r], r)) if self.reasons else None


def file_outcomes(rows: DataFrame) -> tuple[list[FileOutcome], dict[str, int]]:
    """Per file outcomes of validated rows, and the filtered records counted by rule.

    One small aggregation (files × reasons rows) is collected to the driver.
    """
    reason = F.col("reason")
    grouped = rows.groupBy(
        "source_format",
        "source_file",
        reason,
        F.when(reason == FILTERED, F.col("detail")).alias("rule"),
    ).agg(
        F.count("*").alias("n"),
        F.min(F.concat_ws(": ", "record_location", "detail")).alias("example"),
    )
    outcomes: dict[str, FileOutcome] = {}
    by_rule: dict[str, int] = {}
    for row in grouped.collect():
        out = outcomes.setdefault(
            row.source_file, FileOutcome(_shown(row.source_file), format=row.source_format)
        )
        out.read += row.n
        if row.reason == FILTERED:
            out.filtered += row.n
            out.examples[FILTERED] = row.rule
            by_rule[row.rule] = by_rule.get(row.rule, 0) + row.n
        elif row.reason is not None:
            out.quarantined += row.n
            out.reasons[row.reason] = row.n
            out.examples[row.reason] = row.example
    return sorted(outcomes.values(), key=lambda o: o.file), dict(sorted(by_rule.items()))


def check(outcomes: list[FileOutcome], kept: int, max_share: float) -> None:
    """Fail an ingest that kept nothing or quarantined more than ``max_share`` of a file.

    Raises:
        IngestRejected: one line naming the file, its top reason and an example record.
    """
    if kept == 0:
        if not any(o.read for o in outcomes):
            raise IngestRejected(f"ingest kept no record: read none from {len(outcomes)} files")
        worst = max(outcomes, key=lambda o: (o.quarantined + o.filtered, o.read))
        raise IngestRejected(f"ingest kept no record: {_why(worst)}")
    over = [o for o in outcomes if o.share > max_share]
    if over:
        worst = max(over, key=lambda o: (o.share, o.quarantined))
        raise IngestRejected(
            f"ingest quarantined more than ingest.max_quarantine_share={max_share:g} of a "
            f"file: {_why(worst)}"
        )


def _why(o: FileOutcome) -> str:
    top = o.top_reason()
    if top is None:
        return f"{o.file}: all {o.read} records filtered out ({o.examples[FILTERED]})"
    example = " ".join(o.examples[top].split())[:200]
    return (
        f"{o.file}: {o.quarantined} of {o.read - o.filtered} records quarantined "
        f"({o.share:.0%}), top reason {top} ({o.reasons[top]}), e.g. {example} "
        "(all rows in the quarantine table)"
    )


def _shown(source_file: str) -> str:
    """A file as a user names it: Spark's ``file:`` URIs as plain paths."""
    parsed = urlparse(source_file)
    return unquote(parsed.path) if parsed.scheme == "file" else source_file
