"""Hardware families: chips that share an architecture and a runtime, and so their efficiencies.

A chip's `family` (hardware.yaml) names an entry of `data/families.yaml`: its kind (`npu` or
`gpu`), its runtime's prefill window if it has one, and optionally its own priors. Two families
are generic, named after their kind and holding the priors the calibration starts from
(npu_sim/calibration.py): `npu` is fitted on the rows of every NPU family and `gpu` on those of
every GPU family, and a named family is fitted on its own rows pulled towards its kind's fit. So
a chip of an architecture with no measurement at all (a user's chip, from its datasheet), or a
phase a family has no row for, still gets factors learnt from real measurements.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path

from pydantic import PositiveInt

from npu_sim import datafile
from npu_sim.datafile import STRICT, SetByLoader
from npu_sim.hardware import Kind
from npu_sim.perf import PhaseFactor, PhaseFactors
from npu_sim.power import PowerLaw

FAMILIES_YAML = Path(__file__).parent / "data" / "families.yaml"


@STRICT
@dataclass(frozen=True)
class Family:
    """One family: its kind and its prior factors per phase, with where they come from."""

    kind: Kind
    source: str
    prefill: PhaseFactor | None = None
    decode: PhaseFactor | None = None
    vision: PhaseFactor | None = None
    power: PowerLaw | None = None
    prefill_window: PositiveInt | None = None
    name: SetByLoader = ""

    @property
    def generic(self) -> bool:
        """A generic family (named after its kind) pools every family of that kind."""
        return self.name == self.kind

    def prior(self, kind_fit: PhaseFactors | None = None) -> PhaseFactors:
        """The factors this family's fit starts from: its own priors where it gives them,
        else `kind_fit` (its kind's fitted factors; a generic family gives every prior)."""
        base = kind_fit
        if base is None:
            if not (self.prefill and self.decode and self.vision and self.power):
                raise ValueError(f"family {self.name} gives no priors and has no kind fit")
            base = PhaseFactors(self.prefill, self.decode, self.vision, self.power, self.kind)
        return PhaseFactors(
            self.prefill or base.prefill,
            self.decode or base.decode,
            self.vision or base.vision,
            self.power or base.power,
            self.kind,
            self.prefill_window,
            f"prior: {self.source}",
        )


@functools.cache
def load_families(path: Path = FAMILIES_YAML) -> dict[str, Family]:
    """The families of `path`, keyed by name; each kind must have its generic family."""
    families = datafile.load(path, dict[str, Family])
    found = {name: dataclasses.replace(f, name=name) for name, f in families.items()}
    generic = [f for f in found.values() if f.generic]
    missing = {f.kind for f in found.values()} - {f.name for f in generic}
    if missing:
        raise datafile.DataFileError(f"{path}: no generic family for kinds {sorted(missing)}")
    unset = [f.name for f in generic if None in (f.prefill, f.decode, f.vision, f.power)]
    if unset:
        raise datafile.DataFileError(f"{path}: generic families need every prior: {unset}")
    return found
