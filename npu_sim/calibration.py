"""Calibration: fit each hardware family's phase efficiencies and power law to published
measurements.

The measurements are two files: `data/npu_measurements.csv` (a copy of the project's shared
calibration set, kept byte-equal to it) and `data/measurements_added.csv` (rows this package
adds, each with its source; it may also give the batch and output length). They give TTFT,
decode tokens/s, vision latency and power for (hardware, model, precision) rows. Each time is
one observation of a phase time  t = sum of coefficient * feature, the features computed by
the same `Costs` that predicts (npu_sim/perf.py), so fit and prediction share one physics:

    metric                 phase    features (coefficients)
    ttft_s                 prefill  prompt FLOPs / prefill rate (1/efficiency), 1 (overhead, s),
                                    NPU: layer passes / bandwidth (per_layer, bytes),
                                    GPU: dequantisation bytes / bandwidth (dequant),
                                    GPU: FLOPs / max_w (joules_per_op)
    1/decode_tokens_per_s  decode   bytes read per token / bandwidth (1/efficiency), 1 (s/token),
                                    layers (per_layer, s)
    latency_s (vision)     vision   image FLOPs / peak ops (1/efficiency), activation bytes /
                                    bandwidth (activations), weight bytes / bandwidth (stream),
                                    invocations (fixed, s), FLOPs / 16-bit rate (sixteen_bit)

Per chip and phase the coefficients minimise the squared *relative* errors plus a weak pull
towards its family's, themselves fitted on the family's rows with a pull towards the family's
prior (data/families.yaml): one row moves a factor, none leaves it at the prior. The generic
families `npu` and `gpu` are fitted the same way on every row of their kind. 1/efficiency >= 1
(no chip beats its peak), the other coefficients >= 0. One set of factors per chip and phase
serves every model and precision, so a pair never measured is predicted from the same physics,
not looked up.

Power (`power_w` rows, at any batch) fits one `PowerLaw` per kind: with the phase times and
utilisations fixed by the timing fit, a run's mean power is linear in the law's two weights.
`joules_per_token` rows are predicted and checked, never fitted.
"""

from __future__ import annotations

import csv
import functools
import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from npu_sim import datafile
from npu_sim.catalog import DATA_DIR, Catalog, default_catalog, load_catalog
from npu_sim.families import Family, load_families
from npu_sim.hardware import Kind
from npu_sim.models import LLM, Model, VisionModel
from npu_sim.perf import PHASE_TERMS, Costs, PhaseFactor, PhaseFactors
from npu_sim.power import PowerLaw

MEASUREMENTS_CSV = DATA_DIR / "npu_measurements.csv"
ADDED_CSV = DATA_DIR / "measurements_added.csv"
CALIBRATION_FILES = (MEASUREMENTS_CSV, ADDED_CSV)
#: Models only calibration rows use: kept out of the serving catalog (see the file's header).
CALIBRATION_MODELS = DATA_DIR / "calibration_models.yaml"

#: Prompt length assumed where a row gives none (ax-llm's fixed 128-token prefill window).
DEFAULT_PROMPT_TOKENS = 128
#: Generation length assumed where a row gives none: decode speed is quoted for short answers.
DEFAULT_OUTPUT_TOKENS = 128
#: Weight of the prior against the data, in units of one observation's squared relative error.
PRIOR_WEIGHT = 0.05

PHASES = ("prefill", "decode", "vision")
METRIC_PHASE = {"ttft_s": "prefill", "decode_tokens_per_s": "decode", "latency_s": "vision"}
_OPTIONAL_COLUMNS = ("output_tokens", "batch", "joules_per_token")


@dataclass(frozen=True)
class Measurement:
    """One row of the calibration set; `where` is its file and line."""

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
    output_tokens: int | None = None
    batch: int = 1
    joules_per_token: float | None = None
    where: str = ""

    @property
    def label(self) -> str:
        return f"{self.hardware}/{self.model}/{self.precision}"

    @property
    def prompt(self) -> int:
        return self.prompt_tokens or DEFAULT_PROMPT_TOKENS

    @property
    def output(self) -> int:
        return self.output_tokens or DEFAULT_OUTPUT_TOKENS

    def metrics(self) -> dict[str, float]:
        """The measured metrics this row carries (empty cells are absent, never guessed)."""
        values = {
            "ttft_s": self.ttft_s,
            "decode_tokens_per_s": self.decode_tokens_per_s,
            "latency_s": self.latency_s,
            "power_w": self.power_w,
            "joules_per_token": self.joules_per_token,
        }
        return {name: value for name, value in values.items() if value is not None}


def _number(text: str | None) -> float | None:
    return float(text) if text and text.strip() else None


def _integer(text: str | None) -> int | None:
    value = _number(text)
    return int(value) if value is not None else None


def load_measurements(paths: Sequence[Path] = CALIBRATION_FILES) -> list[Measurement]:
    """Read the calibration CSVs in order (indices run on across files); a malformed cell is
    an error naming the file, line and column. Columns a file lacks (the shared copy has no
    batch, output length or joules per token) are empty."""
    rows: list[Measurement] = []
    for path in paths:
        with path.open(newline="", encoding="utf-8") as handle:
            for line_no, raw in enumerate(csv.DictReader(handle), start=2):
                try:
                    rows.append(_measurement(raw, len(rows), f"{path.name}:{line_no}"))
                except (KeyError, ValueError) as exc:
                    raise datafile.DataFileError(f"{path}:{line_no}: {exc}") from None
    return rows


def _measurement(raw: dict[str, str], index: int, where: str) -> Measurement:
    optional = {name: raw.get(name) for name in _OPTIONAL_COLUMNS}
    return Measurement(
        index=index,
        kind=raw["kind"],
        hardware=raw["hardware"],
        model=raw["model"],
        precision=raw["precision"],
        prompt_tokens=_integer(raw["prompt_tokens"]),
        ttft_s=_number(raw["ttft_s"]),
        decode_tokens_per_s=_number(raw["decode_tokens_per_s"]),
        latency_s=_number(raw["latency_s"]),
        power_w=_number(raw["power_w"]),
        source=raw["source"],
        note=raw["note"],
        output_tokens=_integer(optional["output_tokens"]),
        batch=_integer(optional["batch"]) or 1,
        joules_per_token=_number(optional["joules_per_token"]),
        where=where,
    )


@functools.cache
def _calibration_only_models() -> dict[str, Model]:
    shipped = default_catalog().models_by_id
    extended = load_catalog([CALIBRATION_MODELS]).models_by_id
    return {name: model for name, model in extended.items() if name not in shipped}


def with_calibration_models(catalog: Catalog) -> Catalog:
    """`catalog` plus the models only calibration rows use, where it does not define them
    itself: what the fit and the validation predict rows with."""
    models = {**_calibration_only_models(), **catalog.models_by_id}
    return replace(catalog, models_by_id=models)


@dataclass(frozen=True)
class Observation:
    """One measured phase time with its features (see the module docstring)."""

    row: int
    hardware: str
    family: str
    kind: Kind
    phase: str
    features: tuple[float, ...]
    seconds: float


def _costs(catalog: Catalog, row: Measurement, factors: PhaseFactors) -> Costs:
    return Costs(
        catalog.hardware(row.hardware),
        catalog.model(row.model),
        catalog.precision(row.precision),
        factors,
    )


def observations(
    catalog: Catalog, rows: Iterable[Measurement], families: dict[str, Family]
) -> list[Observation]:
    """Phase-time observations of the rows' times (power is fitted by `fit_power`, joules per
    token only checked). A batched row's decode speed is the aggregate of its batch."""
    found = []
    for row in rows:
        hardware = catalog.hardware(row.hardware)
        family = families[hardware.family]
        # Features depend on the family's kind and prefill window only, not on its numbers.
        costs = _costs(catalog, row, family.prior(families[family.kind].prior()))
        for metric, value in row.metrics().items():
            phase = METRIC_PHASE.get(metric)
            if phase is None:
                continue
            features, seconds = _features(costs, row, metric, phase), value
            if phase == "decode":
                seconds = row.batch / value
            found.append(
                Observation(
                    row.index, hardware.id, family.name, family.kind, phase, features, seconds
                )
            )
    return found


def _features(costs: Costs, row: Measurement, metric: str, phase: str) -> tuple[float, ...]:
    model = costs.model
    if isinstance(model, LLM) and phase == "prefill":
        return costs.prefill_features(row.prompt)
    if isinstance(model, LLM) and phase == "decode":
        return costs.decode_features(row.batch * (row.prompt + row.output / 2))
    if isinstance(model, VisionModel) and phase == "vision":
        return costs.vision_features(row.batch)
    raise datafile.DataFileError(
        f"{row.where}: {metric} does not apply to {model.kind} model {row.model}"
    )


def _coefficients(factor: PhaseFactor, phase: str) -> list[float]:
    """The coefficients of a phase's features, in the order `Costs` gives them."""
    return [1.0 / factor.efficiency, *(getattr(factor, term) for term in PHASE_TERMS[phase])]


def _bounded_lstsq(matrix: np.ndarray, target: np.ndarray, lower: list[float]) -> np.ndarray:
    """Least squares with each coefficient held at or above its lower bound (an active set:
    clamp the worst violator, solve for the rest, until none violates)."""
    fixed: dict[int, float] = {}
    while True:
        free = [i for i in range(matrix.shape[1]) if i not in fixed]
        rest = target - sum((matrix[:, i] * v for i, v in fixed.items()), np.zeros(len(target)))
        solution = np.zeros(matrix.shape[1])
        if free:
            solution[free] = np.linalg.lstsq(matrix[:, free], rest, rcond=None)[0]
        for i, value in fixed.items():
            solution[i] = value
        violations = {i: lower[i] - solution[i] for i in free if solution[i] < lower[i]}
        if not violations:
            return solution
        worst = max(violations, key=violations.__getitem__)
        fixed[worst] = lower[worst]


def fit_phase(observed: Sequence[Observation], prior: PhaseFactor, phase: str) -> PhaseFactor:
    """Least squares in relative error for t = coefficients . features, pulled weakly towards
    the prior's non-zero coefficients."""
    priors = _coefficients(prior, phase)
    weight = math.sqrt(PRIOR_WEIGHT)
    rows = [[f / o.seconds for f in o.features] for o in observed]
    targets = [1.0] * len(observed)
    for i, value in enumerate(priors):
        if value > 0:
            rows.append([weight / value if j == i else 0.0 for j in range(len(priors))])
            targets.append(weight)
    lower = [1.0] + [0.0] * (len(priors) - 1)
    solution = [float(x) for x in _bounded_lstsq(np.array(rows), np.array(targets), lower)]
    terms = dict(zip(PHASE_TERMS[phase], solution[1:], strict=True))
    return PhaseFactor(1.0 / solution[0], **terms)


def fit_power(
    catalog: Catalog,
    rows: Iterable[Measurement],
    factors: dict[str, PhaseFactors],
    prior: PowerLaw,
) -> PowerLaw:
    """The power law of one kind, fitted on its rows' mean power (relative error), pulled
    weakly towards `prior`. `factors` (by hardware id) give each run's phase times."""
    weight = math.sqrt(PRIOR_WEIGHT)
    matrix = [[weight / prior.compute, 0.0], [0.0, weight / prior.memory]]
    targets = [weight, weight]
    for row in rows:
        if row.power_w is None:
            continue
        hardware = catalog.hardware(row.hardware)
        compute, memory = _mean_utilisations(_costs(catalog, row, factors[hardware.id]), row)
        dynamic = (hardware.max_w - hardware.idle_w) / row.power_w
        matrix.append([dynamic * compute, dynamic * memory])
        targets.append(1.0 - hardware.idle_w / row.power_w)
    solution = _bounded_lstsq(np.array(matrix), np.array(targets), [0.0, 0.0])
    return PowerLaw(compute=float(solution[0]), memory=float(solution[1]))


def _mean_utilisations(costs: Costs, row: Measurement) -> tuple[float, float]:
    """Time-weighted compute and memory utilisation of the run a row measured."""
    if isinstance(costs.model, VisionModel):
        phase = costs.vision(row.batch)
        return phase.compute_utilisation, phase.memory_utilisation
    together = row.batch if costs.hardware.batching else 1
    prefill = costs.prefill(row.prompt, together)
    step = costs.decode_step(together, together * (row.prompt + row.output / 2))
    steps = row.output - 1
    total = prefill.seconds + steps * step.seconds
    compute = prefill.seconds * prefill.compute_utilisation
    memory = prefill.seconds * prefill.memory_utilisation
    compute += steps * step.seconds * step.compute_utilisation
    memory += steps * step.seconds * step.memory_utilisation
    return compute / total, memory / total


def _fit_phases(observed: Sequence[Observation], prior: PhaseFactors, source: str) -> PhaseFactors:
    """Fit each phase that has observations; with none at all, the prior as it is."""
    if not observed:
        return prior
    phases = {}
    for phase in PHASES:
        mine = [o for o in observed if o.phase == phase]
        factor = getattr(prior, phase)
        phases[phase] = fit_phase(mine, factor, phase) if mine else factor
    return replace(prior, **phases, source=f"{source}: fitted on {len(observed)} observations")


def fit_factors(
    catalog: Catalog,
    rows: Sequence[Measurement],
    families: dict[str, Family] | None = None,
    exclude: Collection[int] = (),
) -> dict[str, PhaseFactors]:
    """Fit factors for every chip of the catalog on `rows` less the indices in `exclude`
    (leave-one-out, leave-one-chip-out), keyed by hardware id.

    Partial pooling in three levels: a generic family (a kind) is fitted on all rows of its
    kind, pulled towards its priors; a named family on its chips' rows, pulled towards its
    kind's fit; a chip on its own rows, pulled towards its family's. A chip with no row gets its
    family's factors, a family with no row its kind's. Then one power law per kind.
    """
    families = families or load_families()
    catalog = with_calibration_models(catalog)
    kept = [row for row in rows if row.index not in exclude]
    observed = observations(catalog, kept, families)
    fitted = {
        name: _fit_phases([o for o in observed if o.kind == name], family.prior(), f"kind {name}")
        for name, family in families.items()
        if family.generic
    }
    for name, family in families.items():
        if not family.generic:
            mine = [o for o in observed if o.family == name]
            fitted[name] = _fit_phases(mine, family.prior(fitted[family.kind]), f"family {name}")
    chips = {
        hw_id: _fit_phases(
            [o for o in observed if o.hardware == hw_id], fitted[hw.family], f"chip {hw_id}"
        )
        for hw_id, hw in catalog.hardware_by_id.items()
    }
    laws = {
        kind: fit_power(
            catalog,
            [r for r in kept if families[catalog.hardware(r.hardware).family].kind == kind],
            chips,
            families[kind].power,
        )
        for kind in {family.kind for family in families.values()}
    }
    return {hw_id: replace(f, power=laws[f.kind]) for hw_id, f in chips.items()}


@functools.cache
def shipped_factors() -> dict[str, PhaseFactors]:
    """Factors per chip, fitted on the whole shipped calibration set."""
    return fit_factors(default_catalog(), load_measurements())
