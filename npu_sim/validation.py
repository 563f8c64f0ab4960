"""Validation of the performance model against the calibration set, two ways.

- Leave-one-out: each row is predicted with factors fitted on every *other* row, so the error
  is that on a measurement the model has not seen, for a chip it has: what a user can expect
  for a (model, precision) pair that is in no row.
- Leave-one-chip-out: each chip's rows are predicted with factors fitted without *any* row of
  that chip, so the chip is known only by its datasheet and its family: what a user can expect
  for the chip they bring in a catalog file.
- Held out: chips that are in no calibration row at all (`data/heldout_chips.yaml`, a catalog
  file of datasheets) are predicted against their published figures
  (`data/heldout_measurements.csv`) with the shipped fit. Leave-one-chip-out still chose the
  physics with every chip in view; these chips were set aside before any mechanism was fitted,
  so their errors are the honest test of "a chip npu_sim has never seen".

Errors are reported per metric and per (family, metric). `edgetier npu validate` prints both.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from npu_sim.calibration import (
    Measurement,
    fit_factors,
    load_measurements,
    with_calibration_models,
)
from npu_sim.catalog import DATA_DIR, Catalog, default_catalog, load_catalog
from npu_sim.predictor import Predictor

METHODS = ("leave_one_out", "leave_one_chip_out", "held_out")
HELD_OUT_CHIPS = DATA_DIR / "heldout_chips.yaml"
HELD_OUT_CSV = DATA_DIR / "heldout_measurements.csv"


@dataclass(frozen=True)
class Comparison:
    """One measured metric of one row against its prediction by a model fitted without it."""

    row: int
    where: str
    hardware: str
    family: str
    model: str
    precision: str
    batch: int
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


def _medians(comparisons: Iterable[Comparison], key: Callable[[Comparison], str]) -> dict:
    groups: dict[str, list[float]] = {}
    for comparison in comparisons:
        if comparison.abs_error is not None:
            groups.setdefault(key(comparison), []).append(comparison.abs_error)
    return {name: statistics.median(errors) for name, errors in sorted(groups.items())}


@dataclass(frozen=True)
class ValidationReport:
    """Leave-one-out comparisons, leave-one-chip-out ones for the same rows, and the held-out
    chips' rows."""

    comparisons: list[Comparison]
    chip_out: list[Comparison]
    held_out: list[Comparison]

    @property
    def median_abs_error(self) -> dict[str, float]:
        """Leave-one-out median absolute error per metric."""
        return _medians(self.comparisons, lambda c: c.metric)

    @property
    def median_abs_error_chip_out(self) -> dict[str, float]:
        """Leave-one-chip-out median absolute error per metric."""
        return _medians(self.chip_out, lambda c: c.metric)

    @property
    def median_abs_error_held_out(self) -> dict[str, float]:
        """Median absolute error per metric on the held-out chips."""
        return _medians(self.held_out, lambda c: c.metric)

    def method(self, method: str) -> list[Comparison]:
        """The comparisons of one of `METHODS`."""
        return {
            "leave_one_out": self.comparisons,
            "leave_one_chip_out": self.chip_out,
            "held_out": self.held_out,
        }[method]

    def medians(self, method: str) -> dict[str, float]:
        """{metric: median absolute error} for one of `METHODS`."""
        return _medians(self.method(method), lambda c: c.metric)

    def by_family(self, method: str) -> dict[str, dict[str, float]]:
        """{family: {metric: median absolute error}} for one of `METHODS`."""
        comparisons = self.method(method)
        table: dict[str, dict[str, float]] = {}
        for key, error in _medians(comparisons, lambda c: f"{c.family}\0{c.metric}").items():
            family, metric = key.split("\0")
            table.setdefault(family, {})[metric] = error
        return table

    @property
    def unmodelled(self) -> list[Comparison]:
        """Rows the model cannot predict (listed, not hidden)."""
        return [c for c in self.comparisons if c.predicted is None]

    def as_dict(self) -> dict[str, Any]:
        return {
            "median_abs_error": self.median_abs_error,
            "median_abs_error_chip_out": self.median_abs_error_chip_out,
            "median_abs_error_held_out": self.median_abs_error_held_out,
            "by_family": {method: self.by_family(method) for method in METHODS},
            "rows": [c.as_dict() for c in self.comparisons],
            "chip_out_rows": [c.as_dict() for c in self.chip_out],
            "held_out_rows": [c.as_dict() for c in self.held_out],
            "unmodelled": [c.as_dict() for c in self.unmodelled],
        }


def _compare(predictor: Predictor, row: Measurement) -> list[Comparison]:
    base = {
        "row": row.index,
        "where": row.where,
        "hardware": row.hardware,
        "family": predictor.catalog.hardware(row.hardware).family,
        "model": row.model,
        "precision": row.precision,
        "batch": row.batch,
    }
    try:
        prediction = predictor.predict(
            row.hardware, row.model, row.precision, row.prompt, row.output, row.batch
        )
    except ValueError as exc:
        return [
            Comparison(**base, metric=m, measured=v, predicted=None, note=str(exc))
            for m, v in row.metrics().items()
        ]
    note = "" if prediction.fits else prediction.memory
    return [
        Comparison(
            **base,
            metric=metric,
            measured=measured,
            predicted=getattr(prediction, metric),
            note=note,
        )
        for metric, measured in row.metrics().items()
    ]


def validate(
    catalog: Catalog | None = None, rows: list[Measurement] | None = None
) -> ValidationReport:
    """Predict every measured metric of every row with that row left out of the fit, and
    again with every row of its chip left out."""
    catalog = with_calibration_models(catalog or default_catalog())
    rows = rows if rows is not None else load_measurements()
    one_out = []
    for row in rows:
        factors = fit_factors(catalog, rows, exclude={row.index})
        one_out.extend(_compare(Predictor(catalog, factors), row))
    chip_out = []
    for chip in sorted({row.hardware for row in rows}):
        mine = [row for row in rows if row.hardware == chip]
        predictor = Predictor(catalog, fit_factors(catalog, rows, exclude={r.index for r in mine}))
        for row in mine:
            chip_out.extend(_compare(predictor, row))
    return ValidationReport(one_out, chip_out, held_out())


def held_out() -> list[Comparison]:
    """The held-out chips' published figures against predictions from their datasheets, with
    factors fitted on the shipped calibration set (which has no row of theirs)."""
    predictor = Predictor.for_catalog(with_calibration_models(load_catalog([HELD_OUT_CHIPS])))
    return [c for row in load_measurements([HELD_OUT_CSV]) for c in _compare(predictor, row)]
