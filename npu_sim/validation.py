"""Leave-one-out validation of the performance model against the calibration set.

Each row is predicted with family factors fitted on every *other* row, so the error reported is
the error on a measurement the model has not seen: what a user can expect for a pair that is in
no row. `edgetier npu validate` prints it.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import Any

from npu_sim.calibration import (
    DEFAULT_PROMPT_TOKENS,
    Measurement,
    fit_factors,
    load_measurements,
    load_priors,
)
from npu_sim.catalog import Catalog, default_catalog
from npu_sim.predictor import Predictor

#: Decode speed in the set is quoted for generations of this length.
VALIDATION_OUTPUT_TOKENS = 128


@dataclass(frozen=True)
class Comparison:
    """One measured metric of one row against its leave-one-out prediction."""

    row: int
    hardware: str
    model: str
    precision: str
    metric: str
    measured: float
    predicted: float | None
    note: str = ""

    @property
    def abs_error(self) -> float | None:
        if self.predicted is None:
            return None
        return abs(self.predicted - self.measured) / self.measured

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "abs_error": self.abs_error}


@dataclass(frozen=True)
class ValidationReport:
    comparisons: list[Comparison]

    @property
    def median_abs_error(self) -> dict[str, float]:
        by_metric: dict[str, list[float]] = {}
        for comparison in self.comparisons:
            if comparison.abs_error is not None:
                by_metric.setdefault(comparison.metric, []).append(comparison.abs_error)
        return {metric: statistics.median(errors) for metric, errors in sorted(by_metric.items())}

    @property
    def unmodelled(self) -> list[Comparison]:
        """Rows the model cannot predict (listed, not hidden)."""
        return [c for c in self.comparisons if c.predicted is None]

    def as_dict(self) -> dict[str, Any]:
        return {
            "median_abs_error": self.median_abs_error,
            "rows": [c.as_dict() for c in self.comparisons],
            "unmodelled": [c.as_dict() for c in self.unmodelled],
        }


def _compare(predictor: Predictor, row: Measurement) -> list[Comparison]:
    prompt = row.prompt_tokens or DEFAULT_PROMPT_TOKENS
    base = {
        "row": row.index,
        "hardware": row.hardware,
        "model": row.model,
        "precision": row.precision,
    }
    try:
        prediction = predictor.predict(
            row.hardware, row.model, row.precision, prompt, VALIDATION_OUTPUT_TOKENS
        )
    except ValueError as exc:
        return [
            Comparison(**base, metric=m, measured=v, predicted=None, note=str(exc))
            for m, v in row.metrics().items()
        ]
    found = []
    for metric, measured in row.metrics().items():
        predicted = getattr(prediction, metric)
        note = "" if prediction.fits else prediction.memory
        found.append(
            Comparison(**base, metric=metric, measured=measured, predicted=predicted, note=note)
        )
    return found


def validate(
    catalog: Catalog | None = None, rows: list[Measurement] | None = None
) -> ValidationReport:
    """Predict every measured metric of every row with that row left out of the fit."""
    catalog = catalog or default_catalog()
    rows = rows if rows is not None else load_measurements()
    priors = load_priors()
    comparisons = []
    for row in rows:
        factors = fit_factors(catalog, rows, priors, exclude_row=row.index)
        comparisons.extend(_compare(Predictor(catalog, factors), row))
    return ValidationReport(comparisons)
