"""Predictions for one request (or a batch of identical ones): what `edgetier npu predict` prints.

`Predictor` joins the catalog with the fitted family factors and hands out `Costs` for a
(hardware, model, precision) triple; the node engine uses the same `Costs`, so a prediction and
a simulated run of the same request agree. `load_predictor(files)` is the one call a command
needs for its `--catalog FILE` options: the shipped catalog plus the user's files, calibrated.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from npu_sim.calibration import fit_factors, load_measurements, shipped_factors
from npu_sim.catalog import Catalog, default_catalog, load_catalog
from npu_sim.memory import MemoryNeed, memory_need
from npu_sim.models import LLM
from npu_sim.perf import Costs, PhaseFactors

DEFAULT_PROMPT_TOKENS = 128
DEFAULT_OUTPUT_TOKENS = 128


@dataclass(frozen=True)
class Prediction:
    """Predicted cost of serving `batch` identical requests.

    On hardware that batches they run together; elsewhere one after another, so `latency_s` is
    that of the last one. `decode_tokens_per_s` is the aggregate generation rate. Times, power
    and energy are None when the model does not fit (`fits` false, see `memory`).
    """

    kind: str
    hardware: str
    model: str
    precision: str
    batch: int
    fits: bool
    memory_bytes: float
    memory_available_bytes: float
    memory: str
    latency_s: float | None
    power_w: float | None
    energy_j: float | None
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    ttft_s: float | None = None
    decode_tokens_per_s: float | None = None
    joules_per_token: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict; LLM-only keys are left out for vision models."""
        data = asdict(self)
        if self.kind == "vision":
            for key in (
                "prompt_tokens",
                "output_tokens",
                "ttft_s",
                "decode_tokens_per_s",
                "joules_per_token",
            ):
                data.pop(key)
        return data


@dataclass(frozen=True)
class Predictor:
    """The calibrated performance and power model over a catalog."""

    catalog: Catalog
    factors: dict[str, PhaseFactors]
    _costs: dict[tuple[str, str, str], Costs] = field(default_factory=dict, repr=False)
    _tables: dict[tuple, dict[str, Costs]] = field(default_factory=dict, repr=False)

    @classmethod
    def for_catalog(cls, catalog: Catalog) -> Predictor:
        """A predictor over any catalog (e.g. with user files), calibrated on the shipped
        measurements: a chip with no measurement takes its family's fitted factors, so a chip
        defined in a user file predicts exactly like a shipped chip of its family would."""
        return cls(catalog, fit_factors(catalog, load_measurements()))

    def costs(self, hardware: str, model: str, precision: str) -> Costs:
        """Phase costs of a triple (memoised: engines ask on every request); raises
        UnknownNameError, or ValueError if the chip has no compute rate for the precision."""
        key = (hardware, model, precision)
        found = self._costs.get(key)
        if found is None:
            hw = self.catalog.hardware(hardware)
            found = Costs(
                hw,
                self.catalog.model(model),
                self.catalog.precision(precision),
                self.factors[hw.id],
            )
            self._costs[key] = found
        return found

    def costs_table(self, hardware: str, models: dict[str, str]) -> dict[str, Costs]:
        """{model: Costs} for a node serving `models` (id -> precision) on `hardware`; one
        shared dict per distinct node kind, so ten thousand identical nodes hold one table
        (less memory, and the table stays in cache). Read-only by convention."""
        key = (hardware, *models.items())
        table = self._tables.get(key)
        if table is None:
            table = self._tables[key] = {m: self.costs(hardware, m, p) for m, p in models.items()}
        return table

    def predict(
        self,
        hardware: str,
        model: str,
        precision: str,
        prompt_tokens: int = DEFAULT_PROMPT_TOKENS,
        output_tokens: int = DEFAULT_OUTPUT_TOKENS,
        batch: int = 1,
    ) -> Prediction:
        if prompt_tokens < 1 or output_tokens < 1 or batch < 1:
            raise ValueError("prompt_tokens, output_tokens and batch must be at least 1")
        costs = self.costs(hardware, model, precision)
        hw, spec, prec = costs.hardware, costs.model, costs.precision
        together = batch if hw.batching else 1
        need = memory_need(hw, spec, prec, prompt_tokens + output_tokens, together)
        common = {
            "kind": spec.kind,
            "hardware": hw.id,
            "model": spec.id,
            "precision": prec.name,
            "batch": batch,
            "fits": need.fits,
            "memory_bytes": need.total,
            "memory_available_bytes": need.available,
            "memory": need.explain(),
        }
        if not isinstance(spec, LLM):
            return _vision_prediction(costs, batch, need, common)
        llm_keys = {"prompt_tokens": prompt_tokens, "output_tokens": output_tokens}
        if not need.fits:
            return Prediction(**common, **llm_keys, latency_s=None, power_w=None, energy_j=None)
        service = costs.serve(prompt_tokens, output_tokens, together)
        rounds = batch // together
        energy = rounds * service.energy_j
        latency = rounds * service.latency_s
        return Prediction(
            **common,
            **llm_keys,
            ttft_s=service.ttft_s,
            decode_tokens_per_s=together / service.step_s,
            latency_s=latency,
            power_w=energy / latency,
            energy_j=energy,
            joules_per_token=energy / (batch * output_tokens),
        )


def _vision_prediction(
    costs: Costs, batch: int, need: MemoryNeed, common: dict[str, Any]
) -> Prediction:
    if not need.fits:
        return Prediction(**common, latency_s=None, power_w=None, energy_j=None)
    phase = costs.vision(batch)
    return Prediction(**common, latency_s=phase.seconds, power_w=phase.watts, energy_j=phase.joules)


@functools.cache
def default_predictor() -> Predictor:
    """The shipped catalog with factors fitted on the shipped calibration set."""
    return Predictor(default_catalog(), shipped_factors())


def load_predictor(catalog_files: Sequence[Path] = ()) -> Predictor:
    """The predictor for the shipped catalog plus `catalog_files` (raises
    `npu_sim.datafile.DataFileError` naming file, line and field for a bad file)."""
    if not catalog_files:
        return default_predictor()
    return Predictor.for_catalog(load_catalog(catalog_files))
