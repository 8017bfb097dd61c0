"""Placing patents whose codes match no domain in the nearest domain, by their text.

A patent whose IPC/CPC codes fall in none of the screening domains (measurement, optics,
furniture, games … are in no domain of the study) would otherwise never be clustered or
graded. Its text still says which domain it is closest to: a classifier fitted on the
patents whose codes do assign them reads the same vectors the clustering reads and gives
each unassigned patent its likeliest domain with a probability.

The classifier is a multinomial logistic regression per vector space
(:class:`DomainClassifier`; vectors of two spaces are never compared, see
:mod:`techscreen.cluster.spaces`). A patent that codes put in several domains is one training
row per domain, each weighted by one over their number, so every patent weighs the same;
small domains are weighted up (``class_balance``) so that the prior does not drown them. It
is scored on a held-out share of the code-assigned patents (:class:`Evaluation`): a
held-out patent counts as right when the predicted domain is one of its codes' domains.
Fitting needs a sample on the driver (bounded by ``domains.placement.max_train`` per space);
placing runs on the executors (:func:`place`), the fitted models broadcast once — a few
kilobytes each (domains × dimensions coefficients).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema
from sklearn.linear_model import LogisticRegression

from techscreen.schema import (
    BELOW_FLOOR,
    NO_CLASSIFIER,
    PLACED,
    PLACEMENTS,
    UNPLACED_NO_VECTOR,
)

CONFIDENCE_BINS = tuple(np.round(np.linspace(0.0, 1.0, 11), 1))
"""Edges of the confidence bins the held-out accuracy is reported in (tenths)."""


class DomainClassifier:
    """The likeliest domain of a vector: multinomial logistic regression (scikit-learn).

    Args:
        regularisation: inverse regularisation strength ``C``; 1 (scikit-learn's default)
            and 3 scored alike on the sample's held-out patents, 0.3 lower.
        class_balance: each domain's training rows are weighted by (mean domain weight ÷
            the domain's weight) to this power: 0 leaves small domains to the prior (on the
            sample's English vectors agriculture, 1% of them, was never chosen), 1 balances
            the domains fully (it then took patents of larger ones: precision 0.48), 0.5
            lies between (README, Domains).
        max_iter: iterations of L-BFGS at most.

    Attributes:
        domains_: the domains seen in training, in the order of the model's classes.
        model_: the fitted :class:`~sklearn.linear_model.LogisticRegression`.
    """

    def __init__(
        self, regularisation: float = 1.0, class_balance: float = 0.5, max_iter: int = 1000
    ) -> None:
        self.regularisation = regularisation
        self.class_balance = class_balance
        self.max_iter = max_iter

    def get_params(self) -> dict[str, Any]:
        """The constructor's parameters (what MLflow logs)."""
        return {
            "regularisation": self.regularisation,
            "class_balance": self.class_balance,
            "max_iter": self.max_iter,
        }

    def fit(self, x: np.ndarray, domains: Sequence[Sequence[str]]) -> DomainClassifier:
        """Fit on vectors ``x`` and each row's code-assigned domains.

        Raises:
            ValueError: if the rows name fewer than two domains (nothing to choose between).
        """
        self.domains_ = sorted({d for row in domains for d in row})
        if len(self.domains_) < 2:
            raise ValueError(f"placement needs two domains to choose from, got {self.domains_}")
        index = {d: i for i, d in enumerate(self.domains_)}
        rows, labels, weights = [], [], []
        for i, row in enumerate(domains):
            for d in sorted(set(row)):  # a fixed order: the fit must not depend on hashing
                rows.append(i)
                labels.append(index[d])
                weights.append(1.0 / len(set(row)))
        mass = np.bincount(labels, weights=weights, minlength=len(self.domains_))
        balance = (mass.mean() / mass) ** self.class_balance
        self.model_ = LogisticRegression(C=self.regularisation, max_iter=self.max_iter).fit(
            np.asarray(x, dtype=np.float32)[rows],
            labels,
            sample_weight=np.asarray(weights) * balance[labels],
        )
        return self

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The likeliest domain of each row and its probability."""
        proba = self.model_.predict_proba(np.asarray(x, dtype=np.float32))
        best = proba.argmax(axis=1)
        names = np.array(self.domains_, dtype=object)[self.model_.classes_[best]]
        return names, proba[np.arange(len(best)), best]


@dataclass
class Evaluation:
    """Held-out counts of a classifier (summed over spaces with :meth:`merge`).

    A held-out patent is right when the predicted domain is one of its codes' domains.
    Per domain, ``predicted`` / ``predicted_right`` give the precision of a placement into
    it, ``actual`` / ``found`` the recall of the patents its codes put in it.
    """

    held_out: int = 0
    right: int = 0
    above_floor: int = 0
    right_above_floor: int = 0
    predicted: Counter = field(default_factory=Counter)
    predicted_right: Counter = field(default_factory=Counter)
    actual: Counter = field(default_factory=Counter)
    found: Counter = field(default_factory=Counter)
    bins: list[list[int]] = field(default_factory=lambda: [[0, 0] for _ in CONFIDENCE_BINS[1:]])

    @classmethod
    def of(
        cls,
        classifier: DomainClassifier,
        x: np.ndarray,
        domains: Sequence[Sequence[str]],
        floor: float,
    ) -> Evaluation:
        """Score ``classifier`` on held-out vectors ``x`` with their codes' ``domains``."""
        out = cls()
        if not len(x):
            return out
        names, confidence = classifier.predict(x)
        bin_of = np.clip(np.digitize(confidence, CONFIDENCE_BINS[1:-1]), 0, len(out.bins) - 1)
        for name, conf, truth, b in zip(names, confidence, domains, bin_of, strict=True):
            hit = name in truth
            out.held_out += 1
            out.right += hit
            out.above_floor += conf >= floor
            out.right_above_floor += hit and conf >= floor
            out.predicted[name] += 1
            out.predicted_right[name] += hit
            out.actual.update(set(truth))
            if hit:
                out.found[name] += 1
            out.bins[b][0] += 1
            out.bins[b][1] += hit
        return out

    def merge(self, other: Evaluation) -> Evaluation:
        """The counts of both (two spaces' held-out patents together)."""
        return Evaluation(
            self.held_out + other.held_out,
            self.right + other.right,
            self.above_floor + other.above_floor,
            self.right_above_floor + other.right_above_floor,
            self.predicted + other.predicted,
            self.predicted_right + other.predicted_right,
            self.actual + other.actual,
            self.found + other.found,
            [[a + c, b + d] for (a, b), (c, d) in zip(self.bins, other.bins, strict=True)],
        )

    def figures(self) -> dict[str, float | int | None]:
        """Held-out patents, accuracy, and accuracy and share of those above the floor."""
        return {
            "held_out": self.held_out,
            "accuracy": _ratio(self.right, self.held_out),
            "accuracy_above_floor": _ratio(self.right_above_floor, self.above_floor),
            "held_out_above_floor": _ratio(self.above_floor, self.held_out),
        }

    def of_domain(self, domain: str) -> dict[str, float | None]:
        """Precision of placements into ``domain`` and recall of its held-out patents."""
        return {
            "precision": _ratio(self.predicted_right[domain], self.predicted[domain]),
            "recall": _ratio(self.found[domain], self.actual[domain]),
        }

    def calibration(self) -> list[dict[str, Any]]:
        """Held-out patents and accuracy per confidence bin (tenths)."""
        edges = CONFIDENCE_BINS
        return [
            {"from": edges[i], "to": edges[i + 1], "held_out": n, "accuracy": _ratio(r, n)}
            for i, (n, r) in enumerate(self.bins)
        ]


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def _place_batch(
    batch: pa.RecordBatch, classifiers: Mapping[str, DomainClassifier], floor: float
) -> pa.RecordBatch:
    n = batch.num_rows
    spaces = np.array(batch.column("space").to_pylist(), dtype=object)
    vectors = batch.column("vector")
    has_vector = np.asarray(vectors.is_valid(), dtype=bool)
    domain = np.full(n, None, dtype=object)
    confidence = np.full(n, np.nan)
    status = np.where(has_vector, NO_CLASSIFIER, UNPLACED_NO_VECTOR).astype(object)
    for space, classifier in classifiers.items():
        rows = np.flatnonzero((spaces == space) & has_vector)
        if not len(rows):
            continue
        x = np.stack(vectors.take(pa.array(rows)).to_numpy(zero_copy_only=False))
        domain[rows], confidence[rows] = classifier.predict(x)
        status[rows] = np.where(confidence[rows] >= floor, PLACED, BELOW_FLOOR)
    return pa.RecordBatch.from_arrays(
        [
            batch.column("publication_number"),
            batch.column("space"),
            pa.array(domain.tolist(), pa.string()),
            pa.array(confidence, mask=np.isnan(confidence)),
            pa.array(status.tolist(), pa.string()),
        ],
        schema=to_arrow_schema(PLACEMENTS),
    )


def place(
    unassigned: DataFrame, classifiers: Mapping[str, DomainClassifier], floor: float
) -> DataFrame:
    """Rows (publication_number, space, vector) → rows of :data:`~techscreen.schema.PLACEMENTS`.

    Runs on the executors; ``classifiers`` (space → fitted classifier) is broadcast once.
    A row whose likeliest domain has a probability under ``floor`` keeps that domain with
    status ``below_floor``; a row without a vector, or in a space without a classifier, gets
    no domain.
    """
    shared = unassigned.sparkSession.sparkContext.broadcast(dict(classifiers))

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        local = shared.value
        for batch in batches:
            yield _place_batch(batch, local, floor)

    columns = (F.col("publication_number"), F.col("space"), F.col("vector"))
    return unassigned.select(*columns).mapInArrow(run, PLACEMENTS)
