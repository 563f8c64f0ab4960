"""Calibration: fit each hardware family's phase efficiencies to published measurements.

The measurements (`data/npu_measurements.csv`, a copy of shared/data/npu_measurements.csv with
its sources) give TTFT, decode tokens/s and vision latency for (hardware, model, precision)
rows. Each metric is one observation of a phase time  t = a * x + c * y  with a = 1/efficiency:

    metric                 phase    x (ideal time at 100%)           y
    ttft_s                 prefill  prompt FLOPs / peak ops          1 (overhead in seconds)
    1/decode_tokens_per_s  decode   bytes read per token / bandwidth 1 (seconds per token)
    latency_s (vision)     vision   image FLOPs / peak ops           1 / peak ops (overhead in ops)

Per chip and phase, (a, c) minimise the squared *relative* errors plus a weak pull towards
its family's factors, themselves fitted on the family's rows with a pull towards the family's
prior (data/families.yaml): one row moves a factor, none leaves it at the prior. a >= 1 (no
chip beats its peak) and c >= 0. The physics is shared: one pair of factors per chip and phase
serves every model and precision, so a pair never measured is predicted from the same
roofline, not looked up.
"""

from __future__ import annotations

import csv
import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from npu_sim import datafile
from npu_sim.catalog import DATA_DIR, Catalog, default_catalog
from npu_sim.models import LLM, VisionModel
from npu_sim.perf import PhaseFactor, PhaseFactors

MEASUREMENTS_CSV = DATA_DIR / "npu_measurements.csv"
FAMILIES_YAML = DATA_DIR / "families.yaml"

#: Prompt length assumed where a row gives none (ax-llm's fixed 128-token prefill window).
DEFAULT_PROMPT_TOKENS = 128
#: Decode speed is quoted for short generations: KV cache of the prompt plus half of 128 tokens.
DECODE_CONTEXT_EXTRA = 64
#: Weight of the prior against the data, in units of one observation's squared relative error.
PRIOR_WEIGHT = 0.05

PHASES = ("prefill", "decode", "vision")
METRIC_PHASE = {"ttft_s": "prefill", "decode_tokens_per_s": "decode", "latency_s": "vision"}


@dataclass(frozen=True)
class Measurement:
    """One row of the calibration set."""

    index: int
    kind: str
    hardware: str
    model: str
    precision: str
    prompt_tokens: int | None
    ttft_s: float | None
    decode_tokens_per_s: float | None
    latency_s: float | None
    power_w: float | None
    source: str
    note: str

    @property
    def label(self) -> str:
        return f"{self.hardware}/{self.model}/{self.precision}"

    def metrics(self) -> dict[str, float]:
        """The measured metrics this row carries (empty cells are absent, never guessed)."""
        values = {
            "ttft_s": self.ttft_s,
            "decode_tokens_per_s": self.decode_tokens_per_s,
            "latency_s": self.latency_s,
            "power_w": self.power_w,
        }
        return {name: value for name, value in values.items() if value is not None}


def _number(text: str) -> float | None:
    return float(text) if text.strip() else None


def load_measurements(path: Path = MEASUREMENTS_CSV) -> list[Measurement]:
    """Read the calibration CSV; a malformed cell is an error naming the file, line and column."""
    rows = []
    with path.open(newline="", encoding="utf-8") as handle:
        for line_no, raw in enumerate(csv.DictReader(handle), start=2):
            try:
                prompt = _number(raw["prompt_tokens"])
                rows.append(
                    Measurement(
                        index=len(rows),
                        kind=raw["kind"],
                        hardware=raw["hardware"],
                        model=raw["model"],
                        precision=raw["precision"],
                        prompt_tokens=int(prompt) if prompt is not None else None,
                        ttft_s=_number(raw["ttft_s"]),
                        decode_tokens_per_s=_number(raw["decode_tokens_per_s"]),
                        latency_s=_number(raw["latency_s"]),
                        power_w=_number(raw["power_w"]),
                        source=raw["source"],
                        note=raw["note"],
                    )
                )
            except (KeyError, ValueError) as exc:
                raise datafile.DataFileError(f"{path}:{line_no}: {exc}") from None
    return rows


@dataclass(frozen=True)
class Observation:
    """One measured phase time with its roofline features."""

    row: int
    hardware: str
    family: str
    phase: str
    x: float
    y: float
    seconds: float


def observations(catalog: Catalog, rows: Iterable[Measurement]) -> list[Observation]:
    """Turn measurement rows into phase-time observations (power rows are checked, not fitted)."""
    found = []
    for row in rows:
        hardware = catalog.hardware(row.hardware)
        model = catalog.model(row.model)
        precision = catalog.precision(row.precision)
        peak = hardware.peak_ops_per_s(precision)
        prompt = row.prompt_tokens or DEFAULT_PROMPT_TOKENS
        for metric, value in row.metrics().items():
            if metric == "power_w":
                continue
            phase = METRIC_PHASE[metric]
            if isinstance(model, LLM) and phase == "prefill":
                x, y, seconds = model.prefill_flops(prompt) / peak, 1.0, value
            elif isinstance(model, LLM) and phase == "decode":
                context = prompt + DECODE_CONTEXT_EXTRA
                read = (
                    model.decode_weight_bytes(precision)
                    + model.kv_bytes_per_token(precision) * context
                )
                x, y, seconds = read / hardware.bandwidth_bytes_per_s, 1.0, 1.0 / value
            elif isinstance(model, VisionModel) and phase == "vision":
                x, y, seconds = model.flops / peak, 1.0 / peak, value
            else:
                raise datafile.DataFileError(
                    f"{MEASUREMENTS_CSV}: row {row.index + 2}: {metric} does not apply to "
                    f"{model.kind} model {row.model}"
                )
            found.append(Observation(row.index, hardware.id, hardware.family, phase, x, y, seconds))
    return found


def fit_phase(observed: Sequence[Observation], prior: PhaseFactor) -> PhaseFactor:
    """Least squares in relative error for t = a*x + c*y, pulled weakly towards the prior."""
    a0, c0 = 1.0 / prior.efficiency, prior.overhead
    weight = math.sqrt(PRIOR_WEIGHT)
    rows = [[o.x / o.seconds, o.y / o.seconds] for o in observed] + [[weight / a0, 0.0]]
    targets = [1.0] * len(observed) + [weight]
    if c0 > 0:
        rows.append([0.0, weight / c0])
        targets.append(weight)
    matrix, target = np.array(rows), np.array(targets)
    (a, c), *_ = np.linalg.lstsq(matrix, target, rcond=None)
    if c < 0:  # no negative overhead: refit the slope alone
        c = 0.0
        a = float(np.linalg.lstsq(matrix[:, :1], target, rcond=None)[0][0])
    if a < 1:  # no chip beats its peak: refit the overhead alone
        a = 1.0
        rest = target - matrix[:, 0]
        c = max(0.0, float(np.linalg.lstsq(matrix[:, 1:], rest, rcond=None)[0][0]))
    return PhaseFactor(efficiency=1.0 / float(a), overhead=float(c))


@dataclass(frozen=True)
class _FamilyPrior:
    prefill: PhaseFactor
    decode: PhaseFactor
    vision: PhaseFactor
    source: str


def load_priors(path: Path = FAMILIES_YAML) -> dict[str, PhaseFactors]:
    priors = datafile.load(path, dict[str, _FamilyPrior])
    return {
        name: PhaseFactors(p.prefill, p.decode, p.vision, f"prior: {p.source}")
        for name, p in priors.items()
    }


def _fit_all(
    observed: Sequence[Observation], priors: PhaseFactors, select: str, key: str
) -> PhaseFactors:
    """Fit the three phases on the observations whose `select` attribute equals `key`."""
    phases = {}
    for phase in PHASES:
        mine = [o for o in observed if getattr(o, select) == key and o.phase == phase]
        prior = getattr(priors, phase)
        phases[phase] = fit_phase(mine, prior) if mine else prior
    count = sum(1 for o in observed if getattr(o, select) == key)
    return PhaseFactors(**phases, source=f"{select} {key}: fitted on {count} observations")


def fit_factors(
    catalog: Catalog,
    rows: Sequence[Measurement],
    priors: dict[str, PhaseFactors],
    exclude_row: int | None = None,
) -> dict[str, PhaseFactors]:
    """Fit factors for every chip of the catalog on `rows` (less `exclude_row`, for
    leave-one-out), keyed by hardware id.

    Partial pooling in two levels: a family's factors are fitted on all its chips' rows, pulled
    towards the family prior; a chip's factors are fitted on its own rows, pulled towards its
    family's. A chip with no row gets its family's factors, a family with no row its prior.
    """
    unknown = {h.family for h in catalog.hardware_by_id.values()} - set(priors)
    if unknown:
        raise datafile.DataFileError(f"{FAMILIES_YAML}: no entry for families {sorted(unknown)}")
    observed = observations(catalog, [row for row in rows if row.index != exclude_row])
    families = {name: _fit_all(observed, prior, "family", name) for name, prior in priors.items()}
    return {
        hw_id: _fit_all(observed, families[hw.family], "hardware", hw_id)
        for hw_id, hw in catalog.hardware_by_id.items()
    }


@functools.cache
def shipped_factors() -> dict[str, PhaseFactors]:
    """Factors per chip, fitted on the whole shipped calibration set."""
    return fit_factors(default_catalog(), load_measurements(), load_priors())
